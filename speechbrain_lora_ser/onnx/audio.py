"""Audio for the ONNX runtime: files read in blocks, windows, the silence rules.

The numpy counterpart of ``speechbrain_lora_ser.serving.audio`` and
``speechbrain_lora_ser.serving.long_audio`` (which import torch): a file of any
rate and channel count is read in blocks, mixed down (mean of the
channels) and resampled with soxr's streaming resampler by
``speechbrain_lora_ser.serving.decoding`` (torch-free, the reader the
PyTorch side uses too), and cut into the
windows ``EncoderRegressor`` rates (``window_seconds`` every
``hop_seconds``, the last aligned to the end), holding at most a window
plus a block. Bad audio gives the same ``AudioProblem`` messages (the file
named, the problem said); ``tests/test_onnx.py`` checks the messages and
the thresholds against the PyTorch side.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import math
from typing import NamedTuple

import numpy as np

from speechbrain_lora_ser.serving.decoding import (  # noqa: F401 - re-exported
    BLOCK_SECONDS,
    AudioProblem,
    audio_seconds,
    stream_audio,
)

#: Peak amplitude below which a signal is digital silence (16-bit: < 1 LSB).
SILENCE_PEAK = 1.0 / 32768
#: RMS level (dBFS) below which audio is flagged as near-silence.
NEAR_SILENCE_DBFS = -60.0


class AudioWindow(NamedTuple):
    """One analysis window: sample bounds at the model's rate, what is rated.

    ``wav`` is the rated audio (with a VAD, the window's speech alone),
    ``speech_seconds`` the speech the VAD found (None without one),
    ``warning`` what is odd, ``withhold`` whether no value is given.
    """

    start: int
    end: int
    wav: np.ndarray
    speech_seconds: float | None
    warning: str | None
    withhold: bool


def check_duration(path, samples, sample_rate, min_samples):
    """Refuse audio shorter than the encoder's receptive field.

    Example
    -------
    >>> check_duration("a.wav", 200, 16000, 400)
    Traceback (most recent call last):
    ...
    speechbrain_lora_ser.serving.decoding.AudioProblem: a.wav: audio is 12.5 ms long; \
the encoder needs at least 25.0 ms (400 samples at 16000 Hz)
    """
    if samples < min_samples:
        raise AudioProblem(
            path,
            f"audio is {1000 * samples / sample_rate:.1f} ms long; the "
            f"encoder needs at least {1000 * min_samples / sample_rate:.1f} ms "
            f"({min_samples} samples at {sample_rate} Hz)",
        )


def signal_warning(wav, silence_peak=SILENCE_PEAK, near_silence_dbfs=NEAR_SILENCE_DBFS):
    """Say whether a waveform is silent or constant (values withheld) or quiet.

    Returns ``(warning or None, withhold)``, as
    ``speechbrain_lora_ser.serving.audio.signal_warning``.

    Example
    -------
    >>> signal_warning(np.zeros(16000, dtype=np.float32))
    ('digital silence (peak 0): no speech to rate, values withheld', True)
    >>> signal_warning(0.5 * np.sin(np.arange(16000.0)))
    (None, False)
    """
    peak = float(np.abs(wav).max())
    if peak < silence_peak:
        return (
            f"digital silence (peak {peak:.2g}): no speech to rate, values withheld",
            True,
        )
    if float(wav.max() - wav.min()) < silence_peak:
        return (
            f"constant signal (every sample is {float(wav[0]):.3g}): no speech "
            "to rate, values withheld",
            True,
        )
    rms = math.sqrt(float(np.mean(np.square(wav.astype(np.float64)))))
    level = 20 * math.log10(max(rms, 1e-12))
    if level < near_silence_dbfs:
        return (
            f"near-silence (RMS {level:.1f} dBFS, below {near_silence_dbfs:g}): "
            "values may be unreliable",
            False,
        )
    return None, False


class WindowCutter:
    """Windows of a stream of samples, keeping at most a window plus a block.

    Example
    -------
    >>> cutter = WindowCutter(10, 5)
    >>> cutter.push(np.arange(27, dtype=np.float32))
    >>> [(s, e) for s, e, _ in cutter.finish()]
    [(0, 10), (5, 15), (10, 20), (15, 25), (17, 27)]
    """

    def __init__(self, window, hop):
        if window < 1 or hop < 1:
            raise ValueError(
                f"window and hop must be at least one sample (got {window} and {hop})"
            )
        self.window, self.hop = window, hop
        self.buffer = np.zeros(0, dtype=np.float32)
        self.buffer_start = 0  # stream index of self.buffer[0]
        self.next_start = 0  # start of the next regular window
        self.last_start = None  # start of the last window given

    @property
    def buffer_end(self):
        """Stream index just past the buffer."""
        return self.buffer_start + self.buffer.shape[0]

    def push(self, samples):
        """Append the next samples of the stream."""
        self.buffer = np.concatenate([self.buffer, samples.astype(np.float32)])

    def ready(self, limit):
        """Regular windows that end by ``limit``; then drop what no window needs."""
        while self.next_start + self.window <= min(limit, self.buffer_end):
            yield self._cut(self.next_start, self.next_start + self.window)
            self.next_start += self.hop
        keep = max(
            min(self.next_start, self.buffer_end - self.window), self.buffer_start
        )
        self.buffer = self.buffer[keep - self.buffer_start :].copy()
        self.buffer_start = keep

    def finish(self):
        """Yield the remaining regular windows and the one aligned to the end."""
        yield from self.ready(self.buffer_end)
        end = self.buffer_end
        if end <= self.window:
            if self.last_start is None:
                yield self._cut(0, end)
        elif self.last_start + self.window < end:
            yield self._cut(end - self.window, end)

    def _cut(self, start, end):
        self.last_start = start
        wav = self.buffer[start - self.buffer_start : end - self.buffer_start].copy()
        return start, end, wav
