#!/usr/bin/env python3
"""Language routing under other channels: which features, trained how, at what cost.

Writes synthetic corpora in English (MSP-Podcast layout), Mandarin and German
(BIIC-Podcast layout, as a copied recipe would) with one set of seeds for
training and development, and held-out corpora with other seeds; trains a
router (``routing_training.fit_router``: a small detector per language,
temperature fitted on dev) on each candidate feature of ``routing_taps.SOURCES``
(cepstral and log-mel statistics of the waveform, first-convolution log
energies, the convolutional feature extractor's output, hidden states after
the first k frozen transformer layers), once on clean audio only and once
with channel augmentation (``routing_training.random_channel``), and for the
waveform features also as plain logistic regression; and evaluates each on
the held-out utterances, clean and through other channels:

* ``clean``;
* ``telephone``: 300-Hz high-pass, 8 kHz and back;
* ``loud_clipped_noisy``: +6 dB with clipping, white noise at 20 dB SNR;
* ``quiet``: -20 dB;
* ``reverb``: a synthetic room (RT60 0.5 s; reverberation is in training);
* ``muffled``: 1.5-kHz low-pass (no training channel is like it);

* ``mp3``: MP3 at about 19 kbit/s (libsndfile, ``compression_level=0.99``;
  training codes MP3 and Opus at libsndfile's default bitrate);
* ``slower`` / ``faster``: speed perturbation by 0.9 / 1.1 (tempo and pitch
  shift together, as a resampled recording does; in training: 0.9-1.1);
* ``music``: music-like tone chords underneath, at 10 dB SNR (in training:
  5-25 dB);

and channels no training augmentation resembles:

* ``vorbis``: Ogg Vorbis coding;
* ``gsm``: a mobile call, GSM 06.10 full-rate coding at 8 kHz.

It prints accuracy per language and condition, the probabilities of the
misrouted utterances, calibration (expected calibration error; the
reliability of the top probability for the default features), what each
``min_language_probability`` catches, and the cost of each feature next to a
full encoder forward pass (time on this machine and FLOPs counted by
``torch.utils.flop_counter``, which leaves out the FFT) for the tiny encoders
and the paper's large ones (``architectures.large_config``, random weights,
one utterance of 4 s). The cepstral and log-mel features do not depend on
the encoder: their rows are the same for every encoder.

> python benchmarks/routing_robustness.py                       # tiny encoders
> python benchmarks/routing_robustness.py --encoders tiny-wavlm large-wavlm \
>     --output routing.json
> python benchmarks/routing_robustness.py --sections cost       # cost only

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import csv
import io
import json
import os
import platform
import statistics
import tempfile
import time

import soundfile
import torch
import torchaudio.functional as AF
from routing_taps import FeatureTap, TapSet
from speechbrain.augment.codec import CodecAugment
from torch.utils.flop_counter import FlopCounterMode

from speechbrain_lora_ser.bank.routing import DEFAULT_FEATURES
from speechbrain_lora_ser.bank.routing_training import (
    HIDDEN,
    add_music,
    add_noise,
    augmented_features,
    batch_features,
    change_speed,
    fit_router,
    gain_and_clip,
    reliability,
    reverberate,
    telephone_band,
    threshold_table,
)
from speechbrain_lora_ser.demo import recipe_layouts
from speechbrain_lora_ser.modeling.model import SSLEncoder
from speechbrain_lora_ser.synthetic.architectures import large_config, save_tiny_encoder
from speechbrain_lora_ser.synthetic.demo_corpus import write_demo_corpus

LANGUAGES = ("english", "mandarin", "german")
LAYOUT = {
    "english": "MSP-Podcast",
    "mandarin": "BIIC-Podcast",
    "german": "BIIC-Podcast",
}
TRAIN_SEEDS = {"english": 100, "mandarin": 101, "german": 102}
TEST_SEEDS = {"english": 200, "mandarin": 201, "german": 202}
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98)
#: The channels the router must survive (the issue's); the others are extra.
REQUIRED = ("clean", "telephone", "loud_clipped_noisy", "quiet")


def _seeded(function):
    def apply(wav, index):
        return function(wav, torch.Generator().manual_seed(10_000 + index))

    return apply


#: Held-out channels: name -> f(wav, generator) (fixed settings).
CONDITIONS = {
    "clean": lambda wav, g: wav,
    "telephone": lambda wav, g: telephone_band(wav),
    "loud_clipped_noisy": lambda wav, g: add_noise(gain_and_clip(wav, 6.0), 20.0, g),
    "quiet": lambda wav, g: AF.gain(wav, -20.0),
    "reverb": lambda wav, g: reverberate(wav, 0.5, g),
    "muffled": lambda wav, g: AF.lowpass_biquad(wav, 16000, 1500.0),
    "mp3": lambda wav, g: mp3(wav),
    "slower": lambda wav, g: change_speed(wav, 0.9),
    "faster": lambda wav, g: change_speed(wav, 1.1),
    "music": lambda wav, g: add_music(wav, 10.0, g),
    "vorbis": lambda wav, g: CodecAugment(16000).apply_codec(wav, "OGG", "VORBIS"),
    "gsm": lambda wav, g: gsm(wav),
}


def gsm(wav):
    """Pass through a mobile call: 8 kHz, GSM 06.10 full-rate coding, 16 kHz."""
    narrow = AF.resample(wav, 16000, 8000)
    coded = CodecAugment(8000).apply_codec(narrow, "WAV", "GSM610")
    return AF.resample(coded, 8000, 16000)[: len(wav)]


def mp3(wav):
    """Encode to MP3 at about 19 kbit/s (16 kHz mono) and decode again."""
    return lowest_bitrate(wav, "MP3", "MPEG_LAYER_III")


def lowest_bitrate(wav, format, subtype):
    """Code 16-kHz ``wav`` at libsndfile's lowest bitrate and decode again."""
    buffer = io.BytesIO()
    soundfile.write(
        buffer,
        wav.numpy(),
        16000,
        format=format,
        subtype=subtype,
        compression_level=0.99,  # 1.0 is refused by libsndfile 1.2
    )
    buffer.seek(0)
    decoded, _ = soundfile.read(buffer, dtype="float32")
    return torch.from_numpy(decoded[: len(wav)])


