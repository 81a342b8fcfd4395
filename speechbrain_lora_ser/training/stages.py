"""Training stages: what trains on which corpus, one after the other.

A recipe's YAML declares its ``stages`` (``TrainingStage`` objects): each
trains the encoder one of three ways (``train``) on one corpus, with its own
epoch counter and checkpointer:

* ``head``: the encoder is frozen, only the head trains (Off-the-shelf);
* ``finetune``: encoder and head train (FineTuned, FT(dual), stage 1);
* ``lora``: the encoder is frozen, LoRA adapters and head train.

A recipe's ``train.py`` trains them in order, a Brain per stage; this module
holds what that loop shares and is not a Brain hook: which parameters train
(``configure_encoder``), what determined a stage (``stage_record``, written
to ``save/<stage>/stage_info.json`` by ``finish_stage`` with the best epoch
reloaded for the next stage), and when a stage is not trained again: a
finished stage of this run (``is_finished``) or of another run's stage 1
(``reuse_stage1``), each only when its record matches this run's (corpus,
label scale, data, epochs, learning rates, effective batch, and every
resolved setting but ``NOT_AFFECTING_STAGES``). ``adopt_stage1_settings``
lets a run reuse a stage 1 without retyping its settings.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import json
import os

from ruamel.yaml import YAML
from speechbrain.utils.checkpoints import Checkpointer
from speechbrain.utils.distributed import if_main_process
from speechbrain.utils.logger import get_logger

from speechbrain_lora_ser.atomic import write_json
from speechbrain_lora_ser.data.manifests import manifest_digest
from speechbrain_lora_ser.data.pipeline import world_size_now
from speechbrain_lora_ser.export.model_folder import (
    model_file_of,
    model_parameters,
    read_yaml,
)
from speechbrain_lora_ser.modeling.ccc import ATTRIBUTES
from speechbrain_lora_ser.modeling.lora import add_lora, has_lora
from speechbrain_lora_ser.training.results import predict

logger = get_logger(__name__)

MODES = ("head", "finetune", "lora")
STAGE_INFO = "stage_info.json"
#: The previous stage's test on a stage's corpus, in its checkpoint folder.
BEFORE_ADAPTATION = "before_adaptation.json"


class StageMismatch(ValueError):
    """A stage to reuse was trained differently from what this run needs."""


class TrainingStage:
    """One training stage, as the recipe's YAML declares it.

    Arguments
    ---------
    name : str
        The stage's name (``stage1``); its record ``stage_info.json`` lives
        in ``checkpointer.checkpoints_dir``.
    train : str
        What trains: ``head``, ``finetune`` or ``lora``.
    corpus : str
        The corpus whose train and valid sets the stage uses.
    label_scaler : speechbrain_lora_ser.modeling.labels.LabelScaler
        That corpus's label scale.
    epoch_counter : speechbrain.utils.epoch_loop.EpochCounter
        The stage's epochs.
    checkpointer : speechbrain.utils.checkpoints.Checkpointer
        The stage's own checkpoints (encoder, head, counter, RNG state...).
    learning_rates : dict, optional
        ``{module: lr}``: this stage's learning rates, given to the Brain's
        optimizer builders (``opt_classes``); a module left out keeps its
        builder's own rate.

    Example
    -------
    >>> TrainingStage("stage1", "adapters", "A", None, None, None)
    Traceback (most recent call last):
    ...
    ValueError: stage1: unknown train mode 'adapters'; expected one of ('head', 'finetune', 'lora')
    """  # noqa: E501

    def __init__(
        self,
        name,
        train,
        corpus,
        label_scaler,
        epoch_counter,
        checkpointer,
        learning_rates=None,
    ):
        if train not in MODES:
            raise ValueError(
                f"{name}: unknown train mode {train!r}; expected one of {MODES}"
            )
        self.name = name
        self.train = train
        self.corpus = corpus
        self.label_scaler = label_scaler
        self.epoch_counter = epoch_counter
        self.checkpointer = checkpointer
        self.learning_rates = dict(learning_rates or {})

    def learning_rates_of(self, opt_classes):
        """Return each module's learning rate in this stage.

        Example
        -------
        >>> import functools, torch
        >>> adam = functools.partial(torch.optim.Adam, lr=1e-5)
        >>> stage = TrainingStage("stage2", "lora", "B", None, None, None,
        ...     learning_rates={"head": 1e-3})
        >>> stage.learning_rates_of({"ssl": adam, "head": adam})
        {'ssl': 1e-05, 'head': 0.001}
        """
        return {
            name: self.learning_rates.get(
                name, getattr(opt_class, "keywords", {}).get("lr")
            )
            for name, opt_class in opt_classes.items()
        }

    def __repr__(self):
        return f"TrainingStage({self.name}: {self.train} on {self.corpus})"


def count_trainable(module):
    """Count the trainable parameters of a module.

    Example
    -------
    >>> import torch
    >>> count_trainable(torch.nn.Linear(2, 3))
    9
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def configure_encoder(encoder, train, lora_config=None):
    """Set which encoder parameters train in a stage (in place).

    Arguments
    ---------
    encoder : speechbrain_lora_ser.modeling.model.SSLEncoder
        The encoder.
    train : str
        ``head``, ``finetune`` or ``lora``.
    lora_config : peft.LoraConfig, optional
        The adapters of the ``lora`` mode.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.synthetic.architectures import save_tiny_encoder
    >>> from speechbrain_lora_ser.modeling.model import SSLEncoder
    >>> encoder = SSLEncoder(save_tiny_encoder(tempfile.mkdtemp()))
    >>> configure_encoder(encoder, "head")
    >>> count_trainable(encoder)
    0
    """
    if train not in MODES:
        raise ValueError(f"unknown stage mode {train!r}; expected one of {MODES}")
    if train == "head":
        encoder.freeze_encoder()
    elif train == "lora":
        if not has_lora(encoder):
            add_lora(encoder.model, lora_config)
    elif train == "finetune":
        if has_lora(encoder):
            raise ValueError("fine-tuning an encoder that carries LoRA adapters")
        for name, parameter in encoder.model.named_parameters():
            # The convolutional feature encoder stays frozen (as in the MSP
            # baseline); masked_spec_embed only serves SpecAugment, which is
            # off, and an unused trainable parameter breaks DDP.
            parameter.requires_grad = not (
                name.startswith("feature_extractor.") or name == "masked_spec_embed"
            )


