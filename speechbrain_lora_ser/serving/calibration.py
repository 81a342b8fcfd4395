"""Calibration of served values and per-attribute reliability.

CCC = 2 rho sx sy / (sx^2 + sy^2 + (mx - my)^2). When the correlation rho of
an attribute is near zero, the CCC loss exerts almost no pull on the mean of
its predictions, so an attribute a model cannot learn drifts off the scale
(valence at -4.4..-3.1 on a 1-7 scale), and serving would clip it to a
constant. This module fits, per attribute and on the development set, the
affine map ``scale * x + shift`` of the raw predictions that gives them the
labels' mean and standard deviation. For a fixed correlation this is the map
that maximises CCC: the CCC of ``a x + b`` is
2 rho s sy / (s^2 + sy^2 + (a mx + b - my)^2) with s = a sx; the last term
vanishes at ``b = my - a mx``, and 2 s sy <= s^2 + sy^2 with equality at
``s = sy``, i.e. ``a = sy / sx``, where the calibrated CCC equals rho. The
map has a positive scale: it keeps the model's ordering
(an attribute whose correlation is not positive is not learned anyway).

**Not learned.** An attribute is *learned* when its development correlation
(= its calibrated development CCC) is at least ``MIN_CORRELATION`` (0.1) and
significantly positive (one-tailed Pearson test, ``scipy.stats.pearsonr(...,
alternative="greater")``, p <= ``ALPHA`` = 0.05). Why both:

* the floor: below rho = 0.1 the calibrated values share under 1 % of their
  variance with the labels, and CCC cannot exceed 0.1. The paper's weakest
  real attribute, BIIC-Podcast dominance (test CCC 0.08-0.19, correlation at
  least as high since CCC <= rho), sits at this floor: the paper's own
  FT+LoRA model (0.191) passes, near-chance cross-lingual rows may not;
* the significance test: on a small development set the floor alone means
  nothing (rho = 0.1 on 40 utterances has p = 0.27; at p <= 0.05 40
  utterances need rho >= 0.26), while on the paper's development sets
  (10,845 and 19,815 utterances) the floor is what binds (p <= 0.05 from
  rho = 0.016 and 0.012).

An attribute that is not learned is **withheld** by default: ``apply``
returns NaN for it, with ``learned`` False, instead of a clipped constant.

The calibration works on whatever scale it was fitted on: fit it on the
development predictions and labels on the served label scale (e.g. 1-7) and
apply it to raw served values before any clipping. This module imports only
torch, numpy and math (and scipy inside ``fit_calibration``, which runs at
export, never when serving).

Authors
 * speechbrain-lora-ser contributors 2026
"""

import math

import numpy as np
import torch

from speechbrain_lora_ser.modeling.ccc import ccc
from speechbrain_lora_ser.modeling.labels import ATTRIBUTES

#: Smallest development correlation (= calibrated CCC) of a learned attribute.
MIN_CORRELATION = 0.1
#: Significance level of the one-tailed test that the correlation is positive.
ALPHA = 0.05
#: Fewest labeled development utterances a correlation is tested on.
MIN_UTTERANCES = 3

FIELDS = (
    "scale",
    "shift",
    "dev_ccc_raw",
    "dev_ccc_calibrated",
    "dev_correlation",
    "p_value",
    "utterances",
    "learned",
)


