r"""Language routing for an adapter bank: features that carry language, a router.

A bank sends each utterance to its language's adapter before the adapted
transformer layers run. This module is what the bank serves with:

* ``RouterFeatures`` computes, by a direct call, what the router reads:
  statistics over each utterance's real frames (padding-correct) of

  - ``"cepstra"`` (the default): cepstral coefficients c1..c19 of a 40-band
    log-mel spectrum (25-ms windows every 10 ms) of the waveform, scaled to
    unit power: mean, std and quantiles, and the std of their 20-ms deltas.
    The spectral envelope and its movement carry what is said; the level
    (c0) and the pitch harmonics (the high cepstra) are left out;
  - ``"log_mel"``: each frame's log-mel spectrum minus its mean.

  ``benchmarks/routing_robustness.py`` measured them against features of
  the encoder (its first convolution's energies, what banks read before;
  its convolutional output; the hidden states of its first layers with the
  base weights: ``benchmarks/routing_taps.py``) on held-out synthetic
  speech through telephone band, clipping with noise, gain changes and
  reverberation: with channel-augmented training, the cepstra routed
  99-100 % of every language under each channel, the encoder's features
  50-100 %.
* ``LanguageRouter``: a small detector per language (one hidden layer of 16
  units) on standardised features, the softmax of their scores divided by a
  temperature fitted on development data, so its probabilities are
  calibrated and ``min_language_probability`` can guard the routes (default
  ``DEFAULT_MIN_LANGUAGE_PROBABILITY``). Adding a language adds a detector
  and leaves the others, the standardisation and the temperature unchanged
  (``speechbrain_lora_ser.bank.routing_training.add_language``).

Serving code: this module imports torch and torchaudio only. Training the
router (channel augmentation, fitting, comparing two routers) is in
``routing_training``.

Example
-------
>>> import tempfile
>>> from speechbrain_lora_ser.synthetic.architectures import save_tiny_encoder
>>> from speechbrain_lora_ser.modeling.model import SSLEncoder
>>> encoder = SSLEncoder(save_tiny_encoder(tempfile.mkdtemp())).eval()
>>> features = RouterFeatures(encoder, **DEFAULT_FEATURES)
>>> values = features(torch.randn(2, 16000), torch.tensor([1.0, 0.5]))
>>> router = LanguageRouter(features.size, 3, features.config)
>>> routes, probabilities = router.route(values, DEFAULT_MIN_LANGUAGE_PROBABILITY)
>>> values.shape, probabilities.shape
(torch.Size([2, 114]), torch.Size([2, 3]))

Authors
 * speechbrain-lora-ser contributors 2026
"""

import torch
import torch.nn.functional as F
import torchaudio

#: The representations a bank's router reads from the waveform (the
#: encoder-internal ones measured against them are in
#: ``benchmarks/routing_taps.py``).
SOURCES = ("cepstra", "log_mel")

#: What a bank's router reads unless told otherwise: chosen with
#: ``benchmarks/routing_robustness.py`` (figures in ``benchmarks/NOTES.md``
#: and the README).
DEFAULT_FEATURES = {"source": "cepstra"}

#: A route whose probability is under this goes to the base model (with a
#: warning). Chosen on held-out synthetic speech through twelve channels
#: (``benchmarks/routing_robustness.py``, 3,600 routes): at 0.9 it sent 60 %
#: of the misrouted utterances to the base model and 6 % of the correctly
#: routed ones (through clean audio, the telephone band, clipping with noise
#: and -20 dB: 100 % and 2 %); at 0.98, 80 % and 15 % (100 % and 7 %).
DEFAULT_MIN_LANGUAGE_PROBABILITY = 0.9

#: The log-mel filterbank: 25-ms windows every 10 ms, 40 bands, 50-7600 Hz.
MEL = {
    "sample_rate": 16000,
    "n_fft": 512,
    "win_length": 400,
    "hop_length": 160,
    "f_min": 50.0,
    "f_max": 7600.0,
    "n_mels": 40,
}
#: Cepstral coefficients c1..c19 of the log-mel spectrum (c0, the level, is
#: left out), and the step of their deltas (frame t+2 minus frame t: 20 ms).
CEPSTRA = 20
DELTA_FRAMES = 2

