#!/usr/bin/env python3
"""Files per second of EncoderRegressor: batched ``predict_files`` vs one by one.

Exports the recipes' model (``benchmarks/recipe_model.py``) for an encoder
architecture (the paper's WavLM-large by default, random
weights, so nothing is downloaded), writes ``--files`` WAV files with
MSP-Podcast-like durations (2.75-11 s), and times

* one by one: ``predict_file`` on each file;
* batched: ``predict_files(files, batch_size=...)`` (windows sorted by
  duration, padding masked);

after one warm-up pass each. It also checks that both give the same values
(max absolute difference) and prints the throughput ratio.

With ``--precision int8`` (CPU), the fp32 model is timed batched first, then
turned to int8 (``speechbrain_lora_ser.serving.quantization.quantize_int8``; the
export is not timed) and timed the same way; the last line compares them:
``int8 / fp32: N.NNx files/s`` and the largest difference of the values.

> python benchmarks/inference_throughput.py                      # CPU
> python benchmarks/inference_throughput.py --device cuda --files 256 --batch_size 32
> python benchmarks/inference_throughput.py --device cpu --precision int8

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import os
import random
import tempfile
import time

import numpy as np
import soundfile
import torch
from recipe_model import export_recipe_model

from speechbrain_lora_ser.modeling.ccc import ATTRIBUTES
from speechbrain_lora_ser.serving.inference import EncoderRegressor
from speechbrain_lora_ser.serving.quantization import quantize_int8

#: The files are noise (speech detection would skip them all) and the model
#: has random weights: rate every window, with the network's own outputs.
RAW = {"clip": False, "calibrate": False, "vad": False}


def write_files(folder, count, seed=0):
    """WAV files with durations like MSP-Podcast's (mostly short)."""
    rng, paths = random.Random(seed), []
    generator = np.random.default_rng(seed)
    for index in range(count):
        duration = min(11.0, max(2.75, rng.lognormvariate(1.6, 0.4)))
        samples = int(duration * 16000)
        wav = 0.1 * generator.standard_normal(samples).astype(np.float32)
        path = os.path.join(folder, f"file{index:04d}.wav")
        soundfile.write(path, wav, 16000)
        paths.append(path)
    return paths


def timed(function, device):
    """Run ``function`` and return ``(result, seconds)``."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = function()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def main():
    """Measure and print the throughput of both modes."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", default="microsoft/wavlm-large")
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "int8"))
    args = parser.parse_args()
    int8 = args.precision == "int8"
    folder = tempfile.mkdtemp(prefix="throughput_")
    model = EncoderRegressor.from_hparams(
        source=export_recipe_model(args.encoder, folder),
        savedir=os.path.join(folder, "saved"),
        run_opts={
            "device": args.device,
            "precision": "fp32" if int8 else args.precision,
        },
    )
    os.makedirs(os.path.join(folder, "audio"))
    paths = write_files(os.path.join(folder, "audio"), args.files)
    audio_seconds = sum(soundfile.info(p).duration for p in paths)
    model.predict_files(paths[:2], batch_size=args.batch_size, **RAW)  # warm-up
    if int8:
        reference, reference_s = timed(
            lambda: model.predict_files(paths, batch_size=args.batch_size, **RAW),
            args.device,
        )
        started = time.perf_counter()
        quantize_int8(model)
        print(f"int8 export and quantization: {time.perf_counter() - started:.0f} s")
        model.predict_files(paths[:2], batch_size=args.batch_size, **RAW)  # warm-up
    single, single_s = timed(
        lambda: [model.predict_file(p, **RAW) for p in paths], args.device
    )
    batched, batched_s = timed(
        lambda: model.predict_files(paths, batch_size=args.batch_size, **RAW),
        args.device,
    )
    difference = max(
        abs(a[name] - b[name])
        for a, b in zip(single, batched, strict=True)
        for name in ATTRIBUTES
    )
    print(
        f"encoder {args.encoder}, {args.files} files ({audio_seconds:.0f} s of "
        f"audio, 2.75-11 s each), {args.device}, {args.precision}"
    )
    print("| mode | seconds | files/s | real-time factor |")
    print("| --- | --- | --- | --- |")
    rows = [
        ("one by one (predict_file)", single_s),
        (f"batched (predict_files, batch {args.batch_size})", batched_s),
    ]
    if int8:
        rows.append((f"fp32, batched (batch {args.batch_size})", reference_s))
    for label, seconds in rows:
        print(
            f"| {label} | {seconds:.1f} | {args.files / seconds:.2f} | "
            f"{seconds / audio_seconds:.3f} |"
        )
    print(
        f"batched / one by one: {single_s / batched_s:.2f}x the files per second; "
        f"largest difference between the two: {difference:.2e}"
    )
    if int8:
        change = max(
            abs(a[name] - b[name])
            for a, b in zip(reference, batched, strict=True)
            for name in ATTRIBUTES
        )
        print(
            f"int8 / fp32: {reference_s / batched_s:.2f}x files/s "
            f"(batched, {torch.get_num_threads()} thread(s)); largest |int8 - fp32|: "
            f"{change:.4f} (random weights)"
        )


if __name__ == "__main__":
    main()
