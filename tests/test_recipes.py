"""Recipe debug runs, driven by tests/recipes/<Dataset>.csv as in SpeechBrain."""

import csv
import json
import math
import os
import re

import pytest

from conftest import ROOT, run_train


def recipe_rows():
    rows = []
    for name in sorted(os.listdir(os.path.join(ROOT, "tests", "recipes"))):
        with open(os.path.join(ROOT, "tests", "recipes", name), newline="") as f:
            rows.extend(csv.DictReader(f))
    return rows


ROWS = recipe_rows()


def recipe_row(dataset, configuration):
    return next(
        r
        for r in ROWS
        if r["Dataset"] == dataset
        and os.path.basename(r["Hparam_file"]) == f"{configuration}.yaml"
    )


def run_row(row, data, output, *extra, persistent=True):
    args = debug_args(row, data, output, persistent) + list(extra)
    return run_train(row["Script_file"], row["Hparam_file"], args)


def debug_args(row, data_folder, output_folder, persistent=False):
    flags = row["test_debug_flags"].replace("tests/tmp", str(data_folder))
    extra = ["--debug_persistently"] if persistent else []
    return flags.split() + [f"--output_folder={output_folder}"] + extra


def expected_files(row):
    match = re.search(r"file_exists=\[(.*?)\]", row["test_debug_checks"])
    return match.group(1).split(",")


def test_every_yaml_has_a_recipe_test_row():
    yamls = set()
    for corpus in ("MSP-Podcast", "BIIC-Podcast"):
        folder = os.path.join("recipes", corpus, "hparams")
        yamls |= {
            os.path.join(folder, f) for f in os.listdir(os.path.join(ROOT, folder))
        }
    assert yamls == {row["Hparam_file"] for row in ROWS}
    for row in ROWS:
        for key in ("Script_file", "Data_prep_file", "Readme_file"):
            assert os.path.isfile(os.path.join(ROOT, row[key])), row[key]


@pytest.mark.parametrize(
    "row",
    ROWS,
    ids=[f"{r['Dataset']}-{os.path.basename(r['Hparam_file'])}" for r in ROWS],
)
def test_recipe_debug_run(row, recipe_data, tmp_path):
    output = tmp_path / "out"
    run_train(
        row["Script_file"], row["Hparam_file"], debug_args(row, recipe_data, output)
    )
    for name in expected_files(row):
        assert (output / name).is_file(), name
    results = json.loads((output / "results.json").read_text())
    assert set(results) == {"MSP-Podcast", "BIIC-Podcast"}
    for values in results.values():
        assert set(values) == {"arousal", "valence", "dominance"}
        assert all(math.isfinite(v) for v in values.values())
    log = (output / "train_log.txt").read_text()
    configuration = os.path.basename(row["Hparam_file"])[: -len(".yaml")]
    modes = {
        "off_the_shelf": ["head"],
        "finetune": ["finetune"],
        "lora": ["lora"],
        "ft_dual": ["finetune", "finetune"],
        "ft_lora": ["finetune", "lora"],
    }[configuration]
    for index, mode in enumerate(modes, start=1):
        assert f"stage: stage{index}, mode: {mode}, trainable_encoder:" in log
    if configuration == "off_the_shelf":
        assert "mode: head, trainable_encoder: 0," in log
    assert "valid ccc_arousal" in log and "test ccc_arousal" in log
    with open(output / "predictions" / f"{row['Dataset']}_test.csv") as f:
        predictions = list(csv.DictReader(f))
    assert len(predictions) == 6
    for prediction in predictions:
        assert 1.0 <= float(prediction["true_arousal"]) <= 7.0


def test_stage1_is_reused_and_finished_runs_are_not_repeated(recipe_data, tmp_path):
    stage1 = tmp_path / "msp_finetune"
    run_row(recipe_row("MSP-Podcast", "finetune"), recipe_data, stage1)
    ft_lora = recipe_row("BIIC-Podcast", "ft_lora")
    output = tmp_path / "biic_ft_lora"
    run_row(ft_lora, recipe_data, output, f"--stage1_folder={stage1}")
    log = (output / "train_log.txt").read_text()
    assert "stage: stage1" not in log
    assert "stage: stage2, mode: lora" in log
    assert not list((output / "save").glob("stage1/CKPT*"))
    first = (output / "results.json").read_text()
    # A second call finds the finished stage and trains nothing more.
    epochs_before = log.count("stage: stage2, epoch:")
    run_row(ft_lora, recipe_data, output, f"--stage1_folder={stage1}")
    log = (output / "train_log.txt").read_text()
    assert log.count("stage: stage2, epoch:") == epochs_before
    assert json.loads((output / "results.json").read_text()) == json.loads(first)


def test_stage1_folder_of_the_wrong_kind_is_refused(recipe_data, tmp_path):
    lora_run = tmp_path / "msp_lora"
    run_row(recipe_row("MSP-Podcast", "lora"), recipe_data, lora_run)
    with pytest.raises(AssertionError, match="stage 1 there is"):
        run_row(
            recipe_row("BIIC-Podcast", "ft_lora"),
            recipe_data,
            tmp_path / "out",
            f"--stage1_folder={lora_run}",
        )


def test_hubert_is_only_a_different_ssl_hub(recipe_data, tiny_hubert, tmp_path):
    row = recipe_row("BIIC-Podcast", "ft_lora")
    output = tmp_path / "hubert"
    args = [
        f"--ssl_hub={tiny_hubert}" if a.startswith("--ssl_hub=") else a
        for a in debug_args(row, recipe_data, output)
    ]
    run_train(row["Script_file"], row["Hparam_file"], args)
    hyperparams = (output / "hyperparams.yaml").read_text()
    assert "model_type" not in hyperparams  # nothing else was switched
    config = (output / "inference" / "encoder" / "config.json").read_text()
    assert '"model_type": "hubert"' in config
    assert "stage: stage2, mode: lora" in (output / "train_log.txt").read_text()
