"""EncoderRegressor and the command line, on a model trained by the recipe."""

import csv
import json
import socket
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch
import torchaudio.functional

from speechbrain_lora_ser import EncoderRegressor
from speechbrain_lora_ser.lora import has_lora

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
    for row in rows:
        got = merged.predict_file(audio_path(recipe_data, corpus, row["ID"]))
        assert set(got) == set(ATTRIBUTES)
        for name in ATTRIBUTES:
            assert abs(got[name] - float(row[name])) <= 1e-3, (row["ID"], name)


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
    predictions = merged.predict_batch(batch, lens)
    assert predictions.shape == (len(wavs), 3)
    for i, path in enumerate(files):
        single = merged.predict_file(str(path))
        expected = torch.tensor([single[name] for name in ATTRIBUTES])
        assert (predictions[i].cpu() - expected).abs().max() <= 1e-4
    embeddings = merged.encode_batch(batch, lens)
    assert embeddings.shape[0] == len(wavs) and embeddings.dim() == 2


def test_merged_export_equals_unmerged_and_costs_a_plain_encoder(
    merged, unmerged, recipe_data
):
    assert not has_lora(merged.mods.ssl)
    assert has_lora(unmerged.mods.ssl)
    plain_size = sum(p.numel() for p in merged.mods.ssl.parameters())
    assert sum(p.numel() for p in unmerged.mods.ssl.parameters()) > plain_size
    files = sorted((recipe_data / "BIIC-Podcast" / "Audios").glob("*.wav"))[:6]
    for path in files:
        a = merged.predict_file(str(path))
        b = unmerged.predict_file(str(path))
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
    assert set(model.predict_file(str(path))) == set(ATTRIBUTES)


def test_any_sample_rate_and_channel_count(merged, recipe_data, tmp_path):
    path = sorted((recipe_data / "MSP-Podcast" / "Audios").glob("*.wav"))[0]
    wav = merged.read_audio(str(path))
    stereo = torchaudio.functional.resample(wav, 16000, 44100)
    stereo = torch.stack([stereo, stereo], dim=1).numpy()
    converted = tmp_path / "stereo_44k.wav"
    soundfile.write(converted, stereo, 44100)
    expected = merged.predict_file(str(path))
    got = merged.predict_file(str(converted))
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
    result = model.predict_file(str(path), return_windows=True)
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
    assert set(first) == set(ATTRIBUTES)


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
    command = [
        sys.executable,
        "-m",
        "speechbrain_lora_ser.predict",
        "--model",
        str(trained_ft_lora / "inference"),
        "--output",
        str(output),
        "--savedir",
        str(tmp_path / "cli_model"),
        str(folder),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1
    assert "broken.wav" in result.stderr and "unreadable" in result.stderr
    with open(output) as f:
        rows = {r["file"].split("/")[-1]: r for r in csv.DictReader(f)}
    assert set(rows) == {"broken.wav", "good0.wav", "good1.wav"}
    assert "unreadable" in rows["broken.wav"]["error"]
    for name in ("good0.wav", "good1.wav"):
        assert rows[name]["error"] == ""
        assert 0.0 < float(rows[name]["arousal"]) < 8.0
    json_out = tmp_path / "out.json"
    command[command.index(str(output))] = str(json_out)
    command[-1] = str(folder / "sub")
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(json_out.read_text())) == 2