#: Quantiles of each feature channel, beside its mean and std (the spread
#: of quiet and loud parts).
QUANTILES = (0.1, 0.5, 0.9)


def masked_statistics(values, mask, quantiles=()):
    """Mean, std (and quantiles) of ``values`` over the frames where ``mask``.

    Arguments
    ---------
    values : torch.Tensor
        ``[batch, frames, channels]``.
    mask : torch.Tensor
        ``[batch, frames]``, True on real frames (at least one per row; a
        row without one is pooled over its first frame).
    quantiles : tuple of float
        Quantiles of each channel to append after the mean and the std.

    Returns
    -------
    torch.Tensor
        ``[batch, (2 + len(quantiles)) * channels]``.

    Example
    -------
    >>> values = torch.tensor([[[1.0], [3.0], [100.0]]])
    >>> masked_statistics(values, torch.tensor([[True, True, False]]), (0.5,))
    tensor([[2., 1., 2.]])
    """
    mask = mask.clone()
    mask[:, 0] |= ~mask.any(1)
    weights = mask.unsqueeze(-1).to(values.dtype)
    count = weights.sum(1)
    mean = (values * weights).sum(1) / count
    var = ((values - mean.unsqueeze(1)).pow(2) * weights).sum(1) / count
    parts = [mean, var.sqrt()]
    if quantiles:
        levels = torch.tensor(quantiles, device=values.device, dtype=values.dtype)
        parts.append(
            torch.stack(
                [
                    torch.quantile(row[keep], levels, dim=0).flatten()
                    for row, keep in zip(values, mask, strict=True)
                ]
            )
        )
    return torch.cat(parts, dim=-1)


def log_mel_frames(wavs, samples):
    """Log-mel frames ``[batch, frames, n_mels]`` and each row's real frames.

    Each waveform is scaled to unit power over its real samples (the level
    says nothing about the language); frames hold only their own samples
    (``center=False``), so an utterance's real frames do not depend on the
    batch's padding.

    Arguments
    ---------
    wavs : torch.Tensor
        ``[batch, samples]`` 16 kHz waveforms (padded).
    samples : torch.Tensor
        ``[batch]`` true lengths.

    Returns
    -------
    log_mel : torch.Tensor
    frames : torch.Tensor
        ``[batch]`` real frames of each row.
    """
    wavs = wavs.float()
    samples = samples.to(wavs.device)
    real = _mask(samples, wavs.shape[-1]).to(wavs.dtype)
    count = samples.clamp_min(1)[:, None].to(wavs.dtype)
    power = (wavs * real).pow(2).sum(-1, keepdim=True) / count
    wavs = wavs * real / power.sqrt().clamp_min(1e-8)
    span = MEL["n_fft"]  # samples a frame reads (its window is centred in it)
    if wavs.shape[-1] < span:
        wavs = F.pad(wavs, (0, span - wavs.shape[-1]))
    mel = _mel_transform(wavs.device)(wavs)
    log_mel = torch.log(mel + 1e-6).transpose(1, 2)
    frames = (samples - span) // MEL["hop_length"] + 1
    return log_mel, frames


def log_mel_shape(wavs, samples):
    """Spectral shape statistics: each frame's log-mel minus its mean.

    Example
    -------
    >>> log_mel_shape(torch.randn(2, 16000), torch.tensor([16000, 8000])).shape
    torch.Size([2, 200])
    """
    log_mel, frames = log_mel_frames(wavs, samples)
    shape = log_mel - log_mel.mean(-1, keepdim=True)
    return masked_statistics(shape, _mask(frames, shape.shape[1]), QUANTILES)


