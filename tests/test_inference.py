"""EncoderRegressor and the command line, on a model trained by the recipe."""

import csv
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch
import torchaudio.functional

from speechbrain_lora_ser import EncoderRegressor
from speechbrain_lora_ser.modeling.lora import has_lora
from speechbrain_lora_ser.serving.audio import AudioProblem

from conftest import predict_command

ATTRIBUTES = ("arousal", "valence", "dominance")


@pytest.fixture(scope="module")
def merged(trained_ft_lora, tmp_path_factory):
    return EncoderRegressor.from_hparams(
        source=str(trained_ft_lora / "inference"),
        savedir=str(tmp_path_factory.mktemp("merged")),
    )


@pytest.fixture(scope="module")
def unmerged(trained_ft_lora, tmp_path_factory):
    return EncoderRegressor.from_hparams(
        source=str(trained_ft_lora / "inference_unmerged"),
        savedir=str(tmp_path_factory.mktemp("unmerged")),
    )


def assert_served(row):
    """A CLI row: each attribute on the scale, or empty and named not learned."""
    not_learned = [a for a in row["not_learned"].split(";") if a]
    for name in ATTRIBUTES:
        if name in not_learned:
            assert row[name] == ""
        else:
            assert 1.0 <= float(row[name]) <= 7.0


def recipe_predictions(run, corpus):
    with open(run / "predictions" / f"{corpus}_test.csv") as f:
        return list(csv.DictReader(f))


def audio_path(data, corpus, utt_id):
    return str(data / corpus / "Audios" / f"{utt_id}.wav")


@pytest.mark.parametrize("corpus", ["BIIC-Podcast", "MSP-Podcast"])
def test_predict_file_returns_the_recipe_test_predictions(
    corpus, merged, trained_ft_lora, recipe_data
):
    rows = recipe_predictions(trained_ft_lora, corpus)
    assert rows
    low, high = merged.label_range
    for row in rows:
        path = audio_path(recipe_data, corpus, row["ID"])
        # the recipe rates the whole utterance: speech detection off
        raw = merged.predict_file(path, clip=False, calibrate=False, vad=False)
        clipped = merged.predict_file(path, calibrate=False, vad=False)
        for name in ATTRIBUTES:
            assert abs(raw[name] - float(row[name])) <= 1e-3, (row["ID"], name)
            assert clipped[name] == pytest.approx(min(max(raw[name], low), high))
            assert (name in clipped["out_of_range"]) == (not low <= raw[name] <= high)


def test_predict_batch_of_mixed_lengths_equals_predict_file(merged, recipe_data):
    files = sorted((recipe_data / "MSP-Podcast" / "Audios").glob("*.wav"))[:5]
    files += sorted((recipe_data / "BIIC-Podcast" / "Audios").glob("*.wav"))[:3]
    wavs = [merged.read_audio(str(f)) for f in files]
    assert len({w.shape[0] for w in wavs}) > 1
    longest = max(w.shape[0] for w in wavs)
    batch = torch.zeros(len(wavs), longest)
    for i, wav in enumerate(wavs):
        batch[i, : wav.shape[0]] = wav
    lens = torch.tensor([w.shape[0] / longest for w in wavs])
    predictions = merged.predict_batch(batch, lens, clip=False, calibrate=False)
    assert predictions.shape == (len(wavs), 3)
    for i, path in enumerate(files):
        single = merged.predict_file(str(path), clip=False, calibrate=False, vad=False)
        expected = torch.tensor([single[name] for name in ATTRIBUTES])
        assert (predictions[i].cpu() - expected).abs().max() <= 1e-4
    embeddings = merged.encode_batch(batch, lens)
    assert embeddings.shape[0] == len(wavs) and embeddings.dim() == 2


def test_merged_export_equals_unmerged_and_costs_a_plain_encoder(
    merged, unmerged, recipe_data
):
    assert not has_lora(merged.mods.regressor.encoder)
    assert has_lora(unmerged.mods.regressor.encoder)
    plain_size = sum(p.numel() for p in merged.mods.regressor.encoder.parameters())
    assert (
        sum(p.numel() for p in unmerged.mods.regressor.encoder.parameters())
        > plain_size
    )
    files = sorted((recipe_data / "BIIC-Podcast" / "Audios").glob("*.wav"))[:6]
    for path in files:
        a = merged.predict_file(str(path), calibrate=False)
        b = unmerged.predict_file(str(path), calibrate=False)
        assert max(abs(a[k] - b[k]) for k in ATTRIBUTES) <= 1e-4


