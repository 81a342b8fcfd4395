"""A file's row from its rated windows, as ``EncoderRegressor`` serves it.

The duration-weighted mean of the rated windows, clipped to the label scale
(attributes outside it named in ``out_of_range``), attributes not learned
withheld (None, named in ``not_learned``), warnings for windows without
speech, and optionally the windows themselves (a timeline).

Authors
 * speechbrain-lora-ser contributors 2026
"""

import numpy as np

from speechbrain_lora_ser.modeling.labels import ATTRIBUTES

#: Columns of the CSV rows (as ``speechbrain_lora_ser.serving.predict.COLUMNS``).
COLUMNS = [
    "file",
    *ATTRIBUTES,
    "label_low",
    "label_high",
    "language",
    "language_probability",
    "not_learned",
    "out_of_range",
    "warning",
    "error",
]


def new_result(path):
    """Make an empty result row for ``path``.

    Example
    -------
    >>> sorted(new_result("a.wav"))[:3]
    ['arousal', 'dominance', 'duration']
    """
    result = {"file": str(path), **dict.fromkeys(ATTRIBUTES)}
    result.update(label_low=None, label_high=None)
    result.update(not_learned=[], out_of_range=[], warning=None)
    result.update(error=None, duration=None)
    result.update(language=None, language_probability=None)
    return result


def summarise(result, windows, info, options):
    """Fill ``result`` from ``(AudioWindow, (values, learned) or None)`` pairs."""
    rate = info["sample_rate"]
    result["duration"] = windows[-1][0].end / rate
    rated = [(w, r) for w, r in windows if r is not None]
    warnings = list(dict.fromkeys(w.warning for w, _ in windows if w.warning))
    skipped = len(windows) - len(rated)
    if not rated:
        warning = warnings[0] if warnings else "no window to rate"
        if len(windows) > 1:
            warning = f"none of the {len(windows)} windows rated: {warning}"
        result["warning"] = warning
    else:
        parts = [
            f"{skipped} of {len(windows)} windows without speech, not rated"
            if skipped
            else None,
            *dict.fromkeys(w.warning for w, _ in rated if w.warning),
        ]
        result["warning"] = "; ".join(filter(None, parts)) or None
        weights = np.array([w.end - w.start for w, _ in rated], dtype=np.float32)
        values = np.stack([r[0] for _, r in rated])
        mean = (values * weights[:, None]).sum(0) / weights.sum()
        result.update(shown(mean, rated[0][1][1], info, options["clip"]))
    if options["return_windows"]:
        result["windows"] = [
            _window_entry(window, rating, info, options) for window, rating in windows
        ]


def _window_entry(window, rating, info, options):
    rate = info["sample_rate"]
    entry = {"start": window.start / rate, "end": window.end / rate}
    entry["speech_seconds"] = window.speech_seconds
    entry["warning"] = window.warning
    if rating is None:
        return entry | dict.fromkeys(ATTRIBUTES) | {"not_learned": []}
    return entry | shown(rating[0], rating[1], info, options["clip"])


def shown(values, learned, info, clip):
    """Return the attributes as served, their scale and what is odd about them.

    Example
    -------
    >>> info = {"label_low": 1.0, "label_high": 7.0}
    >>> row = shown(np.array([0.5, 4.0, np.nan], dtype=np.float32),
    ...     np.array([True, True, False]), info, clip=True)
    >>> row["arousal"], row["dominance"], row["out_of_range"], row["not_learned"]
    (1.0, None, ['arousal'], ['dominance'])
    """
    low = np.float32(info["label_low"])
    high = np.float32(info["label_high"])
    with np.errstate(invalid="ignore"):
        outside = ((values < low) | (values > high)) & learned
    if clip:
        values = np.maximum(np.minimum(values, high), low)
    row = {
        name: float(value) if known else None
        for name, value, known in zip(ATTRIBUTES, values, learned, strict=True)
    }
    return row | {
        "label_low": float(low),
        "label_high": float(high),
        "not_learned": [a for a, k in zip(ATTRIBUTES, learned, strict=True) if not k],
        "out_of_range": [a for a, o in zip(ATTRIBUTES, outside, strict=True) if o],
    }
