"""EmotionBrain details: stage modes, optimizers and gradient clipping."""

import pytest
import speechbrain as sb
import torch

from speechbrain_lora_ser.brain import (
    EmotionBrain,
    Stage,
    configure_encoder,
    count_trainable,
)
from speechbrain_lora_ser.ccc import CCCLoss
from speechbrain_lora_ser.lora import lora_config
from speechbrain_lora_ser.model import SSLEncoder, emotion_head

LORA = lora_config(rank=4, alpha=8, dropout=0.0)


class Logger:
    def log_stats(self, *args, **kwargs):
        pass


def make_brain(encoder_folder, mode, tmp_path):
    ssl = SSLEncoder(encoder_folder, layerdrop=0.0)
    head = emotion_head(ssl.hidden_size, attention_channels=8, hidden_size=8)
    configure_encoder(ssl, mode, LORA)
    brain = EmotionBrain(
        modules={"ssl": ssl, "head": head},
        compute_cost=CCCLoss(),
        encoder_opt_class=lambda p: torch.optim.SGD(p, lr=0.1),
        head_opt_class=lambda p: torch.optim.SGD(p, lr=0.1),
        lora_config=LORA,
        train_logger=Logger(),
        run_opts={"device": "cpu", "max_grad_norm": 1.0},
    )
    brain.stage = Stage("stage1", mode, "A", None, None)
    return brain


@pytest.mark.parametrize(
    "mode, encoder_trains", [("head", False), ("finetune", True), ("lora", True)]
)
def test_gradient_clipping_covers_every_trainable_parameter(
    mode, encoder_trains, tiny_wavlm, tmp_path, monkeypatch
):
    brain = make_brain(tiny_wavlm, mode, tmp_path)
    brain.init_optimizers()
    assert ("encoder" in brain.optimizers_dict) == encoder_trains
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


def test_development_ccc_is_computed_over_the_whole_set(tiny_wavlm, tmp_path):
    brain = make_brain(tiny_wavlm, "head", tmp_path)
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
    from speechbrain_lora_ser.ccc import ccc

    whole = ccc(predictions.double(), targets.double())
    assert summary["arousal"] == pytest.approx(whole[0].item(), abs=1e-6)
