"""int8 on the CPU: a trained model's predictions against fp32, and the refusals."""

import glob
import os

import pytest
import torch

from speechbrain_lora_ser.modeling.ccc import ATTRIBUTES
from speechbrain_lora_ser.serving.inference import EncoderRegressor
from speechbrain_lora_ser.serving.quantization import OnnxEncoder, quantize_int8

#: Largest |int8 - fp32| allowed on the 1-7 label scale. The labels are means
#: of annotators who differ by about one point; a change of 0.1 (1.7 % of the
#: scale) is far below that. Three trained small models stayed under 0.05
#: (0.041 at most, CCC changes under 0.002: benchmarks/int8_accuracy.py).
TOLERANCE = 0.1


def load(folder, savedir):
    return EncoderRegressor.from_hparams(
        source=str(folder), savedir=str(savedir), run_opts={"device": "cpu"}
    )


def int8(model):
    return any(isinstance(m, OnnxEncoder) for m in model.mods.modules())


def values(rows):
    return torch.tensor([[row[a] for a in ATTRIBUTES] for row in rows])


#: The network's own outputs: unclipped and uncalibrated (a one-epoch model
#: would withhold what it did not learn).
RAW = {"clip": False, "calibrate": False}


def predict(model, paths, **kwargs):
    return values(model.predict_files(paths, **kwargs, **RAW))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """int8 encoders kept across tests (an export takes seconds to a minute)."""
    return tmp_path_factory.mktemp("int8_cache")


@pytest.fixture(scope="module")
def audio(recipe_data):
    return sorted(glob.glob(str(recipe_data / "BIIC-Podcast" / "Audios" / "*.wav")))


def test_int8_predictions_are_within_tolerance_of_fp32(
    trained_ft_lora, audio, tmp_path, cache
):
    model = load(trained_ft_lora / "inference", tmp_path / "saved")
    fp32 = predict(model, audio, batch_size=4)
    quantize_int8(model, cache_dir=cache)
    assert int8(model)
    quantized = predict(model, audio, batch_size=4)
    difference = (quantized - fp32).abs().max().item()
    assert 0 < difference < TOLERANCE, difference  # int8 indeed, and close
    # padding in a batch changes nothing: each value is the file's own
    alone = values([model.predict_file(p, **RAW) for p in audio])
    assert torch.allclose(alone, quantized, atol=1e-5)
    # a second load reuses the cached int8 encoder: same values, no new export
    (cached,) = os.listdir(cache)
    written = os.path.getmtime(cache / cached)
    again = quantize_int8(
        load(trained_ft_lora / "inference", tmp_path / "saved2"),
        cache_dir=cache,
    )
    assert os.path.getmtime(cache / cached) == written
    reloaded = predict(again, audio, batch_size=4)
    assert torch.allclose(reloaded, quantized, atol=1e-5)


def test_int8_merges_adapters_kept_separate(trained_ft_lora, audio, tmp_path):
    fp32 = predict(load(trained_ft_lora / "inference", tmp_path / "merged"), audio)
    model = quantize_int8(load(trained_ft_lora / "inference_unmerged", tmp_path / "u"))
    assert int8(model)
    quantized = predict(model, audio)
    assert (quantized - fp32).abs().max().item() < TOLERANCE


def test_int8_is_refused_on_a_gpu(trained_ft_lora, tmp_path):
    model = load(trained_ft_lora / "inference", tmp_path / "saved")
    model.device = "cuda:0"  # what run_opts={"device": "cuda:0"} sets
    with pytest.raises(
        ValueError, match="int8 runs on the CPU only; this model is on cuda:0"
    ):
        quantize_int8(model)
    assert not int8(model)


def test_int8_twice_is_refused(trained_ft_lora, tmp_path, cache):
    model = load(trained_ft_lora / "inference", tmp_path / "saved")
    quantize_int8(model, cache_dir=cache)
    with pytest.raises(ValueError, match="already int8"):
        quantize_int8(model)
