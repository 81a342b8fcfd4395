r"""Build an adapter bank from finished runs, and add languages to it.

> python -m speechbrain_lora_ser.bank.bank_builder build --base RUN \
>     --adapter RUN [--adapter RUN ...] --output BANK
> python -m speechbrain_lora_ser.bank.bank_builder add --bank BANK --adapter RUN

The base is a FineTuned run (language 1: its encoder and head); each adapter
is an FT+LoRA run whose stage 1 is that encoder. Each language's model comes
from its run's export (``<run>/inference/hyperparams.yaml``: the recipe's
model file with the run's values and its calibration, and its head's
weights), its adapter from the best checkpoint of its LoRA stage. The
language router (``speechbrain_lora_ser.bank.routing``) is trained on the runs'
own training utterances, each heard clean and through random channels
(telephone band, gain and clipping, noise, reverberation:
``routing_training``), and its early stopping, L2 weight and temperature are
chosen on their development utterances heard the same way. ``add`` trains
only the new language's detector, so the earlier languages' scores do not
change, and lists every development utterance whose route changed. The bank
then loads with ``EncoderRegressor.from_hparams(source=BANK)``.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import json
import logging
import os
import shutil
import sys
import time

import torch
from ruamel.yaml import YAML
from speechbrain.utils.checkpoints import Checkpointer

from speechbrain_lora_ser.bank.adapter_bank import DESCRIPTION, LANGUAGES, AdapterBank
from speechbrain_lora_ser.bank.routing import (
    DEFAULT_FEATURES,
    DEFAULT_MIN_LANGUAGE_PROBABILITY,
    LanguageRouter,
    RouterFeatures,
    feature_size,
)
from speechbrain_lora_ser.bank.routing_training import (
    HIDDEN,
    add_language,
    augmented_features,
    batch_features,
    compare_routes,
    fit_router,
)
from speechbrain_lora_ser.data.manifests import read_manifests
from speechbrain_lora_ser.modeling.weights import read_state
from speechbrain_lora_ser.serving.audio import read_audio

#: Channel-augmented copies of each utterance the router is trained on.
COPIES = 4

logger = logging.getLogger(__name__)

BANK_YAML = """\
# ############################################################################
# Adapter bank (written by python -m speechbrain_lora_ser.bank.bank_builder): one
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
# Every language's values are given on this scale ({scale_note}).
# An utterance whose most likely language has a lower probability than this
# goes to the base model ({base}), with a warning.
min_language_probability: {min_language_probability}

