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

import torch
from speechbrain.inference.interfaces import Pretrained
from tqdm import tqdm

from speechbrain_lora_ser.modeling.labels import ATTRIBUTES
from speechbrain_lora_ser.serving.audio import (
    NEAR_SILENCE_DBFS,
    SILENCE_PEAK,
    AudioProblem,
    read_audio,
    receptive_field,
)
from speechbrain_lora_ser.serving.decoding import file_error
from speechbrain_lora_ser.serving.long_audio import (
    SpeechDetector,
    audio_seconds,
    rate_windows,
    stream_windows,
)
from speechbrain_lora_ser.serving.model_loading import load_pretrained
from speechbrain_lora_ser.serving.speech_share import (
    MIN_SPEECH_SHARE,
    VAD_THRESHOLD,
    check_settings,
    missed_speech,
)


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
            Judge the speech of recordings longer than one window with
            Silero VAD: a window with less than
            ``long_audio.MIN_SPEECH_SECONDS`` of speech is not rated. A clip
            of one window, or any file with False: only digital silence and
            constant signals are not rated.
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
            vad_threshold=vad_threshold,
            min_speech_share=min_speech_share,
            batch_size=batch_size,
            return_windows=return_windows,
            clip=clip,
            language=language,
            calibrate=calibrate,
            stream={
                "sample_rate": self.hparams.sample_rate,
                "window_seconds": window_seconds or self.hparams.window_seconds,
                "hop_seconds": hop_seconds or self.hparams.hop_seconds,
                "vad": vad,
                "min_samples": self.min_samples,
                "silence_peak": silence_peak,
                "near_silence_dbfs": near_silence_dbfs,
            },
        )
        seconds = [audio_seconds(path) or 0.0 for path in paths]
        results = [None] * len(paths)
        short = [i for i, s in enumerate(seconds) if s <= self.long_file_seconds]
        with tqdm(
            total=sum(seconds),
            disable=not progress,
            desc="predicting",
            unit="s",
            unit_scale=True,
        ) as bar:
            for index, path in enumerate(paths):
                if index not in short:
                    results[index] = self._predict_long(path, options, bar)
                    bar.update(seconds[index] - options.counted)
            for start in range(0, len(short), files_per_chunk):
                chunk = short[start : start + files_per_chunk]
                rows = self._predict_chunk([paths[i] for i in chunk], options)
                for index, row in zip(chunk, rows, strict=True):
                    results[index] = row
                bar.update(sum(seconds[i] for i in chunk))
        return results

    #: Files longer than this (seconds) are streamed on their own.
    long_file_seconds = 60.0

    def _new_result(self, path):
        result = {"file": str(path), **dict.fromkeys(ATTRIBUTES)}
        result.update(label_low=None, label_high=None)
        result.update(not_learned=[], out_of_range=[], warning=None)
        result.update(error=None, duration=None)
        result.update(language=None, language_probability=None)
        return result

    def _predict_chunk(self, paths, options):
        """Short files: their windows rated together, batched by duration.

        Whatever a file raises while it is read, rated or summarised becomes
        that file's ``error``; when a batch of windows fails, the files are
        rated again one by one, so only the file that fails loses its values.
        """
        results, windows, missed = [], [], {}
        for index, path in enumerate(paths):
            results.append(self._new_result(path))
            try:
                mine, missed[index] = self._short_windows(path, options)
            except Exception as error:  # noqa: BLE001 - the file's error row
                self._fail(results[index], error)
                continue
            windows += [(index, window) for window in mine]
        ratings = self._rate_files(
            [(i, w) for i, w in windows if not w.withhold], results, options
        )
        for index, result in enumerate(results):
            mine = [(w, ratings.get(id(w))) for i, w in windows if i == index]
            if mine and not result["error"]:
                try:
                    self._summarise(result, mine, options, missed[index])
                except Exception as error:  # noqa: BLE001 - the file's error row
                    self._fail(result, error)
        return results

    def _short_windows(self, path, options):
        """Cut a short file into windows; warn when its VAD missed the speech.

        When the detector heard too little of the file's sound as speech
        (``_Options.missed_speech``), the windows are cut again without it.
        """
        stream = options.stream_for(path)
        windows = list(stream_windows(path, **stream))
        missed = options.missed_speech(stream)
        if missed:
            windows = list(stream_windows(path, **dict(stream, vad=False)))
        return windows, missed

    def _rate_files(self, to_rate, results, options):
        """``{id(window): rating}`` of ``(file index, window)`` pairs.

        All windows are batched together; if that raises, each file's
        windows are rated on their own and a file that still fails gets the
        error (its windows stay unrated).
        """
        windows = [w for _, w in to_rate]
        try:
            return dict(
                zip(map(id, windows), self._rate_windows(windows, options), strict=True)
            )
        except Exception:  # noqa: BLE001 - find the file that fails, rate the rest
            pass
        ratings = {}
        for index in dict.fromkeys(i for i, _ in to_rate):
            mine = [w for i, w in to_rate if i == index]
            try:
                rated = self._rate_windows(mine, options)
            except Exception as error:  # noqa: BLE001 - the file's error row
                self._fail(results[index], error)
                continue
            ratings.update(zip(map(id, mine), rated, strict=True))
        return ratings

    def _fail(self, result, error):
        """Make ``result`` its file's error row (``decoding.file_error``)."""
        path = result["file"]
        message = file_error(path, error)
        result.clear()
        result.update(self._new_result(path), error=message)

    def _predict_long(self, path, options, bar):
        """One long file, streamed: windows rated as they are read."""
        result = self._new_result(path)
        options.counted = 0.0
        try:
            stream = options.stream_for(path)
            rated = self._stream_rated(path, stream, options, bar)
            missed = options.missed_speech(stream)
            if missed:  # a second pass, without the detector
                rated = self._stream_rated(path, dict(stream, vad=False), options)
            self._summarise(result, rated, options, missed)
        except Exception as error:  # noqa: BLE001 - the file's error row
            # nothing of a part is given as the file's
            self._fail(result, error)
        return result

    def _stream_rated(self, path, stream, options, bar=None):
        """Rate a streamed file: its ``(window, rating)`` pairs, counted on ``bar``."""
        rate, rated = self.hparams.sample_rate, []
        for window, rating in rate_windows(
            stream_windows(path, **stream),
            lambda wavs, lens: self._rate_rows(wavs, lens, options),
            options.batch_size,
            pad_to=rate,  # whole seconds: a few shapes, a flat heap
        ):
            rated.append((window, rating))
            covered = window.end / rate
            if bar is not None and covered > options.counted:
                bar.update(covered - options.counted)
                options.counted = covered
        return rated

    def _rate_windows(self, windows, options):
        """Rate windows (of many files) in batches grouped by duration."""
        rated = [None] * len(windows)
        lengths = [w.wav.shape[0] for w in windows]
        for chosen in self._batches(lengths, options.batch_size):
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

    def _batches(self, lengths, batch_size):
        """Windows grouped by duration, at most ``max_padding`` of each batch padded.

        Padding is computed too (a CPU pays for every padded sample), so a
        batch closes when adding the next, longer window would pad more than
        ``self.max_padding`` of it.
        """
        order = sorted(range(len(lengths)), key=lengths.__getitem__)
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

    def _summarise(self, result, windows, options, missed=None):
        """Summarise a file: the duration-weighted mean of its rated windows.

        ``windows`` are ``(AudioWindow, rating or None)`` in time order. The
        file's language is the one heard longest; windows that could not be
        rated (no speech) are counted in the warning, and when none could,
        the values are withheld. ``missed`` (the speech detector missed the
        speech) leads the warning.
        """
        rate = self.hparams.sample_rate
        result["duration"] = windows[-1][0].end / rate
        rated = [(w, r) for w, r in windows if r is not None]
        warnings = list(dict.fromkeys(w.warning for w, _ in windows if w.warning))
        skipped = len(windows) - len(rated)
        if not rated:
            warning = warnings[0] if warnings else "no window to rate"
            if len(windows) > 1:
                warning = f"none of the {len(windows)} windows rated: {warning}"
            result["warning"] = warning
        else:
            notes = [w for w, r in rated if w.warning]
            result["warning"] = (
                "; ".join(
                    filter(
                        None,
                        [
                            f"{skipped} of {len(windows)} windows without speech, "
                            "not rated"
                            if skipped
                            else None,
                            *dict.fromkeys(w.warning for w in notes),
                            *dict.fromkeys(r["note"] for _, r in rated if r["note"]),
                        ],
                    )
                )
                or None
            )
            self._combine(result, rated, options)
        if missed:
            result["warning"] = "; ".join(filter(None, [missed, result["warning"]]))
        if options.return_windows:
            result["windows"] = [
                self._window_entry(window, rating, options)
                for window, rating in windows
            ]

    def _combine(self, result, rated, options):
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
        if language is not None:
            result["language"] = language
            result["language_probability"] = float(
                sum(weight * r["probability"] for weight, r in heard)
                / sum(weight for weight, _ in heard)
            )
        mean = (values * weights[:, None]).sum(0) / weights.sum()
        result.update(_shown(mean, heard[0][1], options.clip))

    def _window_entry(self, window, rating, options):
        rate = self.hparams.sample_rate
        entry = {"start": window.start / rate, "end": window.end / rate}
        entry["speech_seconds"] = window.speech_seconds
        entry["warning"] = window.warning
        if rating is None:
            return entry | dict.fromkeys(ATTRIBUTES) | {"not_learned": []}
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


