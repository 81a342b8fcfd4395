"""Shared fixtures: tiny real encoders and small corpora in the real layouts."""

import os
import subprocess
import sys
import warnings

import pytest
import torch

from speechbrain_lora_ser.demo import recipe_layouts
from speechbrain_lora_ser.modeling.model import (
    EmotionHead,
    MaskedAttentiveStatisticsPooling,
)
from speechbrain_lora_ser.synthetic.architectures import save_tiny_encoder
from speechbrain_lora_ser.synthetic.demo_corpus import write_demo_corpus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

if "PYTEST_XDIST_WORKER_COUNT" in os.environ:  # pytest -n: workers share cores
    torch.set_num_threads(
        max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Drop SpeechBrain's lazy modules that cannot be imported (e.g. k2's).

    SpeechBrain registers optional integrations (``speechbrain.integrations.
    k2_fsa``, ...) in ``sys.modules`` as lazy modules that import on first
    attribute access, and raise ImportError when the library (k2) is not
    installed. Hypothesis's pytest plugin reads ``__file__`` of every module
    in ``sys.modules`` at collection, so such a module stops the session
    with an INTERNALERROR. Nothing can use a module whose import fails, so
    removing it changes nothing else; this runs before Hypothesis's hook.
    """
    importutils = sys.modules.get("speechbrain.utils.importutils")
    if importutils is None:
        return
    for name, module in list(sys.modules.items()):
        if isinstance(module, importutils.LazyModule):
            try:
                with warnings.catch_warnings():  # deprecated names redirect
                    warnings.simplefilter("ignore")
                    getattr(module, "__file__", None)
            except ImportError:
                del sys.modules[name]


def small_head(input_size, channels=8, hidden=8):
    """A small head of the recipes' kind (pooling + fully connected layers).

    Unit tests of the encoder, pooling and LoRA build it directly; the
    recipes' own head is the one their model file declares.
    """
    return EmotionHead(
        MaskedAttentiveStatisticsPooling(input_size, attention_channels=channels),
        torch.nn.Sequential(
            torch.nn.Linear(2 * input_size, hidden),
            torch.nn.LayerNorm(hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, 3),
        ),
    )


def recipe_train_module(corpus="MSP-Podcast"):
    """Import a recipe's ``train.py`` (its Brain and pipelines) as a module."""
    import importlib.util

    folder = os.path.join(ROOT, "recipes", corpus)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(
        f"{corpus.replace('-', '_')}_train", os.path.join(folder, "train.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def recipe_datasets(manifest_folder, label_scaler, recipe="MSP-Podcast"):
    """The datasets a recipe's own ``dataio_prep`` builds from a manifest folder.

    ``{partition: DynamicItemDataset}`` (``id``, ``sig``, ``labels``), as
    ``train.py`` builds them for its corpus.
    """
    hparams = {
        "sample_rate": 16000,
        "corpus": recipe,
        "manifest_folder": str(manifest_folder),
        "data_folder": str(manifest_folder),
        "label_scaler": label_scaler,
        "cross_data_folder": None,
    }
    return recipe_train_module(recipe).dataio_prep(hparams)[recipe]


def run_train(script, hparams_file, args, cwd=ROOT, env=None):
    """Run a recipe as a user would; raise with its output if it fails."""
    command = [sys.executable, script, hparams_file, *args]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-4000:]
        raise AssertionError(f"{' '.join(command)} failed:\n{output}")
    return result


def predict_command(model, output, savedir, *paths, options=()):
    """The prediction command line a user types (``python -m ...predict``)."""
    return [
        sys.executable,
        "-m",
        "speechbrain_lora_ser.serving.predict",
        "--model",
        str(model),
        "--output",
        str(output),
        "--savedir",
        str(savedir),
        *options,
        *[str(p) for p in paths],
    ]


@pytest.fixture(scope="session")
def tiny_wavlm(tmp_path_factory):
    return save_tiny_encoder(str(tmp_path_factory.mktemp("wavlm")), "wavlm")


@pytest.fixture(scope="session")
def tiny_hubert(tmp_path_factory):
    return save_tiny_encoder(str(tmp_path_factory.mktemp("hubert")), "hubert")


@pytest.fixture(scope="session")
def recipe_data(tmp_path_factory):
    """tests/tmp of the recipe CSVs: both corpora and a small WavLM."""
    folder = tmp_path_factory.mktemp("recipe_data")
    layouts = recipe_layouts()
    write_demo_corpus(
        str(folder / "MSP-Podcast"), "english", layouts["MSP-Podcast"], (12, 6, 6)
    )
    write_demo_corpus(
        str(folder / "BIIC-Podcast"),
        "mandarin",
        layouts["BIIC-Podcast"],
        (12, 6, 6),
        seed=1,
    )
    save_tiny_encoder(str(folder / "wavlm-small"), "wavlm")
    return folder


#: results.json's keys beside the corpora: the calibrated CCC, the calibration,
#: the cross-lingual baseline before the last stage.
CALIBRATION_KEYS = ("calibrated", "calibration", "before_adaptation")

SMALL_MODEL_ARGS = [
    "--batch_size=4",
    "--test_batch_size=4",
    "--num_workers=0",
    "--attention_channels=8",
    "--head_hidden_size=8",
    "--lora_rank=4",
    "--lora_alpha=8",
    "--lr=0.001",
]


@pytest.fixture(scope="session")
def trained_ft_lora(recipe_data, tmp_path_factory):
    """A BIIC-Podcast FT+LoRA run (one epoch per stage), exported twice:
    merged (``inference/``) and with separate adapters (``inference_unmerged/``).
    """
    output = tmp_path_factory.mktemp("ft_lora_run")
    args = [
        f"--data_folder={recipe_data / 'BIIC-Podcast'}",
        f"--cross_data_folder={recipe_data / 'MSP-Podcast'}",
        f"--ssl_hub={recipe_data / 'wavlm-small'}",
        f"--output_folder={output}",
        "--number_of_epochs=1",
        *SMALL_MODEL_ARGS,
    ]
    script = "recipes/BIIC-Podcast/train.py"
    hparams = "recipes/BIIC-Podcast/hparams/ft_lora.yaml"
    run_train(script, hparams, args)
    run_train(
        script,
        hparams,
        args
        + [
            "--merge_lora_on_export=False",
            f"--inference_folder={output / 'inference_unmerged'}",
        ],
    )
    return output