def read_corpus(folder, layout):
    """Waveforms of a written corpus by split (``train``/``valid``/``test``)."""
    split_of = {
        name: split for split, names in layout.partitions.items() for name in names
    }
    waves = {"train": [], "valid": [], "test": []}
    with open(os.path.join(folder, layout.label_files[0]), encoding="utf-8") as f:
        for row in csv.DictReader(f):
            path = os.path.join(folder, layout.audio_folder, row[layout.id_column])
            wav, rate = soundfile.read(path, dtype="float32")
            assert rate == 16000, path
            waves[split_of[row[layout.partition_column]]].append(torch.from_numpy(wav))
    return waves


def write_corpora(folder, sizes):
    """Training/development corpora and held-out test corpora, per language."""
    layouts = recipe_layouts()
    train, valid, test = {}, {}, {}
    for language in LANGUAGES:
        layout = layouts[LAYOUT[language]]
        seen = os.path.join(folder, f"{language}_train")
        write_demo_corpus(
            seen, language, layout, (sizes[0], sizes[1], 0), TRAIN_SEEDS[language]
        )
        held_out = os.path.join(folder, f"{language}_test")
        write_demo_corpus(
            held_out, language, layout, (0, 0, sizes[2]), TEST_SEEDS[language]
        )
        waves = read_corpus(seen, layout)
        train[language], valid[language] = waves["train"], waves["valid"]
        test[language] = read_corpus(held_out, layout)["test"]
    return train, valid, test


