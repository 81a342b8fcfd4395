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
``speechbrain_lora_ser.serving.audio``).

tests/test_inference.py runs it on models trained by the recipes.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import dataclasses

import torch
from speechbrain.inference.interfaces import Pretrained
from tqdm import tqdm

from speechbrain_lora_ser.serving.audio import (
    NEAR_SILENCE_DBFS,
    SILENCE_PEAK,
    read_audio,
    receptive_field,
)
from speechbrain_lora_ser.serving.long_audio import (
    SpeechDetector,
    audio_seconds,
    rate_windows,
    tensor_windows,
)
from speechbrain_lora_ser.serving.model_loading import load_pretrained
from speechbrain_lora_ser.serving.speech_share import (
    MIN_SPEECH_SHARE,
    VAD_THRESHOLD,
    check_settings,
)
from speechbrain_lora_ser.serving.summary import (
    WITHHELD,
    fail,
    lead_warning,
    new_result,
    one_file,
    shown,
    window_times,
    windows_warning,
)
from speechbrain_lora_ser.serving.window_batches import batches, rate_by_file
from speechbrain_lora_ser.serving.windows import FileWindows


class EncoderRegressor(Pretrained):
    """Predicts emotional attributes on the model's label scale (e.g. 1-7).

    Load with ``EncoderRegressor.from_hparams(source=..., savedir=...)``,
    where ``source`` is an exported model: the ``inference/`` folder of a
    training run, an adapter bank's folder, or a model repository on the
    Hugging Face Hub (``"<org>/<name>"``). What rates a batch is the
    ``regressor`` module its ``hyperparams.yaml`` declares (see
    ``speechbrain_lora_ser.serving.regressor``): one trained model or an adapter bank.
    """

    MODULES_NEEDED = ["regressor"]
    HPARAMS_NEEDED = ["sample_rate", "window_seconds", "hop_seconds"]
    #: Largest fraction of a batch that may be padding (predict_files).
    max_padding = 0.1

    @classmethod
    def from_hparams(
        cls, source, hparams_file="hyperparams.yaml", trust_code=False, **kwargs
    ):
        """Load an exported model from a folder or a model repository.

        Arguments
        ---------
        source : str
            A local folder or a Hugging Face Hub repository (``org/name``),
            fetched by SpeechBrain (its cache, ``savedir``, offline mode).
        hparams_file : str
            Name of the model's YAML in ``source``.
        trust_code : bool
            Load a YAML that calls code outside the allowlist (a model folder
            is code; see ``speechbrain_lora_ser.serving.model_trust`` and
            ``docs/models.md``). Off by default: such a file is refused,
            naming its line, before anything in it runs.
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
        # SpeechBrain's loader, with the YAML checked and weights strict
        return load_pretrained(
            cls,
            source,
            hparams_file=hparams_file,
            overrides=overrides,
            trust_code=trust_code,
            **kwargs,
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
        empty, holds NaN / infinite samples or has a sample rate outside
        4 to 384 kHz (``speechbrain_lora_ser.serving.decoding``).
        """
        return read_audio(path, self.hparams.sample_rate)

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
        speechbrain_lora_ser.serving.regressor.Ratings
        """
        wavs, wav_lens = self._prepare(wavs, wav_lens)
        # run_opts={"precision": "bf16"} runs the model under bf16 autocast
        with torch.no_grad(), self.inference_ctx:
            ratings = self.mods.regressor(wavs, wav_lens, language, calibrate)
        return ratings._replace(values=ratings.values.float())

    def predict_file(
        self,
        path,
        return_windows=False,
        clip=True,
        language=None,
        calibrate=True,
        **options,
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
        **options
            ``vad``, ``vad_threshold``, ``min_speech_share``,
            ``window_seconds``, ``hop_seconds``, silence thresholds (see
            ``predict_files``).

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
            **options,
        )[0]
        return one_file(result, path)

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
        vad=True,
        window_seconds=None,
        hop_seconds=None,
        vad_threshold=VAD_THRESHOLD,
        min_speech_share=MIN_SPEECH_SHARE,
    ):
        """Predict many files, several windows per forward pass.

        Every file is read in blocks and cut into windows of
        ``window_seconds`` every ``hop_seconds`` (the last aligned to the
        end); a window without speech is not rated. Files up to
        ``long_file_seconds`` are read ``files_per_chunk`` at a time and
        their windows batched together by duration (padding is masked, so
        each value equals the file's one-by-one prediction); a longer file
        is streamed on its own, window batch by window batch, so memory does
        not grow with its length. A file that cannot be rated, whatever it
        raises (``MemoryError`` aside), gets an ``error`` naming it and the
        problem, and the others go on, those of its batch included.

        Arguments
        ---------
        paths : list of str
            Audio files (any format soundfile reads, rate, channel count).
        batch_size : int
            Windows per forward pass.
        return_windows : bool
            Also return each file's windows (``start``, ``end`` in seconds,
            the attributes, ``speech_seconds``, ``warning``): a timeline.
        clip : bool
            Values clamped into the label range (False: as computed).
        progress : bool
            Show a progress bar counting seconds of audio.
        files_per_chunk : int
            Short files held in memory at once.
        silence_peak, near_silence_dbfs : float
            Silence thresholds (see ``speechbrain_lora_ser.serving.audio``).
        language : str, optional
            For an adapter bank: the known language of every file.
        calibrate : bool
            Calibrated values (False: the raw regression output).
        vad : bool
            Judge the speech of every file with Silero VAD: a window with
            less than ``long_audio.MIN_SPEECH_SECONDS`` of speech (or half
            a shorter file) is not rated, and a rated one keeps its speech
            alone. With False: only digital silence and constant signals
            are not rated.
        window_seconds, hop_seconds : float, optional
            The windows (the model's ``window_seconds`` and ``hop_seconds``
            by default).
        vad_threshold : float
            Silero's speech probability from which a frame is speech.
        min_speech_share : float
            When the VAD hears speech in less than this share of a file's
            sound (``long_audio.SpeechDetector.heard``), it is taken to have
            missed the speech: the file is rated without it (as with
            ``vad=False``) and its ``warning`` says so, naming the settings.
            0 keeps the detector's verdict whatever it is.

        Returns
        -------
        list of dict
            One per file, in order: ``file``, the attributes (None when
            withheld or on error), ``not_learned``, ``out_of_range``,
            ``warning``, ``error``, ``duration``, ``language``,
            ``language_probability`` (and ``windows``).
        """
        self.mods.regressor.check_language(language)
        check_settings(vad_threshold, min_speech_share)
        options = _Options(
            batch_size=batch_size,
            return_windows=return_windows,
            clip=clip,
            language=language,
            calibrate=calibrate,
            reader=FileWindows(
                self.hparams.sample_rate,
                window_seconds or self.hparams.window_seconds,
                hop_seconds or self.hparams.hop_seconds,
                detector=self._detector(vad_threshold, silence_peak) if vad else None,
                min_samples=self.min_samples,
                min_speech_share=min_speech_share,
                vad_threshold=vad_threshold,
                silence_peak=silence_peak,
                near_silence_dbfs=near_silence_dbfs,
            ),
        )
        seconds = [audio_seconds(path) or 0.0 for path in paths]
        with tqdm(
            total=sum(seconds),
            disable=not progress,
            desc="predicting",
            unit="s",
            unit_scale=True,
        ) as bar:
            return self._predict_all(paths, seconds, options, files_per_chunk, bar)

    #: Files longer than this (seconds) are streamed on their own.
    long_file_seconds = 60.0

    def _detector(self, threshold, silence_peak):
        """Return what makes a fresh ``SpeechDetector`` for a file."""
        rate = self.hparams.sample_rate
        return lambda: SpeechDetector(rate, threshold, silence_peak)

    def _predict_all(self, paths, seconds, options, files_per_chunk, bar):
        """Rate long files one by one (streamed), short ones in chunks."""
        results = [None] * len(paths)
        short = [i for i, s in enumerate(seconds) if s <= self.long_file_seconds]
        for index, path in enumerate(paths):
            if index not in short:
                counter = _Counter(bar)
                results[index] = self._predict_long(path, options, counter)
                counter.advance(seconds[index])
        for start in range(0, len(short), files_per_chunk):
            chunk = short[start : start + files_per_chunk]
            rows = self._predict_chunk([paths[i] for i in chunk], options)
            for index, row in zip(chunk, rows, strict=True):
                results[index] = row
            bar.update(sum(seconds[i] for i in chunk))
        return results

    def _predict_chunk(self, paths, options):
        """Short files: their windows rated together, batched by duration.

        Whatever a file raises while it is read, rated or summarised becomes
        that file's ``error``; when a batch of windows fails, the files are
        rated again one by one, so only the file that fails loses its values.
        """
        results, windows, missed = [], [], {}
        for index, path in enumerate(paths):
            results.append(new_result(path))
            try:
                mine, missed[index] = options.reader.read(path, _tensor_list)
            except Exception as error:  # noqa: BLE001 - the file's error row
                fail(results[index], error)
                continue
            windows += [(index, window) for window in mine]
        ratings = rate_by_file(
            [(i, w) for i, w in windows if not w.withhold],
            lambda mine: self._rate_windows(mine, options),
            lambda index, error: fail(results[index], error),
        )
        for index, result in enumerate(results):
            mine = [(w, ratings.get(id(w))) for i, w in windows if i == index]
            if mine and not result["error"]:
                try:
                    self._summarise(result, mine, options, missed[index])
                except Exception as error:  # noqa: BLE001 - the file's error row
                    fail(result, error)
        return results

    def _predict_long(self, path, options, counter):
        """One long file, streamed: windows rated as they are read."""
        result = new_result(path)

        def rate_stream(windows):
            return self._stream_rated(windows, options, counter)

        try:
            rated, missed = options.reader.read(path, rate_stream)
            self._summarise(result, rated, options, missed)
        except Exception as error:  # noqa: BLE001 - the file's error row
            # nothing of a part is given as the file's
            fail(result, error)
        return result

    def _stream_rated(self, windows, options, counter):
        """Rate streamed windows: their ``(window, rating)`` pairs, counted."""
        rate, rated = self.hparams.sample_rate, []
        for window, rating in rate_windows(
            tensor_windows(windows),
            lambda wavs, lens: self._rate_rows(wavs, lens, options),
            options.batch_size,
            pad_to=rate,  # whole seconds: a few shapes, a flat heap
        ):
            rated.append((window, rating))
            counter.advance(window.end / rate)
        return rated

    def _rate_windows(self, windows, options):
        """Rate windows (of many files) in batches grouped by duration."""
        rated = [None] * len(windows)
        lengths = [w.wav.shape[0] for w in windows]
        for chosen in batches(lengths, options.batch_size, self.max_padding):
            longest = max(lengths[i] for i in chosen)
            wavs = torch.zeros(len(chosen), longest)
            for row, i in enumerate(chosen):
                wavs[row, : lengths[i]] = windows[i].wav
            lens = torch.tensor([lengths[i] for i in chosen]).float() / longest
            for i, rating in zip(
                chosen, self._rate_rows(wavs, lens, options), strict=True
            ):
                rated[i] = rating
        return rated

    def _rate_rows(self, wavs, lens, options):
        """Each row's rating: a dict of CPU tensors and its language."""
        ratings = self.rate_batch(wavs, lens, options.language, options.calibrate)
        return [
            {
                "values": ratings.values[row].cpu(),
                "learned": ratings.learned[row].cpu(),
                "low": ratings.low[row].cpu(),
                "high": ratings.high[row].cpu(),
                "language": ratings.languages[row],
                "probability": ratings.probabilities[row],
                "note": ratings.notes[row],
            }
            for row in range(wavs.shape[0])
        ]

    def _summarise(self, result, windows, options, missed=None):
        """Summarise a file: the duration-weighted mean of its rated windows.

        ``windows`` are ``(AudioWindow, rating or None)`` in time order. The
        file's language is the one heard longest; windows that could not be
        rated (no speech) are counted in the warning, and when none could,
        the values are withheld. ``missed`` (the speech detector missed the
        speech) leads the warning.
        """
        result["duration"] = windows[-1][0].end / self.hparams.sample_rate
        rated = [(w, r) for w, r in windows if r is not None]
        result["warning"] = windows_warning(windows, [r["note"] for _, r in rated])
        if rated:
            result.update(_combined(rated, options.clip))
        lead_warning(result, missed)
        if options.return_windows:
            result["windows"] = [
                self._window_entry(window, rating, options)
                for window, rating in windows
            ]

    def _window_entry(self, window, rating, options):
        entry = window_times(window, self.hparams.sample_rate)
        if rating is None:
            return entry | WITHHELD
        entry |= _shown(rating["values"], rating, options.clip)
        # the routing's note (e.g. an uncertain language sent to the base
        # model) belongs to the window it was made for
        notes = [window.warning, rating["note"]]
        entry["warning"] = "; ".join(n for n in notes if n) or None
        if rating["language"] is not None:
            entry["language"] = rating["language"]
            entry["language_probability"] = rating["probability"]
        return entry

    def _prepare(self, wavs, wav_lens):
        if wavs.dim() == 1:
            wavs = wavs.unsqueeze(0)
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0])
        return wavs.float().to(self.device), wav_lens.float().to(self.device)


