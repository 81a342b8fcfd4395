"""Export a trained model as a self-contained inference folder.

The folder holds ``hyperparams.yaml`` (an inference YAML with a
``pretrainer``), ``encoder/`` (the encoder's configuration, no weights),
``ssl.ckpt`` and ``head.ckpt`` (plain tensor state dicts, loaded with
``torch.load(weights_only=True)``). By default LoRA is merged into the
encoder, so inference costs what the plain encoder costs.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import copy
import os

import torch
from transformers import Wav2Vec2FeatureExtractor

from speechbrain_lora_ser.lora import has_lora, merge_lora

INFERENCE_YAML = """\
# Inference hyperparameters for speechbrain_lora_ser.EncoderRegressor
# (written by the training recipe). Load with
#   EncoderRegressor.from_hparams(source="<this folder>", savedir=...)
# which sets <model_folder>; everything loads from this folder alone.

model_folder: !PLACEHOLDER
sample_rate: {sample_rate}
label_low: {label_low}
label_high: {label_high}
# Recordings longer than window_seconds are predicted in windows of that
# length every hop_seconds; the per-window values are averaged.
window_seconds: {window_seconds}
hop_seconds: {hop_seconds}

ssl: !new:speechbrain_lora_ser.model.SSLEncoder
    source: !ref <model_folder>/encoder
    from_config: True
    normalize_waveform: {normalize_waveform}
    lora: {lora}

head: !new:speechbrain_lora_ser.model.EmotionHead
    input_size: {input_size}
    attention_channels: {attention_channels}
    hidden_size: {head_hidden_size}
    dropout: {head_dropout}
    n_outputs: {n_attributes}

label_scaler: !new:speechbrain_lora_ser.data.LabelScaler
    low: !ref <label_low>
    high: !ref <label_high>

modules:
    ssl: !ref <ssl>
    head: !ref <head>

pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer
    loadables:
        ssl: !ref <ssl>
        head: !ref <head>
    paths:
        ssl: !ref <model_folder>/ssl.ckpt
        head: !ref <model_folder>/head.ckpt
"""


def export_inference_folder(
    hparams, folder, merge=None, window_seconds=10.0, hop_seconds=5.0
):
    """Write the inference folder of the model currently in ``hparams``.

    Arguments
    ---------
    hparams : dict
        The recipe's loaded hyperparameters (``modules`` hold the trained,
        best-checkpoint weights).
    folder : str
        Destination folder.
    merge : bool, optional
        Merge LoRA into the encoder; defaults to ``merge_lora_on_export``.
    window_seconds, hop_seconds : float
        Windowing of long recordings at inference.

    Returns
    -------
    str
        ``folder``.
    """
    merge = hparams.get("merge_lora_on_export", True) if merge is None else merge
    encoder = hparams["modules"]["ssl"]
    head = hparams["modules"]["head"]
    os.makedirs(os.path.join(folder, "encoder"), exist_ok=True)
    lora = None
    weights = encoder
    if has_lora(encoder):
        if merge:
            weights = merge_lora(copy.deepcopy(encoder))
        else:
            options = dict(hparams["lora_options"])
            options["target_modules"] = list(options["target_modules"])
            lora = options
    encoder.model.config.save_pretrained(os.path.join(folder, "encoder"))
    Wav2Vec2FeatureExtractor(
        sampling_rate=hparams["sample_rate"],
        do_normalize=hparams["normalize_waveform"],
        return_attention_mask=True,
    ).save_pretrained(os.path.join(folder, "encoder"))
    torch.save(_cpu_state(weights), os.path.join(folder, "ssl.ckpt"))
    torch.save(_cpu_state(head), os.path.join(folder, "head.ckpt"))
    text = INFERENCE_YAML.format(
        sample_rate=hparams["sample_rate"],
        label_low=hparams["label_low"],
        label_high=hparams["label_high"],
        window_seconds=window_seconds,
        hop_seconds=hop_seconds,
        normalize_waveform=hparams["normalize_waveform"],
        lora="null" if lora is None else _flow(lora),
        input_size=hparams["encoder_dim"],
        attention_channels=hparams["attention_channels"],
        head_hidden_size=hparams["head_hidden_size"],
        head_dropout=hparams["head_dropout"],
        n_attributes=hparams["n_attributes"],
    )
    with open(os.path.join(folder, "hyperparams.yaml"), "w", encoding="utf-8") as f:
        f.write(text)
    return folder


def _cpu_state(module):
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def _flow(options):
    items = []
    for key, value in options.items():
        if isinstance(value, list | tuple):
            value = "[" + ", ".join(str(v) for v in value) + "]"
        items.append(f"{key}: {value}")
    return "{" + ", ".join(items) + "}"