def test_export_loads_with_no_network(
    trained_ft_lora, recipe_data, tmp_path, monkeypatch
):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = EncoderRegressor.from_hparams(
        source=str(trained_ft_lora / "inference"), savedir=str(tmp_path / "offline")
    )
    path = sorted((recipe_data / "MSP-Podcast" / "Audios").glob("*.wav"))[0]
    assert set(ATTRIBUTES) <= set(model.predict_file(str(path)))


def test_any_sample_rate_and_channel_count(merged, recipe_data, tmp_path):
    path = sorted((recipe_data / "MSP-Podcast" / "Audios").glob("*.wav"))[0]
    wav = merged.read_audio(str(path))
    stereo = torchaudio.functional.resample(wav, 16000, 44100)
    stereo = torch.stack([stereo, stereo], dim=1).numpy()
    converted = tmp_path / "stereo_44k.wav"
    soundfile.write(converted, stereo, 44100)
    expected = merged.predict_file(str(path), clip=False, calibrate=False)
    got = merged.predict_file(str(converted), clip=False, calibrate=False)
    assert max(abs(expected[k] - got[k]) for k in ATTRIBUTES) <= 0.05


def test_long_recordings_are_predicted_in_windows(
    trained_ft_lora, recipe_data, tmp_path
):
    model = EncoderRegressor.from_hparams(
        source=str(trained_ft_lora / "inference"),
        savedir=str(tmp_path / "windows"),
        overrides={"window_seconds": 2.0, "hop_seconds": 1.0},
    )
    files = sorted((recipe_data / "BIIC-Podcast" / "Audios").glob("*.wav"))[:4]
    long_wav = torch.cat([model.read_audio(str(f)) for f in files])
    path = tmp_path / "long.wav"
    soundfile.write(path, long_wav.numpy(), 16000)
    result = model.predict_file(
        str(path), return_windows=True, clip=False, calibrate=False
    )
    windows = result["windows"]
    duration = long_wav.shape[0] / 16000
    assert len(windows) >= int(duration // 1.0) - 1
    assert windows[0]["start"] == 0.0 and windows[-1]["end"] == pytest.approx(duration)
    assert all(w["end"] - w["start"] == pytest.approx(2.0) for w in windows)
    for name in ATTRIBUTES:
        assert result[name] == pytest.approx(
            np.mean([w[name] for w in windows]), abs=1e-5
        )
    first = model.predict_file(str(files[0]))
    assert set(ATTRIBUTES) <= set(first)


def test_command_line_predicts_folders_and_reports_bad_files(
    trained_ft_lora, recipe_data, tmp_path
):
    folder = tmp_path / "audio"
    (folder / "sub").mkdir(parents=True)
    sources = sorted((recipe_data / "MSP-Podcast" / "Audios").glob("*.wav"))[:2]
    for i, src in enumerate(sources):
        (folder / "sub" / f"good{i}.wav").write_bytes(src.read_bytes())
    (folder / "broken.wav").write_bytes(b"not audio at all")
    output = tmp_path / "out.csv"
    command = predict_command(
        trained_ft_lora / "inference", output, tmp_path / "cli_model", folder
    )
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1
    assert "broken.wav" in result.stderr and "unreadable" in result.stderr
    with open(output) as f:
        rows = {r["file"].split("/")[-1]: r for r in csv.DictReader(f)}
    assert set(rows) == {"broken.wav", "good0.wav", "good1.wav"}
    assert "unreadable" in rows["broken.wav"]["error"]
    for name in ("good0.wav", "good1.wav"):
        assert rows[name]["error"] == ""
        assert_served(rows[name])
    json_out = tmp_path / "out.json"
    command[command.index(str(output))] = str(json_out)
    command[-1] = str(folder / "sub")
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(json_out.read_text())) == 2


