"""LoRA on real transformers encoders: counts, gradients, merging."""

import copy

import pytest
import torch
from transformers import AutoModel

from speechbrain_lora_ser.modeling.lora import (
    add_lora,
    has_lora,
    lora_config,
    lora_parameters,
    merge_lora,
)
from speechbrain_lora_ser.modeling.model import SSLEncoder
from speechbrain_lora_ser.synthetic.architectures import (
    LARGE_CONFIGS,
    build_large_encoder,
)

from conftest import small_head

PAPER_LORA_PARAMETERS = 14_155_776


@pytest.mark.parametrize("name", sorted(LARGE_CONFIGS))
def test_paper_settings_on_large_encoders_train_exactly_14m_lora_parameters(name):
    model = build_large_encoder(name)
    total_before = sum(p.numel() for p in model.parameters())
    add_lora(model, lora_config(rank=32, alpha=64, dropout=0.05))
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert sum(p.numel() for _, p in trainable) == PAPER_LORA_PARAMETERS
    assert all("lora_" in n for n, _ in trainable)
    assert 300e6 < total_before < 320e6
    # 24 layers x 6 targets, each with an A and a B tensor
    assert len(trainable) == 24 * 6 * 2


def _train_step(encoder, head, wavs, lens):
    hidden, frame_lens = encoder(wavs, lens)
    loss = head(hidden, frame_lens).pow(2).mean()
    loss.backward()


@pytest.mark.parametrize("family", ["wavlm", "hubert"])
def test_every_lora_tensor_gets_a_gradient(family, tiny_wavlm, tiny_hubert):
    folder = {"wavlm": tiny_wavlm, "hubert": tiny_hubert}[family]
    torch.manual_seed(0)
    encoder = SSLEncoder(folder, layerdrop=0.0)
    add_lora(encoder, lora_config(rank=4, alpha=8, dropout=0.0))
    head = small_head(encoder.hidden_size)
    wavs, lens = torch.randn(2, 8000), torch.tensor([1.0, 0.7])
    params = [p for _, p in lora_parameters(encoder)]
    optimizer = torch.optim.Adam(params + list(head.parameters()), lr=1e-2)
    # B starts at zero, so A only gets a gradient once B has moved.
    _train_step(encoder, head, wavs, lens)
    optimizer.step()
    optimizer.zero_grad()
    _train_step(encoder, head, wavs, lens)
    named = lora_parameters(encoder)
    assert len(named) == 2 * 2 * 6
    dead = [n for n, p in named if p.grad is None or p.grad.abs().sum() == 0]
    assert dead == []
    frozen_with_grad = [
        n
        for n, p in encoder.named_parameters()
        if "lora_" not in n and p.grad is not None
    ]
    assert frozen_with_grad == []


def test_plain_peft_on_stock_wavlm_attention_would_be_dead(tiny_wavlm):
    """The trap the attention fix removes: stock WavLM ignores q/k/v adapters."""
    from peft import LoraConfig, inject_adapter_in_model

    model = AutoModel.from_pretrained(tiny_wavlm)
    inject_adapter_in_model(LoraConfig(r=4, target_modules=["q_proj"]), model)
    for name, p in model.named_parameters():
        p.requires_grad = True
        if "lora_B" in name:
            torch.nn.init.normal_(p)
    model(torch.randn(1, 8000)).last_hidden_state.sum().backward()
    grads = [p.grad for n, p in model.named_parameters() if "lora_A" in n]
    assert all(g is None for g in grads)


@pytest.mark.parametrize("family", ["wavlm", "hubert"])
def test_merged_equals_unmerged(family, tiny_wavlm, tiny_hubert):
    folder = {"wavlm": tiny_wavlm, "hubert": tiny_hubert}[family]
    torch.manual_seed(0)
    encoder = add_lora(SSLEncoder(folder), lora_config(rank=4, alpha=8, dropout=0.0))
    for _, p in lora_parameters(encoder):
        torch.nn.init.normal_(p, std=0.2)
    encoder.eval()
    wavs, lens = torch.randn(3, 9600), torch.tensor([1.0, 0.8, 0.5])
    with torch.no_grad():
        unmerged, _ = encoder(wavs, lens)
        merged_encoder = merge_lora(copy.deepcopy(encoder))
        merged, _ = merged_encoder(wavs, lens)
        base = copy.deepcopy(encoder)
        for _, p in lora_parameters(base):
            p.zero_()
        without_adapters, _ = base(wavs, lens)
    assert not has_lora(merged_encoder)
    assert (merged - unmerged).abs().max() <= 1e-4
    # the adapters really changed the output (the test can fail)
    assert (without_adapters - unmerged).abs().max() > 1e-2


def test_module_calling_attention_matches_stock_wavlm(tiny_wavlm):
    from transformers.models.wavlm.modeling_wavlm import WavLMAttention

    torch.manual_seed(0)
    fixed = add_lora(SSLEncoder(tiny_wavlm), lora_config(rank=4, alpha=8)).eval()
    stock = SSLEncoder(tiny_wavlm).eval()
    switched = 0
    for module in stock.modules():  # back to transformers' own attention
        if isinstance(module, WavLMAttention):
            module.__class__ = WavLMAttention
            switched += 1
    assert switched == 2
    wavs, lens = torch.randn(3, 9600), torch.tensor([1.0, 0.6, 0.4])
    with torch.no_grad():
        expected, frame_lens = stock(wavs, lens)
        got, _ = fixed(wavs, lens)
    for i, rel in enumerate(frame_lens):
        n = int(round(rel.item() * expected.shape[1]))
        assert (got[i, :n] - expected[i, :n]).abs().max() <= 1e-5


def test_add_lora_rejects_encoders_without_targets():
    with pytest.raises(ValueError, match="not found"):
        add_lora(torch.nn.Sequential(torch.nn.Linear(2, 2)), lora_config())


@pytest.mark.parametrize("family", ["wavlm", "hubert"])
def test_prediction_does_not_depend_on_batch_companions(
    family, tiny_wavlm, tiny_hubert
):
    folder = {"wavlm": tiny_wavlm, "hubert": tiny_hubert}[family]
    torch.manual_seed(0)
    encoder = SSLEncoder(folder).eval()
    head = small_head(encoder.hidden_size).eval()
    short = torch.randn(6000)
    batch = torch.zeros(3, 16000)
    batch[0, :6000] = short
    batch[1] = torch.randn(16000)
    batch[2, :12000] = torch.randn(12000)
    lens = torch.tensor([6000 / 16000, 1.0, 0.75])
    with torch.no_grad():
        alone = head(*encoder(short.unsqueeze(0), torch.ones(1)))
        together = head(*encoder(batch, lens))
    assert (alone[0] - together[0]).abs().max() <= 1e-4


def test_attention_fix_takes_both_transformers_call_signatures(tiny_wavlm):
    """transformers 4.x/5.0 pass output_attentions, later releases do not."""
    torch.manual_seed(0)
    encoder = add_lora(SSLEncoder(tiny_wavlm), lora_config(rank=4, alpha=8)).eval()
    attention = encoder.model.encoder.layers[0].attention
    hidden = torch.randn(2, 7, encoder.hidden_size)
    bias = torch.randn(2 * attention.num_heads, 7, 7)
    mask = torch.ones(2, 7, dtype=torch.long)
    mask[1, 5:] = 0
    with torch.no_grad():
        three, _ = attention.torch_multi_head_self_attention(hidden, mask, bias)
        four, weights = attention.torch_multi_head_self_attention(
            hidden, mask, bias, False
        )
    assert torch.equal(three, four) and weights is None
