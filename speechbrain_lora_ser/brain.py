"""EmotionBrain: CCC training of an SSL encoder + head, stage after stage.

The recipe's YAML declares its ``stages`` (``Stage`` objects): what trains in
each and on which corpus, with the stage's epoch counter and checkpointer.
A stage trains one of three ways (``train``):

* ``head``: the encoder is frozen, only the head trains (Off-the-shelf);
* ``finetune``: encoder and head train (FineTuned, FT(dual), stage 1);
* ``lora``: the encoder is frozen, LoRA adapters and head train.

``EmotionBrain.fit_stages`` runs them in order with one Brain: at each stage
transition it configures the encoder (freeze, add LoRA), re-wraps it for DDP,
switches to the stage's checkpoint folder, starts fresh optimizers, and after
training reloads the stage's best epoch (development CCC) as the starting
point of the next stage. A stage that was interrupted resumes inside itself;
a finished one is not trained again; a finished stage 1 of another run
(``stage1_folder``) is reused after checking it was trained the same way.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import json
import logging
import os
import pathlib
import tempfile

import speechbrain as sb
import torch
from speechbrain.utils.checkpoints import Checkpointer
from speechbrain.utils.distributed import if_main_process
from torch.nn.parallel import DistributedDataParallel as DDP

from speechbrain_lora_ser.ccc import CCCStats
from speechbrain_lora_ser.corpus import manifest_digest
from speechbrain_lora_ser.lora import add_lora, has_lora
from speechbrain_lora_ser.pipeline import world_size_now

logger = logging.getLogger(__name__)

MODES = ("head", "finetune", "lora")
STAGE_INFO = "stage_info.json"


def count_trainable(module):
    """Count the trainable parameters of a module.

    Example
    -------
    >>> count_trainable(torch.nn.Linear(2, 3))
    9
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def configure_encoder(encoder, train, lora_config=None):
    """Set which encoder parameters train in a stage (in place).

    Arguments
    ---------
    encoder : speechbrain_lora_ser.model.SSLEncoder
        The encoder.
    train : str
        ``head``, ``finetune`` or ``lora``.
    lora_config : peft.LoraConfig, optional
        The adapters of the ``lora`` mode.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.architectures import save_tiny_encoder
    >>> from speechbrain_lora_ser.model import SSLEncoder
    >>> encoder = SSLEncoder(save_tiny_encoder(tempfile.mkdtemp()))
    >>> configure_encoder(encoder, "head")
    >>> count_trainable(encoder)
    0
    """
    if train not in MODES:
        raise ValueError(f"unknown stage mode {train!r}; expected one of {MODES}")
    if train == "head":
        encoder.freeze_encoder()
    elif train == "lora":
        if not has_lora(encoder):
            add_lora(encoder.model, lora_config)
    elif train == "finetune":
        if has_lora(encoder):
            raise ValueError("fine-tuning an encoder that carries LoRA adapters")
        for name, parameter in encoder.model.named_parameters():
            # The convolutional feature encoder stays frozen (as in the MSP
            # baseline); masked_spec_embed only serves SpecAugment, which is
            # off, and an unused trainable parameter breaks DDP.
            parameter.requires_grad = not (
                name.startswith("feature_extractor.") or name == "masked_spec_embed"
            )


def _absolute_if_path(value):
    """Return a setting that names an existing file or folder as an absolute path."""
    if isinstance(value, str) and value and os.path.exists(value):
        return os.path.abspath(value)
    return value


class Stage:
    """One training stage, as the recipe's YAML declares it.

    Arguments
    ---------
    name : str
        The stage's name (``stage1``); its checkpoints and ``stage_info.json``
        live in ``checkpointer.checkpoints_dir``.
    train : str
        What trains: ``head``, ``finetune`` or ``lora``.
    corpus : str
        The corpus whose train/valid sets the stage uses.
    epoch_counter : speechbrain.utils.epoch_loop.EpochCounter
        The stage's epochs.
    checkpointer : speechbrain.utils.checkpoints.Checkpointer
        The stage's own checkpoints (encoder, head, counter, RNG state...).
    settings : dict, optional
        What determines the stage's result besides its data (encoder, epochs,
        learning rates, batch, seed, head and LoRA settings...): a run that
        reuses this stage (``--stage1_folder``) must match them.

    Example
    -------
    >>> from speechbrain.utils.epoch_loop import EpochCounter
    >>> Stage("stage1", "adapters", "A", EpochCounter(1), None)
    Traceback (most recent call last):
    ...
    ValueError: stage1: unknown train mode 'adapters'; expected one of ('head', 'finetune', 'lora')
    """  # noqa: E501

    def __init__(self, name, train, corpus, epoch_counter, checkpointer, settings=None):
        if train not in MODES:
            raise ValueError(
                f"{name}: unknown train mode {train!r}; expected one of {MODES}"
            )
        self.name = name
        self.train = train
        self.corpus = corpus
        self.epoch_counter = epoch_counter
        self.checkpointer = checkpointer
        self.settings = dict(settings or {})

    def __repr__(self):
        return f"Stage({self.name}: {self.train} on {self.corpus})"


