#!/usr/bin/env python3
"""Recipe: emotional attributes from speech on BIIC-Podcast (Taiwanese Mandarin).

Arousal, valence and dominance, with MSP-Podcast as the other language.

Five configurations of "Bridging Emotions Across Languages: Low Rank
Adaptation for Multilingual Speech Emotion Recognition" (Interspeech 2024):

> python train.py hparams/off_the_shelf.yaml --data_folder=... --cross_data_folder=...
> python train.py hparams/finetune.yaml ...
> python train.py hparams/lora.yaml ...
> python train.py hparams/ft_dual.yaml ...
> python train.py hparams/ft_lora.yaml ...

--data_folder is BIIC-Podcast (language 2 of the two-stage configurations);
--cross_data_folder is MSP-Podcast (language 1, and the cross-lingual test set).
HuBERT instead of WavLM: --ssl_hub=facebook/hubert-large-ll60k.
The shared hyperparameters and the training loop live in the
speechbrain_lora_ser package (hparams/recipe.yaml, recipe.py, brain.py).

Authors
 * speechbrain-lora-ser contributors 2026
"""

import sys

from speechbrain_lora_ser.recipe import run_recipe

if __name__ == "__main__":
    run_recipe(sys.argv[1:], corpus="BIIC-Podcast")
