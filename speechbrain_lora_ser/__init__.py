"""Multilingual speech emotion recognition with SSL encoders and LoRA.

Implements "Bridging Emotions Across Languages: Low Rank Adaptation for
Multilingual Speech Emotion Recognition" (Goncalves et al., Interspeech 2024)
as a SpeechBrain task. (Functions are not re-exported under the names of
their modules, so ``speechbrain_lora_ser.modeling.ccc`` stays the module that
HyperPyYAML locates.)

The names below are imported on first use (PEP 562), so that
``speechbrain_lora_ser.onnx``, the runtime without PyTorch, can be imported
where torch is not installed.
"""

import importlib

#: Public name -> the module that defines it.
_EXPORTS = {
    "ATTRIBUTES": "speechbrain_lora_ser.modeling.labels",
    "CCCLoss": "speechbrain_lora_ser.modeling.ccc",
    "CCCStats": "speechbrain_lora_ser.modeling.ccc",
    "EncoderRegressor": "speechbrain_lora_ser.serving.inference",
    "PAPER_TARGETS": "speechbrain_lora_ser.modeling.lora",
    "add_lora": "speechbrain_lora_ser.modeling.lora",
    "merge_lora": "speechbrain_lora_ser.modeling.lora",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    """Import a public name from its module on first access."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
