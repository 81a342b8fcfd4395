"""Corpus preparation: a corpus release's label tables -> checked manifests.

A recipe's ``<corpus>_prepare.py`` describes its corpus as a
``CorpusLayout`` (where the audio and the label tables are, their format and
columns, the partition names) and calls ``prepare_corpus``, which reads the
tables, validates every row and audio file, reports every problem at once
(naming the table, line and utterance), and writes the manifest folder a
recipe trains on (``speechbrain_lora_ser.data.manifests``). Nothing in here knows
a particular corpus. A corpus no layout describes is prepared by a plain
function that calls ``write_manifests`` (same checks).

Authors
 * speechbrain-lora-ser contributors 2026
"""

import csv
import hashlib
import json
import logging
import os
import random
from dataclasses import asdict, dataclass, field

from speechbrain_lora_ser.data.manifests import (
    FOLDER_HINT,
    SPLITS,
    CorpusError,
    DuplicateKeyError,
    check_entries,
    read_manifests,
    read_record,
    refuse_duplicate_keys,
    refuse_or_skip,
    report_conversion,
    save_manifests,
)
from speechbrain_lora_ser.modeling.ccc import ATTRIBUTES

__all__ = [
    "CorpusLayout",
    "collect_utterances",
    "find_label_tables",
    "prepare_corpus",
    "nested_keys",
    "read_label_table",
    "select_subset",
]

logger = logging.getLogger(__name__)

#: The placeholder of a table-per-partition file name.
PARTITION_PLACEHOLDER = "{partition}"
#: Delimiters that are detected (or may be declared).
DELIMITERS = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
#: File-name endings read as JSON lines (or a JSON array of records).
JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")
LAYOUT_HINT = (
    "Check --data_folder and the corpus's CorpusLayout (in the recipe's "
    "prepare module)."
)
_ONE_TABLE_PARTITION_COLUMN = "Split_Set"


