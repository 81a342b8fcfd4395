#!/usr/bin/env python3
r"""Recipe: emotional attributes of Taiwanese Mandarin podcasts (BIIC-Podcast).

The paper's method in its M->B direction: stage 1 fine-tunes the encoder on
MSP-Podcast (English, --cross_data_folder), stage 2 adapts it to BIIC-Podcast
with LoRA; the final model is tested on both corpora.

> python train.py hparams/ft_lora.yaml --data_folder=/data/BIIC-Podcast \
>     --cross_data_folder=/data/MSP-Podcast
> python train.py hparams/ft_lora.yaml ... --ssl_hub=facebook/hubert-large-ll60k

Off-the-shelf, FineTuned, LoRA and FT(dual) are the other hparams files (see
README.md); everything shared with the MSP-Podcast recipe is in the
speechbrain_lora_ser package.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import sys

from speechbrain_lora_ser.recipe import run_recipe

if __name__ == "__main__":
    run_recipe(sys.argv[1:], corpus="BIIC-Podcast")
