"""Units of work: recordings grouped into shards named by their content.

A shard's name is a hash of its files' paths, so that the same files make
the same shard in every run; its output is written as one Parquet file per
table, renamed into place when complete (``store``). A re-run leaves out
every file already in the dataset and shards the rest anew.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import hashlib
from typing import NamedTuple


class Shard(NamedTuple):
    """Recordings rated and written together."""

    name: str
    files: list
    seconds: float


def shard_name(files):
    """Return a stable name for a set of files (16 hex digits of SHA-1).

    Example
    -------
    >>> shard_name(["/a.wav", "/b.wav"]) == shard_name(["/b.wav", "/a.wav"])
    True
    >>> len(shard_name(["/a.wav"]))
    16
    """
    digest = hashlib.sha1("\n".join(sorted(files)).encode("utf-8"))
    return digest.hexdigest()[:16]


def make_shards(files, seconds, files_per_shard=None, seconds_per_shard=600.0):
    """Group files in order into shards of about ``seconds_per_shard`` of audio.

    Arguments
    ---------
    files : list of str
        Files to rate, in order.
    seconds : list of float or None
        Their durations (None: unknown, counted as 0).
    files_per_shard : int, optional
        At most this many files per shard.
    seconds_per_shard : float
        A shard closes once it holds this much audio.

    Returns
    -------
    list of Shard

    Example
    -------
    >>> shards = make_shards(["a", "b", "c"], [400.0, 400.0, None])
    >>> [(s.files, s.seconds) for s in shards]
    [(['a', 'b'], 800.0), (['c'], 0.0)]
    >>> [s.files for s in make_shards(["a", "b", "c"], [1, 1, 1], files_per_shard=2)]
    [['a', 'b'], ['c']]
    """
    shards, batch, total = [], [], 0.0

    def close():
        shards.append(Shard(shard_name(batch), list(batch), total))

    for path, duration in zip(files, seconds, strict=True):
        batch.append(path)
        total += duration or 0.0
        full = files_per_shard is not None and len(batch) >= files_per_shard
        if full or total >= seconds_per_shard:
            close()
            batch, total = [], 0.0
    if batch:
        close()
    return shards