class AttributeCalibration:
    """The affine map of one attribute and how reliable it is.

    Arguments
    ---------
    scale, shift : float
        Calibrated value = ``scale * raw + shift``.
    dev_ccc_raw : float
        Development CCC of the raw predictions.
    dev_ccc_calibrated : float
        Development CCC of the calibrated predictions (= the correlation).
    dev_correlation : float
        Pearson correlation of predictions and labels on the development set
        (0 when either is constant).
    p_value : float or None
        One-tailed p-value that the correlation is positive (None when it
        could not be tested).
    utterances : int
        Labeled development utterances the map was fitted on.
    learned : bool
        Whether the attribute passed the rule (see the module's docstring).

    Example
    -------
    >>> a = AttributeCalibration(2.0, 1.0, 0.2, 0.5, 0.5, 0.001, 100, True)
    >>> a(torch.tensor([0.0, 1.0]))
    tensor([1., 3.])
    >>> AttributeCalibration.from_dict(a.to_dict()) == a
    True
    """

    def __init__(
        self,
        scale,
        shift,
        dev_ccc_raw,
        dev_ccc_calibrated,
        dev_correlation,
        p_value,
        utterances,
        learned,
    ):
        self.scale = float(scale)
        self.shift = float(shift)
        self.dev_ccc_raw = float(dev_ccc_raw)
        self.dev_ccc_calibrated = float(dev_ccc_calibrated)
        self.dev_correlation = float(dev_correlation)
        self.p_value = None if p_value is None else float(p_value)
        self.utterances = int(utterances)
        self.learned = bool(learned)
        if not (math.isfinite(self.scale) and math.isfinite(self.shift)):
            raise ValueError(
                f"calibration scale and shift must be finite, got {self.scale}, "
                f"{self.shift}"
            )

    def __call__(self, values):
        """Return ``scale * values + shift``."""
        return values * self.scale + self.shift

    def to_dict(self):
        """Return plain values (for YAML or JSON)."""
        return {name: getattr(self, name) for name in FIELDS}

    @classmethod
    def from_dict(cls, values):
        """Inverse of ``to_dict``."""
        missing = [name for name in FIELDS if name not in values]
        if missing:
            raise ValueError(f"attribute calibration lacks {', '.join(missing)}")
        return cls(**{name: values[name] for name in FIELDS})

    def __eq__(self, other):
        return isinstance(other, AttributeCalibration) and (
            self.to_dict() == other.to_dict()
        )

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"AttributeCalibration({fields})"


