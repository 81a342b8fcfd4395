r"""Export a trained model as a model repository SpeechBrain users can share.

The folder is what ``EncoderRegressor.from_hparams`` loads, from disk or,
once uploaded, from the Hugging Face Hub:

* ``hyperparams.yaml``: the recipe's model file (``hparams/models/
  ser_model.yaml``, the one declaration of the encoder lobe, the LoRA
  configuration, the pooling and the head) with this run's values, between
  a serving header (sample rate, label scale, windows) and SpeechBrain's
  ``pretrainer`` (``paths`` under ``pretrained_path``); the encoder's
  ``transformers`` configuration is written into it, so nothing else is
  needed to build the model;
* ``ssl.ckpt``, ``head.ckpt``: plain tensor state dicts (loaded with
  ``torch.load(weights_only=True)``); LoRA is merged into the encoder by
  default (plain-encoder inference cost), or kept as adapters;
* ``custom_interface.py``: the interface class for SpeechBrain's
  ``foreign_class``;
* ``README.md``: a model card whose usage snippet runs as written.

To publish a run's model under a repository name:

> python -m speechbrain_lora_ser.export.model_folder results/.../inference \
>     --repo_id my-org/ser-wavlm-msp-podcast --output my-model/

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import copy
import io
import os
import re
import shutil
import sys

from ruamel.yaml import YAML

from speechbrain_lora_ser.atomic import save_torch, write_text
from speechbrain_lora_ser.modeling.ccc import ATTRIBUTES
from speechbrain_lora_ser.modeling.lora import has_lora, merge_lora

#: Values of the model file's parameters that serving sets itself: the
#: encoder is built from the configuration written into the YAML (no hub
#: download, no training options).
SERVING_VALUES = {
    "ssl_hub": "!ref <encoder_config>",
    "ssl_from_config": True,
    "ssl_cache": None,
    "gradient_checkpointing": False,
}
#: Keys of the serving part of an exported model (the model may not use them).
SERVING_KEYS = {
    "pretrained_path",
    "sample_rate",
    "label_low",
    "label_high",
    "window_seconds",
    "hop_seconds",
    "label_scaler",
    "regressor",
    "modules",
    "pretrainer",
    "encoder_config",
    "calibration",
}
INCLUDE = "!include:"

HEADER = """\
# ############################################################################
# {title}
#
# What EncoderRegressor.from_hparams loads (a SpeechBrain Pretrained model).
# The model below is {model_file} of the recipe
# that trained it, with the values of that run; the encoder's transformers
# configuration is at the end of this file.
# ############################################################################

# Where the weights are: this folder or the model's repository (from_hparams
# sets it to its `source`).
pretrained_path: {pretrained_path}

sample_rate: {sample_rate}
# Predictions are on this scale (the corpus's annotation scale).
label_low: {label_low}
label_high: {label_high}
# Recordings longer than window_seconds are rated in windows every
# hop_seconds; a file's value is the duration-weighted mean.
window_seconds: {window_seconds}
hop_seconds: {hop_seconds}
{calibration}
# ---- The model ({model_file}) ----
"""

FOOTER = """
# ---- Serving ----
label_scaler: !new:speechbrain_lora_ser.modeling.labels.LabelScaler
    low: !ref <label_low>
    high: !ref <label_high>

regressor: !new:speechbrain_lora_ser.serving.regressor.EmotionRegressor
    encoder: !ref <ssl>
    head: !ref <head>
    label_scaler: !ref <label_scaler>
    calibration: !ref <calibration>

modules:
    regressor: !ref <regressor>

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        ssl: !ref <ssl>
        head: !ref <head>
    paths:
        ssl: !ref <pretrained_path>/ssl.ckpt
        head: !ref <pretrained_path>/head.ckpt

# The encoder's transformers configuration (its config.json)
"""

INTERFACE = '''\
"""The interface of this model, for SpeechBrain's ``foreign_class``.

It needs the ``speechbrain-lora-ser`` package installed.
"""

from speechbrain_lora_ser.serving.inference import EncoderRegressor

__all__ = ["EncoderRegressor"]
'''

CALIBRATION = """
# Calibration, fitted on the development set of {corpus}: each attribute's
# values get the development labels' mean and spread (the map that maximises
# CCC for the model's correlation; a value says where the utterance ranks
# among the development labels). An attribute that is not learned (learned:
# False: development correlation below min_correlation, or not significant
# at alpha) is withheld and named in `not_learned`.
calibration: !new:speechbrain_lora_ser.serving.calibration.Calibration
{body}"""

CARD = """\
---
language: {languages}
tags:
- speechbrain
- speech-emotion-recognition
- arousal
- valence
- dominance
- lora
library_name: speechbrain
---

