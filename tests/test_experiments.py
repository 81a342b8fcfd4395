"""Experiment tooling: the grid on real runs, the paper's tables, the study."""

import csv
import json
import os
import shlex
import subprocess
import sys
import time

import numpy as np
import pytest
from scipy import stats

from speechbrain_lora_ser.experiments import __main__ as experiments_cli
from speechbrain_lora_ser.experiments.__main__ import main as experiments
from speechbrain_lora_ser.experiments.grid import parse_recipes, plan_grid, run_grid
from speechbrain_lora_ser.experiments.low_resource import (
    plot_low_resource,
    read_study,
)
from speechbrain_lora_ser.experiments.significance import (
    partition_ccc_samples,
    read_predictions,
)
from speechbrain_lora_ser.experiments.tables import RunMismatch, write_tables

from conftest import ROOT, SMALL_MODEL_ARGS

OVERRIDES = ["--", "--number_of_epochs=1", *SMALL_MODEL_ARGS]
MSP_RECIPE = os.path.join(ROOT, "recipes", "MSP-Podcast")
BIIC_RECIPE = os.path.join(ROOT, "recipes", "BIIC-Podcast")


def recipe_args(recipe_data):
    return [
        f"--recipe={MSP_RECIPE}={recipe_data / 'MSP-Podcast'}",
        f"--recipe={BIIC_RECIPE}={recipe_data / 'BIIC-Podcast'}",
        f"--encoder={recipe_data / 'wavlm-small'}",
    ]


@pytest.fixture(scope="module")
def grid_root(recipe_data, tmp_path_factory):
    """A full grid (5 configurations x 2 directions), interrupted once."""
    root = tmp_path_factory.mktemp("grid")
    args = ["grid", *recipe_args(recipe_data), f"--root={root}", *OVERRIDES]
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
        assert "stage: stage1, mode:" not in text
        assert "stage: stage1, reused_from:" in text and "stage: stage2" in text


def test_grid_dry_run_lists_every_run_with_its_status(grid_root, capsys):
    root, _, _, args = grid_root
    assert experiments(args[: args.index("--")] + ["--dry_run"]) == 0
    listing = capsys.readouterr().out
    assert listing.count("[done]") == 10
    assert "--stage1_folder=" in listing


def test_plan_reads_the_corpora_from_the_recipes(tmp_path):
    recipes = parse_recipes([f"{MSP_RECIPE}=m", f"{BIIC_RECIPE}=b"])
    runs = plan_grid(
        str(tmp_path), recipes, "x/wavlm", nproc_per_node=4, global_batch_size=32
    )
    assert [r["configuration"] for r in runs[:2]] == ["finetune", "finetune"]
    ft_lora_biic = next(
        r
        for r in runs
        if r["configuration"] == "ft_lora" and r["corpus"] == "BIIC-Podcast"
    )
    command = ft_lora_biic["command"]
    assert command[1:4] == ["-m", "torch.distributed.run", "--nproc_per_node=4"]
    assert "--global_batch_size=32" in command
    assert any("MSP-Podcast/finetune/wavlm" in part for part in command)
    assert f"--cross_data_folder={os.path.abspath('m')}" in command
    assert ft_lora_biic["cwd"] == BIIC_RECIPE
    with pytest.raises(ValueError, match="its cross corpus MSP-Podcast has no recipe"):
        parse_recipes([f"{BIIC_RECIPE}=b"])


