"""Checkpoints that survive a kill: atomic saves and random-number state.

SpeechBrain's ``Checkpointer`` writes a checkpoint's ``CKPT.yaml`` first and
its parameter files after; a process killed in between leaves a directory
that looks complete and breaks the next recovery. ``AtomicCheckpointer``
writes each checkpoint in a hidden staging folder and renames it into place
once every file is written, so a kill at any moment leaves the previous
checkpoint as the latest usable one.

SpeechBrain does not checkpoint the random-number generators; ``RNGState``
does (as plain tensors, loadable with ``weights_only``), so a resumed run draws
the same dropout masks as one that was never interrupted.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import logging
import random
import shutil

import numpy as np
import torch
from speechbrain.utils.checkpoints import (
    Checkpoint,
    Checkpointer,
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)
from speechbrain.utils.distributed import if_main_process

from speechbrain_lora_ser.atomic import replace_folder
from speechbrain_lora_ser.modeling.weights import CheckpointError

logger = logging.getLogger(__name__)

STAGING = ".staging"


class AtomicCheckpointer(Checkpointer):
    """A ``Checkpointer`` whose checkpoints appear only when complete.

    Example
    -------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> layer = torch.nn.Linear(2, 2)
    >>> checkpointer = AtomicCheckpointer(folder, {"layer": layer})
    >>> checkpoint = checkpointer.save_checkpoint()
    >>> sorted(p.name for p in checkpoint.path.iterdir())
    ['CKPT.yaml', 'layer.ckpt']
    >>> os.path.exists(os.path.join(folder, STAGING))
    False
    """

    def recover_if_possible(
        self, importance_key=None, max_key=None, min_key=None, ckpt_predicate=None
    ):
        """Load the newest intact checkpoint (SpeechBrain's, with a fallback).

        A checkpoint whose files cannot be read (truncated, corrupt) is
        skipped with a warning naming it, and the previous one is tried.
        """
        candidates = self.find_checkpoints(
            importance_key, max_key, min_key, ckpt_predicate
        )
        for index, checkpoint in enumerate(candidates):
            try:
                self.load_checkpoint(checkpoint)
            except (CheckpointError, RuntimeError, OSError, EOFError) as error:
                logger.warning(
                    "checkpoint %s cannot be loaded (%s); falling back to %s",
                    checkpoint.path,
                    str(error).splitlines()[0] if str(error) else type(error),
                    "the previous one"
                    if index + 1 < len(candidates)
                    else "a fresh start",
                )
                continue
            if index:
                logger.warning(
                    "recovered from the older checkpoint %s", checkpoint.path
                )
            return checkpoint
        return None

    def _new_checkpoint_dirpath(self):
        return self._staged(super()._new_checkpoint_dirpath())

    def _custom_checkpoint_dirpath(self, name):
        return self._staged(super()._custom_checkpoint_dirpath(name))

    def _staged(self, final_path):
        return final_path.parent / STAGING / final_path.name

    def save_checkpoint(
        self, meta=None, end_of_epoch=True, name=None, verbosity=logging.INFO
    ):
        """Save a checkpoint; it becomes visible only once fully written."""
        checkpoint = super().save_checkpoint(
            meta=meta or {}, end_of_epoch=end_of_epoch, name=name, verbosity=verbosity
        )
        if not if_main_process() or checkpoint is None:
            return checkpoint
        staged = checkpoint.path
        final = staged.parent.parent / staged.name
        replace_folder(staged, final)
        shutil.rmtree(staged.parent, ignore_errors=True)
        return Checkpoint(
            final,
            checkpoint.meta,
            {key: final / path.name for key, path in checkpoint.paramfiles.items()},
        )


@register_checkpoint_hooks
class RNGState:
    """Checkpointable state of Python's, NumPy's and torch's generators.

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "rng.ckpt")
    >>> state = RNGState()
    >>> state.save(path)
    >>> first = torch.rand(1)
    >>> state.load(path)
    >>> bool(torch.rand(1) == first)
    True
    """

    @mark_as_saver
    def save(self, path):
        """Write every generator's state (tensors and numbers only)."""
        version, python_state, gauss = random.getstate()
        kind, keys, position, has_gauss, cached = np.random.get_state()
        state = {
            "python": [version, torch.tensor(python_state, dtype=torch.int64), gauss],
            "numpy": [
                kind,
                torch.from_numpy(keys.astype(np.int64)),
                position,
                has_gauss,
                cached,
            ],
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        torch.save(state, path)

    @mark_as_loader
    def load(self, path, end_of_epoch=False):
        """Restore every generator's state."""
        state = torch.load(path, weights_only=True)
        version, python_state, gauss = state["python"]
        random.setstate((version, tuple(python_state.tolist()), gauss))
        kind, keys, position, has_gauss, cached = state["numpy"]
        np.random.set_state(
            (kind, keys.numpy().astype(np.uint32), position, has_gauss, cached)
        )
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
