r"""Build an adapter bank from finished runs, and add languages to it.

> python -m speechbrain_lora_ser.bank_builder build --base RUN \
>     --adapter RUN [--adapter RUN ...] --output BANK
> python -m speechbrain_lora_ser.bank_builder add --bank BANK --adapter RUN

The base is a FineTuned run (language 1: its encoder and head); each adapter
is an FT+LoRA run whose stage 1 is that encoder. Each language's model comes
from its run's export (``<run>/inference/hyperparams.yaml``: the recipe's
model file with the run's values, and its head's weights), its adapter from
the best checkpoint of its LoRA stage. The language router is trained on the
runs' own training manifests and selected on their development manifests.
The bank then loads with ``EncoderRegressor.from_hparams(source=BANK)``.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import json
import os
import shutil
import sys

import torch
from ruamel.yaml import YAML
from speechbrain.dataio.preprocess import AudioNormalizer
from speechbrain.utils.checkpoints import Checkpointer

from speechbrain_lora_ser.audio import read_audio
from speechbrain_lora_ser.bank import (
    DESCRIPTION,
    LANGUAGES,
    AdapterBank,
    front_features,
)
from speechbrain_lora_ser.manifests import read_manifests

BANK_YAML = """\
# ############################################################################
# Adapter bank (written by python -m speechbrain_lora_ser.bank_builder): one
# frozen encoder, a LoRA adapter and a head per language, and a language
# router. Each language's model is its run's export, in languages/.
# Load with EncoderRegressor.from_hparams(source=<this folder>, savedir=...).
# bank.json says which runs each language comes from.
# ############################################################################

# This folder (from_hparams sets it to its `source`).
pretrained_path: {folder}

sample_rate: {sample_rate}
# Recordings longer than window_seconds are rated in windows every
# hop_seconds; a file's value is the duration-weighted mean.
window_seconds: {window_seconds}
hop_seconds: {hop_seconds}
# An utterance whose most likely language has a lower probability than this
# goes to the base model ({base}).
min_language_probability: {min_language_probability}

regressor: !new:speechbrain_lora_ser.bank.AdapterBank
    folder: !ref <pretrained_path>
    min_language_probability: !ref <min_language_probability>

modules:
    regressor: !ref <regressor>

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        regressor: !ref <regressor>
    paths:
        regressor: !ref <pretrained_path>/bank.ckpt