#: Settings of the recipes' YAML that cannot change what a stage learns
#: (outputs, loaders, export, inference), or that each stage records itself
#: (its corpus, label scale, data digest, epochs, learning rates, effective
#: batch, and a lora stage's LoRA configuration): left out of the record.
NOT_AFFECTING_STAGES = (
    "configuration",
    "corpus",
    "data_folder",
    "label_low",
    "label_high",
    "cross_corpus",
    "cross_data_folder",
    "cross_label_low",
    "cross_label_high",
    "skip_prep",
    "skip_invalid",
    "train_subset",
    "subset_seed",
    "min_duration",
    "ssl_name",
    "output_folder",
    "save_folder",
    "manifest_folder",
    "cross_manifest_folder",
    "predictions_folder",
    "inference_folder",
    "results_file",
    "train_log",
    "stage1_folder",
    "stage2_epochs",
    "stage2_lr",
    "stage2_lr_head",
    "test_batch_size",
    "num_workers",
    "pin_memory",
    "ssl_cache",
    "gradient_checkpointing",
    "lora_rank",
    "lora_alpha",
    "lora_dropout",
    "lora_targets",
    "merge_lora_on_export",
    "window_seconds",
    "hop_seconds",
)


def resolved_settings(hparams, not_affecting=NOT_AFFECTING_STAGES):
    """Return the resolved plain settings that can change what a stage learns.

    Every top-level value that is a number, string, boolean, null or a list
    of those (objects are built from such keys), and every such value of the
    included model (``hparams["model"]``: its numbers), except the keys
    listed in ``not_affecting``; paths to existing files or folders are made
    absolute.
    A key a recipe adds is recorded (it may change a stage) until it is
    listed.

    Arguments
    ---------
    hparams : dict
        The loaded hyperparameters.
    not_affecting : tuple of str
        Keys left out (``NOT_AFFECTING_STAGES``).

    Returns
    -------
    dict

    Example
    -------
    >>> resolved_settings({"lr": 0.1, "output_folder": "x", "model": object(),
    ...     "targets": ["q", "k"], "__set_seed": None})
    {'lr': 0.1, 'targets': ['q', 'k']}
    """
    model = hparams.get("model")
    values = {**(model if isinstance(model, dict) else {}), **hparams}
    settings = {}
    for key, value in values.items():
        if key.startswith("_") or key in not_affecting:
            continue
        if _is_plain(value):
            settings[key] = _normalised(value)
    return settings