# {title}

Arousal, valence and dominance of speech on a {label_low:g}-{label_high:g} scale,
predicted by {encoder} with attentive statistics pooling and fully connected
layers, trained with the CCC loss: configuration `{configuration}` of the
speechbrain-lora-ser recipes ("Bridging Emotions Across Languages: Low Rank
Adaptation for Multilingual Speech Emotion Recognition", Goncalves et al.,
Interspeech 2024), trained on {trained_on}.

## Usage

Install the `speechbrain-lora-ser` package that trained it (`pip install -e .`
in its source tree; it brings SpeechBrain, transformers and peft), then:

```python
from speechbrain_lora_ser import EncoderRegressor

model = EncoderRegressor.from_hparams(
    source="{source}", savedir="pretrained_models/{savedir}"
)
print(model.predict_file("speech.wav"))
```

`predict_file` takes any sample rate and channel count; `predict_files`
rates many files in batches; `predict_batch` rates waveforms. With
SpeechBrain's `foreign_class`:

```python
from speechbrain.inference.interfaces import foreign_class

model = foreign_class(
    source="{source}",
    pymodule_file="custom_interface.py",
    classname="EncoderRegressor",
)
```

## What the values mean

Each attribute is put on the model's label scale by a map fitted on the
development set: the predictions get the development labels' mean and
spread, in the model's order. A value says where the utterance ranks among
the development labels. An attribute whose development correlation is too
low to trust is not learned: its value is withheld (`None`) and named in
`not_learned`. Reliability on the development set:

{reliability}

## Results

