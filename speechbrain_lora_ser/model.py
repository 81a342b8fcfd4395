"""The model: an SSL encoder (``transformers``) and an attentive-pooling head.

``SSLEncoder`` turns padded 16 kHz waveforms into the last hidden states and
their relative lengths, normalising each waveform over its own samples and
masking padding, so that an utterance's output does not depend on what else
is in the batch. ``EmotionHead`` pools them with SpeechBrain's
``AttentiveStatisticsPooling`` and regresses arousal, valence and dominance.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import torch
from speechbrain.dataio.dataio import length_to_mask
from speechbrain.lobes.models.ECAPA_TDNN import AttentiveStatisticsPooling
from transformers import AutoConfig, AutoModel

from speechbrain_lora_ser.lora import add_lora


class SSLEncoder(torch.nn.Module):
    """A self-supervised speech encoder loaded through ``transformers``.

    Arguments
    ---------
    source : str
        Hub name (``microsoft/wavlm-large``) or a local folder with
        ``config.json`` (and weights, unless ``from_config``).
    freeze : bool
        If True the encoder is not trained (run in eval mode, no gradient).
    normalize_waveform : bool
        Zero-mean, unit-variance normalisation of each waveform over its true
        length (the feature extractors of WavLM/HuBERT-large do this).
    layerdrop : float, optional
        Overrides the configuration's LayerDrop probability.
    gradient_checkpointing : bool
        Recompute activations in the backward pass to save memory.
    from_config : bool
        Build the architecture with random weights from the configuration
        only (used when the weights come from a checkpoint).
    lora : dict, optional
        ``add_lora`` keyword arguments (rank, alpha, dropout, target_modules)
        to build the encoder with adapters (e.g. to load unmerged weights).
    cache_dir : str, optional
        Where ``transformers`` caches downloaded models.

    Example
    -------
    >>> from transformers import WavLMConfig
    >>> import tempfile
    >>> config = WavLMConfig(hidden_size=16, num_hidden_layers=1,
    ...     num_attention_heads=2, intermediate_size=32,
    ...     conv_dim=(8, 8), conv_stride=(5, 2), conv_kernel=(10, 3),
    ...     num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=2)
    >>> folder = tempfile.mkdtemp()
    >>> config.save_pretrained(folder)
    >>> encoder = SSLEncoder(folder, from_config=True)
    >>> hidden, lens = encoder(torch.randn(2, 1600), torch.tensor([1.0, 0.5]))
    >>> hidden.shape, lens
    (torch.Size([2, 159, 16]), tensor([1.0000, 0.4969]))
    """

    def __init__(
        self,
        source,
        freeze=False,
        normalize_waveform=True,
        layerdrop=None,
        gradient_checkpointing=False,
        from_config=False,
        lora=None,
        cache_dir=None,
    ):
        super().__init__()
        config = AutoConfig.from_pretrained(source, cache_dir=cache_dir)
        if layerdrop is not None:
            config.layerdrop = layerdrop
        if from_config:
            self.model = AutoModel.from_config(config)
        else:
            self.model = AutoModel.from_pretrained(
                source, config=config, cache_dir=cache_dir
            )
        self.model.config.apply_spec_augment = False
        self.model.feature_extractor._freeze_parameters()
        if gradient_checkpointing:
            # Non-reentrant checkpointing: with a frozen encoder the layers'
            # inputs need no gradient, and the reentrant variant would then
            # give the LoRA weights inside them none either.
            self.model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False}
            )
        self.normalize_waveform = normalize_waveform
        self.freeze = False
        if lora is not None:
            add_lora(self.model, **lora)
        if freeze:
            self.freeze_encoder()

    @property
    def hidden_size(self):
        """Width of the hidden states."""
        return self.model.config.hidden_size

    def freeze_encoder(self):
        """Stop training every encoder parameter (Off-the-shelf)."""
        self.freeze = True
        for parameter in self.model.parameters():
            parameter.requires_grad = False

    def train(self, mode=True):
        """Keep a frozen encoder in eval mode (no dropout, no LayerDrop)."""
        super().train(mode)
        if self.freeze:
            self.model.eval()
        return self

    def forward(self, wavs, wav_lens=None):
        """Encode a padded batch.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` waveforms at 16 kHz.
        wav_lens : torch.Tensor
            Relative lengths in ``(0, 1]``.

        Returns
        -------
        hidden : torch.Tensor
            ``[batch, frames, hidden_size]`` last hidden states.
        frame_lens : torch.Tensor
            Relative lengths of ``hidden``.
        """
        if wav_lens is None:
            wav_lens = torch.ones(wavs.shape[0], device=wavs.device)
        samples = torch.round(wav_lens * wavs.shape[1]).long()
        mask = length_to_mask(samples, max_len=wavs.shape[1], device=wavs.device)
        if self.normalize_waveform:
            count = samples.clamp_min(1).unsqueeze(1).to(wavs.dtype)
            mean = (wavs * mask).sum(1, keepdim=True) / count
            var = (((wavs - mean) * mask) ** 2).sum(1, keepdim=True) / count
            wavs = (wavs - mean) / torch.sqrt(var + 1e-7) * mask
        else:
            wavs = wavs * mask
        with torch.set_grad_enabled(not self.freeze and torch.is_grad_enabled()):
            output = self.model(wavs, attention_mask=mask.long())
        hidden = output.last_hidden_state
        frames = self.model._get_feat_extract_output_lengths(samples)
        frame_lens = frames.to(hidden.dtype) / hidden.shape[1]
        return hidden, frame_lens.clamp(max=1.0)


class EmotionHead(torch.nn.Module):
    """Attentive statistics pooling followed by fully connected layers.

    Arguments
    ---------
    input_size : int
        Width of the encoder's hidden states.
    attention_channels : int
        Channels of the pooling's attention block.
    hidden_size : int
        Width of the hidden fully connected layer.
    dropout : float
        Dropout before the output layer.
    n_outputs : int
        Number of attributes (arousal, valence, dominance).

    Example
    -------
    >>> head = EmotionHead(input_size=16, attention_channels=8, hidden_size=8)
    >>> head(torch.randn(2, 10, 16), torch.tensor([1.0, 0.5])).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        input_size,
        attention_channels=128,
        hidden_size=256,
        dropout=0.2,
        n_outputs=3,
    ):
        super().__init__()
        self.pooling = AttentiveStatisticsPooling(
            input_size, attention_channels=attention_channels
        )
        self.regressor = torch.nn.Sequential(
            torch.nn.Linear(2 * input_size, hidden_size),
            torch.nn.LayerNorm(hidden_size),
            torch.nn.ReLU(),
            torch.nn.Dropout(dropout),
            torch.nn.Linear(hidden_size, n_outputs),
        )

    def pool(self, hidden, lengths):
        """Pooled embeddings (weighted mean and std), ``[batch, 2 * input]``."""
        # The pooling masks frames with ``arange(L) < lengths * L``; a float
        # product such as 38.000004 would let frame 38 (padding) in. Half a
        # frame below the exact count keeps exactly the true frames.
        frames = hidden.shape[1]
        exact = torch.round(lengths * frames)
        safe_lengths = (exact - 0.5).clamp_min(0.5) / frames
        return self.pooling(hidden.transpose(1, 2), safe_lengths).squeeze(2)

    def forward(self, hidden, lengths):
        """Return ``[batch, n_outputs]`` predictions."""
        return self.regressor(self.pool(hidden, lengths))


def encoder_hidden_size(source, cache_dir=None):
    """Width of an encoder's hidden states, read from its configuration.

    Arguments
    ---------
    source : str
        Hub name or local folder of the encoder.
    cache_dir : str, optional
        ``transformers`` cache folder.

    Returns
    -------
    int

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.architectures import save_tiny_encoder
    >>> encoder_hidden_size(save_tiny_encoder(tempfile.mkdtemp(), hidden_size=32))
    32
    """
    return AutoConfig.from_pretrained(source, cache_dir=cache_dir).hidden_size
