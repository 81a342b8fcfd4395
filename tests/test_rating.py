"""ser-rate on a local Ray and ser-select: values, resuming, failures, quotas."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest
import soundfile

from speechbrain_lora_ser import EncoderRegressor
from speechbrain_lora_ser.rating.cli import select_main
from speechbrain_lora_ser.rating.selection import candidate_windows, select_segments
from speechbrain_lora_ser.rating.store import RatingStore

from conftest import ROOT

WINDOW = ["--window_seconds=2", "--hop_seconds=1", "--uncalibrated"]


@pytest.fixture(scope="module")
def archive(recipe_data, tmp_path_factory):
    """Six recordings of 4-6 s (clips joined) and one unreadable file."""
    folder = tmp_path_factory.mktemp("archive")
    clips = sorted((recipe_data / "BIIC-Podcast" / "Audios").glob("*.wav"))
    for number in range(6):
        parts = [soundfile.read(c)[0] for c in clips[2 * number : 2 * number + 2]]
        soundfile.write(folder / f"rec{number}.wav", np.concatenate(parts), 16000)
    (folder / "broken.wav").write_bytes(b"not audio")
    return folder


def ser_rate(model, output, archive, *options):
    command = [
        sys.executable,
        "-c",
        "import sys; from speechbrain_lora_ser.rating.cli import rate_main;"
        " sys.exit(rate_main(sys.argv[1:]))",
        f"--model={model}",
        f"--output={output}",
        "--num_cpus=2",
        "--files_per_shard=1",
        *WINDOW,
        *options,
        str(archive),
    ]
    env = dict(os.environ, PYTHONPATH=ROOT)
    return command, env


@pytest.mark.slow
def test_rows_equal_predict_and_failures_are_recorded(
    trained_ft_lora, archive, tmp_path
):
    model = trained_ft_lora / "inference"
    archive = shutil.copytree(archive, tmp_path / "archive")  # repaired below
    # options the model cannot serve: one line, nothing rated, no settings kept
    command, env = ser_rate(model, tmp_path / "out", archive, "--window_seconds=0.01")
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "error: --window_seconds 0.01: shorter than the" in result.stderr
    assert "Traceback" not in result.stderr
    assert RatingStore(str(tmp_path / "out")).done_files() == set()
    command, env = ser_rate(model, tmp_path / "out", archive, "--workers=2")
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert result.returncode == 1, result.stderr[-3000:]  # one file failed
    assert "h to go" in result.stderr and "-0.000 h" not in result.stderr
    store = RatingStore(str(tmp_path / "out"))
    failures = store.failures().to_pylist()
    assert [f["file"] for f in failures] == [str(archive / "broken.wav")]
    assert "unreadable" in failures[0]["reason"]
    rows = store.ratings().to_pandas()
    files = sorted(str(p) for p in archive.glob("rec*.wav"))
    assert sorted(rows[rows.span == "file"].file) == files
    # the same values as predict's timeline, window by window
    regressor = EncoderRegressor.from_hparams(
        source=str(model), savedir=str(tmp_path / "saved")
    )
    expected = regressor.predict_files(
        files,
        return_windows=True,
        progress=False,
        calibrate=False,
        window_seconds=2,
        hop_seconds=1,
    )
    for result_row in expected:
        mine = rows[(rows.file == result_row["file"]) & (rows.span == "window")]
        mine = mine.sort_values("start")
        assert list(mine.start) == [w["start"] for w in result_row["windows"]]
        for name in ("arousal", "valence", "dominance"):
            got = mine[name].to_numpy(dtype=float)
            want = np.array([w[name] for w in result_row["windows"]], dtype=float)
            np.testing.assert_allclose(got, want, rtol=1e-5, equal_nan=True)
    # readable as one table by pandas, polars and DuckDB
    folder = str(tmp_path / "out" / "ratings")
    assert len(pd.read_parquet(folder)) == len(rows)
    assert pl.read_parquet(f"{folder}/*.parquet").height == len(rows)
    count = duckdb.sql(f"select count(*) from '{folder}/*.parquet'").fetchall()[0][0]
    assert count == len(rows)
    # the broken file repaired: the next run rates it, and fails nothing
    shutil.copy(archive / "rec0.wav", archive / "broken.wav")
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert (report["retried"], report["files"], report["failed"]) == (1, 1, 0)
    assert store.failures().num_rows == 0
    summaries = store.ratings(["file", "span"]).to_pandas().query("span == 'file'")
    assert str(archive / "broken.wav") in set(summaries.file)


@pytest.mark.slow
def test_a_killed_run_rerun_rates_each_file_once(trained_ft_lora, archive, tmp_path):
    model = trained_ft_lora / "inference"
    output = tmp_path / "out"
    command, env = ser_rate(model, output, archive)
    process = subprocess.Popen(
        command,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    parts = output / "ratings"
    deadline = time.time() + 180
    while time.time() < deadline and process.poll() is None:
        if parts.exists() and len(list(parts.glob("part-*.parquet"))) >= 2:
            break
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # the driver and its local Ray
    process.wait()
    done_before = len(list(parts.glob("part-*.parquet")))
    assert 1 <= done_before < 6, "kill the run before it ends"
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["skipped"] >= done_before
    rows = RatingStore(str(output)).ratings().to_pandas()
    summaries = rows[rows.span == "file"].file
    assert sorted(summaries) == sorted(str(p) for p in archive.glob("rec*.wav"))
    assert summaries.is_unique
    windows = rows[rows.span == "window"].groupby("file").start
    assert all(group.is_unique for _, group in windows)


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("--workers=0", "--workers must be at least 1, not 0"),
        ("--window_seconds=0", "--window_seconds must be a positive number"),
        ("--vad_threshold=2", "vad_threshold must be in (0, 1), not 2.0"),
        ("--model=MISSING", "MISSING: no such folder, and no model repository"),
        ("--model=RUN", "RUN: a training run's folder, not a model: its model is"),
    ],
)
def test_bad_arguments_are_named_in_one_line_before_ray_starts(
    trained_ft_lora, archive, tmp_path, option, expected
):
    names = {"MISSING": str(tmp_path / "typo"), "RUN": str(trained_ft_lora)}
    option = option.replace("MISSING", names["MISSING"]).replace("RUN", names["RUN"])
    expected = expected.replace("MISSING", names["MISSING"])
    expected = expected.replace("RUN", names["RUN"])
    command, env = ser_rate(trained_ft_lora / "inference", tmp_path / "out", archive)
    command.insert(command.index(str(archive)), option)  # the last one counts
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "Ray" not in result.stderr
    assert not (tmp_path / "out").exists()  # no folder to poison a re-run


def test_settings_under_which_nothing_was_rated_are_replaced(tmp_path):
    store = RatingStore(str(tmp_path))
    store.check_settings({"model": "typo"})
    store.check_settings({"model": "right"})  # nothing rated under "typo"
    store.write_shard("s1", [{"file": "a.wav", "span": "file"}], [])
    with pytest.raises(ValueError, match="model differ"):
        store.check_settings({"model": "other"})


KILLED_WRITE = """
import os, signal, sys
from speechbrain_lora_ser.atomic import replacing
with replacing(sys.argv[1]) as temporary:
    open(temporary, "w").write("half a part file")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_part_file_killed_midway_is_absent_and_its_leftover_removed(tmp_path):
    store = RatingStore(str(tmp_path))
    part = store.part("ratings", "s1")
    env = dict(os.environ, PYTHONPATH=ROOT)
    subprocess.run([sys.executable, "-c", KILLED_WRITE, part], env=env)
    assert not os.path.exists(part) and store.done_files() == set()
    assert store.remove_partials() == 1
    assert os.listdir(tmp_path / "ratings") == []


