"""The labels: the attributes rated, and their scale.

``ATTRIBUTES`` names the model's outputs, in order. ``LabelScaler`` maps
corpus values (e.g. 1-7) to the model's 0-1 range and back; it is used by
training (targets) and by serving (predictions back on the corpus scale).
This module imports nothing, so the ONNX runtime (no torch) uses it too.

Authors
 * speechbrain-lora-ser contributors 2026
"""

#: The model's outputs, in order.
ATTRIBUTES = ("arousal", "valence", "dominance")


class LabelScaler:
    """Maps labels between a corpus's annotation scale and the range 0-1.

    Arguments
    ---------
    low, high : float
        Ends of the annotation scale (1 and 7 for both podcast corpora).

    Example
    -------
    >>> import torch
    >>> scaler = LabelScaler(1.0, 7.0)
    >>> scaler.scale(torch.tensor([1.0, 4.0, 7.0]))
    tensor([0.0000, 0.5000, 1.0000])
    >>> scaler.unscale(torch.tensor([0.5]))
    tensor([4.])
    """

    def __init__(self, low=1.0, high=7.0):
        if not high > low:
            raise ValueError(f"label scale must have high > low, got {low}, {high}")
        self.low, self.high = float(low), float(high)

    def scale(self, values):
        """Corpus scale -> model range."""
        return (values - self.low) / (self.high - self.low)

    def unscale(self, values):
        """Model range -> corpus scale."""
        return values * (self.high - self.low) + self.low

    def clip(self, values):
        """Clamp values (on the corpus scale) into ``[low, high]``.

        Example
        -------
        >>> import torch
        >>> LabelScaler(1.0, 7.0).clip(torch.tensor([0.2, 4.0, 9.0]))
        tensor([1., 4., 7.])
        """
        return values.clamp(self.low, self.high)

    def outside(self, values):
        """Boolean mask of values (corpus scale) outside ``[low, high]``.

        Example
        -------
        >>> import torch
        >>> LabelScaler(1.0, 7.0).outside(torch.tensor([0.2, 4.0, 9.0]))
        tensor([ True, False,  True])
        """
        return (values < self.low) | (values > self.high)

    def __repr__(self):
        return f"LabelScaler(low={self.low}, high={self.high})"
