r"""Language routing for an adapter bank: features that carry language, a router.

A bank sends each utterance to its language's adapter before the adapted
transformer layers run. This module computes what the router reads, inside
the bank's encoder's own forward pass, and the router itself:

* ``FeatureTap`` pools one of these representations over each utterance's
  real frames (padding-correct):

  - ``"cepstra"`` (the default): cepstral coefficients c1..c19 of a 40-band
    log-mel spectrum (25-ms windows every 10 ms) of the waveform, scaled to
    unit power: mean, std and quantiles, and the std of their 20-ms deltas.
    The spectral envelope and its movement carry what is said; the level
    (c0) and the pitch harmonics (the high cepstra) are left out. It does
    not depend on the encoder's weights and costs a few milliseconds;
  - ``"log_mel"``: each frame's log-mel spectrum minus its mean (mean, std,
    quantiles);
  - ``"conv_energy"``: log energies of the encoder's first convolution's
    channels over 10-ms frames (mean, std and quantiles): what banks read
    before; they carry the channel and the speaker as much as the language;
  - ``"cnn"``: the encoder's convolutional feature extractor's output (mean
    and std), shared by every adapter (LoRA is only in the transformer);
  - ``"layer"``: the hidden states after the first ``layer`` transformer
    layers run with the base weights (adapters off), normalised per frame
    (mean and std), where pre-trained encoders carry phonetic content; it
    costs an extra ``layer / num_hidden_layers`` of the transformer (the
    convolutional front end is computed once).

  ``benchmarks/routing_robustness.py`` measures them all: with the small
  random encoders the tests can afford, only the encoder-independent
  features route reliably; ``"layer"`` is there for measuring a real
  encoder.

* ``LanguageRouter``: a small detector per language (one hidden layer of 16
  units) on standardised features, the softmax of their scores divided by a
  temperature fitted on development data, so its probabilities are
  calibrated and ``min_language_probability`` can guard the routes (default
  ``DEFAULT_MIN_LANGUAGE_PROBABILITY``). Adding a language adds a detector
  and leaves the others, the standardisation and the temperature unchanged
  (``speechbrain_lora_ser.routing_training.add_language``).

Serving code: this module imports only torch, torchaudio, peft (to switch
adapters off) and nothing else of the package. Training the router (channel
augmentation, fitting, comparing two routers) is in ``routing_training``.

Example
-------
>>> import tempfile
>>> from speechbrain_lora_ser.architectures import save_tiny_encoder
>>> from speechbrain_lora_ser.model import SSLEncoder
>>> encoder = SSLEncoder(save_tiny_encoder(tempfile.mkdtemp())).eval()
>>> tap = FeatureTap(encoder, **DEFAULT_FEATURES)
>>> features = tap(torch.randn(2, 16000), torch.tensor([1.0, 0.5]))
>>> router = LanguageRouter(tap.size, 3, tap.config)
>>> routes, probabilities = router.route(features, DEFAULT_MIN_LANGUAGE_PROBABILITY)
>>> features.shape, probabilities.shape
(torch.Size([2, 114]), torch.Size([2, 3]))

Authors
 * speechbrain-lora-ser contributors 2026
"""

import contextlib

import torch
import torch.nn.functional as F
import torchaudio
from peft.tuners.tuners_utils import BaseTunerLayer

#: The representations a router can read (see the module's description).
SOURCES = ("cepstra", "log_mel", "conv_energy", "cnn", "layer")

#: What a bank's router reads unless told otherwise: chosen with
#: ``benchmarks/routing_robustness.py`` (figures in ``benchmarks/NOTES.md``).
DEFAULT_FEATURES = {"source": "cepstra"}

#: A route whose probability is under this goes to the base model (with a
#: warning). Chosen on held-out synthetic speech through six channels
#: (``benchmarks/routing_robustness.py`` and the tests' corpora): at 0.98 it
#: sent 67-92 % of the misrouted utterances to the base model and 1-3 % of
#: the correctly routed ones (none in-domain); at 0.95, 33-92 % and 1-2 %.
DEFAULT_MIN_LANGUAGE_PROBABILITY = 0.98

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

#: Quantiles of each first-convolution channel's log energy, beside its mean
#: and std (the spread of quiet and loud parts).
QUANTILES = (0.1, 0.5, 0.9)
#: First-convolution frames averaged into one energy frame (10 ms at 16 kHz
#: for WavLM / HuBERT, whose first convolution has a stride of 5).
ENERGY_FRAMES = 32


class _FeaturesReady(Exception):
    """Stops a forward pass once every requested feature is computed."""


class _LayerReached(Exception):
    """Stops the base-weight pass after the router's layer."""


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


