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

import torch
from speechbrain.utils.data_utils import batch_pad_right

from speechbrain_lora_ser.serving import decoding, windows
from speechbrain_lora_ser.serving.decoding import (  # noqa: F401 - re-exported
    BLOCK_SECONDS,
    audio_seconds,
)
from speechbrain_lora_ser.serving.speech_frames import FrameSpeech
from speechbrain_lora_ser.serving.speech_share import VAD_THRESHOLD
from speechbrain_lora_ser.serving.windows import (  # noqa: F401 - re-exported
    MIN_SPEECH_SECONDS,
    NEAR_SILENCE_DBFS,
    SILENCE_PEAK,
    AudioWindow,
    WindowJudge,
    window_bounds,
)


class SpeechDetector(FrameSpeech):
    """Silero VAD (its TorchScript model) over a stream: speech flags per frame.

    ``serving.speech_frames.FrameSpeech`` with Silero's TorchScript model
    (the ``silero-vad`` package) judging each frame, carrying its state from
    frame to frame as in ``silero_vad.VADIterator``.

    Arguments
    ---------
    sample_rate : int
        16000 or 8000 (Silero's rates).
    threshold : float
        Speech probability from which a frame is speech.
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
        super().__init__(self._probability, sample_rate, threshold, silence_peak)
        # a copy (about 20 ms): the model carries its state from frame to
        # frame, and streams may be interleaved
        self.model = copy.deepcopy(_silero_model())
        self.model.reset_states()

    def _probability(self, frame):
        with torch.no_grad():
            return self.model(torch.from_numpy(frame), self.sample_rate).item()


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
    """Stream a file's analysis windows, with their speech flags, as tensors.

    ``speechbrain_lora_ser.serving.windows.stream_windows`` (its arguments,
    its errors), the windows' audio as tensors. ``vad`` judges speech with
    Silero VAD (True: a new ``SpeechDetector``, or the one given): a window
    with less than ``min_speech_seconds`` of speech is withheld; False: the
    silence rules alone (digital silence, constant signal). Windows yielded
    before an ``AudioProblem`` (NaN samples late in the file) must be
    discarded by the caller.

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
    detector = vad
    if vad is True:
        detector = SpeechDetector(sample_rate, silence_peak=silence_peak)
    elif vad is False or vad is None:
        detector = None
    judge = WindowJudge(detector, min_speech_seconds, silence_peak, near_silence_dbfs)
    yield from tensor_windows(
        windows.stream_windows(
            path,
            sample_rate,
            window_seconds,
            hop_seconds,
            judge,
            min_samples,
            block_seconds,
        )
    )


def tensor_windows(windows):
    """Yield the same windows, their audio as tensors (sharing its memory).

    Example
    -------
    >>> import numpy as np
    >>> window = AudioWindow(0, 2, np.ones(2, dtype=np.float32), None, None, False)
    >>> next(tensor_windows([window])).wav
    tensor([1., 1.])
    """
    for window in windows:
        yield window._replace(wav=torch.from_numpy(window.wav))


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
