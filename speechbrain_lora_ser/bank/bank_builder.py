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

Instead of the router, a bank can hear language with a pretrained
SpeechBrain language-ID model (``--language_id``, its codes mapped with
``--language_code``) or train its own ECAPA-TDNN language ID on the runs'
utterances (``--router ecapa``, ``own_language_id``), which ``add`` trains
again on every language.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import json
import logging
import os
import shutil
import sys

import torch
from ruamel.yaml import YAML
from speechbrain.inference.classifiers import EncoderClassifier
from speechbrain.utils.checkpoints import Checkpointer
from speechbrain.utils.fetching import LocalStrategy

from speechbrain_lora_ser.atomic import (
    recover_folder,
    replace_folder,
    save_torch,
    write_json,
    write_text,
)
from speechbrain_lora_ser.bank.adapter_bank import DESCRIPTION, LANGUAGES, AdapterBank
from speechbrain_lora_ser.bank.language_id import (
    identifier_from_description,
    parse_codes,
)
from speechbrain_lora_ser.bank.own_language_id import (
    FOLDER as LANGUAGE_ID,
)
from speechbrain_lora_ser.bank.own_language_id import (
    OWN_FOLDER,
    SIZES,
    route_changes,
    train_bank_language_id,
)
from speechbrain_lora_ser.bank.routing import (
    DEFAULT_FEATURES,
    DEFAULT_MIN_LANGUAGE_PROBABILITY,
    LanguageRouter,
    RouterFeatures,
    feature_size,
)
from speechbrain_lora_ser.bank.routing_training import (
    HIDDEN,
    batch_features,
    compare_routes,
    train_router,
)
from speechbrain_lora_ser.data.manifests import read_manifests, resolve_wav
from speechbrain_lora_ser.modeling.weights import read_state
from speechbrain_lora_ser.serving.audio import read_audio

# named, not __name__: under ``python -m`` that is "__main__", outside the
# package logger main() shows progress on
logger = logging.getLogger("speechbrain_lora_ser.bank.bank_builder")

#: ``--router``: the bank's cepstral router, or its own ECAPA-TDNN identifier.
ROUTERS = ("cepstral", "ecapa")
#: ``--router ecapa``'s training, unless told otherwise.
ECAPA_TRAINING = {"epochs": 20, "size": "bank", "background": None}
#: A language its router chooses (clean, no guard) on fewer of its own
#: development utterances than this is warned of: clean in-domain speech is
#: the easiest the bank will hear.
WEAK_ROUTING = 0.9

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
        values (sample rate, windows), its ``manifests`` folder and the
        ``data_root`` of their paths (``run_manifests``).

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
        **run_manifests(folder),
    }


def run_manifests(folder):
    r"""Return where a run's manifests are, as its saved hyperparameters say.

    SpeechBrain keeps a run's hyperparameters, with the command line's
    values, as ``<run>/hyperparams.yaml``: its ``manifest_folder`` is the
    run's own preparation (``<output_folder>/manifests/<corpus>``) or the
    folder given with ``--manifest_folder`` (hand-written manifests, with
    ``--skip_prep=True``), and its ``data_folder`` what ``{data_root}`` in
    their paths stands for. A manifest folder inside the run's
    ``output_folder`` is looked for inside ``folder`` (a run moved, or named
    by a relative path, still finds its own).

    Arguments
    ---------
    folder : str
        A run folder.

    Returns
    -------
    dict
        ``manifests`` (an absolute folder) and ``data_root``.

    Example
    -------
    >>> import tempfile
    >>> run = tempfile.mkdtemp()
    >>> with open(os.path.join(run, "hyperparams.yaml"), "w") as f:
    ...     _ = f.write("output_folder: results/en/1\n"
    ...         "manifest_folder: results/en/1/manifests/en\ndata_folder: /data/en\n")
    >>> found = run_manifests(run)
    >>> found["manifests"] == os.path.join(run, "manifests", "en"), found["data_root"]
    (True, '/data/en')
    """
    path = os.path.join(folder, "hyperparams.yaml")
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path}: missing (a run's hyperparameters say where its manifests are)"
        )
    with open(path, encoding="utf-8") as handle:
        hparams = YAML().load(handle)
    output = os.path.normpath(str(hparams["output_folder"]))
    manifests = os.path.normpath(str(hparams["manifest_folder"]))
    if manifests == output or manifests.startswith(output + os.sep):
        manifests = os.path.join(folder, os.path.relpath(manifests, output))
    data_root = hparams.get("data_folder")
    return {
        "manifests": os.path.abspath(manifests),
        "data_root": None if data_root is None else str(data_root),
    }


