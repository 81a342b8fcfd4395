"""LoRA for SSL speech encoders through ``peft``, with the paper's targets.

``add_lora`` injects peft LoRA layers into the attention projections and both
feed-forward dense layers of every transformer layer; ``merge_lora`` folds them
back into the weights for inference.

WavLM trap: ``transformers``' ``WavLMAttention`` calls
``F.multi_head_attention_forward`` with ``self.q_proj.weight`` etc. instead of
calling the projection modules, so peft's LoRA wrappers around q/k/v/out would
never run. ``add_lora`` switches every WavLM attention module to
``ModuleCallingWavLMAttention``, which computes the same attention (relative
position bias included) by calling the modules. HuBERT already calls them.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import copy

import torch
import torch.nn.functional as F
from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.lora import Linear as LoraLinear
from peft.tuners.lora import LoraLayer
from transformers.models.wavlm.modeling_wavlm import WavLMAttention

from speechbrain_lora_ser.dropout import dropout, use_fast_dropout

#: Attention q/k/v/output projections and the two feed-forward dense layers.
PAPER_TARGETS = (
    "q_proj",
    "k_proj",
    "v_proj",
    "out_proj",
    "intermediate_dense",
    "output_dense",
)


class ModuleCallingWavLMAttention(WavLMAttention):
    """WavLM attention that calls its projection modules (so adapters work).

    Same computation as ``WavLMAttention.torch_multi_head_self_attention``:
    the gated relative position bias and the key padding mask become the
    additive mask of ``F.scaled_dot_product_attention``.

    The query, key and value adapters share their input, so they take one
    dropout draw and one product over the concatenated A matrices; each B
    product then accumulates into its projection's output (``add_low_rank``):
    the same arithmetic in fewer kernels and passes over memory. Each adapter
    still sees dropout on its input.
    When the projections are called with extra arguments (per-utterance
    adapters), they are called one by one instead.
    """

    #: Fuse the q/k/v projections (False: call the three modules one by one).
    fuse_qkv = True

    def torch_multi_head_self_attention(
        self,
        hidden_states,
        attention_mask,
        gated_position_bias,
        output_attentions=False,
    ):
        """Multi-head self-attention through ``q_proj`` ... ``out_proj``.

        ``transformers`` 4.x and 5.0 pass ``output_attentions`` too (later
        releases do not); the attention weights are never returned (None),
        as SDPA does not compute them.
        """
        batch, length, _ = hidden_states.shape
        query, key, value = (
            projection.view(batch, length, self.num_heads, self.head_dim).transpose(
                1, 2
            )
            for projection in self._qkv(hidden_states)
        )
        bias = gated_position_bias.view(batch, self.num_heads, length, length)
        bias = bias.to(query.dtype)
        if attention_mask is not None:
            padded = attention_mask.ne(1)[:, None, None, :]
            bias = bias.masked_fill(padded, float("-inf"))
        if self.training and self.dropout > 0 and query.device.type == "cpu":
            # SDPA's CPU path with dropout is this same arithmetic, with
            # PyTorch's slow CPU dropout (see speechbrain_lora_ser.dropout).
            scores = torch.matmul(query, key.transpose(-1, -2) * self.scaling)
            probabilities = dropout(torch.softmax(scores + bias, dim=-1), self.dropout)
            context = torch.matmul(probabilities, value)
        else:
            context = F.scaled_dot_product_attention(
                query,
                key,
                value,
                attn_mask=bias,
                dropout_p=self.dropout if self.training else 0.0,
            )
        context = context.transpose(1, 2).reshape(batch, length, self.embed_dim)
        return self.out_proj(context), None

    def _qkv(self, hidden_states):
        """Query, key and value projections of ``hidden_states``."""
        layers = (self.q_proj, self.k_proj, self.v_proj)
        adapters = _fusable_adapters(layers, hidden_states) if self.fuse_qkv else None
        if adapters is None:
            return tuple(layer(hidden_states) for layer in layers)
        # The frozen (or trained) base weights are used where they are: a
        # concatenated copy would be kept by autograd for the backward pass
        # (12 MB per WavLM-large layer in fp32) in both stages.
        outputs = [_base(layer)(hidden_states) for layer in layers]
        for name in adapters:
            # one dropout draw and one product for the three adapters' A
            dropped = layers[0].lora_dropout[name](hidden_states)
            down = F.linear(
                dropped, torch.cat([layer.lora_A[name].weight for layer in layers])
            )
            outputs = [
                add_low_rank(
                    output, part, layer.lora_B[name].weight, layer.scaling[name]
                )
                for output, part, layer in zip(
                    outputs, down.chunk(3, dim=-1), layers, strict=True
                )
            ]
        return tuple(outputs)


class AddmmLoraLinear(LoraLinear):
    """peft's LoRA linear layer, each update added inside its B product.

    peft computes ``result + lora_B(lora_A(dropout(x))) * scaling``: the B
    product, the scaling and the sum are three passes over the layer's
    output. Here they are one ``addmm`` (``result + scaling * down @ B.T``):
    the same arithmetic, two fewer passes over a ``[frames, out_features]``
    tensor forward and one fewer backward. Anything else (merged or disabled
    adapters, LoRA variants, per-utterance ``adapter_names``, a bias on B,
    mixed dtypes outside autocast) runs peft's own forward.

    Example
    -------
    >>> model = add_lora(torch.nn.Sequential(torch.nn.Linear(4, 4)),
    ...     lora_config(rank=2, alpha=4, target_modules=["0"]))
    >>> type(model[0]).__name__, model(torch.ones(3, 4)).shape
    ('AddmmLoraLinear', torch.Size([3, 4]))
    """

    #: Use the addmm path (False: peft's forward, the straightforward order).
    fused = True

    def forward(self, x, *args, **kwargs):
        """``base_layer(x)`` plus every active adapter's scaled update."""
        names = _vanilla_adapters(self, x) if not (args or kwargs) else None
        if names is None or not self.fused:
            return super().forward(x, *args, **kwargs)
        result = self.base_layer(x)
        for name in names:
            down = self.lora_A[name](self.lora_dropout[name](x))
            result = add_low_rank(
                result, down, self.lora_B[name].weight, self.scaling[name]
            )
        return result