def _as_tuple(value):
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass(frozen=True)
class CorpusLayout:
    """Where a corpus keeps its audio and labels, and what its columns mean.

    One description covers the release styles people meet: one label table
    with a partition column (MSP-Podcast), or a table per partition (Common
    Voice, dataset-hub exports: put ``{partition}`` in the file name, the
    partition is then the file a row is in); delimited text (CSV, TSV, any
    delimiter, detected or declared) or JSON lines; audio paths relative to
    the audio folder (sub-folders allowed) or absolute; labels on any
    numeric scale (``label_range`` of ``prepare_corpus``); columns named
    freely.

    **Utterance IDs** are the audio path relative to the audio folder,
    without its extension, with ``/`` between folders (``spk03/utt_0001``
    for ``clips/spk03/utt_0001.flac``), so files that share a base name in
    different sub-folders keep distinct IDs; a file outside the audio folder
    (an absolute path elsewhere) has its absolute path without extension.
    ``utterance_id_column`` takes IDs from a column instead.

    Arguments
    ---------
    partitions : dict
        Maps ``train`` / ``valid`` / ``test`` to the corpus's partition names
        (several spellings allowed, e.g. ``Development`` and ``Validation``).
    other_partitions : tuple
        Further partitions, labeled or not (e.g. a challenge's unlabeled test
        set): prepared for prediction only.
    audio_folder : str
        Folder the audio paths of the table are relative to, itself relative
        to the corpus folder (``""``: the corpus folder). With
        ``{partition}`` in it, each partition's paths are relative to its own
        folder (``data/{partition}``: a dataset-hub ``audiofolder`` export,
        whose ``data/train/metadata.csv`` names ``spk1/a001.ogg`` in
        ``data/train/``); the IDs then start with the partition
        (``train/spk1/a001``), so a name used in two partitions stays two
        utterances.
    label_files : tuple
        Candidate label tables, relative to the corpus folder (first found
        wins: several spellings of one file). With ``{partition}`` in the
        name, one table per partition (``metadata/{partition}.tsv``: each
        partition name is tried in turn).
    id_column : str
        Column of each utterance's audio file (a path relative to
        ``audio_folder``, with sub-folders, or absolute).
    partition_column : str, optional
        Column of the partition, for one table; ``Split_Set`` when not
        given. Must stay unset for a table per partition.
    attribute_columns : dict
        Column of each attribute (arousal, valence, dominance).
    delimiter : str, optional
        Delimiter of a text table: ``,``, tab, ``;`` or ``|``. None: detected
        from the file (``csv.Sniffer``, checked against the header).
    label_format : str, optional
        ``csv`` (delimited text) or ``json`` (JSON lines, or a JSON array of
        records). None: ``json`` for ``.jsonl``, ``.json`` and ``.ndjson``
        files, else ``csv``.
    utterance_id_column : str, optional
        Column of the utterance IDs, when the corpus names them.

    **Nested keys.** In a JSON label file, every column argument may name a
    nested value with a dotted path: ``attribute_columns={"arousal":
    "emotion.arousal", ...}`` reads ``{"emotion": {"arousal": 3.2}}``, and
    ``id_column="audio.path"`` reads ``{"audio": {"path": "a.wav"}}``. A key
    that holds a dot itself (``{"emotion.arousal": 3.2}``) is read as it
    is. Delimited text has no nesting: its column names are matched as
    written. See ``docs/corpora.md``.

    Example
    -------
    >>> layout = CorpusLayout(
    ...     partitions={"train": ("Train",), "valid": ("Dev",), "test": ("Test",)},
    ...     other_partitions=("Blind",))
    >>> layout.all_partitions()
    ('Train', 'Dev', 'Test', 'Blind')
    >>> layout.split_of("Dev"), layout.split_of("Blind")
    ('valid', 'Blind')

    A table per partition (``metadata/train.tsv``, ``metadata/dev.tsv``...):

    >>> per_partition = CorpusLayout(
    ...     partitions={"train": "train", "valid": "dev", "test": "test"},
    ...     audio_folder="clips", label_files="metadata/{partition}.tsv",
    ...     id_column="path", attribute_columns={"arousal": "arousal",
    ...         "valence": "valence", "dominance": "dominance"})
    >>> per_partition.table_per_partition(), per_partition.partition_column
    (True, None)
    """

    partitions: dict
    other_partitions: tuple = ()
    audio_folder: str = "Audios"
    label_files: tuple = ("Labels/labels_consensus.csv",)
    id_column: str = "FileName"
    partition_column: str | None = None
    attribute_columns: dict = field(
        default_factory=lambda: {
            "arousal": "EmoAct",
            "valence": "EmoVal",
            "dominance": "EmoDom",
        }
    )
    delimiter: str | None = None
    label_format: str | None = None
    utterance_id_column: str | None = None

    def __post_init__(self):
        # Accept a bare string where a tuple of spellings is meant, instead
        # of iterating over its characters.
        partitions = {k: _as_tuple(v) for k, v in dict(self.partitions).items()}
        object.__setattr__(self, "partitions", partitions)
        object.__setattr__(self, "other_partitions", _as_tuple(self.other_partitions))
        object.__setattr__(self, "label_files", _as_tuple(self.label_files))
        object.__setattr__(self, "attribute_columns", dict(self.attribute_columns))
        if set(partitions) != set(SPLITS):
            raise ValueError(
                f"partitions must map exactly {SPLITS}, got {sorted(partitions)}"
            )
        if not all(partitions.values()):
            raise ValueError("every split needs at least one partition name")
        clash = set(self.other_partitions) & set(SPLITS)
        if clash:
            raise ValueError(f"other partitions may not be named {sorted(clash)}")
        if set(self.attribute_columns) != set(ATTRIBUTES):
            raise ValueError(
                f"attribute_columns must map exactly {ATTRIBUTES}, "
                f"got {sorted(self.attribute_columns)}"
            )
        if not self.label_files:
            raise ValueError("label_files is empty")
        placeholders = {PARTITION_PLACEHOLDER in name for name in self.label_files}
        if len(placeholders) > 1:
            raise ValueError(
                f"label_files mixes tables per partition and one table: "
                f"{self.label_files}"
            )
        if self.table_per_partition():
            if self.partition_column is not None:
                raise ValueError(
                    "a table per partition (label_files with {partition}) has no "
                    f"partition column: drop partition_column={self.partition_column!r}"
                )
        elif self.partition_column is None:
            object.__setattr__(self, "partition_column", _ONE_TABLE_PARTITION_COLUMN)
        if self.delimiter is not None and self.delimiter not in DELIMITERS:
            raise ValueError(
                f"delimiter {self.delimiter!r} is not one of "
                f"{', '.join(repr(d) for d in DELIMITERS)}"
            )
        if self.label_format not in (None, "csv", "json"):
            raise ValueError(
                f"label_format must be 'csv', 'json' or None, not {self.label_format!r}"
            )

    def table_per_partition(self):
        """Whether each partition has its own table (``{partition}`` in it)."""
        return PARTITION_PLACEHOLDER in self.label_files[0]

    def audio_root(self, data_folder, partition):
        """Return the folder a partition's audio paths are relative to.

        Example
        -------
        >>> layout = CorpusLayout({"train": "train", "valid": "validation",
        ...     "test": "test"}, audio_folder="data/{partition}",
        ...     label_files="data/{partition}/metadata.csv", id_column="file_name")
        >>> layout.audio_root("/corpus", "validation")
        '/corpus/data/validation'
        """
        folder = self.audio_folder.replace(PARTITION_PLACEHOLDER, partition)
        return os.path.normpath(os.path.join(data_folder, folder))

    def utterance_id(self, data_folder, partition, path):
        """Return the ID of an audio file: its path relative to the audio folder.

        Without extension, ``/`` between folders; prefixed with the partition
        when each partition has its own audio folder.

        Example
        -------
        >>> layout = CorpusLayout({"train": "train", "valid": "dev",
        ...     "test": "test"}, audio_folder="clips")
        >>> layout.utterance_id("/c", "train", "/c/clips/spk03/utt_0001.flac")
        'spk03/utt_0001'
        >>> layout.utterance_id("/c", "train", "/elsewhere/a.wav")
        '/elsewhere/a'
        >>> per_folder = CorpusLayout({"train": "train", "valid": "dev",
        ...     "test": "test"}, audio_folder="data/{partition}")
        >>> per_folder.utterance_id("/c", "test", "/c/data/test/spk1/a001.ogg")
        'test/spk1/a001'
        """
        audio_root = self.audio_root(data_folder, partition)
        relative = os.path.relpath(path, audio_root)
        if relative == os.pardir or relative.startswith(os.pardir + os.sep):
            return os.path.splitext(path)[0].replace(os.sep, "/")
        relative = os.path.splitext(relative)[0].replace(os.sep, "/")
        if PARTITION_PLACEHOLDER in self.audio_folder:
            return f"{partition}/{relative}"
        return relative

    def all_partitions(self):
        """Every partition name this layout knows."""
        names = [n for names in self.partitions.values() for n in names]
        return tuple(names) + tuple(self.other_partitions)

    def split_of(self, partition):
        """``train``/``valid``/``test`` for a split's partition, else its name."""
        for split, names in self.partitions.items():
            if partition in names:
                return split
        return partition

    def required_columns(self):
        """Return the columns every table must have."""
        columns = [self.id_column]
        if self.utterance_id_column:
            columns.append(self.utterance_id_column)
        if not self.table_per_partition():
            columns.append(self.partition_column)
        return columns + list(self.attribute_columns.values())

    def format_of(self, path):
        """``csv`` or ``json``: how the table at ``path`` is read."""
        if self.label_format:
            return self.label_format
        return "json" if path.lower().endswith(JSON_SUFFIXES) else "csv"


