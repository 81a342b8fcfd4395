"""What the recipes' Brain needs beyond SpeechBrain's hooks: two run quirks.

The Brain itself (``SERBrain``: forward, objectives, optimizers, stage
start and end, checkpoints) is in each recipe's ``train.py``. Two things
every recipe's Brain needs are not hooks, so they live here once:

* a non-finite loss is reported with the utterances of its batch
  (``check_loss_naming_batch``);
* DDP: LayerDrop (layers skipped at random leave parameters unused) needs
  ``find_unused_parameters`` (``layerdrop_run_opts``), and CPU processes
  (gloo) cannot use SpeechBrain's SyncBatchNorm (``wrap_without_syncbn``).

Authors
 * speechbrain-lora-ser contributors 2026
"""

import torch
from speechbrain.utils.logger import get_logger
from torch.nn.parallel import DistributedDataParallel as DDP

logger = get_logger(__name__)


def layerdrop_run_opts(run_opts, encoder):
    """Return ``run_opts`` with DDP's ``find_unused_parameters`` for LayerDrop.

    Arguments
    ---------
    run_opts : dict
        SpeechBrain's run options.
    encoder : torch.nn.Module
        The encoder (``SSLEncoder``: its transformers ``config.layerdrop``).

    Returns
    -------
    dict

    Example
    -------
    >>> layerdrop_run_opts({"device": "cpu"}, torch.nn.Linear(1, 1))
    {'device': 'cpu'}
    """
    config = getattr(getattr(encoder, "model", None), "config", None)
    if getattr(config, "layerdrop", 0.0) > 0:
        return {**run_opts, "find_unused_parameters": True}
    return dict(run_opts)


def wrap_without_syncbn(brain):
    """Wrap a Brain's trainable modules in DDP on CPU processes; True if done.

    SpeechBrain's ``Brain._wrap_distributed`` converts every BatchNorm to
    ``SyncBatchNorm``, which only runs on GPUs, and has no option to skip
    it. On CPU (gloo) the pooling's BatchNorm stays per process (its masked
    statistics are each process's batch anyway) and DDP broadcasts its
    buffers from rank 0. Returns False (SpeechBrain's own wrapping applies)
    when not distributed or on GPUs.
    """
    if not brain.distributed_launch or str(brain.device).startswith("cuda"):
        return False
    for name, module in brain.modules.items():
        if any(p.requires_grad for p in module.parameters()):
            brain.modules[name] = DDP(
                module, find_unused_parameters=brain.find_unused_parameters
            )
    return True


def check_loss_naming_batch(brain, loss, check, stage_name, batch_ids):
    """Run SpeechBrain's non-finite check, naming the batch's utterances.

    Arguments
    ---------
    brain : speechbrain.Brain
        The Brain (its ``nonfinite_count`` and ``nonfinite_patience``).
    loss : torch.Tensor
        The batch's loss.
    check : callable
        ``Brain.check_loss_isfinite`` of SpeechBrain (applies the patience).
    stage_name : str
        The training stage (named in the messages).
    batch_ids : list of str
        The batch's utterances.

    Raises
    ------
    ValueError
        When the loss was not finite more than ``--nonfinite_patience``
        times; the checkpoints saved so far are kept.
    """
    if not torch.isfinite(loss):
        logger.warning(
            "%s: non-finite loss (%s) on the batch %s (%d of %d allowed "
            "before stopping; see --nonfinite_patience)",
            stage_name,
            loss.item(),
            ", ".join(batch_ids),
            brain.nonfinite_count + 1,
            brain.nonfinite_patience,
        )
    try:
        check(loss)
    except ValueError as error:
        raise ValueError(
            f"{stage_name}: the loss was not finite more than "
            f"{brain.nonfinite_patience} times (last batch: "
            f"{', '.join(batch_ids)}). Check those audio files and labels; "
            "the checkpoints saved so far are kept and training resumes "
            "from the last one."
        ) from error