# ---------------------------------------------------------------------------
# The audio people actually have
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def odd_files(recipe_data, tmp_path_factory):
    """One file of each kind a user meets, written as real audio files."""
    folder = tmp_path_factory.mktemp("odd")
    speech = sorted((recipe_data / "MSP-Podcast" / "Audios").glob("*.wav"))
    normal, wav = folder / "normal.wav", soundfile.read(speech[0], dtype="float32")[0]
    soundfile.write(normal, wav, 16000)
    soundfile.write(folder / "silence.wav", np.zeros(3 * 16000, np.float32), 16000)
    soundfile.write(
        folder / "constant.wav", np.full(2 * 16000, 0.999, np.float32), 16000
    )
    soundfile.write(
        folder / "quiet.wav",
        wav * 10 ** (-70 / 20) / np.sqrt(np.mean(wav.astype(np.float64) ** 2)),
        16000,
        subtype="FLOAT",
    )
    broken = wav.copy()
    broken[100:110] = np.nan
    soundfile.write(folder / "nan.wav", broken, 16000, subtype="FLOAT")
    soundfile.write(folder / "short.wav", wav[:200], 16000)
    (folder / "unreadable.wav").write_bytes(b"RIFF....not audio")
    rng = np.random.default_rng(0)
    long_wav = np.concatenate(
        [soundfile.read(p, dtype="float32")[0] for p in speech[:8]]
    )
    long_wav = np.tile(long_wav, 8)
    stereo = torchaudio.functional.resample(torch.from_numpy(long_wav), 16000, 44100)
    stereo = torch.stack([stereo, stereo * 0.5], dim=1).numpy()
    stereo += 0.001 * rng.standard_normal(stereo.shape).astype(np.float32)
    soundfile.write(folder / "long_stereo_44k.wav", stereo, 44100)
    return folder


def test_odd_audio_is_named_and_nothing_else_is_lost(merged, odd_files):
    paths = sorted(str(p) for p in odd_files.iterdir())
    rows = {
        os.path.basename(r["file"]): r
        for r in merged.predict_files(paths, batch_size=4)
    }
    low, high = merged.label_range
    rated = ("normal.wav", "quiet.wav", "long_stereo_44k.wav")
    for name in rated:
        assert rows[name]["error"] is None
        for attribute in ATTRIBUTES:
            if attribute in rows[name]["not_learned"]:
                assert rows[name][attribute] is None
            else:
                assert low <= rows[name][attribute] <= high
    assert rows["normal.wav"]["warning"] is None
    assert rows["quiet.wav"]["warning"].startswith("near-silence (RMS -70.0 dBFS")
    assert rows["long_stereo_44k.wav"]["duration"] > 60
    for name, kind in (
        ("silence.wav", "digital silence"),
        ("constant.wav", "constant signal"),
    ):
        assert rows[name]["error"] is None
        assert (
            rows[name]["warning"].startswith(kind)
            and "withheld" in rows[name]["warning"]
        )
        assert all(rows[name][a] is None for a in ATTRIBUTES)
    errors = {
        "nan.wav": "10 of ",
        "short.wav": "audio is 12.5 ms long; the encoder needs at least "
        f"{1000 * merged.min_samples / 16000:.1f} ms ({merged.min_samples} samples",
        "unreadable.wav": "unreadable audio",
    }
    for name, message in errors.items():
        assert rows[name]["error"].startswith(str(odd_files / name) + ": ")
        assert message in rows[name]["error"]
        assert all(rows[name][a] is None for a in ATTRIBUTES)
    assert "NaN or infinite" in rows["nan.wav"]["error"]
    # predict_file raises the same, naming the file
    with pytest.raises(AudioProblem, match="short.wav: audio is 12.5 ms long"):
        merged.predict_file(str(odd_files / "short.wav"))


