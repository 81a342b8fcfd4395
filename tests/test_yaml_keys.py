"""SpeechBrain's recipe gate, applied to each recipe's YAML and its train.py.

SpeechBrain's ``tests/utils/check_yaml.py::check_yaml_vs_script`` (in its
source tree, not in the wheel) flags a top-level YAML key that is neither
referenced later in the YAML (``!ref <key>``) nor read by the recipe's
``train.py`` (``["key"]``, ``hparams.key``, ``modules.key``...). CI cannot
fetch it, so this test applies the same rule to every ``recipes/*/hparams/
*.yaml`` against its folder's ``train.py``; the converse holds too: every key
``train.py`` reads is declared by every training YAML of its folder.
"""

import glob
import os
import re

import pytest
from hyperpyyaml import load_hyperpyyaml
from speechbrain.utils.run_opts import RunOptions

from speechbrain_lora_ser.export.model_folder import (
    model_file_of,
    model_parameters,
    read_yaml,
)
from speechbrain_lora_ser.training.stages import (
    resolved_settings,
    route_model_overrides,
)

from conftest import ROOT

YAMLS = sorted(glob.glob(os.path.join(ROOT, "recipes", "*", "hparams", "*.yaml")))
TRAINING = YAMLS  # every configuration is one that train.py loads


def declared_keys(path):
    """Top-level keys, as SpeechBrain's gate reads them (``!apply`` lines skipped)."""
    keys = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if (
                len(line) <= 1
                or line.startswith("#")
                or "speechbrain.utils.parameter_transfer.Pretrainer" in line
            ):
                continue
            line = line.rstrip()
            if ":" in line or "!ref" in line:
                name = line[: line.find(":")]
                if not (name[:1] in (" ", "\t") or "!!" in line or "!apply" in line):
                    keys.append(name)
    return keys


def referenced_later(path, key):
    """Whether a ``!ref`` after the key's declaration uses it."""
    seen = False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith(f"{key}:"):
                seen = True
                continue
            if seen and "!ref" in line:
                refs = {r.split("[")[0] for r in re.findall(r"<([^<>]+)>", line)}
                if key in refs:
                    return True
    return False


def read_by_script(key, script):
    patterns = (
        f'["{key}"]',
        f"hparams.{key}",
        f"modules.{key}",
        f'hparams.get("{key}"',
    )
    return any(p in script for p in patterns)


@pytest.mark.parametrize("path", YAMLS, ids=[os.path.relpath(p, ROOT) for p in YAMLS])
def test_every_yaml_key_is_used_by_the_yaml_or_its_train_py(path):
    script = open(
        os.path.join(os.path.dirname(os.path.dirname(path)), "train.py")
    ).read()
    run_opts = set(RunOptions().as_dict())
    unused = [
        key
        for key in declared_keys(path)
        if key not in run_opts
        and not referenced_later(path, key)
        and not read_by_script(key, script)
    ]
    assert unused == []


@pytest.mark.parametrize(
    "path", TRAINING, ids=[os.path.relpath(p, ROOT) for p in TRAINING]
)
def test_every_key_train_py_reads_is_declared(path):
    script = open(
        os.path.join(os.path.dirname(os.path.dirname(path)), "train.py")
    ).read()
    read = set(re.findall(r'hparams\["([A-Za-z_0-9]+)"\]', script))
    with open(path, encoding="utf-8") as f:
        declared = {
            line.split(":", 1)[0] for line in f if re.match(r"^[A-Za-z_]", line)
        }
    assert read - declared == set()


def test_the_gate_catches_an_unused_key(tmp_path):
    """The rule above can fail: a key nobody reads is reported."""
    recipe = tmp_path / "recipe"
    (recipe / "hparams").mkdir(parents=True)
    (recipe / "train.py").write_text('print(hparams["used"])\n')
    yaml = recipe / "hparams" / "x.yaml"
    yaml.write_text("used: 1\nreferenced: 2\nuser: !ref <referenced>\nforgotten: 3\n")
    script = (recipe / "train.py").read_text()
    unused = [
        k
        for k in declared_keys(yaml)
        if not referenced_later(yaml, k) and not read_by_script(k, script)
    ]
    assert unused == ["user", "forgotten"]


RECIPES = sorted(glob.glob(os.path.join(ROOT, "recipes", "*", "hparams")))


@pytest.mark.parametrize(
    "hparams", RECIPES, ids=[os.path.relpath(p, ROOT) for p in RECIPES]
)
def test_each_model_number_is_declared_once(hparams):
    """The model file declares the numbers; a configuration only includes it."""
    model_file = os.path.join(hparams, "models", "ser_model.yaml")
    parameters = model_parameters(model_file)
    assert {"lora_rank", "attention_channels", "head_hidden_size"} <= set(parameters)
    for path in glob.glob(os.path.join(hparams, "*.yaml")):
        declared = read_yaml(path)
        assert set(declared) & set(parameters) == {"ssl_hub"}, path
        assert model_file_of(path) == os.path.join(hparams, "models/ser_model.yaml")
        assert list(declared["model"]) == ["ssl_hub"], path


def test_a_model_number_on_the_command_line_reaches_the_model(tiny_wavlm, tmp_path):
    """``--lora_rank=4`` is routed to the model file that declares it."""
    path = os.path.join(ROOT, "recipes", "MSP-Podcast", "hparams", "ft_lora.yaml")
    overrides = route_model_overrides(
        path,
        {
            "data_folder": str(tmp_path),
            "output_folder": str(tmp_path / "run"),
            "ssl_hub": tiny_wavlm,
            "lora_rank": 4,
            "attention_channels": 8,
        },
    )
    assert overrides["model"] == {"lora_rank": 4, "attention_channels": 8}
    with open(path, encoding="utf-8") as handle:
        hparams = load_hyperpyyaml(handle, overrides)
    assert hparams["lora_config"].r == 4
    pooling = hparams["modules"]["head"].pooling
    assert pooling.tdnn.conv.conv.weight.shape[0] == 8  # attention channels
    settings = resolved_settings(hparams)
    assert settings["attention_channels"] == 8
    assert settings["ssl_hub"] == tiny_wavlm
    assert "lora_rank" not in settings  # a lora stage records its adapters
    with pytest.raises(KeyError, match="no_such_setting"):
        with open(path, encoding="utf-8") as handle:
            load_hyperpyyaml(
                handle, route_model_overrides(path, {"no_such_setting": 1})
            )
