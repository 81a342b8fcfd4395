"""int8 inference on the CPU: the encoder through ONNX Runtime's dynamic quantization.

``quantize_int8(model)`` turns a loaded fp32 ``EncoderRegressor`` into its
int8 variant in place: the encoder (LoRA merged first, if kept separate) is
exported to ONNX, its matrix products (not its convolutions) are quantized
to int8 weights with int8 activations quantized on the fly
(``onnxruntime.quantization.quantize_dynamic``), and the ``SSLEncoder``
module becomes an ``OnnxEncoder`` that runs it with ONNX Runtime. The head (a few
small layers after the pooling, under 1 % of the arithmetic) stays fp32.

Why this path (``benchmarks/int8_paths.py`` measures the three on
WavLM-large as the project builds it; figures and machine in
``benchmarks/LONG_AUDIO_INT8.md``): ``torch.ao.quantization.quantize_dynamic``
warns on every call that it is deprecated and will be removed; torchao needs
the release built for the installed torch (0.14 for torch 2.9), with which
peft refuses to add LoRA adapters, and was the slowest int8 path in eager
mode; ONNX Runtime is maintained, prints no deprecation warning, and was the
fastest (2.2x less CPU time than fp32 on one thread).

Export costs time (WavLM-large: about 1.5 minutes here) and memory once;
with ``cache_dir`` the int8 model is kept there, keyed by a hash of the
encoder's weights, and reused by later loads.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import hashlib
import logging
import os
import shutil
import tempfile
import types

import torch

from speechbrain_lora_ser.atomic import replacing
from speechbrain_lora_ser.modeling.lora import has_lora, merge_lora
from speechbrain_lora_ser.modeling.model import EmotionHead, SSLEncoder

_INSTALL = "pip install onnxruntime onnx onnxscript"


class OnnxEncoder(torch.nn.Module):
    """An exported encoder run by ONNX Runtime, called like ``SSLEncoder``.

    The ONNX graph takes one waveform (any length); a padded batch is run
    row by row on each row's true samples, so a value never depends on the
    other rows or their padding, and the hidden states are padded back to
    ``[batch, frames, hidden_size]`` with their relative lengths.

    Arguments
    ---------
    path : str
        The ONNX model (``wav [1, samples] -> hidden [1, frames, size]``).
    config : transformers.PretrainedConfig
        The encoder's configuration (receptive field, hidden size).
    threads : int, optional
        ONNX Runtime's intra-op threads (default: ``torch.get_num_threads()``).
    """

    def __init__(self, path, config, threads=None):
        super().__init__()
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            path, options, providers=["CPUExecutionProvider"]
        )
        # what serving code reads from an SSLEncoder: .model.config, .hidden_size
        self.model = types.SimpleNamespace(config=config)
        self.freeze = True

    @property
    def hidden_size(self):
        """Width of the hidden states."""
        return self.model.config.hidden_size

    def forward(self, wavs, wav_lens=None):
        """Encode a padded batch, as ``SSLEncoder.forward`` does."""
        if wavs.device.type != "cpu":
            raise RuntimeError(f"the int8 encoder runs on the CPU, not {wavs.device}")
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0])
        samples = torch.round(wav_lens * wavs.shape[1]).long()
        outputs = [
            torch.from_numpy(
                self.session.run(None, {"wav": wav[None, :count].float().numpy()})[0]
            )[0]
            for wav, count in zip(wavs, samples.tolist(), strict=True)
        ]
        longest = max(o.shape[0] for o in outputs)
        hidden = outputs[0].new_zeros(len(outputs), longest, outputs[0].shape[-1])
        for row, output in enumerate(outputs):
            hidden[row, : output.shape[0]] = output
        frames = feature_frames(samples, self.model.config).to(hidden.dtype)
        return hidden, (frames / longest).clamp(max=1.0)


def feature_frames(samples, config):
    """Frames a wav2vec2-style encoder makes of ``samples`` (its convolutions).

    What ``transformers``' ``_get_feat_extract_output_lengths`` computes,
    from the configuration alone (holding no model).

    Example
    -------
    >>> from transformers import WavLMConfig
    >>> feature_frames(torch.tensor([16000, 400]), WavLMConfig())
    tensor([49,  1])
    """
    for kernel, stride in zip(config.conv_kernel, config.conv_stride, strict=True):
        samples = torch.div(samples - kernel, stride, rounding_mode="floor") + 1
    return samples


class _HiddenStates(torch.nn.Module):
    """``wav [1, samples] -> hidden states``: the graph that is exported."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, wav):
        return self.encoder(wav)[0]


def encoder_digest(encoder):
    """SHA-256 of an encoder's weights and configuration (the cache key).

    Example
    -------
    >>> a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    >>> encoder_digest(a) == encoder_digest(a), encoder_digest(a) == encoder_digest(b)
    (True, False)
    """
    digest = hashlib.sha256()
    config = getattr(getattr(encoder, "model", None), "config", None)
    if config is not None:
        digest.update(config.to_json_string().encode())
    for name, tensor in sorted(encoder.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy())
    return digest.hexdigest()


