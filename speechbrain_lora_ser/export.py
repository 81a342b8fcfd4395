"""Export a trained model as a self-contained inference folder.

The folder holds ``hyperparams.yaml`` (the recipe's own
``hparams/inference.yaml``, with this run's values), ``encoder/`` (the
encoder's configuration, no weights), ``ssl.ckpt`` and ``head.ckpt`` (plain
tensor state dicts, loaded with ``torch.load(weights_only=True)``). By
default LoRA is merged into the encoder, so inference costs what the plain
encoder costs; kept separate, the adapters' ``peft.LoraConfig`` goes into
the YAML.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import copy
import io
import os

import torch
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.tag import Tag
from transformers import Wav2Vec2FeatureExtractor

from speechbrain_lora_ser.lora import has_lora, merge_lora


def export_inference_folder(
    folder, template, modules, values, lora_config=None, merge_lora_weights=True
):
    """Write the inference folder of a trained model.

    Arguments
    ---------
    folder : str
        Destination folder.
    template : str
        The recipe's inference YAML (``hparams/inference.yaml``).
    modules : dict
        ``ssl`` and ``head`` with the trained (best-epoch) weights.
    values : dict
        This run's values of top-level keys of ``template`` (sample rate,
        label range, head sizes...); each must be declared there.
    lora_config : peft.LoraConfig, optional
        The adapters' configuration, written when they are kept separate.
    merge_lora_weights : bool
        Fold LoRA into the encoder weights (plain-encoder inference cost).

    Returns
    -------
    str
        ``folder``.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.architectures import save_tiny_encoder
    >>> from speechbrain_lora_ser.model import SSLEncoder, emotion_head
    >>> template = os.path.join(os.path.dirname(__file__), os.pardir, "recipes",
    ...     "BIIC-Podcast", "hparams", "inference.yaml")
    >>> ssl = SSLEncoder(save_tiny_encoder(tempfile.mkdtemp()))
    >>> modules = {"ssl": ssl, "head": emotion_head(ssl.hidden_size, 8, 8)}
    >>> folder = export_inference_folder(tempfile.mkdtemp(), template, modules,
    ...     {"attention_channels": 8, "head_hidden_size": 8})
    >>> sorted(os.listdir(folder))
    ['encoder', 'head.ckpt', 'hyperparams.yaml', 'ssl.ckpt']
    """
    encoder, head = modules["ssl"], modules["head"]
    weights, adapters = encoder, None
    if has_lora(encoder):
        if merge_lora_weights:
            weights = merge_lora(copy.deepcopy(encoder))
        else:
            adapters = lora_config
    yaml = YAML()
    # keep the template's layout: HyperPyYAML re-reads the file with
    # ruamel.yaml, which mangles tagged block sequences written at column 0
    yaml.indent(mapping=4, sequence=6, offset=4)
    with open(template, encoding="utf-8") as handle:
        document = yaml.load(handle)
    undeclared = sorted(set(values) - set(document))
    if undeclared:
        raise KeyError(f"{template} does not declare {undeclared}")
    for key, value in values.items():
        document[key] = list(value) if isinstance(value, tuple) else value
    if adapters is not None:
        if "lora_config" not in document:
            raise KeyError(f"{template} does not declare lora_config")
        document["lora_config"] = _lora_node(adapters)
    os.makedirs(os.path.join(folder, "encoder"), exist_ok=True)
    encoder.model.config.save_pretrained(os.path.join(folder, "encoder"))
    Wav2Vec2FeatureExtractor(
        sampling_rate=values.get("sample_rate", 16000),
        do_normalize=encoder.normalize_waveform,
        return_attention_mask=True,
    ).save_pretrained(os.path.join(folder, "encoder"))
    _save_atomically(_cpu_state(weights), os.path.join(folder, "ssl.ckpt"))
    _save_atomically(_cpu_state(head), os.path.join(folder, "head.ckpt"))
    stream = io.StringIO()
    yaml.dump(document, stream)
    path = os.path.join(folder, "hyperparams.yaml")
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        handle.write(stream.getvalue())
    os.replace(path + ".tmp", path)
    return folder


def _lora_node(config):
    """Return a ``!new:peft.LoraConfig`` YAML node of ``config``."""
    node = CommentedMap(
        r=config.r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=sorted(config.target_modules),
        bias=config.bias,
    )
    node.yaml_set_ctag(Tag(suffix="!new:peft.LoraConfig"))
    return node


def _cpu_state(module):
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def _save_atomically(state, path):
    torch.save(state, path + ".tmp")
    os.replace(path + ".tmp", path)
