"""The ONNX export and its torch-free runtime, against the PyTorch model."""

import csv
import glob
import os
import subprocess
import sys
import venv

import numpy as np
import pytest

from speechbrain_lora_ser import EncoderRegressor
from speechbrain_lora_ser.modeling.ccc import ATTRIBUTES
from speechbrain_lora_ser.onnx import OnnxRegressor
from speechbrain_lora_ser.onnx.export import SENSITIVE, export_onnx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Raw outputs: a one-epoch model withholds what it did not learn.
RAW = {"clip": False, "calibrate": False}
#: Largest |int8 ONNX - PyTorch| accepted (1-7 scale), the budget docs/onnx.md
#: states: the largest seen was 9.3e-4 on this one-epoch tiny model's raw
#: values and 0.0135 on served values of a recipe-trained model on unseen
#: voices (benchmarks/onnx_int8_accuracy.py); 0.83 here before ONNX Runtime's
#: rewriting of the head's Gemms was accounted for (the head was quantized).
INT8_TOLERANCE = 0.02


def values(rows):
    return np.array(
        [[np.nan if r[a] is None else r[a] for a in ATTRIBUTES] for r in rows]
    )


@pytest.fixture(scope="module")
def audio(recipe_data):
    return sorted(glob.glob(str(recipe_data / "BIIC-Podcast" / "Audios" / "*.wav")))[:8]


@pytest.fixture(scope="module")
def pytorch(trained_ft_lora, tmp_path_factory):
    return EncoderRegressor.from_hparams(
        source=str(trained_ft_lora / "inference"),
        savedir=str(tmp_path_factory.mktemp("saved")),
        run_opts={"device": "cpu"},
    )


@pytest.fixture(scope="module")
def exported(trained_ft_lora, tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    export_onnx(trained_ft_lora / "inference_unmerged", folder / "fp32")
    export_onnx(trained_ft_lora / "inference", folder / "int8", int8=True)
    return folder


def test_fp32_graph_matches_pytorch_in_padded_batches(pytorch, exported, audio):
    expected = values(pytorch.predict_files(audio, batch_size=4, **RAW))
    model = OnnxRegressor(exported / "fp32")
    for batch_size in (1, 3, 8):
        got = values(model.predict_files(audio, batch_size=batch_size, **RAW))
        np.testing.assert_allclose(got, expected, atol=1e-4)
    served = model.predict_files(audio[:2])
    reference = pytorch.predict_files(audio[:2])
    for mine, theirs in zip(served, reference, strict=True):
        assert mine["not_learned"] == theirs["not_learned"]
        assert mine["label_low"], mine["label_high"] == pytorch.label_range


def test_int8_graph_is_close_to_pytorch(pytorch, exported, audio):
    expected = values(pytorch.predict_files(audio, batch_size=4, **RAW))
    got = values(OnnxRegressor(exported / "int8").predict_files(audio, **RAW))
    difference = np.abs(got - expected).max()
    assert 0 < difference < INT8_TOLERANCE, difference


def test_int8_leaves_the_head_and_feature_projection_in_fp32(exported):
    import onnx

    graph = onnx.load(str(exported / "int8" / "model.int8.onnx")).graph
    integer = [n.name for n in graph.node if n.op_type == "MatMulInteger"]
    kept = [
        n.name
        for n in graph.node
        if n.op_type in ("MatMul", "Gemm") and n.name.startswith(SENSITIVE)
    ]
    assert integer and not [n for n in integer if n.startswith(SENSITIVE)]
    assert any(n.startswith("/head/") for n in kept)
    assert any(n.startswith("/model/feature_projection/") for n in kept)


def test_bad_audio_gives_the_same_errors(pytorch, exported, tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    rows = OnnxRegressor(exported / "fp32").predict_files([str(empty)])
    theirs = pytorch.predict_files([str(empty)])
    assert rows[0]["error"].startswith(str(empty))
    assert rows[0]["error"].split(":")[1] == theirs[0]["error"].split(":")[1]


def test_import_does_not_import_torch():
    code = (
        "import sys, speechbrain_lora_ser.onnx; "
        "print(sorted(m for m in ('torch', 'transformers', 'speechbrain') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_command_line_predict_writes_a_csv(exported, audio, tmp_path):
    output = tmp_path / "out.csv"
    command = [os.path.join(os.path.dirname(sys.executable), "ser-onnx"), "predict"]
    command += ["--model", str(exported / "fp32"), *audio[:2], "--output", str(output)]
    subprocess.run(command, check=True, capture_output=True)
    lines = output.read_text().splitlines()
    assert lines[0].startswith("file,arousal,valence,dominance")
    assert len(lines) == 3


@pytest.mark.slow
def test_runtime_in_a_fresh_venv_without_torch(pytorch, exported, audio, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    pip = [python, "-m", "pip", "install", "-q"]
    subprocess.run(pip + ["numpy", "onnxruntime", "soundfile", "soxr"], check=True)
    subprocess.run(pip + ["--no-deps", ROOT], check=True)
    check = subprocess.run([python, "-c", "import torch"], capture_output=True, cwd="/")
    assert check.returncode != 0  # torch is indeed absent
    usage = subprocess.run(
        [str(env_dir / "bin" / "ser-onnx"), "--help"], capture_output=True, text=True
    )
    assert usage.returncode == 0 and usage.stdout.startswith("usage: ser-onnx")
    expected = values(pytorch.predict_files(audio, **RAW))
    for precision, tolerance in (("fp32", 1e-4), ("int8", INT8_TOLERANCE)):
        output = tmp_path / f"venv_{precision}.csv"
        command = [str(env_dir / "bin" / "ser-onnx"), "predict"]
        command += ["--uncalibrated", "--no_clip", "--model", str(exported / precision)]
        result = subprocess.run(
            command + [*audio, "--output", str(output)],
            capture_output=True,
            text=True,
            cwd="/",
        )
        assert result.returncode == 0, result.stderr
        with output.open() as handle:
            rows = list(csv.DictReader(handle))
        got = np.array([[float(r[a]) for a in ATTRIBUTES] for r in rows])
        np.testing.assert_allclose(got, expected, atol=tolerance)
