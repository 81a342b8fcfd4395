"""EmotionBrain: CCC training of the encoder + head, one stage at a time.

A stage trains one of three ways (``mode``):

* ``head``: the encoder is frozen, only the head trains (Off-the-shelf);
* ``finetune``: encoder and head train (FineTuned, FT(dual), stage 1);
* ``lora``: the encoder is frozen, LoRA adapters and head train.

The encoder and the head have their own optimizers (and learning rates); the
``Brain`` clips each optimizer's parameters, so every group is clipped.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import logging

import speechbrain as sb
import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from speechbrain_lora_ser.ccc import CCCStats
from speechbrain_lora_ser.lora import add_lora, has_lora

logger = logging.getLogger(__name__)

MODES = ("head", "finetune", "lora")


def count_trainable(module):
    """Count the trainable parameters of a module.

    Example
    -------
    >>> count_trainable(torch.nn.Linear(2, 3))
    9
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def configure_stage(encoder, mode, lora_options):
    """Set which encoder parameters train for a stage ``mode``.

    Arguments
    ---------
    encoder : speechbrain_lora_ser.model.SSLEncoder
        The encoder (changed in place).
    mode : str
        ``head``, ``finetune`` or ``lora``.
    lora_options : dict
        ``add_lora`` keyword arguments for the ``lora`` mode.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.architectures import save_tiny_encoder
    >>> from speechbrain_lora_ser.model import SSLEncoder
    >>> encoder = SSLEncoder(save_tiny_encoder(tempfile.mkdtemp()))
    >>> configure_stage(encoder, "head", {})
    >>> count_trainable(encoder)
    0
    """
    if mode not in MODES:
        raise ValueError(f"unknown stage mode {mode!r}; expected one of {MODES}")
    if mode == "head":
        encoder.freeze_encoder()
    elif mode == "lora":
        if not has_lora(encoder):
            add_lora(encoder.model, **lora_options)
    elif mode == "finetune":
        if has_lora(encoder):
            raise ValueError("fine-tuning an encoder that carries LoRA adapters")
        for name, parameter in encoder.model.named_parameters():
            # The convolutional feature encoder stays frozen (as in the MSP
            # baseline); masked_spec_embed only serves SpecAugment, which is
            # off, and an unused trainable parameter breaks DDP.
            parameter.requires_grad = not (
                name.startswith("feature_extractor.") or name == "masked_spec_embed"
            )


