"""The model: an SSL encoder (``transformers``) and an attentive-pooling head.

``SSLEncoder`` turns padded 16 kHz waveforms into the last hidden states and
their relative lengths, normalising each waveform over its own samples and
masking padding, so that an utterance's output does not depend on what else
is in the batch. ``EmotionHead`` pools them (attentive statistics pooling)
and regresses arousal, valence and dominance with the layers the recipe's
YAML declares.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import torch
import torch.nn.functional as F
from speechbrain.dataio.dataio import length_to_mask
from speechbrain.lobes.models.ECAPA_TDNN import AttentiveStatisticsPooling
from transformers import AutoConfig, AutoModel

from speechbrain_lora_ser.modeling.lora import add_lora, enable_wavlm_adapters


class SSLEncoder(torch.nn.Module):
    """A self-supervised speech encoder loaded through ``transformers``.

    Arguments
    ---------
    source : str or dict
        Hub name (``microsoft/wavlm-large``) or a local folder with
        ``config.json`` (and weights, unless ``from_config``), or the
        encoder's ``transformers`` configuration as a dict (``model_type``
        and the fields of ``config.json``: an exported model carries it in
        its ``hyperparams.yaml``; implies ``from_config``).
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
    lora : peft.LoraConfig, optional
        Build the encoder with these LoRA adapters (e.g. to load an export
        whose adapters were kept separate).
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
        config = encoder_config(source, cache_dir)
        from_config = from_config or isinstance(source, dict)
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
        # WavLM's own attention runs its projections time-major, which on a
        # CPU turns each of them into a batched product with the weight
        # repeated for every frame (seen: 2 s of a 5-s forward pass, batch of
        # 3); the module-calling attention (same output, tested) does not.
        enable_wavlm_adapters(self.model)
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
            add_lora(self.model, lora)
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
        wavs, mask, samples = self.prepare_input(wavs, wav_lens)
        with torch.set_grad_enabled(not self.freeze and torch.is_grad_enabled()):
            output = self.model(wavs, attention_mask=mask.long())
        hidden = output.last_hidden_state
        frames = self.model._get_feat_extract_output_lengths(samples)
        frame_lens = frames.to(hidden.dtype) / hidden.shape[1]
        return hidden, frame_lens.clamp(max=1.0)

    def prepare_input(self, wavs, wav_lens=None):
        """Prepare what the encoder's first layer sees: normalised, padding zeroed.

        Arguments
        ---------
        wavs : torch.Tensor
            ``[batch, samples]`` waveforms at 16 kHz.
        wav_lens : torch.Tensor
            Relative lengths in ``(0, 1]``.

        Returns
        -------
        wavs : torch.Tensor
            Each waveform normalised over its true length (when
            ``normalize_waveform``), zero past it.
        mask : torch.Tensor
            ``[batch, samples]`` True on real samples.
        samples : torch.Tensor
            True length of each waveform, in samples.
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
        return wavs, mask.bool(), samples


def frame_mask(lengths, frames):
    """Exact ``[batch, frames]`` mask of the real frames of relative ``lengths``.

    ``arange(L) < lengths * L`` (SpeechBrain's pooling) lets a padded frame in
    when the float product comes out slightly above an integer (38.000004);
    rounding to the nearest frame count keeps exactly the real frames.

    Example
    -------
    >>> frame_mask(torch.tensor([1.0, 0.5]), 4)
    tensor([[ True,  True,  True,  True],
            [ True,  True, False, False]])
    """
    counts = torch.round(lengths * frames).long().clamp_min(1)
    return torch.arange(frames, device=lengths.device)[None, :] < counts[:, None]


class MaskedAttentiveStatisticsPooling(AttentiveStatisticsPooling):
    """SpeechBrain's attentive statistics pooling, blind to padding in training.

    SpeechBrain's layer normalises its attention features with a BatchNorm
    whose training-mode statistics (and running averages) include the padded
    frames, so an utterance's training output, and the statistics used at
    test time, depend on how much padding its batch companions bring. This
    subclass computes the batch statistics over real frames only and updates
    the running averages with them; evaluation (running statistics) and the
    parameters (the same names, so checkpoints load either way) are unchanged.
    Under DDP the statistics are those of each process's batch.

    Arguments
    ---------
    channels : int
        Width of the input features.
    attention_channels : int
        Channels of the attention block.
    global_context : bool
        Give the attention the utterance's mean and std too.

    Example
    -------
    >>> pooling = MaskedAttentiveStatisticsPooling(8, attention_channels=4)
    >>> pooling(torch.randn(3, 8, 20), torch.tensor([1.0, 0.5, 0.25])).shape
    torch.Size([3, 16, 1])
    """

    def forward(self, x, lengths=None):
        """Weighted mean and std of ``x`` ``[N, C, L]``: ``[N, 2C, 1]``."""
        frames = x.shape[-1]
        if lengths is None:
            lengths = torch.ones(x.shape[0], device=x.device)
        mask = frame_mask(lengths, frames).unsqueeze(1).to(x.dtype)

        def statistics(weights):
            mean = (weights * x).sum(dim=2)
            var = (weights * (x - mean.unsqueeze(2)).pow(2)).sum(dim=2)
            return mean, torch.sqrt(var.clamp(self.eps))

        if self.global_context:
            mean, std = statistics(mask / mask.sum(dim=2, keepdim=True))
            attention = torch.cat(
                [
                    x,
                    mean.unsqueeze(2).expand(-1, -1, frames),
                    std.unsqueeze(2).expand(-1, -1, frames),
                ],
                dim=1,
            )
        else:
            attention = x
        attention = self.conv(self.tanh(self._tdnn(attention, mask)))
        attention = attention.masked_fill(mask == 0, float("-inf"))
        mean, std = statistics(F.softmax(attention, dim=2))
        return torch.cat((mean, std), dim=1).unsqueeze(2)

    def _tdnn(self, x, mask):
        """Run the TDNN block (conv, activation, BatchNorm, dropout), norm masked."""
        block = self.tdnn
        hidden = block.activation(block.conv(x))
        norm = block.norm.norm
        if not (norm.training and norm.track_running_stats):
            return block.dropout(norm(hidden))
        count = mask.sum()
        mean = (hidden * mask).sum(dim=(0, 2)) / count
        var = ((hidden - mean[None, :, None]).pow(2) * mask).sum(dim=(0, 2)) / count
        with torch.no_grad():
            momentum = norm.momentum if norm.momentum is not None else 0.1
            unbiased = var * count / (count - 1).clamp_min(1)
            norm.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
            norm.running_var.mul_(1 - momentum).add_(momentum * unbiased.detach())
            norm.num_batches_tracked.add_(1)
        hidden = (hidden - mean[None, :, None]) / torch.sqrt(
            var[None, :, None] + norm.eps
        )
        if norm.affine:
            hidden = hidden * norm.weight[None, :, None] + norm.bias[None, :, None]
        return block.dropout(hidden)


class EmotionHead(torch.nn.Module):
    """Attentive statistics pooling followed by fully connected layers.

    Arguments
    ---------
    pooling : torch.nn.Module
        Maps ``[batch, channels, frames]`` and relative lengths to
        ``[batch, 2 * channels, 1]`` (attentive statistics pooling).
    regressor : torch.nn.Module
        Maps the pooled ``[batch, 2 * channels]`` to the attributes.

    Example
    -------
    >>> head = EmotionHead(
    ...     MaskedAttentiveStatisticsPooling(16, attention_channels=8),
    ...     torch.nn.Linear(32, 3))
    >>> head(torch.randn(2, 10, 16), torch.tensor([1.0, 0.5])).shape
    torch.Size([2, 3])
    """

    def __init__(self, pooling, regressor):
        super().__init__()
        self.pooling = pooling
        self.regressor = regressor

    def pool(self, hidden, lengths):
        """Pooled embeddings (weighted mean and std), ``[batch, 2 * channels]``."""
        return self.pooling(hidden.transpose(1, 2), lengths).squeeze(2)

    def forward(self, hidden, lengths):
        """Return ``[batch, n_outputs]`` predictions."""
        return self.regressor(self.pool(hidden, lengths))


def encoder_hidden_size(source, cache_dir=None):
    """Width of an encoder's hidden states, read from its configuration.

    Arguments
    ---------
    source : str or dict
        Hub name or local folder of the encoder, or its configuration.
    cache_dir : str, optional
        ``transformers`` cache folder.

    Returns
    -------
    int

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.synthetic.architectures import save_tiny_encoder
    >>> encoder_hidden_size(save_tiny_encoder(tempfile.mkdtemp(), hidden_size=32))
    32
    """
    return encoder_config(source, cache_dir).hidden_size


def encoder_config(source, cache_dir=None):
    """Return the ``transformers`` configuration of an encoder.

    Arguments
    ---------
    source : str or dict
        Hub name or local folder, or a configuration as a dict (with its
        ``model_type``).
    cache_dir : str, optional
        ``transformers`` cache folder.

    Returns
    -------
    transformers.PretrainedConfig

    Example
    -------
    >>> config = encoder_config({"model_type": "hubert", "hidden_size": 32})
    >>> type(config).__name__, config.hidden_size
    ('HubertConfig', 32)
    """
    if isinstance(source, dict):
        fields = dict(source)
        return AutoConfig.for_model(fields.pop("model_type"), **fields)
    return AutoConfig.from_pretrained(source, cache_dir=cache_dir)