class Calibration:
    """Per-attribute calibrations of a model, applied to ``[..., K]`` values.

    Arguments
    ---------
    attributes : dict
        ``{attribute: AttributeCalibration or its to_dict()}``, in the order of
        the model's outputs (plain dicts make it loadable from a HyperPyYAML
        ``!new:speechbrain_lora_ser.serving.calibration.Calibration``).
    min_correlation : float
        The rule the ``learned`` flags were decided by (recorded for the
        model card).
    alpha : float
        Likewise.

    Example
    -------
    >>> labels = torch.linspace(1, 7, 50)
    >>> raw = torch.stack([labels / 10 - 4, labels.flip(0) / 10 - 4], dim=1)
    >>> calibration = fit_calibration(raw, labels[:, None].repeat(1, 2),
    ...     attributes=("arousal", "valence"))
    >>> values, learned = calibration.apply(raw[:2])
    >>> values
    tensor([[1.0000,    nan],
            [1.1224,    nan]])
    >>> learned
    tensor([ True, False])
    >>> calibration.not_learned()
    ['valence']
    """

    def __init__(self, attributes, min_correlation=MIN_CORRELATION, alpha=ALPHA):
        if not attributes:
            raise ValueError("a calibration needs at least one attribute")
        self.attributes = {
            name: value
            if isinstance(value, AttributeCalibration)
            else AttributeCalibration.from_dict(value)
            for name, value in attributes.items()
        }
        self.min_correlation = float(min_correlation)
        self.alpha = float(alpha)

    @property
    def names(self):
        """Attribute names, in output order."""
        return tuple(self.attributes)

    def learned(self):
        """Bool tensor ``[K]``: which attributes are learned."""
        return torch.tensor([a.learned for a in self.attributes.values()])

    def not_learned(self):
        """Names of the attributes that are not learned."""
        return [name for name, a in self.attributes.items() if not a.learned]

    def apply(self, values, withhold=True):
        """Calibrate raw values and flag the attributes that are not learned.

        Arguments
        ---------
        values : torch.Tensor
            Raw predictions ``[..., K]`` on the scale the calibration was
            fitted on (e.g. ``[batch, 3]`` on 1-7), before any clipping.
        withhold : bool
            True (default): NaN for attributes that are not learned. False:
            their calibrated values, to be shown only next to the flag.

        Returns
        -------
        values : torch.Tensor
            Calibrated values, same shape and dtype.
        learned : torch.Tensor
            ``[K]`` bool.

        Example
        -------
        >>> c = Calibration({"arousal": AttributeCalibration(
        ...     2.0, 1.0, 0.1, 0.4, 0.4, 0.01, 60, True)})
        >>> c.apply(torch.tensor([[1.0], [2.0]]))
        (tensor([[3.],
                [5.]]), tensor([True]))
        """
        if values.shape[-1] != len(self.attributes):
            raise ValueError(
                f"calibration of {len(self.attributes)} attributes "
                f"({', '.join(self.attributes)}) got values of shape "
                f"{tuple(values.shape)}"
            )
        kwargs = {"dtype": values.dtype, "device": values.device}
        scale = torch.tensor([a.scale for a in self.attributes.values()], **kwargs)
        shift = torch.tensor([a.shift for a in self.attributes.values()], **kwargs)
        learned = self.learned().to(values.device)
        calibrated = values * scale + shift
        if withhold:
            calibrated = calibrated.masked_fill(~learned, math.nan)
        return calibrated, learned

    def to_dict(self):
        """Plain values (for YAML or JSON); ``Calibration(**d)`` reads them."""
        return {
            "attributes": {n: a.to_dict() for n, a in self.attributes.items()},
            "min_correlation": self.min_correlation,
            "alpha": self.alpha,
        }

    @classmethod
    def from_dict(cls, values):
        """Inverse of ``to_dict``."""
        return cls(**values)

    def reliability(self):
        """``{attribute: {"learned", "dev_ccc", "dev_ccc_raw", ...}}`` for output.

        ``dev_ccc`` is the development CCC of the served (calibrated) values.

        Example
        -------
        >>> c = Calibration({"valence": AttributeCalibration(
        ...     1.0, 0.0, -0.01, 0.02, 0.02, 0.4, 40, False)})
        >>> c.reliability()["valence"]["learned"]
        False
        """
        return {
            name: {
                "learned": a.learned,
                "dev_ccc": a.dev_ccc_calibrated,
                "dev_ccc_raw": a.dev_ccc_raw,
                "dev_correlation": a.dev_correlation,
                "p_value": a.p_value,
                "utterances": a.utterances,
            }
            for name, a in self.attributes.items()
        }

    def markdown(self):
        """Return a Markdown table of the reliability (for a model card).

        Example
        -------
        >>> c = Calibration({"valence": AttributeCalibration(
        ...     1.0, 0.0, -0.01, 0.02, 0.02, 0.4, 40, False)})
        >>> print(c.markdown().splitlines()[2])
        | valence | no (withheld) | 0.020 | -0.010 | 0.020 | 0.4 | 40 |
        """
        lines = [
            "| attribute | learned | dev CCC (served) | dev CCC (raw) "
            "| correlation | p-value | utterances |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, a in self.attributes.items():
            p_value = "n/a" if a.p_value is None else f"{a.p_value:.2g}"
            lines.append(
                f"| {name} | {'yes' if a.learned else 'no (withheld)'} "
                f"| {a.dev_ccc_calibrated:.3f} | {a.dev_ccc_raw:.3f} "
                f"| {a.dev_correlation:.3f} | {p_value} | {a.utterances} |"
            )
        return "\n".join(lines)

    def __eq__(self, other):
        return isinstance(other, Calibration) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return f"Calibration({self.to_dict()!r})"


def _as_array(values, name):
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double().numpy()
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"{name} must be [N, K], got shape {array.shape}")
    return array


