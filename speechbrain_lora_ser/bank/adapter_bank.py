"""The adapter bank: one model for many languages, routed without a language tag.

A bank holds one frozen encoder (a FineTuned run's: language 1) and, for each
further language, the LoRA adapter and the head of an FT+LoRA run whose
stage 1 is that encoder. Each language's model is declared by its run's
export (``languages/<language>.yaml``: the recipe's model file with that
run's values), so a bank takes each head and LoRA configuration from where
the recipe declared it. A language router (``speechbrain_lora_ser.bank.routing``:
cepstral statistics of the waveform, a calibrated detector per language)
picks each utterance's language before the transformer runs; the batch then
goes through the transformer once, each utterance with its own adapter
(peft's mixed-batch LoRA), and through its language's head and calibration.
Audio whose language is uncertain (below ``min_language_probability``) goes
to the base model, with a note. A bank serves one output scale (``scale``
in ``bank.json``; the base language's by default): each language's values
are mapped onto it, so a table of mixed languages has one scale per column;
``calibrate=False`` gives each language's raw outputs on its own scale.

This module only serves a bank (``EncoderRegressor.from_hparams(source=
BANK)``); ``speechbrain_lora_ser.bank.bank_builder`` builds one from runs.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import contextlib
import json
import os

import torch
from hyperpyyaml import load_hyperpyyaml
from peft.tuners.lora import LoraLayer

from speechbrain_lora_ser.bank.language_id import (
    decide,
    identifier_from_description,
)
from speechbrain_lora_ser.bank.routing import (
    DEFAULT_MIN_LANGUAGE_PROBABILITY,
    LanguageRouter,
    RouterFeatures,
)
from speechbrain_lora_ser.modeling.labels import LabelScaler
from speechbrain_lora_ser.modeling.lora import add_lora
from speechbrain_lora_ser.serving.model_trust import check_yaml
from speechbrain_lora_ser.serving.regressor import Ratings, calibrated

DESCRIPTION = "bank.json"
LANGUAGES = "languages"
BASE = "__base__"  # peft's name for "no adapter" in a mixed batch


def load_language_model(folder, language, with_encoder=False):
    """Load the model a language's run exported (``languages/<language>.yaml``).

    Arguments
    ---------
    folder : str
        The bank folder.
    language : str
        The language (its corpus name).
    with_encoder : bool
        Also build its encoder (only the base language's is used).

    Returns
    -------
    dict
        The loaded hyperparameters (``head``, ``lora_config``,
        ``label_scaler``, and ``ssl`` when ``with_encoder``).
    """
    path = os.path.join(folder, LANGUAGES, f"{language}.yaml")
    overrides = {"pretrained_path": folder}
    if not with_encoder:
        overrides["ssl"] = None
    check_yaml(path)  # trust_code of from_hparams reaches here (trusting)
    with open(path, encoding="utf-8") as handle:
        return load_hyperpyyaml(handle, overrides)


def check_parts(folder, info):
    """Refuse a bank whose parts disagree, naming what disagrees.

    ``bank.json``'s languages must be the ``languages/*.yaml`` files, the
    router's languages, and the heads and adapters in ``bank.ckpt`` (read
    memory-mapped: only its keys).

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(folder, LANGUAGES))
    >>> try:
    ...     check_parts(folder, {"languages": ["en"]})
    ... except ValueError as error:
    ...     print(str(error).split(": ", 1)[1])
    the bank's parts disagree: languages/*.yaml has [], where bank.json lists ['en']
    """
    languages = list(info["languages"])
    found = sorted(
        name[: -len(".yaml")]
        for name in os.listdir(os.path.join(folder, LANGUAGES))
        if name.endswith(".yaml")
    )
    problems = []
    if found != sorted(languages):
        problems.append(f"languages/*.yaml has {found}")
    router = info.get("router", {}).get("languages")
    if router is not None and router != len(languages):
        problems.append(f"the router in bank.json has {router} languages")
    ckpt = os.path.join(folder, "bank.ckpt")
    if not problems and os.path.exists(ckpt):
        problems.extend(_checkpoint_disagreement(ckpt, languages))
    if problems:
        raise ValueError(
            f"{folder}: the bank's parts disagree: "
            + "; ".join(problems)
            + f", where bank.json lists {languages}"
        )


def _checkpoint_disagreement(path, languages):
    keys = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    heads = sorted({key.split(".")[1] for key in keys if key.startswith("heads.")})
    adapters = sorted(
        {key.split(".lora_A.")[1].split(".")[0] for key in keys if ".lora_A." in key}
    )
    problems = []
    if heads != sorted(str(index) for index in range(len(languages))):
        problems.append(f"bank.ckpt has {len(heads)} heads")
    if adapters != sorted(languages[1:]):
        problems.append(f"bank.ckpt has adapters {adapters}")
    return problems


@contextlib.contextmanager
def per_utterance_adapters(model, names):
    """Run each utterance of a batch through its own LoRA adapter.

    peft's mixed-batch LoRA takes an ``adapter_names`` argument in every
    LoRA layer; peft's own ``PeftModel`` passes it with forward pre-hooks
    that live for one call (``LoraModel._enable_peft_forward_hooks``). The
    bank's encoder holds adapters injected without a ``PeftModel``, so it
    does the same here: hooks for the duration of the ``with`` block.

    Arguments
    ---------
    model : torch.nn.Module
        The encoder's ``transformers`` model with LoRA layers.
    names : list of str
        The adapter of each utterance (``BASE``: none).
    """

    def inject(module, args, kwargs):
        kwargs["adapter_names"] = names
        return args, kwargs

    handles = [
        module.register_forward_pre_hook(inject, with_kwargs=True)
        for module in model.modules()
        if isinstance(module, LoraLayer)
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


class AdapterBank(torch.nn.Module):
    """One frozen encoder, an adapter and a head per language, and a router.

    Serves the rating protocol of ``speechbrain_lora_ser.serving.regressor``.

    Arguments
    ---------
    folder : str
        The bank folder: ``bank.json`` (the languages, the base first, the
        router's configuration, the output scale) and
        ``languages/<language>.yaml`` (each language's exported model).
    min_language_probability : float
        Utterances whose most likely language is less probable than this go
        to the base model.
    description : dict, optional
        ``bank.json``'s content, when it is not written yet (the builder
        writes it last, with the router's development accuracy).
    """

    def __init__(
        self,
        folder,
        min_language_probability=DEFAULT_MIN_LANGUAGE_PROBABILITY,
        description=None,
    ):
        super().__init__()
        info = description
        if info is None:
            with open(os.path.join(folder, DESCRIPTION), encoding="utf-8") as handle:
                info = json.load(handle)
        check_parts(folder, info)
        self.languages = list(info["languages"])
        self.base_language = self.languages[0]
        self.min_language_probability = float(min_language_probability)
        models = [
            load_language_model(folder, language, with_encoder=index == 0)
            for index, language in enumerate(self.languages)
        ]
        self.encoder = models[0]["ssl"]
        for language, model in zip(self.languages[1:], models[1:], strict=True):
            add_lora(self.encoder.model, model["lora_config"], adapter_name=language)
        self.heads = torch.nn.ModuleDict(
            {str(index): model["head"] for index, model in enumerate(models)}
        )
        self.scalers = [model["label_scaler"] for model in models]
        self.calibrations = [model.get("calibration") for model in models]
        # a pretrained identifier is a SpeechBrain model folder of its own,
        # not part of bank.ckpt (it moves with the bank: _apply)
        self.language_id = None
        if info.get("language_id"):
            self.language_id = identifier_from_description(
                folder, info["language_id"], self.languages
            )
        # the cepstral router: for the languages no identifier knows
        self.router = self.router_features = None
        if "router" in info:
            self.router = LanguageRouter(**info["router"])
            self.router_features = RouterFeatures(self.encoder, **self.router.features)
        elif not self.identifier_knows_every_language():
            raise ValueError(
                f"{folder}: bank.json has no router, and no language identifier "
                f"that knows every one of {self.languages}"
            )
        base = self.scalers[0]
        self.output_scaler = LabelScaler(*(info["scale"] or (base.low, base.high)))

    @property
    def label_range(self):
        """The bank's output scale (every language's values are mapped onto it)."""
        return self.output_scaler.low, self.output_scaler.high

    def _apply(self, fn, *args, **kwargs):
        """Move or cast the pretrained identifier with the bank's modules."""
        super()._apply(fn, *args, **kwargs)
        if getattr(self, "language_id", None) is not None:
            for classifier in self.language_id.classifiers:
                classifier.mods._apply(fn, *args, **kwargs)
                classifier.device = next(self.encoder.parameters()).device
        return self

    def check_language(self, language):
        """Refuse a language the bank does not hold (None: route)."""
        if language is not None and language not in self.languages:
            raise ValueError(
                f"language {language!r} is not in this bank; it has {self.languages}"
            )

    def reliability(self):
        """Each language's development reliability, per attribute."""
        return {
            language: None if calibration is None else calibration.reliability()
            for language, calibration in zip(
                self.languages, self.calibrations, strict=True
            )
        }

    def route(self, wavs, wav_lens, language=None):
        """Each utterance's language index, name, probability and note.

        ``language_id.decide`` makes the choice; an ``unknown`` language (or
        one the guard doubts) is rated by the base model (index 0).
        """
        self.check_language(language)
        count = wavs.shape[0]
        if language is not None:
            index = self.languages.index(language)
            return [index] * count, [language] * count, [1.0] * count, [None] * count
        probabilities = self.language_probabilities(wavs, wav_lens)
        heard = None
        if self.language_id is not None:
            probabilities, heard = probabilities
        return decide(
            probabilities, self.languages, self.min_language_probability, heard
        )

    def identifier_knows_every_language(self):
        """Whether the language identifier maps every bank language (no router)."""
        mapped = [] if self.language_id is None else self.language_id.mapped
        return len(mapped) == len(self.languages)

    def language_probabilities(self, wavs, wav_lens):
        """Each utterance's probability of each language, ``unknown`` last.

        With a pretrained identifier: its probabilities and what it heard
        (``PretrainedLanguageId``), the router's sharing out what it leaves
        to the bank languages it does not know.
        """
        router = None
        if not self.identifier_knows_every_language():
            router = self.router(self.router_features(wavs, wav_lens))
        if self.language_id is None:
            return torch.cat([router, torch.zeros_like(router[:, :1])], dim=1)
        return self.language_id(wavs, wav_lens, router)

    def encode(self, wavs, wav_lens, routes):
        """Hidden states, each utterance through its language's adapter."""
        names = [BASE if index == 0 else self.languages[index] for index in routes]
        with per_utterance_adapters(self.encoder.model, names):
            return self.encoder(wavs, wav_lens)

    def embed(self, wavs, wav_lens, language=None):
        """Pooled embeddings, each by its language's pooling."""
        routes = self.route(wavs, wav_lens, language)[0]
        hidden, frame_lens = self.encode(wavs, wav_lens, routes)
        return self._per_language(
            routes, lambda head, rows: head.pool(hidden[rows], frame_lens[rows])
        )

    def forward(self, wavs, wav_lens, language=None, calibrate=True):
        """Route, encode and rate a batch (``Ratings``).

        Each utterance's values are its language's: that language's head,
        label scale and calibration, mapped onto the bank's output scale
        (``calibrate=False``: the raw outputs on the language's own scale).
        """
        routes, names, probabilities, notes = self.route(wavs, wav_lens, language)
        hidden, frame_lens = self.encode(wavs, wav_lens, routes)

        def rate(head, rows):
            index = routes[rows[0]]
            values = self.scalers[index].unscale(
                head(hidden[rows], frame_lens[rows]).float()
            )
            values, learned = calibrated(values, self.calibrations[index], calibrate)
            if calibrate:  # onto the bank's scale
                values = self.output_scaler.unscale(self.scalers[index].scale(values))
            return torch.cat([values, learned.to(values.dtype)], dim=1)

        rated = self._per_language(routes, rate)
        values, learned = rated[:, :3], rated[:, 3:].bool()
        scalers = [self.output_scaler if calibrate else self.scalers[i] for i in routes]
        low = torch.tensor([[scaler.low] for scaler in scalers])
        high = torch.tensor([[scaler.high] for scaler in scalers])
        return Ratings(
            values=values,
            low=low.to(values.device),
            high=high.to(values.device),
            languages=names,
            probabilities=probabilities,
            notes=notes,
            learned=learned,
        )

    def _per_language(self, routes, compute):
        """``compute(head, rows)`` for each language's rows, in batch order."""
        outputs = [None] * len(routes)
        for index in sorted(set(routes)):
            rows = [row for row, route in enumerate(routes) if route == index]
            for row, value in zip(
                rows, compute(self.heads[str(index)], rows), strict=True
            ):
                outputs[row] = value
        return torch.stack(outputs)
