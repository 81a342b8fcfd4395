"""EmotionBrain: what every emotion-regression Brain of the recipes shares.

A recipe's ``train.py`` subclasses it with what its model computes and
optimises (``compute_forward``, ``compute_objectives``); this class keeps the
bookkeeping SpeechBrain's hooks are for:

* one optimizer per trainable module (the encoder and the head learn at
  their own rates), each clipped by ``Brain.optimizers_step``;
* the development CCC, computed over every prediction of the epoch at once
  (``self.ccc_stats``), logged, and the checkpoint kept on it;
* a non-finite loss reported with the utterances of its batch;
* DDP with LayerDrop (layers skipped at random leave parameters unused),
  and on CPU processes (gloo) without SyncBatchNorm.

One ``EmotionBrain`` trains one stage (``speechbrain_lora_ser.training.stages``).

Authors
 * speechbrain-lora-ser contributors 2026
"""

import speechbrain as sb
import torch
from speechbrain.utils.logger import get_logger
from torch.nn.parallel import DistributedDataParallel as DDP

from speechbrain_lora_ser.modeling.ccc import CCCStats

logger = get_logger(__name__)


class EmotionBrain(sb.Brain):
    """Trains and evaluates an encoder + head with a CCC objective.

    Subclasses define ``compute_forward`` (a batch to predictions on the
    0-1 range) and ``compute_objectives`` (the loss; evaluation stages append
    their predictions to ``self.ccc_stats``).

    Arguments
    ---------
    modules : dict
        ``ssl`` (the encoder) and ``head``.
    opt_classes : dict
        An optimizer builder per module (``{"ssl": ..., "head": ...}``):
        each trainable module gets its own optimizer (and learning rate).
    train_logger : speechbrain.utils.train_logger.FileTrainLogger
        Where epochs and test results are logged.
    stage : speechbrain_lora_ser.training.stages.TrainingStage, optional
        The stage this Brain trains (its name goes into the log).
    hparams : dict, optional
        The recipe's hyperparameters.
    run_opts : dict, optional
        SpeechBrain's run options (device, precision, debug...).
    checkpointer : speechbrain.utils.checkpoints.Checkpointer, optional
        The stage's checkpointer (best epoch kept on the development CCC).

    Example
    -------
    >>> class Brain(EmotionBrain):
    ...     def compute_forward(self, batch, stage):
    ...         return self.modules.head(batch)
    >>> brain = Brain({"head": torch.nn.Linear(2, 3)},
    ...     {"head": lambda p: torch.optim.SGD(p, lr=0.1)}, train_logger=None)
    >>> brain.init_optimizers()
    >>> sorted(brain.optimizers_dict)
    ['head']
    """

    def __init__(
        self,
        modules,
        opt_classes,
        train_logger,
        stage=None,
        hparams=None,
        run_opts=None,
        checkpointer=None,
    ):
        super().__init__(
            modules=modules,
            hparams=hparams,
            run_opts=run_opts,
            checkpointer=checkpointer,
        )
        self.opt_classes = dict(opt_classes)
        self.train_logger = train_logger
        self.stage_name = stage.name if stage is not None else "training"
        self.learning_rates = stage.learning_rates if stage is not None else {}
        self.ccc_stats = CCCStats()
        self.batch_ids = []
        if self.distributed_launch and not self.find_unused_parameters:
            encoder = self.modules["ssl"] if "ssl" in self.modules else None
            config = getattr(getattr(encoder, "model", None), "config", None)
            layerdrop = getattr(config, "layerdrop", 0.0)
            if layerdrop > 0:
                logger.info(
                    "LayerDrop %.2f skips encoder layers: DDP runs with "
                    "find_unused_parameters=True",
                    layerdrop,
                )
                self.find_unused_parameters = True

    def _wrap_distributed(self):
        """Wrap modules for DDP, without SyncBatchNorm on CPU processes.

        SpeechBrain's ``Brain._wrap_distributed`` converts every BatchNorm to
        ``SyncBatchNorm``, which only runs on GPUs; there is no public hook
        to skip that conversion, hence this override. On CPU (gloo) the
        pooling's BatchNorm stays per process (its masked statistics are each
        process's batch anyway) and DDP broadcasts its buffers from rank 0.
        """
        if not self.distributed_launch or str(self.device).startswith("cuda"):
            return super()._wrap_distributed()
        for name, module in self.modules.items():
            if any(p.requires_grad for p in module.parameters()):
                self.modules[name] = DDP(
                    module, find_unused_parameters=self.find_unused_parameters
                )

    def init_optimizers(self):
        """One optimizer per module with trainable parameters.

        A stage's own learning rates (``TrainingStage.learning_rates``)
        replace the builders' rates.
        """
        self.optimizers_dict = {}
        for name, opt_class in self.opt_classes.items():
            parameters = [p for p in self.modules[name].parameters() if p.requires_grad]
            if not parameters:
                continue
            if name in self.learning_rates:
                optimizer = opt_class(parameters, lr=self.learning_rates[name])
            else:
                optimizer = opt_class(parameters)
            self.optimizers_dict[name] = optimizer
        self.optimizer = next(iter(self.optimizers_dict.values()), None)
        if self.checkpointer is not None:
            for name, optimizer in self.optimizers_dict.items():
                self.checkpointer.add_recoverable(f"{name}_optimizer", optimizer)

    def fit_batch(self, batch):
        """Remember the batch's utterances (a non-finite loss names them)."""
        self.batch_ids = list(batch.id)
        return super().fit_batch(batch)

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
                f"{', '.join(self.batch_ids)}). Check those audio files and "
                "labels; the checkpoints saved so far are kept and training "
                "resumes from the last one."
            ) from error

    def on_stage_start(self, stage, epoch=None):
        """Start a fresh CCC accumulator."""
        self.ccc_stats = CCCStats()

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Log losses and CCC; checkpoint on the development CCC."""
        if stage == sb.Stage.TRAIN:
            self.train_loss = stage_loss
            return
        summary = self.ccc_stats.summarize()
        stats = {"loss": stage_loss}
        stats.update({f"ccc_{name}": value for name, value in summary.items()})
        if stage == sb.Stage.VALID:
            self.train_logger.log_stats(
                {"stage": self.stage_name, "epoch": epoch},
                train_stats={"loss": self.train_loss},
                valid_stats=stats,
            )
            self.checkpointer.save_and_keep_only(
                meta={"ccc": summary["average"], "epoch": epoch},
                max_keys=["ccc"],
            )
        else:
            self.train_logger.log_stats(
                {"stage": self.stage_name, "test set": self.test_name},
                test_stats=stats,
            )

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
        stats : speechbrain_lora_ser.modeling.ccc.CCCStats
            Every prediction (``write_predictions`` writes them).
        """
        self.test_name = name
        # SpeechBrain's own path: on_evaluate_start recovers the best epoch
        # (by development CCC) of this Brain's stage before evaluating
        self.evaluate(dataset, max_key="ccc", test_loader_kwargs=dict(loader_kwargs))
        return self.ccc_stats.summarize(), self.ccc_stats
