"""The prediction command line: checked arguments, output that survives kills.

Runs the real command (``python -m speechbrain_lora_ser.serving.predict``) on a
model the recipe trained and exported, on real audio files.
"""

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speechbrain_lora_ser.serving.inference import EncoderRegressor
from speechbrain_lora_ser.serving.model_loading import NotAModelFolder
from speechbrain_lora_ser.serving.predict import main, write_rows
from speechbrain_lora_ser.serving.prediction_table import (
    PartialTable,
    complete_records,
    csv_text,
)

from conftest import predict_command

ATTRIBUTES = ("arousal", "valence", "dominance")
FILES = 48


@pytest.fixture(scope="module")
def model(trained_ft_lora):
    return trained_ft_lora / "inference"


@pytest.fixture(scope="module")
def many_files(recipe_data, tmp_path_factory):
    """48 short real recordings (the demo corpus's, each copied twice)."""
    folder = tmp_path_factory.mktemp("many")
    sources = sorted((recipe_data / "MSP-Podcast" / "Audios").glob("*.wav"))
    for i in range(FILES):
        shutil.copy(sources[i % len(sources)], folder / f"clip{i:03d}.wav")
    return folder


@pytest.fixture(scope="module")
def uninterrupted(model, many_files, tmp_path_factory):
    """The rows of one uninterrupted run over ``many_files``."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    output = folder / "out.csv"
    command = predict_command(
        model, output, folder / "savedir", many_files, options=["--no_progress"]
    )
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return output.read_bytes(), folder / "savedir"


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def parse_rows(data):
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def assert_same_values(rows, reference):
    by_file = {row["file"]: row for row in reference}
    assert sorted(row["file"] for row in rows) == sorted(by_file)
    for row in rows:
        for name in ATTRIBUTES:
            expected = by_file[row["file"]][name]
            if expected == "":
                assert row[name] == ""
            else:
                assert abs(float(row[name]) - float(expected)) <= 1e-4, row["file"]


# ---------------------------------------------------------------------------
# Killed and resumed; full disk
# ---------------------------------------------------------------------------


def test_a_killed_run_keeps_its_rows_and_resume_completes_it(
    model, many_files, uninterrupted, tmp_path
):
    output = tmp_path / "out.csv"
    output.write_text("previous results\n")
    partial = tmp_path / "out.csv.partial"
    options = ["--no_progress", "--files_per_chunk", "2", "--batch_size", "2"]
    command = predict_command(
        model, output, uninterrupted[1], many_files, options=options
    )
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if partial.exists() and partial.read_bytes().count(b"\n") >= 5:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()

    assert output.read_text() == "previous results\n"  # untouched
    data = partial.read_bytes()
    records, length = complete_records(data, "csv")
    kept = read_rows(partial)[: len(records) - 1]
    assert 4 <= len(kept) < FILES  # rows written as files finished
    assert all(len(row) == len(kept[0]) and None not in row.values() for row in kept)
    reference = parse_rows(uninterrupted[0])
    for row in kept:  # each kept row is whole: the uninterrupted run's values
        assert_same_values([row], [r for r in reference if r["file"] == row["file"]])

    result = subprocess.run(
        [*command[:-1], "--resume", command[-1]], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert not partial.exists()
    rows = read_rows(output)
    assert len(rows) == FILES and len({row["file"] for row in rows}) == FILES
    assert_same_values(rows, reference)


#: The command line under a file-size limit (RLIMIT_FSIZE: writing past it
#: fails as on a full disk). The limit is set once torch and the package are
#: imported: importing torch writes a generated module of a few kB, which
#: would otherwise fail first and prove nothing about the output.
SMALL_DISK = """
import resource, sys
import torch.distributed.nn  # writes its generated module
import speechbrain_lora_ser.serving.inference
from speechbrain_lora_ser.serving.predict import main
limit = int(sys.argv.pop(1))
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
sys.exit(main(sys.argv[1:]))
"""


def test_a_full_disk_leaves_the_previous_output_intact(
    model, many_files, uninterrupted, tmp_path
):
    output = tmp_path / "out.csv"
    output.write_bytes(uninterrupted[0])
    limit = len(uninterrupted[0]) // 3  # the disk fills a third of the way
    command = predict_command(
        model, output, uninterrupted[1], many_files, options=["--no_progress"]
    )
    command[1:3] = ["-c", SMALL_DISK, str(limit)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert output.read_bytes() == uninterrupted[0]  # the previous one, whole
    assert result.returncode == 1, result.stderr[-2000:]
    assert "File too large" in result.stderr and "--resume" in result.stderr
    partial = open(str(output) + ".partial", "rb").read()
    kept = parse_rows(partial[: complete_records(partial, "csv")[1]])
    assert 0 < len(kept) < FILES  # the rows that fit are kept for --resume


# ---------------------------------------------------------------------------
# The partial file, cut anywhere
# ---------------------------------------------------------------------------

NAMES = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
    max_size=12,
)
COLUMNS = ["file", "arousal", "out_of_range", "error"]


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
)
@given(
    names=st.lists(NAMES, min_size=1, max_size=8, unique=True),
    values=st.lists(st.floats(-10, 10), min_size=8, max_size=8),
    cut=st.floats(0, 1),
)
def test_a_partial_file_cut_anywhere_resumes_to_the_full_output(names, values, cut):
    rows = [
        {"file": name, "arousal": value, "out_of_range": ["valence"], "error": name}
        for name, value in zip(names, values, strict=False)
    ]
    folder = tempfile.mkdtemp()
    path = os.path.join(folder, "out.csv")
    table = PartialTable(path, "csv", COLUMNS)
    for row in rows:
        table.write([row])
    data = open(path + ".partial", "rb").read()
    assert data == csv_text(rows, COLUMNS, header=True).encode()
    position = round(cut * len(data))
    with open(path + ".partial", "wb") as stream:
        stream.write(data[:position])

    resumed = PartialTable(path, "csv", COLUMNS, resume=True)
    whole = [
        row
        for row in rows
        if len(csv_text(rows[: rows.index(row) + 1], COLUMNS, header=True).encode())
        <= position
    ]
    assert resumed.done == {row["file"] for row in whole}
    resumed.write([row for row in rows if row["file"] not in resumed.done])
    resumed.finish()
    assert open(path, "rb").read() == data  # as if never interrupted
    shutil.rmtree(folder)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_timeline_resumes_only_files_whose_rows_are_all_written(tmp_path, fmt):
    columns = ["file", "span", "arousal"]
    rows = [
        {"file": "a.wav", "span": "window", "arousal": "4.5"},
        {"file": "a.wav", "span": "file", "arousal": "4.5"},
        {"file": "b.wav", "span": "window", "arousal": "3.5"},
        {"file": "b.wav", "span": "window", "arousal": "2.5"},
        {"file": "b.wav", "span": "file", "arousal": "3.0"},
    ]
    end = ("span", "file")
    path = str(tmp_path / f"out.{fmt}")
    table = PartialTable(path, fmt, columns, end=end)
    table.write(rows[:4])  # killed before b.wav's summary row
    table.stream.close()
    resumed = PartialTable(path, fmt, columns, resume=True, end=end)
    assert resumed.done == {"a.wav"}
    resumed.write(rows[2:])
    resumed.finish()
    assert not os.path.exists(path + ".partial")
    if fmt == "json":
        assert json.load(open(path)) == rows
    else:
        assert parse_rows(open(path, "rb").read()) == rows


# ---------------------------------------------------------------------------
# Arguments checked before any work
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, message",
    [
        (["--hop_seconds", "-1"], "--hop_seconds must be a positive"),
        (["--batch_size", "0"], "--batch_size must be at least 1"),
        (["--window_seconds", "0"], "--window_seconds must be a positive"),
        (["--window_seconds", "0.01"], "shorter than the"),
        (["--language", "XX"], "--language XX"),
        (["--files_per_chunk", "0"], "--files_per_chunk must be at least 1"),
        (["--vad_threshold", "1.5"], "--vad_threshold must be in (0, 1)"),
        (["--min_speech_share", "-0.1"], "--min_speech_share must be in [0, 1]"),
        (["--hop_seconds", "30", "--window_seconds", "2"], "longer than the window"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    model, many_files, tmp_path, capsys, options, message
):
    output = tmp_path / "out.csv"
    argv = ["--model", str(model), "--output", str(output), "--no_progress"]
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--savedir", str(tmp_path / "m"), *options, str(many_files)])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err
    assert not output.exists() and not os.path.exists(str(output) + ".partial")


def test_a_run_folder_and_a_missing_file_are_named_for_what_they_are(
    trained_ft_lora, model, many_files, tmp_path, capsys
):
    output = tmp_path / "out.csv"
    argv = ["--output", str(output), "--no_progress", "--savedir", str(tmp_path)]
    # the run's folder instead of its model: told where the model is
    assert main([*argv, "--model", str(trained_ft_lora), str(many_files)]) == 2
    assert (
        f"{trained_ft_lora}: a training run's folder, not a model: its model is "
        f"{model}" in capsys.readouterr().err
    )
    assert not output.exists()
    # a path that does not exist: its row says so, the other file is rated
    gone = tmp_path / "gone" / "clip.wav"
    assert main([*argv, "--model", str(model), str(many_files / "clip000.wav"),
                 str(gone)]) == 1  # fmt: skip
    rows = {row["file"]: row for row in read_rows(output)}
    assert rows[str(gone)]["error"] == f"{gone}: no such file"
    assert rows[str(many_files / "clip000.wav")]["error"] == ""
    # from Python: a mistyped folder is no such folder (not a Hub error)
    with pytest.raises(NotAModelFolder, match="typo: no such folder"):
        EncoderRegressor.from_hparams(source=str(tmp_path / "typo"))


def test_without_savedir_the_model_links_leave_no_folder_behind(
    model, many_files, tmp_path
):
    scratch = tmp_path / "tmp"  # the process's temporary folder
    scratch.mkdir()
    command = predict_command(
        model, tmp_path / "out.csv", "unused", many_files / "clip000.wav"
    )
    del command[command.index("--savedir") : command.index("--savedir") + 2]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(read_rows(tmp_path / "out.csv")) == 1
    assert not [p.name for p in scratch.iterdir() if p.name.startswith("ser_model_")]


def test_an_unwritable_output_is_refused_before_the_model_loads(
    model, many_files, tmp_path, capsys
):
    savedir = tmp_path / "savedir"
    (tmp_path / "killed.csv.partial").write_text("file\nkept.wav\n")
    for output, message in [
        (tmp_path / "missing" / "x.csv", "does not exist"),
        (tmp_path, "is a folder"),
        (tmp_path / "killed.csv", "add --resume to keep them"),
    ]:
        argv = ["--model", str(model), "--output", str(output)]
        with pytest.raises(SystemExit) as stop:
            main([*argv, "--savedir", str(savedir), str(many_files)])
        assert stop.value.code == 2
        assert message in capsys.readouterr().err
    assert not savedir.exists()  # refused before any work
    assert (tmp_path / "killed.csv.partial").read_text() == "file\nkept.wav\n"


# ---------------------------------------------------------------------------
# Cells and files
# ---------------------------------------------------------------------------


def test_formula_cells_are_written_as_text(tmp_path):
    output = tmp_path / "out.csv"
    names = ["=HYPERLINK(1).wav", "+1.wav", "-2.wav", "@SUM.wav", "\tx.wav", "ok.wav"]
    rows = [{"file": name, "arousal": -0.5, "warning": "=1+1"} for name in names]
    write_rows(rows, str(output), "csv")
    written = read_rows(output)
    for name, row in zip(names, written, strict=True):
        expected = name if name == "ok.wav" else "'" + name
        assert row["file"] == expected
        assert row["warning"] == "'=1+1"
        assert row["arousal"] == "-0.5"  # numbers stay numbers


def test_a_file_reached_twice_is_rated_once(model, recipe_data, tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    source = sorted((recipe_data / "MSP-Podcast" / "Audios").glob("*.wav"))[0]
    shutil.copy(source, folder / "a.wav")
    os.symlink(folder / "a.wav", folder / "link.wav")
    output = tmp_path / "out.csv"
    command = predict_command(
        model,
        output,
        tmp_path / "m",
        folder,
        folder / "a.wav",
        options=["--no_progress"],
    )
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert [os.path.basename(row["file"]) for row in read_rows(output)] == ["a.wav"]
