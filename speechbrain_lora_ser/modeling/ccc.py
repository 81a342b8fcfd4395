"""Concordance correlation coefficient (CCC): metric, loss and epoch statistics.

CCC is a corpus-level statistic (it depends on the means and variances of all
predictions), so averaging per-batch CCC values is wrong. ``CCCStats`` keeps
every prediction of an epoch and computes CCC once, at ``summarize()``, the way
SpeechBrain's ``BinaryMetricStats`` keeps all scores. No well-kept library ships
a differentiable, NaN-free CCC for ``[N, K]`` tensors, hence this module.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import csv
import math

import torch

from speechbrain_lora_ser.modeling.labels import ATTRIBUTES  # noqa: F401 - re-exported


def ccc(predictions, targets):
    """Concordance correlation coefficient of each column.

    CCC = 2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2), with
    population (biased) statistics. The result is finite for any finite input:
    a column with a zero denominator (constant and identical predictions and
    targets, e.g. a batch of one) has CCC 0.

    Arguments
    ---------
    predictions : torch.Tensor
        Predicted values, shape ``[N, K]`` (or ``[N]``).
    targets : torch.Tensor
        Reference values with the same shape.

    Returns
    -------
    torch.Tensor
        CCC per column, shape ``[K]`` (or a scalar for 1-D input).

    Example
    -------
    >>> y = torch.tensor([[1.0, 2.0], [2.0, 1.0], [3.0, 0.0]])
    >>> ccc(y, y)
    tensor([1., 1.])
    >>> ccc(torch.zeros(3, 2), y)
    tensor([0., 0.])
    """
    if predictions.shape != targets.shape:
        raise ValueError(
            f"predictions {tuple(predictions.shape)} and targets "
            f"{tuple(targets.shape)} must have the same shape"
        )
    pred_mean = predictions.mean(dim=0)
    target_mean = targets.mean(dim=0)
    pred_centered = predictions - pred_mean
    target_centered = targets - target_mean
    covariance = (pred_centered * target_centered).mean(dim=0)
    denominator = (
        pred_centered.pow(2).mean(dim=0)
        + target_centered.pow(2).mean(dim=0)
        + (pred_mean - target_mean).pow(2)
    )
    # |cov| <= std_x * std_y, so a zero denominator means a zero numerator:
    # clamping gives 0 there and leaves every other value exact.
    tiny = torch.finfo(denominator.dtype).tiny
    return 2.0 * covariance / denominator.clamp_min(tiny)


class CCCLoss(torch.nn.Module):
    """Multi-task CCC loss: 1 - weighted mean of the per-attribute CCC.

    Arguments
    ---------
    weights : list of float, optional
        One weight per attribute (arousal, valence, dominance); equal by
        default. Weights are normalised to sum to one.
    moment_weight : float
        Weight of an added term that pulls each attribute's batch mean and
        standard deviation towards the targets' (squared differences, on the
        model's 0-1 range). 0 (the default) is the paper's objective. When
        predictions and targets are uncorrelated, CCC exerts almost no pull
        on the mean, so an attribute the model cannot learn can settle at any
        offset; this term keeps its values centred.

    Example
    -------
    >>> loss = CCCLoss()
    >>> y = torch.tensor([[0.1, 0.5, 0.3], [0.9, 0.4, 0.6], [0.5, 0.2, 0.8]])
    >>> float(loss(y, y))
    0.0
    >>> round(float(CCCLoss(moment_weight=1.0)(y + 0.1, y) - loss(y + 0.1, y)), 4)
    0.01
    """

    def __init__(self, weights=None, moment_weight=0.0):
        super().__init__()
        weights = torch.ones(len(ATTRIBUTES)) if weights is None else weights
        weights = torch.as_tensor(weights, dtype=torch.float32)
        self.register_buffer("weights", weights / weights.sum(), persistent=False)
        self.moment_weight = float(moment_weight)

    def forward(self, predictions, targets):
        """Return the scalar loss for ``[N, K]`` predictions and targets."""
        predictions, targets = predictions.float(), targets.float()
        weights = self.weights.to(predictions.device)
        loss = 1.0 - (weights * ccc(predictions, targets)).sum()
        if self.moment_weight:
            mean_gap = (predictions.mean(0) - targets.mean(0)).pow(2)
            std_gap = (
                predictions.std(0, correction=0) - targets.std(0, correction=0)
            ).pow(2)
            loss = loss + self.moment_weight * (weights * (mean_gap + std_gap)).sum()
        return loss


class CCCStats:
    """Accumulates predictions over an epoch and summarises CCC per attribute.

    Follows SpeechBrain's ``MetricStats`` interface (``append``,
    ``summarize``, ``write_stats``, ``clear``). Rows whose targets are NaN
    (unlabeled partitions) are kept as predictions but left out of CCC.

    Arguments
    ---------
    attributes : tuple of str
        Column names, in the order of the model outputs.

    Example
    -------
    >>> stats = CCCStats()
    >>> y = torch.tensor([[0.1, 0.5, 0.3], [0.9, 0.4, 0.6], [0.5, 0.2, 0.8]])
    >>> stats.append(["a", "b"], y[:2], y[:2])
    >>> stats.append(["c"], y[2:], y[2:])
    >>> {k: round(v, 4) for k, v in stats.summarize().items()}
    {'arousal': 1.0, 'valence': 1.0, 'dominance': 1.0, 'average': 1.0}
    """

    def __init__(self, attributes=ATTRIBUTES):
        self.attributes = tuple(attributes)
        self.clear()

    def clear(self):
        """Forget everything appended so far."""
        self.ids = []
        self.predictions = []
        self.targets = []
        self.summary = {}

    def append(self, ids, predictions, targets=None):
        """Store a batch of predictions (and targets, if labeled).

        Arguments
        ---------
        ids : list of str
            Utterance identifiers.
        predictions : torch.Tensor
            ``[B, K]`` predictions.
        targets : torch.Tensor, optional
            ``[B, K]`` targets; NaN or None for unlabeled utterances.
        """
        predictions = predictions.detach().float().cpu()
        if targets is None:
            targets = torch.full_like(predictions, math.nan)
        self.ids.extend(ids)
        self.predictions.append(predictions)
        self.targets.append(targets.detach().float().cpu())

    def tensors(self):
        """Return ``(predictions, targets)`` as ``[N, K]`` tensors."""
        if not self.predictions:
            empty = torch.zeros(0, len(self.attributes))
            return empty, empty
        return torch.cat(self.predictions), torch.cat(self.targets)

    def summarize(self, field=None):
        """Compute CCC over everything appended.

        Arguments
        ---------
        field : str, optional
            One attribute name or ``"average"``; all of them when None.

        Returns
        -------
        dict or float
            ``{attribute: ccc, ..., "average": mean}``; values are NaN when no
            labeled prediction was appended (e.g. an unlabeled test partition).
        """
        predictions, targets = self.tensors()
        labeled = ~torch.isnan(targets).any(dim=1)
        if labeled.sum() == 0:
            values = [math.nan] * len(self.attributes)
        else:
            values = ccc(
                predictions[labeled].double(), targets[labeled].double()
            ).tolist()
        self.summary = dict(zip(self.attributes, values, strict=True))
        self.summary["average"] = sum(values) / len(values)
        if field is not None:
            return self.summary[field]
        return self.summary

    def write_stats(self, filestream):
        """Write the summary, one ``attribute: value`` per line."""
        if not self.summary:
            self.summarize()
        for name, value in self.summary.items():
            filestream.write(f"{name}: {value:.4f}\n")

    def write_predictions(self, path, to_original_scale=None, label_range=None):
        """Write a CSV with ``ID`` and predicted and true values.

        Arguments
        ---------
        path : str
            CSV file to write.
        to_original_scale : callable, optional
            Maps a ``[N, K]`` tensor from the model's range to the corpus's
            original scale.
        label_range : tuple of float, optional
            The scale the values are on, written in ``label_low`` and
            ``label_high`` columns.
        """
        predictions, targets = self.tensors()
        if to_original_scale is not None:
            predictions = to_original_scale(predictions)
            targets = to_original_scale(targets)
        header = ["ID"]
        for name in self.attributes:
            header += [name, f"true_{name}"]
        if label_range is not None:
            header += ["label_low", "label_high"]
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for index, utt_id in enumerate(self.ids):
                row = [utt_id]
                for column in range(len(self.attributes)):
                    true = targets[index, column].item()
                    row += [
                        f"{predictions[index, column].item():.6f}",
                        "" if math.isnan(true) else f"{true:.6f}",
                    ]
                if label_range is not None:
                    row += [f"{float(label_range[0]):g}", f"{float(label_range[1]):g}"]
                writer.writerow(row)
