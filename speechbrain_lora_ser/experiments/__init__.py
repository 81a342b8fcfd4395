"""Paper experiment tooling: the grid of runs, tables, significance, low-resource study.

> python -m speechbrain_lora_ser.experiments grid --msp_folder M --biic_folder B
> python -m speechbrain_lora_ser.experiments tables results/grid
> python -m speechbrain_lora_ser.experiments low_resource --msp_folder M --biic_folder B
"""
