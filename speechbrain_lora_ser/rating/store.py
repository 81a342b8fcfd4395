"""The rating dataset: Parquet shard files, written atomically, resumable.

Layout of an output folder::

    rating.json             what was rated and how (model, windows, options)
    ratings/part-<shard>.parquet    one row per window and one per file
    failures/part-<shard>.parquet   file, reason: each file not rated

Every part file is written beside its final name and renamed when complete
(``speechbrain_lora_ser.atomic``), so a part file is either whole
or absent: a run killed at any moment leaves no partial shard, and a re-run
rates the files found in no part file, and those it is given again that
are in ``failures/`` (``forget_failures``: a repaired file gets its rows).
Files of a shard that fail go to ``failures/`` first, then the rest to
``ratings/``; a kill between the two loses the rated part of that shard
only, which the re-run rates again.

The columns are fixed (``RATING_SCHEMA``), so every part file has the same
schema and pandas, polars, DuckDB and Spark read the folder as one table.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import glob
import json
import os

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from speechbrain_lora_ser.atomic import replacing, write_text
from speechbrain_lora_ser.modeling.labels import ATTRIBUTES

RATINGS, FAILURES, SETTINGS = "ratings", "failures", "rating.json"

RATING_SCHEMA = pa.schema(
    [
        ("file", pa.string()),
        ("span", pa.string()),  # "window" or "file" (the summary)
        ("start", pa.float64()),
        ("end", pa.float64()),
        *[(name, pa.float64()) for name in ATTRIBUTES],
        ("label_low", pa.float64()),
        ("label_high", pa.float64()),
        ("speech_seconds", pa.float64()),
        ("language", pa.string()),
        ("language_probability", pa.float64()),
        ("not_learned", pa.list_(pa.string())),
        ("out_of_range", pa.list_(pa.string())),
        ("warning", pa.string()),
        ("shard", pa.string()),
    ]
)
FAILURE_SCHEMA = pa.schema(
    [("file", pa.string()), ("reason", pa.string()), ("shard", pa.string())]
)


def write_table(rows, schema, path):
    """Write rows (dicts) as a Parquet file, atomically.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "part.parquet")
    >>> write_table([{"file": "a.wav", "reason": "bad", "shard": "0"}],
    ...             FAILURE_SCHEMA, path)
    >>> pq.read_table(path).to_pylist()
    [{'file': 'a.wav', 'reason': 'bad', 'shard': '0'}]
    """
    table = pa.Table.from_pylist(
        [{name: row.get(name) for name in schema.names} for row in rows],
        schema=schema,
    )
    with replacing(path) as temporary:
        pq.write_table(table, temporary)


class RatingStore:
    """An output folder of ``ser-rate``.

    Arguments
    ---------
    folder : str
        Created if missing.

    Example
    -------
    >>> import tempfile
    >>> store = RatingStore(tempfile.mkdtemp())
    >>> store.write_shard("s1", [{"file": "a.wav", "span": "file"}],
    ...                   [{"file": "b.wav", "reason": "unreadable"}])
    >>> sorted(store.done_files())
    ['a.wav', 'b.wav']
    >>> store.failures().to_pylist()
    [{'file': 'b.wav', 'reason': 'unreadable', 'shard': 's1'}]
    """

    def __init__(self, folder):
        self.folder = folder
        for table in (RATINGS, FAILURES):
            os.makedirs(os.path.join(folder, table), exist_ok=True)

    def part(self, table, shard):
        """Path of a shard's part file of ``table``."""
        return os.path.join(self.folder, table, f"part-{shard}.parquet")

    def write_shard(self, shard, rows, failures):
        """Write a shard's failures, then its rows (each file atomically)."""
        if failures:
            failed = [dict(f, shard=shard) for f in failures]
            write_table(failed, FAILURE_SCHEMA, self.part(FAILURES, shard))
        if rows:
            rated = [dict(r, shard=shard) for r in rows]
            write_table(rated, RATING_SCHEMA, self.part(RATINGS, shard))

    def remove_partials(self):
        """Delete the partial files a killed run left; returns how many."""
        # ``atomic.replacing`` writes beside the part file, as ``*.tmp``
        partials = glob.glob(os.path.join(self.folder, "*", "*.tmp"))
        for path in partials:
            os.remove(path)
        return len(partials)

    def _parts(self, table="*"):
        return sorted(glob.glob(os.path.join(self.folder, table, "part-*.parquet")))

    def _read(self, table, schema, columns=None):
        paths = self._parts(table)
        if not paths:
            return schema.empty_table().select(columns or schema.names)
        return pads.dataset(paths, schema=schema).to_table(columns=columns)

    def ratings(self, columns=None):
        """All rows of ``ratings/`` (a ``pyarrow.Table``)."""
        return self._read(RATINGS, RATING_SCHEMA, columns)

    def failures(self):
        """All rows of ``failures/`` (a ``pyarrow.Table``)."""
        return self._read(FAILURES, FAILURE_SCHEMA)

    def forget_failures(self, files):
        """Take ``files`` out of ``failures/`` so a run rates them again.

        Each part file is rewritten without them (beside, then renamed) or
        deleted, so a kill at any moment leaves every failure either
        recorded or left to rate. Returns the files taken out.

        Example
        -------
        >>> import tempfile
        >>> store = RatingStore(tempfile.mkdtemp())
        >>> store.write_shard("s1", [], [{"file": "b.wav", "reason": "bad"},
        ...                              {"file": "c.wav", "reason": "bad"}])
        >>> store.forget_failures(["b.wav", "d.wav"])
        ['b.wav']
        >>> store.failures().column("file").to_pylist()
        ['c.wav']
        """
        wanted, forgotten = set(files), set()
        for path in self._parts(FAILURES):
            rows = pq.read_table(path, schema=FAILURE_SCHEMA).to_pylist()
            kept = [row for row in rows if row["file"] not in wanted]
            if len(kept) == len(rows):
                continue
            forgotten |= {row["file"] for row in rows} - {r["file"] for r in kept}
            if kept:
                write_table(kept, FAILURE_SCHEMA, path)
            else:
                os.remove(path)
        return sorted(forgotten)

    def done_files(self):
        """Files already in a part file: rated (a summary row) or failed."""
        rated = self.ratings(["file", "span"]).to_pylist()
        done = {row["file"] for row in rated if row["span"] == "file"}
        return done | set(self.failures().column("file").to_pylist())

    def check_settings(self, settings):
        """Record the run's settings, or refuse to resume with others.

        Settings under which nothing was rated or failed (a run stopped
        before its first shard) are replaced.

        Raises
        ------
        ValueError
            The folder holds ratings made with other settings.
        """
        path = os.path.join(self.folder, SETTINGS)
        if os.path.exists(path) and self._parts():
            with open(path, encoding="utf-8") as stream:
                previous = json.load(stream)
            if previous != settings:
                changed = sorted(
                    k
                    for k in previous.keys() | settings.keys()
                    if previous.get(k) != settings.get(k)
                )
                raise ValueError(
                    f"{self.folder} holds ratings made with other settings "
                    f"({', '.join(changed)} differ); use a new --output folder"
                )
            return
        write_text(path, json.dumps(settings, indent=2, sort_keys=True))
