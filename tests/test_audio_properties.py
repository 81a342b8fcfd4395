"""Odd audio, nothing lost and nothing silent: properties over real files.

Hypothesis draws files (sample rates from 8 to 96 kHz, odd ones included;
1 to 8 channels; a few milliseconds to over a minute; eSpeak speech with
pauses, noise, silence, clipped speech, speech on a DC offset; WAV, FLAC,
OGG and MP3 as soundfile writes them) and checks that ``predict_files`` and
the timeline never crash, that every file gets exactly one row (values or an
error naming it), and that values are finite when given. Reading an
odd-rate file, for a few seconds or ten minutes, is checked to stay within
tens of megabytes (torchaudio's gcd kernel took 4.8 GB for 3 s at 8001 Hz).
"""

import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest
import soundfile
import soxr
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from speechbrain_lora_ser import EncoderRegressor
from speechbrain_lora_ser.modeling.ccc import ATTRIBUTES
from speechbrain_lora_ser.serving.decoding import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from speechbrain_lora_ser.serving.predict import main as predict_main
from speechbrain_lora_ser.serving.prediction_table import timeline_rows
from speechbrain_lora_ser.synthetic.speech_synthesis import Speaker

from conftest import ROOT

#: The rates drawn: 8 to 96 kHz, the odd ones of issue 30 among them.
RATES = [8000, 8001, 11025, 16000, 22050, 44099, 44100, 47999, 48000, 96000]
#: MPEG Layer III has a fixed set of rates and at most two channels.
MP3_RATES = [8000, 11025, 16000, 22050, 44100, 48000]
FORMATS = {
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
}
CONTENTS = ["speech", "noise", "silence", "clipped", "dc_offset"]
#: Seconds drawn: below the encoder's 25 ms, short clips, one window, over
#: one window (speech detection), over ``long_file_seconds`` (streamed).
DURATIONS = [0.004, 0.02, 0.3, 1.0, 2.5, 11.0, 70.0]
SETTINGS = settings(
    derandomize=True,
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def model(trained_ft_lora, tmp_path_factory):
    return EncoderRegressor.from_hparams(
        source=str(trained_ft_lora / "inference"),
        savedir=str(tmp_path_factory.mktemp("model")),
        run_opts={"device": "cpu"},
    )


@pytest.fixture(scope="module")
def speech():
    """Two eSpeak sentences and the rate they were spoken at."""
    speaker = Speaker()
    said = [
        speaker.say("We talked about the weather and the news.", voice="en-us"),
        speaker.say("I did not expect that at all, really.", voice="en-us+f3"),
    ]
    return [wav for wav, _ in said], said[0][1]


@st.composite
def audio_files(draw):
    """What a file is: format, rate, channels, seconds, content, a seed."""
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    seconds = draw(st.sampled_from(DURATIONS))
    rates = MP3_RATES if fmt == "mp3" else RATES
    most = 2 if fmt == "mp3" or seconds > 20 else 8
    return {
        "format": fmt,
        "rate": draw(st.sampled_from(rates)),
        "channels": draw(st.integers(1, most)),
        "seconds": seconds,
        "content": draw(st.sampled_from(CONTENTS)),
        "seed": draw(st.integers(0, 2**16)),
    }


def mono_content(spec, speech):
    """The file's signal at its rate, one channel (before the channel gains)."""
    rate, count = spec["rate"], max(1, round(spec["seconds"] * spec["rate"]))
    rng = np.random.default_rng(spec["seed"])
    if spec["content"] == "silence":
        return np.zeros(count, dtype=np.float32)
    if spec["content"] == "noise":
        return (0.1 * rng.standard_normal(count)).astype(np.float32)
    sentences, spoken = speech
    parts, total = [], 0
    while total < count:  # sentences with pauses of room noise between
        wav = sentences[len(parts) % len(sentences)]
        said = soxr.resample(wav, spoken, rate).astype(np.float32)
        pause = (0.002 * rng.standard_normal(int(rng.uniform(0.2, 1.5) * rate))).astype(
            np.float32
        )
        parts += [0.3 * said / np.abs(said).max(), pause]
        total += said.shape[0] + pause.shape[0]
    signal = np.concatenate(parts)[:count]
    if spec["content"] == "clipped":
        signal = np.clip(20 * signal, -0.99, 0.99)
    elif spec["content"] == "dc_offset":
        signal = 0.5 * signal + 0.4
    return signal.astype(np.float32)


def write_file(folder, index, spec, speech):
    """Write the drawn file; the channels are the signal at several gains.

    Written 10 s at a time: libsndfile 1.2.2's Vorbis encoder crashes the
    process (SIGSEGV) on a single write of about 3 million frames (60 s at
    48 kHz stereo); reading such files in blocks is fine.
    """
    mono = mono_content(spec, speech)
    gains = np.linspace(1.0, 0.4, spec["channels"], dtype=np.float32)
    fmt, subtype = FORMATS[spec["format"]]
    path = os.path.join(folder, f"f{index}_{spec['rate']}.{spec['format']}")
    rate, block = spec["rate"], 10 * spec["rate"]
    with soundfile.SoundFile(
        path, "w", rate, spec["channels"], subtype=subtype, format=fmt
    ) as handle:
        for start in range(0, mono.shape[0], block):
            handle.write(mono[start : start + block, None] * gains[None, :])
    return path


def check_rows(paths, specs, results):
    """One row per file, in order; an error names the file; values finite."""
    assert [r["file"] for r in results] == paths
    for path, spec, row in zip(paths, specs, results, strict=True):
        given = [row[a] for a in ATTRIBUTES if row[a] is not None]
        assert all(math.isfinite(v) for v in given), row
        if row["error"] is not None:
            assert row["error"].startswith(path + ": ")
            assert not given
            # the only error such a file may get: shorter than the encoder
            assert spec["seconds"] < 0.05 and "ms long" in row["error"], row
        elif not given and len(row["not_learned"]) < len(ATTRIBUTES):
            assert "withheld" in row["warning"] or "rated" in row["warning"], row
        if spec["seconds"] >= 0.05:
            assert row["error"] is None, (spec, row["error"])


def check_timeline(paths, results):
    """Each file's windows, then exactly one file row spanning it."""
    rows = timeline_rows(results)
    files = [r for r in rows if r["span"] == "file"]
    assert [r["file"] for r in files] == paths
    assert len(rows) == len(files) + sum(len(r.get("windows") or []) for r in results)
    for row in rows:
        if row["span"] == "window":
            duration = next(r["duration"] for r in results if r["file"] == row["file"])
            assert 0 <= row["start"] < row["end"] <= duration + 1e-6
            if row[ATTRIBUTES[0]] is not None:
                assert all(math.isfinite(row[a]) for a in ATTRIBUTES)


@SETTINGS
@given(specs=st.lists(audio_files(), min_size=1, max_size=3))
def test_every_file_gets_one_row_and_finite_values(model, speech, specs):
    with tempfile.TemporaryDirectory() as folder:
        paths = [write_file(folder, i, s, speech) for i, s in enumerate(specs)]
        results = model.predict_files(
            paths, batch_size=4, return_windows=True, calibrate=False, clip=False
        )
        check_rows(paths, specs, results)
        check_timeline(paths, results)


def test_a_refused_rate_is_an_error_row_and_the_good_file_is_rated(
    trained_ft_lora, speech, tmp_path
):
    """A folder through the command line: each file its row, the run goes on."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    good = write_file(
        folder,
        0,
        {"format": "wav", "rate": 44099, "channels": 2, "seconds": 3.0}
        | {"content": "speech", "seed": 0},
        speech,
    )
    low = str(folder / "low.wav")
    soundfile.write(low, np.zeros(2000, dtype=np.float32), MIN_SAMPLE_RATE // 2)
    high = str(folder / "high.wav")
    soundfile.write(
        high, np.zeros(2 * MAX_SAMPLE_RATE, np.float32), 2 * MAX_SAMPLE_RATE
    )
    output = tmp_path / "out.csv"
    status = predict_main(
        ["--model", str(trained_ft_lora / "inference"), "--output", str(output)]
        + ["--savedir", str(tmp_path / "saved"), "--no_progress", "--uncalibrated"]
        + [str(folder)]
    )
    assert status == 1  # some file failed, and the run said so
    rows = {os.path.basename(r["file"]): r for r in csv.DictReader(output.open())}
    assert set(rows) == {os.path.basename(good), "low.wav", "high.wav"}
    assert rows[os.path.basename(good)]["error"] == ""
    assert all(
        math.isfinite(float(rows[os.path.basename(good)][a])) for a in ATTRIBUTES
    )
    for name, rate in (
        ("low.wav", MIN_SAMPLE_RATE // 2),
        ("high.wav", 2 * MAX_SAMPLE_RATE),
    ):
        assert rows[name]["error"] == (
            f"{folder / name}: sample rate {rate} Hz is not accepted "
            f"({MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz)"
        )
        assert all(rows[name][a] == "" for a in ATTRIBUTES)


class FailsOnLoudAudio(EncoderRegressor):
    """A model whose rating raises (a RuntimeError, not an AudioProblem) on
    any batch holding a sample above 0.9: stands for the failures a CPU test
    cannot produce for real (a GPU out of memory, a kernel's bug)."""

    def rate_batch(self, wavs, wav_lens=None, language=None, calibrate=True):
        if wavs.abs().max() > 0.9:
            raise RuntimeError("kernel failed on this input")
        return super().rate_batch(wavs, wav_lens, language, calibrate)


def test_an_unexpected_error_fails_its_file_alone(trained_ft_lora, speech, tmp_path):
    failing = FailsOnLoudAudio.from_hparams(
        source=str(trained_ft_lora / "inference"), savedir=str(tmp_path / "saved")
    )
    spec = {"format": "wav", "rate": 22050, "channels": 1, "seconds": 2.5}
    quiet = [spec | {"content": "speech", "seed": s} for s in range(3)]
    loud = spec | {"content": "clipped", "seed": 9}
    specs = [quiet[0], loud, quiet[1], quiet[2]]
    paths = [write_file(tmp_path, i, s, speech) for i, s in enumerate(specs)]
    for batch_size in (1, 4):  # the loud file alone, or in a batch with others
        rows = failing.predict_files(paths, batch_size=batch_size, calibrate=False)
        assert [r["file"] for r in rows] == paths
        assert rows[1]["error"] == (
            f"{paths[1]}: RuntimeError: kernel failed on this input"
        )
        assert all(rows[1][a] is None for a in ATTRIBUTES)
        for row in rows[:1] + rows[2:]:
            assert row["error"] is None
            assert all(math.isfinite(row[a]) for a in ATTRIBUTES)
    long_loud = write_file(tmp_path, 9, loud | {"seconds": 70.0}, speech)
    row = failing.predict_files([long_loud], calibrate=False, vad=False)[0]
    assert row["error"].startswith(f"{long_loud}: RuntimeError: ")


MEMORY_CHILD = textwrap.dedent(
    """
    import json, sys
    import torch
    torch.set_num_threads(1)
    from speechbrain_lora_ser.serving.long_audio import stream_windows
    peaks = {}
    for path in sys.argv[1:]:
        # the peak RSS (VmHWM) from here: writing 5 to clear_refs resets it
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        with open("/proc/self/status") as handle:
            rss = next(r for r in handle if r.startswith("VmRSS:"))
        count = sum(1 for _ in stream_windows(path, 16000, 10.0, 5.0, vad=False))
        with open("/proc/self/status") as handle:
            peak = next(r for r in handle if r.startswith("VmHWM:"))
        peaks[path] = (int(peak.split()[1]) - int(rss.split()[1])) / 1024
    print(json.dumps(peaks))
    """
)


def write_noise(path, rate, seconds):
    """Mono 16-bit noise, written a minute at a time."""
    rng = np.random.default_rng(rate)
    with soundfile.SoundFile(path, "w", samplerate=rate, channels=1) as handle:
        for start in range(0, int(seconds), 60):
            block = min(60, seconds - start)
            handle.write((0.1 * rng.standard_normal(int(block * rate))).astype("f4"))
    return path


def test_reading_odd_rates_holds_tens_of_megabytes_at_any_length(tmp_path):
    """Streaming odd-rate files of 3 s and 10 min through the serving path
    (soxr in blocks): the growth of peak RSS is tens of MB, and the same for
    both lengths, where torchaudio's gcd kernel took 4.8 GB for 3 s at 8001 Hz."""
    paths = {
        (rate, seconds): write_noise(
            str(tmp_path / f"{rate}_{seconds}.wav"), rate, seconds
        )
        for rate in (8001, 44099)
        for seconds in (3, 600)
    }
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, *paths.values()],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    peaks = json.loads(result.stdout.strip().splitlines()[-1])
    growth = {key: peaks[path] for key, path in paths.items()}
    # a window plus a block at the input rate, float32, is what is held
    block_mb = 4 * (20 * 44099 + 10 * 16000) / 2**20
    for megabytes in growth.values():
        assert megabytes < 16 * block_mb, growth  # tens of MB: far less than 1 GB
    for rate in (8001, 44099):
        assert abs(growth[rate, 600] - growth[rate, 3]) < 8 * block_mb, growth


def test_the_torch_side_reads_what_the_torch_free_reader_reads(tmp_path):
    """The torch side's tensor is the torch-free reader's array, to the bit."""
    from speechbrain_lora_ser.serving.audio import read_audio
    from speechbrain_lora_ser.serving.decoding import read_audio as read_array

    path = write_noise(str(tmp_path / "odd.wav"), 47999, 2.5)
    assert torch.equal(
        read_audio(path, 16000), torch.from_numpy(read_array(path, 16000))
    )
