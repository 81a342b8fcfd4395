"""A file's row from its rated windows, as ``EncoderRegressor`` serves it.

The duration-weighted mean of the rated windows, shown as
``speechbrain_lora_ser.serving.summary`` shows both runtimes' values
(clipped to the label scale, attributes not learned withheld, warnings for
windows without speech), and optionally the windows themselves (a
timeline). A rating here is ``(values, learned)`` arrays.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import numpy as np

from speechbrain_lora_ser.serving.summary import (
    WITHHELD,
    shown,
    window_times,
    windows_warning,
)


def summarise(result, windows, info, options):
    """Fill ``result`` from ``(AudioWindow, (values, learned) or None)`` pairs."""
    result["duration"] = windows[-1][0].end / info["sample_rate"]
    result["warning"] = windows_warning(windows)
    rated = [(w, r) for w, r in windows if r is not None]
    if rated:
        weights = np.array([w.end - w.start for w, _ in rated], dtype=np.float32)
        values = np.stack([r[0] for _, r in rated])
        mean = (values * weights[:, None]).sum(0) / weights.sum()
        result.update(_shown(mean, rated[0][1][1], info, options["clip"]))
    if options["return_windows"]:
        result["windows"] = [
            _window_entry(window, rating, info, options) for window, rating in windows
        ]


def _window_entry(window, rating, info, options):
    entry = window_times(window, info["sample_rate"])
    if rating is None:
        return entry | WITHHELD
    return entry | _shown(rating[0], rating[1], info, options["clip"])


def _shown(values, learned, info, clip):
    low, high = np.float32(info["label_low"]), np.float32(info["label_high"])
    return shown(values, learned, low, high, clip)