def find_label_tables(data_folder, layout):
    """Find the label tables of a corpus: ``[(path, partition or None)]``.

    With one table, the first spelling of ``label_files`` found, and
    ``None`` (the partition is a column). With a table per partition, every
    partition's table found (the first spelling of each); each split must
    have one.

    Arguments
    ---------
    data_folder : str
        The corpus folder.
    layout : CorpusLayout
        Its layout.

    Returns
    -------
    list of tuple

    Example
    -------
    >>> import tempfile
    >>> layout = CorpusLayout({"train": "train", "valid": ("dev", "valid"),
    ...     "test": "test"}, label_files="{partition}.tsv")
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("train", "valid", "test"):
    ...     open(os.path.join(folder, f"{name}.tsv"), "w").close()
    >>> [(os.path.basename(p), s) for p, s in find_label_tables(folder, layout)]
    [('train.tsv', 'train'), ('valid.tsv', 'valid'), ('test.tsv', 'test')]
    >>> os.remove(os.path.join(folder, "test.tsv"))
    >>> find_label_tables(folder, layout)
    Traceback (most recent call last):
    ...
    speechbrain_lora_ser.data.manifests.CorpusError: 1 problem(s) in ...
      ...: no label table of the test partition (looked for test.tsv)
    ...
    """
    if not layout.table_per_partition():
        return [_one_table(data_folder, layout)]
    tables, problems = [], []
    for split in (*SPLITS, None):
        tables += _partition_tables(data_folder, layout, split)
        if split and not any(p in layout.partitions[split] for _, p in tables):
            problems.append(_no_table_problem(data_folder, layout, split))
    if problems:
        raise CorpusError(data_folder, problems, hint=LAYOUT_HINT)
    return tables