def add_low_rank(result, down, weight, scaling):
    """Return ``result + scaling * down @ weight.T``, one product with accumulation.

    Example
    -------
    >>> result, down = torch.ones(2, 3, 4), torch.ones(2, 3, 2)
    >>> add_low_rank(result, down, torch.ones(4, 2), 0.5)[0, 0]
    tensor([2., 2., 2., 2.])
    """
    shape = result.shape
    output = torch.addmm(
        result.reshape(-1, shape[-1]),
        down.reshape(-1, down.shape[-1]),
        weight.t(),
        alpha=scaling,
    )
    return output.view(shape)


def _vanilla_adapters(layer, x):
    """Active plain-LoRA adapters of ``layer`` (the addmm path), or None."""
    if layer.merged or layer.disable_adapters:
        return None
    names = [n for n in layer.active_adapters if n in layer.lora_A]
    for name in names:
        if name in layer.lora_variant or layer.lora_B[name].bias is not None:
            return None
        weight = layer.lora_A[name].weight
        if x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type):
            return None
    return names


def _p(dropout):
    return getattr(dropout, "p", 0.0)  # peft uses Identity for dropout 0


def _base(layer):
    return layer.get_base_layer() if isinstance(layer, LoraLayer) else layer


def _fusable_adapters(layers, inputs):
    """Active adapters shared by q/k/v (``[]`` for plain layers), or None.

    None means "call the layers one by one": hooks that pass per-call
    arguments, layers that would not take the addmm path on ``inputs``
    (``_vanilla_adapters``), different adapters or dropouts, mixed layers.
    """
    if any(layer._forward_pre_hooks or layer._forward_hooks for layer in layers):
        return None
    lora = [isinstance(layer, LoraLayer) for layer in layers]
    if not any(lora):
        return (
            [] if all(isinstance(layer, torch.nn.Linear) for layer in layers) else None
        )
    if not all(lora):
        return None
    names = [_vanilla_adapters(layer, inputs) for layer in layers]
    if names[0] is None or any(other != names[0] for other in names[1:]):
        return None
    first = layers[0]
    for layer in layers[1:]:
        if any(
            _p(layer.lora_dropout[n]) != _p(first.lora_dropout[n]) for n in names[0]
        ):
            return None
    return names[0]


def unwrap_encoder(encoder):
    """Return the ``transformers`` model inside ``encoder``.

    Accepts a ``transformers`` model itself, or a wrapper that keeps it as
    ``.model`` (SpeechBrain's HF lobes and ``SSLEncoder``).

    Example
    -------
    >>> layer = torch.nn.Linear(2, 2)
    >>> unwrap_encoder(layer) is layer
    True
    """
    inner = encoder
    while hasattr(inner, "model") and isinstance(inner.model, torch.nn.Module):
        inner = inner.model
    return inner


def enable_wavlm_adapters(model):
    """Make every WavLM attention module call its projection modules.

    Arguments
    ---------
    model : torch.nn.Module
        Any module; only ``WavLMAttention`` children are changed.

    Returns
    -------
    int
        The number of attention modules switched.

    Example
    -------
    >>> enable_wavlm_adapters(torch.nn.Linear(2, 2))
    0
    """
    switched = 0
    for module in model.modules():
        if type(module) is WavLMAttention:
            module.__class__ = ModuleCallingWavLMAttention
            switched += 1
    return switched


