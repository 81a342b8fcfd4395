"""``OnnxRegressor``: rate audio files with an exported ONNX model, no torch.

It rates files as ``EncoderRegressor.predict_files`` does: each file is read
in blocks, mixed down, resampled (soxr), cut into windows (``window_seconds``
every ``hop_seconds``, the last aligned to the end), windows without speech
are withheld (Silero VAD, and digital silence and constant signals), the
windows of many short files are rated together in padded batches grouped
by duration (the graph masks the padding), and a file's value is the
duration-weighted mean of its windows, calibrated, clipped to the label
scale, with attributes the model did not learn withheld. Errors name the
file (``AudioProblem``); in ``predict_files`` a bad file gets an ``error``
and the others go on.

Example
-------
::

    from speechbrain_lora_ser.onnx import OnnxRegressor
    model = OnnxRegressor("model_onnx")
    model.predict_file("speech.wav")
    # {'arousal': 4.1, 'valence': 3.9, 'dominance': 4.3, ...}

Authors
 * speechbrain-lora-ser contributors 2026
"""

import os

import numpy as np
import onnxruntime

from speechbrain_lora_ser.modeling.labels import ATTRIBUTES
from speechbrain_lora_ser.onnx.serving import read_serving, served
from speechbrain_lora_ser.onnx.summary import summarise
from speechbrain_lora_ser.onnx.vad import SpeechDetector, vad_session
from speechbrain_lora_ser.serving.decoding import (
    audio_seconds,
)
from speechbrain_lora_ser.serving.speech_share import (
    MIN_SPEECH_SHARE,
    VAD_THRESHOLD,
    check_settings,
)
from speechbrain_lora_ser.serving.summary import (
    fail,
    lead_warning,
    new_result,
    one_file,
)
from speechbrain_lora_ser.serving.window_batches import batches, rate_by_file
from speechbrain_lora_ser.serving.windows import (
    NEAR_SILENCE_DBFS,
    SILENCE_PEAK,
    FileWindows,
)


