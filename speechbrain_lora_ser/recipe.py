"""The recipe both corpora share: prepare, train stage by stage, test, export.

A recipe's ``train.py`` calls ``run_recipe(sys.argv[1:], corpus=...)``; read
this module top-down from ``run_recipe``. Hyperparameters come from the
package's ``hparams/recipe.yaml``, overridden by the recipe's configuration
file (``hparams/ft_lora.yaml``...) and then by the command line.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import io
import json
import logging
import os

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml
from ruamel.yaml import YAML
from speechbrain.utils.checkpoints import Checkpointer
from speechbrain.utils.distributed import if_main_process, run_on_main

from speechbrain_lora_ser.brain import EmotionBrain, configure_stage
from speechbrain_lora_ser.checkpoints import AtomicCheckpointer, RNGState
from speechbrain_lora_ser.data import LAYOUTS, manifest_paths, prepare_corpus
from speechbrain_lora_ser.export import export_inference_folder
from speechbrain_lora_ser.pipeline import (
    eval_loader_options,
    make_datasets,
    train_loader_options,
)

logger = logging.getLogger(__name__)

BASE_HPARAMS = os.path.join(os.path.dirname(__file__), "hparams", "recipe.yaml")
CORPORA = tuple(LAYOUTS)


def run_recipe(argv, corpus):
    """Run a recipe end to end, as ``python train.py hparams/X.yaml ...``.

    Arguments
    ---------
    argv : list of str
        Command-line arguments (configuration file first).
    corpus : str
        The recipe's corpus (``MSP-Podcast`` or ``BIIC-Podcast``); the other
        one is the cross corpus.

    Returns
    -------
    dict
        Test-set CCC per corpus, as written to ``results.json``.
    """
    config_file, run_opts, cli_overrides = sb.parse_arguments(argv)
    sb.utils.distributed.ddp_init_group(run_opts)
    overrides = compose_overrides(config_file, cli_overrides, corpus)
    with open(BASE_HPARAMS, encoding="utf-8") as handle:
        hparams = load_hyperpyyaml(handle, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=BASE_HPARAMS,
        overrides=overrides,
    )
    manifests = prepare_manifests(hparams)
    datasets = {
        name: make_datasets(paths, hparams["label_scaler"], hparams["sample_rate"])
        for name, paths in manifests.items()
    }
    brain = run_stages(hparams, run_opts, datasets)
    results = evaluate_test_sets(brain, hparams, datasets)
    if if_main_process():
        export_inference_folder(hparams, hparams["inference_folder"])
        write_results(hparams, results)
    return results


def compose_overrides(config_file, cli_overrides, corpus):
    """Merge the recipe's corpus, its configuration file and the command line.

    Arguments
    ---------
    config_file : str
        A configuration YAML (``hparams/ft_lora.yaml``): keys of
        ``recipe.yaml`` to override, such as ``stage_plan``.
    cli_overrides : str
        Overrides from the command line (YAML text).
    corpus : str
        The recipe's corpus.

    Returns
    -------
    str
        YAML text of the merged overrides (later sources win).

    Example
    -------
    >>> import tempfile
    >>> config = os.path.join(tempfile.mkdtemp(), "ft_lora.yaml")
    >>> with open(config, "w") as f:
    ...     _ = f.write("stage_plan: [finetune, lora]")
    >>> print(compose_overrides(config, "lr: 0.001", "BIIC-Podcast"))
    corpus: BIIC-Podcast
    cross_corpus: MSP-Podcast
    stage_plan: [finetune, lora]
    lr: 0.001
    <BLANKLINE>
    """
    if corpus not in LAYOUTS:
        raise ValueError(f"unknown corpus {corpus!r}; expected one of {CORPORA}")
    yaml = YAML()
    merged = {
        "corpus": corpus,
        "cross_corpus": next(name for name in CORPORA if name != corpus),
    }
    with open(config_file, encoding="utf-8") as handle:
        merged.update(yaml.load(handle) or {})
    if cli_overrides:
        merged.update(yaml.load(cli_overrides) or {})
    stream = io.StringIO()
    yaml.dump(merged, stream)
    return stream.getvalue()


def prepare_manifests(hparams):
    """Prepare both corpora once (main process); returns manifest paths.

    The recipe's corpus gets the ``train_subset`` (low-resource study); the
    cross corpus is always prepared in full.
    """
    manifests = {}
    for name, folder_key, subset in (
        (hparams["corpus"], "data_folder", hparams["train_subset"]),
        (hparams["cross_corpus"], "cross_data_folder", None),
    ):
        kwargs = {
            "data_folder": hparams[folder_key],
            "save_folder": os.path.join(hparams["manifest_folder"], name),
            "layout": name,
            "train_subset": subset,
            "subset_seed": hparams["subset_seed"],
            "skip_invalid": hparams["skip_invalid"],
            "min_duration": hparams["min_duration"],
        }
        if not hparams["skip_prep"]:
            run_on_main(prepare_corpus, kwargs=kwargs)
        manifests[name] = manifest_paths(kwargs["save_folder"])
    return manifests


def plan_stages(hparams):
    """Return ``[(stage_name, mode, corpus)]`` for ``stage_plan``.

    The last stage trains on the recipe's corpus, an earlier one on the cross
    corpus.

    Example
    -------
    >>> plan_stages({"stage_plan": ["finetune", "lora"], "corpus": "BIIC-Podcast",
    ...     "cross_corpus": "MSP-Podcast"})
    [('stage1', 'finetune', 'MSP-Podcast'), ('stage2', 'lora', 'BIIC-Podcast')]
    """
    plan = list(hparams["stage_plan"])
    if not 1 <= len(plan) <= 2:
        raise ValueError(f"stage_plan must have one or two stages, got {plan}")
    stages = []
    for index, mode in enumerate(plan):
        last = index == len(plan) - 1
        corpus = hparams["corpus"] if last else hparams["cross_corpus"]
        stages.append((f"stage{index + 1}", mode, corpus))
    return stages


def run_stages(hparams, run_opts, datasets):
    """Train every stage in turn (or reuse a finished stage 1).

    Each stage has its own checkpoint folder (``save/stage1``...), so an
    interrupted run resumes inside the stage it was in, and a finished stage
    is not trained again. The best development-CCC checkpoint of a stage is
    the starting point of the next one.

    Returns
    -------
    EmotionBrain
        The brain of the last stage (its best checkpoint loaded).
    """
    modules = hparams["modules"]
    brain = None
    for stage_name, mode, corpus in plan_stages(hparams):
        checkpointer = make_stage_checkpointer(hparams, stage_name, mode)
        reused = (
            stage_name == "stage1"
            and hparams["stage1_folder"]
            and len(hparams["stage_plan"]) > 1
        )
        if reused:
            load_finished_stage1(hparams, modules, corpus)
            continue
        configure_stage(modules["ssl"], mode, hparams["lora_options"])
        brain = EmotionBrain(
            modules=modules,
            hparams=hparams,
            run_opts=run_opts,
            checkpointer=checkpointer,
        )
        brain.stage_name, brain.stage_mode = stage_name, mode
        brain.log_trainable_parameters()
        train_set, train_options = train_loader_options(
            datasets[corpus]["train"], hparams
        )
        brain.fit(
            checkpointer.recoverables["counter"],
            train_set=train_set,
            valid_set=datasets[corpus]["valid"],
            train_loader_kwargs=train_options,
            valid_loader_kwargs=eval_loader_options(
                hparams["batch_size"], hparams["num_workers"]
            ),
        )
        checkpointer.recover_if_possible(max_key="ccc")
        write_stage_info(checkpointer, hparams, mode, corpus)
    return brain


def make_stage_checkpointer(hparams, stage_name, mode):
    """Checkpointer of one stage: encoder, head, epoch counter, RNG state.

    Checkpoints are written atomically; the optimizers, the training loader's
    position and the Brain's step are added by ``Brain.fit``, so a run killed
    at any moment resumes exactly (``--ckpt_interval_steps`` or
    ``--ckpt_interval_minutes`` add checkpoints inside an epoch).
    """
    return AtomicCheckpointer(
        os.path.join(hparams["save_folder"], stage_name),
        recoverables={
            "ssl": hparams["modules"]["ssl"],
            "head": hparams["modules"]["head"],
            "counter": hparams["epoch_counter"](),
            "rng": RNGState(),
        },
    )


def write_stage_info(checkpointer, hparams, mode, corpus):
    """Record what a stage trained, so a later run can check before reusing it."""
    if not if_main_process():
        return
    info = {"mode": mode, "corpus": corpus, "ssl_hub": hparams["ssl_hub"]}
    with open(os.path.join(checkpointer.checkpoints_dir, "stage_info.json"), "w") as f:
        json.dump(info, f, indent=2)


def load_finished_stage1(hparams, modules, corpus):
    """Load the best stage-1 checkpoint of an earlier run (``stage1_folder``)."""
    folder = os.path.join(hparams["stage1_folder"], "save", "stage1")
    info_file = os.path.join(folder, "stage_info.json")
    if not os.path.isfile(info_file):
        raise FileNotFoundError(
            f"{info_file}: no finished stage 1 in stage1_folder="
            f"{hparams['stage1_folder']} (run it to the end first)"
        )
    with open(info_file, encoding="utf-8") as handle:
        info = json.load(handle)
    expected = {"mode": "finetune", "corpus": corpus, "ssl_hub": hparams["ssl_hub"]}
    if info != expected:
        raise ValueError(
            f"{info_file}: stage 1 there is {info}, but this run needs {expected}"
        )
    checkpointer = Checkpointer(
        folder, recoverables={"ssl": modules["ssl"], "head": modules["head"]}
    )
    checkpoint = checkpointer.recover_if_possible(max_key="ccc")
    if checkpoint is None:
        raise FileNotFoundError(f"{folder}: no checkpoint to reuse")
    logger.info("Reusing stage 1 from %s", checkpoint.path)


def evaluate_test_sets(brain, hparams, datasets):
    """Test the final model on every corpus and write its predictions.

    Returns
    -------
    dict
        ``{corpus: {"arousal": ccc, "valence": ccc, "dominance": ccc}}``.
    """
    results = {}
    os.makedirs(hparams["predictions_folder"], exist_ok=True)
    for name in (hparams["corpus"], hparams["cross_corpus"]):
        summary, predictions = brain.predict_test_set(
            datasets[name]["test"],
            name,
            eval_loader_options(hparams["test_batch_size"], hparams["num_workers"]),
        )
        results[name] = {
            key: summary[key] for key in ("arousal", "valence", "dominance")
        }
        if if_main_process():
            predictions.write_predictions(
                os.path.join(hparams["predictions_folder"], f"{name}_test.csv"),
                to_original_scale=hparams["label_scaler"].unscale,
            )
    return results


def write_results(hparams, results):
    """Write ``run_info.json`` and, last, ``results.json`` (the run is done)."""
    run_info = {
        key: hparams[key]
        for key in (
            "corpus",
            "cross_corpus",
            "configuration",
            "ssl_hub",
            "seed",
            "train_subset",
        )
    }
    run_info["stage_plan"] = list(hparams["stage_plan"])
    with open(
        os.path.join(hparams["output_folder"], "run_info.json"), "w", encoding="utf-8"
    ) as handle:
        json.dump(run_info, handle, indent=2)
    temporary = hparams["results_file"] + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2)
    os.replace(temporary, hparams["results_file"])
