#!/usr/bin/env python3
r"""Recipe: arousal, valence and dominance of English podcast speech (MSP-Podcast).

BIIC-Podcast (Taiwanese Mandarin) is the other language: FT(dual) and FT+LoRA
train their stage 1 on it, and every configuration is tested on it too, so
hparams/ft_lora.yaml here is the paper's B->M direction.

> python train.py hparams/ft_lora.yaml --data_folder=/data/MSP-Podcast \
>     --cross_data_folder=/data/BIIC-Podcast

README.md beside this file lists every configuration and option. The stages,
the Brain and the hyperparameters shared by both recipes live in the
speechbrain_lora_ser package (recipe.py, brain.py, hparams/recipe.yaml).

Authors
 * speechbrain-lora-ser contributors 2026
"""

import sys

from speechbrain_lora_ser.recipe import run_recipe

if __name__ == "__main__":
    run_recipe(sys.argv[1:], corpus="MSP-Podcast")