def test_tables_from_real_runs_and_welch_p_values(grid_root, tmp_path):
    root, _, _, _ = grid_root
    output = tmp_path / "tables"
    assert experiments(["tables", str(root), f"--output={output}", "--k=3"]) == 0
    text = (output / "tables.md").read_text()
    assert text.count("| configuration | B aro |") == 1
    for name in ("Off-the-shelf", "FineTuned", "LoRA", "FT(dual)", "FT+LoRA"):
        rows = [line for line in text.splitlines() if line.startswith(f"| {name} |")]
        assert len(rows) == 3  # Table 1 + both Table 2 blocks
    assert "| FT+LoRA | M/B | M | B |" in text
    assert "| FT+LoRA | B/M | B | M |" in text
    with open(output / "table2.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 5 * 3

    def samples(row):
        folder = root / row["corpus"] / row["configuration"] / "wavlm-small" / "1986"
        ids, predictions, targets = read_predictions(
            folder / "predictions" / f"{row['test_corpus']}_test.csv"
        )
        index = ("arousal", "valence", "dominance").index(row["attribute"])
        return partition_ccc_samples(ids, predictions, targets, k=3, seed=0)[:, index]

    checked = 0
    for column in {(r["test_corpus"], r["attribute"]) for r in rows}:
        column_rows = [r for r in rows if (r["test_corpus"], r["attribute"]) == column]
        best = next(r for r in column_rows if r["best"] == "True")
        p_values = []
        for row in column_rows:
            if row is best:
                continue
            expected = stats.ttest_ind(
                samples(best), samples(row), equal_var=False, alternative="greater"
            ).pvalue
            assert float(row["p_value_best_greater"]) == pytest.approx(
                expected, rel=1e-5
            )
            p_values.append(expected)
            checked += 1
        assert (best["starred"] == "True") == all(p <= 0.05 for p in p_values)
    assert checked == 6 * 4
    best_values = [float(r["ccc"]) for r in rows if r["best"] == "True"]
    assert all(np.isfinite(best_values))


# ---------------------------------------------------------------------------
# Hand-made runs whose tables are known
# ---------------------------------------------------------------------------
M, B = "MSP-Podcast", "BIIC-Podcast"
#: (configuration, corpus) -> {test corpus: (arousal, valence, dominance)}
RESULTS = {
    ("off_the_shelf", M): {M: (0.40, 0.20, 0.30), B: (0.20, 0.05, 0.15)},
    ("finetune", M): {M: (0.70, 0.50, 0.60), B: (0.39, 0.10, 0.30)},
    ("lora", M): {M: (0.60, 0.40, 0.55), B: (0.35, 0.08, 0.25)},
    ("off_the_shelf", B): {B: (0.30, 0.10, 0.16), M: (0.25, 0.05, 0.15)},
    ("finetune", B): {B: (0.62, 0.35, 0.20), M: (0.45, 0.20, 0.30)},
    ("lora", B): {B: (0.55, 0.30, 0.18), M: (0.40, 0.15, 0.28)},
    ("ft_dual", B): {B: (0.60, 0.30, 0.19), M: (0.50, 0.30, 0.45)},
    ("ft_lora", B): {B: (0.63, 0.37, 0.19), M: (0.69, 0.49, 0.64)},
    ("ft_dual", M): {M: (0.68, 0.60, 0.61), B: (0.40, 0.20, 0.15)},
    ("ft_lora", M): {M: (0.675, 0.65, 0.62), B: (0.61, 0.36, 0.19)},
}


def run_info(encoder, configuration, corpus, seed, lr=1e-5):
    return {
        "configuration": configuration,
        "corpus": corpus,
        "cross_corpus": B if corpus == M else M,
        "ssl_hub": f"/models/{encoder}",
        "seed": seed,
        "train_subset": None,
        "stages": [{"name": "stage1"}],
        "stage_fingerprints": {"stage1": {"settings": {"lr": lr, "seed": seed}}},
    }


def make_run(
    root, encoder, configuration, corpus, seed, values, lr=1e-5, calibrated=None
):
    """A finished run; ``calibrated``: the CCC after calibration, as values."""
    folder = root / encoder / corpus / configuration / str(seed)
    folder.mkdir(parents=True)
    info = run_info(encoder, configuration, corpus, seed, lr)
    (folder / "run_info.json").write_text(json.dumps(info))
    results = {
        test: dict(zip(("arousal", "valence", "dominance"), v, strict=True))
        for test, v in values.items()
    }
    if calibrated is not None:
        results["calibrated"] = {
            test: dict(zip(("arousal", "valence", "dominance"), v, strict=True))
            for test, v in calibrated.items()
        }
    (folder / "results.json").write_text(json.dumps(results))
    return folder


def make_grid(root, encoder="wavlm-small", runs=RESULTS):
    # two seeds a run, 0.005 either side of the table's value
    for (configuration, corpus), values in runs.items():
        for seed, offset in ((1, -0.005), (2, 0.005)):
            shifted = {t: tuple(x + offset for x in v) for t, v in values.items()}
            make_run(root, encoder, configuration, corpus, seed, shifted)


EXPECTED_TABLE1 = """\
| configuration | B aro | B val | B dom | M aro | M val | M dom |
| --- | --- | --- | --- | --- | --- | --- |
| Off-the-shelf | 0.300 | 0.100 | 0.160 | 0.400 | 0.200 | 0.300 |
| FineTuned | **0.620** | 0.350 | **0.200** | **0.700** | **0.500** | 0.600 |
| LoRA | 0.550 | 0.300 | 0.180 | 0.600 | 0.400 | 0.550 |
| FT(dual) | 0.400 | 0.200 | 0.150 | 0.500 | 0.300 | 0.450 |
| FT+LoRA | 0.610 | **0.360** | 0.190 | 0.690 | 0.490 | **0.640*** |"""

EXPECTED_TABLE2_B = """\
Test on BIIC-Podcast (B)

| configuration | Head | Enc. | LoRA | aro | val | dom |
| --- | --- | --- | --- | --- | --- | --- |
| Off-the-shelf | M | — | — | 0.200 | 0.050 | 0.150 |
| FineTuned | M | M | — | 0.390 | 0.100 | **0.300*** |
| LoRA | M | — | M | 0.350 | 0.080 | 0.250 |
| FT(dual) | M/B | M/B | — | 0.600 | 0.300 | 0.190 |
| FT+LoRA | M/B | M | B | **0.630*** | **0.370*** | 0.190 |"""

EXPECTED_TABLE2_M = """\
Test on MSP-Podcast (M)

| configuration | Head | Enc. | LoRA | aro | val | dom |
| --- | --- | --- | --- | --- | --- | --- |
| Off-the-shelf | B | — | — | 0.250 | 0.050 | 0.150 |
| FineTuned | B | B | — | 0.450 | 0.200 | 0.300 |
| LoRA | B | — | B | 0.400 | 0.150 | 0.280 |
| FT(dual) | B/M | B/M | — | **0.680** | 0.600 | 0.610 |
| FT+LoRA | B/M | B | M | 0.675 | **0.650*** | **0.620** |"""


def test_tables_have_the_papers_rows_and_stars(tmp_path):
    make_grid(tmp_path / "runs")
    text = write_tables(str(tmp_path / "runs"), str(tmp_path / "out"), "seeds")
    assert "## wavlm-small: BIIC-Podcast and MSP-Podcast" in text
    assert EXPECTED_TABLE1 in text
    assert EXPECTED_TABLE2_B in text
    assert EXPECTED_TABLE2_M in text
    assert "*: the best is significantly better than every other row" in text
    with open(tmp_path / "out" / "table1.csv") as f:
        rows = list(csv.DictReader(f))
    starred = [r for r in rows if r["starred"] == "True"]
    assert [
        (r["test_corpus"], r["configuration"], r["attribute"]) for r in starred
    ] == [(M, "ft_lora", "dominance")]
    # FT+LoRA in M's columns: the run first trained on M (the BIIC recipe's)
    ft_lora_m = next(
        r for r in rows if r["test_corpus"] == M and r["configuration"] == "ft_lora"
    )
    assert (ft_lora_m["corpus"], ft_lora_m["cross_corpus"]) == (B, M)
    assert ft_lora_m["runs"] == "2"


def test_encoders_are_never_averaged_together(tmp_path):
    make_grid(tmp_path / "runs")
    weak = {key: {t: (0.1, 0.1, 0.1) for t in v} for key, v in RESULTS.items()}
    make_grid(tmp_path / "runs", encoder="hubert-small", runs=weak)
    text = write_tables(str(tmp_path / "runs"), str(tmp_path / "out"), "seeds")
    assert "## hubert-small: BIIC-Podcast and MSP-Podcast" in text
    wavlm = text[text.index("## wavlm-small") :]
    assert EXPECTED_TABLE1 in wavlm and "0.100 | 0.100" not in wavlm
    assert "| FineTuned | 0.100 | 0.100 | 0.100 | 0.100 | 0.100 | 0.100 |" in text


def test_runs_that_differ_in_more_than_the_seed_are_refused(tmp_path):
    make_grid(tmp_path / "runs")
    make_run(
        tmp_path / "runs", "wavlm-small", "lora", M, 3, RESULTS[("lora", M)], lr=1e-4
    )
    with pytest.raises(
        RunMismatch,
        match=r"differ in more than the seed: "
        r"stage_fingerprints\.stage1\.settings\.lr",
    ):
        write_tables(str(tmp_path / "runs"), str(tmp_path / "out"), "seeds")


# ---------------------------------------------------------------------------
# Tables of any subset of runs: missing cells, missing runs, never a traceback
# ---------------------------------------------------------------------------
def table_rows(text, name):
    """The Markdown rows of one configuration, as lists of cells."""
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith(f"| {name} |")
    ]


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_tables_of_a_single_run(tmp_path, capsys):
    make_run(
        tmp_path / "runs", "wavlm-small", "finetune", M, 1, RESULTS[("finetune", M)]
    )
    output = tmp_path / "out"
    status = experiments(
        ["tables", str(tmp_path / "runs"), f"--output={output}", "--samples=seeds"]
    )
    assert status == 0
    text = (output / "tables.md").read_text()
    assert capsys.readouterr().out.startswith(text)
    # the paper's five rows, every cell without a run n/a; one value per
    # column: nothing to compare, so neither bold nor a star
    rows = table_rows(text, "FineTuned")
    assert rows[0] == ["FineTuned", *["n/a"] * 3, "0.700", "0.500", "0.600"]
    assert rows[1] == ["FineTuned", "M", "M", "—", "0.390", "0.100", "0.300"]
    assert rows[2] == ["FineTuned", "B", "B", "—", "n/a", "n/a", "n/a"]
    for name in ("Off-the-shelf", "LoRA", "FT(dual)", "FT+LoRA"):
        assert len(table_rows(text, name)) == 3
    assert "**" not in text and "0.700*" not in text
    # the nine runs that would fill the rest, then the run of a single seed
    listed = [line for line in text.splitlines() if line.startswith("- ")]
    assert len(listed) == 10
    assert all(line.endswith(": not run") for line in listed[:9])
    assert listed[9].startswith("- FineTuned on MSP-Podcast (configuration finetune")
    assert (
        "- FT+LoRA, MSP-Podcast then BIIC-Podcast (configuration ft_lora, corpus "
        "BIIC-Podcast, encoder wavlm-small): not run" in listed
    )
    for table in ("table1", "table2"):
        rows = read_csv(output / f"{table}.csv")
        assert len(rows) == 2 * 5 * 3
        done = [r for r in rows if r["status"] == "done"]
        assert len(done) == 3 and {r["configuration"] for r in done} == {"finetune"}
        assert all(r["ccc"] == "n/a" for r in rows if r["status"] == "not run")
        assert all(r["starred"] == "False" and r["best"] == "False" for r in rows)