def test_values_outside_the_scale_are_clipped_and_flagged(
    trained_ft_lora, recipe_data, tmp_path
):
    model = EncoderRegressor.from_hparams(
        source=str(trained_ft_lora / "inference"), savedir=str(tmp_path / "m")
    )
    path = str(sorted((recipe_data / "BIIC-Podcast" / "Audios").glob("*.wav"))[0])
    low, high = model.label_range
    bias = model.mods.regressor.head.regressor[-1].bias
    # A one-epoch tiny model's level is arbitrary (a CCC near 0 does not pull
    # the mean; it follows the encoder's random start, which differs between
    # transformers releases): first put valence mid-scale (the head's output
    # maps to the scale as low + x * (high - low)), then push it far above.
    with torch.no_grad():
        start = model.predict_file(path, clip=False, calibrate=False)["valence"]
        bias[1] += ((low + high) / 2 - start) / (high - low)
    before = model.predict_file(path, clip=False, calibrate=False)
    with torch.no_grad():  # push valence far above the scale
        bias[1] += 10.0
    raw = model.predict_file(path, clip=False, calibrate=False)
    shown = model.predict_file(path, calibrate=False)
    assert raw["valence"] > 7.0 and raw["valence"] > before["valence"]
    assert shown["valence"] == 7.0
    assert "valence" not in before["out_of_range"]
    assert shown["out_of_range"] == raw["out_of_range"]
    assert set(shown["out_of_range"]) == set(before["out_of_range"]) | {"valence"}
    clipped = min(max(before["arousal"], low), high)
    assert shown["arousal"] == pytest.approx(clipped, abs=1e-6)
    assert raw["arousal"] == pytest.approx(before["arousal"], abs=1e-6)
    assert model.predict_batch(torch.randn(2, 16000), calibrate=False).max() <= 7.0
    # a timeline's windows are clipped and flagged the same way
    audio, rate = soundfile.read(path, dtype="float32")
    long_path = str(tmp_path / "long.wav")
    soundfile.write(long_path, np.tile(audio, int(25 * rate / len(audio)) + 1), rate)
    timeline = model.predict_file(
        long_path, return_windows=True, calibrate=False, vad=False
    )
    assert len(timeline["windows"]) >= 3
    for window in timeline["windows"]:
        assert window["valence"] == 7.0 and "valence" in window["out_of_range"]


def test_batched_files_equal_one_by_one(merged, recipe_data, odd_files):
    files = sorted((recipe_data / "BIIC-Podcast" / "Audios").glob("*.wav"))[:5]
    files += sorted((recipe_data / "MSP-Podcast" / "Audios").glob("*.wav"))[:4]
    files = [str(f) for f in files] + [str(odd_files / "long_stereo_44k.wav")]
    batched = merged.predict_files(
        files, batch_size=6, files_per_chunk=4, clip=False, calibrate=False
    )
    for path, row in zip(files, batched, strict=True):
        single = merged.predict_file(path, clip=False, calibrate=False)
        for attribute in ATTRIBUTES:
            assert abs(row[attribute] - single[attribute]) <= 1e-4, (path, attribute)