def stage_record(stage, brain, data, hparams, learning_rates):
    """Record what determines a stage's result (its ``stage_info.json``).

    Arguments
    ---------
    stage : TrainingStage
        The stage.
    brain : speechbrain.Brain
        The stage's Brain (its debug flags and gradient accumulation).
    data : dict
        Its corpus's datasets (``train`` and ``valid`` are recorded by a
        digest of their manifest entries).
    hparams : dict
        The run's hyperparameters: ``modules`` (their parameter names and
        shapes are recorded by a digest), ``train_loader`` (the effective
        batch), ``lora_config`` (a ``lora`` stage's adapters) and every
        setting ``resolved_settings`` keeps.
    learning_rates : dict
        The stage's learning rate per module
        (``TrainingStage.learning_rates_of``).

    Returns
    -------
    dict
    """
    lora, config = None, hparams.get("lora_config")
    if stage.train == "lora" and config is not None:
        lora = {
            "r": config.r,
            "lora_alpha": config.lora_alpha,
            "lora_dropout": config.lora_dropout,
            "target_modules": sorted(config.target_modules),
        }
    debug = brain.debug
    return {
        "train": stage.train,
        "corpus": stage.corpus,
        "label_range": [stage.label_scaler.low, stage.label_scaler.high],
        "architecture": architecture_digest(hparams["modules"]),
        "data": {
            "train_utterances": len(data["train"]),
            "valid_utterances": len(data["valid"]),
            "manifests": manifest_digest(
                {split: data[split].data for split in ("train", "valid")}
            ),
        },
        "epochs": stage.epoch_counter.limit,
        "learning_rates": learning_rates,
        "effective_batch": hparams["train_loader"].effective_batch(
            world_size_now(), brain.grad_accumulation_factor
        ),
        "debug": {
            "debug": debug,
            "debug_batches": brain.debug_batches if debug else None,
            "debug_epochs": brain.debug_epochs if debug else None,
        },
        "lora": lora,
        "settings": resolved_settings(hparams),
    }


def architecture_digest(modules):
    """Digest of the parameter and buffer names and shapes of ``modules``.

    Example
    -------
    >>> import torch
    >>> a = architecture_digest({"x": torch.nn.Linear(2, 3)})
    >>> a == architecture_digest({"x": torch.nn.Linear(2, 4)})
    False
    """
    shapes = [
        (f"{name}.{key}", list(value.shape))
        for name, module in sorted(modules.items())
        for key, value in module.state_dict().items()
    ]
    return manifest_digest({"shapes": shapes})


def record_differences(recorded, current):
    """``(key, there, here)`` for every entry that differs between two records.

    Example
    -------
    >>> record_differences({"settings": {"lr": 1, "seed": 2}},
    ...     {"settings": {"lr": 3, "seed": 2}})
    [('settings.lr', 1, 3)]
    """
    there, here = _flatten(recorded), _flatten(current)
    missing = "(absent)"
    return [
        (key, there.get(key, missing), here.get(key, missing))
        for key in sorted(set(there) | set(here))
        if there.get(key, missing) != here.get(key, missing)
    ]