regressor: !new:speechbrain_lora_ser.bank.adapter_bank.AdapterBank
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
    min_language_probability=DEFAULT_MIN_LANGUAGE_PROBABILITY,
    max_utterances=2000,
    batch_size=8,
    scale=None,
    previous_router=None,
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
        Utterances per pass when computing router features.
    scale : tuple of float, optional
        The bank's output scale (default: the base language's).
    previous_router : LanguageRouter, optional
        The router of this bank without its last language: only that
        language's detector is trained (``bank add``).

    Returns
    -------
    dict
        ``accuracy`` (the router's development accuracy per language, clean)
        and, with ``previous_router``, ``changes`` (development utterances of
        the earlier languages whose route changed).

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
    final, output = output, staging_folder(output)
    # the new version is written beside the old one, switched in at the end
    recover_bank(final)
    shutil.rmtree(output, ignore_errors=True)
    os.makedirs(os.path.join(output, LANGUAGES))
    for run in runs:
        shutil.copyfile(
            os.path.join(run["export"], "hyperparams.yaml"),
            os.path.join(output, LANGUAGES, f"{run['corpus']}.yaml"),
        )
    description = {
        "languages": languages,
        "runs": {"base": base["folder"], "adapters": [a["folder"] for a in adapters]},
        "router": LanguageRouter(
            feature_size(None, **DEFAULT_FEATURES),
            len(languages),
            DEFAULT_FEATURES,
            HIDDEN,
        ).config,
        "scale": None if scale is None else [float(v) for v in scale],
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
    report = train_router(
        bank,
        runs,
        max_utterances,
        batch_size,
        previous_router,
        min_language_probability,
    )
    description["scale"] = list(bank.label_range)
    torch.save(
        {k: v.detach().cpu() for k, v in bank.state_dict().items()},
        os.path.join(output, "bank.ckpt"),
    )
    low, high = bank.label_range
    with open(os.path.join(output, "hyperparams.yaml"), "w", encoding="utf-8") as f:
        f.write(
            BANK_YAML.format(
                folder=final,
                min_language_probability=min_language_probability,
                base=languages[0],
                scale_note=f"{low:g} to {high:g}",
                **base["serving"],
            )
        )
    description["router_dev_accuracy"] = report["accuracy"]
    if "changes" in report:
        description["router_changes"] = report["changes"]
    _write_json(os.path.join(output, DESCRIPTION), description)
    switch_bank(output, final)
    return report


def staging_folder(bank_folder):
    """Where a bank's next version is written (a sibling folder)."""
    return os.path.abspath(bank_folder).rstrip(os.sep) + ".building"


def previous_folder(bank_folder):
    """Where a bank's old version waits while the new one is switched in."""
    return os.path.abspath(bank_folder).rstrip(os.sep) + ".previous"


def switch_bank(staging, bank_folder):
    """Put the finished ``staging`` folder in place of ``bank_folder``.

    Two renames: the old bank to ``<bank>.previous``, the new one to
    ``<bank>``; then the old one is deleted. A kill before the first rename
    leaves the old bank as it was (and a ``.building`` folder the next
    build deletes); a kill between the renames leaves ``<bank>.previous``,
    which ``recover_bank`` (run by every build, add and load) renames back.
    POSIX has no atomic exchange of two folders, hence the two steps.
    """
    previous = previous_folder(bank_folder)
    shutil.rmtree(previous, ignore_errors=True)
    if os.path.exists(bank_folder):
        os.replace(bank_folder, previous)
    os.replace(staging, bank_folder)
    shutil.rmtree(previous, ignore_errors=True)


def recover_bank(bank_folder):
    """Restore the old bank when a switch was killed between its renames.

    Example
    -------
    >>> import tempfile
    >>> folder = os.path.join(tempfile.mkdtemp(), "bank")
    >>> os.makedirs(previous_folder(folder))
    >>> import logging
    >>> logging.disable(logging.WARNING)  # the warning it logs
    >>> recover_bank(folder)
    True
    >>> logging.disable(logging.NOTSET)
    >>> os.path.isdir(folder), os.path.exists(previous_folder(folder))
    (True, False)
    """
    previous = previous_folder(bank_folder)
    restored = os.path.isdir(previous) and not os.path.exists(bank_folder)
    if restored:
        os.replace(previous, bank_folder)
        logger.warning(
            "%s: restored the previous version (a switch was killed)", bank_folder
        )
    return restored


def add_to_bank(bank_folder, adapter_run, **options):
    """Add a language (one more FT+LoRA run) to a bank.

    The earlier languages' weights are copied; the router gets one more
    detector, trained alone, so the earlier languages' scores are unchanged
    (a route can still change where the new language's score is the highest
    or lowers the top probability under the threshold: the report lists
    every development utterance for which it does).

    Returns
    -------
    dict
        As ``build_bank``'s, with ``changes``.

    Example
    -------
    >>> import tempfile
    >>> add_to_bank(tempfile.mkdtemp(), "run")
    Traceback (most recent call last):
    ...
    FileNotFoundError: ...bank.json...
    """
    recover_bank(bank_folder)
    with open(os.path.join(bank_folder, DESCRIPTION), encoding="utf-8") as handle:
        description = json.load(handle)
    with open(os.path.join(bank_folder, "hyperparams.yaml"), encoding="utf-8") as f:
        threshold = float(YAML().load(f)["min_language_probability"])
    options.setdefault("min_language_probability", threshold)
    options.setdefault("scale", description.get("scale"))
    router = LanguageRouter(**description["router"])
    state = read_state(os.path.join(bank_folder, "bank.ckpt"))
    router.load_state_dict(
        {k[len("router.") :]: v for k, v in state.items() if k.startswith("router.")}
    )
    runs = description["runs"]
    return build_bank(
        runs["base"],
        [*runs["adapters"], adapter_run],
        bank_folder,
        previous_router=router,
        **options,
    )


def train_router(
    bank,
    runs,
    max_utterances=2000,
    batch_size=8,
    previous_router=None,
    min_language_probability=DEFAULT_MIN_LANGUAGE_PROBABILITY,
):
    """Train the bank's router on the runs' own training and development sets.

    Each utterance is heard clean and through ``COPIES`` random channels.
    Without ``previous_router`` every language's detector is trained; with
    it, only the last language's (``routing_training.add_language``).

    Returns
    -------
    dict
        ``accuracy``: the development accuracy per language (clean), and
        with ``previous_router`` ``changes``: each earlier language's
        development utterance whose route changed.
    """
    bank.eval()
    features = RouterFeatures(bank.encoder, **DEFAULT_FEATURES)
    train_wavs, _ = _router_waveforms(runs, "train", max_utterances)
    valid_wavs, valid_names = _router_waveforms(runs, "valid", max_utterances)
    started = time.perf_counter()
    logger.info(
        "router: features of %d training and %d development utterances, each "
        "clean and through %d random channels",
        sum(len(w) for w in train_wavs),
        sum(len(w) for w in valid_wavs),
        COPIES,
    )
    train = augmented_features(
        features, train_wavs, COPIES, seed=0, batch_size=batch_size
    )
    valid = augmented_features(
        features, valid_wavs, COPIES, seed=1, batch_size=batch_size
    )
    logger.info(
        "router: features in %.0f s; fitting the language detectors",
        time.perf_counter() - started,
    )
    report = {}
    if previous_router is None:
        router, _ = fit_router(*train, *valid, features=features.config)
    else:
        router, _ = add_language(previous_router, *train, *valid)
        earlier = [w for wavs in valid_wavs[:-1] for w in wavs]
        names = [n for group in valid_names[:-1] for n in group]
        report["changes"] = compare_routes(
            previous_router,
            router,
            batch_features(features, earlier, batch_size),
            names,
            bank.languages,
            min_language_probability,
        )
    bank.router.load_state_dict(router.state_dict())
    clean = [batch_features(features, wavs, batch_size) for wavs in valid_wavs]
    with torch.no_grad():
        report["accuracy"] = {
            language: float((bank.router(values).argmax(-1) == index).float().mean())
            for index, (language, values) in enumerate(
                zip(bank.languages, clean, strict=True)
            )
        }
    return report


def _router_waveforms(runs, split, max_utterances):
    """Each run's ``split`` utterances (16 kHz waveforms) and their names."""
    waveforms, names = [], []
    for run in runs:
        with open(read_manifests(run["manifests"])[split], encoding="utf-8") as f:
            entries = list(json.load(f).items())[:max_utterances]
        waveforms.append([read_audio(entry["wav"], 16000) for _, entry in entries])
        names.append([utt_id for utt_id, _ in entries])
    return waveforms, names


def _load(folder, name):
    return read_state(os.path.join(folder, f"{name}.ckpt"))


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
    parser = argparse.ArgumentParser(
        prog="python -m speechbrain_lora_ser.bank.bank_builder"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="a bank from finished runs")
    build.add_argument("--base", required=True, help="a finished FineTuned run")
    build.add_argument(
        "--adapter", action="append", default=[], help="a finished FT+LoRA run"
    )
    build.add_argument("--output", required=True, help="the bank folder")
    build.add_argument(
        "--scale",
        type=float,
        nargs=2,
        default=None,
        metavar=("LOW", "HIGH"),
        help="the bank's output scale (default: the base language's)",
    )
    add = commands.add_parser("add", help="add a language to a bank")
    add.add_argument("--bank", required=True)
    add.add_argument("--adapter", required=True, help="a finished FT+LoRA run")
    for command in (build, add):
        command.add_argument(
            "--min_language_probability",
            type=float,
            default=None,
            help="routes less probable go to the base model (default: "
            f"{DEFAULT_MIN_LANGUAGE_PROBABILITY:g}, or the bank's)",
        )
        command.add_argument("--max_utterances", type=int, default=2000)
    args = parser.parse_args(argv)
    # the package's progress messages (the router's training takes minutes)
    progress = logging.StreamHandler(sys.stdout)
    progress.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(progress)
    logger.setLevel(logging.INFO)
    options = {"max_utterances": args.max_utterances}
    if args.min_language_probability is not None:
        options["min_language_probability"] = args.min_language_probability
    try:
        if args.command == "build":
            if args.scale is not None:
                options["scale"] = args.scale
            report = build_bank(args.base, args.adapter, args.output, **options)
            folder = args.output
        else:
            report = add_to_bank(args.bank, args.adapter, **options)
            folder = args.bank
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"bank written to {folder}")
    for language, value in report["accuracy"].items():
        print(f"  router accuracy on {language} development set: {value:.1%}")
    if "changes" in report:
        changes = report["changes"]
        print(
            f"  earlier languages' development utterances whose route changed: "
            f"{len(changes)} (listed in {DESCRIPTION})"
        )
        for change in changes[:10]:
            print(
                f"    {change['utterance']}: {change['before']} -> "
                f"{change['after']} (top probability "
                f"{change['probability_before']:.2f} -> "
                f"{change['probability_after']:.2f})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
