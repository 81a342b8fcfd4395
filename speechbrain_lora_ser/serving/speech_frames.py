"""Speech flags of a stream, one per 32-ms frame, for either Silero model.

Silero VAD judges 32-ms frames (512 samples at 16 kHz, 256 at 8 kHz), in
order, carrying its state from frame to frame. ``FrameSpeech`` is all of a
detector but the model, which it is given: it cuts the stream into frames,
scales each span to the level Silero hears (``VAD_LEVEL_DBFS``), keeps one
flag and one level per frame (a two-hour file: 225,000 bytes of each), and
answers what a window needs: its seconds of speech, its speech alone, and
how much of the file's sound was heard as speech. Its subclasses load the
model: ``serving.long_audio.SpeechDetector`` (the TorchScript model) and
``onnx.vad.SpeechDetector`` (the ONNX model, no torch). This module
imports numpy only.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import math

import numpy as np

from speechbrain_lora_ser.serving.speech_share import (
    SOUND_RANGE_DB,
    VAD_THRESHOLD,
    check_settings,
    frame_levels,
    heard,
)
from speechbrain_lora_ser.serving.windows import SILENCE_PEAK

#: RMS level (dBFS) at which the VAD hears the audio (span by span).
VAD_LEVEL_DBFS = -26.0
#: Frames of a span rescaled together for the VAD (about 1 s at 16 kHz).
SPAN_FRAMES = 32
#: Non-speech kept around each stretch of speech (seconds) when a window is
#: rated on its speech alone.
SPEECH_MARGIN_SECONDS = 0.1


class FrameSpeech:
    """A speech detector over a stream, given the model that judges a frame.

    Arguments
    ---------
    probability : callable
        ``probability(frame)``: Silero's speech probability (a float) of the
        stream's next frame (``[frame]`` float32 samples), called in order.
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
    >>> loud = lambda frame: float(frame.max() > 0)  # a stand-in for Silero
    >>> detector = FrameSpeech(loud, 16000)
    >>> detector.push(np.r_[np.zeros(16384), np.sin(np.arange(16384.0))])
    >>> detector.flush()
    >>> detector.speech_seconds(0, 32768)
    1.024
    """

    def __init__(
        self,
        probability,
        sample_rate=16000,
        threshold=VAD_THRESHOLD,
        silence_peak=SILENCE_PEAK,
    ):
        check_settings(threshold, 0.0)
        if sample_rate not in (8000, 16000):
            raise ValueError(
                f"Silero VAD runs at 8000 or 16000 Hz, not {sample_rate} "
                "(use vad=False for the silence rules alone)"
            )
        self.probability = probability
        self.sample_rate, self.threshold = sample_rate, threshold
        self.frame = 512 if sample_rate == 16000 else 256
        self.span = SPAN_FRAMES * self.frame
        self.silence_peak = silence_peak
        self.rest = np.zeros(0, dtype=np.float32)
        self.flags = bytearray()
        self.levels = bytearray()  # each frame's level (``frame_levels``)

    @property
    def covered(self):
        """Samples from the start whose frames have been judged."""
        return len(self.flags) * self.frame

    def push(self, wav):
        """Judge the complete spans of the next ``[samples]`` of the stream."""
        wav = np.concatenate([self.rest, np.asarray(wav, dtype=np.float32)])
        complete = wav.shape[0] // self.span * self.span
        for begin in range(0, complete, self.span):
            self._judge(wav[begin : begin + self.span])
        self.rest = wav[complete:].copy()

    def flush(self):
        """Judge what is left (its last frame zero-padded, as Silero's tools do)."""
        if self.rest.shape[0]:
            frames = -(-self.rest.shape[0] // self.frame)
            padded = np.zeros(frames * self.frame, dtype=np.float32)
            padded[: self.rest.shape[0]] = self.rest
            self.rest = np.zeros(0, dtype=np.float32)
            self._judge(padded)

    def _judge(self, span):
        """Silero's verdict on each frame of a span, heard at ``VAD_LEVEL_DBFS``.

        Silero is trained on speech at everyday levels and hears nothing in
        speech recorded at -70 dBFS, which the model rates well (its input is
        normalised): the gain of a recording is not what makes it speech. So
        each span (a fixed grid of 32 frames from the start of the stream,
        whatever the blocks it is read in) is scaled to ``VAD_LEVEL_DBFS`` RMS
        first; digital silence stays silence. Its mean is taken out first:
        a DC offset (speech at half scale plus 0.3 heard 2.17 where the same
        speech without it heard 4.45, the demo model) would count as level,
        so the speech itself would be heard far below ``VAD_LEVEL_DBFS``.
        """
        span = span - np.float32(span.mean())  # a DC offset is no sound
        self.levels.extend(frame_levels(span.reshape(-1, self.frame)))
        peak = float(np.abs(span).max()) if span.size else 0.0
        if peak >= self.silence_peak:
            rms = math.sqrt(float(np.mean(np.square(span.astype(np.float64)))))
            span = span * np.float32(10 ** (VAD_LEVEL_DBFS / 20) / rms)
        for begin in range(0, span.shape[0], self.frame):
            frame = span[begin : begin + self.frame]
            self.flags.append(self.probability(frame) >= self.threshold)

    def heard(self, sound_range_db=SOUND_RANGE_DB):
        """Seconds of speech among the stream's sound, and seconds of sound.

        The sound is the frames within ``sound_range_db`` of the stream's
        loud frames (the level the 10 % loudest reach): what a listener
        would hear as the recording, not its pauses. Speech heard in a small
        share of it means either a recording without speech (music, noise)
        or speech the detector misses (Silero hears some synthetic, whispered
        or heavily processed voices weakly); ``min_speech_share`` of
        ``predict_files`` decides which to assume.

        Example
        -------
        >>> detector = FrameSpeech(lambda frame: 0.0)
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
        >>> detector = FrameSpeech(lambda frame: 0.0)
        >>> detector.flags = bytearray([0] * 20 + [1] * 10 + [0] * 20)
        >>> wav = np.arange(50 * 512, dtype=np.float32)
        >>> kept = detector.speech_only(wav, 0, margin_seconds=0.064)
        >>> kept.shape[0] // 512, int(kept[0]) // 512
        (14, 18)
        """
        first, length = start // self.frame, wav.shape[0]
        last = -(-(start + length) // self.frame)
        flags = np.zeros(last - first, dtype=bool)
        judged = np.frombuffer(bytes(self.flags[first:last]), dtype=np.uint8)
        flags[: judged.shape[0]] = judged.astype(bool)
        if not flags.any():
            return wav
        margin = round(margin_seconds * self.sample_rate / self.frame)
        kernel = np.ones(2 * margin + 1)
        kept = np.convolve(flags.astype(float), kernel)[margin : margin + len(flags)]
        offset = start - first * self.frame  # the window's start in its frame
        samples = np.repeat(kept > 0, self.frame)[offset : offset + length]
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
