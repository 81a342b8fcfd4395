"""The adapter bank: one model for many languages, routed without a language tag.

A bank holds one frozen encoder (a FineTuned run's: language 1) and, for each
further language, the LoRA adapter and the head of an FT+LoRA run whose
stage 1 is that encoder. Each language's model is declared by its run's
export (``languages/<language>.yaml``: the recipe's model file with that
run's values), so a bank takes each head and LoRA configuration from where
the recipe declared it. A language router picks each utterance's language
from features computed before the transformer runs; the batch then goes
through the transformer once, each utterance with its own adapter (peft's
mixed-batch LoRA), and through its language's head. Audio whose language is
uncertain (below ``min_language_probability``) goes to the base model, with
a note.

This module only serves a bank (``EncoderRegressor.from_hparams(source=
BANK)``); ``speechbrain_lora_ser.bank_builder`` builds one from runs.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import contextlib
import json
import os

import torch
from hyperpyyaml import load_hyperpyyaml
from peft.tuners.lora import LoraLayer

from speechbrain_lora_ser.lora import add_lora
from speechbrain_lora_ser.regressor import Ratings, calibrated

DESCRIPTION = "bank.json"
LANGUAGES = "languages"
BASE = "__base__"  # peft's name for "no adapter" in a mixed batch

#: Quantiles of each channel's log energy over time, beside mean and std.
QUANTILES = (0.1, 0.5, 0.9)
#: Energies are averaged over this many first-convolution frames (10 ms at
#: 16 kHz for WavLM / HuBERT, whose first convolution has a stride of 5).
ENERGY_FRAMES = 32


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
    with open(path, encoding="utf-8") as handle:
        return load_hyperpyyaml(handle, overrides)


def pooled_statistics(values, mask):
    """Mean, std and quantiles over the real frames: ``[batch, 5 * dim]``.

    The quantiles describe the spread of each channel's level (quiet and
    loud parts), which a mean and a standard deviation summarise poorly.

    Example
    -------
    >>> values = torch.tensor([[[1.0], [3.0], [100.0]]])
    >>> pooled_statistics(values, torch.tensor([[True, True, False]]))
    tensor([[2.0000, 1.0000, 1.2000, 2.0000, 2.8000]])
    """
    rows = []
    quantiles = torch.tensor(QUANTILES, device=values.device, dtype=values.dtype)
    for row, keep in zip(values, mask, strict=True):
        real = row[keep] if keep.any() else row[:1]
        mean = real.mean(0)
        std = real.std(0, correction=0)
        rows.append(
            torch.cat([mean, std, torch.quantile(real, quantiles, dim=0).flatten()])
        )
    return torch.stack(rows)


def front_features(encoder, wavs, wav_lens):
    """Router features: statistics of the first convolution's log energies.

    The encoder's first convolution (a learned filterbank shared by every
    adapter) on its normalised input; channel energies over 10-ms frames, in
    log, summarised over the real frames by mean, std and quantiles.

    Arguments
    ---------
    encoder : speechbrain_lora_ser.model.SSLEncoder
        The bank's encoder.
    wavs, wav_lens : torch.Tensor
        Padded 16 kHz waveforms and relative lengths.

    Returns
    -------
    torch.Tensor
        ``[batch, 5 * channels]``.
    """
    inputs, _, samples = encoder.prepare_input(wavs, wav_lens)
    first = encoder.model.feature_extractor.conv_layers[0]
    output = first(inputs[:, None, :])
    power = torch.nn.functional.avg_pool1d(
        output.float().pow(2), ENERGY_FRAMES, ENERGY_FRAMES
    )
    kernel, stride = first.conv.kernel_size[0], first.conv.stride[0]
    frames = ((samples - kernel) // stride + 1).clamp_min(1)
    real = (frames // ENERGY_FRAMES).clamp_min(1).to(output.device)
    mask = torch.arange(power.shape[-1], device=output.device)[None, :] < real[:, None]
    energies = torch.log(power + 1e-4).transpose(1, 2)
    return pooled_statistics(energies, mask)


class LanguageRouter(torch.nn.Module):
    """Language probabilities from pooled front-end features (logistic regression).

    Arguments
    ---------
    input_size : int
        Width of the pooled features.
    languages : int
        Number of languages.

    Example
    -------
    >>> router = LanguageRouter(4, 3)
    >>> probabilities = router(torch.randn(2, 4))
    >>> probabilities.shape, round(float(probabilities.sum()), 4)
    (torch.Size([2, 3]), 2.0)
    """

    def __init__(self, input_size, languages):
        super().__init__()
        self.register_buffer("mean", torch.zeros(input_size))
        self.register_buffer("std", torch.ones(input_size))
        self.linear = torch.nn.Linear(input_size, languages)

    def forward(self, features):
        """Probabilities ``[batch, languages]``."""
        return self.linear((features - self.mean) / self.std).softmax(-1)


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

    Serves the rating protocol of ``speechbrain_lora_ser.regressor``.

    Arguments
    ---------
    folder : str
        The bank folder: ``bank.json`` (the languages, the base first) and
        ``languages/<language>.yaml`` (each language's exported model).
    min_language_probability : float
        Utterances whose most likely language is less probable than this go
        to the base model.
    """

    def __init__(self, folder, min_language_probability=0.5):
        super().__init__()
        with open(os.path.join(folder, DESCRIPTION), encoding="utf-8") as handle:
            info = json.load(handle)
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
        channels = self.encoder.model.config.conv_dim[0]
        self.router = LanguageRouter(
            (2 + len(QUANTILES)) * channels, len(self.languages)
        )

    @property
    def label_range(self):
        """The base language's label scale."""
        return self.scalers[0].low, self.scalers[0].high

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
        """Each utterance's language index, probability and note."""
        self.check_language(language)
        if language is not None:
            index = self.languages.index(language)
            return [index] * wavs.shape[0], [1.0] * wavs.shape[0], [None] * len(wavs)
        probabilities = self.router(front_features(self.encoder, wavs, wav_lens))
        best_probability, best = probabilities.max(-1)
        routes, chosen, notes = [], [], []
        for row in range(probabilities.shape[0]):
            if best_probability[row] < self.min_language_probability:
                routes.append(0)
                chosen.append(float(probabilities[row, 0]))
                notes.append(
                    "language uncertain (probability below "
                    f"{self.min_language_probability:g}): base model used"
                )
            else:
                routes.append(int(best[row]))
                chosen.append(float(best_probability[row]))
                notes.append(None)
        return routes, chosen, notes

    def encode(self, wavs, wav_lens, routes):
        """Hidden states, each utterance through its language's adapter."""
        names = [BASE if index == 0 else self.languages[index] for index in routes]
        with per_utterance_adapters(self.encoder.model, names):
            return self.encoder(wavs, wav_lens)

    def embed(self, wavs, wav_lens, language=None):
        """Pooled embeddings, each by its language's pooling."""
        routes, _, _ = self.route(wavs, wav_lens, language)
        hidden, frame_lens = self.encode(wavs, wav_lens, routes)
        return self._per_language(
            routes, lambda head, rows: head.pool(hidden[rows], frame_lens[rows])
        )

    def forward(self, wavs, wav_lens, language=None, calibrate=True):
        """Route, encode and rate a batch (``Ratings``).

        Each utterance's values are its language's: that language's head,
        label scale and calibration (``calibrate=False``: raw outputs).
        """
        routes, probabilities, notes = self.route(wavs, wav_lens, language)
        hidden, frame_lens = self.encode(wavs, wav_lens, routes)

        def rate(head, rows):
            index = routes[rows[0]]
            values = self.scalers[index].unscale(
                head(hidden[rows], frame_lens[rows]).float()
            )
            values, learned = calibrated(values, self.calibrations[index], calibrate)
            return torch.cat([values, learned.to(values.dtype)], dim=1)

        rated = self._per_language(routes, rate)
        values, learned = rated[:, :3], rated[:, 3:].bool()
        low = torch.tensor([[self.scalers[i].low] for i in routes])
        high = torch.tensor([[self.scalers[i].high] for i in routes])
        return Ratings(
            values=values,
            low=low.to(values.device),
            high=high.to(values.device),
            languages=[self.languages[i] for i in routes],
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
