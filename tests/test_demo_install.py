"""The demo from a non-editable install (``pip install .``)."""

import os
import shutil
import subprocess
import sys

import pytest

from speechbrain_lora_ser.demo import RecipesNotFound, recipes_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_recipes_folder_says_what_it_needs(tmp_path):
    package = tmp_path / "site-packages" / "speechbrain_lora_ser"
    package.mkdir(parents=True)
    with pytest.raises(RecipesNotFound, match="SER_RECIPES=/path/to/clone"):
        recipes_folder(str(package), environ={}, cwd=str(tmp_path))
    found = recipes_folder(
        str(package), environ={"SER_RECIPES": os.path.join(ROOT, "recipes")}
    )
    assert found == os.path.join(ROOT, "recipes")


@pytest.mark.slow
def test_demo_from_a_non_editable_install(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), source)
    shutil.copytree(
        os.path.join(ROOT, "speechbrain_lora_ser"),
        source / "speechbrain_lora_ser",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    target = tmp_path / "installed"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps"]
        + ["--target", str(target), str(source)],
        check=True,
    )
    environment = dict(os.environ, PYTHONPATH=str(target))
    environment.pop("SER_RECIPES", None)
    run = [sys.executable, "-m", "speechbrain_lora_ser.demo", "--data_only"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    missing = subprocess.run(
        run + ["--output_folder", "out"],
        cwd=elsewhere,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2, missing.stderr
    assert "SER_RECIPES" in missing.stderr
    assert not (elsewhere / "out").exists()  # told at once, before any work
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import speechbrain_lora_ser.demo as d; "
            "print(d.__file__, d.recipes_folder())",
        ],
        cwd=elsewhere,
        env=dict(environment, SER_RECIPES=os.path.join(ROOT, "recipes")),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert where[0].startswith(str(target))
    assert where[1] == os.path.join(ROOT, "recipes")
    # run from a folder that holds recipes/ (a clone's root), it writes its data
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / "recipes").symlink_to(os.path.join(ROOT, "recipes"))
    sizes = ["--no_speech", "--sizes", "2", "1", "1"]
    written = subprocess.run(
        run + ["--output_folder", "out", *sizes],
        cwd=clone,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert written.returncode == 0, written.stderr
    assert sorted(os.listdir(clone / "out")) == [
        "BIIC-Podcast",
        "MSP-Podcast",
        "wavlm-small",
    ]
    assert f"--data_folder={clone / 'out' / 'MSP-Podcast'}" in written.stdout