def check_stages(stages, datasets, stage1_folder=None):
    """Stop before training when the stages cannot run as asked.

    Example
    -------
    >>> stage = TrainingStage("stage1", "finetune", "A", None, None, None)
    >>> check_stages([stage], {"A": {}}, stage1_folder="runs/x")
    Traceback (most recent call last):
    ...
    ValueError: --stage1_folder=runs/x reuses the first of two stages, but this configuration has one stage (stage1: finetune); leave it out
    """  # noqa: E501
    stages = list(stages)
    if stage1_folder and len(stages) < 2:
        raise ValueError(
            f"--stage1_folder={stage1_folder} reuses the first of two stages, "
            f"but this configuration has one stage ({stages[0].name}: "
            f"{stages[0].train}); leave it out"
        )
    for stage in stages:
        if stage.corpus not in datasets:
            raise ValueError(
                f"{stage.name} trains on {stage.corpus}, which was not prepared"
            )


def reuse_stage1(stage, folder, record, brain):
    """Load the best checkpoint of ``stage`` from another run's ``folder``.

    Raises ``StageMismatch`` (the differing keys named) when that run's
    stage was trained differently from ``record``.
    """
    stage_folder = os.path.join(folder, "save", stage.name)
    info = os.path.join(stage_folder, STAGE_INFO)
    if not os.path.isfile(info):
        raise FileNotFoundError(
            f"{info}: no finished {stage.name} in stage1_folder={folder} "
            "(run it to the end first)"
        )
    _check_record(info, record, stage, "the reused")
    modules = brain.modules
    checkpoint = Checkpointer(
        stage_folder, recoverables={"ssl": modules["ssl"], "head": modules["head"]}
    ).recover_if_possible(max_key="ccc")
    if checkpoint is None:
        raise FileNotFoundError(f"{stage_folder}: no checkpoint to reuse")
    modules.to(brain.device)
    logger.info("Reusing %s from %s", stage, checkpoint.path)
    brain.hparams.train_logger.log_stats(
        {"stage": stage.name, "reused_from": str(checkpoint.path)}
    )


def is_finished(stage, record):
    """Whether this run trained ``stage`` to the end already (best epoch loaded).

    A finished stage whose record differs from ``record`` (the settings
    changed since) raises ``StageMismatch``.
    """
    info = os.path.join(stage.checkpointer.checkpoints_dir, STAGE_INFO)
    if not os.path.isfile(info):
        return False
    _check_record(info, record, stage, "this run's")
    logger.info("%s was trained already: loading its best epoch", stage)
    stage.checkpointer.recover_if_possible(max_key="ccc")
    return True


def finish_stage(stage, record):
    """Load the stage's best epoch (the next stage starts from it); record it."""
    stage.checkpointer.recover_if_possible(max_key="ccc")
    if if_main_process():
        info = os.path.join(stage.checkpointer.checkpoints_dir, STAGE_INFO)
        write_json(info, record)


def score_before_adaptation(brain, previous, stage, data, loader_options):
    """Test the model of the previous stage on ``stage``'s corpus, once.

    The cross-lingual baseline: what the model knew of the corpus before it
    adapted to it. Saved as ``before_adaptation.json`` in the stage's own
    checkpoint folder before it trains, so a resumed run neither recomputes
    nor loses it (``before_adaptation`` reads it for ``results.json``).

    Returns
    -------
    dict
        ``{"corpus", "model", "ccc": {attribute: ccc}}``.
    """
    path = os.path.join(stage.checkpointer.checkpoints_dir, BEFORE_ADAPTATION)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    summary, _ = predict(
        brain,
        data["test"],
        f"{stage.corpus} test, before {stage.name}",
        loader_options,
    )
    result = {
        "corpus": stage.corpus,
        "model": f"{previous.name} ({previous.train} on {previous.corpus})",
        "ccc": {key: summary[key] for key in ATTRIBUTES},
    }
    if if_main_process():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_json(path, result)
    return result