def _one_table(data_folder, layout):
    """Return the first spelling of the one label table found, or refuse."""
    for relative in layout.label_files:
        path = os.path.join(data_folder, relative)
        if os.path.isfile(path):
            return path, None
    looked = ", ".join(layout.label_files)
    raise CorpusError(
        data_folder,
        [
            (
                os.path.join(data_folder, layout.label_files[0]),
                f"label file not found (looked for {looked})",
            )
        ],
        hint=LAYOUT_HINT,
    )


def _partition_tables(data_folder, layout, split):
    """Return the tables of a split (its first spelling found), or the others'."""
    names = layout.partitions[split] if split else layout.other_partitions
    tables = []
    for partition in names:
        candidates = [
            name.replace(PARTITION_PLACEHOLDER, partition)
            for name in layout.label_files
        ]
        found = [c for c in candidates if os.path.isfile(os.path.join(data_folder, c))]
        if found:
            tables.append((os.path.join(data_folder, found[0]), partition))
            if split:
                break
    return tables


def _no_table_problem(data_folder, layout, split):
    looked = [
        name.replace(PARTITION_PLACEHOLDER, partition)
        for partition in layout.partitions[split]
        for name in layout.label_files
    ]
    return (
        os.path.join(data_folder, looked[0]),
        f"no label table of the {split} partition (looked for {', '.join(looked)})",
    )


def _delimiter_name(delimiter):
    return DELIMITERS.get(delimiter, repr(delimiter))


def _declare(delimiter):
    return "delimiter='\\t'" if delimiter == "\t" else f"delimiter={delimiter!r}"


def _split_header(line, delimiter):
    return next(csv.reader([line], delimiter=delimiter)) if line else []


def _choose_delimiter(path, sample, needed, declared):
    """Return the delimiter of a text table, or raise a ``CorpusError`` saying why.

    ``csv.Sniffer`` guesses from how characters repeat over the first lines;
    the header must then contain the layout's columns. When it does not
    but another delimiter's header does (a text column full of commas can
    fool the sniffer), that delimiter is used; when none does, the error
    names the columns the header has and the delimiter it looks like.
    """
    header_line = sample.splitlines()[0] if sample else ""
    headers = {d: _split_header(header_line, d) for d in DELIMITERS}
    fitting = [d for d, columns in headers.items() if set(needed) <= set(columns)]
    if declared is not None:
        if declared in fitting:
            return declared
        columns = headers[declared]
        others = [d for d in fitting if d != declared]
        looks = others[0] if others else _looks_delimited(columns, declared)
        if looks is not None:
            message = (
                f"the header looks {_delimiter_name(looks)}-delimited, but the "
                f"layout declares delimiter {declared!r} "
                f"({_delimiter_name(declared)}): declare {_declare(looks)} in "
                "its CorpusLayout"
            )
        else:
            message = _missing_columns(needed, columns, declared)
        raise CorpusError(path, [(path, message)], hint=LAYOUT_HINT)
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        sniffed = None
    if sniffed in fitting:
        return sniffed
    if fitting:
        return fitting[0]
    guess = sniffed or max(DELIMITERS, key=lambda d: len(headers[d]))
    message = _missing_columns(needed, headers[guess], guess)
    if len(headers[guess]) <= 1:
        message += (
            " (the header is a single column: if the file is delimited by "
            "another character, declare it, e.g. delimiter='|')"
        )
    raise CorpusError(path, [(path, message)], hint=LAYOUT_HINT)


def _looks_delimited(columns, declared):
    """Return the delimiter a one-column header seems to use (None if unclear)."""
    if len(columns) != 1:
        return None
    counts = {d: columns[0].count(d) for d in DELIMITERS if d != declared}
    best = max(counts, key=counts.get)
    return best if counts[best] else None


def _missing_columns(needed, columns, delimiter=None):
    missing = [c for c in needed if c not in columns]
    read = f", read with delimiter {delimiter!r}" if delimiter is not None else ""
    return (
        f"malformed label file: missing columns {missing}; "
        f"the header has columns {columns}{read}"
    )