def build_bank(
    base_run,
    adapter_runs,
    output,
    min_language_probability=None,
    max_utterances=2000,
    batch_size=8,
    scale=None,
    previous_router=None,
    language_id=None,
    language_codes=None,
    router="cepstral",
    router_training=None,
    previous_language_id=None,
):
    """Build a bank folder from a FineTuned run and FT+LoRA runs.

    The new version is written beside the old one (``<bank>.building``) and
    switched in at the end (``atomic.replace_folder``).

    Arguments
    ---------
    base_run : str
        A finished FineTuned run (language 1: its encoder and head).
    adapter_runs : list of str
        Finished FT+LoRA runs whose stage 1 is ``base_run``'s encoder.
    output : str
        The bank folder to write.
    min_language_probability : float, optional
        Routing threshold written into the bank's YAML (default: the guard
        the ``ecapa`` identifier chose on its development utterances, else
        ``DEFAULT_MIN_LANGUAGE_PROBABILITY``).
    max_utterances : int
        Utterances per language and partition used to train the router.
    batch_size : int
        Utterances per pass when computing router features.
    scale : tuple of float, optional
        The bank's output scale (default: the base language's).
    previous_router : LanguageRouter, optional
        The router of this bank without its last language: only that
        language's detector is trained (``bank add``).
    language_id : str, optional
        A pretrained language-ID model (an ``EncoderClassifier`` folder or
        Hub name, e.g. ``speechbrain/lang-id-voxlingua107-ecapa``), copied
        into the bank (``language_id/``): it routes the languages
        ``language_codes`` maps and names the others unknown
        (``speechbrain_lora_ser.bank.language_id``).
    language_codes : dict, optional
        ``{bank language: [the model's codes]}``. With every language
        mapped, no router is trained.
    router : str
        ``cepstral`` (the bank's router, ``routing``) or ``ecapa``: the
        bank's own ECAPA-TDNN identifier, trained on the runs' utterances
        (``own_language_id``); with ``language_id``, on the languages its
        codes do not map.
    router_training : dict, optional
        ``ecapa``'s ``epochs``, ``size`` and ``background`` (a folder of
        speech in other languages: the ``unknown`` label); defaults
        ``ECAPA_TRAINING``.
    previous_language_id : PretrainedLanguageId, optional
        The bank's identifier before ``add``: the report lists each earlier
        development utterance whose route it changed.

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
    if router not in ROUTERS:
        raise ValueError(f"--router {router}: expected one of {ROUTERS}")
    output = os.path.abspath(output)
    runs = _read_runs(base_run, adapter_runs)
    staging = staging_folder(output)
    recover_bank(output)
    description = _stage(staging, runs, scale)
    identifier = _language_id(
        runs,
        staging,
        max_utterances,
        language_id,
        language_codes,
        router,
        router_training,
    )
    if identifier is not None:
        description["language_id"] = identifier
    chosen = description.get("language_id", {}).get("guard")
    if min_language_probability is None:
        min_language_probability = (
            DEFAULT_MIN_LANGUAGE_PROBABILITY if chosen is None else chosen
        )
    if chosen is not None:
        logger.info(
            "bank guard (min_language_probability): %g, %s",
            min_language_probability,
            "chosen on the development speech"
            if min_language_probability == chosen
            else f"set (the identifier chose {chosen:g})",
        )
    bank = AdapterBank(staging, min_language_probability, description=description)
    if bank.identifier_knows_every_language():  # no cepstral router to keep
        del description["router"]
        bank.router = bank.router_features = None
    _load_weights(bank, runs)
    report = _train_bank_router(
        bank, runs, max_utterances, batch_size, previous_router, previous_language_id
    )
    _finish(staging, output, bank, description, report, runs[0]["serving"])
    replace_folder(staging, output)
    return report


def _read_runs(base_run, adapter_runs):
    """Read the base run and the adapter runs (``read_run``); check they fit."""
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
    languages = [run["corpus"] for run in (base, *adapters)]
    if len(set(languages)) != len(languages):
        raise ValueError(f"two runs for the same language in {languages}")
    base["state"] = _load(base["export"], "ssl")
    for adapter in adapters:
        adapter["state"] = _load(adapter["checkpoint"], "ssl")
        _check_adapter(base, adapter)
    return [base, *adapters]


def _stage(staging, runs, scale):
    """Start the new version: each language's model file; its description."""
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(os.path.join(staging, LANGUAGES))
    for run in runs:
        shutil.copyfile(
            os.path.join(run["export"], "hyperparams.yaml"),
            os.path.join(staging, LANGUAGES, f"{run['corpus']}.yaml"),
        )
    languages = [run["corpus"] for run in runs]
    return {
        "languages": languages,
        "runs": {
            "base": runs[0]["folder"],
            "adapters": [r["folder"] for r in runs[1:]],
        },
        "router": LanguageRouter(
            feature_size(**DEFAULT_FEATURES),
            len(languages),
            DEFAULT_FEATURES,
            HIDDEN,
        ).config,
        "scale": None if scale is None else [float(v) for v in scale],
    }


