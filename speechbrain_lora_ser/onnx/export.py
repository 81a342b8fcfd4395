"""Export a served model to one ONNX graph (the PyTorch side of the runtime).

``export_onnx(model_dir, output)`` loads an exported model (the
``inference/`` folder of a training run) with ``EncoderRegressor``, folds
its LoRA adapters into the encoder's weights (peft's merge), and exports one
graph from padded waveforms to the three values on the label scale: waveform
normalisation, encoder, attentive pooling and head, for a batch of any size
and any length (``wavs [batch, samples]`` float32, ``lengths [batch]`` int64:
each row's true samples; padding is masked). The output folder holds:

* ``model.onnx`` (or ``model.int8.onnx`` with ``int8=True``);
* ``serving.json``: sample rate, windows, receptive field, label scale,
  calibration, the versions it was made with and the check made on export;
* ``silero_vad.onnx`` and ``silero_vad.LICENSE``: Silero VAD's own ONNX
  model, copied from the ``silero-vad`` package (MIT licence, its notice
  kept beside it), for speech detection without torch.

On export the graph is run by ONNX Runtime on a padded batch and compared
with the PyTorch model; an fp32 graph further than ``FP32_TOLERANCE`` from
it is an error. int8 uses ONNX Runtime's dynamic quantization of the matrix
products, weights per output channel, the head and the feature projection
left in fp32 (see ``quantize`` and ``sensitive_nodes``).

This module imports torch; the runtime (``speechbrain_lora_ser.onnx.runtime``)
never imports it.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import json
import logging
import os
import shutil
import tempfile
import warnings
from importlib import metadata
from importlib.resources import files

import numpy as np
import torch

from speechbrain_lora_ser.atomic import replace_folder
from speechbrain_lora_ser.modeling.lora import has_lora, merge_lora
from speechbrain_lora_ser.onnx.serving import (
    FORMAT,
    LICENSE_FILE,
    SERVING_FILE,
    VAD_FILE,
)

#: ONNX operator set of the exported graph.
OPSET = 18
#: Largest |ONNX fp32 - PyTorch| accepted on export (label scale).
FP32_TOLERANCE = 1e-4
#: Node name prefixes whose matrix products int8 leaves in fp32: the head and
#: the encoder's feature projection (see ``sensitive_nodes``).
SENSITIVE = ("/head/", "/model/feature_projection/")


class ServedGraph(torch.nn.Module):
    """``(wavs, lengths) -> values``: what the ONNX graph computes.

    Arguments
    ---------
    regressor : speechbrain_lora_ser.serving.regressor.EmotionRegressor
        One trained model (LoRA merged).
    """

    def __init__(self, regressor):
        super().__init__()
        self.encoder = regressor.encoder
        self.head = regressor.head
        self.low, self.high = regressor.label_range

    def forward(self, wavs, lengths):
        """Raw values on the label scale, ``[batch, 3]`` (before calibration)."""
        hidden, frame_lens = self.encode(wavs, lengths)
        values = self.head(hidden, frame_lens)
        return values * (self.high - self.low) + self.low

    def encode(self, wavs, lengths):
        """``SSLEncoder.forward`` written for tracing: no Python sizes.

        ``SSLEncoder.prepare_input`` builds its mask with SpeechBrain's
        ``length_to_mask``, which reads the batch size as a Python number
        (tracing would fix it to the example's); the same normalisation
        and mask are computed here from tensors, and the export's check
        compares the graph with ``SSLEncoder`` itself.
        """
        encoder = self.encoder
        positions = torch.arange(wavs.shape[1], device=wavs.device)
        mask = positions[None, :] < lengths[:, None]
        if encoder.normalize_waveform:
            real = mask.to(wavs.dtype)
            count = lengths.clamp_min(1).unsqueeze(1).to(wavs.dtype)
            mean = (wavs * real).sum(1, keepdim=True) / count
            var = (((wavs - mean) * real) ** 2).sum(1, keepdim=True) / count
            wavs = (wavs - mean) / torch.sqrt(var + 1e-7) * real
        else:
            wavs = wavs * mask.to(wavs.dtype)
        hidden = encoder.model(wavs, attention_mask=mask.long()).last_hidden_state
        frames = encoder.model._get_feat_extract_output_lengths(lengths)
        frame_lens = frames.to(hidden.dtype) / hidden.shape[1]
        return hidden, frame_lens.clamp(max=1.0)


def load_regressor(model_dir, savedir):
    """Load an exported model's ``EmotionRegressor`` on the CPU, LoRA merged.

    Raises
    ------
    ValueError
        For an adapter bank (it routes each utterance to a language's
        adapters: no single graph; see docs/onnx.md).
    """
    from speechbrain_lora_ser.serving.inference import EncoderRegressor

    model = EncoderRegressor.from_hparams(
        source=str(model_dir), savedir=str(savedir), run_opts={"device": "cpu"}
    )
    regressor = model.mods.regressor.eval()
    if hasattr(regressor, "router"):
        raise ValueError(
            f"{model_dir}: an adapter bank is not exported to ONNX (it switches "
            "adapters per utterance); serve it with EncoderRegressor, or export "
            "each language's merged model (docs/onnx.md)"
        )
    if has_lora(regressor.encoder):
        merge_lora(regressor.encoder)
    return model, regressor


def example_batch(min_samples, seed=0):
    """Make a padded batch of two noisy tones (the export example and the check).

    Returns
    -------
    wavs : torch.Tensor
        ``[2, 32000]``.
    lengths : torch.Tensor
        ``[2]`` int64 (32000 and 19000 samples).
    """
    generator = torch.Generator().manual_seed(seed)
    time = torch.arange(32000) / 16000
    wavs = torch.stack([torch.sin(2 * torch.pi * f * time) for f in (180.0, 230.0)])
    wavs = 0.3 * wavs + 0.05 * torch.randn(2, 32000, generator=generator)
    lengths = torch.tensor([32000, max(19000, min_samples)])
    wavs[1, lengths[1] :] = 0.0
    return wavs.float(), lengths


def export_graph(graph, path, example):
    """Export ``graph`` to ``path`` with dynamic batch and time axes.

    TorchScript tracing (``dynamo=False``): the dynamo exporter specialised
    the batch axis of WavLM's graph to the example's size (a graph for
    batches of two only); tracing keeps both axes symbolic.
    """
    # The exporter warns of every traced Python value it records as a
    # constant; the check on export compares the graph with PyTorch.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            example,
            path,
            input_names=["wavs", "lengths"],
            output_names=["values"],
            dynamic_axes={
                "wavs": {0: "batch", 1: "samples"},
                "lengths": {0: "batch"},
                "values": {0: "batch"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
    return path


def quantize(fp32, path, exclude=()):
    """int8 by ONNX Runtime's dynamic quantization, weights per output channel.

    Only the matrix products are quantized (the convolutional feature
    extractor in int8 was as slow as fp32 here: ``speechbrain_lora_ser.
    quantization``); per-channel weight scales keep the error of each output
    channel its own. ``exclude`` names nodes left in fp32 (``MatMul`` or
    ``Gemm``: ONNX Runtime rewrites a ``Gemm`` into a ``MatMul`` named
    ``<name>_MatMul`` and an ``Add`` before it reads the exclusions, so both
    names are excluded).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    names = [*exclude, *(f"{name}_MatMul" for name in exclude)]
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        quantize_dynamic(
            fp32,
            path,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=names,
        )
    finally:
        logging.disable(previous)
    return path


def sensitive_nodes(fp32, keep=SENSITIVE):
    """Name the matrix products left in fp32: those under a prefix of ``keep``.

    By default the head's layers (after pooling: their errors are not
    averaged over frames) and the feature projection (its input, the
    convolutional features, spans a wide range, and every later layer
    carries its error). Together they are under 1 % of WavLM-large's
    arithmetic; in int8 they were most of the int8 error
    (``benchmarks/onnx_int8_accuracy.py``).

    Arguments
    ---------
    fp32 : str
        The fp32 graph.
    keep : tuple of str
        Node name prefixes (the exporter names nodes by module path).

    Returns
    -------
    list of str
        ``MatMul`` and ``Gemm`` node names.
    """
    import onnx

    graph = onnx.load(fp32, load_external_data=False).graph
    return [
        node.name
        for node in graph.node
        if node.op_type in ("MatMul", "Gemm") and node.name.startswith(tuple(keep))
    ]


def run_graph(path, wavs, lengths):
    """Run an exported graph with ONNX Runtime on one padded batch."""
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = {"wavs": wavs.numpy(), "lengths": lengths.numpy().astype(np.int64)}
    return session.run(None, feeds)[0]


def serving_info(model, regressor, precision, check):
    """Gather the content of ``serving.json``."""
    import onnxruntime

    from speechbrain_lora_ser.serving.audio import receptive_field

    low, high = regressor.label_range
    calibration = regressor.calibration
    return {
        "format": FORMAT,
        "model": "model.int8.onnx" if precision == "int8" else "model.onnx",
        "precision": precision,
        "sample_rate": int(model.hparams.sample_rate),
        "window_seconds": float(model.hparams.window_seconds),
        "hop_seconds": float(model.hparams.hop_seconds),
        "min_samples": int(receptive_field(regressor.encoder.model.config)),
        "label_low": float(low),
        "label_high": float(high),
        "calibration": None if calibration is None else calibration.to_dict(),
        "vad": VAD_FILE,
        "opset": OPSET,
        "exported_with": {
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "onnx": metadata.version("onnx"),
        },
        "check": check,
    }


def copy_silero(folder):
    """Copy Silero VAD's ONNX model and its MIT licence into ``folder``."""
    try:
        source = files("silero_vad.data").joinpath("silero_vad.onnx")
        licence = metadata.distribution("silero-vad").read_text("licenses/LICENSE")
    except (ImportError, metadata.PackageNotFoundError) as error:
        raise ImportError(
            "the export copies Silero VAD's ONNX model: pip install silero-vad"
        ) from error
    shutil.copyfile(str(source), os.path.join(folder, VAD_FILE))
    notice = (
        "silero_vad.onnx is Silero VAD "
        f"{metadata.version('silero-vad')} (https://github.com/snakers4/silero-vad),"
        " copied unchanged from the silero-vad package under its licence:\n\n"
    )
    with open(os.path.join(folder, LICENSE_FILE), "w") as handle:
        handle.write(notice + (licence or "MIT License (see the project)\n"))


def export_onnx(model_dir, output, int8=False):
    """Export a model folder to an ONNX model folder (see the module's docstring).

    Arguments
    ---------
    model_dir : str
        An exported model (``inference/`` of a training run), not a bank.
    output : str
        The ONNX model folder to write (replaced as a whole at the end; a
        killed export leaves a previous one intact).
    int8 : bool
        Write the int8 graph instead of the fp32 one.

    Returns
    -------
    dict
        The ``serving.json`` written.

    Raises
    ------
    ValueError
        For an adapter bank, or when the fp32 graph differs from PyTorch by
        more than ``FP32_TOLERANCE`` on the check batch.
    """
    output = os.path.abspath(str(output))
    parent = os.path.dirname(output)
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".onnx_export_", dir=parent)
    try:
        info = _export_into(model_dir, work, int8)
        replace_folder(work, output)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return info


