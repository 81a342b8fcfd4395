"""Encoder configurations: the paper's large encoders and tiny local ones.

Nothing can be downloaded in tests, demos or benchmarks, so the real
``microsoft/wavlm-large`` and ``facebook/hubert-large-ll60k`` architectures are
rebuilt from their published configurations (random weights), and tiny
encoders of the same families are saved as local folders that load exactly
like a hub name (``config.json``, weights and ``preprocessor_config.json``).

Authors
 * speechbrain-lora-ser contributors 2026
"""

import torch
from transformers import (
    HubertConfig,
    HubertModel,
    Wav2Vec2FeatureExtractor,
    WavLMConfig,
    WavLMModel,
)

_LARGE_COMMON = dict(
    hidden_size=1024,
    num_hidden_layers=24,
    num_attention_heads=16,
    intermediate_size=4096,
    do_stable_layer_norm=True,
    feat_extract_norm="layer",
    num_conv_pos_embeddings=128,
    num_conv_pos_embedding_groups=16,
    layerdrop=0.1,
)

#: Published configurations of the paper's encoders (the fields that define
#: the architecture); the remaining fields are the ``transformers`` defaults.
LARGE_CONFIGS = {
    "microsoft/wavlm-large": (WavLMConfig, dict(_LARGE_COMMON, conv_bias=False)),
    "facebook/hubert-large-ll60k": (
        HubertConfig,
        dict(_LARGE_COMMON, conv_bias=True),
    ),
}

_FAMILIES = {
    "wavlm": (WavLMConfig, WavLMModel),
    "hubert": (HubertConfig, HubertModel),
}


def large_config(name):
    """Return the ``transformers`` configuration of a paper encoder.

    Arguments
    ---------
    name : str
        ``microsoft/wavlm-large`` or ``facebook/hubert-large-ll60k``.

    Example
    -------
    >>> large_config("microsoft/wavlm-large").num_hidden_layers
    24
    """
    config_class, fields = LARGE_CONFIGS[name]
    return config_class(**fields)


def build_large_encoder(name):
    """Build a paper encoder with random weights (no download).

    Arguments
    ---------
    name : str
        A key of ``LARGE_CONFIGS``.

    Returns
    -------
    transformers.PreTrainedModel

    Example
    -------
    >>> sorted(LARGE_CONFIGS)  # the encoders this builds
    ['facebook/hubert-large-ll60k', 'microsoft/wavlm-large']
    """
    config = large_config(name)
    model_class = WavLMModel if isinstance(config, WavLMConfig) else HubertModel
    return model_class(config)


def tiny_config(family="wavlm", hidden_size=64, num_layers=2, layerdrop=0.0):
    """Return the configuration of a small encoder of a family (same layers).

    Arguments
    ---------
    family : str
        ``"wavlm"`` or ``"hubert"``.
    hidden_size : int
        Width of the transformer.
    num_layers : int
        Number of transformer layers.
    layerdrop : float
        LayerDrop probability.

    Example
    -------
    >>> tiny_config("hubert").hidden_size
    64
    """
    config_class, _ = _FAMILIES[family]
    return config_class(
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        intermediate_size=2 * hidden_size,
        conv_dim=(32, 32, 32, 32),
        conv_stride=(5, 4, 4, 4),
        conv_kernel=(10, 4, 4, 4),
        conv_bias=True,
        feat_extract_norm="layer",
        do_stable_layer_norm=True,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        layerdrop=layerdrop,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        feat_proj_dropout=0.0,
        num_buckets=32,
        max_bucket_distance=64,
    )


def save_tiny_encoder(folder, family="wavlm", seed=0, **config_kwargs):
    """Save a randomly initialised small encoder as a hub-like local folder.

    Arguments
    ---------
    folder : str
        Destination; afterwards ``AutoModel.from_pretrained(folder)`` works.
    family : str
        ``"wavlm"`` or ``"hubert"``.
    seed : int
        Seed of the random weights.
    **config_kwargs
        Passed to ``tiny_config``.

    Returns
    -------
    str
        ``folder``.

    Example
    -------
    >>> import tempfile, os
    >>> folder = save_tiny_encoder(tempfile.mkdtemp(), "hubert")
    >>> sorted(f for f in os.listdir(folder) if f.endswith(".json"))
    ['config.json', 'preprocessor_config.json']
    """
    config = tiny_config(family, **config_kwargs)
    _, model_class = _FAMILIES[family]
    torch.manual_seed(seed)
    model_class(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=16000,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=True,
    ).save_pretrained(folder)
    return folder
