"""The head trains on real frames only: padding never leaks into training."""

import torch
from speechbrain.lobes.models.ECAPA_TDNN import AttentiveStatisticsPooling

from speechbrain_lora_ser.modeling.model import MaskedAttentiveStatisticsPooling

from conftest import small_head


def _padded_batch(extra_padding):
    """Three utterances; the second one is padded by ``extra_padding`` frames."""
    generator = torch.Generator().manual_seed(0)
    lengths = [30, 18, 25]
    frames = max(lengths) + extra_padding
    hidden = torch.zeros(3, frames, 16)
    for i, n in enumerate(lengths):
        hidden[i, :n] = torch.randn(n, 16, generator=generator) * 2 + 1
    # padded frames hold garbage, as after a transformer
    hidden[1, 18:] = 5.0
    relative = torch.tensor([n / frames for n in lengths])
    return hidden, relative


def _train_outputs(head, extra_padding):
    torch.manual_seed(0)
    head.train()
    hidden, lengths = _padded_batch(extra_padding)
    output = head(hidden, lengths)
    norm = head.pooling.tdnn.norm.norm
    return output, norm.running_mean.clone(), norm.running_var.clone()


def test_training_outputs_and_running_statistics_ignore_padding():
    torch.manual_seed(0)
    head = small_head(16)
    state = {k: v.clone() for k, v in head.state_dict().items()}
    out_a, mean_a, var_a = _train_outputs(head, extra_padding=0)
    head.load_state_dict(state)
    out_b, mean_b, var_b = _train_outputs(head, extra_padding=40)
    assert (out_a - out_b).abs().max() <= 1e-5
    assert (mean_a - mean_b).abs().max() <= 1e-6
    assert (var_a - var_b).abs().max() <= 1e-5


def test_speechbrain_pooling_would_depend_on_the_padding():
    """Why the masked layer exists (and that the test above can fail)."""
    torch.manual_seed(0)
    pooling = AttentiveStatisticsPooling(16, attention_channels=8).train()
    state = {k: v.clone() for k, v in pooling.state_dict().items()}
    results = []
    for extra in (0, 40):
        pooling.load_state_dict(state)
        hidden, lengths = _padded_batch(extra)
        out = pooling(hidden.transpose(1, 2), lengths)
        results.append((out, pooling.tdnn.norm.norm.running_mean.clone()))
    assert (results[0][0] - results[1][0]).abs().max() > 1e-3
    assert (results[0][1] - results[1][1]).abs().max() > 1e-3


def test_masked_pooling_equals_speechbrain_without_padding_and_in_eval():
    torch.manual_seed(0)
    reference = AttentiveStatisticsPooling(16, attention_channels=8)
    masked = MaskedAttentiveStatisticsPooling(16, attention_channels=8)
    masked.load_state_dict(reference.state_dict())
    x = torch.randn(4, 16, 20)
    full = torch.ones(4)
    for module in (reference, masked):
        module.train()
    assert torch.allclose(reference(x, full), masked(x, full), atol=1e-5)
    assert torch.allclose(
        reference.tdnn.norm.norm.running_mean, masked.tdnn.norm.norm.running_mean
    )
    for module in (reference, masked):
        module.eval()
    lengths = torch.tensor([1.0, 0.5, 0.75, 0.25])
    assert torch.allclose(reference(x, lengths), masked(x, lengths), atol=1e-5)