@dataclasses.dataclass(frozen=True)
class _Options:
    """What ``predict_files`` was asked for, passed to its helpers."""

    batch_size: int
    return_windows: bool
    clip: bool
    language: str | None
    calibrate: bool
    reader: FileWindows


class _Counter:
    """Seconds of a streamed file counted on a progress bar, once each."""

    def __init__(self, bar):
        self.bar, self.counted = bar, 0.0

    def advance(self, seconds):
        """Count the file up to ``seconds`` (a second pass counts nothing new)."""
        if seconds > self.counted:
            self.bar.update(seconds - self.counted)
            self.counted = seconds


def _tensor_list(windows):
    return list(tensor_windows(windows))


def _combined(rated, clip):
    """Return the file's values: the duration-weighted mean, its language."""
    weights = torch.tensor([w.end - w.start for w, _ in rated]).float()
    values = torch.stack([r["values"] for _, r in rated])
    share = {}
    for weight, (_, rating) in zip(weights.tolist(), rated, strict=True):
        share[rating["language"]] = share.get(rating["language"], 0.0) + weight
    language = max(share, key=share.get)
    heard = [
        (weight, r)
        for weight, (_, r) in zip(weights.tolist(), rated, strict=True)
        if r["language"] == language
    ]
    combined = {}
    if language is not None:
        combined["language"] = language
        combined["language_probability"] = float(
            sum(weight * r["probability"] for weight, r in heard)
            / sum(weight for weight, _ in heard)
        )
    mean = (values * weights[:, None]).sum(0) / weights.sum()
    return combined | _shown(mean, heard[0][1], clip)


def _shown(values, rating, clip):
    """``summary.shown`` of tensors: the scale and learned flags of ``rating``.

    The scale is compared in the values' precision, as tensors are; the
    row's ``label_low`` and ``label_high`` keep the model's own.
    """
    low, high = rating["low"], rating["high"]  # one value each
    row = shown(
        values.numpy(),
        rating["learned"].numpy(),
        low.to(values.dtype).numpy().reshape(()),
        high.to(values.dtype).numpy().reshape(()),
        clip,
    )
    return row | {"label_low": float(low), "label_high": float(high)}