class EmotionBrain(sb.Brain):
    """Trains and evaluates the encoder + head with the CCC loss.

    Expects ``modules`` with ``ssl`` (``SSLEncoder``) and ``head``
    (``EmotionHead``), and ``hparams`` with ``compute_cost`` (``CCCLoss``),
    ``encoder_opt_class``, ``head_opt_class``, ``train_logger`` and
    ``label_scaler``. The best epoch is the one with the highest development
    CCC averaged over arousal, valence and dominance, computed over all
    predictions of the epoch at once.
    """

    def _wrap_distributed(self):
        """Under DDP, let LayerDrop skip layers without breaking the reduction."""
        layerdrop = getattr(self.modules.ssl.model.config, "layerdrop", 0.0)
        if (
            self.distributed_launch
            and layerdrop > 0
            and not self.find_unused_parameters
        ):
            logger.info(
                "LayerDrop %.2f skips encoder layers: DDP runs with "
                "find_unused_parameters=True",
                layerdrop,
            )
            self.find_unused_parameters = True
        if self.distributed_launch and not str(self.device).startswith("cuda"):
            # SpeechBrain converts BatchNorm to SyncBatchNorm, which needs GPUs;
            # on CPU (gloo) the pooling's BatchNorm stays per process and DDP
            # broadcasts its buffers from rank 0.
            for name, module in self.modules.items():
                if any(p.requires_grad for p in module.parameters()):
                    self.modules[name] = DDP(
                        module, find_unused_parameters=self.find_unused_parameters
                    )
            return
        super()._wrap_distributed()

    def compute_forward(self, batch, stage):
        """Predict the (scaled) attributes of a batch."""
        self.batch_ids = batch.id
        batch = batch.to(self.device)
        wavs, wav_lens = batch.sig
        hidden, frame_lens = self.modules.ssl(wavs, wav_lens)
        return self.modules.head(hidden, frame_lens)

    def compute_objectives(self, predictions, batch, stage):
        """CCC loss; keeps every prediction for the epoch's CCC."""
        targets = batch.labels.data.to(predictions.device)
        predictions = predictions.float()
        if stage != sb.Stage.TRAIN:
            self.ccc_stats.append(batch.id, predictions, targets)
        labeled = ~torch.isnan(targets).any(dim=1)
        if labeled.sum() == 0:  # unlabeled test partition: predictions only
            return predictions.sum() * 0.0
        return self.hparams.compute_cost(predictions[labeled], targets[labeled])

    def check_loss_isfinite(self, loss):
        """Name the utterances of a non-finite loss, then apply the patience.

        SpeechBrain's ``--nonfinite_patience`` (default 3) decides when to
        stop; the checkpoints saved so far are kept.
        """
        if not torch.isfinite(loss):
            logger.warning(
                "%s: non-finite loss (%s) on the batch %s (%d of %d allowed "
                "before stopping; see --nonfinite_patience)",
                self.stage_name,
                loss.item(),
                ", ".join(self.batch_ids),
                self.nonfinite_count + 1,
                self.nonfinite_patience,
            )
        try:
            super().check_loss_isfinite(loss)
        except ValueError as error:
            raise ValueError(
                f"{self.stage_name}: the loss was not finite more than "
                f"{self.nonfinite_patience} times (last batch: "
                f"{', '.join(self.batch_ids)}). Check those audio files and labels; "
                "the checkpoints saved so far are kept and training resumes from "
                "the last one."
            ) from error

    def on_stage_start(self, stage, epoch=None):
        """Start a fresh CCC accumulator."""
        self.ccc_stats = CCCStats()

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Log losses and CCC, and checkpoint on the development CCC."""
        if stage == sb.Stage.TRAIN:
            self.train_loss = stage_loss
            return
        summary = self.ccc_stats.summarize()
        stats = {"loss": stage_loss}
        stats.update({f"ccc_{name}": value for name, value in summary.items()})
        if stage == sb.Stage.VALID:
            self.hparams.train_logger.log_stats(
                {"stage": self.stage_name, "epoch": epoch},
                train_stats={"loss": self.train_loss},
                valid_stats=stats,
            )
            self.checkpointer.save_and_keep_only(
                meta={"ccc": summary["average"], "epoch": epoch},
                max_keys=["ccc"],
            )
        else:
            self.hparams.train_logger.log_stats(
                {"stage": self.stage_name, "test set": self.test_name},
                test_stats=stats,
            )
            self.test_summary = summary

    def init_optimizers(self):
        """One optimizer for the trainable encoder parameters, one for the head."""
        self.optimizers_dict = {}
        encoder_params = [p for p in self.modules.ssl.parameters() if p.requires_grad]
        if encoder_params:
            self.optimizers_dict["encoder"] = self.hparams.encoder_opt_class(
                encoder_params
            )
        self.optimizers_dict["head"] = self.hparams.head_opt_class(
            self.modules.head.parameters()
        )
        self.optimizer = self.optimizers_dict["head"]
        if self.checkpointer is not None:
            for name, optimizer in self.optimizers_dict.items():
                self.checkpointer.add_recoverable(f"{name}_optimizer", optimizer)

    def log_trainable_parameters(self):
        """Log (and write to the train log) what trains in this stage."""
        encoder = count_trainable(self.modules.ssl)
        head = count_trainable(self.modules.head)
        message = (
            f"{self.stage_name} ({self.stage_mode}): trainable parameters: "
            f"encoder {encoder:,}"
            + (" (LoRA)" if self.stage_mode == "lora" else "")
            + f" + head {head:,} = {encoder + head:,}"
        )
        logger.info(message)
        # log_stats is main-process-only and broadcasts: every rank calls it
        self.hparams.train_logger.log_stats(
            {
                "stage": self.stage_name,
                "mode": self.stage_mode,
                "trainable_encoder": encoder,
                "trainable_head": head,
                "trainable_total": encoder + head,
            }
        )
        return encoder, head

    def predict_test_set(self, test_set, name, loader_kwargs):
        """Evaluate on a test set; returns the CCC summary and the predictions."""
        self.test_name = name
        self.evaluate(test_set, max_key="ccc", test_loader_kwargs=loader_kwargs)
        return self.test_summary, self.ccc_stats