@contextlib.contextmanager
def base_weights(module):
    """Run ``module`` with its peft LoRA adapters switched off (base weights).

    The adapters' ``requires_grad`` and activity are restored afterwards
    (peft's ``enable_adapters`` would change ``requires_grad``).

    Arguments
    ---------
    module : torch.nn.Module
        A module that may contain peft LoRA layers.

    Example
    -------
    >>> from speechbrain_lora_ser.lora import add_lora, lora_config
    >>> model = add_lora(torch.nn.Sequential(torch.nn.Linear(2, 2)),
    ...     lora_config(rank=1, alpha=1, target_modules=["0"]))
    >>> torch.nn.init.ones_(model[0].lora_B["default"].weight)
    Parameter containing:
    tensor([[1.],
            [1.]], requires_grad=True)
    >>> x = torch.ones(1, 2)
    >>> with base_weights(model):
    ...     torch.equal(model(x), model[0].base_layer(x))
    True
    >>> torch.equal(model(x), model[0].base_layer(x))
    False
    """
    layers = [m for m in module.modules() if isinstance(m, BaseTunerLayer)]
    if any(layer.merged for layer in layers):
        raise ValueError(
            "the encoder's LoRA adapters are merged into its weights: the base "
            "weights the router reads are gone (keep the adapters separate)"
        )
    saved = [layer._disable_adapters for layer in layers]
    for layer in layers:
        layer._disable_adapters = True
    try:
        yield module
    finally:
        for layer, disabled in zip(layers, saved, strict=True):
            layer._disable_adapters = disabled


def feature_size(config, source="cepstra", layer=1):
    """Width of the router's features for an encoder configuration.

    Arguments
    ---------
    config : transformers.PretrainedConfig
        The encoder's configuration (``conv_dim``, ``hidden_size``).
    source : str
        One of ``SOURCES``.
    layer : int
        Transformer layers run for ``"layer"``.

    Example
    -------
    >>> from speechbrain_lora_ser.architectures import large_config
    >>> feature_size(large_config("microsoft/wavlm-large"), "layer")
    2048
    """
    _check_source(source, layer, config.num_hidden_layers)
    if source == "cepstra":
        return (3 + len(QUANTILES)) * (CEPSTRA - 1)
    if source == "log_mel":
        return (2 + len(QUANTILES)) * MEL["n_mels"]
    if source == "conv_energy":
        return (2 + len(QUANTILES)) * config.conv_dim[0]
    if source == "cnn":
        return 2 * config.conv_dim[-1]
    return 2 * config.hidden_size


def _check_source(source, layer, layers):
    if source not in SOURCES:
        raise ValueError(f"router features {source!r}: expected one of {SOURCES}")
    if source == "layer" and not 1 <= int(layer) <= layers:
        raise ValueError(
            f"router layer {layer}: the encoder has transformer layers 1-{layers}"
        )