def _read_text_sample(path, size=65536):
    with open(path, newline="", encoding="utf-8-sig") as handle:
        sample = handle.read(size)
    if len(sample) == size and "\n" in sample:
        sample = sample[: sample.rindex("\n") + 1]  # whole lines only
    return sample


def _read_delimited(path, layout):
    """Rows of a delimited text table as ``(line, {column: cell})``."""
    needed = layout.required_columns()
    sample = _read_text_sample(path)
    delimiter = _choose_delimiter(path, sample, needed, layout.delimiter)
    # Tab-separated tables have no quoting convention, and Common Voice's
    # sentences hold unbalanced quotes that would swallow the following rows:
    # read tab-delimited cells verbatim.
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle, delimiter=delimiter, quoting=quoting)
        header = next(reader, [])
        rows = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            row = dict(zip(header, cells, strict=False))
            if len(cells) != len(header):
                row[None] = (
                    f"row has {len(cells)} field(s), the header has {len(header)} "
                    f"({_delimiter_name(delimiter)}-delimited)"
                )
            rows.append((reader.line_num, row))
    return rows


def nested_keys(record):
    """Return a JSON record with its nested values also under dotted keys.

    Releases often nest their labels (``{"emotion": {"arousal": 3}}``); a
    layout names such a value ``emotion.arousal``. A key that itself holds
    a dot keeps its value (it is not overwritten by a nested one).

    Example
    -------
    >>> nested_keys({"file": "a.wav", "emotion": {"arousal": 3, "x": {"y": 1}}})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'file': 'a.wav', 'emotion': {'arousal': 3, 'x': {'y': 1}},
     'emotion.arousal': 3, 'emotion.x': {'y': 1}, 'emotion.x.y': 1}
    """
    flat = dict(record)
    for key, value in record.items():
        if isinstance(value, dict):
            for inner, inner_value in nested_keys(value).items():
                flat.setdefault(f"{key}.{inner}", inner_value)
    return flat


def _read_json_records(path, layout):
    """Rows of a JSON lines table (or a JSON array of records)."""
    with open(path, encoding="utf-8-sig") as handle:
        text = handle.read()
    if text.lstrip().startswith("["):
        numbered = _json_array(path, text)
    else:
        numbered = _json_lines(path, text)
    rows, keys = [], set()
    for number, record in numbered:
        if isinstance(record, dict):
            record = nested_keys(record)
            keys.update(record)
            rows.append((number, record))
        else:
            problem = record if isinstance(record, str) else "record is not an object"
            rows.append((number, {None: problem}))
    missing = [c for c in layout.required_columns() if c not in keys]
    if missing:
        raise CorpusError(
            path,
            [
                (
                    path,
                    f"malformed label file: missing keys {missing}; the records "
                    f"have keys {sorted(keys)} (a nested value is named by its "
                    "dotted path, e.g. emotion.arousal)",
                )
            ],
            hint=LAYOUT_HINT,
        )
    return rows


def _json_array(path, text):
    """Return ``(number, record)`` of a JSON array of records; refuse bad JSON."""
    try:
        records = json.loads(text, object_pairs_hook=refuse_duplicate_keys)
    except DuplicateKeyError as error:
        raise CorpusError(
            path,
            [(path, f"a record names the key {error.key!r} twice")],
            hint=LAYOUT_HINT,
        ) from error
    except json.JSONDecodeError as error:
        raise CorpusError(
            path, [(path, f"malformed JSON label file: {error}")], hint=LAYOUT_HINT
        ) from error
    return list(enumerate(records, start=1))


def _json_lines(path, text):
    """Return ``(line, record or problem)`` of JSON lines; refuse other text."""
    numbered = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, object_pairs_hook=refuse_duplicate_keys)
        except DuplicateKeyError as error:
            record = f"the record names the key {error.key!r} twice"
        except json.JSONDecodeError as error:
            if not numbered:  # the first line already: not JSON lines at all
                raise CorpusError(
                    path,
                    [
                        (
                            path,
                            f"malformed JSON lines label file ({error}); if it "
                            "is delimited text, declare label_format='csv'",
                        )
                    ],
                    hint=LAYOUT_HINT,
                ) from error
            record = f"line is not valid JSON ({error})"
        numbered.append((number, record))
    return numbered


