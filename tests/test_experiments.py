"""Experiment tooling on real (small) run folders made by the recipes."""

import csv
import json
import subprocess
import sys
import time

import numpy as np
import pytest
from scipy import stats

from speechbrain_lora_ser.experiments.__main__ import main as experiments
from speechbrain_lora_ser.experiments.grid import plan_grid
from speechbrain_lora_ser.experiments.significance import (
    partition_ccc_samples,
    read_predictions,
)

from conftest import ROOT, SMALL_MODEL_ARGS

OVERRIDES = ["--", "--number_of_epochs=1", *SMALL_MODEL_ARGS]


@pytest.fixture(scope="module")
def grid_root(recipe_data, tmp_path_factory):
    """A full grid (5 configurations x 2 directions), interrupted once."""
    root = tmp_path_factory.mktemp("grid")
    args = [
        "grid",
        f"--msp_folder={recipe_data / 'MSP-Podcast'}",
        f"--biic_folder={recipe_data / 'BIIC-Podcast'}",
        f"--encoder={recipe_data / 'wavlm-small'}",
        f"--root={root}",
        *OVERRIDES,
    ]
    command = [sys.executable, "-m", "speechbrain_lora_ser.experiments", *args]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if len(list(root.rglob("results.json"))) >= 2:
            process.kill()
            break
        time.sleep(0.05)
    process.wait()
    finished = {p: p.stat().st_mtime_ns for p in root.rglob("results.json")}
    assert len(finished) >= 2
    second = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr[-3000:]
    return root, finished, second.stdout, args


def test_grid_resumes_without_repeating_finished_runs(grid_root):
    root, finished, output, _ = grid_root
    assert output.count("finished, skipped") == len(finished)
    for path, mtime in finished.items():
        assert path.stat().st_mtime_ns == mtime  # not run again
    assert len(list(root.rglob("results.json"))) == 10
    # FT(dual) and FT+LoRA reused the other corpus's FineTuned run as stage 1
    for log in root.rglob("ft_*/*/*/train_log.txt"):
        text = log.read_text()
        assert "stage: stage1" not in text and "stage: stage2" in text


def test_grid_dry_run_lists_every_run_with_its_status(grid_root, capsys):
    root, _, _, args = grid_root
    assert experiments(args[: args.index("--")] + ["--dry_run"]) == 0
    listing = capsys.readouterr().out
    assert listing.count("[done]") == 10
    assert "--stage1_folder=" in listing


def test_plan_orders_finetune_first_and_links_stage1(tmp_path):
    runs = plan_grid(
        str(tmp_path), {"MSP-Podcast": "m", "BIIC-Podcast": "b"}, "x/wavlm"
    )
    assert [r["configuration"] for r in runs[:2]] == ["finetune", "finetune"]
    ft_lora_biic = next(
        r
        for r in runs
        if r["configuration"] == "ft_lora" and r["corpus"] == "BIIC-Podcast"
    )
    assert any("MSP-Podcast/finetune/wavlm" in part for part in ft_lora_biic["command"])


def test_tables_and_welch_p_values(grid_root, tmp_path):
    root, _, _, _ = grid_root
    output = tmp_path / "tables"
    assert experiments(["tables", str(root), f"--output={output}", "--k=3"]) == 0
    table1 = (output / "table1.md").read_text()
    table2 = (output / "table2.md").read_text()
    for name in ("Off-the-shelf", "FineTuned", "LoRA"):
        assert f"| {name} |" in table1
    assert "| FT+LoRA | M/B | M | B |" in table2
    assert "| FT+LoRA | B/M | B | M |" in table2
    assert "| FT(dual) | M/B | M/B | — |" in table2
    assert "**" in table2
    with open(output / "table2.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10 * 2 * 3

    def samples(configuration, trained_on, test_corpus, attribute):
        folder = root / trained_on / configuration / "wavlm-small" / "1986"
        ids, predictions, targets = read_predictions(
            folder / "predictions" / f"{test_corpus}_test.csv"
        )
        index = ("arousal", "valence", "dominance").index(attribute)
        return partition_ccc_samples(ids, predictions, targets, k=3, seed=0)[:, index]

    checked = 0
    for column in {(r["test_corpus"], r["attribute"]) for r in rows}:
        column_rows = [r for r in rows if (r["test_corpus"], r["attribute"]) == column]
        best = next(r for r in column_rows if r["best"] == "True")
        best_samples = samples(best["configuration"], best["trained_on"], *column)
        for row in column_rows:
            if row is best:
                continue
            expected = stats.ttest_ind(
                best_samples,
                samples(row["configuration"], row["trained_on"], *column),
                equal_var=False,
                alternative="greater",
            ).pvalue
            got = float(row["p_value_best_greater"])
            assert got == pytest.approx(expected, rel=1e-5)
            assert (row["significant"] == "True") == (expected <= 0.05)
            checked += 1
    assert checked == 6 * 9
    best_values = [float(r["ccc"]) for r in rows if r["best"] == "True"]
    assert all(np.isfinite(best_values))


def test_low_resource_study_makes_the_figure(grid_root, recipe_data):
    root, _, _, args = grid_root
    low = [
        "low_resource",
        *[a for a in args[1 : args.index("--")]],
        "--sizes",
        "4",
        "8",
        *OVERRIDES,
    ]
    assert experiments(low) == 0
    figure = root / "low_resource.png"
    assert figure.stat().st_size > 10_000
    for size in (4, 8):
        folder = (
            root / "BIIC-Podcast" / "ft_lora" / "wavlm-small" / "1986" / f"subset{size}"
        )
        info = json.loads((folder / "run_info.json").read_text())
        assert info["train_subset"] == size
        train = json.loads(
            (folder / "manifests" / "BIIC-Podcast" / "train.json").read_text()
        )
        assert len(train) == size
        assert "stage: stage1" not in (folder / "train_log.txt").read_text()