class FeatureTap:
    """The router's features, computed inside an encoder's forward pass.

    The tap hooks into a ``model.SSLEncoder`` (its ``transformers`` model)
    and sets ``features`` (``[batch, feature_size]``) during every forward
    pass, before the first transformer layer runs, so a bank can route each
    utterance and still run the adapted transformer once. ``on_features``,
    when set, is called with them at that moment. For ``"layer"`` the tap
    runs the first ``layer`` transformer layers on the encoder's input with
    the adapters switched off (hooks on LoRA layers that pass per-utterance
    ``adapter_names`` must leave the call unchanged while no route is
    decided). Calling the tap runs the encoder only as far as the features
    need.

    Arguments
    ---------
    encoder : speechbrain_lora_ser.model.SSLEncoder
        The bank's frozen encoder (in eval mode when features are computed).
    source : str
        One of ``SOURCES``: ``"cepstra"`` (the default), ``"log_mel"``,
        ``"conv_energy"``, ``"cnn"`` or ``"layer"`` (see the module).
    layer : int
        For ``"layer"``: how many transformer layers run (1 = the first).

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.architectures import save_tiny_encoder
    >>> from speechbrain_lora_ser.model import SSLEncoder
    >>> encoder = SSLEncoder(save_tiny_encoder(tempfile.mkdtemp())).eval()
    >>> tap = FeatureTap(encoder, "cnn")
    >>> wav = torch.randn(1, 8000)
    >>> padded = torch.cat([wav, torch.zeros(1, 8000)], dim=1)
    >>> alone = tap(wav, torch.ones(1))
    >>> in_batch = tap(torch.cat([padded, torch.randn(1, 16000)]),
    ...     torch.tensor([0.5, 1.0]))
    >>> alone.shape, torch.allclose(alone[0], in_batch[0], atol=1e-5)
    (torch.Size([1, 64]), True)
    """

    def __init__(self, encoder, source="cepstra", layer=1):
        model = encoder.model
        config = model.config
        _check_source(source, layer, config.num_hidden_layers)
        self.encoder = encoder
        self.source = source
        self.layer = int(layer)
        self.size = feature_size(config, source, layer)
        self.features = None
        self.on_features = None
        self._samples = None
        self._session = None
        self._first_conv = (config.conv_kernel[0], config.conv_stride[0])
        self._handles = [
            model.register_forward_pre_hook(self._input_hook, with_kwargs=True)
        ]
        if source in ("cepstra", "log_mel"):
            # center=False: a frame holds only its own samples, so an
            # utterance's real frames do not depend on the batch's padding.
            self._mel = torchaudio.transforms.MelSpectrogram(
                **MEL, center=False, power=2.0
            )
            self._dct = torchaudio.functional.create_dct(
                CEPSTRA, MEL["n_mels"], "ortho"
            )
        elif source == "conv_energy":
            target = model.feature_extractor.conv_layers[0]
            self._handles.append(target.register_forward_hook(self._energy_hook))
        elif source == "cnn":
            target = model.feature_projection
            self._handles.append(target.register_forward_pre_hook(self._cnn_hook))
        else:
            self._handles.append(
                model.encoder.register_forward_pre_hook(
                    self._layer_hook, with_kwargs=True
                )
            )

    @property
    def config(self):
        """What the features are (for a router's and a bank's description)."""
        config = {"source": self.source}
        if self.source == "layer":
            config["layer"] = self.layer
        return config

    @property
    def in_base_pass(self):
        """True while a tap runs the encoder's layers with the base weights."""
        return _in_base_pass(self.encoder.model.encoder)

    def remove(self):
        """Remove the tap's hooks from the encoder."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __call__(self, wavs, wav_lens=None):
        """Features of a padded batch, running the encoder only as far as needed.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` 16 kHz waveforms.
        wav_lens : torch.Tensor, optional
            Relative lengths in ``(0, 1]``.

        Returns
        -------
        torch.Tensor
            ``[batch, size]``.
        """
        return extract_features(self.encoder, wavs, wav_lens, [self])[0]

    # hooks ---------------------------------------------------------------
    def _input_hook(self, module, args, kwargs):
        self.features = None
        wavs = args[0] if args else kwargs["input_values"]
        mask = kwargs.get("attention_mask")
        if mask is None:
            self._samples = torch.full(
                (wavs.shape[0],), wavs.shape[-1], device=wavs.device
            )
        else:
            self._samples = mask.sum(-1)
        if self.source == "cepstra":
            self._ready(self._cepstra(wavs))
        elif self.source == "log_mel":
            self._ready(self._log_mel(wavs))

    def _frames_log_mel(self, wavs):
        """Log-mel frames ``[batch, frames, n_mels]`` and each row's real frames.

        Each waveform is scaled to unit power over its real samples (the
        level says nothing about the language).
        """
        wavs = wavs.float()
        samples = self._samples.to(wavs.device)
        real = _mask(samples, wavs.shape[-1]).to(wavs.dtype)
        count = samples.clamp_min(1)[:, None].to(wavs.dtype)
        power = (wavs * real).pow(2).sum(-1, keepdim=True) / count
        wavs = wavs * real / power.sqrt().clamp_min(1e-8)
        span = MEL["n_fft"]  # samples a frame reads (its window is centred in it)
        if wavs.shape[-1] < span:
            wavs = F.pad(wavs, (0, span - wavs.shape[-1]))
        mel = self._mel.to(wavs.device)(wavs)
        log_mel = torch.log(mel + 1e-6).transpose(1, 2)
        frames = (samples - span) // MEL["hop_length"] + 1
        return log_mel, frames

    def _log_mel(self, wavs):
        """Spectral shape statistics: each frame's log-mel minus its mean."""
        log_mel, frames = self._frames_log_mel(wavs)
        shape = log_mel - log_mel.mean(-1, keepdim=True)
        return masked_statistics(shape, _mask(frames, shape.shape[1]), QUANTILES)

    def _cepstra(self, wavs):
        """Cepstral statistics: c1..c19 (mean, std, quantiles), std of deltas.

        The low cepstral coefficients describe the spectral envelope (what
        is said) apart from the pitch harmonics and the level (who says it,
        how loud); the deltas' spread describes how fast it changes.
        """
        log_mel, frames = self._frames_log_mel(wavs)
        cepstra = (log_mel @ self._dct.to(log_mel.device))[..., 1:]
        length = cepstra.shape[1]
        statistics = masked_statistics(cepstra, _mask(frames, length), QUANTILES)
        deltas = cepstra[:, DELTA_FRAMES:] - cepstra[:, :-DELTA_FRAMES]
        if deltas.shape[1] == 0:
            deltas = torch.zeros_like(cepstra[:, :1])
        spread = masked_statistics(
            deltas, _mask(frames - DELTA_FRAMES, deltas.shape[1])
        )[:, cepstra.shape[-1] :]
        return torch.cat([statistics, spread], dim=-1)

    def _energy_hook(self, module, args, output):
        kernel, stride = self._first_conv
        frames = ((self._samples - kernel) // stride + 1).clamp_min(1)
        power = F.avg_pool1d(output.float().pow(2), ENERGY_FRAMES, ENERGY_FRAMES)
        energies = torch.log(power + 1e-4).transpose(1, 2)
        mask = _mask(frames // ENERGY_FRAMES, energies.shape[1])
        self._ready(masked_statistics(energies, mask, QUANTILES))

    def _cnn_hook(self, module, args):
        values = args[0].float()
        model = self.encoder.model
        frames = model._get_feat_extract_output_lengths(self._samples)
        self._ready(masked_statistics(values, _mask(frames, values.shape[1])))

    def _layer_hook(self, module, args, kwargs):
        if _in_base_pass(module):
            return
        if module.training:
            raise RuntimeError(
                "router features are computed with the encoder in eval mode "
                "(LayerDrop would skip layers): call encoder.eval()"
            )
        hidden = args[0] if args else kwargs["hidden_states"]
        mask = kwargs.get("attention_mask")
        if mask is None and len(args) > 1:
            mask = args[1]
        captured = []

        def stop(layer, inputs, output):
            captured.append(output[0] if isinstance(output, tuple) else output)
            raise _LayerReached

        handle = module.layers[self.layer - 1].register_forward_hook(stop)
        module._routing_base_pass = True
        try:
            with torch.no_grad(), base_weights(module):
                module(hidden.clone(), *args[1:], **kwargs)
        except _LayerReached:
            pass
        finally:
            handle.remove()
            module._routing_base_pass = False
        values = captured[0].float()
        # Per-frame normalisation: the level of the residual stream varies
        # with the recording; what a frame's pattern says does not.
        values = F.layer_norm(values, values.shape[-1:])
        if mask is None:
            real = torch.ones(values.shape[:2], dtype=torch.bool, device=values.device)
        else:
            real = mask.bool()
        self._ready(masked_statistics(values, real))

    def _ready(self, features):
        self.features = features.detach()
        if self.on_features is not None:
            self.on_features(self.features)
        if self._session is not None:
            self._session.discard(self)
            if not self._session:
                raise _FeaturesReady


def _in_base_pass(transformer):
    return getattr(transformer, "_routing_base_pass", False)


def _mask(frames, length):
    frames = frames.clamp(1, length)
    return torch.arange(length, device=frames.device)[None, :] < frames[:, None]


def extract_features(encoder, wavs, wav_lens, taps):
    """Run ``encoder`` on a batch until every tap has its features.

    Arguments
    ---------
    encoder : speechbrain_lora_ser.model.SSLEncoder
        The encoder the taps are attached to (eval mode).
    wavs : torch.Tensor
        ``[batch, samples]`` 16 kHz waveforms.
    wav_lens : torch.Tensor or None
        Relative lengths.
    taps : list of FeatureTap
        Taps of ``encoder``; several are computed in one pass.

    Returns
    -------
    list of torch.Tensor
        Each tap's ``[batch, size]`` features.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.architectures import save_tiny_encoder
    >>> from speechbrain_lora_ser.model import SSLEncoder
    >>> encoder = SSLEncoder(save_tiny_encoder(tempfile.mkdtemp())).eval()
    >>> taps = [FeatureTap(encoder, s) for s in SOURCES]
    >>> [f.shape[1] for f in extract_features(encoder, torch.randn(2, 9000),
    ...     None, taps)]
    [114, 200, 160, 64, 128]
    """
    session = set(taps)
    for tap in taps:
        if tap.encoder is not encoder:
            raise ValueError("a feature tap of another encoder was given")
        tap._session = session
    try:
        with torch.no_grad():
            encoder(wavs, wav_lens)
    except _FeaturesReady:
        pass
    finally:
        for tap in taps:
            tap._session = None
    missing = [tap.config for tap in taps if tap.features is None]
    if missing:
        raise RuntimeError(f"the encoder's forward pass computed no {missing}")
    return [tap.features for tap in taps]


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
        Width of the features (``FeatureTap.size``).
    languages : int
        Number of languages.
    features : dict, optional
        What the features are (``FeatureTap.config``), kept with the router
        so a bank rebuilds the same tap.
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