def make_encoder(name, folder):
    """Build a frozen encoder by name.

    ``tiny-wavlm``, ``tiny-hubert`` (random init), ``large-wavlm`` /
    ``large-hubert`` (the paper's, random weights), or a local folder (e.g. a
    real encoder's weights).
    """
    if os.path.isdir(name):
        return SSLEncoder(name, freeze=True).eval()
    size, family = name.split("-")
    path = os.path.join(folder, name)
    if size == "tiny":
        save_tiny_encoder(path, family)
        return SSLEncoder(path, freeze=True).eval()
    hub = {"wavlm": "microsoft/wavlm-large", "hubert": "facebook/hubert-large-ll60k"}
    large_config(hub[family]).save_pretrained(path)
    torch.manual_seed(0)
    return SSLEncoder(path, freeze=True, from_config=True).eval()


def candidate_taps(encoder, layers):
    """Every candidate feature: name -> FeatureTap."""
    taps = {
        "cepstra": FeatureTap(encoder, "cepstra"),
        "log_mel": FeatureTap(encoder, "log_mel"),
        "conv_energy": FeatureTap(encoder, "conv_energy"),
        "cnn": FeatureTap(encoder, "cnn"),
    }
    for k in layers:
        if k <= encoder.model.config.num_hidden_layers:
            taps[f"layer{k}"] = FeatureTap(encoder, "layer", layer=k)
    return taps


def robustness(encoder, taps, data, copies, batch_size):
    """Fit clean and augmented routers per tap; evaluate on held-out channels."""
    train, valid, test = data
    names = list(taps)
    tap_list = TapSet(taps[n] for n in names)  # one pass for all
    started = time.perf_counter()
    train_features, train_labels = augmented_features(
        tap_list, [train[lang] for lang in LANGUAGES], copies, 1, batch_size
    )
    valid_features, valid_labels = augmented_features(
        tap_list, [valid[lang] for lang in LANGUAGES], copies, 2, batch_size
    )
    clean_train = torch.arange(len(train_labels)) % (1 + copies) == 0
    clean_valid = torch.arange(len(valid_labels)) % (1 + copies) == 0
    test_wavs = [w for lang in LANGUAGES for w in test[lang]]
    test_labels = torch.tensor(
        [i for i, lang in enumerate(LANGUAGES) for _ in test[lang]]
    )
    test_features = {}
    for condition, function in CONDITIONS.items():
        wavs = [_seeded(function)(w, i) for i, w in enumerate(test_wavs)]
        test_features[condition] = dict(
            zip(names, batch_features(tap_list, wavs, batch_size), strict=True)
        )
    feature_seconds = time.perf_counter() - started
    results = {}
    for index, name in enumerate(names):
        variants = [("clean", HIDDEN), ("augmented", HIDDEN)]
        if name in ("cepstra", "log_mel"):
            variants.append(("augmented", 0))
        for training, hidden in variants:
            keep_t = clean_train if training == "clean" else slice(None)
            keep_v = clean_valid if training == "clean" else slice(None)
            router, info = fit_router(
                train_features[index][keep_t],
                train_labels[keep_t],
                valid_features[index][keep_v],
                valid_labels[keep_v],
                taps[name].config,
                len(LANGUAGES),
                hidden=hidden,
            )
            model = "logistic" if hidden == 0 else f"MLP {hidden}"
            results[f"{name}/{training}/{model}"] = evaluate(
                router, test_features, name, test_labels, info
            )
    return results, feature_seconds


def evaluate(router, test_features, name, labels, info):
    """Accuracy per condition and language, misrouted probabilities, calibration."""
    report = {"fit": info, "conditions": {}}
    everything = []
    for condition, features in test_features.items():
        with torch.no_grad():
            probabilities = router(features[name])
        everything.append(probabilities)
        top, predicted = probabilities.max(-1)
        wrong = predicted != labels
        report["conditions"][condition] = {
            "accuracy": {
                language: float((predicted[labels == i] == i).float().mean())
                for i, language in enumerate(LANGUAGES)
            },
            "misrouted": int(wrong.sum()),
            "misrouted_probabilities": sorted(
                round(float(p), 3) for p in top[wrong].tolist()
            ),
        }
    probabilities = torch.cat(everything)
    all_labels = labels.repeat(len(test_features))
    table, ece = reliability(probabilities, all_labels, bins=6)
    report["reliability"] = table
    report["ece"] = ece
    report["thresholds"] = threshold_table(probabilities, all_labels, THRESHOLDS)
    required = [list(test_features).index(c) for c in REQUIRED]
    report["thresholds_required"] = threshold_table(
        torch.cat([everything[i] for i in required]),
        labels.repeat(len(required)),
        THRESHOLDS,
    )
    return report