def _language_id(runs, staging, max_utterances, source, codes, router, training):
    """Describe the bank's identifier: a pretrained copy, its own, both or none.

    With ``--language_id`` and ``--router ecapa``, the pretrained model
    routes the languages its codes map and the bank's own identifier,
    trained on the others, shares out the rest (``CombinedLanguageId``).
    """
    languages = [run["corpus"] for run in runs]
    codes = codes or {}
    others = [i for i, language in enumerate(languages) if language not in codes]
    if router == "ecapa" and source is not None:
        if not others:
            raise ValueError(
                "--router ecapa: --language_id maps every language of the bank; "
                "there is none left for its own identifier to learn"
            )
        if len(others) == 1 and (training or {}).get("background") is None:
            raise ValueError(
                f"--router ecapa: only {languages[others[0]]} is left to its own "
                "identifier; give --router_background so it learns what is not"
            )
    described = None
    if source is not None:
        described = _copy_language_id(source, codes, staging)
    if router != "ecapa":
        return described
    if described is not None:  # its codes checked before the training
        identifier_from_description(staging, described, languages)
    training = {**ECAPA_TRAINING, **(training or {})}
    wavs = [_router_waveforms(runs, s, max_utterances)[0] for s in ("train", "valid")]
    own = train_bank_language_id(
        *([split[i] for i in others] for split in wavs),
        [languages[i] for i in others],
        staging,
        training,
        LANGUAGE_ID if described is None else OWN_FOLDER,
    )
    if described is None:
        return own
    return {**described, "own": own}


def _copy_language_id(source, codes, staging):
    """Copy a pretrained language-ID model into the bank; its description.

    The copy (``EncoderClassifier`` fetches a Hub name, or copies a folder)
    makes the bank load offline, wherever it is moved.
    """
    folder = os.path.join(staging, LANGUAGE_ID)
    logger.info("language identifier: copying %s", source)
    EncoderClassifier.from_hparams(
        source=source, savedir=folder, local_strategy=LocalStrategy.COPY
    )
    return {"folder": LANGUAGE_ID, "codes": codes, "source": str(source)}


def _load_weights(bank, runs):
    """Load the base's encoder, each adapter run's LoRA weights, every head."""
    states = {run["corpus"]: run["state"] for run in runs}
    bank.encoder.load_state_dict(
        _bank_encoder_state(bank.encoder.state_dict(), runs[0]["corpus"], states)
    )
    for index, run in enumerate(runs):
        bank.heads[str(index)].load_state_dict(_load(run["export"], "head"))


def _bank_encoder_state(keys, base_language, states):
    """Take each key of the bank encoder's state from the run that trained it.

    peft names a run's only adapter ``default`` and wraps each adapted layer
    in a ``base_layer``; the bank's encoder holds every language's adapter
    under the language's name, and the base run's encoder has no wrapper.
    So a LoRA key ``...lora_A.<language>.weight`` comes from that language's
    run as ``...lora_A.default.weight``, and any other key ``...q_proj.
    base_layer.weight`` from the base run as ``...q_proj.weight``.

    Example
    -------
    >>> states = {"en": {"q.weight": 1}, "de": {"q.lora_A.default.weight": 2}}
    >>> _bank_encoder_state(["q.base_layer.weight", "q.lora_A.de.weight"],
    ...     "en", states)
    {'q.base_layer.weight': 1, 'q.lora_A.de.weight': 2}
    """
    adapters = [language for language in states if language != base_language]
    state = {}
    for key in keys:
        if ".lora_" in key:
            language = next(lang for lang in adapters if f".{lang}." in key)
            source = key.replace(f".{language}.", ".default.")
            state[key] = states[language][source]
        else:
            state[key] = states[base_language][key.replace(".base_layer", "")]
    return state


