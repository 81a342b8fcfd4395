"""Long recordings whose windows keep different amounts of speech (issue 30)."""

import math

import numpy as np
import pytest
import soundfile
import torch
import torchaudio

from speechbrain_lora_ser import EncoderRegressor
from speechbrain_lora_ser.serving.long_audio import AudioWindow, rate_windows
from speechbrain_lora_ser.synthetic.speech_synthesis import Speaker

RATE = 16000
CD = 44100


@pytest.fixture(scope="module")
def model(trained_ft_lora, tmp_path_factory):
    return EncoderRegressor.from_hparams(
        source=str(trained_ft_lora / "inference"),
        savedir=str(tmp_path_factory.mktemp("model")),
    )


@pytest.fixture(scope="module")
def sentence():
    wav, rate = Speaker().say(
        "We talked about the weather and the news for a while.", voice="en-us"
    )
    wav = torchaudio.functional.resample(torch.from_numpy(wav), rate, CD)
    return (0.3 * wav / wav.abs().max()).numpy()


def podcast(sentence, seconds, seed=0):
    """Stereo 44.1 kHz speech with pauses of varied length (0.3 to 4 s)."""
    rng = np.random.default_rng(seed)
    parts, total = [], 0
    while total < seconds * CD:
        pause = (0.002 * rng.standard_normal(int(rng.uniform(0.3, 4.0) * CD))).astype(
            np.float32
        )
        parts += [sentence, pause]
        total += len(sentence) + len(pause)
    mono = np.concatenate(parts)[: seconds * CD]
    return np.stack([mono, 0.8 * mono], axis=1)


def test_a_padded_batch_equals_each_window_rated_alone(model):
    rng = np.random.default_rng(1)
    wavs = [
        torch.from_numpy(rng.standard_normal(n).astype(np.float32) * 0.1)
        for n in (RATE * 3, RATE * 2 + 417, RATE * 4 - 9)
    ]
    windows = [AudioWindow(i, i + 1, w, 1.0, None, False) for i, w in enumerate(wavs)]

    def raw(wavs, lens):
        return model.rate_batch(wavs, lens, calibrate=False).values

    batched = [v for _, v in rate_windows(windows, raw, batch_size=3)]
    for wav, value in zip(wavs, batched, strict=True):
        alone = raw(wav[None], torch.ones(1))[0]
        assert torch.allclose(value, alone, atol=1e-4), (value, alone)


def test_withheld_windows_leave_at_once_without_their_audio():
    def windows():
        yield AudioWindow(0, 1, torch.zeros(4), 0.0, "no speech", True)
        yield AudioWindow(1, 2, torch.zeros(4), 0.0, "no speech", True)
        raise AssertionError("read on before the first windows were given")

    given = rate_windows(windows(), lambda w, lens: w.sum(1), batch_size=8)
    first = next(given)
    assert first[0].wav is None and first[1] is None
    assert next(given)[0].start == 1


def test_a_folder_with_a_90_s_stereo_cd_rate_file_is_rated(model, sentence, tmp_path):
    soundfile.write(tmp_path / "episode.flac", podcast(sentence, 90), CD)
    soundfile.write(tmp_path / "short.wav", sentence[: 2 * CD], CD)
    rows = model.predict_files(sorted(tmp_path.iterdir()), return_windows=True)
    assert [r["error"] for r in rows] == [None, None]
    episode = rows[0]
    assert math.isclose(episode["duration"], 90.0, abs_tol=0.01)
    speech = [w["speech_seconds"] for w in episode["windows"]]
    # windows kept different amounts of speech
    assert len(set(speech)) > 1, episode["windows"]


@pytest.mark.slow
def test_a_30_minute_stereo_cd_rate_flac_through_the_timeline(
    model, sentence, tmp_path
):
    path = tmp_path / "long.flac"
    soundfile.write(path, podcast(sentence, 30 * 60, seed=3), CD)
    # raw values: the small test model's calibration withholds what it did
    # not learn, and this test is about every window with speech being rated
    row = model.predict_file(path, return_windows=True, calibrate=False)
    assert math.isclose(row["duration"], 30 * 60, abs_tol=0.01)
    rated = [w for w in row["windows"] if w["arousal"] is not None]
    assert len(rated) == len(row["windows"]) > 300
    assert all(math.isfinite(w["valence"]) for w in rated)
