"""EncoderRegressor: arousal, valence and dominance for audio, in any language.

A SpeechBrain ``Pretrained`` interface in the style of ``EncoderClassifier``.
There is no language argument: one model serves every language it was
adapted to.

Usage (with the ``inference/`` folder of a training run)::

    from speechbrain_lora_ser import EncoderRegressor
    model = EncoderRegressor.from_hparams(
        source="results/.../inference", savedir="pretrained_ser")
    model.predict_file("speech.wav")
    # {'arousal': 4.1, 'valence': 3.9, 'dominance': 4.3, 'out_of_range': [],
    #  'warning': None, 'duration': 3.2}
    model.predict_files(["a.wav", "b.flac", ...])  # batched, never raises

Values are always on the model's label scale (read from the exported model,
e.g. 1-7); a raw output outside it is clipped and named in ``out_of_range``
(``clip=False`` returns the raw values). Audio that cannot be rated (NaN
samples, shorter than the encoder's receptive field, unreadable) is an
``AudioProblem`` naming the file; silence is flagged (see
``speechbrain_lora_ser.audio``).

tests/test_inference.py runs it on models trained by the recipes.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import os

import torch
from speechbrain.dataio.preprocess import AudioNormalizer
from speechbrain.inference.interfaces import Pretrained
from tqdm import tqdm

from speechbrain_lora_ser.audio import (
    NEAR_SILENCE_DBFS,
    SILENCE_PEAK,
    AudioProblem,
    check_duration,
    read_audio,
    receptive_field,
    signal_warning,
)
from speechbrain_lora_ser.ccc import ATTRIBUTES


class EncoderRegressor(Pretrained):
    """Predicts emotional attributes on the model's label scale (e.g. 1-7).

    Load with ``EncoderRegressor.from_hparams(source=FOLDER, savedir=...)``
    where FOLDER is the ``inference/`` folder a training run writes.
    """

    MODULES_NEEDED = ["ssl", "head"]
    HPARAMS_NEEDED = ["label_scaler", "sample_rate", "window_seconds", "hop_seconds"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # resample and mix down to what the model was trained on
        self.audio_normalizer = AudioNormalizer(sample_rate=self.hparams.sample_rate)

    @classmethod
    def from_hparams(cls, source, hparams_file="hyperparams.yaml", **kwargs):
        """Load from an exported inference folder.

        Arguments
        ---------
        source : str
            The inference folder.
        hparams_file : str
            Name of the inference YAML in ``source``.
        **kwargs
            Passed to ``Pretrained.from_hparams`` (``savedir``,
            ``run_opts``, ``overrides``...).

        Returns
        -------
        EncoderRegressor
        """
        overrides = dict(kwargs.pop("overrides", None) or {})
        if os.path.isdir(source):
            overrides.setdefault("model_folder", os.path.abspath(source))
        return super().from_hparams(
            source, hparams_file=hparams_file, overrides=overrides, **kwargs
        )

    @property
    def label_range(self):
        """``(low, high)`` of the model's label scale."""
        scaler = self.hparams.label_scaler
        return scaler.low, scaler.high

    @property
    def min_samples(self):
        """Fewest samples the encoder can rate (its receptive field)."""
        return receptive_field(self.mods.ssl.model.config)

    def read_audio(self, path):
        """Read a file as the model hears it: mono, at its sample rate.

        Raises ``AudioProblem`` (naming the file) when it is unreadable,
        empty or holds NaN / infinite samples.
        """
        return read_audio(path, self.audio_normalizer)

    def encode_batch(self, wavs, wav_lens=None):
        """Pooled utterance embeddings (attentive mean and std).

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` 16 kHz waveforms (padded).
        wav_lens : torch.Tensor, optional
            Relative lengths.

        Returns
        -------
        torch.Tensor
            ``[batch, 2 * hidden_size]``.
        """
        wavs, wav_lens = self._prepare(wavs, wav_lens)
        with torch.no_grad():
            hidden, frame_lens = self.mods.ssl(wavs, wav_lens)
            return self.mods.head.pool(hidden, frame_lens)

    def predict_batch(self, wavs, wav_lens=None, clip=True):
        """Arousal, valence and dominance of a batch, on the model's scale.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` 16 kHz waveforms (padded).
        wav_lens : torch.Tensor, optional
            Relative lengths.
        clip : bool
            Clamp into the label range (False: the raw regression output).

        Returns
        -------
        torch.Tensor
            ``[batch, 3]`` (arousal, valence, dominance).
        """
        raw = self._raw_batch(wavs, wav_lens)
        return self.hparams.label_scaler.clip(raw) if clip else raw

    def predict_file(self, path, return_windows=False, clip=True):
        """Predict the attributes of an audio file (any rate, any channels).

        Recordings longer than ``window_seconds`` are cut into windows every
        ``hop_seconds``; the result is the duration-weighted mean.

        Arguments
        ---------
        path : str
            Audio file.
        return_windows : bool
            Also return the per-window values under ``"windows"``.
        clip : bool
            Values clamped into the label range (False: raw outputs).

        Returns
        -------
        dict
            The attributes, ``out_of_range`` (attributes whose raw value was
            outside the scale), ``warning`` (silence; the values are None when
            withheld), ``duration`` (seconds) and optionally ``windows``.

        Raises
        ------
        AudioProblem
            When the file cannot be rated (the message names it and why).
        """
        result = self.predict_files(
            [path], batch_size=1, return_windows=return_windows, clip=clip
        )[0]
        if result["error"]:
            raise AudioProblem(path, result["error"].split(": ", 1)[-1])
        del result["file"], result["error"]
        return result

    def predict_files(
        self,
        paths,
        batch_size=8,
        return_windows=False,
        clip=True,
        progress=False,
        files_per_chunk=64,
        silence_peak=SILENCE_PEAK,
        near_silence_dbfs=NEAR_SILENCE_DBFS,
    ):
        """Predict many files, several windows per forward pass.

        Files are read ``files_per_chunk`` at a time; their windows are
        sorted by duration and batched ``batch_size`` at a time (padding is
        masked, so each value equals the file's one-by-one prediction). A
        file that cannot be rated gets an ``error`` and the others go on.

        Arguments
        ---------
        paths : list of str
            Audio files.
        batch_size : int
            Windows per forward pass.
        return_windows : bool
            Also return each file's per-window values.
        clip : bool
            Values clamped into the label range (False: raw outputs).
        progress : bool
            Show a progress bar counting files.
        files_per_chunk : int
            Files held in memory at once.
        silence_peak, near_silence_dbfs : float
            Silence thresholds (see ``speechbrain_lora_ser.audio``).

        Returns
        -------
        list of dict
            One per file, in order: ``file``, the attributes (None when
            withheld or on error), ``out_of_range``, ``warning``, ``error``,
            ``duration`` (and ``windows``).
        """
        results = []
        with tqdm(
            total=len(paths), disable=not progress, desc="predicting", unit="file"
        ) as bar:
            for start in range(0, len(paths), files_per_chunk):
                chunk = paths[start : start + files_per_chunk]
                results += self._predict_chunk(
                    chunk,
                    batch_size,
                    return_windows,
                    clip,
                    (silence_peak, near_silence_dbfs),
                )
                bar.update(len(chunk))
        return results

    def _predict_chunk(self, paths, batch_size, return_windows, clip, thresholds):
        rate = self.hparams.sample_rate
        results, segments = [], []
        for index, path in enumerate(paths):
            result = {"file": str(path), **dict.fromkeys(ATTRIBUTES)}
            result.update(out_of_range=[], warning=None, error=None, duration=None)
            results.append(result)
            try:
                wav = self.read_audio(path)
                result["duration"] = wav.shape[0] / rate
                check_duration(path, wav, rate, self.min_samples)
            except AudioProblem as error:
                result["error"] = str(error)
                continue
            result["warning"], withhold = signal_warning(wav, *thresholds)
            if withhold:
                continue
            for begin, end in self._windows(wav.shape[0]):
                segments.append((index, begin, end, wav))
        raw = self._predict_segments(segments, batch_size)
        for index, result in enumerate(results):
            windows = [
                (s, r) for s, r in zip(segments, raw, strict=True) if s[0] == index
            ]
            if windows:
                self._summarise(result, windows, return_windows, clip)
        return results

    def _predict_segments(self, segments, batch_size):
        """Raw predictions of every segment, batched by duration."""
        order = sorted(
            range(len(segments)), key=lambda i: segments[i][2] - segments[i][1]
        )
        raw = [None] * len(segments)
        for first in range(0, len(order), batch_size):
            chosen = order[first : first + batch_size]
            lengths = [segments[i][2] - segments[i][1] for i in chosen]
            longest = max(lengths)
            wavs = torch.zeros(len(chosen), longest)
            for row, i in enumerate(chosen):
                _, begin, end, wav = segments[i]
                wavs[row, : end - begin] = wav[begin:end]
            lens = torch.tensor(lengths, dtype=torch.float32) / longest
            values = self._raw_batch(wavs, lens).cpu()
            for row, i in enumerate(chosen):
                raw[i] = values[row]
        return raw

    def _summarise(self, result, windows, return_windows, clip):
        """Duration-weighted mean of a file's windows, checked against the scale."""
        scaler = self.hparams.label_scaler
        weights = torch.tensor([s[2] - s[1] for s, _ in windows], dtype=torch.float32)
        values = torch.stack([r for _, r in windows])
        mean = (values * weights[:, None]).sum(0) / weights.sum()
        outside = scaler.outside(mean)
        result["out_of_range"] = [
            a for a, o in zip(ATTRIBUTES, outside, strict=True) if o
        ]
        shown = scaler.clip(mean) if clip else mean
        result.update(dict(zip(ATTRIBUTES, shown.tolist(), strict=True)))
        if return_windows:
            rate = self.hparams.sample_rate
            result["windows"] = [
                {"start": s[1] / rate, "end": s[2] / rate}
                | dict(
                    zip(
                        ATTRIBUTES,
                        (scaler.clip(r) if clip else r).tolist(),
                        strict=True,
                    )
                )
                for s, r in windows
            ]

    def _raw_batch(self, wavs, wav_lens):
        """Unclipped predictions on the label scale."""
        wavs, wav_lens = self._prepare(wavs, wav_lens)
        # run_opts={"precision": "bf16"} runs the model under bf16 autocast
        with torch.no_grad(), self.inference_ctx:
            hidden, frame_lens = self.mods.ssl(wavs, wav_lens)
            scaled = self.mods.head(hidden, frame_lens)
        return self.hparams.label_scaler.unscale(scaled.float())

    def _windows(self, samples):
        rate = self.hparams.sample_rate
        window = int(self.hparams.window_seconds * rate)
        hop = int(self.hparams.hop_seconds * rate)
        if samples <= window:
            return [(0, samples)]
        starts = list(range(0, samples - window + 1, hop))
        if starts[-1] + window < samples:
            starts.append(samples - window)
        return [(s, s + window) for s in starts]

    def _prepare(self, wavs, wav_lens):
        if wavs.dim() == 1:
            wavs = wavs.unsqueeze(0)
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0])
        return wavs.float().to(self.device), wav_lens.float().to(self.device)
