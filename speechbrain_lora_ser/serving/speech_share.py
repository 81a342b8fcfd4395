"""How much of a file's sound the speech detector heard as speech (numpy only).

Silero VAD hears some voices weakly (whispered, synthetic or heavily
processed speech): a window with too little speech is withheld, so a file
whose speech the detector misses would come out withheld or rated on a few
windows. What tells a missed voice from a recording without speech is the
level: a file that is loud for most of its length but heard as speech for
a small share of it is taken to be missed, and is rated without the
detector, with a warning naming the settings (``missed_speech``).

Both detectors, PyTorch's (``serving.long_audio``) and ONNX Runtime's
(``onnx.vad``), keep one level per frame and use this module, which imports
neither.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import numpy as np

#: Speech probability from which a frame is speech (Silero's own default).
VAD_THRESHOLD = 0.5
#: Below this share of a file's sound heard as speech, the detector is taken
#: to have missed the speech: the file is rated without it, with a warning.
#: 0 keeps the detector's verdict whatever it is.
MIN_SPEECH_SHARE = 0.2
#: Frames within this many dB of a file's loud frames (the level its 10 %
#: loudest reach) are its sound; quieter ones are pauses, room noise, silence.
SOUND_RANGE_DB = 30.0
#: Frames quieter than this (RMS, dBFS) are never sound: room noise, hum and
#: the hiss of pauses (white noise of standard deviation 0.003 is -50 dBFS).
SOUND_FLOOR_DBFS = -45.0


def frame_levels(frames):
    """Each frame's RMS level in -dBFS, rounded into 0 to 255 (one byte each).

    Example
    -------
    >>> frames = np.stack([np.full(512, 0.1), np.zeros(512)]).astype("float32")
    >>> list(frame_levels(frames))
    [20, 255]
    """
    power = np.square(np.asarray(frames, dtype=np.float64)).mean(axis=1)
    decibels = -10 * np.log10(np.maximum(power, 1e-30))
    return bytes(np.clip(np.round(decibels), 0, 255).astype(np.uint8))


def heard(levels, flags, frame_seconds, sound_range_db=SOUND_RANGE_DB):
    """Seconds of speech among a stream's sound, and seconds of sound.

    The sound is the frames within ``sound_range_db`` of the loud frames
    and above ``SOUND_FLOOR_DBFS``: a recording of pauses and room noise
    alone has no sound, and its withheld windows stand.

    Arguments
    ---------
    levels : bytes
        Each frame's level (``frame_levels``).
    flags : bytes
        Each frame's speech flag (1: speech), as many as ``levels``.
    frame_seconds : float
        Seconds per frame.
    sound_range_db : float
        Frames within this of the loud frames are the sound.

    Returns
    -------
    tuple of float
        ``(speech, sound)`` in seconds; (0.0, 0.0) for digital silence.

    Example
    -------
    >>> levels = bytes([20] * 30 + [90] * 20)  # -20 and -90 dBFS
    >>> flags = bytes([1] * 10 + [0] * 40)
    >>> heard(levels, flags, 0.032)  # 10 of 30 loud frames are speech
    (0.32, 0.96)
    >>> heard(bytes([50] * 30), bytes(30), 0.032)  # hiss at -50 dBFS alone
    (0.0, 0.0)
    """
    levels = np.frombuffer(bytes(levels), dtype=np.uint8)
    if not levels.size or levels.min() >= 255:
        return 0.0, 0.0
    sounding = (levels <= np.percentile(levels, 10) + sound_range_db) & (
        levels <= -SOUND_FLOOR_DBFS
    )
    speech = np.frombuffer(bytes(flags), dtype=np.uint8)[: levels.size].astype(bool)
    return (
        round(float((speech & sounding[: speech.size]).sum()) * frame_seconds, 6),
        round(float(sounding.sum()) * frame_seconds, 6),
    )


def missed_speech(speech, sound, min_speech_share, vad_threshold, min_sound=0.0):
    """Return the warning of a file whose detector missed its speech, or None.

    ``min_sound`` is the speech a window of the file would need: less sound
    than that (a few loud frames of faint noise) could not be a window's
    missed speech, so the detector's verdict stands.

    Example
    -------
    >>> missed_speech(30.0, 40.0, 0.2, 0.5) is None
    True
    >>> print(missed_speech(0.0, 40.0, 0.2, 0.5)[:60])
    the speech detector heard 0.0 s of speech in 40.0 s of sound
    >>> missed_speech(0.0, 0.1, 0.2, 0.5, min_sound=0.5) is None
    True
    """
    if not sound or sound < min_sound or speech >= min_speech_share * sound:
        return None
    return (
        f"the speech detector heard {speech:.1f} s of speech in {sound:.1f} s "
        f"of sound (less than min_speech_share {min_speech_share:g}), so the "
        "file was rated without it, as with --no_vad; a lower --vad_threshold "
        f"(now {vad_threshold:g}) may hear the speech, and --min_speech_share 0 "
        "keeps the detector's verdict"
    )


def check_settings(vad_threshold, min_speech_share):
    """Refuse a threshold outside (0, 1) or a share outside [0, 1].

    Example
    -------
    >>> check_settings(0.5, 0.2)
    >>> check_settings(1.0, 0.2)
    Traceback (most recent call last):
    ...
    ValueError: vad_threshold must be in (0, 1), not 1.0
    """
    if not 0 < vad_threshold < 1:
        raise ValueError(f"vad_threshold must be in (0, 1), not {vad_threshold}")
    if not 0 <= min_speech_share <= 1:
        raise ValueError(f"min_speech_share must be in [0, 1], not {min_speech_share}")
