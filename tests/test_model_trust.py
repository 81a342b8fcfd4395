"""Exported models: hostile YAML refused before any code runs; strict weights.

An exported model is built from a tiny real encoder (no training), then
damaged the ways issue 30 lists: a YAML that calls ``os.system``, an empty
``head.ckpt``, a truncated ``ssl.ckpt``.
"""

import os
import shutil

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml

from speechbrain_lora_ser.export.model_folder import export_inference_folder
from speechbrain_lora_ser.modeling.weights import CheckpointError
from speechbrain_lora_ser.serving.inference import EncoderRegressor
from speechbrain_lora_ser.serving.model_trust import UntrustedModel
from speechbrain_lora_ser.synthetic.architectures import save_tiny_encoder

ROOT = os.path.join(os.path.dirname(__file__), os.pardir)
RECIPE = os.path.join(
    ROOT, "recipes", "MSP-Podcast", "hparams", "models", "ser_model.yaml"
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    values = {
        "ssl_hub": save_tiny_encoder(str(tmp_path_factory.mktemp("encoder"))),
        "ssl_cache": None,
        "ssl_from_config": False,
        "ssl_adapters": None,
        "normalize_waveform": True,
        "encoder_layerdrop": 0.0,
        "gradient_checkpointing": False,
        "lora_rank": 2,
        "lora_alpha": 4,
        "lora_dropout": 0.0,
        "lora_targets": ["q_proj"],
        "attention_channels": 8,
        "head_hidden_size": 8,
        "head_dropout": 0.1,
        "n_attributes": 3,
        "loss_moment_weight": 0.0,
    }
    with open(RECIPE) as f:
        model = load_hyperpyyaml(f, values)
    serving = {
        "sample_rate": 16000,
        "label_low": 1.0,
        "label_high": 7.0,
        "window_seconds": 10.0,
        "hop_seconds": 5.0,
    }
    modules = {"ssl": model["ssl"], "head": model["head"]}
    folder = str(tmp_path_factory.mktemp("exported"))
    return export_inference_folder(folder, RECIPE, values, serving, modules)


def copy_of(exported, tmp_path):
    folder = str(tmp_path / "model")
    shutil.copytree(exported, folder)
    return folder


def load(folder, tmp_path, **kwargs):
    return EncoderRegressor.from_hparams(
        source=folder, savedir=str(tmp_path / "savedir"), **kwargs
    )


def wave():
    return torch.sin(torch.arange(16000) / 7.0).unsqueeze(0) * 0.3


@pytest.mark.parametrize(
    "hostile",
    [
        'hostile: !apply:os.system ["touch {marker}"]\n',
        'hostile: !!python/object/apply:os.system ["touch {marker}"]\n',
        'hostile: !new:subprocess.Popen [["touch", "{marker}"]]\n',
    ],
)
def test_hostile_yaml_is_refused_before_any_code_runs(exported, tmp_path, hostile):
    folder = copy_of(exported, tmp_path)
    marker = tmp_path / "pwned"
    path = os.path.join(folder, "hyperparams.yaml")
    with open(path) as f:
        lines = f.read().splitlines()
    line = len(lines) // 2  # in the middle, between top-level keys
    while lines[line].startswith((" ", "\t")) or not lines[line].strip():
        line += 1
    lines.insert(line, hostile.format(marker=marker).rstrip("\n"))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    with pytest.raises(UntrustedModel, match=f"hyperparams.yaml, line {line + 1}:"):
        load(folder, tmp_path)
    assert not marker.exists()
    # trusted, it loads (and the code runs, as SpeechBrain would run it)
    if "subprocess" not in hostile:
        model = load(folder, tmp_path, trust_code=True)
        assert marker.exists()
        assert model.hparams.label_low == 1.0


def test_exported_model_passes_the_allowlist(exported, tmp_path):
    model = load(exported, tmp_path)
    first = model.mods.regressor(wave(), torch.ones(1))
    again = load(exported, tmp_path / "again").mods.regressor(wave(), torch.ones(1))
    assert torch.equal(torch.as_tensor(first[0]), torch.as_tensor(again[0]))


@pytest.mark.parametrize("name", ["head", "ssl"])
def test_an_empty_state_dict_is_refused_naming_the_file(exported, tmp_path, name):
    folder = copy_of(exported, tmp_path)
    torch.save({}, os.path.join(folder, f"{name}.ckpt"))
    with pytest.raises(CheckpointError, match=rf"{name}\.ckpt\)?: holds no weights"):
        load(folder, tmp_path)


def test_a_partial_state_dict_is_refused_naming_the_missing_keys(exported, tmp_path):
    folder = copy_of(exported, tmp_path)
    path = os.path.join(folder, "head.ckpt")
    state = torch.load(path, weights_only=True)
    dropped = sorted(state)[0]
    del state[dropped]
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"head\.ckpt\)?: does not fit") as error:
        load(folder, tmp_path)
    assert dropped in str(error.value)


@pytest.mark.parametrize("name", ["head", "ssl"])
def test_a_truncated_checkpoint_is_named(exported, tmp_path, name):
    folder = copy_of(exported, tmp_path)
    path = os.path.join(folder, f"{name}.ckpt")
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(CheckpointError, match=rf"{name}\.ckpt\)?: truncated"):
        load(folder, tmp_path)
