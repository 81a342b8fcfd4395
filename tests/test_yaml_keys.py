"""SpeechBrain's recipe rule: every YAML key is used, every key read is declared.

Mirrors ``tests/utils/check_yaml.py::check_yaml_vs_script`` of SpeechBrain's
source tree (not shipped in the wheel): a top-level key must be referenced
inside the YAML (``!ref <key>``) or read by the code that runs the recipe
(``hparams["key"]``, ``hparams.key``, ``self.hparams.key``). The recipes share
``speechbrain_lora_ser/hparams/recipe.yaml``, read by the package's recipe
modules, so those modules are "the script" here.
"""

import glob
import os
import re

from speechbrain.utils.run_opts import RunOptions

from conftest import ROOT

PACKAGE = os.path.join(ROOT, "speechbrain_lora_ser")
BASE_YAML = os.path.join(PACKAGE, "hparams", "recipe.yaml")
SCRIPTS = [
    os.path.join(PACKAGE, name)
    for name in ("recipe.py", "brain.py", "pipeline.py", "export.py")
]


def top_level_keys(path):
    keys = []
    with open(path) as f:
        for line in f:
            if line[:1] in ("", " ", "\t", "#", "\n") or ":" not in line:
                continue
            keys.append(line.split(":", 1)[0])
    return keys


def referenced_in_yaml(path):
    text = open(path).read()
    return {re.split(r"[\[\]]", ref)[0] for ref in re.findall(r"<([^<>]+)>", text)}


def script_text():
    return "\n".join(open(p).read() for p in SCRIPTS)


def read_by_scripts(key, text):
    patterns = (f'hparams["{key}"]', f"hparams.{key}", f'hparams.get("{key}"')
    return any(p in text for p in patterns)


def test_every_base_yaml_key_is_used():
    text = script_text()
    referenced = referenced_in_yaml(BASE_YAML)
    run_opts = set(RunOptions().as_dict())
    unused = [
        key
        for key in top_level_keys(BASE_YAML)
        if key not in referenced
        and key not in run_opts
        and not key.startswith("__")
        and not read_by_scripts(key, text)
    ]
    assert unused == []


def test_every_key_the_code_reads_is_declared():
    declared = set(top_level_keys(BASE_YAML))
    text = script_text()
    read = set(re.findall(r'hparams\["([A-Za-z_0-9]+)"\]', text))
    read |= set(re.findall(r"self\.hparams\.([A-Za-z_0-9]+)", text))
    read |= set(re.findall(r'hparams\.get\("([A-Za-z_0-9]+)"', text))
    assert read - declared == set()


def test_configuration_files_only_override_declared_keys():
    declared = set(top_level_keys(BASE_YAML))
    files = glob.glob(os.path.join(ROOT, "recipes", "*", "hparams", "*.yaml"))
    assert len(files) == 10
    for path in files:
        keys = set(top_level_keys(path))
        assert keys and keys <= declared, path
        name = os.path.basename(path)[: -len(".yaml")]
        assert f"configuration: {name}" in open(path).read()