# ---------------------------------------------------------------------------
# Cost
# ---------------------------------------------------------------------------
def _flops(function):
    counter = FlopCounterMode(display=False)
    with counter:
        function()
    return counter.get_total_flops()


def cost(encoder, configs, seconds, repeats):
    """Time and FLOPs of each feature next to a full forward pass (batch of one).

    ``standalone``: the tap's own partial pass (what router training runs);
    ``tapped``: a full forward pass with the tap attached, the bank's case
    (the convolutional front end is computed once, the features inside).
    Times are medians of ``repeats`` interleaved runs (the load drifts).
    """
    generator = torch.Generator().manual_seed(0)
    wav = 0.1 * torch.randn(1, int(seconds * 16000), generator=generator)
    lens = torch.ones(1)

    def full():
        with torch.no_grad():
            encoder(wav, lens)

    def timed(function):
        start = time.perf_counter()
        function()
        return time.perf_counter() - start

    full()  # warm-up
    full_flops = _flops(full)
    rows = {}
    for name, config in configs.items():
        tap = FeatureTap(encoder, **config)
        standalone_flops = _flops(lambda tap=tap: tap(wav, lens))
        tapped_flops = _flops(full)
        tap.remove()
        times = {"full": [], "standalone": [], "tapped": []}
        for _ in range(repeats):
            times["full"].append(timed(full))
            tap = FeatureTap(encoder, **config)
            times["standalone"].append(timed(lambda tap=tap: tap(wav, lens)))
            times["tapped"].append(timed(full))
            tap.remove()
        rows[name] = {
            "full_seconds": statistics.median(times["full"]),
            "standalone_seconds": statistics.median(times["standalone"]),
            "tapped_seconds": statistics.median(times["tapped"]),
            "times": times,
            "full_flops": full_flops,
            "standalone_flops": standalone_flops,
            "in_bank_extra_flops": tapped_flops - full_flops,
        }
    return rows