def windows_frame():
    rng = np.random.default_rng(0)
    rows = []
    for number in range(200):
        rows.append(
            {
                "file": f"f{number % 10}.wav",
                "span": "window",
                "start": float(number // 10),
                "end": float(number // 10 + 2),
                "arousal": rng.uniform(1, 7),
                "valence": rng.uniform(1, 7),
                "dominance": 4.0,
                "label_low": 1.0,
                "label_high": 7.0,
            }
        )
    rows[0]["arousal"] = None  # no speech / withheld: never chosen
    return pd.DataFrame(rows)


def test_selection_respects_quotas_and_skips_what_it_must():
    frame = windows_frame()
    import pyarrow as pa

    candidates = candidate_windows(pa.Table.from_pandas(frame), ["arousal", "valence"])
    assert len(candidates) == 199
    chosen = select_segments(candidates, 18, bins=3, min_gap=0.5)
    counts = chosen.groupby("bin").size()
    assert len(chosen) == 18 and set(counts) == {2}  # 9 bins, 2 each
    for _, group in chosen.groupby("file"):  # no overlap within a recording
        spans = sorted(zip(group.start, group.end, strict=True))
        assert all(b[0] >= a[1] + 0.5 for a, b in zip(spans, spans[1:], strict=False))
    quotas = {(0, 0): 3, (2, 2): 1}
    chosen = select_segments(candidates, 0, bins=3, quotas=quotas)
    assert chosen.groupby("bin").size().to_dict() == quotas


def test_ser_select_names_what_it_cannot_use_and_replaces_its_own_output(
    tmp_path, capsys
):
    """A model that withheld valence everywhere, a second selection into the
    same folder, more segments asked than there are, a folder of other files."""
    frame = windows_frame().assign(valence=None)
    for number in range(10):  # the recordings the windows are cut from
        path = tmp_path / f"f{number}.wav"
        soundfile.write(path, np.zeros(16000 * 22, dtype=np.float32), 16000)
        frame.loc[frame.file == f"f{number}.wav", "file"] = str(path)
    store = RatingStore(str(tmp_path / "ratings"))
    store.write_shard("s1", frame.to_dict("records"), [])
    ratings, output = str(tmp_path / "ratings"), str(tmp_path / "chosen")
    errors = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from speechbrain_lora_ser.rating.cli import select_main;"
            " sys.exit(select_main(sys.argv[1:]))",
            *(ratings, "--output", output),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=ROOT),
    )
    assert errors.returncode == 1
    assert "has a value for valence" in errors.stderr
    assert "those with values: arousal dominance" in errors.stderr
    assert not os.path.exists(output)
    for count in (30, 5):  # the second selection replaces the first whole
        assert (
            select_main(
                [ratings, "--output", output, "--count", str(count)]
                + ["--attributes", "arousal", "dominance"]
            )
            == 0
        )
        listed = pd.read_csv(os.path.join(output, "segments.csv"))
        assert len(listed) == count
        assert sorted(os.listdir(os.path.join(output, "audio"))) == sorted(
            os.path.basename(p) for p in listed.audio
        )
    assert (
        select_main(
            [ratings, "--output", output, "--count", "500", "--attributes"]
            + ["arousal", "dominance"]
        )
        == 0
    )
    chosen = len(pd.read_csv(os.path.join(output, "segments.csv")))
    assert 0 < chosen < 199  # overlapping windows of a recording: one of them
    assert f"note: {chosen} of the 500 asked: 199 windows" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == sorted(
        [*(f"f{n}.wav" for n in range(10)), "ratings", "chosen"]
    )  # no staging folder left
    with pytest.raises(SystemExit) as stopped:
        select_main([ratings, "--output", str(tmp_path)])  # other files there
    assert stopped.value.code == 2
