"""A file's analysis windows, streamed, with the silence and speech rules.

The one place that cuts audio into the windows a model rates, for both
runtimes: ``EncoderRegressor`` (``serving.long_audio`` gives the windows
as tensors) and the ONNX runtime (``onnx.runtime``, no torch). This module
imports numpy only.

``stream_windows`` reads a file of any length, rate and channel count in
blocks (``serving.decoding``: mixed down, resampled by soxr's streaming
resampler) and yields the windows (``window_seconds`` every
``hop_seconds``, the last aligned to the end) as soon as they are
complete, holding at most a window plus a block of audio. Each window is
judged: digital silence and constant signals are withheld
(``signal_warning``); with a speech detector (``serving.speech_frames``), a
window with too little speech is withheld and a rated one keeps its speech
alone. ``FileWindows`` is how a runtime reads its files: its settings,
speech detection, and a second pass without the detector when it missed
a file's speech.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import math
from typing import Any, NamedTuple

import numpy as np

from speechbrain_lora_ser.serving.decoding import (
    BLOCK_SECONDS,
    AudioProblem,
    stream_audio,
)
from speechbrain_lora_ser.serving.speech_share import (
    MIN_SPEECH_SHARE,
    VAD_THRESHOLD,
    missed_speech,
)

#: Peak amplitude below which a signal is digital silence (16-bit: < 1 LSB).
SILENCE_PEAK = 1.0 / 32768
#: RMS level (dBFS) below which audio is flagged as near-silence.
NEAR_SILENCE_DBFS = -60.0
#: A window with less speech than this (seconds, VAD) is not rated.
MIN_SPEECH_SECONDS = 0.5


class AudioWindow(NamedTuple):
    """One analysis window of a streamed file.

    ``start`` and ``end`` are sample indices at the model's rate, ``wav`` the
    mono waveform that is rated (a numpy array, a tensor on the PyTorch
    side; with a speech detector, the window's speech alone: its pauses left
    out), ``speech_seconds`` the speech the detector found in it (None
    without one), ``warning`` what is odd about it and ``withhold`` whether
    no value should be given (no speech, digital silence, a constant signal).
    """

    start: int
    end: int
    wav: Any
    speech_seconds: float | None
    warning: str | None
    withhold: bool


def window_bounds(samples, window, hop):
    """``(start, end)`` of the windows of a recording, the last aligned to the end.

    One window per ``hop`` samples while a whole window fits, then one that
    ends with the recording; a recording no longer than a window is one
    window.

    Example
    -------
    >>> window_bounds(25, window=10, hop=5)
    [(0, 10), (5, 15), (10, 20), (15, 25)]
    >>> window_bounds(27, window=10, hop=5)
    [(0, 10), (5, 15), (10, 20), (15, 25), (17, 27)]
    >>> window_bounds(7, window=10, hop=5)
    [(0, 7)]
    """
    check_window(window, hop)
    if samples <= window:
        return [(0, samples)]
    starts = list(range(0, samples - window + 1, hop))
    if starts[-1] + window < samples:
        starts.append(samples - window)
    return [(s, s + window) for s in starts]


def check_window(window, hop):
    """Refuse windows or hops shorter than a sample.

    Example
    -------
    >>> check_window(10, 0)
    Traceback (most recent call last):
    ...
    ValueError: window and hop must be at least one sample (got 10 and 0)
    """
    if window < 1 or hop < 1:
        raise ValueError(
            f"window and hop must be at least one sample (got {window} and {hop})"
        )


def check_duration(path, samples, sample_rate, min_samples):
    """Refuse audio of ``samples`` samples, shorter than the receptive field.

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

    Digital silence and a constant signal (e.g. clipped to one value) carry
    no speech: the waveform normalisation would turn them into noise-free
    zeros, and any value the model gave would be an artefact, so they are
    withheld. Near-silence is still rated (normalisation restores the level
    of quiet but real speech), with a warning.

    Arguments
    ---------
    wav : numpy.ndarray or torch.Tensor
        ``[samples]`` waveform (a tensor on the CPU).
    silence_peak : float
        Peak amplitude below which the audio is digital silence.
    near_silence_dbfs : float
        RMS level below which the audio is flagged as near-silence.

    Returns
    -------
    warning : str or None
        What is odd about the audio.
    withhold : bool
        Whether no value should be given.

    Example
    -------
    >>> signal_warning(np.zeros(16000, dtype=np.float32))
    ('digital silence (peak 0): no speech to rate, values withheld', True)
    >>> signal_warning(np.full(16000, 0.99))[1]
    True
    >>> signal_warning(0.5 * np.sin(np.arange(16000.0)))
    (None, False)
    """
    wav = np.asarray(wav)
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
        check_window(window, hop)
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
        # keep the last window's worth: the final window ends with the stream
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


class WindowJudge:
    """What makes a window withheld: the silence rules, and speech if detected.

    Arguments
    ---------
    detector : speechbrain_lora_ser.serving.speech_frames.FrameSpeech or None
        The file's speech detector (None: the silence rules alone).
    min_speech_seconds : float
        Speech a window needs to be rated (with a detector); a recording
        shorter than this needs speech over half its length.
    silence_peak, near_silence_dbfs : float
        Thresholds of ``signal_warning``.

    Example
    -------
    >>> judge = WindowJudge()
    >>> judge(0, 3, np.zeros(3, dtype=np.float32)).withhold
    True
    """

    def __init__(
        self,
        detector=None,
        min_speech_seconds=MIN_SPEECH_SECONDS,
        silence_peak=SILENCE_PEAK,
        near_silence_dbfs=NEAR_SILENCE_DBFS,
    ):
        self.detector, self.min_speech = detector, min_speech_seconds
        self.silence_peak, self.near_silence_dbfs = silence_peak, near_silence_dbfs
        #: How many windows it let through to be rated.
        self.rated = 0

    def __call__(self, start, end, wav):
        """Make the ``AudioWindow``: speech seconds, warning, withhold flag."""
        warning, withhold = signal_warning(
            wav, self.silence_peak, self.near_silence_dbfs
        )
        detector, speech = self.detector, None
        if detector is not None:
            speech = detector.speech_seconds(start, end)
            needed = min(self.min_speech, 0.5 * (end - start) / detector.sample_rate)
            if not withhold and speech < needed:
                warning = (
                    f"no speech ({speech:.2f} s of speech found, {needed:.2f} s "
                    "needed): values withheld"
                )
                withhold = True
            if not withhold:
                wav = detector.speech_only(wav, start)
        self.rated += not withhold
        return AudioWindow(start, end, wav, speech, warning, withhold)


def stream_windows(
    path,
    sample_rate,
    window_seconds,
    hop_seconds,
    judge,
    min_samples=0,
    block_seconds=BLOCK_SECONDS,
):
    """Stream a file's analysis windows, judged, as numpy arrays.

    The windows are ``window_bounds`` of the file's length at
    ``sample_rate`` and their audio equals the whole-file
    ``decoding.read_audio``'s. A window is given once the judge's detector
    (if any) has heard all of it.

    Arguments
    ---------
    path : str
        Audio file (any rate, any channel count).
    sample_rate : int
        The model's rate.
    window_seconds, hop_seconds : float
        Window length and hop.
    judge : WindowJudge
        Judges each window (its detector, a fresh one per file, hears every
        block).
    min_samples : int
        Fewest samples the encoder can rate (``AudioProblem`` if shorter).
    block_seconds : float
        Seconds of the file read at a time.

    Yields
    ------
    AudioWindow
        In order of ``start``.

    Raises
    ------
    AudioProblem
        As ``decoding.stream_audio`` (unreadable, empty, NaN or infinite
        samples) and ``check_duration``; raised when found, so windows
        yielded before a NaN block must be discarded by the caller (the file
        is an error).

    Example
    -------
    >>> import os, tempfile, soundfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tone.wav")
    >>> tone = 0.3 * np.sin(np.arange(8 * 8000) / 3).astype("float32")
    >>> soundfile.write(path, tone, 8000)  # 8 s at 8 kHz
    >>> [(w.start / 16000, w.end / 16000, w.withhold) for w in
    ...  stream_windows(path, 16000, 4.0, 3.0, WindowJudge())]
    [(0.0, 4.0, False), (3.0, 7.0, False), (4.0, 8.0, False)]
    """
    cutter = WindowCutter(
        int(window_seconds * sample_rate), int(hop_seconds * sample_rate)
    )
    detector = judge.detector
    for block in stream_audio(path, sample_rate, block_seconds):
        if detector is not None:
            detector.push(block)
        cutter.push(block)
        ready = cutter.buffer_end if detector is None else detector.covered
        for start, end, wav in cutter.ready(ready):
            yield judge(start, end, wav)
    if detector is not None:
        detector.flush()
    check_duration(path, cutter.buffer_end, sample_rate, min_samples)
    for start, end, wav in cutter.finish():
        yield judge(start, end, wav)


class FileWindows:
    """A runtime's files read into judged windows: settings and speech passes.

    Speech detection runs on every file, whatever its length, and keeps
    its pauses out of its value: a clip of one window is judged as a long
    recording's windows are, so the same speech gets the same value with or
    without a pause after it. When the detector heard speech in less than
    ``min_speech_share`` of a file's sound, it is taken to have missed the
    speech and the file is read again without it.

    Arguments
    ---------
    sample_rate : int
        The model's rate.
    window_seconds, hop_seconds : float
        The windows.
    detector : callable, optional
        Makes a fresh speech detector (a ``speech_frames.FrameSpeech``) for
        a file; None: the silence rules alone.
    min_samples : int
        Fewest samples the encoder can rate.
    min_speech_share, vad_threshold : float
        When the detector is taken to have missed the speech, and the
        threshold its warning names.
    silence_peak, near_silence_dbfs : float
        Thresholds of ``signal_warning``.

    Example
    -------
    >>> import os, tempfile, soundfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tone.wav")
    >>> soundfile.write(path, 0.3 * np.sin(np.arange(8000) / 3), 16000)
    >>> windows, missed = FileWindows(16000, 4.0, 3.0).read(path, list)
    >>> [(w.start, w.end, w.withhold) for w in windows], missed
    ([(0, 8000, False)], None)
    """

    def __init__(
        self,
        sample_rate,
        window_seconds,
        hop_seconds,
        detector=None,
        min_samples=0,
        min_speech_share=MIN_SPEECH_SHARE,
        vad_threshold=VAD_THRESHOLD,
        silence_peak=SILENCE_PEAK,
        near_silence_dbfs=NEAR_SILENCE_DBFS,
    ):
        self.sample_rate, self.min_samples = sample_rate, min_samples
        self.window_seconds, self.hop_seconds = window_seconds, hop_seconds
        self.detector = detector
        self.min_speech_share, self.vad_threshold = min_speech_share, vad_threshold
        self.silence_peak, self.near_silence_dbfs = silence_peak, near_silence_dbfs

    def read(self, path, consume):
        """``consume`` a file's windows; again without the detector if it missed.

        Arguments
        ---------
        path : str
            The audio file.
        consume : callable
            Takes the file's ``AudioWindow`` iterator (numpy audio).

        Returns
        -------
        consumed
            What ``consume`` returned (for the second pass, if any).
        missed : str or None
            The warning of a detector that missed the speech (None when the
            silence rules withhold the whole file without it too).
        """
        detector = None if self.detector is None else self.detector()
        consumed = consume(self._windows(path, self._judge(detector)))
        missed = None
        if detector is not None:
            speech, sound = detector.heard()
            seconds = detector.covered / detector.sample_rate
            missed = missed_speech(
                speech,
                sound,
                self.min_speech_share,
                self.vad_threshold,
                min(MIN_SPEECH_SECONDS, 0.5 * seconds),  # as a window needs
            )
        if missed:
            judge = self._judge(None)
            consumed = consume(self._windows(path, judge))
            if not judge.rated:  # a constant signal: the detector missed nothing
                missed = None
        return consumed, missed

    def _judge(self, detector):
        return WindowJudge(
            detector,
            silence_peak=self.silence_peak,
            near_silence_dbfs=self.near_silence_dbfs,
        )

    def _windows(self, path, judge):
        return stream_windows(
            path,
            self.sample_rate,
            self.window_seconds,
            self.hop_seconds,
            judge,
            self.min_samples,
        )
