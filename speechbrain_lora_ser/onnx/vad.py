"""Speech detection with Silero VAD's own ONNX model, and the streamed windows.

The numpy counterpart of ``speechbrain_lora_ser.serving.long_audio``'s
``SpeechDetector`` and ``stream_windows``: the same 32-ms frames, spans
rescaled to ``VAD_LEVEL_DBFS``, the threshold, margins and the speech a
window needs, with Silero's ONNX model (copied into the model folder on
export) run by ONNX Runtime in place of its TorchScript model. The two
models of the silero-vad package give probabilities that differ slightly,
so a frame near the threshold can be judged differently.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import math

import numpy as np
import onnxruntime

from speechbrain_lora_ser.onnx.audio import (
    NEAR_SILENCE_DBFS,
    SILENCE_PEAK,
    AudioWindow,
    WindowCutter,
    check_duration,
    signal_warning,
    stream_audio,
)
from speechbrain_lora_ser.serving.speech_share import (
    VAD_THRESHOLD,
    check_settings,
    frame_levels,
    heard,
)

#: As ``speechbrain_lora_ser.serving.long_audio`` (tests/test_onnx.py checks
#: they agree).
VAD_LEVEL_DBFS = -26.0
SPAN_FRAMES = 32
SPEECH_MARGIN_SECONDS = 0.1
MIN_SPEECH_SECONDS = 0.5
#: Speech probability from which a frame is speech (Silero's default).
THRESHOLD = VAD_THRESHOLD


def vad_session(path):
    """Open an ONNX Runtime session of Silero VAD (one thread, as Silero's tools)."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(
        str(path), options, providers=["CPUExecutionProvider"]
    )


class SpeechDetector:
    """Silero VAD over a stream: one speech flag per 32-ms frame.

    Arguments
    ---------
    session : onnxruntime.InferenceSession
        Silero VAD (``vad_session``); it carries no state of its own.
    sample_rate : int
        16000 or 8000.
    threshold : float
        Speech probability from which a frame is speech.
    silence_peak : float
        Peak below which a span is digital silence (not rescaled).
    """

    def __init__(
        self, session, sample_rate=16000, threshold=THRESHOLD, silence_peak=SILENCE_PEAK
    ):
        if sample_rate not in (8000, 16000):
            raise ValueError(
                f"Silero VAD runs at 8000 or 16000 Hz, not {sample_rate} "
                "(use vad=False for the silence rules alone)"
            )
        check_settings(threshold, 0.0)
        self.session, self.sample_rate, self.threshold = session, sample_rate, threshold
        self.frame = 512 if sample_rate == 16000 else 256
        self.context = np.zeros((1, 64 if sample_rate == 16000 else 32), np.float32)
        self.state = np.zeros((2, 1, 128), dtype=np.float32)
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
        """Judge the complete spans of the next samples of the stream."""
        wav = np.concatenate([self.rest, wav.astype(np.float32)])
        complete = wav.shape[0] // self.span * self.span
        for begin in range(0, complete, self.span):
            self._judge(wav[begin : begin + self.span])
        self.rest = wav[complete:].copy()

    def flush(self):
        """Judge what is left (its last frame zero-padded)."""
        if self.rest.shape[0]:
            frames = -(-self.rest.shape[0] // self.frame)
            padded = np.zeros(frames * self.frame, dtype=np.float32)
            padded[: self.rest.shape[0]] = self.rest
            self.rest = np.zeros(0, dtype=np.float32)
            self._judge(padded)

    def _judge(self, span):
        """Silero's verdict on each frame of a span heard at ``VAD_LEVEL_DBFS``."""
        self.levels.extend(frame_levels(span.reshape(-1, self.frame)))
        peak = float(np.abs(span).max()) if span.size else 0.0
        if peak >= self.silence_peak:
            rms = math.sqrt(float(np.mean(np.square(span.astype(np.float64)))))
            span = span * np.float32(10 ** (VAD_LEVEL_DBFS / 20) / rms)
        rate = np.array(self.sample_rate, dtype=np.int64)
        for begin in range(0, span.shape[0], self.frame):
            frame = span[None, begin : begin + self.frame].astype(np.float32)
            audio = np.concatenate([self.context, frame], axis=1)
            probability, self.state = self.session.run(
                None, {"input": audio, "state": self.state, "sr": rate}
            )
            self.context = audio[:, -self.context.shape[1] :]
            self.flags.append(float(probability.reshape(-1)[0]) >= self.threshold)

    def speech_only(self, wav, start, margin_seconds=SPEECH_MARGIN_SECONDS):
        """Return the speech of ``wav`` (starting at sample ``start``), margins kept.

        A window without any speech frame is returned whole.
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
        kept = kept > 0
        offset = start - first * self.frame
        samples = np.repeat(kept, self.frame)[offset : offset + length]
        return wav[samples]

    def heard(self):
        """``(speech, sound)`` seconds, as ``long_audio.SpeechDetector.heard``."""
        return heard(self.levels, self.flags, self.frame / self.sample_rate)

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


def stream_windows(
    path,
    sample_rate,
    window_seconds,
    hop_seconds,
    vad=None,
    min_samples=0,
    silence_peak=SILENCE_PEAK,
    near_silence_dbfs=NEAR_SILENCE_DBFS,
):
    """Stream a file's analysis windows, as ``long_audio.stream_windows``.

    ``vad`` is a ``SpeechDetector`` (a fresh one per file) or None for the
    silence rules alone. Yields ``AudioWindow``; raises ``AudioProblem``
    (windows yielded before it must be discarded: the file is an error).
    """
    cutter = WindowCutter(
        int(window_seconds * sample_rate), int(hop_seconds * sample_rate)
    )
    judge = (vad, silence_peak, near_silence_dbfs)
    for block in stream_audio(path, sample_rate):
        if vad is not None:
            vad.push(block)
        cutter.push(block)
        ready = cutter.buffer_end if vad is None else vad.covered
        for start, end, wav in cutter.ready(ready):
            yield _judged(start, end, wav, *judge)
    if vad is not None:
        vad.flush()
    if cutter.buffer_end < min_samples:
        check_duration(path, cutter.buffer_end, sample_rate, min_samples)
    for start, end, wav in cutter.finish():
        yield _judged(start, end, wav, *judge)


def _judged(start, end, wav, detector, silence_peak, near_silence_dbfs):
    """Make the ``AudioWindow``: speech seconds, warning, withhold flag."""
    warning, withhold = signal_warning(wav, silence_peak, near_silence_dbfs)
    speech = None
    if detector is not None:
        speech = detector.speech_seconds(start, end)
        needed = min(MIN_SPEECH_SECONDS, 0.5 * (end - start) / detector.sample_rate)
        if not withhold and speech < needed:
            warning = (
                f"no speech ({speech:.2f} s of speech found, {needed:.2f} s needed): "
                "values withheld"
            )
            withhold = True
        if not withhold:
            wav = detector.speech_only(wav, start)
    return AudioWindow(start, end, wav, speech, warning, withhold)