def cepstral_statistics(wavs, samples):
    """Cepstral statistics: c1..c19 (mean, std, quantiles), std of deltas.

    The low cepstral coefficients describe the spectral envelope (what is
    said) apart from the pitch harmonics and the level (who says it, how
    loud); the deltas' spread describes how fast it changes.

    Example
    -------
    >>> cepstral_statistics(torch.randn(2, 16000), torch.tensor([16000, 8000])).shape
    torch.Size([2, 114])
    """
    log_mel, frames = log_mel_frames(wavs, samples)
    dct = torchaudio.functional.create_dct(CEPSTRA, MEL["n_mels"], "ortho")
    cepstra = (log_mel @ dct.to(log_mel.device))[..., 1:]
    length = cepstra.shape[1]
    statistics = masked_statistics(cepstra, _mask(frames, length), QUANTILES)
    deltas = cepstra[:, DELTA_FRAMES:] - cepstra[:, :-DELTA_FRAMES]
    if deltas.shape[1] == 0:
        deltas = torch.zeros_like(cepstra[:, :1])
    spread = masked_statistics(deltas, _mask(frames - DELTA_FRAMES, deltas.shape[1]))[
        :, cepstra.shape[-1] :
    ]
    return torch.cat([statistics, spread], dim=-1)


_SPECTRAL = {"cepstra": cepstral_statistics, "log_mel": log_mel_shape}
_MEL_TRANSFORMS = {}


def _mel_transform(device):
    if device not in _MEL_TRANSFORMS:
        _MEL_TRANSFORMS[device] = torchaudio.transforms.MelSpectrogram(
            **MEL, center=False, power=2.0
        ).to(device)
    return _MEL_TRANSFORMS[device]


class RouterFeatures:
    """What a bank's router reads of a batch, by a direct call.

    The features are computed from the waveform the encoder's first layer
    sees (``SSLEncoder.prepare_input``: normalised, padding zeroed), before
    any transformer layer, so each utterance is routed before the adapted
    layers run, and they cost a few milliseconds (0.25 % of a WavLM-large
    forward pass of 4 s, ``benchmarks/routing_robustness.py``).

    Arguments
    ---------
    encoder : speechbrain_lora_ser.modeling.model.SSLEncoder
        The bank's encoder (its input normalisation).
    source : str
        ``"cepstra"`` (the default) or ``"log_mel"``.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.synthetic.architectures import save_tiny_encoder
    >>> from speechbrain_lora_ser.modeling.model import SSLEncoder
    >>> encoder = SSLEncoder(save_tiny_encoder(tempfile.mkdtemp())).eval()
    >>> features = RouterFeatures(encoder)
    >>> wav = torch.randn(1, 8000)
    >>> alone = features(wav, torch.ones(1))
    >>> in_batch = features(torch.cat([torch.cat([wav, torch.zeros(1, 8000)], 1),
    ...     torch.randn(1, 16000)]), torch.tensor([0.5, 1.0]))
    >>> alone.shape, torch.allclose(alone[0], in_batch[0], atol=1e-5)
    (torch.Size([1, 114]), True)
    """

    def __init__(self, encoder, source="cepstra"):
        if source not in SOURCES:
            raise ValueError(
                f"a bank routes on waveform features {SOURCES}, not {source!r} "
                "(the encoder-internal ones are for measuring: "
                "benchmarks/routing_taps.py)"
            )
        self.encoder = encoder
        self.source = source
        self.size = feature_size(source)

    @property
    def config(self):
        """What the features are (kept with the router)."""
        return {"source": self.source}

    def __call__(self, wavs, wav_lens=None):
        """Features ``[batch, size]`` of padded waveforms and relative lengths."""
        with torch.no_grad():
            inputs, _, samples = self.encoder.prepare_input(wavs, wav_lens)
            return _SPECTRAL[self.source](inputs, samples)


def feature_size(source="cepstra"):
    """Width of the router's features (they do not depend on the encoder).

    Arguments
    ---------
    source : str
        One of ``SOURCES``.

    Example
    -------
    >>> feature_size("cepstra")
    114
    """
    if source == "cepstra":
        return (3 + len(QUANTILES)) * (CEPSTRA - 1)
    if source == "log_mel":
        return (2 + len(QUANTILES)) * MEL["n_mels"]
    raise ValueError(f"router features {source!r}: expected one of {SOURCES}")


def _mask(frames, length):
    frames = frames.clamp(1, length)
    return torch.arange(length, device=frames.device)[None, :] < frames[:, None]


