"""Audio for the ONNX runtime: files read in blocks, windows, the silence rules.

The numpy counterpart of ``speechbrain_lora_ser.serving.audio`` and
``speechbrain_lora_ser.serving.long_audio`` (which import torch): a file of any
rate and channel count is read in blocks, mixed down (mean of the
channels), resampled with soxr's streaming resampler and cut into the
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
import soundfile
import soxr

#: Peak amplitude below which a signal is digital silence (16-bit: < 1 LSB).
SILENCE_PEAK = 1.0 / 32768
#: RMS level (dBFS) below which audio is flagged as near-silence.
NEAR_SILENCE_DBFS = -60.0
#: Seconds of the file read at once (input rate).
BLOCK_SECONDS = 20.0


class AudioProblem(ValueError):
    """Audio that cannot be rated; the message names the file and the problem.

    Example
    -------
    >>> str(AudioProblem("a.wav", "audio file is empty"))
    'a.wav: audio file is empty'
    """

    def __init__(self, path, problem):
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


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


def audio_seconds(path):
    """Duration of a file from its header (None when it cannot be read)."""
    try:
        return soundfile.info(str(path)).duration
    except Exception:  # soundfile raises several error types
        return None


def check_duration(path, samples, sample_rate, min_samples):
    """Refuse audio shorter than the encoder's receptive field.

    Example
    -------
    >>> check_duration("a.wav", 200, 16000, 400)
    Traceback (most recent call last):
    ...
    speechbrain_lora_ser.onnx.audio.AudioProblem: a.wav: audio is 12.5 ms long; \
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


def stream_audio(path, sample_rate, block_seconds=BLOCK_SECONDS):
    """Read a file in blocks as mono float32 audio at ``sample_rate``.

    Raises ``AudioProblem`` for an unreadable or empty file, and for NaN or
    infinite samples (after scanning the whole file, to count them).

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "stereo.flac")
    >>> soundfile.write(path, np.zeros((44100, 2), dtype="float32"), 44100)
    >>> sum(block.shape[0] for block in stream_audio(path, 16000))
    16000
    """
    try:
        handle = soundfile.SoundFile(str(path))
    except Exception as error:  # soundfile raises several error types
        raise AudioProblem(path, f"unreadable audio ({error})") from error
    with handle:
        rate = handle.samplerate
        resampler = None
        if rate != sample_rate:
            resampler = soxr.ResampleStream(rate, sample_rate, 1, dtype="float32")
        bad = read = 0
        first_bad = None
        while True:
            try:
                block = handle.read(
                    max(1, int(block_seconds * rate)), dtype="float32", always_2d=True
                )
            except Exception as error:  # a corrupt stream fails mid-file
                raise AudioProblem(path, f"unreadable audio ({error})") from error
            if block.shape[0] == 0:
                break
            finite = np.isfinite(block)
            if first_bad is None and not finite.all():
                first_bad = read + int(np.argmin(finite.all(axis=1)))
            read += block.shape[0]
            if first_bad is not None:
                bad += int(block.size - np.count_nonzero(finite))
                continue  # scan on, to count them all; yield nothing more
            mono = block.mean(axis=1, dtype=np.float32)
            yield mono if resampler is None else resampler.resample_chunk(mono)
        if read == 0:
            raise AudioProblem(path, "audio file is empty")
        if first_bad is not None:
            raise AudioProblem(
                path,
                f"{bad} of {read * handle.channels} samples are NaN or infinite "
                "(a corrupt or badly converted file; the first at "
                f"{first_bad / rate:.2f} s)",
            )
        if resampler is not None:
            yield resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)


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
