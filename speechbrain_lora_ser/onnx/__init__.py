"""Emotion ratings without PyTorch: one ONNX graph and a small runtime.

``python -m speechbrain_lora_ser.onnx export --model DIR --output DIR
[--int8]`` turns an exported model folder into an ONNX model folder (this
step needs the full package: torch, SpeechBrain, peft); ``python -m
speechbrain_lora_ser.onnx predict --model ONNX_DIR FILES... [--output CSV]``
rates files with ``OnnxRegressor``, which needs only numpy, onnxruntime,
soundfile and soxr. Importing this package imports no torch. See
docs/onnx.md.

Authors
 * speechbrain-lora-ser contributors 2026
"""

from speechbrain_lora_ser.onnx.runtime import OnnxRegressor
from speechbrain_lora_ser.serving.decoding import AudioProblem

__all__ = ["AudioProblem", "OnnxRegressor"]