def read_label_table(path, layout):
    r"""Read a label table as ``(line, row)`` pairs, checking its columns.

    Arguments
    ---------
    path : str
        The table (delimited text or JSON lines, as the layout says).
    layout : CorpusLayout
        Its layout.

    Returns
    -------
    list of tuple
        ``(line number, {column: value})`` for every non-blank row; a row
        that cannot be read has its problem under the key ``None``.

    Raises
    ------
    CorpusError
        When the file cannot be read or lacks a column: the message lists
        the columns it has, and says so when the delimiter looks wrong.

    Example
    -------
    >>> import tempfile
    >>> layout = CorpusLayout({"train": "A", "valid": "B", "test": "C"},
    ...     id_column="path", delimiter=",")
    >>> path = os.path.join(tempfile.mkdtemp(), "labels.tsv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("path\tEmoAct\tEmoVal\tEmoDom\tSplit_Set\n")
    >>> try:
    ...     read_label_table(path, layout)
    ... except CorpusError as error:
    ...     print(error.problems[0][1])  # doctest: +NORMALIZE_WHITESPACE
    the header looks tab-delimited, but the layout declares delimiter ','
    (comma): declare delimiter='\t' in its CorpusLayout
    """
    try:
        if layout.format_of(path) == "json":
            return _read_json_records(path, layout)
        return _read_delimited(path, layout)
    except (UnicodeDecodeError, csv.Error) as error:
        raise CorpusError(
            path, [(path, f"malformed label file: {error}")], hint=LAYOUT_HINT
        ) from error


def _cell(row, column):
    """Return a cell as None (empty), a number, or the text it holds."""
    value = row.get(column)
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if value == "":
            return None
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _audio_path(audio_root, cell):
    return os.path.normpath(os.path.join(audio_root, cell))


def _row_partition(layout, table_partition, row):
    if table_partition is not None:
        return table_partition
    return str(row.get(layout.partition_column) or "").strip()


def _read_rows(data_folder, layout):
    """Return the tables, and every row of them as ``(where, partition, row)``.

    ``where`` is ``<table>:<line>``; ``partition`` is the table's partition
    (a table per partition) or None (a partition column).
    """
    tables, rows = find_label_tables(data_folder, layout), []
    for table, partition in tables:
        for line, row in read_label_table(table, layout):
            rows.append((f"{table}:{line}", partition, row))
    return [table for table, _ in tables], rows


def _rows_to_utterances(data_folder, layout, rows):
    """Manifest entries of the table rows, and the rows that cannot be one."""
    known = set(layout.all_partitions())
    utterances = {split: {} for split in SPLITS}
    locations, problems, lines = {}, [], {}
    for where, table_partition, row in rows:
        partition = _row_partition(layout, table_partition, row)
        file_name = str(row.get(layout.id_column) or "").strip()
        if file_name:
            path = _audio_path(layout.audio_root(data_folder, partition), file_name)
            utt_id = layout.utterance_id(data_folder, partition, path)
        else:
            path, utt_id = None, None
        if layout.utterance_id_column:
            utt_id = str(row.get(layout.utterance_id_column) or "").strip() or None
        here = f"{where} [{utt_id}]" if utt_id else where
        if None in row:
            problems.append((here, row[None]))
            continue
        if not file_name:
            problems.append((here, f"empty audio path ({layout.id_column})"))
            continue
        if utt_id is None:
            problems.append(
                (here, f"empty utterance ID ({layout.utterance_id_column})")
            )
            continue
        if partition not in known:
            problems.append(
                (
                    here,
                    f"unknown partition {partition!r} (the layout knows "
                    f"{', '.join(layout.all_partitions())})",
                )
            )
            continue
        if utt_id in lines:
            problems.append((here, f"duplicate ID {utt_id} (also {lines[utt_id]})"))
            continue
        lines[utt_id] = where
        entry, row_problems = {"wav": path}, []
        for name, column in layout.attribute_columns.items():
            value = _cell(row, column)
            if isinstance(value, str):
                hint = " (write decimals with a point)" if "," in value else ""
                row_problems.append(f"{name} label {value!r} is not a number{hint}")
            entry[name] = value
        if row_problems:
            problems.extend((here, problem) for problem in row_problems)
            continue
        split = layout.split_of(partition)
        utterances.setdefault(split, {})[utt_id] = entry
        locations[(split, utt_id)] = here
    return utterances, problems, locations


