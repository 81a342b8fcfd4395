"""Multilingual speech emotion recognition with SSL encoders and LoRA.

Implements "Bridging Emotions Across Languages: Low Rank Adaptation for
Multilingual Speech Emotion Recognition" (Goncalves et al., Interspeech 2024)
as a SpeechBrain task. (Functions are not re-exported under the names of
their modules, so ``speechbrain_lora_ser.ccc`` stays the module that
HyperPyYAML locates.)
"""

from speechbrain_lora_ser.ccc import ATTRIBUTES, CCCLoss, CCCStats
from speechbrain_lora_ser.inference import EncoderRegressor
from speechbrain_lora_ser.lora import PAPER_TARGETS, add_lora, merge_lora

__all__ = [
    "ATTRIBUTES",
    "CCCLoss",
    "CCCStats",
    "EncoderRegressor",
    "PAPER_TARGETS",
    "add_lora",
    "merge_lora",
]
