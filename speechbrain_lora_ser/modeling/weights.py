"""Strict weight loading: every parameter from the checkpoint, or an error.

SpeechBrain's ``Pretrainer`` loads with ``strict=False``: a ``head.ckpt``
holding an empty state dict loads with a warning and the model serves its
random initial weights. ``load_strict`` refuses that, naming the file and
the missing keys, and turns a truncated or corrupt file (PyTorch's
``PytorchStreamReader`` and unpickling errors) into a ``CheckpointError``
naming the file. ``strict_hooks`` plugs it into a ``Pretrainer``.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import os
import pickle
import zipfile

import torch


class CheckpointError(ValueError):
    """A checkpoint file is unreadable, empty or does not fit its model."""


def read_state(path):
    """Read the state dict in ``path`` (``weights_only=True``), or refuse it.

    Raises
    ------
    CheckpointError
        Naming ``path`` when it is truncated, corrupt, not a state dict or
        empty.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "head.ckpt")
    >>> torch.save({}, path)
    >>> try:
    ...     read_state(path)
    ... except CheckpointError as error:
    ...     print(str(error).split(": ", 1)[1])
    holds no weights (an empty state dict)
    """
    path = str(path)
    real = os.path.realpath(path)
    if real != path:  # SpeechBrain's savedir links to the model's files
        path = f"{path} (-> {real})"
    try:
        state = torch.load(real, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except (
        RuntimeError,
        OSError,
        EOFError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
    ) as e:
        raise CheckpointError(
            f"{path}: truncated or corrupt checkpoint ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''})"
        ) from e
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a state dict ({type(state).__name__})")
    if not state:
        raise CheckpointError(f"{path}: holds no weights (an empty state dict)")
    return state


def load_strict(module, path):
    """Load ``path`` into ``module``; every parameter must come from it.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "head.ckpt")
    >>> torch.save(torch.nn.Linear(2, 1).state_dict(), path)
    >>> load_strict(torch.nn.Linear(2, 1), path)
    >>> load_strict(torch.nn.Linear(3, 1), path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    speechbrain_lora_ser.modeling.weights.CheckpointError: ...head.ckpt: does not fit...
    """
    state = read_state(path)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(
            f"{path}: does not fit {type(module).__name__}: {e}"
        ) from None


def _strict_hook(obj, path):
    load_strict(obj, path)


def strict_hooks(pretrainer):
    """Make ``pretrainer`` load each torch module strictly (``load_strict``).

    Arguments
    ---------
    pretrainer : speechbrain.utils.parameter_transfer.Pretrainer
    """
    for name, obj in pretrainer.loadables.items():
        if isinstance(obj, torch.nn.Module) and name not in pretrainer.custom_hooks:
            pretrainer.custom_hooks[name] = _strict_hook