def collect_utterances(data_folder, layout, label_range=(1.0, 7.0), min_duration=0.025):
    """Validate a corpus folder and return its utterances per partition.

    Arguments
    ---------
    data_folder : str
        The corpus folder.
    layout : CorpusLayout
        Its layout.
    label_range : tuple of float
        Lowest and highest value of the annotation scale.
    min_duration : float
        Shortest usable audio, in seconds (the encoder's receptive field:
        400 samples at 16 kHz for WavLM and HuBERT).

    Returns
    -------
    utterances : dict
        ``{split: {id: entry}}`` for valid rows: ``train``, ``valid``,
        ``test`` and every other partition of the layout found.
    problems : list
        ``(where, problem)`` pairs of every invalid row; ``where`` names the
        table, line and utterance ID.
    resampled : int
        Number of files whose audio is not 16 kHz mono.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.synthetic.demo_corpus import write_demo_corpus
    >>> layout = CorpusLayout({"train": ("Train",), "valid": ("Development",),
    ...     "test": ("Test",)})
    >>> folder = write_demo_corpus(tempfile.mkdtemp(), "english", layout, (2, 1, 1),
    ...     speech=False)
    >>> os.remove(os.path.join(folder, "Audios", "MSP-PODCAST_0000_0000.wav"))
    >>> utterances, problems, _ = collect_utterances(folder, layout)
    >>> {split: len(u) for split, u in utterances.items()}
    {'train': 1, 'valid': 1, 'test': 1}
    >>> print(problems[0][0].split(os.sep)[-1], "-", problems[0][1].split(":")[0])
    labels_consensus.csv:2 [MSP-PODCAST_0000_0000] - audio file is missing
    """
    data_folder = _corpus_folder(data_folder)
    _, rows = _read_rows(data_folder, layout)
    _, valid, problems, resampled = _checked_rows(
        data_folder, layout, rows, label_range, min_duration
    )
    for split in SPLITS:
        valid.setdefault(split, {})
    return valid, problems, resampled


def _corpus_folder(data_folder):
    """Return the corpus folder, absolute; refuse one that does not exist."""
    if not os.path.isdir(data_folder):
        raise CorpusError(
            data_folder, [(data_folder, "data_folder does not exist")], hint=LAYOUT_HINT
        )
    return os.path.abspath(data_folder)


def _checked_rows(data_folder, layout, rows, label_range, min_duration):
    """Return the rows' entries, the valid ones, every problem, and resampled."""
    entries, problems, locations = _rows_to_utterances(data_folder, layout, rows)
    valid, row_problems, resampled = check_entries(
        entries,
        label_range,
        min_duration,
        where=lambda split, utt_id: locations[(split, utt_id)],
    )
    return entries, valid, problems + row_problems, resampled


def select_subset(entries, size, seed):
    """Return a reproducible subset of ``size`` manifest entries.

    The subset is a prefix of one fixed random permutation (given the
    entries and the seed), so a larger subset contains every smaller one,
    as a learning curve needs.

    Example
    -------
    >>> entries = {str(i): {} for i in range(10)}
    >>> small, large = select_subset(entries, 3, 1), select_subset(entries, 6, 1)
    >>> len(small), set(small) <= set(large)
    (3, True)
    """
    if size is None or size >= len(entries):
        return dict(entries)
    order = sorted(entries)
    random.Random(seed).shuffle(order)
    return {key: entries[key] for key in sorted(order[:size])}