def _export_into(model_dir, work, int8):
    model, regressor = load_regressor(model_dir, os.path.join(work, "pretrained"))
    graph = ServedGraph(regressor).eval()
    min_samples = 400
    wavs, lengths = example_batch(min_samples)
    fp32 = export_graph(graph, os.path.join(work, "model.onnx"), (wavs, lengths))
    check_wavs, check_lengths = example_batch(min_samples, seed=1)
    with torch.no_grad():
        expected = graph(check_wavs, check_lengths).numpy()
    difference = float(
        np.abs(run_graph(fp32, check_wavs, check_lengths) - expected).max()
    )
    if not difference <= FP32_TOLERANCE:
        raise ValueError(
            f"{model_dir}: the ONNX graph differs from the PyTorch model by "
            f"{difference:.2g} (tolerance {FP32_TOLERANCE:g}); not exported"
        )
    check = {"fp32_max_difference": difference}
    if int8:
        path = quantize(
            fp32, os.path.join(work, "model.int8.onnx"), sensitive_nodes(fp32)
        )
        quantized = run_graph(path, check_wavs, check_lengths)
        check["int8_max_difference"] = float(np.abs(quantized - expected).max())
        os.remove(fp32)
    shutil.rmtree(os.path.join(work, "pretrained"), ignore_errors=True)
    copy_silero(work)
    info = serving_info(model, regressor, "int8" if int8 else "fp32", check)
    with open(os.path.join(work, SERVING_FILE), "w") as handle:
        json.dump(info, handle, indent=2)
    return info