def fit_attribute(predictions, labels, min_correlation=MIN_CORRELATION, alpha=ALPHA):
    """Fit the moment-matching map of one attribute and decide if it is learned.

    Arguments
    ---------
    predictions, labels : numpy.ndarray
        ``[N]`` development predictions and labels on the served scale. Rows
        whose label is NaN (unlabeled utterances) are left out.
    min_correlation, alpha : float
        The rule of the module's docstring.

    Returns
    -------
    AttributeCalibration

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.uniform(2, 6, 200)
    >>> raw = 0.1 * labels - 4.0 + rng.normal(0, 0.05, 200)  # off the scale
    >>> fitted = fit_attribute(raw, labels)
    >>> fitted.learned, round(fitted.dev_ccc_raw, 3), round(fitted.dev_correlation, 3)
    (True, 0.005, 0.916)
    >>> round(fitted.dev_ccc_calibrated, 3)  # = the correlation
    0.916
    """
    from scipy import stats  # at export only: serving never fits

    x, y = _labeled(predictions, labels)
    n = int(x.size)
    mean_x, mean_y = x.mean(), y.mean()
    # population statistics, as in CCC
    std_x, std_y = x.std(), y.std()
    if std_x > 0 and std_y > 0:
        correlation = float(np.mean((x - mean_x) * (y - mean_y)) / (std_x * std_y))
        scale = std_y / std_x
    else:
        # constant predictions (or labels): no correlation, no spread to match;
        # the map only centres the values
        correlation, scale = 0.0, 1.0
    shift = mean_y - scale * mean_x
    p_value = None
    if n >= MIN_UTTERANCES and std_x > 0 and std_y > 0:
        p_value = float(stats.pearsonr(x, y, alternative="greater").pvalue)
    learned = (
        p_value is not None and correlation >= min_correlation and p_value <= alpha
    )
    x_t, y_t = torch.from_numpy(x), torch.from_numpy(y)
    return AttributeCalibration(
        scale=scale,
        shift=shift,
        dev_ccc_raw=float(ccc(x_t, y_t)),
        dev_ccc_calibrated=float(ccc(x_t * scale + shift, y_t)),
        dev_correlation=correlation,
        p_value=p_value,
        utterances=n,
        learned=learned,
    )


def _labeled(predictions, labels):
    """Check the development arrays; return the labeled rows (float64)."""
    predictions = np.asarray(predictions, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    if predictions.shape != labels.shape or predictions.ndim != 1:
        raise ValueError(
            f"predictions {predictions.shape} and labels {labels.shape} must be "
            "[N] arrays of one shape"
        )
    if not np.isfinite(predictions).all():
        bad = int((~np.isfinite(predictions)).sum())
        raise ValueError(f"{bad} development predictions are not finite")
    keep = ~np.isnan(labels)
    x, y = predictions[keep], labels[keep]
    if x.size == 0:
        raise ValueError("no labeled development utterance to calibrate on")
    if not np.isfinite(y).all():
        raise ValueError("development labels must be finite or NaN (unlabeled)")
    return x, y


def fit_calibration(
    predictions,
    labels,
    attributes=ATTRIBUTES,
    min_correlation=MIN_CORRELATION,
    alpha=ALPHA,
):
    """Fit a ``Calibration`` on development predictions and labels.

    Arguments
    ---------
    predictions, labels : torch.Tensor or numpy.ndarray
        ``[N, K]`` raw development predictions and labels, on the scale the
        calibration will be applied on (the served label scale, e.g. 1-7).
        NaN labels (unlabeled rows) are left out, attribute by attribute.
    attributes : sequence of str
        Names of the K columns.
    min_correlation, alpha : float
        The rule for "learned" (see the module's docstring).

    Returns
    -------
    Calibration

    Example
    -------
    >>> labels = torch.tensor([[2.0], [3.0], [5.0], [6.0], [float("nan")]])
    >>> raw = torch.tensor([[-4.0], [-3.9], [-3.7], [-3.6], [-3.0]])
    >>> c = fit_calibration(raw, labels, attributes=("arousal",))
    >>> values, learned = c.apply(raw[:4])
    >>> values.squeeze(1).round(decimals=3), learned
    (tensor([2., 3., 5., 6.]), tensor([True]))
    """
    predictions = _as_array(predictions, "predictions")
    labels = _as_array(labels, "labels")
    attributes = tuple(attributes)
    if predictions.shape != labels.shape or predictions.shape[1] != len(attributes):
        raise ValueError(
            f"predictions {predictions.shape} and labels {labels.shape} must both "
            f"be [N, {len(attributes)}] ({', '.join(attributes)})"
        )
    fitted = {}
    for index, name in enumerate(attributes):
        try:
            fitted[name] = fit_attribute(
                predictions[:, index], labels[:, index], min_correlation, alpha
            )
        except ValueError as error:
            raise ValueError(f"calibration of {name}: {error}") from None
    return Calibration(fitted, min_correlation, alpha)
