r"""Paper experiment tooling: the grid of runs, tables, significance, low resource.

> python -m speechbrain_lora_ser.experiments grid \\
>     --recipe recipes/MSP-Podcast=/data/MSP --recipe recipes/BIIC-Podcast=/data/BIIC
> python -m speechbrain_lora_ser.experiments tables results/grid
> python -m speechbrain_lora_ser.experiments low_resource --recipe ... --recipe ... \\
>     --corpus BIIC-Podcast
"""
