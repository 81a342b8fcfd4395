"""Long recordings in bounded memory: streamed windows, speech flags, a timeline.

A podcast episode is hours long; reading it whole costs memory in proportion
to its length (a 30-minute stereo 44.1 kHz file: +1.9 GB). ``stream_windows``
reads a file of any length, rate (4 to 384 kHz) and channel count in
blocks, mixes each block down, resamples it to the model's rate (soxr,
through ``speechbrain_lora_ser.serving.decoding``) and yields the analysis windows
(``window_seconds`` every ``hop_seconds``, the last one aligned to the end,
as ``EncoderRegressor`` cuts them) as soon as they are complete. It holds at
most a window plus a block of audio, whatever the length of the file.

Each window says whether it has speech. The silence rules of
``speechbrain_lora_ser.serving.audio`` only catch digital silence and constant
signals; the pauses of a real recording hold room noise, hum or music, which
they rate as if it were speech. ``SpeechDetector`` runs Silero VAD (the
``silero-vad`` package, its TorchScript model) once over the stream; a window
with less than ``min_speech_seconds`` of speech is flagged and its values are
withheld (``benchmarks/speech_flags.py`` compares the rules, WebRTC's VAD and
Silero on eSpeak speech with pauses under six backgrounds).

``timeline_rows`` turns predictions with windows into one row per window
(``start``, ``end`` in seconds) plus the file's summary row, for CSV or JSON.

Errors are those of ``speechbrain_lora_ser.serving.audio.read_audio``
(``AudioProblem`` naming the file), with one choice to know: a file with NaN
or infinite samples is an error for the whole file, even when the bad samples
come late. Windows already yielded must then be discarded by the caller: a
summary or timeline of part of a file, presented as the file's, would mislead;
the message counts the bad samples of the whole file (as ``read_audio`` does)
and says where the first one is.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import copy
from typing import NamedTuple

import torch
from speechbrain.utils.data_utils import batch_pad_right

from speechbrain_lora_ser.modeling.labels import ATTRIBUTES
from speechbrain_lora_ser.serving import decoding
from speechbrain_lora_ser.serving.audio import (
    NEAR_SILENCE_DBFS,
    SILENCE_PEAK,
    check_duration,
    signal_warning,
)
from speechbrain_lora_ser.serving.decoding import (  # noqa: F401 - re-exported
    BLOCK_SECONDS,
    audio_seconds,
)
from speechbrain_lora_ser.serving.speech_share import (
    SOUND_RANGE_DB,
    VAD_THRESHOLD,
    check_settings,
    frame_levels,
    heard,
)

#: RMS level (dBFS) at which the VAD hears the audio (span by span).
VAD_LEVEL_DBFS = -26.0
#: Frames of a span rescaled together for the VAD (about 1 s at 16 kHz).
SPAN_FRAMES = 32
#: Non-speech kept around each stretch of speech (seconds) when a window is
#: rated on its speech alone (VAD).
SPEECH_MARGIN_SECONDS = 0.1
#: A window with less speech than this (seconds, VAD) is not rated.
MIN_SPEECH_SECONDS = 0.5
#: Columns of a timeline (``timeline_rows``), in order.
TIMELINE_COLUMNS = [
    "file",
    "span",
    "start",
    "end",
    *ATTRIBUTES,
    "label_low",
    "label_high",
    "speech_seconds",
    "language",
    "language_probability",
    "not_learned",
    "out_of_range",
    "warning",
    "error",
]


class AudioWindow(NamedTuple):
    """One analysis window of a streamed file.

    ``start`` and ``end`` are sample indices at the model's rate, ``wav`` the
    mono waveform that is rated (``[end - start]`` samples; with a VAD, the
    window's speech alone: its pauses left out), ``speech_seconds`` the speech
    the VAD found in it (None without a VAD), ``warning`` what is odd about it and
    ``withhold`` whether no value should be given (no speech, digital
    silence, a constant signal).
    """

    start: int
    end: int
    wav: torch.Tensor
    speech_seconds: float | None
    warning: str | None
    withhold: bool


def window_bounds(samples, window, hop):
    """``(start, end)`` of the windows of a recording, the last aligned to the end.

    The windows ``EncoderRegressor`` rates: one per ``hop`` samples while a
    whole window fits, then one that ends with the recording; a recording
    no longer than a window is one window.

    Arguments
    ---------
    samples : int
        Length of the recording.
    window, hop : int
        Window length and hop, in samples.

    Returns
    -------
    list of tuple

    Example
    -------
    >>> window_bounds(25, window=10, hop=5)
    [(0, 10), (5, 15), (10, 20), (15, 25)]
    >>> window_bounds(27, window=10, hop=5)
    [(0, 10), (5, 15), (10, 20), (15, 25), (17, 27)]
    >>> window_bounds(7, window=10, hop=5)
    [(0, 7)]
    """
    _check_window(window, hop)
    if samples <= window:
        return [(0, samples)]
    starts = list(range(0, samples - window + 1, hop))
    if starts[-1] + window < samples:
        starts.append(samples - window)
    return [(s, s + window) for s in starts]


def _check_window(window, hop):
    if window < 1 or hop < 1:
        raise ValueError(
            f"window and hop must be at least one sample (got {window} and {hop})"
        )


class SpeechDetector:
    """Silero VAD over a stream: how many seconds of a span are speech.

    Each 32-ms frame (512 samples at 16 kHz, 256 at 8 kHz) gets Silero's
    speech probability, in order, the model carrying its state from frame
    to frame as in ``silero_vad.VADIterator``; a frame is speech when the
    probability is at least ``threshold``. Only one boolean per frame is
    kept (a two-hour file: 225,000), so memory does not grow with the audio.

    Arguments
    ---------
    sample_rate : int
        16000 or 8000 (Silero's rates).
    threshold : float
        Speech probability from which a frame is speech (Silero's default;
        lower it for speech Silero hears weakly, e.g. whispered or
        synthetic voices).
    silence_peak : float
        Peak below which a span is digital silence (not rescaled).

    Example
    -------
    >>> detector = SpeechDetector(16000)
    >>> detector.push(torch.zeros(16000))
    >>> detector.flush()
    >>> detector.speech_seconds(0, 16000), detector.heard()
    (0.0, (0.0, 0.0))
    """

    def __init__(
        self, sample_rate=16000, threshold=VAD_THRESHOLD, silence_peak=SILENCE_PEAK
    ):
        check_settings(threshold, 0.0)
        if sample_rate not in (8000, 16000):
            raise ValueError(
                f"Silero VAD runs at 8000 or 16000 Hz, not {sample_rate} "
                "(use vad=False for the silence rules alone)"
            )
        # a copy (about 20 ms): the model carries its state from frame to
        # frame, and streams may be interleaved
        self.model = copy.deepcopy(_silero_model())
        self.model.reset_states()
        self.sample_rate, self.threshold = sample_rate, threshold
        self.frame = 512 if sample_rate == 16000 else 256
        self.span = SPAN_FRAMES * self.frame
        self.silence_peak = silence_peak
        self.rest = torch.zeros(0)
        self.flags = bytearray()
        self.levels = bytearray()  # each frame's RMS level in -dBFS, 0 to 255

    @property
    def covered(self):
        """Samples from the start whose frames have been judged."""
        return len(self.flags) * self.frame

    def push(self, wav):
        """Judge the complete spans of the next ``[samples]`` of the stream."""
        wav = torch.cat([self.rest, wav.float()])
        complete = wav.shape[0] // self.span * self.span
        for begin in range(0, complete, self.span):
            self._judge(wav[begin : begin + self.span])
        self.rest = wav[complete:].clone()

    def flush(self):
        """Judge what is left (its last frame zero-padded, as Silero's tools do)."""
        if self.rest.shape[0]:
            frames = -(-self.rest.shape[0] // self.frame)
            padded = torch.zeros(frames * self.frame)
            padded[: self.rest.shape[0]] = self.rest
            self.rest = torch.zeros(0)
            self._judge(padded)

    def _judge(self, span):
        """Silero's verdict on each frame of a span, heard at ``VAD_LEVEL_DBFS``.

        Silero is trained on speech at everyday levels and hears nothing in
        speech recorded at -70 dBFS, which the model rates well (its input is
        normalised): the gain of a recording is not what makes it speech. So
        each span (a fixed grid of 32 frames from the start of the stream,
        whatever the blocks it is read in) is scaled to ``VAD_LEVEL_DBFS`` RMS
        first; digital silence stays silence.
        """
        self.levels.extend(frame_levels(span.view(-1, self.frame).numpy()))
        peak = span.abs().max().item() if span.numel() else 0.0
        if peak >= self.silence_peak:
            rms = span.double().pow(2).mean().sqrt().item()
            span = span * (10 ** (VAD_LEVEL_DBFS / 20) / rms)
        with torch.no_grad():
            for begin in range(0, span.shape[0], self.frame):
                frame = span[begin : begin + self.frame]
                probability = self.model(frame, self.sample_rate).item()
                self.flags.append(probability >= self.threshold)

    def heard(self, sound_range_db=SOUND_RANGE_DB):
        """Seconds of speech among the stream's sound, and seconds of sound.

        The sound is the frames within ``sound_range_db`` of the stream's
        loud frames (the level the 10 % loudest reach): what a listener
        would hear as the recording, not its pauses. Speech heard in a small
        share of it means either a recording without speech (music, noise)
        or speech the detector misses (Silero hears some synthetic, whispered
        or heavily processed voices weakly); ``min_speech_share`` of
        ``EncoderRegressor.predict_files`` decides which to assume.

        Example
        -------
        >>> detector = SpeechDetector(16000)
        >>> detector.levels = bytearray([20] * 30 + [90] * 20)  # -20, -90 dBFS
        >>> detector.flags = bytearray([1] * 10 + [0] * 40)
        >>> detector.heard()  # 10 of 30 loud frames, 32 ms each
        (0.32, 0.96)
        """
        return heard(
            self.levels, self.flags, self.frame / self.sample_rate, sound_range_db
        )

    def speech_only(self, wav, start, margin_seconds=SPEECH_MARGIN_SECONDS):
        """Return the speech of ``wav`` (which starts at sample ``start``).

        Frames judged speech are kept, with ``margin_seconds`` around each
        stretch of them (the onsets and decays Silero's frames cut short);
        the pauses between are left out, so that silence or background does
        not weigh in a window's pooled value. A window without any speech
        frame is returned whole.

        Example
        -------
        >>> detector = SpeechDetector(16000)
        >>> detector.flags = bytearray([0] * 20 + [1] * 10 + [0] * 20)
        >>> wav = torch.arange(50 * 512, dtype=torch.float32)
        >>> kept = detector.speech_only(wav, 0, margin_seconds=0.064)
        >>> kept.shape[0] // 512, int(kept[0]) // 512
        (14, 18)
        """
        first, length = start // self.frame, wav.shape[0]
        last = -(-(start + length) // self.frame)
        flags = torch.zeros(last - first, dtype=torch.bool)
        judged = self.flags[first:last]
        flags[: len(judged)] = torch.tensor(list(judged), dtype=torch.bool)
        if not flags.any():
            return wav
        margin = round(margin_seconds * self.sample_rate / self.frame)
        kept = torch.nn.functional.max_pool1d(
            flags[None, None].float(), 2 * margin + 1, stride=1, padding=margin
        )[0, 0].bool()
        offset = start - first * self.frame  # the window's start in its frame
        samples = kept.repeat_interleave(self.frame)[offset : offset + length]
        return wav[samples]

    def speech_seconds(self, start, end):
        """Seconds of speech between samples ``start`` and ``end``."""
        speech = 0
        for index in range(
            start // self.frame, min(-(-end // self.frame), len(self.flags))
        ):
            if self.flags[index]:
                low = max(start, index * self.frame)
                high = min(end, (index + 1) * self.frame)
                speech += max(high - low, 0)
        return speech / self.sample_rate


_SILERO = {}


def _silero_model():
    """Silero's TorchScript model, loaded once per process."""
    if "model" not in _SILERO:
        try:
            from importlib.resources import files

            import silero_vad  # noqa: F401 - the package that ships the model
        except ImportError as error:
            raise ImportError(
                "speech detection needs the silero-vad package "
                "(pip install silero-vad), or vad=False for the silence rules"
            ) from error
        path = files("silero_vad.data").joinpath("silero_vad.jit")
        _SILERO["model"] = torch.jit.load(str(path), map_location="cpu").eval()
    return _SILERO["model"]


def stream_audio(path, sample_rate, block_seconds=BLOCK_SECONDS):
    """Read a file in blocks as mono audio at ``sample_rate``, as tensors.

    The blocks of ``speechbrain_lora_ser.serving.decoding.stream_audio``
    (mixed down, resampled by soxr's streaming resampler in bounded memory
    at any accepted rate); joined, they equal ``read_audio``'s waveform.

    Arguments
    ---------
    path : str
        Any format soundfile reads.
    sample_rate : int
        The model's rate.
    block_seconds : float
        Seconds read at a time.

    Yields
    ------
    torch.Tensor
        ``[samples]`` float32 blocks, in order.

    Raises
    ------
    AudioProblem
        Unreadable or empty file, a refused sample rate; NaN or infinite
        samples (after the whole file has been scanned, so that the count is
        the file's).

    Example
    -------
    >>> import os, tempfile, numpy as np, soundfile
    >>> path = os.path.join(tempfile.mkdtemp(), "stereo.flac")
    >>> soundfile.write(path, np.zeros((44100, 2), dtype="float32"), 44100)
    >>> sum(block.shape[0] for block in stream_audio(path, 16000))
    16000
    """
    for block in decoding.stream_audio(path, sample_rate, block_seconds):
        yield torch.from_numpy(block)


def stream_windows(
    path,
    sample_rate,
    window_seconds,
    hop_seconds,
    vad=True,
    min_speech_seconds=MIN_SPEECH_SECONDS,
    min_samples=0,
    block_seconds=BLOCK_SECONDS,
    silence_peak=SILENCE_PEAK,
    near_silence_dbfs=NEAR_SILENCE_DBFS,
):
    """Stream a file's analysis windows, with their speech flags.

    Holds at most a window plus a block of audio: memory does not grow with
    the file. The windows are ``window_bounds`` of the file's length at
    ``sample_rate`` (the last aligned to the end) and their audio equals the
    whole-file ``read_audio``'s.

    Arguments
    ---------
    path : str
        Audio file (any rate, any channel count).
    sample_rate : int
        The model's rate.
    window_seconds, hop_seconds : float
        Window length and hop.
    vad : bool or SpeechDetector
        Judge speech with Silero VAD (True: a new ``SpeechDetector``); a
        window with less than ``min_speech_seconds`` of speech is withheld.
        False: the silence rules alone (digital silence, constant signal).
    min_speech_seconds : float
        Speech a window needs to be rated (VAD); a recording shorter than
        this needs speech over half its length.
    min_samples : int
        Fewest samples the encoder can rate (``AudioProblem`` if shorter).
    block_seconds : float
        Seconds of the file read at a time.
    silence_peak, near_silence_dbfs : float
        Thresholds of ``speechbrain_lora_ser.serving.audio.signal_warning``.

    Yields
    ------
    AudioWindow
        In order of ``start``.

    Raises
    ------
    AudioProblem
        As ``read_audio`` (unreadable, empty, NaN or infinite samples) and
        ``check_duration``; raised when found, so windows yielded before a
        NaN block must be discarded by the caller (the file is an error).

    Example
    -------
    >>> import os, tempfile, numpy as np, soundfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tone.wav")
    >>> tone = 0.3 * np.sin(np.arange(8 * 8000) / 3).astype("float32")
    >>> soundfile.write(path, tone, 8000)  # 8 s at 8 kHz
    >>> [(w.start / 16000, w.end / 16000, w.withhold) for w in
    ...  stream_windows(path, 16000, 4.0, 3.0, vad=False)]
    [(0.0, 4.0, False), (3.0, 7.0, False), (4.0, 8.0, False)]
    """
    window = int(window_seconds * sample_rate)
    hop = int(hop_seconds * sample_rate)
    _check_window(window, hop)
    detector = vad
    if vad is True:
        detector = SpeechDetector(sample_rate, silence_peak=silence_peak)
    elif vad is False or vad is None:
        detector = None
    cutter = _WindowCutter(window, hop)
    for block in stream_audio(path, sample_rate, block_seconds):
        if detector is not None:
            detector.push(block)
        cutter.push(block)
        ready = cutter.buffer_end if detector is None else detector.covered
        for start, end, wav in cutter.ready(ready):
            yield _judged(
                start,
                end,
                wav,
                detector,
                min_speech_seconds,
                silence_peak,
                near_silence_dbfs,
            )
    if detector is not None:
        detector.flush()
    if cutter.buffer_end < min_samples:
        check_duration(path, torch.zeros(cutter.buffer_end), sample_rate, min_samples)
    for start, end, wav in cutter.finish():
        yield _judged(
            start,
            end,
            wav,
            detector,
            min_speech_seconds,
            silence_peak,
            near_silence_dbfs,
        )


def _judged(start, end, wav, detector, min_speech, silence_peak, near_silence_dbfs):
    """Make the ``AudioWindow``: speech seconds, warning, withhold flag."""
    warning, withhold = signal_warning(wav, silence_peak, near_silence_dbfs)
    speech = None
    if detector is not None:
        speech = detector.speech_seconds(start, end)
        needed = min(min_speech, 0.5 * (end - start) / detector.sample_rate)
        if not withhold and speech < needed:
            warning = (
                f"no speech ({speech:.2f} s of speech found, {needed:.2f} s needed): "
                "values withheld"
            )
            withhold = True
        if not withhold:
            wav = detector.speech_only(wav, start)
    return AudioWindow(start, end, wav, speech, warning, withhold)


class _WindowCutter:
    """Windows of a stream of samples, keeping at most a window plus a block."""

    def __init__(self, window, hop):
        self.window, self.hop = window, hop
        self.buffer = torch.zeros(0)
        self.buffer_start = 0  # stream index of self.buffer[0]
        self.next_start = 0  # start of the next regular window
        self.last_start = None  # start of the last window given

    @property
    def buffer_end(self):
        return self.buffer_start + self.buffer.shape[0]

    def push(self, samples):
        self.buffer = torch.cat([self.buffer, samples])

    def ready(self, limit):
        """Regular windows that end by ``limit``; then drop what no window needs."""
        while self.next_start + self.window <= min(limit, self.buffer_end):
            yield self._cut(self.next_start, self.next_start + self.window)
            self.next_start += self.hop
        # keep the last window's worth: the final window ends with the stream
        keep = max(
            min(self.next_start, self.buffer_end - self.window), self.buffer_start
        )
        self.buffer = self.buffer[keep - self.buffer_start :].clone()
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
        wav = self.buffer[start - self.buffer_start : end - self.buffer_start].clone()
        return start, end, wav


def rate_windows(windows, rate_batch, batch_size=8, pad_to=None):
    """Rate streamed windows in batches; withheld windows are passed through.

    Windows rated on their speech alone have different lengths, so a batch
    is padded on the right (SpeechBrain's ``batch_pad_right``) and
    ``rate_batch`` gets the relative lengths, as the encoder handles any
    padded batch. At most ``batch_size`` windows keep their audio at once:
    a withheld window drops its audio when it arrives, and is given at once
    when no rated window comes before it.

    Arguments
    ---------
    windows : iterable of AudioWindow
        E.g. ``stream_windows(...)``.
    rate_batch : callable
        ``(wavs [batch, samples], lens [batch])`` -> ``[batch, ...]`` values
        (e.g. the model's raw predictions); ``lens`` are relative lengths.
    batch_size : int
        Windows per call of ``rate_batch``.
    pad_to : int, optional
        Pad each batch to a multiple of this many samples. Batches of a
        few shapes keep the process's heap from fragmenting: an hour of
        speech rated in batches of any length peaked 945 MB over the loaded
        model, in batches padded to whole seconds 297 MB
        (``benchmarks/long_audio_memory.py``).

    Yields
    ------
    tuple
        ``(window, values)`` in the windows' order; ``values`` is None for a
        withheld window. The window's ``wav`` is dropped (None) to free it.

    Example
    -------
    >>> parts = [AudioWindow(0, 2, torch.ones(2), None, None, False),
    ...          AudioWindow(1, 3, torch.zeros(2), 0.0, "no speech", True),
    ...          AudioWindow(2, 4, torch.full((3,), 2.0), None, None, False)]
    >>> rate = lambda wavs, lens: wavs.sum(1)
    >>> [(w.start, v) for w, v in rate_windows(parts, rate, 2)]
    [(0, tensor(2.)), (1, None), (2, tensor(6.))]
    """
    pending = []

    def flush():
        rated = [w.wav for w in pending if not w.withhold]
        values = iter(rate_batch(*_padded(rated, pad_to)) if rated else [])
        for window in pending:
            yield window._replace(wav=None), (None if window.withhold else next(values))
        pending.clear()

    for window in windows:
        if window.withhold:
            window = window._replace(wav=None)
            if not pending:
                yield window, None
                continue
        pending.append(window)
        if sum(not w.withhold for w in pending) == batch_size:
            yield from flush()
    yield from flush()


def _padded(wavs, pad_to):
    """``batch_pad_right``, its length rounded up to a multiple of ``pad_to``."""
    batch, lens = batch_pad_right(wavs)
    if not pad_to or batch.shape[1] % pad_to == 0:
        return batch, lens
    length = -(-batch.shape[1] // pad_to) * pad_to
    padded = torch.nn.functional.pad(batch, (0, length - batch.shape[1]))
    return padded, lens * batch.shape[1] / length


def timeline_rows(results):
    """One row per window, then the file's summary row, for each prediction.

    Arguments
    ---------
    results : list of dict
        ``predict_files(..., return_windows=True)`` rows: ``file``, the
        attributes, ``duration`` and ``windows`` (each with ``start``,
        ``end`` in seconds, the attributes, and optionally
        ``speech_seconds``, ``warning``, ``language``...).

    Returns
    -------
    list of dict
        Rows with ``TIMELINE_COLUMNS``: a window's ``start`` and ``end``
        (``span`` is ``window``); the summary row (``span`` is ``file``)
        spans the file (``0`` to ``duration``, empty when
        the file could not be read) and carries its ``error``.

    Example
    -------
    >>> rows = timeline_rows([{"file": "a.wav", "arousal": 4.0, "valence": 3.0,
    ...     "dominance": 5.0, "duration": 12.0, "warning": None, "error": None,
    ...     "windows": [
    ...         {"start": 0.0, "end": 10.0, "arousal": 4.2, "valence": 3.1,
    ...          "dominance": 5.1},
    ...         {"start": 2.0, "end": 12.0, "arousal": None, "valence": None,
    ...          "dominance": None, "warning": "no speech"}]}])
    >>> [(r["span"], r["start"], r["end"], r["arousal"]) for r in rows]
    [('window', 0.0, 10.0, 4.2), ('window', 2.0, 12.0, None), ('file', 0.0, 12.0, 4.0)]
    """
    rows = []
    for result in results:
        for window in result.get("windows") or []:
            row = dict.fromkeys(TIMELINE_COLUMNS)
            row.update({k: v for k, v in window.items() if k in row})
            row["file"], row["span"] = result["file"], "window"
            row["out_of_range"] = window.get("out_of_range") or []
            row["not_learned"] = window.get("not_learned") or []
            rows.append(row)
        summary = dict.fromkeys(TIMELINE_COLUMNS)
        summary.update({k: v for k, v in result.items() if k in summary})
        duration = result.get("duration")
        summary["span"] = "file"
        summary["start"] = None if duration is None else 0.0
        summary["end"] = duration
        summary["out_of_range"] = result.get("out_of_range") or []
        summary["not_learned"] = result.get("not_learned") or []
        rows.append(summary)
    return rows