Concordance correlation coefficient (CCC) on each test set, from this run
(`results.json` of its recipe; raw predictions, the paper's protocol):

| test set | arousal | valence | dominance |
| --- | --- | --- | --- |
{results}
"""


def read_yaml(path):
    r"""Load a HyperPyYAML file as ruamel nodes: tags, order and lines kept.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "m.yaml")
    >>> with open(path, "w") as f:
    ...     _ = f.write("a: 1\nb: !ref <a>\n")
    >>> data = read_yaml(path)
    >>> list(data), data["b"].tag.value, data.lc.key("b")
    (['a', 'b'], '!ref', (1, 0))
    """
    with open(path, encoding="utf-8") as handle:
        return YAML().load(handle) or {}


def model_file_of(hparams_file, key="model"):
    r"""Return the model file a training YAML includes (``!include:<file>``).

    Arguments
    ---------
    hparams_file : str
        The training YAML.
    key : str
        Its key that includes the model.

    Returns
    -------
    str
        Path of the included file.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "train.yaml")
    >>> with open(path, "w") as f:
    ...     _ = f.write("model: !include:models/m.yaml\n    a: 1\n")
    >>> os.path.relpath(model_file_of(path), folder)
    'models/m.yaml'
    """
    tag = _tag(read_yaml(hparams_file).get(key)) or ""
    if not tag.startswith(INCLUDE):
        raise ValueError(f"{hparams_file}: no `{key}: !include:<file>`")
    return os.path.join(os.path.dirname(hparams_file), tag[len(INCLUDE) :])


def model_parameters(model_file):
    r"""Return the parameters of a model file and their declared values.

    A parameter is a top-level key whose value is plain (a number, string,
    boolean, null or a list of those) or ``!PLACEHOLDER`` (declared as
    ``None`` here: the including file gives it); objects (``!new:``,
    ``!ref``...) are built from them.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "m.yaml")
    >>> with open(path, "w") as f:
    ...     _ = f.write("a: !PLACEHOLDER\nb: [1, 2]  # why\nc: !ref <b>\n")
    >>> model_parameters(path)
    {'a': None, 'b': [1, 2]}
    """
    parameters = {}
    for key, node in read_yaml(model_file).items():
        tag = _tag(node)
        if tag == "!PLACEHOLDER":
            parameters[key] = None
        elif tag is None and not isinstance(node, dict):
            parameters[key] = _plain(node)
    return parameters


def top_level_keys(model_file):
    r"""Return every top-level key of a YAML file.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "m.yaml")
    >>> with open(path, "w") as f:
    ...     _ = f.write("a: 1\n# b: 2\nc: !new:x\n    d: 3\n")
    >>> top_level_keys(path)
    ['a', 'c']
    """
    return list(read_yaml(model_file))


def render_model(model_file, values):
    r"""Return the model file's text with its parameters set to ``values``.

    The file is kept as written (comments, layout); each parameter's line
    (``model_parameters``: one line each) is rewritten with its value.

    Arguments
    ---------
    model_file : str
        The model file.
    values : dict
        A value for every parameter (plain YAML values, or a string that
        starts with ``!ref`` for a reference).

    Returns
    -------
    str

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "m.yaml")
    >>> with open(path, "w") as f:
    ...     _ = f.write("size: !PLACEHOLDER\nlayer: !new:torch.nn.Linear\n"
    ...                 "    in_features: !ref <size>\n    out_features: 1\n")
    >>> print(render_model(path, {"size": 4}), end="")
    size: 4
    layer: !new:torch.nn.Linear
        in_features: !ref <size>
        out_features: 1
    """
    data = read_yaml(model_file)
    with open(model_file, encoding="utf-8") as handle:
        lines = handle.readlines()
    for key in model_parameters(model_file):
        if key not in values:
            raise KeyError(f"{model_file}: no value for {key}")
        line, value_line = data.lc.key(key)[0], data.lc.value(key)[0]
        if value_line != line:
            raise ValueError(
                f"{model_file}:{line + 1}: write {key}'s value on its line"
            )
        lines[line] = f"{key}: {_yaml_value(values[key])}\n"
    return "".join(lines)


def export_inference_folder(
    folder,
    model_file,
    model_values,
    serving,
    modules,
    lora_config=None,
    merge_lora_weights=True,
    card=None,
    calibration=None,
):
    """Write the model repository of a trained model.

    Arguments
    ---------
    folder : str
        Destination folder.
    model_file : str
        The recipe's model file (``hparams/models/ser_model.yaml``).
    model_values : dict
        The run's values of the model file's parameters (the included
        dict of the resolved hyperparameters, ``hparams["model"]``).
    serving : dict
        ``sample_rate``, ``label_low``, ``label_high``, ``window_seconds``,
        ``hop_seconds``.
    modules : dict
        ``ssl`` and ``head`` with the trained (best-epoch) weights.
    lora_config : peft.LoraConfig, optional
        The adapters' configuration, used when they are kept separate.
    merge_lora_weights : bool
        Fold LoRA into the encoder weights (plain-encoder inference cost).
    card : dict, optional
        What the model card says: ``title``, ``configuration``, ``encoder``,
        ``trained_on``, ``calibrated_on``, ``languages``, ``results``
        (``{corpus: {attribute: CCC}}``).
    calibration : speechbrain_lora_ser.serving.calibration.Calibration, optional
        The calibration of the served values (fitted on the development set);
        without it, the raw regression outputs are served.

    Returns
    -------
    str
        ``folder``.

    Example
    -------
    >>> import tempfile
    >>> from hyperpyyaml import load_hyperpyyaml
    >>> from speechbrain_lora_ser.synthetic.architectures import save_tiny_encoder
    >>> from speechbrain_lora_ser.demo import recipes_folder
    >>> recipe = os.path.join(recipes_folder(),
    ...     "MSP-Podcast", "hparams", "models", "ser_model.yaml")
    >>> values = {"ssl_hub": save_tiny_encoder(tempfile.mkdtemp()),
    ...     "attention_channels": 8, "head_hidden_size": 8}
    >>> with open(recipe) as f:
    ...     model = load_hyperpyyaml(f, values)
    >>> folder = export_inference_folder(tempfile.mkdtemp(), recipe, model,
    ...     {"sample_rate": 16000, "label_low": 1.0, "label_high": 7.0,
    ...      "window_seconds": 10.0, "hop_seconds": 5.0},
    ...     {"ssl": model["ssl"], "head": model["head"]})
    >>> sorted(os.listdir(folder))
    ['README.md', 'custom_interface.py', 'head.ckpt', 'hyperparams.yaml', 'ssl.ckpt']
    """
    folder = os.path.abspath(folder)
    encoder, head = modules["ssl"], modules["head"]
    weights, adapters = encoder, None
    if has_lora(encoder):
        if merge_lora_weights:
            weights = merge_lora(copy.deepcopy(encoder))
        else:
            adapters = lora_config
    values = exported_values(model_file, model_values, adapters)
    os.makedirs(folder, exist_ok=True)
    save_torch(_cpu_state(weights), os.path.join(folder, "ssl.ckpt"))
    save_torch(_cpu_state(head), os.path.join(folder, "head.ckpt"))
    config = encoder.model.config.to_diff_dict()
    config.pop("transformers_version", None)
    card = dict(card or {})
    text = (
        HEADER.format(
            title=card.get("title", "Speech emotion recognition model"),
            model_file=_recipe_relative(model_file),
            pretrained_path=folder,
            calibration=_calibration_text(calibration, card),
            **{k: _yaml_value(v) for k, v in serving.items()},
        )
        + render_model(model_file, values)
        + FOOTER
        + _yaml_block({"encoder_config": config})
    )
    write_text(os.path.join(folder, "hyperparams.yaml"), text)
    write_text(os.path.join(folder, "custom_interface.py"), INTERFACE)
    card["reliability"] = (
        calibration.markdown()
        if calibration is not None
        else "(no calibration: the raw regression outputs are served)"
    )
    write_model_card(folder, folder, card, serving)
    return folder


def exported_values(model_file, model_values, adapters=None):
    """Return the model file's parameters as the exported model sets them.

    The run's values, except what serving sets itself (``SERVING_VALUES``:
    the encoder is built from the configuration written into the file) and
    ``ssl_adapters`` (the adapters when they are kept separate).

    Example
    -------
    >>> from speechbrain_lora_ser.demo import recipes_folder
    >>> recipe = os.path.join(recipes_folder(),
    ...     "MSP-Podcast", "hparams", "models", "ser_model.yaml")
    >>> values = exported_values(recipe, {**model_parameters(recipe),
    ...     "ssl_hub": "microsoft/wavlm-large", "lora_rank": 8})
    >>> values["ssl_hub"], values["lora_rank"], values["ssl_adapters"]
    ('!ref <encoder_config>', 8, None)
    """
    clash = sorted(set(top_level_keys(model_file)) & SERVING_KEYS)
    if clash:
        raise KeyError(
            f"{model_file} declares {clash}, which the exported model's serving "
            "part declares too: rename them in the model file"
        )
    values = {key: model_values[key] for key in model_parameters(model_file)}
    values.update({k: v for k, v in SERVING_VALUES.items() if k in values})
    if "ssl_adapters" in values:
        values["ssl_adapters"] = None if adapters is None else "!ref <lora_config>"
    elif adapters is not None:
        raise KeyError(f"{model_file}: no ssl_adapters parameter for the adapters")
    return values


def _calibration_text(calibration, card):
    """Return the calibration part of the exported hyperparams.yaml."""
    if calibration is None:
        return "\ncalibration: null  # raw regression outputs are served\n"
    body = _yaml_block(calibration.to_dict())
    return CALIBRATION.format(
        corpus=card.get("calibrated_on", "the model's corpus"),
        body="".join(f"    {line}\n" for line in body.splitlines()),
    )


def write_model_card(folder, source, card, serving):
    """Write the model card ``README.md`` (its snippet loads from ``source``).

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> write_model_card(folder, "org/name", {"results": {"A": {"arousal": 0.5,
    ...     "valence": 0.1, "dominance": 0.4}}}, {"label_low": 1, "label_high": 7})
    >>> "| A | 0.500 | 0.100 | 0.400 |" in open(f"{folder}/README.md").read()
    True
    """
    results = card.get("results") or {}
    rows = "\n".join(
        f"| {corpus} | "
        + " | ".join(f"{values.get(a, float('nan')):.3f}" for a in ATTRIBUTES)
        + " |"
        for corpus, values in results.items()
    )
    text = CARD.format(
        title=card.get("title", "Speech emotion recognition"),
        languages=card.get("languages", "multilingual"),
        encoder=card.get("encoder", "a self-supervised speech encoder"),
        configuration=card.get("configuration", "?"),
        trained_on=card.get("trained_on", "its corpora"),
        label_low=float(serving["label_low"]),
        label_high=float(serving["label_high"]),
        source=source,
        savedir=os.path.basename(str(source).rstrip("/")) or "model",
        results=rows or "| (no test results) | | | |",
        reliability=card.get("reliability", "(not recorded)"),
    )
    write_text(os.path.join(folder, "README.md"), text)


def publish(folder, repo_id, output):
    """Copy an exported model for upload as the repository ``repo_id``.

    The copy's ``pretrained_path`` and model card name the repository, so
    ``from_hparams(source=repo_id)`` and ``foreign_class`` work once it is
    uploaded (e.g. ``huggingface-cli upload repo_id output``).

    Arguments
    ---------
    folder : str
        An exported model (a run's ``inference/`` folder).
    repo_id : str
        ``org/name`` on the Hugging Face Hub.
    output : str
        Where to write the copy.

    Returns
    -------
    str
        ``output``.

    Example
    -------
    >>> import tempfile
    >>> publish(tempfile.mkdtemp(), "org/name", tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    FileNotFoundError: ...hyperparams.yaml: not an exported model
    """
    source = os.path.join(folder, "hyperparams.yaml")
    if not os.path.isfile(source):
        raise FileNotFoundError(f"{source}: not an exported model")
    if os.path.abspath(output) != os.path.abspath(folder):
        shutil.copytree(folder, output, dirs_exist_ok=True)
    path = os.path.join(output, "hyperparams.yaml")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    text = re.sub(
        r"^pretrained_path: .*$", f"pretrained_path: {repo_id}", text, flags=re.M
    )
    write_text(path, text)
    card = os.path.join(output, "README.md")
    with open(card, encoding="utf-8") as handle:
        text = handle.read()
    old = re.search(r'source="([^"]+)"', text)
    if old:
        text = text.replace(f'source="{old.group(1)}"', f'source="{repo_id}"')
        text = text.replace(
            f"pretrained_models/{os.path.basename(old.group(1).rstrip('/'))}",
            f"pretrained_models/{repo_id.split('/')[-1]}",
        )
    write_text(card, text)
    return output


def _recipe_relative(path):
    """``recipes/<Corpus>/hparams/...`` part of a model file's path."""
    parts = os.path.abspath(path).split(os.sep)
    if "recipes" in parts:
        return "/".join(parts[len(parts) - parts[::-1].index("recipes") - 1 :])
    return os.path.basename(path)


def _yaml_value(value):
    """One-line YAML of a plain value (a ``!ref`` string is written as is)."""
    if isinstance(value, str) and value.startswith("!ref "):
        return value
    if isinstance(value, bool):
        return str(value)  # SpeechBrain's YAML style: True / False
    if isinstance(value, tuple):
        value = list(value)
    stream = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = True
    yaml.width = 4096
    yaml.dump(value, stream)
    text = stream.getvalue().strip()
    return text[: -len("...")].strip() if text.endswith("...") else text


def _yaml_block(mapping):
    """Return a mapping as block YAML, keys in their own order.

    The calibration's attributes must stay in the model's output order.
    """
    stream = io.StringIO()
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.indent(mapping=4, sequence=6, offset=4)
    yaml.dump(mapping, stream)
    return stream.getvalue()


def _tag(node):
    """Return a ruamel node's tag (``!ref``, ``!include:...``), or None."""
    tag = getattr(node, "tag", None)
    return getattr(tag, "value", tag)


def _plain(node):
    """Convert a ruamel value to plain Python (lists, numbers, strings...)."""
    if isinstance(node, list):
        return [_plain(value) for value in node]
    if node is None or isinstance(node, bool):
        return node
    for kind in (int, float, str):
        if isinstance(node, kind):
            return kind(node)
    return node


def _cpu_state(module):
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def main(argv=None):
    """Command line: publish an exported model under a repository name."""
    parser = argparse.ArgumentParser(
        prog="python -m speechbrain_lora_ser.export.model_folder",
        description="Prepare an exported model for upload to the Hugging Face Hub.",
    )
    parser.add_argument("folder", help="an exported model (a run's inference/)")
    parser.add_argument("--repo_id", required=True, help="org/name on the Hub")
    parser.add_argument("--output", required=True, help="where to write the copy")
    args = parser.parse_args(argv)
    try:
        publish(args.folder, args.repo_id, args.output)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{args.output}: ready to upload as {args.repo_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