def _finish(staging, output, bank, description, report, serving):
    """Write the weights, the bank's YAML (naming ``output``) and bank.json.

    ``serving`` is the base run's sample rate and windows.
    """
    save_torch(
        {k: v.detach().cpu() for k, v in bank.state_dict().items()},
        os.path.join(staging, "bank.ckpt"),
    )
    low, high = bank.label_range
    write_text(
        os.path.join(staging, "hyperparams.yaml"),
        BANK_YAML.format(
            folder=output,
            min_language_probability=bank.min_language_probability,
            base=bank.languages[0],
            scale_note=f"{low:g} to {high:g}",
            **serving,
        ),
    )
    description["scale"] = [low, high]
    description["language_dev_accuracy"] = report["accuracy"]
    if "changes" in report:
        description["router_changes"] = report["changes"]
    write_json(os.path.join(staging, DESCRIPTION), description)


def staging_folder(bank_folder):
    """Where a bank's next version is written (a sibling folder).

    Example
    -------
    >>> staging_folder("/data/bank/")
    '/data/bank.building'
    """
    return os.path.abspath(bank_folder).rstrip(os.sep) + ".building"


def recover_bank(bank_folder):
    """Restore the old bank when a switch was killed between its renames.

    ``atomic.replace_folder`` switches a new version in by two renames; a
    kill between them leaves ``<bank>.previous``, which every build and add
    renames back first (``atomic.recover_folder``), with a warning. A kill
    before the first rename leaves the old bank as it was, and a
    ``.building`` folder the next build deletes.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.atomic import previous_folder
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
    restored = recover_folder(bank_folder)
    if restored:
        logger.warning(
            "%s: restored the previous version (a switch was killed)", bank_folder
        )
    return restored


def add_to_bank(bank_folder, adapter_run, language_codes=None, **options):
    """Add a language (one more FT+LoRA run) to a bank.

    The earlier languages' weights are copied; the router gets one more
    detector, trained alone, so the earlier languages' scores are unchanged
    (a route can still change where the new language's score is the highest
    or lowers the top probability under the threshold: the report lists
    every development utterance for which it does).

    With a pretrained language identifier, the bank keeps its copy;
    ``language_codes`` (``{language: [codes]}``) maps the new language.

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
    identifier = description.get("language_id")
    if not identifier or identifier.get("guard") != threshold:  # the user's
        options.setdefault("min_language_probability", threshold)
    options.setdefault("scale", description["scale"])
    router = None
    if "router" in description:  # the cepstral router (a bank's languages)
        router = LanguageRouter(**description["router"])
        state = read_state(os.path.join(bank_folder, "bank.ckpt"))
        router.load_state_dict(
            {
                k[len("router.") :]: v
                for k, v in state.items()
                if k.startswith("router.")
            }
        )
    if identifier:
        options["previous_language_id"] = identifier_from_description(
            bank_folder, identifier, description["languages"]
        )
    if identifier and identifier["source"] == "trained":  # trained again
        if language_codes:
            raise ValueError(
                f"{bank_folder}: --language_code maps a pretrained identifier's "
                "codes; this bank trains its own (--router ecapa)"
            )
        options["router"] = "ecapa"
        options["router_training"] = identifier["training"]
    elif identifier:  # the bank's copy, and its codes with the new language's
        options["language_id"] = os.path.join(bank_folder, identifier["folder"])
        options["language_codes"] = {**identifier["codes"], **(language_codes or {})}
        if "own" in identifier:  # its own for the others, trained again
            options["router"] = "ecapa"
            options["router_training"] = identifier["own"]["training"]
    elif language_codes:
        raise ValueError(
            f"{bank_folder}: --language_code needs a bank built with --language_id"
        )
    runs = description["runs"]
    return build_bank(
        runs["base"],
        [*runs["adapters"], adapter_run],
        bank_folder,
        previous_router=router,
        **options,
    )