class _Options:
    """What ``predict_files`` was asked for, passed to its helpers."""

    def __init__(self, **options):
        self.__dict__.update(options)
        self.counted = 0.0

    def stream_for(self, path):
        """``stream_windows`` arguments for a file.

        Speech detection runs on recordings longer than one window, whose
        pauses it keeps out of the file's value; a clip of one window is
        rated as given (the silence rules still withhold digital silence and
        constant signals). Detecting speech costs about 0.4 ms of CPU per
        32 ms of audio, which on a GPU would cost more than the encoder for
        short clips.
        """
        seconds = audio_seconds(path) or 0.0
        stream = dict(self.stream, vad=False)
        if self.stream["vad"] and seconds > self.stream["window_seconds"]:
            stream["vad"] = SpeechDetector(
                stream["sample_rate"], self.vad_threshold, stream["silence_peak"]
            )
        return stream

    def missed_speech(self, stream):
        """Return the warning of a file whose speech detector missed its speech.

        ``stream`` is what ``stream_for`` gave, after the file was read;
        returns None when the detector heard at least ``min_speech_share``
        of the file's sound (or did not run).
        """
        detector = stream["vad"]
        if not detector:
            return None
        speech, sound = detector.heard()
        return missed_speech(speech, sound, self.min_speech_share, self.vad_threshold)


def _shown(values, rating, clip):
    """Return the attributes as served, their scale and what is odd about them.

    ``rating`` gives the scale (``low``, ``high``: ``label_low`` and
    ``label_high`` of the result) and which attributes were
    learned; a learned value outside the scale is named in ``out_of_range``
    and, with ``clip``, clipped to it.
    """
    low, high, learned = rating["low"], rating["high"], rating["learned"]
    outside = ((values < low) | (values > high)) & learned
    if clip:
        values = torch.maximum(torch.minimum(values, high), low)
    return _attributes(values, learned) | {
        "label_low": float(low),
        "label_high": float(high),
        "not_learned": [
            a for a, known in zip(ATTRIBUTES, learned, strict=True) if not known
        ],
        "out_of_range": [a for a, o in zip(ATTRIBUTES, outside, strict=True) if o],
    }


def _attributes(values, learned):
    """``{attribute: value}``, None where the attribute is not learned."""
    return {
        name: value if known else None
        for name, value, known in zip(
            ATTRIBUTES, values.tolist(), learned.tolist(), strict=True
        )
    }