def main():
    """Run the chosen sections and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--encoders",
        nargs="+",
        default=["tiny-wavlm", "tiny-hubert"],
        help="tiny-wavlm, tiny-hubert, large-wavlm, large-hubert",
    )
    parser.add_argument("--cost_encoders", nargs="+", default=None)
    parser.add_argument("--sections", nargs="+", default=["robustness", "cost"])
    parser.add_argument("--layers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--features",
        nargs="+",
        default=None,
        help="candidate features to compare (default: all, e.g. cepstra cnn layer1)",
    )
    parser.add_argument(
        "--sizes", type=int, nargs=3, default=[200, 50, 100], help="train dev test"
    )
    parser.add_argument("--copies", type=int, default=6)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default=None, help="JSON file of every figure")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = tempfile.mkdtemp(prefix="routing_robustness_")
    report = {
        "machine": f"{platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, torch threads {args.threads}",
        "arguments": vars(args),
    }
    if "robustness" in args.sections:
        started = time.perf_counter()
        data = write_corpora(folder, args.sizes)
        print(f"corpora written in {time.perf_counter() - started:.0f} s")
        for name in args.encoders:
            encoder = make_encoder(name, folder)
            taps = candidate_taps(encoder, args.layers)
            for unused in set(taps) - set(args.features or taps):
                taps.pop(unused).remove()
            results, seconds = robustness(
                encoder, taps, data, args.copies, args.batch_size
            )
            print(f"\n## {name}: features in {seconds:.0f} s")
            print_robustness(results)
            report.setdefault("robustness", {})[name] = results
            for tap in taps.values():
                tap.remove()
    if "cost" in args.sections:
        for name in args.cost_encoders or args.encoders:
            encoder = make_encoder(name, folder)
            taps = candidate_taps(encoder, args.layers)
            for tap in taps.values():
                tap.remove()
            configs = {name: tap.config for name, tap in taps.items()}
            rows = cost(encoder, configs, args.seconds, args.repeats)
            print(f"\n## cost on {name}: one utterance of {args.seconds} s")
            print_cost(rows, encoder.model.config.num_hidden_layers)
            report.setdefault("cost", {})[name] = rows
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=1)


def print_robustness(results):
    """Accuracy table: candidate x condition (per language), ECE."""
    conditions = list(CONDITIONS)
    print("| features / training | " + " | ".join(conditions) + " | ECE |")
    print("| --- " * (len(conditions) + 2) + "|")
    for name, result in results.items():
        cells = []
        for condition in conditions:
            accuracy = result["conditions"][condition]["accuracy"]
            cells.append("/".join(f"{100 * accuracy[lang]:.0f}" for lang in LANGUAGES))
        print(f"| {name} | " + " | ".join(cells) + f" | {result['ece']:.3f} |")
    print("(accuracy % English/Mandarin/German on held-out utterances)")
    default = f"{DEFAULT_FEATURES['source']}/augmented/MLP {HIDDEN}"
    if default in results:
        print(f"reliability of the top probability, {default}, all conditions:")
        print("| top probability | utterances | mean probability | accuracy |")
        print("| --- | --- | --- | --- |")
        for row in results[default]["reliability"]:
            print(
                f"| {row['low']:.2f}-{row['high']:.2f} | {row['count']} | "
                f"{row['confidence']:.3f} | {row['accuracy']:.3f} |"
            )
    for name, result in results.items():
        if "/augmented/" not in name:
            continue
        probabilities = [
            p
            for condition in conditions
            for p in result["conditions"][condition]["misrouted_probabilities"]
        ]
        print(
            f"{name}: {len(probabilities)} misrouted, top probability "
            f"{_spread(probabilities)}"
        )
        for key, label in (
            ("thresholds", "all conditions"),
            ("thresholds_required", ", ".join(REQUIRED)),
        ):
            print(
                f"  {label}: threshold -> misrouted caught / correct kept: "
                + ", ".join(
                    f"{row['threshold']}: {_percent(row['misrouted_caught'])}/"
                    f"{_percent(row['correct_kept'])}"
                    for row in result[key]
                )
            )


def _spread(values):
    if not values:
        return "-"
    values = sorted(values)
    return f"median {statistics.median(values):.2f}, max {values[-1]:.2f}"


def _percent(value):
    return "-" if value is None else f"{100 * value:.0f}%"


def print_cost(rows, layers):
    """Cost table: features vs a full forward pass."""
    print(
        "| features | full forward | standalone features | ratio | in-bank "
        "extra (time) | in-bank extra FLOPs |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name, row in rows.items():
        extra = row["tapped_seconds"] - row["full_seconds"]
        print(
            f"| {name} | {row['full_seconds'] * 1000:.1f} ms, "
            f"{row['full_flops'] / 1e9:.1f} GFLOP | "
            f"{row['standalone_seconds'] * 1000:.1f} ms, "
            f"{row['standalone_flops'] / 1e9:.2f} GFLOP | "
            f"{row['standalone_seconds'] / row['full_seconds']:.3f} (time), "
            f"{row['standalone_flops'] / row['full_flops']:.3f} (FLOPs) | "
            f"{extra / row['full_seconds']:+.3f} | "
            f"{row['in_bank_extra_flops'] / row['full_flops']:.3f} |"
        )
    print(f"({layers} transformer layers; ratios against the full forward pass)")


if __name__ == "__main__":
    main()
