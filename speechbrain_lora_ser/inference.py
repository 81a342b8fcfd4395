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

    Load with ``EncoderRegressor.from_hparams(source=..., savedir=...)``,
    where ``source`` is an exported model: the ``inference/`` folder of a
    training run, an adapter bank's folder, or a model repository on the
    Hugging Face Hub (``"<org>/<name>"``). What rates a batch is the
    ``regressor`` module its ``hyperparams.yaml`` declares (see
    ``speechbrain_lora_ser.regressor``): one trained model or an adapter bank.
    """

    MODULES_NEEDED = ["regressor"]
    HPARAMS_NEEDED = ["sample_rate", "window_seconds", "hop_seconds"]
    #: Largest fraction of a batch that may be padding (predict_files).
    max_padding = 0.1

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # resample and mix down to what the model was trained on
        self.audio_normalizer = AudioNormalizer(sample_rate=self.hparams.sample_rate)

    @classmethod
    def from_hparams(cls, source, hparams_file="hyperparams.yaml", **kwargs):
        """Load an exported model from a folder or a model repository.

        Arguments
        ---------
        source : str
            A local folder or a Hugging Face Hub repository (``org/name``),
            fetched by SpeechBrain (its cache, ``savedir``, offline mode).
        hparams_file : str
            Name of the model's YAML in ``source``.
        **kwargs
            Passed to ``Pretrained.from_hparams`` (``savedir``,
            ``run_opts``, ``overrides``...).

        Returns
        -------
        EncoderRegressor
        """
        overrides = dict(kwargs.pop("overrides", None) or {})
        # the weights are fetched from where the YAML was (pretrainer paths)
        overrides.setdefault("pretrained_path", str(source))
        return super().from_hparams(
            source, hparams_file=hparams_file, overrides=overrides, **kwargs
        )

    @property
    def label_range(self):
        """``(low, high)`` of the values this model returns."""
        return self.mods.regressor.label_range

    @property
    def reliability(self):
        """Each attribute's development reliability (None: not calibrated).

        ``{attribute: {"learned", "dev_ccc", "dev_ccc_raw", "dev_correlation",
        "p_value", "utterances"}}``; an adapter bank gives one per language.
        """
        return self.mods.regressor.reliability()

    @property
    def min_samples(self):
        """Fewest samples the encoder can rate (its receptive field)."""
        return receptive_field(self.mods.regressor.encoder.model.config)

    def read_audio(self, path):
        """Read a file as the model hears it: mono, at its sample rate.

        Raises ``AudioProblem`` (naming the file) when it is unreadable,
        empty or holds NaN / infinite samples.
        """
        return read_audio(path, self.audio_normalizer)

    def encode_batch(self, wavs, wav_lens=None, language=None):
        """Pooled utterance embeddings (attentive mean and std).

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` 16 kHz waveforms (padded).
        wav_lens : torch.Tensor, optional
            Relative lengths.
        language : str, optional
            For an adapter bank: the known language (no routing).

        Returns
        -------
        torch.Tensor
            ``[batch, 2 * hidden_size]``.
        """
        wavs, wav_lens = self._prepare(wavs, wav_lens)
        with torch.no_grad(), self.inference_ctx:
            return self.mods.regressor.embed(wavs, wav_lens, language)

    def predict_batch(
        self,
        wavs,
        wav_lens=None,
        clip=True,
        language=None,
        return_languages=False,
        calibrate=True,
    ):
        """Arousal, valence and dominance of a batch, on the model's scale.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` 16 kHz waveforms (padded).
        wav_lens : torch.Tensor, optional
            Relative lengths.
        clip : bool
            Clamp into the label range (False: the raw regression output).
        language : str, optional
            For an adapter bank: skip routing, every utterance is this
            language.
        return_languages : bool
            Also return each utterance's language and its probability
            (None for a model that has no languages).
        calibrate : bool
            The served values (calibrated on the development set; NaN for an
            attribute that is not learned); False: the raw regression output.

        Returns
        -------
        torch.Tensor
            ``[batch, 3]`` (arousal, valence, dominance), and with
            ``return_languages`` the languages and probabilities.
        """
        ratings = self.rate_batch(wavs, wav_lens, language, calibrate)
        values = ratings.values
        if clip:
            values = torch.maximum(torch.minimum(values, ratings.high), ratings.low)
        if return_languages:
            return values, ratings.languages, ratings.probabilities
        return values

    def rate_batch(self, wavs, wav_lens=None, language=None, calibrate=True):
        """Rate a batch: the regressor's ``Ratings`` (raw values, scales, languages).

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` 16 kHz waveforms (padded).
        wav_lens : torch.Tensor, optional
            Relative lengths.
        language : str, optional
            For an adapter bank: the known language (no routing).
        calibrate : bool
            Calibrated values (False: the raw regression output).

        Returns
        -------
        speechbrain_lora_ser.regressor.Ratings
        """
        wavs, wav_lens = self._prepare(wavs, wav_lens)
        # run_opts={"precision": "bf16"} runs the model under bf16 autocast
        with torch.no_grad(), self.inference_ctx:
            ratings = self.mods.regressor(wavs, wav_lens, language, calibrate)
        return ratings._replace(values=ratings.values.float())

    def predict_file(
        self, path, return_windows=False, clip=True, language=None, calibrate=True
    ):
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
        language : str, optional
            For an adapter bank: the known language (no routing).
        calibrate : bool
            Calibrated values (False: the raw regression output).

        Returns
        -------
        dict
            The attributes (None when withheld), ``not_learned`` (attributes
            the model did not learn: withheld), ``out_of_range`` (attributes
            whose value was outside the scale before clipping), ``warning``
            (silence, uncertain language), ``duration`` (seconds),
            ``language`` and ``language_probability`` (adapter banks; None
            otherwise) and optionally ``windows``.

        Raises
        ------
        AudioProblem
            When the file cannot be rated (the message names it and why).
        """
        result = self.predict_files(
            [path],
            batch_size=1,
            return_windows=return_windows,
            clip=clip,
            language=language,
            calibrate=calibrate,
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
        language=None,
        calibrate=True,
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
        language : str, optional
            For an adapter bank: the known language of every file.
        calibrate : bool
            Calibrated values (False: the raw regression output).

        Returns
        -------
        list of dict
            One per file, in order: ``file``, the attributes (None when
            withheld or on error), ``not_learned``, ``out_of_range``,
            ``warning``, ``error``, ``duration``, ``language``,
            ``language_probability`` (and ``windows``).
        """
        self.mods.regressor.check_language(language)
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
                    language,
                    calibrate,
                )
                bar.update(len(chunk))
        return results

    def _predict_chunk(
        self, paths, batch_size, return_windows, clip, thresholds, language, calibrate
    ):
        rate = self.hparams.sample_rate
        results, segments = [], []
        for index, path in enumerate(paths):
            result = {"file": str(path), **dict.fromkeys(ATTRIBUTES)}
            result.update(not_learned=[], out_of_range=[], warning=None)
            result.update(error=None, duration=None)
            result.update(language=None, language_probability=None)
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
        rated = self._rate_segments(segments, batch_size, language, calibrate)
        for index, result in enumerate(results):
            windows = [
                (s[1], s[2], window)
                for s, window in zip(segments, rated, strict=True)
                if s[0] == index
            ]
            if windows:
                self._summarise(result, windows, return_windows, clip)
        return results

    def _rate_segments(self, segments, batch_size, language=None, calibrate=True):
        """Rate every segment, in batches grouped by duration.

        Each is a dict: ``values``, ``low``, ``high``, ``learned`` (tensors on
        the CPU), ``language``, ``probability``, ``note``.
        """
        rated = [None] * len(segments)
        for chosen in self._batches(segments, batch_size):
            lengths = [segments[i][2] - segments[i][1] for i in chosen]
            longest = max(lengths)
            wavs = torch.zeros(len(chosen), longest)
            for row, i in enumerate(chosen):
                _, begin, end, wav = segments[i]
                wavs[row, : end - begin] = wav[begin:end]
            lens = torch.tensor(lengths, dtype=torch.float32) / longest
            ratings = self.rate_batch(wavs, lens, language, calibrate)
            for row, i in enumerate(chosen):
                rated[i] = {
                    "values": ratings.values[row].cpu(),
                    "learned": ratings.learned[row].cpu(),
                    "low": ratings.low[row].cpu(),
                    "high": ratings.high[row].cpu(),
                    "language": ratings.languages[row],
                    "probability": ratings.probabilities[row],
                    "note": ratings.notes[row],
                }
        return rated

    def _batches(self, segments, batch_size):
        """Segments grouped by duration, at most ``max_padding`` of each batch padded.

        Padding is computed too (a CPU pays for every padded sample), so a
        batch closes when adding the next, longer segment would pad more than
        ``self.max_padding`` of it.
        """
        lengths = [end - begin for _, begin, end, _ in segments]
        order = sorted(range(len(segments)), key=lengths.__getitem__)
        batch, total = [], 0
        for index in order:
            length = lengths[index]
            padded = (len(batch) + 1) * length
            if batch and (
                len(batch) == batch_size
                or padded > (1 + self.max_padding) * (total + length)
            ):
                yield batch
                batch, total = [], 0
            batch.append(index)
            total += length
        if batch:
            yield batch

    def _summarise(self, result, windows, return_windows, clip):
        """Duration-weighted mean of a file's windows, checked against the scale.

        ``windows`` are ``(begin, end, rating)``. The file's language is the
        one heard longest; notes of its windows (e.g. an uncertain language)
        join the file's warning.
        """
        weights = torch.tensor([end - begin for begin, end, _ in windows]).float()
        values = torch.stack([w["values"] for _, _, w in windows])
        mean = (values * weights[:, None]).sum(0) / weights.sum()
        share = {}
        for weight, (_, _, window) in zip(weights.tolist(), windows, strict=True):
            share[window["language"]] = share.get(window["language"], 0.0) + weight
        language = max(share, key=share.get)
        heard = [
            (weight, window)
            for weight, (_, _, window) in zip(weights.tolist(), windows, strict=True)
            if window["language"] == language
        ]
        if language is not None:
            result["language"] = language
            result["language_probability"] = float(
                sum(weight * w["probability"] for weight, w in heard)
                / sum(weight for weight, _ in heard)
            )
        notes = dict.fromkeys(w["note"] for _, _, w in windows if w["note"])
        if notes:
            result["warning"] = "; ".join(filter(None, [result["warning"], *notes]))
        low, high = heard[0][1]["low"], heard[0][1]["high"]
        learned = heard[0][1]["learned"]
        outside = ((mean < low) | (mean > high)) & learned
        result["not_learned"] = [
            a for a, known in zip(ATTRIBUTES, learned, strict=True) if not known
        ]
        result["out_of_range"] = [
            a for a, o in zip(ATTRIBUTES, outside, strict=True) if o
        ]
        shown = torch.maximum(torch.minimum(mean, high), low) if clip else mean
        result.update(
            {
                name: value if known else None
                for name, value, known in zip(
                    ATTRIBUTES, shown.tolist(), learned.tolist(), strict=True
                )
            }
        )
        if return_windows:
            rate = self.hparams.sample_rate
            result["windows"] = []
            for begin, end, w in windows:
                value = w["values"]
                if clip:
                    value = torch.maximum(torch.minimum(value, w["high"]), w["low"])
                entry = {"start": begin / rate, "end": end / rate}
                entry |= {
                    name: item if known else None
                    for name, item, known in zip(
                        ATTRIBUTES, value.tolist(), w["learned"].tolist(), strict=True
                    )
                }
                if w["language"] is not None:
                    entry |= {
                        "language": w["language"],
                        "language_probability": w["probability"],
                    }
                result["windows"].append(entry)

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