def _train_bank_router(
    bank, runs, max_utterances, batch_size, previous_router, previous_language_id
):
    """Train the bank's router on the runs' own training and development sets.

    ``routing_training.train_router`` fits it; here the runs' utterances go
    in and the report comes out. A bank whose identifier knows every
    language trains none; with ``previous_language_id`` its changes are
    listed.

    Returns
    -------
    dict
        ``accuracy``: the development accuracy per language of the bank's
        choice (clean, no guard), and with ``previous_router`` ``changes``:
        each earlier language's development utterance whose route changed.
    """
    bank.eval()
    valid_wavs, valid_names = _router_waveforms(runs, "valid", max_utterances)
    report = {"changes": []} if previous_router is not None else {}
    if not bank.identifier_knows_every_language():
        features = RouterFeatures(bank.encoder, **DEFAULT_FEATURES)
        train_wavs, _ = _router_waveforms(runs, "train", max_utterances)
        router = train_router(
            features, train_wavs, valid_wavs, previous_router, batch_size=batch_size
        )
        bank.router.load_state_dict(router.state_dict())
        if previous_router is not None:
            earlier = [w for wavs in valid_wavs[:-1] for w in wavs]
            report["changes"] = compare_routes(
                previous_router,
                router,
                batch_features(features, earlier, batch_size),
                [n for group in valid_names[:-1] for n in group],
                bank.languages,
                bank.min_language_probability,
            )
    else:
        logger.info(
            "language identifier: knows every language; no cepstral router trained"
        )
        if previous_language_id is not None:
            report["changes"] = route_changes(
                previous_language_id,
                bank.language_id,
                [w for wavs in valid_wavs[:-1] for w in wavs],
                [n for group in valid_names[:-1] for n in group],
                bank.min_language_probability,
            )
    report["accuracy"] = {
        language: _choice_accuracy(bank, wavs, index, batch_size)
        for index, (language, wavs) in enumerate(
            zip(bank.languages, valid_wavs, strict=True)
        )
    }
    return report


def _choice_accuracy(bank, wavs, index, batch_size):
    """Return the share of ``wavs`` whose most probable language is ``index``."""

    def probabilities(batch, lens):
        chosen = bank.language_probabilities(batch, lens)
        return chosen[0] if isinstance(chosen, tuple) else chosen

    with torch.no_grad():
        choices = batch_features(probabilities, wavs, batch_size).argmax(-1)
    return float((choices == index).float().mean())


def _router_waveforms(runs, split, max_utterances):
    """Each run's ``split`` utterances (16 kHz waveforms) and their names."""
    waveforms, names = [], []
    for run in runs:
        manifest = read_manifests(run["manifests"])[split]
        with open(manifest, encoding="utf-8") as f:
            entries = list(json.load(f).items())[:max_utterances]
        waveforms.append([])
        for utt_id, entry in entries:
            path, problem = resolve_wav(entry["wav"], run["data_root"])
            if problem:
                raise ValueError(f"{manifest} [{utt_id}]: {problem}")
            waveforms[-1].append(read_audio(path, 16000))
        names.append([utt_id for utt_id, _ in entries])
    return waveforms, names


def _load(folder, name):
    return read_state(os.path.join(folder, f"{name}.ckpt"))


def _check_adapter(base, adapter):
    """Refuse an adapter whose frozen encoder is not the base's."""
    for key, value in adapter["state"].items():
        if "lora_" in key:
            continue
        base_key = key.replace(".base_layer", "")
        if base_key not in base["state"] or not torch.equal(
            base["state"][base_key], value
        ):
            raise ValueError(
                f"--adapter {adapter['folder']}: its stage 1 is not the base "
                f"{base['folder']}: the frozen encoder differs at {base_key}"
            )


def main(argv=None):
    """Command line: ``build`` and ``add``; returns the exit status.

    Example
    -------
    >>> import tempfile
    >>> main(["build", "--base", tempfile.mkdtemp(), "--output", tempfile.mkdtemp()])
    1
    """
    args = _parser().parse_args(argv)
    # the bank package's progress messages (the router's training takes minutes)
    progress = logging.StreamHandler(sys.stdout)
    progress.setFormatter(logging.Formatter("%(message)s"))
    package = logging.getLogger("speechbrain_lora_ser.bank")
    package.addHandler(progress)
    package.setLevel(logging.INFO)
    options = {"max_utterances": args.max_utterances}
    if args.min_language_probability is not None:
        options["min_language_probability"] = args.min_language_probability
    try:
        if args.language_code:
            options["language_codes"] = parse_codes(args.language_code)
        if args.command == "build":
            if args.scale is not None:
                options["scale"] = args.scale
            if args.language_id is not None:
                options["language_id"] = args.language_id
            options["router"] = args.router
            options["router_training"] = _router_training(args)
            report = build_bank(args.base, args.adapter, args.output, **options)
            folder = args.output
        else:
            report = add_to_bank(args.bank, args.adapter, **options)
            folder = args.bank
    except (ValueError, FileNotFoundError) as error:
        # the bank stays as it was; the half-written new version goes too
        bank = args.output if args.command == "build" else args.bank
        shutil.rmtree(staging_folder(bank), ignore_errors=True)
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        package.removeHandler(progress)
    _print_report(folder, report)
    return 0


