"""Multilingual speech emotion recognition with SSL encoders and LoRA.

Implements "Bridging Emotions Across Languages: Low Rank Adaptation for
Multilingual Speech Emotion Recognition" (Goncalves et al., Interspeech 2024)
as a SpeechBrain task.
"""

from speechbrain_lora_ser.ccc import ATTRIBUTES, CCCLoss, CCCStats, ccc
from speechbrain_lora_ser.lora import PAPER_TARGETS, add_lora, merge_lora

__all__ = [
    "ATTRIBUTES",
    "CCCLoss",
    "CCCStats",
    "PAPER_TARGETS",
    "add_lora",
    "ccc",
    "merge_lora",
]