def before_adaptation(stages, results):
    """Return the cross-lingual baseline for ``results.json``, and log it.

    Arguments
    ---------
    stages : list of TrainingStage
        The run's stages.
    results : dict
        The final test CCC per corpus (``test_corpora``), logged beside it.

    Returns
    -------
    dict
        What the last stage's corpus scored before it trained on it
        (``{"corpus", "model", "ccc"}``), or ``{"ccc": None, "reason": ...}``
        for a run with one stage.

    Example
    -------
    >>> stage = TrainingStage("stage1", "finetune", "A", None, None, None)
    >>> before_adaptation([stage], {})
    {'ccc': None, 'reason': 'one stage (stage1: finetune on A): no model before adaptation'}
    """  # noqa: E501
    stages = list(stages)
    if len(stages) < 2:
        only = stages[0]
        return {
            "ccc": None,
            "reason": f"one stage ({only.name}: {only.train} on {only.corpus}): "
            "no model before adaptation",
        }
    last = stages[-1]
    path = os.path.join(last.checkpointer.checkpoints_dir, BEFORE_ADAPTATION)
    with open(path, encoding="utf-8") as handle:
        baseline = json.load(handle)
    after = results.get(baseline["corpus"], {})
    logger.info(
        "%s test, cross-lingual baseline (%s): %s; after %s: %s",
        baseline["corpus"],
        baseline["model"],
        _cccs(baseline["ccc"]),
        last.name,
        _cccs(after),
    )
    return baseline


def _cccs(values):
    return ", ".join(f"{k} {values[k]:.3f}" for k in ATTRIBUTES if k in values)


def adopt_stage1_settings(hparams_file, overrides):
    r"""Take the settings of a reused stage 1 that the command line leaves out.

    When ``stage1_folder`` names a finished run (on the command line or in
    the YAML), every setting recorded for its stage 1 that this YAML also
    declares as a plain value (not a ``!ref``) becomes an override, unless
    the command line gives it; a command-line value that differs from the
    recorded one is refused, all such values at once.

    Arguments
    ---------
    hparams_file : str
        The training YAML.
    overrides : str or dict
        The command line's overrides (SpeechBrain's ``parse_arguments``).

    Returns
    -------
    overrides : dict
        With the adopted settings added.
    taken : dict
        The adopted settings whose recorded value differs from the YAML's
        (for the log, once logging is set up).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "x.yaml")
    >>> with open(path, "w") as f:
    ...     _ = f.write("lr: 0.1\nstage1_folder: null\n")
    >>> adopt_stage1_settings(path, {"lr": 0.5})
    ({'lr': 0.5}, {})
    """
    overrides = _as_dict(overrides)
    declared = declared_settings(hparams_file)
    folder = overrides.get("stage1_folder", declared.get("stage1_folder"))
    if not folder:
        return overrides, {}
    info = os.path.join(str(folder), "save", "stage1", STAGE_INFO)
    if not os.path.isfile(info):
        return overrides, {}  # reuse_stage1 says why it cannot be reused
    with open(info, encoding="utf-8") as handle:
        recorded = json.load(handle)["settings"]
    conflicts, taken = [], {}
    for key, value in recorded.items():
        if key not in declared or _tagged(declared[key]):
            continue  # not a plain setting here (the record check reports it)
        if key in overrides:
            if _normalised(overrides[key]) != value:
                conflicts.append((key, value, overrides[key]))
            continue
        if _normalised(_plain(declared[key])) != value:
            taken[key] = value
        overrides[key] = value
    if conflicts:
        details = "\n".join(
            f"  --{key}={mine!r}: stage 1 was trained with {key}={theirs!r}"
            for key, theirs, mine in conflicts
        )
        raise StageMismatch(
            f"{info}: the reused stage 1 was trained with other values of "
            f"settings given on the command line:\n{details}\nDrop them (the "
            "run then takes stage 1's), or train a new stage 1."
        )
    return overrides, taken


def declared_settings(hparams_file, key="model"):
    r"""Return the settings a training YAML declares, its model's included.

    Top-level entries of the YAML (ruamel nodes: a tagged one is not a plain
    setting) and the parameters of the model file it includes under ``key``
    (``model_parameters``): the model's numbers are settings of the run.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(folder, "models"))
    >>> with open(os.path.join(folder, "models", "m.yaml"), "w") as f:
    ...     _ = f.write("width: 8\nsource: !PLACEHOLDER\n")
    >>> with open(os.path.join(folder, "x.yaml"), "w") as f:
    ...     _ = f.write("lr: 0.1\nmodel: !include:models/m.yaml\n    source: a\n")
    >>> sorted(declared_settings(os.path.join(folder, "x.yaml")))
    ['lr', 'model', 'source', 'width']
    """
    declared = read_yaml(hparams_file)
    if key not in declared:
        return dict(declared)
    return {**model_parameters(model_file_of(hparams_file, key)), **declared}


