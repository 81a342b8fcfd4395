"""EncoderRegressor: arousal, valence and dominance for audio, in any language.

A SpeechBrain ``Pretrained`` interface in the style of ``EncoderClassifier``.
There is no language argument: one model serves every language it was
adapted to.

Usage (with the ``inference/`` folder of a training run)::

    from speechbrain_lora_ser import EncoderRegressor
    model = EncoderRegressor.from_hparams(
        source="results/.../inference", savedir="pretrained_ser")
    model.predict_file("speech.wav")
    # {'arousal': 4.1, 'valence': 3.9, 'dominance': 4.3}

tests/test_inference.py runs it on a model trained by the recipe.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import os

import torch
from speechbrain.dataio import audio_io
from speechbrain.dataio.preprocess import AudioNormalizer
from speechbrain.inference.interfaces import Pretrained

from speechbrain_lora_ser.ccc import ATTRIBUTES


class EncoderRegressor(Pretrained):
    """Predicts emotional attributes on the corpus's original scale (1-7).

    Load with ``EncoderRegressor.from_hparams(source=FOLDER, savedir=...)``
    where FOLDER is the ``inference/`` folder a training run writes.
    """

    MODULES_NEEDED = ["ssl", "head"]
    HPARAMS_NEEDED = ["label_scaler", "sample_rate", "window_seconds", "hop_seconds"]

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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # resample and mix down to what the model was trained on
        self.audio_normalizer = AudioNormalizer(sample_rate=self.hparams.sample_rate)

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

    def predict_batch(self, wavs, wav_lens=None):
        """Arousal, valence and dominance of a batch, on the original scale.

        Takes the same arguments as ``encode_batch``; returns a ``[batch, 3]``
        tensor (arousal, valence, dominance).
        """
        wavs, wav_lens = self._prepare(wavs, wav_lens)
        with torch.no_grad():
            hidden, frame_lens = self.mods.ssl(wavs, wav_lens)
            scaled = self.mods.head(hidden, frame_lens)
        return self.hparams.label_scaler.unscale(scaled.float())

    def predict_file(self, path, return_windows=False):
        """Predict the attributes of an audio file (any rate, any channels).

        Recordings longer than ``window_seconds`` are cut into windows every
        ``hop_seconds``; the result is the duration-weighted mean.

        Arguments
        ---------
        path : str
            Audio file.
        return_windows : bool
            Also return the per-window values under ``"windows"``.

        Returns
        -------
        dict
            ``{"arousal": float, "valence": float, "dominance": float}``
            (and ``"windows"``: a list of dicts with ``start``, ``end``).
        """
        wav = self.read_audio(path)
        windows = self._windows(wav.shape[0])
        values, weights, details = [], [], []
        for start, end in windows:
            prediction = self.predict_batch(wav[start:end].unsqueeze(0))[0]
            values.append(prediction)
            weights.append(end - start)
            rate = self.hparams.sample_rate
            details.append(
                {"start": start / rate, "end": end / rate}
                | dict(zip(ATTRIBUTES, prediction.tolist(), strict=True))
            )
        weights = torch.tensor(weights, dtype=torch.float32, device=values[0].device)
        mean = (torch.stack(values) * weights[:, None]).sum(0) / weights.sum()
        result = dict(zip(ATTRIBUTES, mean.tolist(), strict=True))
        if return_windows:
            result["windows"] = details
        return result

    def read_audio(self, path):
        """Read a file as a mono waveform at the model's sample rate.

        Any rate and channel count: SpeechBrain's ``audio_io`` reads it and
        the interface's ``audio_normalizer`` resamples and mixes down (what
        ``Pretrained.load_audio`` does, without copying the file first).
        """
        try:
            signal, rate = audio_io.load(str(path), channels_first=False)
        except Exception as error:
            raise RuntimeError(f"{path}: unreadable audio ({error})") from error
        if signal.shape[0] == 0:
            raise RuntimeError(f"{path}: audio file is empty")
        return self.audio_normalizer(signal, rate)

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
