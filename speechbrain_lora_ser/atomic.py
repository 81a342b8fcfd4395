"""Writing files and folders so that a killed command leaves the old ones.

Every file the package writes for a user (manifests, results, exported
models, banks, rating tables) is written beside its final path and renamed
into place (``os.replace``, atomic on one filesystem): a reader sees the old
version or the new one, never half of one. This module is the one place
that does it.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import contextlib
import json
import os
import shutil

#: The suffix of a folder's old version while the new one is switched in.
PREVIOUS = ".previous"


@contextlib.contextmanager
def replacing(path):
    """Yield a temporary path beside ``path``; on success it becomes ``path``.

    The temporary file is removed when the body raises, so a failed write
    leaves ``path`` as it was and nothing beside it.

    Arguments
    ---------
    path : str
        The file to write.

    Yields
    ------
    temporary : str
        Where to write (in the same folder, so the rename stays atomic).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> with replacing(path) as temporary:
    ...     _ = open(temporary, "w").write("new")
    >>> open(path).read()
    'new'
    """
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.lexists(temporary):
            os.remove(temporary)


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> write_text(path, "hello")
    >>> open(path).read()
    'hello'
    """
    with replacing(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as stream:
            stream.write(text)


def write_json(path, content):
    """Write ``content`` as indented JSON (and a final newline) atomically.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.json")
    >>> write_json(path, {"ccc": 0.5})
    >>> json.load(open(path))
    {'ccc': 0.5}
    """
    write_text(path, json.dumps(content, indent=2) + "\n")


def save_torch(state, path):
    """``torch.save`` ``state`` to ``path`` atomically.

    Example
    -------
    >>> import tempfile, torch
    >>> path = os.path.join(tempfile.mkdtemp(), "w.ckpt")
    >>> save_torch({"w": torch.ones(2)}, path)
    >>> torch.load(path)["w"].tolist()
    [1.0, 1.0]
    """
    import torch  # here: the ONNX runtime imports this module without torch

    with replacing(path) as temporary:
        torch.save(state, temporary)


def previous_folder(folder):
    """Where ``folder``'s old version waits while a new one is switched in.

    Example
    -------
    >>> previous_folder("/data/bank/")
    '/data/bank.previous'
    """
    return os.path.abspath(folder).rstrip(os.sep) + PREVIOUS


def replace_folder(staging, folder):
    """Put the finished ``staging`` folder in place of ``folder``.

    Two renames: the old folder to ``<folder>.previous``, the new one to
    ``<folder>``; then the old one is deleted. POSIX has no atomic exchange
    of two folders, hence the two steps: a kill between them leaves
    ``<folder>.previous``, which ``recover_folder`` renames back.

    Arguments
    ---------
    staging : str
        The new version, complete (on the same filesystem as ``folder``).
    folder : str
        The folder to replace (it may not exist yet).

    Example
    -------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> old, new = os.path.join(root, "model"), os.path.join(root, "new")
    >>> os.makedirs(old); os.makedirs(new)
    >>> write_text(os.path.join(new, "v"), "2")
    >>> replace_folder(new, old)
    >>> open(os.path.join(old, "v")).read(), sorted(os.listdir(root))
    ('2', ['model'])
    """
    previous = previous_folder(folder)
    shutil.rmtree(previous, ignore_errors=True)
    if os.path.exists(folder):
        os.replace(folder, previous)
    os.replace(staging, folder)
    shutil.rmtree(previous, ignore_errors=True)


def recover_folder(folder):
    """Restore ``folder``'s old version when a switch was killed midway.

    Returns
    -------
    restored : bool
        True when ``<folder>.previous`` was renamed back to ``folder``.

    Example
    -------
    >>> import tempfile
    >>> folder = os.path.join(tempfile.mkdtemp(), "bank")
    >>> os.makedirs(previous_folder(folder))
    >>> recover_folder(folder), os.path.isdir(folder)
    (True, True)
    """
    previous = previous_folder(folder)
    restored = os.path.isdir(previous) and not os.path.exists(folder)
    if restored:
        os.replace(previous, folder)
    return restored
