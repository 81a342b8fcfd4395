"""A file's result row from its rated windows, for both runtimes (numpy only).

A file's row holds the attributes (the duration-weighted mean of its rated
windows, clipped to the label scale, attributes outside it named in
``out_of_range``, attributes not learned withheld and named in
``not_learned``), a ``warning`` (windows without speech, silence, what the
speech detector missed), an ``error`` when it could not be rated, and
optionally its windows (a timeline). ``EncoderRegressor.predict_files``
(``serving.inference``) and ``OnnxRegressor.predict_files``
(``onnx.runtime``) fill it with the helpers below.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import numpy as np

from speechbrain_lora_ser.modeling.labels import ATTRIBUTES
from speechbrain_lora_ser.serving.decoding import AudioProblem, file_error
from speechbrain_lora_ser.serving.windows import MIN_SPEECH_SECONDS

#: A withheld window's values.
WITHHELD = dict.fromkeys(ATTRIBUTES) | {"not_learned": []}


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


def fail(result, error):
    """Make ``result`` its file's error row (``decoding.file_error``).

    Example
    -------
    >>> row = new_result("a.wav")
    >>> fail(row, ValueError("bad"))
    >>> row["error"]
    'a.wav: ValueError: bad'
    """
    path = result["file"]
    message = file_error(path, error)
    result.clear()
    result.update(new_result(path), error=message)


def one_file(result, path):
    """Return a ``predict_files`` row as ``predict_file`` does: its error raised.

    Raises
    ------
    AudioProblem
        The row's error (the file could not be rated).

    Example
    -------
    >>> one_file(new_result("a.wav"), "a.wav")["arousal"] is None
    True
    >>> one_file(dict(new_result("a.wav"), error="a.wav: empty"), "a.wav")
    Traceback (most recent call last):
    ...
    speechbrain_lora_ser.serving.decoding.AudioProblem: a.wav: empty
    """
    if result["error"]:
        raise AudioProblem(path, result["error"].split(": ", 1)[-1])
    del result["file"], result["error"]
    return result


def lead_warning(result, warning):
    """Put ``warning`` (if any) first in the row's ``warning``.

    Example
    -------
    >>> row = {"warning": "near-silence"}
    >>> lead_warning(row, "the speech detector missed")
    >>> row["warning"]
    'the speech detector missed; near-silence'
    """
    if warning:
        result["warning"] = "; ".join(filter(None, [warning, result["warning"]]))


def windows_warning(windows, notes=()):
    """Return the file's warning from its ``(AudioWindow, rating or None)`` pairs.

    Windows that could not be rated (no speech, silence) are counted, and
    when none could the first reason is given; a file whose rated windows
    hold less speech than a long recording's window needs
    (``MIN_SPEECH_SECONDS``: a clip shorter than a second may be rated on
    less) is said to be; the rated windows' own warnings and the ``notes``
    of their ratings (e.g. the routing's) follow, each once.

    Example
    -------
    >>> from speechbrain_lora_ser.serving.windows import AudioWindow
    >>> quiet = AudioWindow(0, 2, None, None, "no speech", True)
    >>> loud = AudioWindow(1, 3, None, None, None, False)
    >>> windows_warning([(quiet, None), (loud, "rating")])
    '1 of 2 windows without speech, not rated'
    >>> windows_warning([(quiet, None), (quiet, None)])
    'none of the 2 windows rated: no speech'
    >>> print(windows_warning([(AudioWindow(0, 800, None, 0.05, None, False), 1)]))
    only 0.05 s of speech rated (under 0.5 s): a less reliable value
    """
    rated = [w for w, r in windows if r is not None]
    if not rated:
        warnings = [w.warning for w, _ in windows if w.warning]
        warning = warnings[0] if warnings else "no window to rate"
        if len(windows) > 1:
            warning = f"none of the {len(windows)} windows rated: {warning}"
        return warning
    skipped = len(windows) - len(rated)
    speech = [w.speech_seconds for w in rated if w.speech_seconds is not None]
    parts = [
        f"{skipped} of {len(windows)} windows without speech, not rated"
        if skipped
        else None,
        f"only {max(speech):.2f} s of speech rated (under "
        f"{MIN_SPEECH_SECONDS:g} s): a less reliable value"
        if speech and max(speech) < MIN_SPEECH_SECONDS
        else None,
        *dict.fromkeys(w.warning for w in rated if w.warning),
        *dict.fromkeys(note for note in notes if note),
    ]
    return "; ".join(filter(None, parts)) or None


def shown(values, learned, low, high, clip):
    """Return the attributes as served, their scale and what is odd about them.

    A learned value outside ``[low, high]`` is named in ``out_of_range``
    and, with ``clip``, clipped to it; an attribute not learned is None.

    Arguments
    ---------
    values : numpy.ndarray
        ``[3]`` float32 values on the label scale (NaN where not learned).
    learned : numpy.ndarray
        ``[3]`` booleans.
    low, high : numpy.float32
        The label scale.
    clip : bool
        Clip learned values to the scale.

    Example
    -------
    >>> row = shown(np.array([0.5, 4.0, np.nan], dtype=np.float32),
    ...     np.array([True, True, False]), np.float32(1), np.float32(7), clip=True)
    >>> row["arousal"], row["dominance"], row["out_of_range"], row["not_learned"]
    (1.0, None, ['arousal'], ['dominance'])
    """
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


def window_times(window, sample_rate):
    """Start a timeline entry: times in seconds, speech, the window's warning.

    Example
    -------
    >>> from speechbrain_lora_ser.serving.windows import AudioWindow
    >>> window_times(AudioWindow(8000, 24000, None, 0.8, None, False), 16000)
    {'start': 0.5, 'end': 1.5, 'speech_seconds': 0.8, 'warning': None}
    """
    return {
        "start": window.start / sample_rate,
        "end": window.end / sample_rate,
        "speech_seconds": window.speech_seconds,
        "warning": window.warning,
    }