class StageMismatch(ValueError):
    """A reused stage was trained differently from what this run needs."""


class EmotionBrain(sb.Brain):
    """Trains and evaluates the encoder + head with the CCC loss, in stages.

    Arguments
    ---------
    modules : dict
        ``ssl`` (``SSLEncoder``) and ``head`` (``EmotionHead``).
    compute_cost : torch.nn.Module
        The loss, ``CCCLoss``.
    encoder_opt_class, head_opt_class : callable
        Build the encoder's and the head's optimizers from their parameters
        (separate learning rates; the Brain clips every group).
    lora_config : peft.LoraConfig
        Adapters added by a ``lora`` stage.
    train_logger : speechbrain.utils.train_logger.FileTrainLogger
        Where the stages, epochs and test results are logged.
    hparams : dict, optional
        The recipe's hyperparameters (run options declared there apply).
    run_opts : dict, optional
        SpeechBrain's run options (device, precision, debug...).

    The best epoch of a stage is the one with the highest development CCC
    averaged over arousal, valence and dominance, computed over all
    predictions of the epoch at once.
    """

    def __init__(
        self,
        modules,
        compute_cost,
        encoder_opt_class,
        head_opt_class,
        lora_config,
        train_logger,
        hparams=None,
        run_opts=None,
    ):
        super().__init__(modules=modules, hparams=hparams, run_opts=run_opts)
        self.compute_cost = compute_cost
        self.encoder_opt_class = encoder_opt_class
        self.head_opt_class = head_opt_class
        self.lora_config = lora_config
        self.train_logger = train_logger
        self.stage = None

    # ------------------------------------------------------------------
    # The stage schedule
    # ------------------------------------------------------------------
    def fit_stages(
        self,
        stages,
        datasets,
        train_loader,
        valid_loader_kwargs,
        stage1_folder=None,
    ):
        """Train every stage in turn; the best checkpoint of the last stays loaded.

        Arguments
        ---------
        stages : list of Stage
            The recipe's stages, in order.
        datasets : dict
            ``{corpus: {"train": dataset, "valid": dataset, ...}}``.
        train_loader : speechbrain_lora_ser.pipeline.TrainLoader
            Builds the training loader options of a stage's training set.
        valid_loader_kwargs : dict
            Loader options of the development sets.
        stage1_folder : str, optional
            The output folder of a finished run whose first stage is this
            run's first stage: it is checked (``Stage.settings``, data,
            batch, debug flags) and loaded instead of trained.

        Returns
        -------
        dict
            ``{stage name: fingerprint}`` of every stage (what determined it).
        """
        stages = list(stages)
        if stage1_folder and len(stages) < 2:
            raise ValueError(
                f"--stage1_folder={stage1_folder} reuses the first of two stages, "
                f"but this configuration has one stage ({stages[0].name}: "
                f"{stages[0].train}); leave it out"
            )
        fingerprints = {}
        for index, stage in enumerate(stages):
            if stage.corpus not in datasets:
                raise ValueError(
                    f"{stage.name} trains on {stage.corpus}, which was not prepared"
                )
            fingerprint = self.stage_fingerprint(stage, datasets, train_loader)
            fingerprints[stage.name] = fingerprint
            if index == 0 and stage1_folder:
                self.reuse_stage(stage, stage1_folder, fingerprint)
                continue
            self.start_stage(stage, fingerprint)
            if os.path.isfile(self._stage_info_path(stage)):
                logger.info("%s was trained already: loading its best epoch", stage)
                self._recover_best(stage)
                continue
            train_set, train_kwargs = train_loader.for_dataset(
                datasets[stage.corpus]["train"], self.grad_accumulation_factor
            )
            self.fit(
                stage.epoch_counter,
                train_set=train_set,
                valid_set=datasets[stage.corpus]["valid"],
                train_loader_kwargs=train_kwargs,
                valid_loader_kwargs=dict(valid_loader_kwargs),
            )
            self._recover_best(stage)
            self._write_stage_info(stage, fingerprint)
        return fingerprints

    def start_stage(self, stage, fingerprint=None):
        """Configure the modules, checkpointer and logs for ``stage``."""
        self.stage = stage
        self._unwrap_modules()
        configure_encoder(self.modules.ssl, stage.train, self.lora_config)
        self.modules.to(self.device)
        self._use_checkpointer(stage.checkpointer)
        encoder = count_trainable(self.modules.ssl)
        head = count_trainable(self.modules.head)
        batch = (fingerprint or {}).get("effective_batch", "")
        message = (
            f"{stage.name} ({stage.train} on {stage.corpus}): trainable parameters: "
            f"encoder {encoder:,}"
            + (" (LoRA)" if stage.train == "lora" else "")
            + f" + head {head:,} = {encoder + head:,}; effective batch: {batch}"
        )
        logger.info(message)
        # log_stats is main-process-only and broadcasts: every rank calls it
        self.train_logger.log_stats(
            {
                "stage": stage.name,
                "mode": stage.train,
                "corpus": stage.corpus,
                "trainable_encoder": encoder,
                "trainable_head": head,
                "trainable_total": encoder + head,
                "effective_batch": batch,
            }
        )

    def stage_fingerprint(self, stage, datasets, train_loader):
        """Return what determines a stage's result (``stage_info.json``).

        The YAML's ``Stage.settings``, the stage's mode and corpus, a digest
        of its training and development manifests, the effective batch
        (per process x processes x gradient accumulation) and the debug flags.
        """
        data = datasets[stage.corpus]
        settings = {
            key: _absolute_if_path(value) for key, value in stage.settings.items()
        }
        return {
            "train": stage.train,
            "corpus": stage.corpus,
            **json.loads(json.dumps(settings, default=str)),
            "train_utterances": len(data["train"]),
            "valid_utterances": len(data["valid"]),
            "audio_folders": sorted(
                {os.path.dirname(e["wav"]) for e in data["train"].data.values()}
            ),
            "manifests": manifest_digest(
                {split: data[split].data for split in ("train", "valid")}
            ),
            "effective_batch": train_loader.effective_batch(
                world_size_now(), self.grad_accumulation_factor
            ),
            "debug": {
                "debug": self.debug,
                "debug_batches": self.debug_batches if self.debug else None,
                "debug_epochs": self.debug_epochs if self.debug else None,
            },
        }

    def reuse_stage(self, stage, folder, fingerprint):
        """Load the best checkpoint of ``stage`` from another run's ``folder``."""
        stage_folder = os.path.join(folder, "save", stage.name)
        info_file = os.path.join(stage_folder, STAGE_INFO)
        if not os.path.isfile(info_file):
            raise FileNotFoundError(
                f"{info_file}: no finished {stage.name} in stage1_folder={folder} "
                "(run it to the end first)"
            )
        with open(info_file, encoding="utf-8") as handle:
            recorded = json.load(handle)
        differing = sorted(
            key
            for key in set(recorded) | set(fingerprint)
            if recorded.get(key) != fingerprint.get(key)
        )
        if differing:
            details = "\n".join(
                f"  {key}: there {recorded.get(key)!r}, here {fingerprint.get(key)!r}"
                for key in differing
            )
            raise StageMismatch(
                f"{info_file}: {stage.name} there was trained differently from "
                f"this run's {stage.name} ({', '.join(differing)}):\n{details}"
            )
        self.stage = stage
        self._unwrap_modules()
        configure_encoder(self.modules.ssl, stage.train, self.lora_config)
        checkpointer = Checkpointer(
            stage_folder,
            recoverables={"ssl": self.modules.ssl, "head": self.modules.head},
        )
        checkpoint = checkpointer.recover_if_possible(max_key="ccc")
        if checkpoint is None:
            raise FileNotFoundError(f"{stage_folder}: no checkpoint to reuse")
        self.modules.to(self.device)
        logger.info("Reusing %s from %s", stage, checkpoint.path)
        self.train_logger.log_stats(
            {"stage": stage.name, "reused_from": str(checkpoint.path)}
        )

    def _recover_best(self, stage):
        stage.checkpointer.recover_if_possible(max_key="ccc")

    def _stage_info_path(self, stage):
        return os.path.join(stage.checkpointer.checkpoints_dir, STAGE_INFO)

    def _write_stage_info(self, stage, fingerprint):
        """Mark a stage finished, with what determined it (main process)."""
        if not if_main_process():
            return
        path = self._stage_info_path(stage)
        with open(path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump(fingerprint, handle, indent=2)
        os.replace(path + ".tmp", path)

    def _use_checkpointer(self, checkpointer):
        """Make ``checkpointer`` the Brain's (what ``Brain.__init__`` does)."""
        if (
            self.debug
            and not self.debug_persistently
            and not getattr(checkpointer, "tempdir", None)
        ):
            # as Brain.__init__: debug runs checkpoint in a temporary folder
            tempdir = tempfile.TemporaryDirectory()
            checkpointer.checkpoints_dir = pathlib.Path(tempdir.name)
            checkpointer.tempdir = tempdir
        checkpointer.add_recoverable("brain", self)
        if self.scaler.is_enabled():
            checkpointer.add_recoverable("scaler", self.scaler, optional_load=True)
        self.checkpointer = checkpointer

    def _unwrap_modules(self):
        """Remove DDP / compile wrappers before the encoder changes."""
        for name in list(self.modules.keys()):
            module = self.modules[name]
            while isinstance(module, DDP) or hasattr(module, "_orig_mod"):
                module = module.module if isinstance(module, DDP) else module._orig_mod
            self.modules[name] = module

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

    # ------------------------------------------------------------------
    # One batch
    # ------------------------------------------------------------------
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
        if labeled.sum() == 0:  # unlabeled partition: predictions only
            return predictions.sum() * 0.0
        return self.compute_cost(predictions[labeled], targets[labeled])

    def check_loss_isfinite(self, loss):
        """Name the utterances of a non-finite loss, then apply the patience.

        SpeechBrain's ``--nonfinite_patience`` (default 3) decides when to
        stop; the checkpoints saved so far are kept.
        """
        name = self.stage.name if self.stage else "training"
        if not torch.isfinite(loss):
            logger.warning(
                "%s: non-finite loss (%s) on the batch %s (%d of %d allowed "
                "before stopping; see --nonfinite_patience)",
                name,
                loss.item(),
                ", ".join(self.batch_ids),
                self.nonfinite_count + 1,
                self.nonfinite_patience,
            )
        try:
            super().check_loss_isfinite(loss)
        except ValueError as error:
            raise ValueError(
                f"{name}: the loss was not finite more than "
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
            self.train_logger.log_stats(
                {"stage": self.stage.name, "epoch": epoch},
                train_stats={"loss": self.train_loss},
                valid_stats=stats,
            )
            self.checkpointer.save_and_keep_only(
                meta={"ccc": summary["average"], "epoch": epoch},
                max_keys=["ccc"],
            )
        else:
            self.train_logger.log_stats(
                {"stage": self.stage.name, "test set": self.test_name},
                test_stats=stats,
            )
            self.test_summary = summary

    def init_optimizers(self):
        """Fresh optimizers: one for the trainable encoder parameters, one for the head."""  # noqa: E501
        self.optimizers_dict = {}
        encoder_params = [p for p in self.modules.ssl.parameters() if p.requires_grad]
        if encoder_params:
            self.optimizers_dict["encoder"] = self.encoder_opt_class(encoder_params)
        self.optimizers_dict["head"] = self.head_opt_class(
            self.modules.head.parameters()
        )
        self.optimizer = self.optimizers_dict["head"]
        if self.checkpointer is not None:
            for name, optimizer in self.optimizers_dict.items():
                self.checkpointer.add_recoverable(f"{name}_optimizer", optimizer)

    def on_evaluate_start(self, max_key=None, min_key=None):
        """Evaluate the model as it is: ``fit_stages`` left the best epoch loaded."""

    def predict_dataset(self, dataset, name, loader_kwargs):
        """Predict every utterance of ``dataset`` with the current model.

        Arguments
        ---------
        dataset : DynamicItemDataset
            A test (or other) partition; unlabeled utterances are predicted
            and left out of the CCC.
        name : str
            How it is named in the log (``MSP-Podcast test``).
        loader_kwargs : dict
            Loader options.

        Returns
        -------
        summary : dict
            CCC per attribute and their average (NaN when unlabeled).
        stats : speechbrain_lora_ser.ccc.CCCStats
            Every prediction (``write_predictions`` writes them).
        """
        self.test_name = name
        self.evaluate(dataset, test_loader_kwargs=dict(loader_kwargs))
        return self.test_summary, self.ccc_stats
