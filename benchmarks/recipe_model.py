"""The recipes' model for benchmarks: built from the recipe's YAML, no data.

The benchmarks measure the model the recipes declare (``recipes/MSP-Podcast/
hparams/ft_lora.yaml`` and its model file), for the paper's encoder
architectures rebuilt from their configurations with random weights (nothing
is downloaded) or for any encoder folder.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import os
import tempfile

from hyperpyyaml import load_hyperpyyaml

from speechbrain_lora_ser.export.model_folder import (
    export_inference_folder,
    model_file_of,
)
from speechbrain_lora_ser.synthetic.architectures import LARGE_CONFIGS, large_config
from speechbrain_lora_ser.training.stages import route_model_overrides

RECIPE = os.path.join(os.path.dirname(__file__), os.pardir, "recipes", "MSP-Podcast")
HPARAMS = os.path.join(RECIPE, "hparams", "ft_lora.yaml")


def recipe_hparams(name, folder=None, **overrides):
    """Load the recipe's hyperparameters and model for an encoder, without data.

    ``name``: a paper architecture (built from its configuration with random
    weights) or an encoder folder; ``overrides``: any key of the YAML.
    """
    folder = folder or tempfile.mkdtemp(prefix="benchmark_")
    source, from_config = name, False
    if name in LARGE_CONFIGS:
        source, from_config = os.path.join(folder, "encoder_config"), True
        large_config(name).save_pretrained(source)
    values = {
        "data_folder": os.path.join(folder, "unused"),
        "output_folder": os.path.join(folder, "run"),
        "ssl_hub": source,
        "ssl_from_config": from_config,
        "encoder_layerdrop": 0.0,
        **overrides,
    }
    values = route_model_overrides(HPARAMS, values)  # the model's numbers
    with open(HPARAMS, encoding="utf-8") as handle:
        return load_hyperpyyaml(handle, values)


def export_recipe_model(name, folder):
    """Export the recipe's model (random weights) as an inference folder."""
    hparams = recipe_hparams(name, folder)
    return export_inference_folder(
        os.path.join(folder, "inference"),
        model_file=model_file_of(HPARAMS),
        model_values=hparams["model"],
        serving={
            key: hparams[key]
            for key in (
                "sample_rate",
                "label_low",
                "label_high",
                "window_seconds",
                "hop_seconds",
            )
        },
        modules=hparams["modules"],
    )