def export_int8(encoder, path):
    """Export an ``SSLEncoder`` to ONNX and quantize it dynamically to int8.

    Arguments
    ---------
    encoder : speechbrain_lora_ser.modeling.model.SSLEncoder
        fp32, on the CPU, LoRA merged.
    path : str
        Where the int8 ONNX model is written.

    Returns
    -------
    str
        ``path``.
    """
    try:
        import onnx  # noqa: F401
        import onnxruntime.quantization  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as error:
        raise ImportError(f"int8 inference needs ONNX Runtime: {_INSTALL}") from error
    folder = tempfile.mkdtemp(prefix="int8_export_", dir=os.path.dirname(path) or None)
    fp32 = os.path.join(folder, "encoder.onnx")
    example = torch.zeros(1, 32000)
    example[0, ::7] = 0.1  # not constant: the normalisation divides by the std
    samples = torch.export.Dim("samples", min=400)
    # The exporter and quantize_dynamic log through ``logging`` on every call
    # (operators of packages that are not installed, "consider pre-processing",
    # tensors left in float): advice for their developers, not for users.
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with replacing(path) as temporary:
            _export_and_quantize(encoder, example, samples, fp32, temporary)
    finally:
        logging.disable(previous)
        shutil.rmtree(folder, ignore_errors=True)
    return path


def _export_and_quantize(encoder, example, samples, fp32, path):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with torch.no_grad():
        torch.onnx.export(
            _HiddenStates(encoder.eval()),
            (example,),
            fp32,
            input_names=["wav"],
            output_names=["hidden"],
            dynamic_shapes={"wav": {1: samples}},
            dynamo=True,
            external_data=True,
            verbose=False,
        )
    # Matrix products only: ONNX Runtime's ConvInteger (the convolutional
    # feature extractor) took as long as the fp32 model on WavLM-large
    # (1.96 s vs 1.91 s CPU time for 6 s), the MatMul-only model 1.00 s.
    quantize_dynamic(
        fp32, path, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"]
    )


def quantize_int8(model, cache_dir=None, threads=None):
    """Turn a loaded fp32 ``EncoderRegressor`` into its int8 CPU variant, in place.

    Arguments
    ---------
    model : speechbrain_lora_ser.EncoderRegressor
        Loaded on the CPU in fp32 (``run_opts={"device": "cpu"}``).
    cache_dir : str, optional
        Keep the int8 encoder here (``encoder-<hash>.int8.onnx``) and reuse
        it when the same weights are quantized again; None: a temporary
        file, removed once loaded.
    threads : int, optional
        ONNX Runtime's threads (default: ``torch.get_num_threads()``).

    Returns
    -------
    EncoderRegressor
        ``model``, whose ``SSLEncoder`` (``mods.ssl``, or the encoder of the
        ``mods`` module that holds it) is now an ``OnnxEncoder``; the fp32
        encoder's weights are released.

    Raises
    ------
    ValueError
        On a GPU (int8 here is for the CPU; use ``precision="bf16"`` on a
        GPU), for an adapter bank, or for a model already quantized.

    Example
    -------
    >>> quantize_int8(types.SimpleNamespace(device="cuda:0"))
    Traceback (most recent call last):
    ...
    ValueError: int8 runs on the CPU only; this model is on cuda:0 (load it \
with run_opts={'device': 'cpu'}, or use precision bf16 on a GPU)
    """
    _check_on_cpu(model)
    for parent, name, encoder in _encoder_slots(model):
        if has_lora(encoder):
            merge_lora(encoder)
        setattr(parent, name, _int8_encoder(encoder, cache_dir, threads))
        # The loaded YAML objects (hparams, pretrainer) still name the fp32
        # encoder: release its weights (WavLM-large: 1.2 GB), keep its structure.
        encoder.to("meta")
    return model


def _check_on_cpu(model):
    """Refuse a model with anything off the CPU."""
    device = str(getattr(model, "device", "cpu"))
    parameters = [
        p for m in getattr(model, "mods", {}).values() for p in m.parameters()
    ]
    if not device.startswith("cpu") or any(p.device.type != "cpu" for p in parameters):
        if device.startswith("cpu"):
            device = next(p.device for p in parameters if p.device.type != "cpu")
        raise ValueError(
            f"int8 runs on the CPU only; this model is on {device} (load it with "
            "run_opts={'device': 'cpu'}, or use precision bf16 on a GPU)"
        )


def _encoder_slots(model):
    """Return ``(parent, name, SSLEncoder)`` of each encoder to quantize.

    Refuses a model already quantized, an adapter bank (it switches adapters
    per utterance: one exported graph cannot) and a model without an
    ``SSLEncoder`` and an ``EmotionHead``.
    """
    slots = [
        (parent, name, child)
        for parent in model.mods.modules()
        for name, child in parent.named_children()
        if isinstance(child, (SSLEncoder, OnnxEncoder))
    ]
    if any(isinstance(child, OnnxEncoder) for _, _, child in slots):
        raise ValueError("this model is already int8")
    if any(hasattr(parent, "router") for parent in model.mods.modules()):
        raise ValueError("int8 is not available for adapter banks")
    if not slots or not any(isinstance(m, EmotionHead) for m in model.mods.modules()):
        raise ValueError(
            "int8 needs a model with an SSLEncoder and an EmotionHead; this one "
            f"has {', '.join(type(m).__name__ for m in model.mods.children())}"
        )
    return slots


def _int8_encoder(encoder, cache_dir, threads):
    """Return the ``OnnxEncoder`` of an fp32 encoder: exported, or cached."""
    temporary = cache_dir is None
    folder = tempfile.mkdtemp(prefix="int8_") if temporary else str(cache_dir)
    os.makedirs(folder, exist_ok=True)
    digest = encoder_digest(encoder)[:16]
    path = os.path.join(folder, f"encoder-{digest}.int8.onnx")
    if not os.path.exists(path):
        export_int8(encoder, path)
    onnx_encoder = OnnxEncoder(path, encoder.model.config, threads)
    if temporary:  # the session holds the model in memory
        os.remove(path)
        os.rmdir(folder)
    return onnx_encoder