def _router_training(args):
    """Return ``--router ecapa``'s training options; refuse them otherwise.

    Example
    -------
    >>> args = _parser().parse_args(["build", "--base", "r", "--output", "b",
    ...     "--router_epochs", "5"])
    >>> _router_training(args)
    Traceback (most recent call last):
    ...
    ValueError: --router_epochs: only with --router ecapa (this build trains ...
    """
    given = {
        "epochs": args.router_epochs,
        "size": args.router_size,
        "background": args.router_background,
    }
    for name, value in given.items():
        if value is not None and args.router != "ecapa":
            raise ValueError(
                f"--router_{name}: only with --router ecapa (this build trains "
                f"the {args.router} router)"
            )
    if given["epochs"] is not None and given["epochs"] < 1:
        raise ValueError(f"--router_epochs {given['epochs']}: at least 1")
    background = given["background"]
    if background is not None and not os.path.isdir(background):
        raise ValueError(f"--router_background {background}: not a folder")
    return {k: v for k, v in given.items() if v is not None}


def _parser():
    parser = argparse.ArgumentParser(prog="ser-bank")
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
    build.add_argument(
        "--language_id",
        default=None,
        metavar="MODEL",
        help="a pretrained language-ID model (EncoderClassifier folder or Hub "
        "name, e.g. speechbrain/lang-id-voxlingua107-ecapa), copied into the "
        "bank; --language_code maps its codes to the bank's languages",
    )
    build.add_argument(
        "--router",
        choices=ROUTERS,
        default="cepstral",
        help="the bank's language identifier: its cepstral router, or its own "
        "ECAPA-TDNN language ID (SpeechBrain's VoxLingua107 architecture) "
        "trained on the runs' utterances through SpeechBrain's augmentation",
    )
    build.add_argument(
        "--router_epochs",
        type=int,
        default=None,
        help=f"--router ecapa's epochs (default: {ECAPA_TRAINING['epochs']})",
    )
    build.add_argument(
        "--router_size",
        choices=sorted(SIZES),
        default=None,
        help="--router ecapa's model size (default: bank; voxlingua107: the "
        "published model's)",
    )
    build.add_argument(
        "--router_background",
        default=None,
        metavar="FOLDER",
        help="--router ecapa: audio files of speech in languages the bank "
        "does not hold; the identifier learns to name them unknown",
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
            f"{DEFAULT_MIN_LANGUAGE_PROBABILITY:g}; with --router ecapa, chosen "
            "on the development speech; on add, the bank's)",
        )
        command.add_argument("--max_utterances", type=int, default=2000)
        command.add_argument(
            "--language_code",
            action="append",
            default=[],
            metavar="LANGUAGE=CODE[,CODE]",
            help="the language-ID model's code(s) for a bank language "
            "(MSP-Podcast=en); repeat per language",
        )
    return parser


def routing_warnings(accuracy, floor=WEAK_ROUTING):
    """Warn of each language its router chooses on too few of its own files.

    Arguments
    ---------
    accuracy : dict
        ``{language: share}`` of each language's development utterances
        whose most probable language is its own.
    floor : float
        Shares below it are warned of.

    Returns
    -------
    list of str

    Example
    -------
    >>> routing_warnings({"en": 1.0, "es": 0.0})[0][:64]
    'warning: the router chooses es on 0.0% of its development uttera'
    """
    return [
        f"warning: the router chooses {language} on {value:.1%} of its "
        "development utterances: most of its speech will be served by another "
        "language's model or named unknown. Train the identifier longer "
        "(--router_epochs) or on more utterances (--max_utterances), and "
        "measure it before serving the bank"
        for language, value in accuracy.items()
        if value < floor
    ]


def _print_report(folder, report):
    print(f"bank written to {folder}")
    for language, value in report["accuracy"].items():
        print(
            f"  language chosen right on {language} development set: {value:.1%} "
            "(clean, most probable language, no guard)"
        )
    for warning in routing_warnings(report["accuracy"]):
        print(warning, file=sys.stderr)
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


if __name__ == "__main__":
    sys.exit(main())