class OnnxRegressor:
    """An ONNX model folder, loaded for rating files.

    Arguments
    ---------
    folder : str
        Written by ``python -m speechbrain_lora_ser.onnx export``.
    threads : int, optional
        ONNX Runtime's intra-op threads (default: its own choice).
    """

    #: Largest fraction of a batch that may be padding.
    max_padding = 0.1
    #: Files longer than this (seconds) are streamed on their own.
    long_file_seconds = 60.0

    def __init__(self, folder, threads=None):
        self.folder = str(folder)
        self.info = read_serving(self.folder)
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            os.path.join(self.folder, self.info["model"]),
            options,
            providers=["CPUExecutionProvider"],
        )
        self._vad = None

    @property
    def label_range(self):
        """``(low, high)`` of the values this model returns."""
        return self.info["label_low"], self.info["label_high"]

    def rate(self, wavs, calibrate=True):
        """Rate windows (1-D float arrays at the model's rate) in one padded batch.

        Returns ``(values [batch, 3], learned [3])``; values are on the label
        scale, calibrated (NaN where not learned) unless ``calibrate=False``.
        """
        longest = max(w.shape[0] for w in wavs)
        batch = np.zeros((len(wavs), longest), dtype=np.float32)
        for row, wav in enumerate(wavs):
            batch[row, : wav.shape[0]] = wav
        lengths = np.array([w.shape[0] for w in wavs], dtype=np.int64)
        raw = self.session.run(None, {"wavs": batch, "lengths": lengths})[0]
        return served(raw, self.info["calibration"], calibrate)

    def predict_file(self, path, **options):
        """Rate one file; raises ``AudioProblem`` when it cannot be rated.

        Options as ``predict_files``; the result has no ``file`` or ``error``.
        """
        result = self.predict_files([path], batch_size=1, **options)[0]
        return one_file(result, path)

    def predict_files(
        self,
        paths,
        batch_size=8,
        return_windows=False,
        clip=True,
        calibrate=True,
        vad=True,
        window_seconds=None,
        hop_seconds=None,
        silence_peak=SILENCE_PEAK,
        near_silence_dbfs=NEAR_SILENCE_DBFS,
        files_per_chunk=64,
        vad_threshold=VAD_THRESHOLD,
        min_speech_share=MIN_SPEECH_SHARE,
    ):
        """Rate many files, several windows per run (see the module's docstring).

        Returns one dict per file, in order, with the keys of
        ``EncoderRegressor.predict_files``: ``file``, the attributes (None
        when withheld or on error), ``label_low``, ``label_high``,
        ``not_learned``, ``out_of_range``, ``warning``, ``error``,
        ``duration``, ``language``, ``language_probability`` (None: one
        model has no languages) and, with ``return_windows``, ``windows``.
        A file whose speech the VAD missed (``vad_threshold``,
        ``min_speech_share``) is rated without it, with a warning.
        """
        check_settings(vad_threshold, min_speech_share)
        options = {
            "batch_size": batch_size,
            "return_windows": return_windows,
            "clip": clip,
            "calibrate": calibrate,
            "reader": FileWindows(
                self.info["sample_rate"],
                window_seconds or self.info["window_seconds"],
                hop_seconds or self.info["hop_seconds"],
                detector=self._detector(vad_threshold, silence_peak) if vad else None,
                min_samples=self.info["min_samples"],
                min_speech_share=min_speech_share,
                vad_threshold=vad_threshold,
                silence_peak=silence_peak,
                near_silence_dbfs=near_silence_dbfs,
            ),
        }
        seconds = [audio_seconds(path) or 0.0 for path in paths]
        results = [None] * len(paths)
        short = [i for i, s in enumerate(seconds) if s <= self.long_file_seconds]
        for index, path in enumerate(paths):
            if index not in short:
                results[index] = self._predict_long(path, options)
        for start in range(0, len(short), files_per_chunk):
            chunk = short[start : start + files_per_chunk]
            rows = self._predict_chunk([paths[i] for i in chunk], options)
            for index, row in zip(chunk, rows, strict=True):
                results[index] = row
        return results

    def _detector(self, threshold, silence_peak):
        """Return what makes a fresh ``SpeechDetector`` for a file."""

        def detector():
            if self._vad is None:  # opened for the first file that needs it
                self._vad = vad_session(os.path.join(self.folder, self.info["vad"]))
            return SpeechDetector(
                self._vad, self.info["sample_rate"], threshold, silence_peak
            )

        return detector

    def _predict_chunk(self, paths, options):
        """Short files: their windows rated together, batched by duration.

        Whatever a file raises becomes its ``error``; when a batch fails,
        each file's windows are rated on their own, so only it is lost.
        """
        results, windows, missed = [], [], {}
        for index, path in enumerate(paths):
            results.append(new_result(path))
            try:
                mine, missed[index] = options["reader"].read(path, list)
            except Exception as error:  # noqa: BLE001 - the file's error row
                fail(results[index], error)
                continue
            windows += [(index, window) for window in mine]
        ratings = self._rate_files(windows, results, options)
        for index, result in enumerate(results):
            mine = [(w, ratings.get(id(w))) for i, w in windows if i == index]
            if mine and not result["error"]:
                summarise(result, mine, self.info, options)
                lead_warning(result, missed[index])
        return results

    def _rate_files(self, windows, results, options):
        """``{id(window): rating}`` of ``(file index, window)`` pairs."""
        return rate_by_file(
            [(i, w) for i, w in windows if not w.withhold],
            lambda mine: self._rate_windows(mine, options),
            lambda index, error: fail(results[index], error),
        )

    def _predict_long(self, path, options):
        """One long file, streamed: windows rated as they are read."""
        result = new_result(path)

        def rate_all(windows):
            rated, pending = [], []
            for window in windows:
                pending.append(window)
                if sum(not w.withhold for w in pending) == options["batch_size"]:
                    rated += self._rate_pending(pending, options)
            return rated + self._rate_pending(pending, options)

        try:
            rated, missed = options["reader"].read(path, rate_all)
            summarise(result, rated, self.info, options)
            lead_warning(result, missed)
        except Exception as error:  # noqa: BLE001 - the file's error row
            fail(result, error)  # nothing of a part is given as the file's
        return result

    def _rate_pending(self, pending, options):
        """Rate held windows; return ``(window without its audio, rating)``."""
        to_rate = [w for w in pending if not w.withhold]
        ratings = iter(self._rate_windows(to_rate, options) if to_rate else [])
        out = [
            (w._replace(wav=None), None if w.withhold else next(ratings))
            for w in pending
        ]
        pending.clear()
        return out

    def _rate_windows(self, windows, options):
        """Each window's ``(values, learned)``, in batches grouped by duration."""
        rated = [None] * len(windows)
        lengths = [w.wav.shape[0] for w in windows]
        for chosen in batches(lengths, options["batch_size"], self.max_padding):
            values, learned = self.rate(
                [windows[i].wav for i in chosen], options["calibrate"]
            )
            for row, i in enumerate(chosen):
                rated[i] = (values[row], learned)
        return rated


__all__ = ["ATTRIBUTES", "OnnxRegressor"]