def prepare_corpus(
    data_folder,
    save_folder,
    layout,
    label_range=(1.0, 7.0),
    train_subset=None,
    subset_seed=1234,
    skip_invalid=False,
    min_duration=0.025,
):
    """Validate a corpus and write its manifest folder.

    Nothing is written unless the whole corpus is valid (or ``skip_invalid``),
    so manifests from an earlier run are never lost. When the manifests exist
    and were made from the same files with the same options, the work is
    skipped (the record of what they were made from is the folder's hidden
    ``.prepared.json``).

    Arguments
    ---------
    data_folder : str
        Corpus folder.
    save_folder : str
        The manifest folder (``speechbrain_lora_ser.data.manifests``).
    layout : CorpusLayout
        The corpus layout (declared by the recipe's prepare module).
    label_range : tuple of float
        Lowest and highest value of the annotation scale.
    train_subset : int, optional
        Keep only this many training utterances (low-resource study).
    subset_seed : int
        Seed of the subset draw.
    skip_invalid : bool
        Leave invalid utterances out (and say how many) instead of stopping.
    min_duration : float
        Shortest usable audio in seconds.

    Returns
    -------
    dict
        Manifest path per partition (as ``read_manifests`` returns them).

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.synthetic.demo_corpus import write_demo_corpus
    >>> layout = CorpusLayout({"train": ("Train",), "valid": ("Development",),
    ...     "test": ("Test",)})
    >>> folder = write_demo_corpus(tempfile.mkdtemp(), "english", layout, (3, 2, 2))
    >>> sorted(prepare_corpus(folder, tempfile.mkdtemp(), layout))
    ['test', 'train', 'valid']
    """
    settings = {
        "train_subset": train_subset,
        "subset_seed": subset_seed,
        "skip_invalid": skip_invalid,
        "min_duration": min_duration,
    }
    data_folder, rows, options = _read_corpus(
        data_folder, layout, label_range, settings
    )
    if _already_prepared(save_folder, options):
        logger.info("manifests in %s are up to date", save_folder)
        return read_manifests(save_folder)
    utterances = _usable_utterances(
        data_folder, layout, rows, label_range, min_duration, skip_invalid
    )
    utterances["train"] = select_subset(utterances["train"], train_subset, subset_seed)
    paths = save_manifests(save_folder, utterances, options=_jsonable(options))
    _log_prepared(data_folder, layout, utterances, paths)
    return read_manifests(save_folder)


def _read_corpus(data_folder, layout, label_range, settings):
    """Return the corpus folder, its rows, and what manifests are made from.

    The last (``.prepared.json``'s options): the folder, its files' sizes and
    times, the layout, the scale and the preparation's ``settings``.
    """
    low, high = label_range
    if not low < high:
        raise ValueError(
            f"label_range {label_range}: the low end must be below the high"
        )
    data_folder = _corpus_folder(data_folder)
    tables, rows = _read_rows(data_folder, layout)
    options = {
        "data_folder": data_folder,
        "files": _files_identity(data_folder, layout, tables, rows),
        "layout": asdict(layout),
        "label_range": [low, high],
        **settings,
    }
    return data_folder, rows, options


def _log_prepared(data_folder, layout, utterances, paths):
    absent = [p for p in layout.other_partitions if layout.split_of(p) not in paths]
    logger.info(
        "%s prepared: %s%s",
        data_folder,
        ", ".join(f"{s} {len(u)}" for s, u in utterances.items()),
        f" (partitions without any utterance: {', '.join(absent)})" if absent else "",
    )


def _usable_utterances(
    data_folder, layout, rows, label_range, min_duration, skip_invalid
):
    """Return the valid utterances per split; refuse bad rows or leave them out."""
    entries, utterances, problems, resampled = _checked_rows(
        data_folder, layout, rows, label_range, min_duration
    )
    refuse_or_skip(data_folder, entries, problems, label_range, skip_invalid)
    report_conversion(data_folder, resampled)
    empty = [
        (data_folder, f"no usable utterance in the {split} set")
        for split in ("train", "valid")
        if not utterances.get(split)
    ]
    if empty:
        raise CorpusError(data_folder, empty, hint=FOLDER_HINT)
    for split in SPLITS:
        utterances.setdefault(split, {})
    return utterances


def _stat(path):
    try:
        stat = os.stat(path)
    except OSError:
        return "absent"
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _files_identity(data_folder, layout, tables, rows):
    """Digest of the tables' and referenced audio files' sizes and times.

    A stat of every file (no audio is read): fast even for 150K files, and
    any added, removed or rewritten table or audio file makes preparation
    run again.
    """
    digest = hashlib.sha1()
    paths = sorted(
        _audio_path(
            layout.audio_root(data_folder, _row_partition(layout, partition, row)),
            str(row[layout.id_column]).strip(),
        )
        for _, partition, row in rows
        if row.get(layout.id_column)
    )
    for path in sorted(tables) + paths:
        digest.update(f"{path}:{_stat(path)}\n".encode())
    return digest.hexdigest()


def _jsonable(options):
    return json.loads(json.dumps(options))


def _already_prepared(save_folder, options):
    record = read_record(save_folder)
    if not record or record.get("options") != _jsonable(options):
        return False
    paths = [
        os.path.join(save_folder, f"{p}.json") for p in record.get("partitions", [])
    ]
    if not all(os.path.isfile(p) for p in paths):
        return False
    try:
        return set(read_manifests(save_folder).values()) == set(paths)
    except FileNotFoundError:
        return False
