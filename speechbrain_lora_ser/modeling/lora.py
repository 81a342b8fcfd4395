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
import warnings

import torch
import torch.nn.functional as F
from peft import LoraConfig, inject_adapter_in_model
from peft.tuners.lora import LoraLayer
from transformers.models.wavlm.modeling_wavlm import WavLMAttention

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
    additive mask of ``F.scaled_dot_product_attention``. Calling the modules
    also avoids the time-major projections of ``transformers``' own
    attention, which on a CPU turn each of them into a batched product with
    the weight repeated for every frame (seen: 2 s of a 5-s forward pass for
    a batch of 3), and lets dynamic int8 quantization replace the
    projections.
    """

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
            projection(hidden_states)
            .view(batch, length, self.num_heads, self.head_dim)
            .transpose(1, 2)
            for projection in (self.q_proj, self.k_proj, self.v_proj)
        )
        bias = gated_position_bias.view(batch, self.num_heads, length, length)
        bias = bias.to(query.dtype)
        if attention_mask is not None:
            padded = attention_mask.ne(1)[:, None, None, :]
            bias = bias.masked_fill(padded, float("-inf"))
        context = F.scaled_dot_product_attention(
            query,
            key,
            value,
            attn_mask=bias,
            dropout_p=self.dropout if self.training else 0.0,
        )
        context = context.transpose(1, 2).reshape(batch, length, self.embed_dim)
        return self.out_proj(context), None


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
    with warnings.catch_warnings():
        # A second adapter (an adapter bank) is meant: peft warns about it.
        warnings.filterwarnings(
            "ignore", message="Already found a `peft_config`", category=UserWarning
        )
        inject_adapter_in_model(config, model, adapter_name=adapter_name)
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
    >>> from speechbrain_lora_ser.synthetic.architectures import tiny_config
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
