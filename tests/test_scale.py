"""Scale: torchrun DDP (gloo, CPU), dynamic batching, precision, checkpointing."""

import json
import subprocess
import sys

import pytest
import torch

from speechbrain_lora_ser.data.pipeline import TrainLoader, padded_fraction
from speechbrain_lora_ser.modeling.lora import add_lora, lora_config, lora_parameters
from speechbrain_lora_ser.modeling.model import SSLEncoder

from conftest import CALIBRATION_KEYS, ROOT, SMALL_MODEL_ARGS, run_train, small_head

SCRIPT = "recipes/BIIC-Podcast/train.py"
HPARAMS = "recipes/BIIC-Podcast/hparams/ft_lora.yaml"


def base_args(recipe_data, output):
    return [
        f"--data_folder={recipe_data / 'BIIC-Podcast'}",
        f"--cross_data_folder={recipe_data / 'MSP-Podcast'}",
        f"--ssl_hub={recipe_data / 'wavlm-small'}",
        f"--output_folder={output}",
        "--number_of_epochs=1",
        *SMALL_MODEL_ARGS,
    ]


def test_torchrun_two_processes_gloo_runs_both_stages(recipe_data, tmp_path):
    output = tmp_path / "ddp"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port=29533",
        SCRIPT,
        HPARAMS,
        *base_args(recipe_data, output),
        "--distributed_backend=gloo",
        "--global_batch_size=4",
    ]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    results = json.loads((output / "results.json").read_text())
    assert set(results) == {"BIIC-Podcast", "MSP-Podcast", *CALIBRATION_KEYS}
    log = (output / "train_log.txt").read_text()
    # logged once (main process), both stages
    assert log.count("stage: stage1, mode: finetune") == 1
    assert log.count("stage: stage2, mode: lora") == 1
    assert log.count("stage: stage2, epoch: 1") == 1
    assert (output / "inference" / "hyperparams.yaml").is_file()
    # the paper's global batch on 2 processes: 2 utterances each, logged
    # at the start of every stage and recorded in the run's info
    effective = "4 utterances (2 per process x 2 processes x 1 accumulation)"
    assert log.count(f"effective_batch: {effective}") == 2
    info = json.loads((output / "run_info.json").read_text())
    assert info["stage_fingerprints"]["stage2"]["effective_batch"] == effective


def test_effective_batch_without_a_global_batch_is_per_process_times_processes():
    loader = TrainLoader(batch_size=32)
    assert loader.effective_batch(4, 2) == (
        "256 utterances (32 per process x 4 processes x 2 accumulation)"
    )
    with pytest.raises(ValueError, match="not divisible by 3 process"):
        TrainLoader(global_batch_size=32).per_process_batch(3, 1)


def test_bf16_dynamic_batching_and_activation_checkpointing(recipe_data, tmp_path):
    output = tmp_path / "bf16"
    args = base_args(recipe_data, output) + [
        "--precision=bf16",
        "--gradient_checkpointing=True",
        "--dynamic_batching=True",
        "--max_batch_length=8",
        "--num_buckets=3",
    ]
    result = run_train(SCRIPT, HPARAMS, args)
    assert (
        "Using training precision: `--precision=bf16`" in result.stdout + result.stderr
    )
    assert (output / "results.json").is_file()


def test_lora_trains_under_activation_checkpointing(tiny_wavlm):
    torch.manual_seed(0)
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        encoder = SSLEncoder(
            tiny_wavlm, layerdrop=0.0, gradient_checkpointing=checkpointing
        )
        add_lora(encoder, lora_config(rank=4, alpha=8, dropout=0.0))
        for _, p in lora_parameters(encoder):
            torch.nn.init.normal_(p, std=0.1)
        head = small_head(encoder.hidden_size)
        encoder.train()
        hidden, lens = encoder(torch.randn(2, 8000), torch.tensor([1.0, 0.6]))
        head(hidden, lens).sum().backward()
        grads.append([p.grad.clone() for _, p in lora_parameters(encoder)])
    assert all(g is not None and g.abs().sum() > 0 for g in grads[1])
    for plain, checkpointed in zip(*grads, strict=True):
        assert torch.allclose(plain, checkpointed, atol=1e-6)


def test_padded_fraction():
    durations = {"a": 2.0, "b": 4.0, "c": 4.0}
    assert padded_fraction([["a", "b"], ["c"]], durations) == pytest.approx(2 / 12)
    assert padded_fraction([["b", "c"], ["a"]], durations) == 0.0
