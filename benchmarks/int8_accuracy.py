#!/usr/bin/env python3
"""int8 against fp32 on trained models: largest difference and CCC change.

For each training run given (``--run``, a recipe's ``output_folder``), loads
its ``inference/`` model in fp32 on the CPU, predicts the run's test set
(its ``manifests/<corpus>/`` test manifest, labels included), turns the same
model to int8 (``speechbrain_lora_ser.quantization.quantize_int8``), predicts
again and prints, per attribute, the largest absolute difference between the
two (on the label scale, raw outputs) and the test CCC of each.

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

from speechbrain_lora_ser.ccc import ATTRIBUTES, ccc
from speechbrain_lora_ser.inference import EncoderRegressor
from speechbrain_lora_ser.quantization import quantize_int8


def test_set(run):
    """``(wav paths, labels [N, 3])`` of a run's test manifest."""
    manifests = glob.glob(os.path.join(run, "manifests", "*", "test.json"))
    if len(manifests) != 1:
        raise SystemExit(
            f"{run}: expected one manifests/*/test.json, found {manifests}"
        )
    with open(manifests[0], encoding="utf-8") as handle:
        entries = json.load(handle)
    paths = [entry["wav"] for entry in entries.values()]
    labels = torch.tensor(
        [[entry[a] for a in ATTRIBUTES] for entry in entries.values()]
    )
    return paths, labels


def compare(run, batch_size):
    """Predict a run's test set in fp32 and int8; return the figures."""
    paths, labels = test_set(run)
    model = EncoderRegressor.from_hparams(
        source=os.path.join(run, "inference"),
        savedir=tempfile.mkdtemp(prefix="int8_accuracy_"),
        run_opts={"device": "cpu"},
    )

    def predict():
        rows = model.predict_files(paths, batch_size=batch_size, clip=False)
        return torch.tensor([[row[a] for a in ATTRIBUTES] for row in rows])

    fp32 = predict()
    quantize_int8(model)
    int8 = predict()
    return {
        "utterances": len(paths),
        "max_difference": (int8 - fp32).abs().max(0).values.tolist(),
        "ccc_fp32": ccc(fp32, labels).tolist(),
        "ccc_int8": ccc(int8, labels).tolist(),
    }


def main():
    """Compare every run; print one table row per run and attribute."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", required=True)
    parser.add_argument("--batch_size", type=int, default=8)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(
        "| run | test utterances | attribute | largest |int8 - fp32| "
        "| CCC fp32 | CCC int8 | CCC change |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for run in args.run:
        figures = compare(run, args.batch_size)
        for index, attribute in enumerate(ATTRIBUTES):
            before, after = figures["ccc_fp32"][index], figures["ccc_int8"][index]
            print(
                f"| {run} | {figures['utterances']} | {attribute} | "
                f"{figures['max_difference'][index]:.4f} | {before:.4f} | "
                f"{after:.4f} | {after - before:+.4f} |"
            )


if __name__ == "__main__":
    main()
