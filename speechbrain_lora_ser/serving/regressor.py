"""What a served model computes for a batch: ratings on a label scale.

``EncoderRegressor`` (the ``Pretrained`` interface) serves any module with
this protocol, declared as ``regressor`` in the model's ``hyperparams.yaml``:

* ``forward(wavs, wav_lens, language=None)`` returns ``Ratings``;
* ``embed(wavs, wav_lens, language=None)`` returns pooled embeddings;
* ``check_language(language)`` refuses a language the model cannot take;
* ``encoder``: the ``SSLEncoder`` (its receptive field bounds the input);
* ``label_range``: ``(low, high)`` of the values it returns.

``EmotionRegressor`` here is one trained model (encoder, head, label scale);
``speechbrain_lora_ser.bank.adapter_bank.AdapterBank`` is several languages behind one
encoder. Serving code only: nothing here trains or reads a corpus.

Authors
 * speechbrain-lora-ser contributors 2026
"""

from typing import NamedTuple

import torch

from speechbrain_lora_ser.modeling.labels import ATTRIBUTES


class Ratings(NamedTuple):
    """Ratings of a batch, each utterance on its model's label scale.

    Attributes
    ----------
    values : torch.Tensor
        ``[batch, 3]`` arousal, valence, dominance (raw regression output on
        the label scale, before any clipping).
    low, high : torch.Tensor
        ``[batch, 1]`` ends of each utterance's label scale.
    languages : list
        Each utterance's language (None when the model has no languages).
    probabilities : list
        The probability of that language (None when not routed).
    notes : list
        A note per utterance (e.g. an uncertain language), or None.
    learned : torch.Tensor
        ``[batch, 3]`` bool: False where the attribute is not learned (its
        value is NaN: withheld).
    """

    values: torch.Tensor
    low: torch.Tensor
    high: torch.Tensor
    languages: list
    probabilities: list
    notes: list
    learned: torch.Tensor


class EmotionRegressor(torch.nn.Module):
    """One trained model: encoder, head and the label scale of its corpus.

    Arguments
    ---------
    encoder : speechbrain_lora_ser.modeling.model.SSLEncoder
        The encoder (LoRA merged, or carrying its adapters).
    head : speechbrain_lora_ser.modeling.model.EmotionHead
        Pooling and fully connected layers (outputs on the 0-1 range).
    label_scaler : speechbrain_lora_ser.modeling.labels.LabelScaler
        Maps the head's outputs to the corpus's label scale.
    calibration : speechbrain_lora_ser.serving.calibration.Calibration, optional
        Maps the values on the label scale to the served ones (fitted on the
        development set; attributes not learned are withheld: NaN).

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.synthetic.architectures import save_tiny_encoder
    >>> from speechbrain_lora_ser.modeling.labels import LabelScaler
    >>> from speechbrain_lora_ser.modeling.model import (
    ...     EmotionHead, MaskedAttentiveStatisticsPooling, SSLEncoder)
    >>> encoder = SSLEncoder(save_tiny_encoder(tempfile.mkdtemp()))
    >>> head = EmotionHead(MaskedAttentiveStatisticsPooling(64, 8),
    ...     torch.nn.Linear(128, 3))
    >>> regressor = EmotionRegressor(encoder, head, LabelScaler(1, 7)).eval()
    >>> ratings = regressor(torch.randn(2, 16000), torch.tensor([1.0, 0.5]))
    >>> ratings.values.shape, ratings.languages, regressor.label_range
    (torch.Size([2, 3]), [None, None], (1.0, 7.0))
    """

    def __init__(self, encoder, head, label_scaler, calibration=None):
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.label_scaler = label_scaler
        if calibration is not None and tuple(calibration.names) != ATTRIBUTES:
            raise ValueError(
                f"the calibration's attributes {list(calibration.names)} are not "
                f"the model's outputs {list(ATTRIBUTES)}, in that order"
            )
        self.calibration = calibration

    @property
    def label_range(self):
        """``(low, high)`` of the values this model returns."""
        return self.label_scaler.low, self.label_scaler.high

    def check_language(self, language):
        """One model serves whatever it hears: no language can be chosen."""
        if language is not None:
            raise ValueError(
                "language= applies to an adapter bank only; this model has "
                "no languages to choose from"
            )

    def reliability(self):
        """Each attribute's development reliability (None: not calibrated)."""
        return None if self.calibration is None else self.calibration.reliability()

    def embed(self, wavs, wav_lens, language=None):
        """Pooled embeddings (attentive mean and std), ``[batch, 2 * hidden]``."""
        self.check_language(language)
        hidden, frame_lens = self.encoder(wavs, wav_lens)
        return self.head.pool(hidden, frame_lens)

    def forward(self, wavs, wav_lens, language=None, calibrate=True):
        """Rate a padded batch of 16 kHz waveforms (relative lengths).

        ``calibrate=False`` gives the raw regression outputs on the label
        scale (what the recipe's CCC is computed on).
        """
        self.check_language(language)
        hidden, frame_lens = self.encoder(wavs, wav_lens)
        values = self.label_scaler.unscale(self.head(hidden, frame_lens).float())
        values, learned = calibrated(values, self.calibration, calibrate)
        count = values.shape[0]
        low, high = self.label_range
        return Ratings(
            values=values,
            low=torch.full((count, 1), low, device=values.device),
            high=torch.full((count, 1), high, device=values.device),
            languages=[None] * count,
            probabilities=[None] * count,
            notes=[None] * count,
            learned=learned,
        )


def calibrated(values, calibration, calibrate=True):
    """Values through a calibration (if any), and which attributes are learned.

    Arguments
    ---------
    values : torch.Tensor
        ``[batch, K]`` values on the label scale.
    calibration : speechbrain_lora_ser.serving.calibration.Calibration or None
        The model's calibration.
    calibrate : bool
        False: the values as they are (every attribute counts as learned).

    Returns
    -------
    values : torch.Tensor
        ``[batch, K]``, NaN where withheld.
    learned : torch.Tensor
        ``[batch, K]`` bool.

    Example
    -------
    >>> values, learned = calibrated(torch.ones(2, 3), None)
    >>> learned.all().item()
    True
    """
    if calibration is None or not calibrate:
        return values, torch.ones_like(values, dtype=torch.bool)
    values, learned = calibration.apply(values)
    return values, learned.expand_as(values)