class LanguageRouter(torch.nn.Module):
    """Calibrated language probabilities from pooled features.

    One small detector per language (a one-hidden-layer network, or a
    linear score with ``hidden=0``) scores the standardised features; the
    scores are the logits of a softmax, divided by a temperature fitted on
    development data (``routing_training``) so that the top probability is a
    usable confidence. A language's logit depends only on its own detector,
    so a language added later (``add_detector``) leaves the others' logits
    unchanged.

    Arguments
    ---------
    input_size : int
        Width of the features (``RouterFeatures.size``).
    languages : int
        Number of languages.
    features : dict, optional
        What the features are (``RouterFeatures.config``), kept with the
        router so a bank rebuilds the same features.
    hidden : int
        Hidden units of each language's detector (0: linear, i.e.
        multinomial logistic regression).

    Example
    -------
    >>> router = LanguageRouter(4, 3, {"source": "cepstra"})
    >>> with torch.no_grad():
    ...     probabilities = router(torch.randn(2, 4))
    >>> probabilities.shape, round(float(probabilities.sum()), 4)
    (torch.Size([2, 3]), 2.0)
    >>> router.config
    {'input_size': 4, 'languages': 3, 'features': {'source': 'cepstra'}, 'hidden': 16}
    """

    def __init__(self, input_size, languages, features=None, hidden=16):
        super().__init__()
        self.features = dict(DEFAULT_FEATURES if features is None else features)
        self.input_size = int(input_size)
        self.hidden = int(hidden)
        self.register_buffer("mean", torch.zeros(input_size))
        self.register_buffer("std", torch.ones(input_size))
        self.register_buffer("temperature", torch.ones(()))
        self.detectors = torch.nn.ModuleList(
            [self.new_detector() for _ in range(languages)]
        )

    @property
    def languages(self):
        """Number of languages."""
        return len(self.detectors)

    @property
    def config(self):
        """Constructor arguments (JSON), to rebuild the router before loading."""
        return {
            "input_size": self.input_size,
            "languages": self.languages,
            "features": dict(self.features),
            "hidden": self.hidden,
        }

    def new_detector(self):
        """Return a freshly initialised detector (one language's score)."""
        if self.hidden == 0:
            return torch.nn.Linear(self.input_size, 1)
        return torch.nn.Sequential(
            torch.nn.Linear(self.input_size, self.hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(self.hidden, 1),
        )

    def add_detector(self):
        """Append a new language's detector (the others are untouched).

        Returns
        -------
        torch.nn.Module
            The new detector (to be trained).
        """
        detector = self.new_detector().to(self.mean.device)
        self.detectors.append(detector)
        return detector

    def standardize(self, features):
        """Features standardised with the training set's mean and std."""
        return (features.float() - self.mean) / self.std

    def scores(self, features):
        """Uncalibrated logits ``[batch, languages]`` (before the temperature)."""
        inputs = self.standardize(features)
        return torch.cat([detector(inputs) for detector in self.detectors], dim=-1)

    def logits(self, features):
        """Calibrated logits ``[batch, languages]``."""
        return self.scores(features) / self.temperature

    def forward(self, features):
        """Probabilities ``[batch, languages]``."""
        return self.logits(features).softmax(-1)

    def route(self, features, min_probability=0.0, fallback=0):
        """Each utterance's language, or ``fallback`` when the router is unsure.

        Arguments
        ---------
        features : torch.Tensor
            ``[batch, input_size]``.
        min_probability : float
            Below this top probability the utterance goes to ``fallback``.
        fallback : int
            The language of the base model.

        Returns
        -------
        routes : torch.Tensor
            ``[batch]`` language indices.
        probabilities : torch.Tensor
            ``[batch, languages]``.

        Example
        -------
        >>> router = LanguageRouter(2, 3, hidden=0)
        >>> with torch.no_grad():
        ...     for detector, weight in zip(router.detectors, ([0, 0], [9, 0], [0, 9])):
        ...         _ = detector.weight.copy_(torch.tensor([weight]))
        ...         _ = detector.bias.zero_()
        >>> routes, probabilities = router.route(
        ...     torch.tensor([[1.0, 0.0], [0.1, 0.1]]), min_probability=0.6)
        >>> routes, probabilities.max(-1).values
        (tensor([1, 0]), tensor([0.9998, 0.4155]))
        """
        with torch.no_grad():
            probabilities = self(features)
        top, routes = probabilities.max(-1)
        routes = torch.where(top < min_probability, fallback, routes)
        return routes, probabilities
