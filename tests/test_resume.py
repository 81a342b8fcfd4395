"""Killed training resumes exactly; checkpoints survive a kill mid-write."""

import json
import os
import pickle
import signal
import subprocess
import sys
import time

import pytest
import torch

from speechbrain_lora_ser import EncoderRegressor
from speechbrain_lora_ser.training.checkpoints import AtomicCheckpointer, RNGState

from conftest import ROOT, SMALL_MODEL_ARGS, run_train

SCRIPT = "recipes/BIIC-Podcast/train.py"
HPARAMS = "recipes/BIIC-Podcast/hparams/ft_lora.yaml"


def resume_args(recipe_data, output):
    return [
        f"--data_folder={recipe_data / 'BIIC-Podcast'}",
        f"--cross_data_folder={recipe_data / 'MSP-Podcast'}",
        f"--ssl_hub={recipe_data / 'wavlm-small'}",
        f"--output_folder={output}",
        "--number_of_epochs=2",
        "--ckpt_interval_steps=1",
        "--head_dropout=0.3",
        "--lora_dropout=0.1",
        *SMALL_MODEL_ARGS,
    ]


def checkpoints(folder):
    return sorted(folder.glob("CKPT*")) if folder.is_dir() else []


def run_and_kill(args, when):
    """Start the recipe and SIGKILL it as soon as ``when()`` is true."""
    process = subprocess.Popen(
        [sys.executable, SCRIPT, HPARAMS, *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    try:
        while process.poll() is None and time.time() < deadline:
            if when():
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
    finally:
        process.wait()
    return process.returncode


def test_killed_runs_resume_to_the_same_results(recipe_data, tmp_path):
    reference = tmp_path / "uninterrupted"
    run_train(SCRIPT, HPARAMS, resume_args(recipe_data, reference))
    expected = json.loads((reference / "results.json").read_text())

    output = tmp_path / "killed"
    args = resume_args(recipe_data, output)
    save = output / "save"
    # killed inside stage 1 (after its first epoch) ...
    code = run_and_kill(args, lambda: "stage: stage1, epoch: 1" in _log(output))
    assert code == -signal.SIGKILL
    # ... and again inside stage 2
    code = run_and_kill(args, lambda: len(checkpoints(save / "stage2")) >= 1)
    assert code == -signal.SIGKILL
    assert not (output / "results.json").exists()
    run_train(SCRIPT, HPARAMS, args)
    got = json.loads((output / "results.json").read_text())
    calibration = expected.pop("calibration")["attributes"]
    calibrated = expected.pop("calibrated")
    baseline = expected.pop("before_adaptation")
    assert got["before_adaptation"]["corpus"] == baseline["corpus"]
    for name, value in baseline["ccc"].items():  # the cross-lingual baseline
        assert abs(got["before_adaptation"]["ccc"][name] - value) <= 1e-6, name
    for results, reference in ((got, expected), (got["calibrated"], calibrated)):
        for corpus, values in reference.items():
            for name, value in values.items():
                assert abs(results[corpus][name] - value) <= 1e-6, (corpus, name)
    for name, values in calibration.items():  # the served values' calibration too
        for key in ("scale", "shift", "dev_correlation"):
            got_value = got["calibration"]["attributes"][name][key]
            assert abs(got_value - values[key]) <= 1e-5, (name, key)
    assert "stage: stage2, epoch: 2" in _log(output)


def _log(output):
    path = output / "train_log.txt"
    return path.read_text() if path.exists() else ""


def test_a_kill_during_a_checkpoint_write_keeps_the_previous_one(tmp_path):
    layer = torch.nn.Linear(3, 3)
    rng = RNGState()
    checkpointer = AtomicCheckpointer(tmp_path, {"layer": layer, "rng": rng})
    checkpointer.save_checkpoint(meta={"ccc": 0.1})
    saved = layer.weight.detach().clone()

    class KilledWhileWriting(Exception):
        pass

    def dies_midway(obj, path):
        with open(path, "wb") as f:
            f.write(b"\x80\x04partial")
        raise KilledWhileWriting

    checkpointer.custom_save_hooks["rng"] = dies_midway
    with torch.no_grad():
        layer.weight.add_(1.0)
    with pytest.raises(KilledWhileWriting):
        checkpointer.save_checkpoint(meta={"ccc": 0.2})
    # the interrupted checkpoint is invisible; the previous one loads
    fresh = AtomicCheckpointer(tmp_path, {"layer": layer, "rng": RNGState()})
    assert len(fresh.list_checkpoints()) == 1
    checkpoint = fresh.recover_if_possible()
    assert checkpoint.meta["ccc"] == 0.1
    assert torch.equal(layer.weight, saved)
    # a later save cleans the leftover staging folder
    fresh.save_checkpoint(meta={"ccc": 0.3})
    assert not (tmp_path / ".staging").exists()
    assert len(fresh.list_checkpoints()) == 2


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_inference_weights_are_not_unpickled_as_code(
    trained_ft_lora, tmp_path, monkeypatch
):
    model_folder = tmp_path / "model"
    model_folder.mkdir()
    for item in (trained_ft_lora / "inference").iterdir():
        target = model_folder / item.name
        if item.is_dir():
            target.symlink_to(item, target_is_directory=True)
        elif item.name != "head.ckpt":
            target.symlink_to(item)
    (model_folder / "head.ckpt").write_bytes(pickle.dumps({"weight": _Payload()}))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Exception, match="[Ww]eights only|weights_only|Unsupported"):
        EncoderRegressor.from_hparams(
            source=str(model_folder), savedir=str(tmp_path / "saved")
        )
    assert not (tmp_path / "pwned").exists()


def test_non_finite_losses_stop_with_the_utterances_named(recipe_data, tmp_path):
    import shutil

    import numpy as np
    import soundfile

    corpus = tmp_path / "BIIC-Podcast"
    shutil.copytree(recipe_data / "BIIC-Podcast", corpus)
    manifest_rows = (
        (corpus / "Labels" / "labels_consensus.csv").read_text().splitlines()
    )
    broken = [r.split(",")[0] for r in manifest_rows[1:] if r.endswith(",Train")]
    for name in broken:
        path = corpus / "Audios" / name
        wav, rate = soundfile.read(path, dtype="float32")
        wav[::50] = np.nan
        soundfile.write(path, wav, rate, subtype="FLOAT")
    args = resume_args(recipe_data, tmp_path / "out")
    args = [
        f"--data_folder={corpus}" if a.startswith("--data_folder=") else a for a in args
    ]
    args += ["--nonfinite_patience=1"]
    with pytest.raises(AssertionError) as error:
        run_train(SCRIPT, "recipes/BIIC-Podcast/hparams/lora.yaml", args)
    message = str(error.value)
    assert "the loss was not finite more than 1 times" in message
    assert "BIIC-PODCAST_" in message.split("last batch:")[1]
