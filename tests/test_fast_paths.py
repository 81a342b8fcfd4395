"""Faster computation orders give the straightforward version's results.

The fused q/k/v adapters (one dropout draw and one product over the
concatenated LoRA A matrices) and every adapter's B product accumulated into
its layer's output by one ``addmm``, against peft's own forward on the three
modules called one by one: outputs within float32 rounding (and bf16
tolerance under autocast), LoRA and encoder gradients within 1e-3 relative.
"""

import copy

import pytest
import torch

from speechbrain_lora_ser.lora import (
    AddmmLoraLinear,
    ModuleCallingWavLMAttention,
    add_lora,
    lora_config,
    lora_parameters,
)
from speechbrain_lora_ser.model import SSLEncoder, emotion_head


def _pair(tiny_wavlm, lora):
    torch.manual_seed(0)
    encoder = SSLEncoder(tiny_wavlm, layerdrop=0.0)
    if lora:
        add_lora(encoder, lora_config(rank=4, alpha=8, dropout=0.0))
        for _, p in lora_parameters(encoder):
            torch.nn.init.normal_(p, std=0.2)
    else:
        from speechbrain_lora_ser.lora import enable_wavlm_adapters

        enable_wavlm_adapters(encoder.model)
    head = emotion_head(encoder.hidden_size, attention_channels=8, hidden_size=8)
    return (encoder, head), copy.deepcopy((encoder, head))


def _run(encoder, head, fused, wavs, lens):
    ModuleCallingWavLMAttention.fuse_qkv = fused
    AddmmLoraLinear.fused = fused
    try:
        encoder.train()
        head.eval()  # no head dropout: compare the encoder's arithmetic
        output = head(*encoder(wavs, lens))
        output.pow(2).sum().backward()
    finally:
        ModuleCallingWavLMAttention.fuse_qkv = True
        AddmmLoraLinear.fused = True
    grads = {
        n: p.grad.clone() for n, p in encoder.named_parameters() if p.grad is not None
    }
    return output.detach(), grads


@pytest.mark.parametrize("lora", [True, False], ids=["lora", "finetune"])
def test_fused_qkv_equals_the_modules_one_by_one(lora, tiny_wavlm):
    fused_model, plain_model = _pair(tiny_wavlm, lora)
    wavs, lens = torch.randn(3, 12000), torch.tensor([1.0, 0.7, 0.45])
    fused, fused_grads = _run(*fused_model, True, wavs, lens)
    plain, plain_grads = _run(*plain_model, False, wavs, lens)
    assert (fused - plain).abs().max() <= 1e-5 * max(1.0, plain.abs().max().item())
    assert fused_grads.keys() == plain_grads.keys() and fused_grads
    if lora:
        assert all("lora_" in n for n in fused_grads)
    # a key bias has no gradient in exact arithmetic (softmax ignores a
    # constant per query): compare against the gradients' overall scale
    scale = max(grad.norm() for grad in plain_grads.values())
    for name, grad in plain_grads.items():
        difference = (fused_grads[name] - grad).norm()
        assert difference <= 1e-3 * max(grad.norm(), 1e-3 * scale), name


def test_fused_qkv_under_bf16_autocast_stays_within_bf16_tolerance(tiny_wavlm):
    fused_model, plain_model = _pair(tiny_wavlm, lora=True)
    wavs, lens = torch.randn(2, 12000), torch.tensor([1.0, 0.6])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fused, _ = _run(*fused_model, True, wavs, lens)
        plain, _ = _run(*plain_model, False, wavs, lens)
    reference, _ = _run(*copy.deepcopy(plain_model), False, wavs, lens)
    error = (fused.float() - reference).norm() / reference.norm()
    baseline = (plain.float() - reference).norm() / reference.norm()
    assert error <= max(2e-2, 2 * baseline)


def test_every_adapter_still_sees_dropout_on_its_input(tiny_wavlm):
    torch.manual_seed(0)
    encoder = SSLEncoder(tiny_wavlm, layerdrop=0.0)
    add_lora(encoder, lora_config(rank=4, alpha=8, dropout=0.5))
    for _, p in lora_parameters(encoder):
        torch.nn.init.normal_(p, std=0.5)
    wavs = torch.randn(1, 8000)
    encoder.eval()
    with torch.no_grad():
        clean, _ = encoder(wavs)
        encoder.train()
        noisy_a, _ = encoder(wavs)
        noisy_b, _ = encoder(wavs)
    assert (noisy_a - clean).abs().max() > 1e-3
    assert (noisy_a - noisy_b).abs().max() > 1e-3  # a fresh draw every call


def test_cpu_attention_with_dropout_is_the_sdpa_arithmetic(tiny_wavlm, monkeypatch):
    """The CPU path that applies attention dropout itself computes SDPA's product."""
    import speechbrain_lora_ser.lora as lora_module

    (encoder, head), (reference, reference_head) = _pair(tiny_wavlm, lora=True)
    for module in encoder.modules():
        if isinstance(module, ModuleCallingWavLMAttention):
            module.dropout = 0.3  # takes the CPU path in training
    monkeypatch.setattr(lora_module, "dropout", lambda x, p, training=True: x)
    wavs, lens = torch.randn(3, 12000), torch.tensor([1.0, 0.7, 0.45])
    output, grads = _run(encoder, head, True, wavs, lens)
    expected, expected_grads = _run(reference, reference_head, True, wavs, lens)
    assert (output - expected).abs().max() <= 1e-5 * max(1.0, expected.abs().max())
    for name, grad in expected_grads.items():
        assert (grads[name] - grad).norm() <= 1e-4 * max(grad.norm(), 1e-6), name


def test_every_lora_layer_takes_the_addmm_path(tiny_wavlm, monkeypatch):
    """No LoRA layer falls back to peft's forward in training (the fast path runs)."""
    from peft.tuners.lora import Linear as LoraLinear

    encoder = SSLEncoder(tiny_wavlm)
    add_lora(encoder, lora_config(rank=4, alpha=8))
    layers = [m for m in encoder.modules() if isinstance(m, LoraLinear)]
    assert layers and all(type(m) is AddmmLoraLinear for m in layers)

    def refuse(*args, **kwargs):
        raise AssertionError("peft's forward ran")

    monkeypatch.setattr(LoraLinear, "forward", refuse)
    encoder.train()
    hidden, _ = encoder(torch.randn(2, 8000))
    hidden.sum().backward()
