"""The CPU dropout keeps PyTorch's semantics (what a trained model relies on).

Each element is dropped independently with probability p, kept elements are
scaled by 1 / (1 - p), the gradient goes through the same mask, evaluation is
the identity, and the global seed (saved with checkpoints) reproduces a draw.
"""

import math

import pytest
import torch

from speechbrain_lora_ser.dropout import (
    Dropout,
    dropout,
    dropped_mask,
    use_fast_dropout,
)
from speechbrain_lora_ser.lora import add_lora, lora_config
from speechbrain_lora_ser.model import SSLEncoder


@pytest.mark.parametrize("p", [0.05, 0.1, 0.5, 0.9])
def test_each_element_is_dropped_with_probability_p(p):
    torch.manual_seed(0)
    count = 2_000_003  # odd: the last 64-bit draw is half used
    rate = dropped_mask((count,), p).double().mean().item()
    assert abs(rate - p) <= 5 * math.sqrt(p * (1 - p) / count)


@pytest.mark.parametrize("p", [0.1, 0.5], ids=["gaps", "bits"])
def test_neighbouring_elements_are_independent(p):
    # neither successive gaps nor the two halves of a 64-bit draw may correlate
    torch.manual_seed(1)
    mask = dropped_mask((1_000_000,), p).double().view(-1, 2)
    correlation = torch.corrcoef(mask.T)[0, 1].item()
    assert abs(correlation) <= 5 / math.sqrt(mask.shape[0])


@pytest.mark.parametrize("p", [0.05, 0.5], ids=["gaps", "bits"])
def test_every_part_of_a_tensor_is_dropped_at_the_same_rate(p):
    torch.manual_seed(4)
    parts = dropped_mask((10, 200_000), p).double().mean(dim=1)
    assert (parts - p).abs().max() <= 5 * math.sqrt(p * (1 - p) / 200_000)


def test_gaps_drawn_in_several_rounds_continue_the_same_process(monkeypatch):
    # with fewer gaps drawn per round, the loop that draws more runs often
    import types

    import speechbrain_lora_ser.dropout as module

    few = types.SimpleNamespace(sqrt=lambda value: 0.0, prod=math.prod)
    monkeypatch.setattr(module, "math", few)
    torch.manual_seed(5)
    counts = []
    for _ in range(200):
        positions = module.dropped_positions(10_000, 0.2)
        assert (positions.diff() > 0).all() and 0 <= positions.min()
        assert positions.max() < 10_000
        counts.append(len(positions))
    rate = sum(counts) / (200 * 10_000)
    assert abs(rate - 0.2) <= 5 * math.sqrt(0.2 * 0.8 / (200 * 10_000))


def test_kept_values_are_scaled_and_the_gradient_follows_the_mask():
    torch.manual_seed(2)
    inputs = torch.randn(64, 300, dtype=torch.float64, requires_grad=True)
    output = dropout(inputs, 0.2)
    kept = output != 0
    assert 0.75 < kept.double().mean() < 0.85
    assert torch.allclose(output[kept], inputs[kept] / 0.8)
    weights = torch.randn_like(inputs)
    (output * weights).sum().backward()
    assert torch.allclose(inputs.grad, torch.where(kept, weights / 0.8, 0.0))


def test_same_seed_same_draw_and_a_fresh_draw_each_call():
    inputs = torch.ones(10_000)
    torch.manual_seed(3)
    first, second = dropout(inputs, 0.3), dropout(inputs, 0.3)
    torch.manual_seed(3)
    again = dropout(inputs, 0.3)
    assert torch.equal(first, again)
    assert not torch.equal(first, second)


def test_evaluation_and_p_zero_are_the_identity_and_p_one_drops_all():
    inputs = torch.randn(5, 7)
    assert dropout(inputs, 0.5, training=False) is inputs
    assert dropout(inputs, 0.0) is inputs
    assert torch.equal(dropout(inputs, 1.0), torch.zeros_like(inputs))
    assert torch.equal(Dropout(0.4).eval()(inputs), inputs)


def test_encoder_and_adapter_dropouts_all_use_it(tiny_wavlm):
    from transformers import AutoModel

    stock = AutoModel.from_pretrained(tiny_wavlm)
    before = set(stock.state_dict())
    assert use_fast_dropout(stock) > 0
    assert set(stock.state_dict()) == before  # no new state: checkpoints load

    encoder = SSLEncoder(tiny_wavlm)
    add_lora(encoder, lora_config(rank=2, alpha=4, dropout=0.05))
    dropouts = [m for m in encoder.modules() if isinstance(m, torch.nn.Dropout)]
    assert dropouts and all(type(m) is Dropout for m in dropouts)
    assert any(m.p == 0.05 for m in dropouts)  # the adapters'
    assert use_fast_dropout(encoder) == 0