def lora_config(rank=32, alpha=64, dropout=0.05, target_modules=PAPER_TARGETS):
    """Build a ``peft.LoraConfig`` for an SSL encoder (default: the paper's).

    Arguments
    ---------
    rank : int
        LoRA rank r.
    alpha : float
        LoRA scaling numerator (the update is scaled by alpha / r).
    dropout : float
        Dropout on each adapter's input.
    target_modules : sequence of str
        Names (suffixes) of the linear layers that get adapters.

    Returns
    -------
    peft.LoraConfig

    Example
    -------
    >>> config = lora_config()
    >>> config.r, config.lora_alpha, config.lora_dropout
    (32, 64, 0.05)
    >>> sorted(config.target_modules)  # doctest: +NORMALIZE_WHITESPACE
    ['intermediate_dense', 'k_proj', 'out_proj', 'output_dense', 'q_proj',
     'v_proj']
    """
    return LoraConfig(
        r=rank,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(target_modules),
        bias="none",
    )


def add_lora(encoder, config=None, adapter_name="default"):
    """Freeze ``encoder`` and add trainable LoRA adapters to it (in place).

    Arguments
    ---------
    encoder : torch.nn.Module
        A ``transformers`` ``WavLMModel`` / ``HubertModel`` or a module that
        wraps one as ``.model``.
    config : peft.LoraConfig, optional
        Rank, alpha, dropout and target modules (as the recipe's YAML
        declares them); the paper's settings when omitted.
    adapter_name : str
        Name of the adapter; an encoder can hold several (an adapter bank),
        each added by its own call.

    Returns
    -------
    torch.nn.Module
        ``encoder`` itself, whose forward now uses the adapters.

    Example
    -------
    >>> from transformers import HubertConfig, HubertModel
    >>> config = HubertConfig(hidden_size=16, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=32,
    ...     conv_dim=(8, 8), conv_stride=(5, 2), conv_kernel=(10, 3),
    ...     num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=2)
    >>> model = add_lora(HubertModel(config), lora_config(rank=2, alpha=4))
    >>> sum(p.numel() for p in model.parameters() if p.requires_grad)
    448
    """
    model = unwrap_encoder(encoder)
    existing = {
        name
        for module in model.modules()
        if isinstance(module, LoraLayer)
        for name in module.lora_A
    }
    if adapter_name in existing:
        raise ValueError(f"this encoder already has a LoRA adapter {adapter_name!r}")
    config = copy.deepcopy(lora_config() if config is None else config)
    enable_wavlm_adapters(model)
    for parameter in model.parameters():
        parameter.requires_grad = False
    inject_adapter_in_model(config, model, adapter_name=adapter_name)
    use_fast_dropout(model)
    for module in model.modules():
        if type(module) is LoraLinear:
            module.__class__ = AddmmLoraLinear
    found = [m for m in model.modules() if isinstance(m, LoraLayer)]
    if not found:
        raise ValueError(
            f"no module of the encoder matches {sorted(config.target_modules)}"
        )
    for name, parameter in model.named_parameters():
        parameter.requires_grad = "lora_" in name
    return encoder


def lora_parameters(encoder):
    """Return the ``(name, parameter)`` pairs of every LoRA tensor.

    Example
    -------
    >>> lora_parameters(torch.nn.Linear(2, 2))
    []
    """
    return [
        (name, parameter)
        for name, parameter in unwrap_encoder(encoder).named_parameters()
        if "lora_" in name
    ]


def has_lora(encoder):
    """Whether ``encoder`` holds (unmerged) LoRA adapters.

    Example
    -------
    >>> has_lora(torch.nn.Linear(2, 2))
    False
    """
    return any(isinstance(m, LoraLayer) for m in unwrap_encoder(encoder).modules())


def merge_lora(encoder):
    """Fold every LoRA adapter into its base weight and remove the wrappers.

    After merging, the encoder has exactly the plain architecture (and cost)
    of the original model, and the same outputs as the adapted one.

    Arguments
    ---------
    encoder : torch.nn.Module
        An encoder prepared by ``add_lora``.

    Returns
    -------
    torch.nn.Module
        ``encoder`` itself, merged in place.

    Example
    -------
    >>> from transformers import HubertModel
    >>> from speechbrain_lora_ser.architectures import tiny_config
    >>> model = merge_lora(add_lora(HubertModel(tiny_config("hubert")), lora_config(2)))
    >>> has_lora(model)
    False
    """
    model = unwrap_encoder(encoder)
    wrapped = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, LoraLayer)
    ]
    for name, module in wrapped:
        module.merge(safe_merge=True)
        parent_name, _, child_name = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child_name, module.get_base_layer())
    return encoder
