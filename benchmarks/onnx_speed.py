#!/usr/bin/env python3
"""Files per second: the ONNX runtime against the PyTorch paths, in one run.

Builds the recipe's model (``recipe_model.export_recipe_model``: the
encoder from its configuration with random weights, nothing downloaded, the
recipe's head), writes ``--files`` recordings of ``--seconds`` of speech
(eSpeak NG), and rates them all with each path, one after the other in the
same process and on the same machine:

* ``onnx fp32`` and ``onnx int8`` (``speechbrain_lora_ser.onnx``; int8 as
  the export makes it), at batch 1 and ``--batch_size``;
* ``pytorch fp32``: ``EncoderRegressor.predict_files``;
* ``pytorch --precision int8``: the same after ``quantize_int8`` (the
  encoder exported to ONNX inside the PyTorch process);
* ``transformers``: what people write by default: the same merged encoder
  saved and reloaded with ``AutoModel.from_pretrained``, its feature
  extractor (``Wav2Vec2FeatureExtractor``, normalising, attention mask),
  padded batches, and the same head.

Every path is built first (the ONNX folders, the int8 cache and the model
of an earlier run in ``--folder`` are reused) and rates the first file once
(warm-up); then, ``--repeats`` times, each path in turn rates all files
(interleaved, so that a busy spell of a shared machine slows all paths
alike). It prints, per path, files/s from the best wall-clock time and the
process's CPU seconds per file (all its threads; the best run), which other
jobs on the machine inflate less. The ONNX export and int8 quantization
times are printed when they are made.

> python benchmarks/onnx_speed.py                      # WavLM-large, 8 x 2 s
> python benchmarks/onnx_speed.py --encoder microsoft/wavlm-base-plus

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import os
import platform
import sys
import tempfile
import time

import numpy as np
import soundfile
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from recipe_model import export_recipe_model  # noqa: E402


def write_files(folder, count, seconds, sample_rate=16000):
    """Write ``count`` recordings of ``seconds`` of eSpeak NG speech."""
    import soxr

    from speechbrain_lora_ser.synthetic.speech_synthesis import Speaker

    os.makedirs(folder, exist_ok=True)
    speaker, paths = Speaker(), []
    text = "We have to leave before the train arrives, tell me what happened."
    wav, rate = speaker.say(text, voice="en-us")
    wav = soxr.resample(wav, rate, sample_rate).astype(np.float32)
    length = int(seconds * sample_rate)
    wav = np.resize(wav, length)
    for index in range(count):
        path = os.path.join(folder, f"speed_{index:02d}.wav")
        soundfile.write(path, np.roll(wav, 997 * index), sample_rate)
        paths.append(path)
    return paths


def pytorch_model(model_dir, folder, int8=False):
    """``EncoderRegressor`` on the CPU in fp32, or after ``quantize_int8``."""
    from speechbrain_lora_ser.serving.inference import EncoderRegressor
    from speechbrain_lora_ser.serving.quantization import quantize_int8

    model = EncoderRegressor.from_hparams(
        source=model_dir,
        savedir=os.path.join(folder, "saved_int8" if int8 else "saved"),
        run_opts={"device": "cpu"},
    )
    if int8:
        started = time.perf_counter()
        quantize_int8(model, cache_dir=os.path.join(folder, "int8_cache"))
        seconds = time.perf_counter() - started
        print(f"pytorch --precision int8: quantized in {seconds:.0f} s")
    return model


def transformers_runner(model_dir, folder, batch_size):
    """Rate files with plain ``transformers``: feature extractor, model, head."""
    from transformers import AutoModel, Wav2Vec2FeatureExtractor

    regressor = pytorch_model(model_dir, folder).mods.regressor
    saved = os.path.join(folder, "transformers_encoder")
    regressor.encoder.model.save_pretrained(saved)
    encoder = AutoModel.from_pretrained(saved).eval()
    extractor = Wav2Vec2FeatureExtractor(
        do_normalize=True, return_attention_mask=True, sampling_rate=16000
    )
    low, high = regressor.label_range

    def rate(paths):
        values = []
        for start in range(0, len(paths), batch_size):
            wavs = [
                soundfile.read(p, dtype="float32")[0]
                for p in paths[start : start + batch_size]
            ]
            inputs = extractor(
                wavs, sampling_rate=16000, padding=True, return_tensors="pt"
            )
            with torch.no_grad():
                hidden = encoder(**inputs).last_hidden_state
                frames = encoder._get_feat_extract_output_lengths(
                    inputs["attention_mask"].sum(1)
                )
                lengths = (frames / hidden.shape[1]).clamp(max=1.0)
                values.append(regressor.head(hidden, lengths) * (high - low) + low)
        return torch.cat(values).numpy()

    return rate


def export_times(model_dir, folder):
    """Export fp32 and int8 ONNX folders (an earlier run's are reused)."""
    from speechbrain_lora_ser.onnx.export import export_onnx

    folders = {}
    for precision in ("fp32", "int8"):
        started = time.perf_counter()
        folders[precision] = os.path.join(folder, f"onnx_{precision}")
        if os.path.exists(os.path.join(folders[precision], "serving.json")):
            print(f"onnx {precision}: reused {folders[precision]}")
            continue
        export_onnx(model_dir, folders[precision], int8=precision == "int8")
        print(f"onnx {precision}: exported in {time.perf_counter() - started:.0f} s")
    return folders


def runners(model_dir, folder, batch_size):
    """Yield ``(name, rate(paths))`` for every path, built one at a time."""
    from speechbrain_lora_ser.onnx import OnnxRegressor

    for precision, onnx_dir in export_times(model_dir, folder).items():
        model = OnnxRegressor(onnx_dir)
        for batch in sorted({1, batch_size}):
            yield (
                f"onnx {precision}, batch {batch}",
                lambda paths, m=model, b=batch: m.predict_files(paths, batch_size=b),
            )
    for int8 in (False, True):
        model = pytorch_model(model_dir, folder, int8=int8)
        name = "pytorch --precision int8" if int8 else "pytorch fp32"
        yield (
            f"{name}, batch {batch_size}",
            lambda paths, m=model: m.predict_files(paths, batch_size=batch_size),
        )
    yield (
        f"transformers fp32, batch {batch_size}",
        transformers_runner(model_dir, folder, batch_size),
    )


def main():
    """Build the model and the files, time every path, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", default="microsoft/wavlm-large")
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--folder", default=None)
    args = parser.parse_args()
    folder = args.folder or tempfile.mkdtemp(prefix="onnx_speed_")
    torch.manual_seed(0)
    model_dir = os.path.join(folder, "inference")
    if not os.path.exists(os.path.join(model_dir, "hyperparams.yaml")):
        model_dir = export_recipe_model(args.encoder, folder)
    paths = write_files(os.path.join(folder, "audio"), args.files, args.seconds)
    rates = dict(runners(model_dir, folder, args.batch_size))
    for rate in rates.values():
        rate(paths[:1])  # warm-up
    times = {name: [] for name in rates}
    for _ in range(args.repeats):  # interleaved: a busy spell slows all paths
        for name, rate in rates.items():
            started, cpu = time.perf_counter(), time.process_time()
            rate(paths)
            times[name].append(
                (time.perf_counter() - started, time.process_time() - cpu)
            )
            print(f"{name}: {times[name][-1][0]:.1f} s", flush=True)
    print(
        f"{args.encoder} as the recipe builds it (random weights), {args.files} "
        f"files of {args.seconds:g} s, best of {args.repeats} interleaved; "
        f"{platform.machine()}, "
        f"{os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"onnxruntime {__import__('onnxruntime').__version__}"
    )
    best = {name: min(t[0] for t in runs) for name, runs in times.items()}
    cpu = {name: min(t[1] for t in runs) for name, runs in times.items()}
    base = f"pytorch fp32, batch {args.batch_size}"
    print(
        "| path | files/s (wall) | vs PyTorch fp32 | CPU s per file | vs PyTorch fp32 |"
    )
    print("| --- | --- | --- | --- | --- |")
    for name in rates:
        print(
            f"| {name} | {len(paths) / best[name]:.3f} "
            f"| {best[base] / best[name]:.2f}x "
            f"| {cpu[name] / len(paths):.3g} | {cpu[base] / cpu[name]:.2f}x |"
        )


if __name__ == "__main__":
    main()