"""


def read_run(folder):
    """Read what a bank needs from a finished run folder.

    Returns
    -------
    dict
        ``folder``, ``corpus``, ``modes`` (what each stage trained), the
        best checkpoint of its last stage, its export folder, its serving
        values (sample rate, windows) and its manifests.

    Example
    -------
    >>> import tempfile
    >>> read_run(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    FileNotFoundError: ...: not a finished run (no results.json)
    """
    folder = os.path.abspath(folder)
    info_file = os.path.join(folder, "run_info.json")
    if not os.path.isfile(os.path.join(folder, "results.json")) or not os.path.isfile(
        info_file
    ):
        raise FileNotFoundError(f"{folder}: not a finished run (no results.json)")
    with open(info_file, encoding="utf-8") as handle:
        info = json.load(handle)
    export = os.path.join(folder, "inference")
    if not os.path.isfile(os.path.join(export, "hyperparams.yaml")):
        raise FileNotFoundError(f"{export}: the run exported no model")
    last = info["stages"][-1]["name"]
    checkpoint = Checkpointer(os.path.join(folder, "save", last)).find_checkpoint(
        max_key="ccc"
    )
    if checkpoint is None:
        raise FileNotFoundError(f"{folder}/save/{last}: no checkpoint")
    with open(os.path.join(export, "hyperparams.yaml"), encoding="utf-8") as handle:
        exported = YAML().load(handle)
    return {
        "folder": folder,
        "corpus": info["corpus"],
        "modes": [stage["train"] for stage in info["stages"]],
        "checkpoint": str(checkpoint.path),
        "export": export,
        "serving": {
            key: exported[key]
            for key in ("sample_rate", "window_seconds", "hop_seconds")
        },
        "manifests": os.path.join(folder, "manifests", info["corpus"]),
    }


def build_bank(
    base_run,
    adapter_runs,
    output,
    min_language_probability=0.5,
    max_utterances=2000,
    batch_size=8,
):
    """Build a bank folder from a FineTuned run and FT+LoRA runs.

    Arguments
    ---------
    base_run : str
        A finished FineTuned run (language 1: its encoder and head).
    adapter_runs : list of str
        Finished FT+LoRA runs whose stage 1 is ``base_run``'s encoder.
    output : str
        The bank folder to write.
    min_language_probability : float
        Routing threshold written into the bank's YAML.
    max_utterances : int
        Utterances per language and partition used to train the router.
    batch_size : int
        Utterances per forward pass when computing router features.

    Returns
    -------
    dict
        The router's development accuracy per language.

    Example
    -------
    >>> import tempfile
    >>> build_bank(tempfile.mkdtemp(), [], tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    FileNotFoundError: ...: not a finished run (no results.json)
    """
    output = os.path.abspath(output)
    base = read_run(base_run)
    if base["modes"] != ["finetune"]:
        raise ValueError(
            f"--base {base['folder']}: not a FineTuned run (its stages train "
            f"{base['modes']})"
        )
    adapters = [read_run(run) for run in adapter_runs]
    for adapter in adapters:
        if adapter["modes"] != ["finetune", "lora"]:
            raise ValueError(
                f"--adapter {adapter['folder']}: not an FT+LoRA run (its stages "
                f"train {adapter['modes']}; expected ['finetune', 'lora'])"
            )
    runs = [base, *adapters]
    languages = [run["corpus"] for run in runs]
    if len(set(languages)) != len(languages):
        raise ValueError(f"two runs for the same language in {languages}")
    base_state = _load(base["export"], "ssl")
    adapter_states = [_load(adapter["checkpoint"], "ssl") for adapter in adapters]
    for adapter, state in zip(adapters, adapter_states, strict=True):
        _check_adapter(base, adapter, state, base_state)

    os.makedirs(os.path.join(output, LANGUAGES), exist_ok=True)
    for run in runs:
        shutil.copyfile(
            os.path.join(run["export"], "hyperparams.yaml"),
            os.path.join(output, LANGUAGES, f"{run['corpus']}.yaml"),
        )
    description = {
        "languages": languages,
        "runs": {"base": base["folder"], "adapters": [a["folder"] for a in adapters]},
    }
    _write_json(os.path.join(output, DESCRIPTION), description)
    bank = AdapterBank(output, min_language_probability)
    state = {}
    for key in bank.encoder.state_dict():
        if ".lora_" in key:
            language = next(lang for lang in languages[1:] if f".{lang}." in key)
            source = adapter_states[languages.index(language) - 1]
            state[key] = source[key.replace(f".{language}.", ".default.")]
        else:
            state[key] = base_state[key.replace(".base_layer", "")]
    bank.encoder.load_state_dict(state)
    for index, run in enumerate(runs):
        bank.heads[str(index)].load_state_dict(_load(run["export"], "head"))
    accuracy = train_router(bank, runs, max_utterances, batch_size)
    torch.save(
        {k: v.detach().cpu() for k, v in bank.state_dict().items()},
        os.path.join(output, "bank.ckpt"),
    )
    with open(os.path.join(output, "hyperparams.yaml"), "w", encoding="utf-8") as f:
        f.write(
            BANK_YAML.format(
                folder=output,
                min_language_probability=min_language_probability,
                base=languages[0],
                **base["serving"],
            )
        )
    description["router_dev_accuracy"] = accuracy
    _write_json(os.path.join(output, DESCRIPTION), description)
    return accuracy


def add_to_bank(bank_folder, adapter_run, **options):
    """Add a language (one more FT+LoRA run) to a bank; only the router retrains.

    Returns
    -------
    dict
        The router's development accuracy per language.

    Example
    -------
    >>> import tempfile
    >>> add_to_bank(tempfile.mkdtemp(), "run")
    Traceback (most recent call last):
    ...
    FileNotFoundError: ...bank.json...
    """
    with open(os.path.join(bank_folder, DESCRIPTION), encoding="utf-8") as handle:
        runs = json.load(handle)["runs"]
    with open(os.path.join(bank_folder, "hyperparams.yaml"), encoding="utf-8") as f:
        threshold = float(YAML().load(f)["min_language_probability"])
    options.setdefault("min_language_probability", threshold)
    return build_bank(
        runs["base"], [*runs["adapters"], adapter_run], bank_folder, **options
    )


def train_router(bank, runs, max_utterances=2000, batch_size=8, steps=300):
    """Train the bank's router on the runs' own training and dev partitions.

    A logistic regression on standardised features; the L2 weight with the
    lowest development cross-entropy wins (not the highest accuracy, which
    ties easily on small sets and then favours an over-confident router).

    Returns
    -------
    dict
        Development accuracy per language.
    """
    bank.eval()
    features, labels = _router_data(bank, runs, "train", max_utterances, batch_size)
    valid = _router_data(bank, runs, "valid", max_utterances, batch_size)
    router = bank.router
    router.mean.copy_(features.mean(0))
    router.std.copy_(features.std(0).clamp_min(1e-6))
    counts = torch.bincount(labels, minlength=len(runs)).float()
    class_weights = counts.sum() / counts.clamp_min(1) / len(counts)
    inputs = (features - router.mean) / router.std
    best = None
    with torch.enable_grad():
        for decay in (0.0, 1e-4, 1e-3, 1e-2, 1e-1):
            torch.manual_seed(0)
            router.linear.reset_parameters()
            optimizer = torch.optim.Adam(router.linear.parameters(), lr=0.05)
            for _ in range(steps):
                optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(
                    router.linear(inputs), labels, weight=class_weights
                )
                loss = loss + decay * router.linear.weight.pow(2).sum()
                loss.backward()
                optimizer.step()
            with torch.no_grad():
                probabilities = router(valid[0])
                entropy = torch.nn.functional.nll_loss(
                    probabilities.clamp_min(1e-12).log(), valid[1]
                ).item()
            if best is None or entropy < best[0]:
                best = (entropy, {k: v.clone() for k, v in router.state_dict().items()})
    router.load_state_dict(best[1])
    with torch.no_grad():
        predicted = router(valid[0]).argmax(-1)
    return {
        language: float((predicted[valid[1] == i] == i).float().mean())
        for i, language in enumerate(bank.languages)
    }


def _router_data(bank, runs, split, max_utterances, batch_size):
    """Router features and language labels of the runs' ``split`` manifests."""
    normalizer = AudioNormalizer(sample_rate=16000)
    features, labels = [], []
    for index, run in enumerate(runs):
        with open(read_manifests(run["manifests"])[split], encoding="utf-8") as f:
            entries = list(json.load(f).values())[:max_utterances]
        for start in range(0, len(entries), batch_size):
            wavs = [
                read_audio(entry["wav"], normalizer)
                for entry in entries[start : start + batch_size]
            ]
            longest = max(w.shape[0] for w in wavs)
            batch = torch.zeros(len(wavs), longest)
            for row, wav in enumerate(wavs):
                batch[row, : wav.shape[0]] = wav
            lens = torch.tensor([w.shape[0] / longest for w in wavs])
            with torch.no_grad():
                features.append(front_features(bank.encoder, batch, lens))
            labels += [index] * len(wavs)
    return torch.cat(features), torch.tensor(labels)


def _load(folder, name):
    return torch.load(os.path.join(folder, f"{name}.ckpt"), weights_only=True)


def _check_adapter(base, adapter, adapter_state, base_state):
    """Refuse an adapter whose frozen encoder is not the base's."""
    for key, value in adapter_state.items():
        if "lora_" in key:
            continue
        base_key = key.replace(".base_layer", "")
        if base_key not in base_state or not torch.equal(base_state[base_key], value):
            raise ValueError(
                f"--adapter {adapter['folder']}: its stage 1 is not the base "
                f"{base['folder']}: the frozen encoder differs at {base_key}"
            )


def _write_json(path, content):
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(content, handle, indent=2)
    os.replace(path + ".tmp", path)


def main(argv=None):
    """Command line: ``build`` and ``add``; returns the exit status.

    Example
    -------
    >>> import tempfile
    >>> main(["build", "--base", tempfile.mkdtemp(), "--output", tempfile.mkdtemp()])
    1
    """
    parser = argparse.ArgumentParser(prog="python -m speechbrain_lora_ser.bank_builder")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="a bank from finished runs")
    build.add_argument("--base", required=True, help="a finished FineTuned run")
    build.add_argument(
        "--adapter", action="append", default=[], help="a finished FT+LoRA run"
    )
    build.add_argument("--output", required=True, help="the bank folder")
    add = commands.add_parser("add", help="add a language to a bank")
    add.add_argument("--bank", required=True)
    add.add_argument("--adapter", required=True, help="a finished FT+LoRA run")
    for command in (build, add):
        command.add_argument("--min_language_probability", type=float, default=None)
        command.add_argument("--max_utterances", type=int, default=2000)
    args = parser.parse_args(argv)
    options = {"max_utterances": args.max_utterances}
    if args.min_language_probability is not None:
        options["min_language_probability"] = args.min_language_probability
    try:
        if args.command == "build":
            accuracy = build_bank(args.base, args.adapter, args.output, **options)
            folder = args.output
        else:
            accuracy = add_to_bank(args.bank, args.adapter, **options)
            folder = args.bank
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"bank written to {folder}")
    for language, value in accuracy.items():
        print(f"  router accuracy on {language} development set: {value:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
