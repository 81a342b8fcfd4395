"""The recipes' Brain: stage modes, optimizers, gradient clipping, CCC."""

import pytest
import speechbrain as sb
import torch

from speechbrain_lora_ser.modeling.ccc import CCCLoss, ccc
from speechbrain_lora_ser.modeling.lora import lora_config
from speechbrain_lora_ser.modeling.model import SSLEncoder
from speechbrain_lora_ser.training.stages import (
    TrainingStage,
    configure_encoder,
    count_trainable,
)

from conftest import recipe_train_module, small_head

LORA = lora_config(rank=4, alpha=8, dropout=0.0)


class Logger:
    def log_stats(self, *args, **kwargs):
        pass


def make_brain(encoder_folder, mode):
    ssl = SSLEncoder(encoder_folder, layerdrop=0.0)
    head = small_head(ssl.hidden_size)
    configure_encoder(ssl, mode, LORA)
    brain_class = recipe_train_module("MSP-Podcast").SERBrain
    return brain_class(
        TrainingStage("stage1", mode, "A", None, None, None),
        modules={"ssl": ssl, "head": head},
        hparams={
            "compute_cost": CCCLoss(),
            "encoder_opt_class": lambda p, lr=0.1: torch.optim.SGD(p, lr=lr),
            "head_opt_class": lambda p, lr=0.1: torch.optim.SGD(p, lr=lr),
            "train_logger": Logger(),
        },
        run_opts={"device": "cpu", "max_grad_norm": 1.0},
    )


@pytest.mark.parametrize(
    "mode, encoder_trains", [("head", False), ("finetune", True), ("lora", True)]
)
def test_gradient_clipping_covers_every_trainable_parameter(
    mode, encoder_trains, tiny_wavlm, monkeypatch
):
    brain = make_brain(tiny_wavlm, mode)
    brain.init_optimizers()
    assert ("ssl" in brain.optimizers_dict) == encoder_trains
    clipped = []
    original = torch.nn.utils.clip_grad_norm_

    def recording_clip(parameters, max_norm, *args, **kwargs):
        parameters = list(parameters)
        clipped.extend(parameters)
        return original(parameters, max_norm, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", recording_clip)
    trainable = [p for p in brain.modules.parameters() if p.requires_grad]
    for p in trainable:
        p.grad = torch.full_like(p, 100.0)
    brain.optimizers_step()
    assert {id(p) for p in clipped} == {id(p) for p in trainable}
    if mode == "head":
        assert count_trainable(brain.modules.ssl) == 0


def test_finetune_keeps_the_convolutional_feature_encoder_frozen(tiny_wavlm):
    ssl = SSLEncoder(tiny_wavlm)
    configure_encoder(ssl, "finetune", LORA)
    frozen = [n for n, p in ssl.model.named_parameters() if not p.requires_grad]
    assert frozen and all(
        n.startswith("feature_extractor.") or n == "masked_spec_embed" for n in frozen
    )
    assert any(
        n.startswith("encoder.layers.")
        for n, p in ssl.model.named_parameters()
        if p.requires_grad
    )


def test_finetuning_an_encoder_with_adapters_is_refused(tiny_wavlm):
    ssl = SSLEncoder(tiny_wavlm)
    configure_encoder(ssl, "lora", LORA)
    with pytest.raises(ValueError, match="LoRA adapters"):
        configure_encoder(ssl, "finetune", LORA)
    with pytest.raises(ValueError, match="unknown stage mode"):
        configure_encoder(ssl, "adapters", LORA)


def test_development_ccc_is_computed_over_the_whole_set(tiny_wavlm):
    brain = make_brain(tiny_wavlm, "head")
    brain.on_stage_start(sb.Stage.TEST)
    generator = torch.Generator().manual_seed(0)
    targets = torch.rand(12, 3, generator=generator)
    predictions = targets + 0.2 * torch.randn(12, 3, generator=generator)

    class Batch:
        pass

    for start in range(0, 12, 4):
        batch = Batch()
        batch.id = [str(i) for i in range(start, start + 4)]
        batch.labels = sb.dataio.batch.PaddedData(targets[start : start + 4], None)
        brain.compute_objectives(predictions[start : start + 4], batch, sb.Stage.TEST)
    summary = brain.ccc_stats.summarize()
    whole = ccc(predictions.double(), targets.double())
    assert summary["arousal"] == pytest.approx(whole[0].item(), abs=1e-6)
    batchwise = (
        sum(
            ccc(predictions[s : s + 4].double(), targets[s : s + 4].double())[0].item()
            for s in range(0, 12, 4)
        )
        / 3
    )
    assert abs(batchwise - whole[0].item()) > 1e-3  # why it matters
