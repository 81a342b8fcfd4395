#!/usr/bin/env python3
"""Inference cost of an adapter bank against the plain encoder, and where it goes.

Builds, for an encoder architecture (the paper's WavLM-large by default,
random weights), the recipes' model (``recipe_model.py``) exported once per
language, and a bank of them: the same frozen encoder, ``--adapters`` LoRA
adapters (the paper's settings, non-zero weights), a head per language and
the language router. It times one forward pass over a batch whose
utterances the router sends to different languages:

* plain: the encoder and one head (a merged FT+LoRA export costs the same);
* routing only: the router's features (cepstral statistics of the waveform)
  and its decision, or with ``--language_id`` a pretrained identifier of
  SpeechBrain's VoxLingua107 model's size (ECAPA-TDNN, 107 languages,
  random weights) mapping every bank language;
* bank, all to the base: routing + the encoder with no adapter applied;
* bank, mixed: every utterance through its own adapter and head.

> python benchmarks/bank_cost.py                 # CPU, 8 x 4 s
> python benchmarks/bank_cost.py --device cuda --batch 32 --seconds 6
> python benchmarks/bank_cost.py --language_id --batch 1   # a file at a time

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import os
import shutil
import tempfile
import time
from collections import Counter

import torch
from recipe_model import export_recipe_model, recipe_hparams

from speechbrain_lora_ser.bank.adapter_bank import LANGUAGES, AdapterBank
from speechbrain_lora_ser.bank.language_id import PretrainedLanguageId
from speechbrain_lora_ser.bank.routing import (
    DEFAULT_FEATURES,
    LanguageRouter,
    feature_size,
)
from speechbrain_lora_ser.synthetic.language_id_model import (
    VOXLINGUA107_SIZES,
    save_language_id_model,
)


def make_bank(encoder, adapters, folder):
    """Build a bank of ``adapters`` + 1 languages with random weights."""
    exported = export_recipe_model(encoder, os.path.join(folder, "model"))
    languages = ["base"] + [f"language{i}" for i in range(1, adapters + 1)]
    bank_folder = os.path.join(folder, "bank")
    os.makedirs(os.path.join(bank_folder, LANGUAGES))
    for language in languages:
        shutil.copyfile(
            os.path.join(exported, "hyperparams.yaml"),
            os.path.join(bank_folder, LANGUAGES, f"{language}.yaml"),
        )
    router = LanguageRouter(
        feature_size(**DEFAULT_FEATURES), len(languages), DEFAULT_FEATURES
    )
    description = {"languages": languages, "router": router.config, "scale": None}
    torch.manual_seed(0)
    bank = AdapterBank(bank_folder, 0.0, description=description)
    for name, parameter in bank.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.01)
    return bank


def voxlingua_size_identifier(languages, folder):
    """Return a VoxLingua107-size identifier mapping the languages to codes."""
    labels = [f"l{index}: Language {index}" for index in range(107)]
    save_language_id_model(folder, labels, sizes=VOXLINGUA107_SIZES)
    codes = {language: [f"l{i}"] for i, language in enumerate(languages)}
    return PretrainedLanguageId(folder, codes, languages)


def timed(function, device, repeats):
    """Best wall time of ``repeats`` calls (after one warm-up)."""
    function()
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        function()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    """Time the four paths and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", default="microsoft/wavlm-large")
    parser.add_argument("--adapters", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--language_id",
        action="store_true",
        help="route with a VoxLingua107-size pretrained identifier",
    )
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="bank_cost_")
    bank = make_bank(args.encoder, args.adapters, folder)
    if args.language_id:
        bank.language_id = voxlingua_size_identifier(
            bank.languages, os.path.join(folder, "language_id")
        )
    bank = bank.to(args.device).eval()
    hparams = recipe_hparams(args.encoder, os.path.join(folder, "plain"))
    plain, head = hparams["modules"]["ssl"], hparams["modules"]["head"]
    plain.load_state_dict(
        {
            k.replace(".base_layer", ""): v
            for k, v in bank.encoder.state_dict().items()
            if "lora_" not in k
        }
    )
    plain.to(args.device).eval()
    head.to(args.device).eval()
    generator = torch.Generator().manual_seed(0)
    wavs = torch.randn(args.batch, int(args.seconds * 16000), generator=generator)
    wavs = (wavs * torch.linspace(0.2, 2.0, args.batch)[:, None]).to(args.device)
    lens = torch.ones(args.batch, device=args.device)
    with torch.no_grad():
        # a router that sends the batch to every language in turn
        features = bank.router_features(wavs, lens)
        bank.router.mean.copy_(features.mean(0))
        bank.router.std.copy_(features.std(0).clamp_min(1e-6))
        for detector in bank.router.detectors:
            for parameter in detector.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator))
        routes = bank.route(wavs, lens)[0]
    mix = Counter(bank.languages[i] for i in routes)

    def plain_pass():
        with torch.no_grad():
            head(*plain(wavs, lens))

    def routing_pass():
        with torch.no_grad():
            bank.route(wavs, lens)

    def base_pass():
        with torch.no_grad():
            bank(wavs, lens, language="base")

    def mixed_pass():
        with torch.no_grad():
            bank(wavs, lens)

    results = {
        name: timed(function, args.device, args.repeats)
        for name, function in (
            ("plain", plain_pass),
            ("routing", routing_pass),
            ("base", base_pass),
            ("mixed", mixed_pass),
        )
    }
    print(
        f"encoder {args.encoder}, {args.adapters} adapters + base, batch "
        f"{args.batch} x {args.seconds} s on {args.device}; routes: {dict(mix)}"
    )
    print("| path | seconds | vs plain encoder |")
    print("| --- | --- | --- |")
    for name, label in (
        ("plain", "plain encoder + head"),
        (
            "routing",
            "routing only (VoxLingua107-size ECAPA-TDNN)"
            if args.language_id
            else "routing only (cepstral features + router)",
        ),
        ("base", "bank, every utterance to the base"),
        ("mixed", "bank, mixed languages (adapters + heads)"),
    ):
        print(
            f"| {label} | {results[name]:.3f} | "
            f"{results[name] / results['plain']:.3f}x |"
        )


if __name__ == "__main__":
    main()