def test_command_line_on_odd_audio(trained_ft_lora, odd_files, tmp_path):
    output = tmp_path / "odd.csv"
    result = subprocess.run(
        predict_command(
            trained_ft_lora / "inference",
            output,
            tmp_path / "cli",
            odd_files,
            options=["--batch_size", "4"],
        ),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1  # some files could not be rated
    with open(output) as f:
        rows = {os.path.basename(r["file"]): r for r in csv.DictReader(f)}
    assert len(rows) == 8
    assert rows["silence.wav"]["warning"].startswith("digital silence")
    assert rows["silence.wav"]["arousal"] == "" and rows["silence.wav"]["error"] == ""
    assert "NaN or infinite" in rows["nan.wav"]["error"]
    assert_served(rows["long_stereo_44k.wav"])
    assert "out_of_range" in rows["normal.wav"]
    assert "warning: " in result.stderr and "silence.wav" in result.stderr
    assert "error: " in result.stderr and "short.wav" in result.stderr


def test_serving_imports_no_training_or_corpus_code(
    trained_ft_lora, recipe_data, tmp_path
):
    audio = str(sorted((recipe_data / "MSP-Podcast" / "Audios").glob("*.wav"))[0])
    script = f"""
import sys
from speechbrain_lora_ser import EncoderRegressor
model = EncoderRegressor.from_hparams(source={str(trained_ft_lora / "inference")!r},
                                      savedir={str(tmp_path / "saved")!r})
path = {audio!r}
assert 'not_learned' in model.predict_file(path)
loaded = sorted(m for m in sys.modules if m.startswith('speechbrain_lora_ser'))
print(loaded)
training = {{'corpus', 'brain', 'stages', 'pipeline', 'results', 'export',
            'checkpoints', 'demo', 'bank_builder'}}
assert not [m for m in loaded if m.split('.')[-1] in training], loaded
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    exported = (trained_ft_lora / "inference" / "hyperparams.yaml").read_text()
    assert "speechbrain_lora_ser.data.corpus" not in exported
    assert "speechbrain_lora_ser.training.brain" not in exported


# ---------------------------------------------------------------------------
# What the served values mean: calibrated, and withheld where not learned
# ---------------------------------------------------------------------------


def test_served_values_follow_the_exported_calibration(
    trained_ft_lora, recipe_data, tmp_path
):
    from speechbrain_lora_ser.serving.calibration import (
        AttributeCalibration,
        Calibration,
    )

    model = EncoderRegressor.from_hparams(
        source=str(trained_ft_lora / "inference"), savedir=str(tmp_path / "m")
    )
    # what the run exported: the dev-set calibration and its reliability
    exported = json.loads((trained_ft_lora / "results.json").read_text())
    assert model.mods.regressor.calibration.to_dict() == exported["calibration"]
    assert set(exported["calibrated"]) == {"BIIC-Podcast", "MSP-Podcast"}
    reliability = model.reliability
    assert set(reliability) == set(ATTRIBUTES)
    card = (trained_ft_lora / "inference" / "README.md").read_text()
    assert "| arousal | " in card and "dev CCC (served)" in card
    # an attribute learned, one not: the served values follow the map
    model.mods.regressor.calibration = Calibration(
        {
            "arousal": AttributeCalibration(2.0, -4.0, 0.1, 0.5, 0.5, 1e-4, 400, True),
            "valence": AttributeCalibration(1.0, 0.0, 0.0, 0.01, 0.01, 0.4, 400, False),
            "dominance": AttributeCalibration(0.5, 2.0, 0.2, 0.3, 0.3, 1e-3, 400, True),
        }
    )
    path = str(sorted((recipe_data / "BIIC-Podcast" / "Audios").glob("*.wav"))[0])
    raw = model.predict_file(path, clip=False, calibrate=False)
    served = model.predict_file(path, clip=False)
    assert served["not_learned"] == ["valence"] and served["valence"] is None
    assert served["arousal"] == pytest.approx(2.0 * raw["arousal"] - 4.0, abs=1e-4)
    assert served["dominance"] == pytest.approx(0.5 * raw["dominance"] + 2.0, abs=1e-4)
    clipped = model.predict_file(path)
    low, high = model.label_range
    assert clipped["arousal"] == pytest.approx(
        min(max(served["arousal"], low), high), abs=1e-4
    )
    assert "valence" not in clipped["out_of_range"]  # withheld, not out of range
    values = model.predict_batch(model.read_audio(path))
    assert torch.isnan(values[0, 1]) and not torch.isnan(values[0, 0])


def test_an_unlearned_attribute_is_withheld_not_clipped_to_a_constant(
    trained_ft_lora, recipe_data, tmp_path
):
    """The issue's valence: raw values far off the scale, not learned."""
    model = EncoderRegressor.from_hparams(
        source=str(trained_ft_lora / "inference"), savedir=str(tmp_path / "m")
    )
    with torch.no_grad():  # valence pinned far below the scale, as reported
        model.mods.regressor.head.regressor[-1].bias[1] -= 10.0
    paths = [
        str(p) for p in sorted((recipe_data / "MSP-Podcast" / "Audios").glob("*.wav"))
    ][:6]
    raw = model.predict_files(paths, calibrate=False)
    assert all(r["valence"] == 1.0 and "valence" in r["out_of_range"] for r in raw)
    # what the run's calibration says of valence on the development set
    valence = model.reliability["valence"]
    assert not valence["learned"], valence  # 6 development utterances: noise
    served = model.predict_files(paths)
    for row in served:
        assert row["valence"] is None and "valence" in row["not_learned"]
        assert "valence" not in row["out_of_range"]
