#!/usr/bin/env python3
"""ONNX int8 against ONNX fp32 on served values, on audio the tests never make.

Trains (``--train FOLDER``) a model by the BIIC-Podcast FT+LoRA recipe on
the demo's synthetic corpora (English MSP-Podcast, Mandarin BIIC-Podcast)
with a WavLM of the tiny family, wider and deeper than the tests' one, or
takes an exported model (``--model DIR``). It then synthesises utterances in
languages and voices the demo and the tests never use (French, Spanish,
Italian, Portuguese; eSpeak NG voice variants, random prosody), each one
window long (shorter than ``window_seconds``), exports the model to ONNX in
fp32 and in int8 (each of ``VARIANTS``: what stays in fp32), rates every
file with ``OnnxRegressor`` (served values: calibrated, clipped) and
prints, per variant, the median, 99th percentile and largest |int8 - fp32|
over all files and attributes (withheld attributes left out) on the label
scale. ``--pytorch`` adds today's ``--precision int8`` (the
encoder quantized inside PyTorch) against PyTorch fp32, on the same files.

> python benchmarks/onnx_int8_accuracy.py --train /tmp/onnx_int8 --files 300 --pytorch

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys

import numpy as np
import soundfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)

#: Languages and voices none of the demo's corpora use, with one sentence set.
VOICES = ("fr", "fr+f2", "es", "es+m4", "it", "it+f3", "pt", "pt+m2")
SENTENCES = {
    "fr": ("Je ne savais pas que tu venais ce soir.", "Il fait très beau ici."),
    "es": ("No esperaba verte en la estación.", "La música estaba muy alta."),
    "it": ("Non sapevo che saresti venuto.", "Domani parliamo di tutto."),
    "pt": ("Ninguém me falou da reunião.", "O livro que me deste é ótimo."),
}


def train_model(folder, hidden_size, layers, epochs, sizes):
    """Train a model with the BIIC-Podcast FT+LoRA recipe; return ``inference/``."""
    from speechbrain_lora_ser.demo import recipe_layouts
    from speechbrain_lora_ser.synthetic.architectures import save_tiny_encoder
    from speechbrain_lora_ser.synthetic.demo_corpus import write_demo_corpus

    inference = os.path.join(folder, "run", "inference")
    if os.path.isdir(inference):
        return inference
    layouts = recipe_layouts()
    for corpus, language, seed in (
        ("MSP-Podcast", "english", 0),
        ("BIIC-Podcast", "mandarin", 1),
    ):
        write_demo_corpus(
            os.path.join(folder, corpus), language, layouts[corpus], sizes, seed=seed
        )
    encoder = os.path.join(folder, "wavlm")
    save_tiny_encoder(encoder, "wavlm", hidden_size=hidden_size, num_layers=layers)
    command = [
        sys.executable,
        os.path.join(ROOT, "recipes", "BIIC-Podcast", "train.py"),
        os.path.join(ROOT, "recipes", "BIIC-Podcast", "hparams", "ft_lora.yaml"),
        f"--data_folder={os.path.join(folder, 'BIIC-Podcast')}",
        f"--cross_data_folder={os.path.join(folder, 'MSP-Podcast')}",
        f"--ssl_hub={encoder}",
        f"--output_folder={os.path.join(folder, 'run')}",
        f"--number_of_epochs={epochs}",
        "--batch_size=8",
        "--num_workers=0",
        "--lr=0.0005",
        "--lora_rank=8",
        "--lora_alpha=16",
    ]
    subprocess.run(command, check=True, cwd=ROOT)
    return inference


def write_unseen_audio(folder, count, seed=0, sample_rate=16000):
    """Synthesise ``count`` utterances in the unseen voices; return their paths."""
    import soxr

    from speechbrain_lora_ser.synthetic.speech_synthesis import Speaker

    os.makedirs(folder, exist_ok=True)
    speaker, rng, paths = Speaker(), random.Random(seed), []
    for index in range(count):
        path = os.path.join(folder, f"unseen_{index:04d}.wav")
        paths.append(path)
        if os.path.exists(path):
            continue
        voice = rng.choice(VOICES)
        wav, rate = speaker.say(
            rng.choice(SENTENCES[voice.split("+")[0]]),
            voice=voice,
            rate=rng.randint(110, 260),
            pitch=rng.randint(15, 90),
            pitch_range=rng.randint(10, 95),
            volume=rng.randint(40, 150),
        )
        wav = soxr.resample(wav, rate, sample_rate).astype(np.float32)
        soundfile.write(path, wav, sample_rate)
    return paths


def served(model_dir, paths, batch_size=8):
    """Rate files with an ONNX model: served values ``[files, 3]``."""
    from speechbrain_lora_ser.modeling.ccc import ATTRIBUTES
    from speechbrain_lora_ser.onnx import OnnxRegressor

    rows = OnnxRegressor(model_dir).predict_files(paths, batch_size=batch_size)
    return np.array(
        [[np.nan if r[a] is None else r[a] for a in ATTRIBUTES] for r in rows]
    )


def figures(int8, fp32):
    """Median, 99th percentile and largest |int8 - fp32| (NaN withheld ignored)."""
    difference = np.abs(int8 - fp32)
    difference = difference[~np.isnan(difference)]
    return (
        float(np.median(difference)),
        float(np.percentile(difference, 99)),
        float(difference.max()),
    )


def pytorch_int8_row(model, paths, folder):
    """Rate with PyTorch ``--precision int8`` (today's path) and fp32: served."""
    from speechbrain_lora_ser.modeling.ccc import ATTRIBUTES
    from speechbrain_lora_ser.serving.inference import EncoderRegressor
    from speechbrain_lora_ser.serving.quantization import quantize_int8

    regressor = EncoderRegressor.from_hparams(
        source=model, savedir=os.path.join(folder, "saved"), run_opts={"device": "cpu"}
    )

    def rate():
        rows = regressor.predict_files(paths, batch_size=8)
        return np.array(
            [[np.nan if r[a] is None else r[a] for a in ATTRIBUTES] for r in rows]
        )

    fp32 = rate()
    quantize_int8(regressor)
    return rate(), fp32


#: int8 variants: what stays in fp32 (node name prefixes); the last is shipped.
VARIANTS = {
    "every MatMul and Gemm in int8": (),
    "head in fp32": ("/head/",),
    "head and feature projection in fp32 (export's default)": None,
}


def int8_variant(fp32_dir, folder, keep):
    """Copy an fp32 ONNX folder with its graph quantized, ``keep`` left in fp32."""
    from speechbrain_lora_ser.onnx.export import quantize, sensitive_nodes

    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(fp32_dir, folder)
    graph = os.path.join(folder, "model.onnx")
    quantize(
        graph, os.path.join(folder, "model.int8.onnx"), sensitive_nodes(graph, keep)
    )
    os.remove(graph)
    with open(os.path.join(folder, "serving.json"), encoding="utf-8") as handle:
        info = json.load(handle)
    info.update(model="model.int8.onnx", precision="int8")
    with open(os.path.join(folder, "serving.json"), "w", encoding="utf-8") as handle:
        json.dump(info, handle, indent=2)
    return folder


def main():
    """Export, rate and print one table row per int8 variant."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="an exported model folder (inference/)")
    parser.add_argument("--train", help="train a model by the recipe in this folder")
    parser.add_argument("--hidden_size", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--corpus_sizes", type=int, nargs=3, default=(60, 16, 16))
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--workdir", default=None)
    parser.add_argument(
        "--pytorch",
        action="store_true",
        help="also today's --precision int8 against PyTorch fp32",
    )
    args = parser.parse_args()
    from speechbrain_lora_ser.onnx.export import export_onnx

    if args.train:
        model = train_model(
            args.train, args.hidden_size, args.layers, args.epochs, args.corpus_sizes
        )
    elif args.model:
        model = args.model
    else:
        raise SystemExit("give --model DIR or --train FOLDER")
    workdir = args.workdir or args.train or os.path.dirname(os.path.abspath(model))
    paths = write_unseen_audio(os.path.join(workdir, "unseen_audio"), args.files)
    fp32_dir = os.path.join(workdir, "onnx_fp32")
    export_onnx(model, fp32_dir)
    fp32 = served(fp32_dir, paths)
    print(f"model {model}; {len(paths)} one-window files in {', '.join(VOICES)}")
    print("| int8 variant | median | p99 | largest |int8 - fp32| (served, 1-7) |")
    print("| --- | --- | --- | --- |")
    for index, (variant, keep) in enumerate(VARIANTS.items()):
        folder = os.path.join(workdir, f"onnx_int8_{index}")
        if keep is None:  # the export's own int8 graph
            export_onnx(model, folder, int8=True)
        else:
            int8_variant(fp32_dir, folder, keep)
        median, p99, largest = figures(served(folder, paths), fp32)
        print(f"| {variant} | {median:.4f} | {p99:.4f} | {largest:.4f} |")
    if args.pytorch:
        int8, reference = pytorch_int8_row(model, paths, workdir)
        median, p99, largest = figures(int8, reference)
        print(
            "| PyTorch `--precision int8` vs PyTorch fp32 "
            f"| {median:.4f} | {p99:.4f} | {largest:.4f} |"
        )
        agreement = figures(fp32, reference)[2]
        print(f"largest |ONNX fp32 - PyTorch fp32| (served): {agreement:.2g}")


if __name__ == "__main__":
    main()
