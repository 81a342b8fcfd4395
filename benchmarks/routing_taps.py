r"""Router features computed inside the encoder: for measuring, not serving.

``routing_robustness.py`` (beside this file) compares what a bank's router
could read: the waveform features a bank serves with (``routing.RouterFeatures``)
and features of the encoder's own forward pass: its first convolution's
log energies over 10-ms frames (what banks read before), the output of its
convolutional feature extractor, and the hidden states after its first
transformer layers run with the base weights. ``FeatureTap`` takes the
latter with forward hooks during one pass and stops the pass once every
requested feature is computed; several taps share a pass
(``extract_features``, or a ``TapSet`` as the extractor of
``routing_training.batch_features``). None of this is in a bank's serving
path or builds a bank: it lives with the benchmark that uses it.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import contextlib

import torch
import torch.nn.functional as F
from peft.tuners.tuners_utils import BaseTunerLayer

from speechbrain_lora_ser.bank.routing import (
    QUANTILES,
    _mask,
    cepstral_statistics,
    log_mel_shape,
    masked_statistics,
)
from speechbrain_lora_ser.bank.routing import feature_size as waveform_feature_size

#: Every representation measured (the waveform ones and the encoder's).
SOURCES = ("cepstra", "log_mel", "conv_energy", "cnn", "layer")
#: First-convolution frames averaged into one energy frame (10 ms at 16 kHz
#: for WavLM / HuBERT, whose first convolution has a stride of 5).
ENERGY_FRAMES = 32


class _FeaturesReady(Exception):
    """Stops a forward pass once every requested feature is computed."""


class _LayerReached(Exception):
    """Stops the base-weight pass after the router's layer."""


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
    >>> from speechbrain_lora_ser.modeling.lora import add_lora, lora_config
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
    >>> from speechbrain_lora_ser.synthetic.architectures import large_config
    >>> feature_size(large_config("microsoft/wavlm-large"), "layer")
    2048
    """
    _check_source(source, layer, config.num_hidden_layers)
    if source in ("cepstra", "log_mel"):
        return waveform_feature_size(source)
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
    encoder : speechbrain_lora_ser.modeling.model.SSLEncoder
        The bank's frozen encoder (in eval mode when features are computed).
    source : str
        One of ``SOURCES``: ``"cepstra"`` (the default), ``"log_mel"``,
        ``"conv_energy"``, ``"cnn"`` or ``"layer"`` (see the module).
    layer : int
        For ``"layer"``: how many transformer layers run (1 = the first).

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.synthetic.architectures import save_tiny_encoder
    >>> from speechbrain_lora_ser.modeling.model import SSLEncoder
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
            pass  # computed from the model's input (routing's functions)
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
            self._ready(cepstral_statistics(wavs, self._samples))
        elif self.source == "log_mel":
            self._ready(log_mel_shape(wavs, self._samples))

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


def extract_features(encoder, wavs, wav_lens, taps):
    """Run ``encoder`` on a batch until every tap has its features.

    Arguments
    ---------
    encoder : speechbrain_lora_ser.modeling.model.SSLEncoder
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
    >>> from speechbrain_lora_ser.synthetic.architectures import save_tiny_encoder
    >>> from speechbrain_lora_ser.modeling.model import SSLEncoder
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


class TapSet:
    """Several taps of one encoder as one extractor: one pass, a list of features.

    What ``routing_training.batch_features`` and ``augmented_features``
    take to compute every tap's features of each batch in one forward pass.

    Arguments
    ---------
    taps : list of FeatureTap
        Taps of one encoder.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.synthetic.architectures import save_tiny_encoder
    >>> from speechbrain_lora_ser.modeling.model import SSLEncoder
    >>> encoder = SSLEncoder(save_tiny_encoder(tempfile.mkdtemp())).eval()
    >>> both = TapSet([FeatureTap(encoder, "cnn"), FeatureTap(encoder, "cepstra")])
    >>> [f.shape for f in both(torch.randn(2, 9000), None)]
    [torch.Size([2, 64]), torch.Size([2, 114])]
    """

    def __init__(self, taps):
        self.taps = list(taps)

    def __call__(self, wavs, wav_lens=None):
        """Each tap's ``[batch, size]`` features, from one pass of the encoder."""
        return extract_features(self.taps[0].encoder, wavs, wav_lens, self.taps)
