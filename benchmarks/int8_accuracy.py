#!/usr/bin/env python3
"""int8 against fp32 on trained models: largest difference and CCC change.

For each training run given (``--run``, a recipe's ``output_folder``), loads
its ``inference/`` model in fp32 on the CPU, predicts the run's test sets
(its ``manifests/<corpus>/test.json``, labels included: the run's corpus and
the other one when the recipe prepared it), turns the same
model to int8 (``speechbrain_lora_ser.serving.quantization.quantize_int8``), predicts
again and prints, per attribute, the largest absolute difference between the
two (on the label scale, raw outputs: unclipped and, where the model has a
calibration, uncalibrated) and the test CCC of each.

> python benchmarks/int8_accuracy.py --run results/finetune/1986 [--run ...]

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import glob
import json
import os
import tempfile

import torch

from speechbrain_lora_ser.modeling.ccc import ATTRIBUTES, ccc
from speechbrain_lora_ser.serving.inference import EncoderRegressor
from speechbrain_lora_ser.serving.quantization import quantize_int8


def test_sets(run):
    """``{corpus: (wav paths, labels [N, 3])}`` of a run's test manifests."""
    manifests = sorted(glob.glob(os.path.join(run, "manifests", "*", "test.json")))
    if not manifests:
        raise SystemExit(f"{run}: no manifests/*/test.json")
    sets = {}
    for manifest in manifests:
        with open(manifest, encoding="utf-8") as handle:
            entries = json.load(handle)
        paths = [entry["wav"] for entry in entries.values()]
        labels = [[entry[a] for a in ATTRIBUTES] for entry in entries.values()]
        sets[os.path.basename(os.path.dirname(manifest))] = (
            paths,
            torch.tensor(labels),
        )
    return sets


def compare(run, batch_size):
    """Predict a run's test sets in fp32 and int8; return the figures per corpus."""
    model = EncoderRegressor.from_hparams(
        source=os.path.join(run, "inference"),
        savedir=tempfile.mkdtemp(prefix="int8_accuracy_"),
        run_opts={"device": "cpu"},
    )
    sets = test_sets(run)

    options = {"batch_size": batch_size, "clip": False}
    options["calibrate"] = False  # the network's own outputs

    def predict():
        predictions = {}
        for corpus, (paths, _) in sets.items():
            rows = model.predict_files(paths, **options)
            predictions[corpus] = torch.tensor(
                [[row[a] for a in ATTRIBUTES] for row in rows]
            )
        return predictions

    fp32 = predict()
    quantize_int8(model)
    int8 = predict()
    figures = {}
    for corpus, (paths, labels) in sets.items():
        figures[corpus] = {
            "utterances": len(paths),
            "max_difference": (int8[corpus] - fp32[corpus])
            .abs()
            .max(0)
            .values.tolist(),
            "ccc_fp32": ccc(fp32[corpus], labels).tolist(),
            "ccc_int8": ccc(int8[corpus], labels).tolist(),
        }
    return figures


def main():
    """Compare every run; print one table row per run and attribute."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", required=True)
    parser.add_argument("--batch_size", type=int, default=8)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(
        "| run | test set | attribute | largest |int8 - fp32| "
        "| CCC fp32 | CCC int8 | CCC change |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for run in args.run:
        for corpus, figures in compare(run, args.batch_size).items():
            for index, attribute in enumerate(ATTRIBUTES):
                before = figures["ccc_fp32"][index]
                after = figures["ccc_int8"][index]
                print(
                    f"| {run} | {corpus} {figures['utterances']} | {attribute} | "
                    f"{figures['max_difference'][index]:.4f} | {before:.4f} | "
                    f"{after:.4f} | {after - before:+.4f} |"
                )


if __name__ == "__main__":
    main()
