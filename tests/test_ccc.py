import math

import numpy as np
import pytest
import torch

from speechbrain_lora_ser.modeling.ccc import CCCLoss, CCCStats, ccc


def reference_ccc(x, y):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    covariance = np.mean((x - x.mean()) * (y - y.mean()))
    return 2 * covariance / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


def test_ccc_matches_float64_numpy_reference():
    generator = torch.Generator().manual_seed(0)
    targets = torch.rand(500, 3, generator=generator) * 6 + 1
    predictions = 0.6 * targets + torch.randn(500, 3, generator=generator) + 0.3
    values = ccc(predictions, targets)
    for k in range(3):
        expected = reference_ccc(predictions[:, k].numpy(), targets[:, k].numpy())
        assert abs(values[k].item() - expected) <= 1e-6
    assert not torch.allclose(values, torch.ones(3))


@pytest.mark.parametrize(
    "predictions, targets",
    [
        (torch.full((8, 3), 0.5), torch.rand(8, 3)),  # constant predictions
        (torch.rand(1, 3), torch.rand(1, 3)),  # batch of one
        (torch.ones(4, 3), torch.ones(4, 3)),  # everything constant and equal
    ],
)
def test_ccc_is_finite_and_zero_on_degenerate_input(predictions, targets):
    values = ccc(predictions, targets)
    assert torch.isfinite(values).all()
    assert torch.equal(values, torch.zeros(3))


def test_ccc_loss_has_finite_gradient_on_degenerate_batch():
    predictions = torch.full((1, 3), 0.3, requires_grad=True)
    loss = CCCLoss()(predictions, torch.rand(1, 3))
    loss.backward()
    assert math.isclose(loss.item(), 1.0)
    assert torch.isfinite(predictions.grad).all()


def test_ccc_loss_is_one_minus_mean_ccc():
    predictions, targets = torch.rand(50, 3), torch.rand(50, 3)
    loss = CCCLoss()(predictions, targets)
    assert loss.item() == pytest.approx(1 - ccc(predictions, targets).mean().item())


def test_ccc_stats_is_corpus_level_not_mean_of_batches():
    generator = torch.Generator().manual_seed(1)
    targets = torch.rand(64, 3, generator=generator)
    predictions = targets + 0.3 * torch.randn(64, 3, generator=generator)
    stats = CCCStats()
    batch_values = []
    for start in range(0, 64, 8):
        ids = [str(i) for i in range(start, start + 8)]
        stats.append(ids, predictions[start : start + 8], targets[start : start + 8])
        batch_values.append(
            ccc(predictions[start : start + 8], targets[start : start + 8])
        )
    summary = stats.summarize()
    whole = ccc(predictions.double(), targets.double())
    for k, name in enumerate(("arousal", "valence", "dominance")):
        assert summary[name] == pytest.approx(whole[k].item(), abs=1e-9)
    assert summary["average"] == pytest.approx(whole.mean().item(), abs=1e-9)
    mean_of_batches = torch.stack(batch_values).mean(0)
    assert not torch.allclose(mean_of_batches.double(), whole, atol=1e-3)


def test_ccc_stats_unlabeled_rows_are_kept_but_not_scored(tmp_path):
    stats = CCCStats()
    stats.append(["a", "b"], torch.rand(2, 3))  # unlabeled
    summary = stats.summarize()
    assert all(math.isnan(v) for v in summary.values())
    path = tmp_path / "p.csv"
    stats.write_predictions(path, to_original_scale=lambda t: t * 6 + 1)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("ID,arousal,true_arousal")
    assert len(lines) == 3 and lines[1].split(",")[2] == ""