def test_tables_of_the_papers_method_only(tmp_path):
    # FineTuned on MSP-Podcast (stage 1) + FT+LoRA M->B, three seeds each
    runs = {key: RESULTS[key] for key in (("finetune", M), ("ft_lora", B))}
    make_grid(tmp_path / "runs", runs=runs)
    for (configuration, corpus), values in runs.items():
        make_run(tmp_path / "runs", "wavlm-small", configuration, corpus, 3, values)
    text = write_tables(str(tmp_path / "runs"), str(tmp_path / "out"), "seeds")
    table1 = table_rows(text, "FineTuned")[0], table_rows(text, "FT+LoRA")[0]
    # two of five rows, three seeds each: bold compares them, but no star
    # claims "better than every other row" while three rows are n/a
    assert table1[0] == ["FineTuned", *["n/a"] * 3, "**0.700**", "**0.500**", "0.600"]
    assert table1[1] == ["FT+LoRA", *["n/a"] * 3, "0.690", "0.490", "**0.640**"]
    assert table_rows(text, "FT+LoRA")[1] == [
        "FT+LoRA", "M/B", "M", "B", "**0.630**", "**0.370**", "0.190"
    ]  # fmt: skip
    assert table_rows(text, "FineTuned")[1][-1] == "**0.300**"
    assert "***" not in text
    assert "A column with an n/a cell has no *: significance was not tested" in text
    listed = [line for line in text.splitlines() if line.startswith("- ")]
    assert len(listed) == 8
    rows = read_csv(tmp_path / "out" / "table1.csv")
    assert not [r for r in rows if r["starred"] == "True"]
    # the p-values against the best of the rows that have values stay in the CSV
    others = [r for r in rows if r["status"] == "done" and r["best"] == "False"]
    assert len(others) == 3 and all(float(r["p_value_best_greater"]) for r in others)
    assert {r["runs"] for r in rows if r["status"] == "done"} == {"3"}


def test_tables_of_a_grid_in_progress(tmp_path):
    root = tmp_path / "runs"
    done = {key: v for key, v in RESULTS.items() if key[0] in ("finetune", "lora")}
    make_grid(root, runs=done)
    # started, no results yet: one with the run_info.json a run may write
    # first, one with only what SpeechBrain writes when a run starts
    ft_lora = root / "wavlm-small" / B / "ft_lora" / "1"
    ft_lora.mkdir(parents=True)
    (ft_lora / "run_info.json").write_text(
        json.dumps(run_info("wavlm-small", "ft_lora", B, 1))
    )
    ft_dual = root / "wavlm-small" / M / "ft_dual" / "1"
    (ft_dual / "save").mkdir(parents=True)
    (ft_dual / "hyperparams.yaml").write_text(
        "configuration: ft_dual\nseed: 1\ncorpus: MSP-Podcast\n"
        "cross_corpus: BIIC-Podcast\ntrain_subset:\nssl_hub: /models/wavlm-small\n"
        "__set_seed: !apply:speechbrain.utils.seed_everything [1]\n"
    )
    # a third seed of a finished group, still running
    third = root / "wavlm-small" / M / "lora" / "3"
    third.mkdir(parents=True)
    (third / "run_info.json").write_text(
        json.dumps(run_info("wavlm-small", "lora", M, 3))
    )
    text = write_tables(str(root), str(tmp_path / "out"), "seeds")
    assert table_rows(text, "LoRA")[0][4:] == ["0.600", "0.400", "0.550"]
    assert table_rows(text, "FT+LoRA")[1][4:] == ["n/a", "n/a", "n/a"]
    assert (
        "- FT+LoRA, MSP-Podcast then BIIC-Podcast (configuration ft_lora, corpus "
        f"BIIC-Podcast, encoder wavlm-small): started, no results.json yet "
        f"(running or stopped): {ft_lora}" in text
    )
    assert (
        "- FT(dual), BIIC-Podcast then MSP-Podcast (configuration ft_dual, corpus "
        "MSP-Podcast, encoder wavlm-small): started, no results.json yet "
        f"(running or stopped): {ft_dual}" in text
    )
    assert f"more seeds started, not in the means yet: {third}" in text
    assert text.count(": not run") == 4  # off-the-shelf x2, FT(dual) B, FT+LoRA M
    rows = read_csv(tmp_path / "out" / "table2.csv")
    status = {(r["configuration"], r["corpus"]): r["status"] for r in rows}
    assert status[("ft_lora", B)] == "started"
    assert status[("ft_dual", M)] == "started"
    assert status[("off_the_shelf", M)] == "not run"
    assert status[("lora", M)] == "done"


def test_tables_of_an_empty_folder_say_so_and_exit_with_status_1(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert experiments(["tables", str(empty)]) == 1
    error = capsys.readouterr().err
    assert error == (
        "error: experiments tables: no finished run (results.json + run_info.json) "
        f"in {empty}\n"
    )
    assert not (empty / "tables").exists()
    assert experiments(["tables", str(tmp_path / "nowhere")]) == 1
    assert "nowhere: no such folder" in capsys.readouterr().err
    # only started runs: they are named
    started = empty / "wavlm-small" / B / "ft_lora" / "1"
    started.mkdir(parents=True)
    (started / "run_info.json").write_text(
        json.dumps(run_info("wavlm-small", "ft_lora", B, 1))
    )
    assert experiments(["tables", str(empty)]) == 1
    assert f"1 started, not finished yet:\n  {started}" in capsys.readouterr().err


def test_a_broken_run_file_is_named_not_a_traceback(tmp_path, capsys):
    folder = make_run(
        tmp_path / "runs", "wavlm-small", "lora", M, 1, RESULTS[("lora", M)]
    )
    (folder / "results.json").write_text('{"MSP-Podcast": {"arousal": 0.5}')
    assert experiments(["tables", str(tmp_path / "runs"), "--samples=seeds"]) == 1
    error = capsys.readouterr().err
    assert f"{folder / 'results.json'}: cannot be read as JSON" in error
    (folder / "results.json").write_text('{"MSP-Podcast": {"arousal": 0.5}}')
    assert experiments(["tables", str(tmp_path / "runs"), "--samples=seeds"]) == 1
    assert "MSP-Podcast must give a number for each of arousal, valence" in (
        capsys.readouterr().err
    )
    make_run(tmp_path / "runs", "wavlm-small", "lora", M, 2, RESULTS[("lora", M)], lr=1)
    (folder / "results.json").write_text(json.dumps({}))
    assert experiments(["tables", str(tmp_path / "runs"), "--samples=seeds"]) == 1
    assert "differ in more than the seed" in capsys.readouterr().err


def test_calibrated_ccc_is_shown_next_to_the_raw_ccc(tmp_path):
    root = tmp_path / "runs"
    raw = {M: (0.70, 0.02, 0.60), B: (0.39, -0.01, 0.30)}
    calibrated = {M: (0.72, 0.05, 0.61), B: (0.45, 0.03, 0.31)}
    for seed in (1, 2):
        folder = make_run(
            root, "wavlm-small", "finetune", M, seed, raw, calibrated=calibrated
        )
    # the fitted map may be recorded too: it is not a corpus
    results = json.loads((folder / "results.json").read_text())
    results["calibration"] = {"attributes": {}, "min_correlation": 0.1}
    (folder / "results.json").write_text(json.dumps(results))
    # a run from before calibration existed: raw only
    make_run(root, "wavlm-small", "lora", M, 1, {M: (0.80, 0.01, 0.50), B: raw[B]})
    low = (0.10, -0.20, 0.10)
    make_run(root, "wavlm-small", "off_the_shelf", M, 1, {M: low, B: low})
    text = write_tables(str(root), str(tmp_path / "out"), "seeds")
    assert table_rows(text, "FineTuned")[0][4:] == [
        "0.700 (0.720)",
        "**0.020** (0.050)",
        "**0.600** (0.610)",
    ]
    # bold is decided on the raw CCC (the paper's protocol)
    assert table_rows(text, "LoRA")[0][4:] == ["**0.800**", "0.010", "0.500"]
    # a tie for the best: both bold (the third row is lower)
    assert table_rows(text, "LoRA")[1][4:] == ["**0.390**", "**-0.010**", "**0.300**"]
    assert "In parentheses: the CCC after the development-set calibration" in text
    rows = read_csv(tmp_path / "out" / "table1.csv")
    finetune = {
        r["attribute"]: r
        for r in rows
        if r["configuration"] == "finetune" and r["test_corpus"] == M
    }
    assert finetune["valence"]["ccc"] == "0.020000"
    assert finetune["valence"]["ccc_calibrated"] == "0.050000"
    lora = [r for r in rows if r["configuration"] == "lora" and r["status"] == "done"]
    assert {r["ccc_calibrated"] for r in lora} == {"n/a"}


def test_tables_without_prediction_files_make_no_significance_claim(tmp_path):
    # partitions are the default samples; hand-made runs have no predictions
    make_grid(tmp_path / "runs")
    text = write_tables(str(tmp_path / "runs"), str(tmp_path / "out"))
    assert EXPECTED_TABLE1.replace("**0.640***", "**0.640**") in text
    assert "No significance test for these runs' cells" in text
    rows = read_csv(tmp_path / "out" / "table1.csv")
    assert {r["p_value_best_greater"] for r in rows} == {""}


def write_predictions(folder, test_corpus, n, unlabeled=0):
    """A run's test predictions: ``n`` labelled utterances (and unlabeled ones)."""
    rng = np.random.default_rng(n)
    lines = ["ID,arousal,true_arousal,valence,true_valence,dominance,true_dominance"]
    for i in range(n):
        values = rng.uniform(1, 7, 6).round(3)
        lines.append(f"u{i}," + ",".join(str(v) for v in values))
    lines += [f"x{i},4,,4,,4," for i in range(unlabeled)]
    (folder / "predictions").mkdir()
    (folder / "predictions" / f"{test_corpus}_test.csv").write_text(
        "\n".join(lines) + "\n"
    )


@pytest.mark.parametrize(
    "option, message",
    [
        ("--k=0", "argument --k: 0 partitions; a t-test needs at least 2 samples"),
        ("--k=1", "argument --k: 1 partitions; a t-test needs at least 2 samples"),
        ("--alpha=2", "argument --alpha: 2.0 is not in (0, 1)"),
        ("--alpha=-1", "argument --alpha: -1.0 is not in (0, 1)"),
        ("--alpha=0", "argument --alpha: 0.0 is not in (0, 1)"),
        ("--k=25", "argument --k: 25 partitions of a test set of 24 utterances"),
    ],
)
def test_tables_refuse_k_and_alpha_a_t_test_cannot_use(
    tmp_path, capsys, option, message
):
    folder = make_run(
        tmp_path / "runs", "wavlm-small", "lora", M, 1, RESULTS[("lora", M)]
    )
    write_predictions(folder, M, 24, unlabeled=3)  # 24 with labels: k <= 24
    with pytest.raises(SystemExit) as error:
        experiments(["tables", str(tmp_path / "runs"), option])
    assert error.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("python -m speechbrain_lora_ser.experiments: error:")
    assert message in lines[-1]
    assert not (tmp_path / "runs" / "tables").exists()


def test_tables_warn_when_partitions_are_too_small_for_a_useful_test(tmp_path, capsys):
    folder = make_run(
        tmp_path / "runs", "wavlm-small", "lora", M, 1, RESULTS[("lora", M)]
    )
    write_predictions(folder, M, 24)
    assert experiments(["tables", str(tmp_path / "runs"), "--k=2"]) == 0
    assert "warning" not in capsys.readouterr().err  # partitions of 12
    assert experiments(["tables", str(tmp_path / "runs"), "--k=3"]) == 0
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith(
        "warning: experiments: --k 3: partitions of as few as 8 utterances"
    )
    assert "with fewer than 10 the t-test has little power" in error[0]


def test_tables_with_one_seed_a_row_say_significance_was_not_tested(tmp_path, capsys):
    for (configuration, corpus), values in RESULTS.items():
        make_run(tmp_path / "runs", "wavlm-small", configuration, corpus, 1, values)
    output = tmp_path / "out"
    arguments = ["tables", str(tmp_path / "runs"), f"--output={output}"]
    assert experiments([*arguments, "--samples=seeds"]) == 0
    captured = capsys.readouterr()
    error = captured.err.strip().splitlines()
    assert len(error) == 1
    assert error[0].startswith(
        "warning: experiments: significance not tested (no *) for 10 runs with "
        "fewer than 2 samples (with --samples=seeds: a single seed)"
    )
    text = (output / "tables.md").read_text()
    assert "***" not in text and "**0.700**" in text  # bold, never starred
    assert (
        "No significance test for these runs' cells (fewer than 2 samples; "
        "with --samples=seeds, one seed):" in text
    )
    assert "- FT+LoRA, MSP-Podcast then BIIC-Podcast (configuration ft_lora" in text
    assert not [r for r in read_csv(output / "table1.csv") if r["starred"] == "True"]


def test_low_resource_study_makes_the_figure_from_nested_subsets(
    grid_root, recipe_data
):
    root, _, _, _ = grid_root
    low = [
        "low_resource",
        *recipe_args(recipe_data),
        f"--root={root}",
        "--corpus=BIIC-Podcast",
        "--sizes",
        "4",
        "8",
        *OVERRIDES,
    ]
    assert experiments(low) == 0
    figure = root / "low_resource.png"
    assert figure.stat().st_size > 10_000
    subsets = {}
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
        subsets[size] = set(train)
        log = (folder / "train_log.txt").read_text()
        assert "stage: stage1, mode:" not in log
    assert subsets[4] < subsets[8]


def test_experiment_commands_check_their_needs_before_any_work(recipe_data, tmp_path):
    hidden = tmp_path / "no_matplotlib"
    hidden.mkdir()
    (hidden / "matplotlib.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'matplotlib'\")\n"
    )
    root = tmp_path / "study"
    command = [
        sys.executable,
        "-m",
        "speechbrain_lora_ser.experiments",
        "low_resource",
        *recipe_args(recipe_data),
        f"--root={root}",
        "--corpus=BIIC-Podcast",
        *OVERRIDES,
    ]
    env = dict(os.environ, PYTHONPATH=str(hidden))
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    assert result.returncode != 0
    assert "needs matplotlib" in result.stderr
    assert 'pip install -c constraints.txt -e ".[experiments]"' in result.stderr
    assert not root.exists()  # nothing was trained


def test_grid_dry_run_prints_commands_that_run_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models" / "wavlm").mkdir(parents=True)  # a local encoder
    recipes = parse_recipes([f"{MSP_RECIPE}=my data/m", f"{BIIC_RECIPE}=b"])
    for nproc in (1, 4):
        runs = plan_grid("grid", recipes, "models/wavlm", nproc_per_node=nproc)
        lines = []
        run_grid(runs, dry_run=True, log=lines.append)
        for run, line in zip(runs, lines, strict=True):
            # what a POSIX shell runs: into the recipe, then the whole command
            words = shlex.split(line.splitlines()[1])
            assert words == ["cd", run["cwd"], "&&", *run["command"]]
            assert words[3] == sys.executable
    assert any(word.endswith(str(tmp_path / "my data" / "m")) for word in words)
    # the run starts in the recipe's folder: local paths are absolute
    assert f"--ssl_hub={tmp_path / 'models' / 'wavlm'}" in words
    assert f"--output_folder={tmp_path / 'grid'}" in " ".join(words)


def make_study_run(folder, corpus, values, train_utterances):
    """A finished low-resource run that trained on ``train_utterances``."""
    manifests = folder / "manifests" / corpus
    manifests.mkdir(parents=True)
    train = {f"u{i}": {} for i in range(train_utterances)}
    (manifests / "train.json").write_text(json.dumps(train))
    results = {
        corpus: dict(zip(("arousal", "valence", "dominance"), values, strict=True))
    }
    (folder / "results.json").write_text(json.dumps(results))


def low_resource_args(root, *options):
    return [
        "low_resource",
        f"--recipe={MSP_RECIPE}=m",
        f"--recipe={BIIC_RECIPE}=b",
        "--encoder=x/wavlm-small",
        f"--root={root}",
        "--corpus=BIIC-Podcast",
        *options,
    ]


def test_low_resource_refuses_sizes_not_below_the_training_set(tmp_path, capsys):
    full = tmp_path / "BIIC-Podcast" / "ft_lora" / "wavlm-small" / "1986"
    make_study_run(full, B, (0.6, 0.3, 0.5), 160)
    for dry_run in (["--dry_run"], []):
        with pytest.raises(SystemExit) as error:
            experiments(low_resource_args(tmp_path, "--sizes", "1000", "80", *dry_run))
        assert error.value.code == 2
        message = capsys.readouterr().err.strip().splitlines()[-1]
        assert (
            f"--sizes 1000: not below the 160 training utterances of BIIC-Podcast "
            f"(the manifest of {full}); a subset that large is the whole training "
            "set, as in the full-data run: give sizes below 160"
        ) in message
    assert not (full / "subset1000").exists() and not (full / "subset80").exists()
    with pytest.raises(SystemExit):
        experiments(low_resource_args(tmp_path, "--sizes", "0", "--dry_run"))
    assert "argument --sizes: 0 is not a positive size" in capsys.readouterr().err
    assert experiments(low_resource_args(tmp_path, "--sizes", "80", "--dry_run")) == 0
    assert "ft_lora, 80 utterances" in capsys.readouterr().out


def test_low_resource_leaves_out_sizes_found_too_large_once_prepared(
    tmp_path, capsys, monkeypatch
):
    # the first full-data run prepares the corpus: its size is known only then
    full = tmp_path / "BIIC-Podcast" / "ft_lora" / "wavlm-small" / "1986"
    started = []

    def fake_run_grid(runs, dry_run=False):
        started.append([run["configuration"] for run in runs])
        if len(started) == 1:
            make_study_run(full, B, (0.6, 0.3, 0.5), 160)

    monkeypatch.setattr(experiments_cli, "run_grid", fake_run_grid)
    monkeypatch.setattr(experiments_cli, "plot_low_resource", lambda *a, **k: None)
    assert experiments(low_resource_args(tmp_path, "--sizes", "1000", "80")) == 0
    assert started == [["finetune", "ft_lora"], ["ft_lora, 80 utterances"]]
    error = capsys.readouterr().err.strip().splitlines()
    assert error == [
        f"warning: experiments: --sizes 1000: not below the 160 training utterances "
        f"of BIIC-Podcast (the manifest of {full}); a subset that large is the "
        "whole training set, as in the full-data run: not run"
    ]


def test_low_resource_figure_draws_a_run_at_the_size_it_trained_on(tmp_path):
    full = tmp_path / "BIIC-Podcast" / "ft_lora" / "wavlm-small" / "1986"
    make_study_run(full, B, (0.6, 0.3, 0.5), 160)
    # a run from before the check: asked for 1000, the recipe kept all 160
    make_study_run(full / "subset1000", B, (0.6, 0.3, 0.5), 160)
    make_study_run(full / "subset80", B, (0.5, 0.2, 0.4), 80)
    warnings = []
    points, _ = read_study(str(tmp_path), B, "x/wavlm-small", warn=warnings.append)
    assert list(points) == [80, 160]
    assert warnings == [
        f"{full / 'subset1000'} asked for 1000 training utterances but trained on "
        "160 (the whole training set of BIIC-Podcast): drawn at 160"
    ]
    figure = tmp_path / "figure.png"
    plot_low_resource(str(tmp_path), B, M, "x/wavlm-small", str(figure))
    assert figure.stat().st_size > 10_000
