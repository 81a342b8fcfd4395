"""SpeechBrain's own gates for recipes, the cheap ones, applied here.

SpeechBrain's CI (its source tree, not its wheel) checks every recipe: each
YAML under ``recipes/<Dataset>`` outside ``/models/``, ``/results/`` and
``/pretrained_models/`` has a row in ``tests/recipes/<Dataset>.csv`` with
debug flags, the files a row names exist, and pre-commit runs ruff (80
columns, its isort settings: ``recipes/ruff.toml`` is a copy) and yamllint
(``tests/speechbrain_yamllint.yaml`` is a copy of its configuration) on the
recipe files. ``tools/speechbrain-dropin`` (docs/contributing.md,
"Contributing") runs all of SpeechBrain's checks in a SpeechBrain tree; these
tests keep the same rules in CI, which has no network.
"""

import csv
import glob
import os
import subprocess
import sys

import pytest

from conftest import ROOT

DATASETS = sorted(
    os.path.basename(os.path.dirname(p))
    for p in glob.glob(os.path.join(ROOT, "recipes", "*", "train.py"))
)
AVOID = ("/models/", "/results/", "/pretrained_models/")


def csv_rows(dataset):
    with open(os.path.join(ROOT, "tests", "recipes", f"{dataset}.csv")) as f:
        return list(csv.DictReader(f, skipinitialspace=True))


@pytest.mark.parametrize("dataset", DATASETS)
def test_every_recipe_yaml_has_a_row_with_debug_flags(dataset):
    folder = os.path.join(ROOT, "recipes", dataset)
    yamls = {
        os.path.relpath(path, ROOT)
        for path in glob.glob(os.path.join(folder, "**", "*.yaml"), recursive=True)
        if not any(part in path for part in AVOID)
    }
    rows = csv_rows(dataset)
    assert yamls - {row["Hparam_file"] for row in rows} == set()
    for row in rows:
        assert row["test_debug_flags"].strip(), row["Hparam_file"]
        for field in ("Script_file", "Hparam_file", "Data_prep_file", "Readme_file"):
            for path in filter(None, row[field].split(" ")):
                assert os.path.exists(os.path.join(ROOT, path)), path


def recipe_python_files():
    return [
        p
        for p in glob.glob(os.path.join(ROOT, "recipes", "*", "*.py"))
        if not os.path.islink(p)
    ]


def test_recipes_pass_speechbrains_ruff_settings():
    # run from recipes/, whose ruff.toml is the nearest configuration: the
    # package is then third-party, as it is in SpeechBrain's tree
    files = recipe_python_files()
    for command in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, *files],
            capture_output=True,
            text=True,
            cwd=os.path.join(ROOT, "recipes"),
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_recipe_yamls_pass_speechbrains_yamllint():
    yamls = glob.glob(os.path.join(ROOT, "recipes", "**", "*.yaml"), recursive=True)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "yamllint",
            "-f",
            "parsable",
            "-c",
            os.path.join(ROOT, "tests", "speechbrain_yamllint.yaml"),
            *yamls,
        ],
        capture_output=True,
        text=True,
    )
    errors = [line for line in result.stdout.splitlines() if "[error]" in line]
    assert errors == []