def route_model_overrides(hparams_file, overrides, key="model"):
    r"""Give the model file the overrides of its parameters (``--lora_rank=16``).

    The model's numbers are declared once, in the model file the training
    YAML includes under ``key``; an override of one of them (that the
    training YAML does not declare itself) goes to that include.

    Arguments
    ---------
    hparams_file : str
        The training YAML.
    overrides : str or dict
        The command line's overrides.

    Returns
    -------
    dict

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(folder, "models"))
    >>> with open(os.path.join(folder, "models", "m.yaml"), "w") as f:
    ...     _ = f.write("width: 8\nsource: !PLACEHOLDER\n")
    >>> with open(os.path.join(folder, "x.yaml"), "w") as f:
    ...     _ = f.write("lr: 0.1\nmodel: !include:models/m.yaml\n    source: a\n")
    >>> route_model_overrides(os.path.join(folder, "x.yaml"), {"width": 4, "lr": 1})
    {'lr': 1, 'model': {'width': 4}}
    """
    overrides = _as_dict(overrides)
    declared = read_yaml(hparams_file)
    if key not in declared:
        return overrides
    parameters = model_parameters(model_file_of(hparams_file, key))
    routed = {
        name: overrides.pop(name)
        for name in list(overrides)
        if name in parameters and name not in declared
    }
    if routed:
        overrides[key] = {**dict(overrides.get(key) or {}), **routed}
    return overrides


def _as_dict(overrides):
    """SpeechBrain's overrides (a YAML string or a dict) as a dict."""
    if isinstance(overrides, str):
        overrides = YAML().load(overrides)
    return dict(overrides or {})


def _check_record(info, record, stage, whose):
    with open(info, encoding="utf-8") as handle:
        recorded = json.load(handle)
    differences = record_differences(recorded, json.loads(json.dumps(record)))
    if differences:
        details = "\n".join(
            f"  {key}: there {there!r}, here {here!r}"
            for key, there, here in differences
        )
        raise StageMismatch(
            f"{info}: {whose} {stage.name} was trained differently from this "
            f"run's {stage.name} ({', '.join(k for k, _, _ in differences)}):\n"
            f"{details}\nUse another output folder, or the same settings."
        )


def log_stage_start(brain, stage, effective_batch):
    """Log the stage's trainable parameters and effective batch."""
    modules = brain.modules
    encoder = count_trainable(modules["ssl"])
    head = count_trainable(modules["head"])
    logger.info(
        "%s (%s on %s): trainable parameters: encoder %s%s + head %s = %s; "
        "effective batch: %s",
        stage.name,
        stage.train,
        stage.corpus,
        f"{encoder:,}",
        " (LoRA)" if stage.train == "lora" else "",
        f"{head:,}",
        f"{encoder + head:,}",
        effective_batch,
    )
    # log_stats is main-process-only and broadcasts: every rank calls it
    brain.hparams.train_logger.log_stats(
        {
            "stage": stage.name,
            "mode": stage.train,
            "corpus": stage.corpus,
            "trainable_encoder": encoder,
            "trainable_head": head,
            "trainable_total": encoder + head,
            "effective_batch": effective_batch,
        }
    )


def _tagged(node):
    """Whether a YAML node carries a tag (``!ref``, ``!new:``, ``!apply:``...)."""
    tag = getattr(node, "tag", None)
    return getattr(tag, "value", tag) is not None


def _is_plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) and not isinstance(v, (list, tuple)) for v in value)
    return False


def _plain(node):
    """Convert a ruamel node to plain Python values."""
    if isinstance(node, (list, tuple)):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    for kind in (int, float, str):
        if isinstance(node, kind):
            return kind(node)
    return node


def _normalised(value):
    """JSON's view of a value; existing paths made absolute."""
    if isinstance(value, str) and value and os.path.exists(value):
        return os.path.abspath(value)
    if isinstance(value, (list, tuple)):
        return [_normalised(v) for v in value]
    return json.loads(json.dumps(_plain(value)))


def _flatten(record, prefix=""):
    flat = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat
