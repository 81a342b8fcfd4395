"""Experiment tooling: the grid on real runs, the paper's tables, the study."""

import csv
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from scipy import stats

from speechbrain_lora_ser.experiments.__main__ import main as experiments
from speechbrain_lora_ser.experiments.grid import parse_recipes, plan_grid
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
    # the nine runs that would fill the rest
    listed = [line for line in text.splitlines() if line.startswith("- ")]
    assert len(listed) == 9 and all(line.endswith(": not run") for line in listed)
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
    # two rows, three seeds each: bold and Welch's test compare them
    assert table1[0] == [
        "FineTuned", *["n/a"] * 3, "**0.700***", "**0.500***", "0.600"
    ]  # fmt: skip
    assert table1[1] == ["FT+LoRA", *["n/a"] * 3, "0.690", "0.490", "**0.640***"]
    assert table_rows(text, "FT+LoRA")[1] == [
        "FT+LoRA", "M/B", "M", "B", "**0.630***", "**0.370***", "0.190"
    ]  # fmt: skip
    assert table_rows(text, "FineTuned")[1][-1] == "**0.300***"
    listed = [line for line in text.splitlines() if line.startswith("- ")]
    assert len(listed) == 8
    rows = read_csv(tmp_path / "out" / "table1.csv")
    starred = [r for r in rows if r["starred"] == "True"]
    assert [(r["configuration"], r["attribute"]) for r in starred] == [
        ("finetune", "arousal"),
        ("finetune", "valence"),
        ("ft_lora", "dominance"),
    ]
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
