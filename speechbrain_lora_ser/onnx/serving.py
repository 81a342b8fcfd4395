"""What an ONNX model folder holds, and the served values (no torch).

``serving.json`` beside the graph gives the sample rate, the windows, the
encoder's receptive field, the label scale and the calibration (the affine
map per attribute, and which attributes are learned: the others are
withheld), as ``speechbrain_lora_ser.serving.calibration.Calibration.to_dict``
writes it.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import json
import os

import numpy as np

from speechbrain_lora_ser.modeling.labels import ATTRIBUTES

#: Version of ``serving.json``'s layout.
FORMAT = 1
SERVING_FILE = "serving.json"
VAD_FILE = "silero_vad.onnx"
LICENSE_FILE = "silero_vad.LICENSE"


def read_serving(folder):
    """Read and check a folder's ``serving.json``.

    Raises
    ------
    ValueError
        When the folder is not an ONNX model folder of this format.
    """
    path = os.path.join(str(folder), SERVING_FILE)
    try:
        with open(path) as handle:
            info = json.load(handle)
    except FileNotFoundError as error:
        raise ValueError(
            f"{folder}: no {SERVING_FILE}; not an ONNX model folder (make one "
            "with: python -m speechbrain_lora_ser.onnx export)"
        ) from error
    if info.get("format") != FORMAT:
        raise ValueError(
            f"{path}: format {info.get('format')!r}, this runtime reads {FORMAT}"
        )
    return info


def calibration_arrays(calibration):
    """``(scale, shift, learned)`` arrays of a calibration (identity if None).

    Example
    -------
    >>> calibration_arrays(None)[2]
    array([ True,  True,  True])
    """
    if calibration is None:
        count = len(ATTRIBUTES)
        return np.ones(count), np.zeros(count), np.ones(count, dtype=bool)
    attributes = calibration["attributes"]
    if tuple(attributes) != ATTRIBUTES:
        raise ValueError(
            f"the calibration's attributes {list(attributes)} are not the "
            f"model's outputs {list(ATTRIBUTES)}, in that order"
        )
    rows = [attributes[name] for name in ATTRIBUTES]
    scale = np.array([row["scale"] for row in rows], dtype=np.float64)
    shift = np.array([row["shift"] for row in rows], dtype=np.float64)
    learned = np.array([bool(row["learned"]) for row in rows])
    return scale, shift, learned


def served(raw, calibration, calibrate=True):
    """Calibrated values (NaN where not learned) and the learned flags.

    Arguments
    ---------
    raw : numpy.ndarray
        ``[batch, 3]`` raw values on the label scale.
    calibration : dict or None
        ``serving.json``'s calibration.
    calibrate : bool
        False: the raw values, every attribute counting as learned.

    Example
    -------
    >>> c = {"attributes": {a: {"scale": 2.0, "shift": 1.0, "learned": a != "valence"}
    ...      for a in ATTRIBUTES}}
    >>> served(np.ones((1, 3), dtype=np.float32), c)
    (array([[ 3., nan,  3.]], dtype=float32), array([ True, False,  True]))
    """
    if not calibrate:
        return raw, np.ones(raw.shape[-1], dtype=bool)
    scale, shift, learned = calibration_arrays(calibration)
    values = (raw * scale.astype(raw.dtype) + shift.astype(raw.dtype)).astype(raw.dtype)
    values[..., ~learned] = np.nan
    return values, learned
