"""Generic corpus preparation: validated SpeechBrain JSON manifests.

A recipe's ``<corpus>_prepare.py`` declares its corpus's layout as a
``CorpusLayout`` (where the audio and the label file are, the columns, the
partition names) and calls ``prepare_corpus``, which validates every row and
audio file, reports every problem at once (naming the file), and writes one
JSON manifest per partition. Nothing in here knows a particular corpus.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import csv
import hashlib
import json
import logging
import math
import os
import random
from dataclasses import asdict, dataclass, field

import soundfile

from speechbrain_lora_ser.ccc import ATTRIBUTES

logger = logging.getLogger(__name__)

#: The partitions a recipe trains, selects and tests on.
SPLITS = ("train", "valid", "test")
INDEX_FILE = "manifests.json"


@dataclass(frozen=True)
class CorpusLayout:
    """Where a corpus keeps its audio and labels, and what its columns mean.

    Arguments
    ---------
    partitions : dict
        Maps ``train`` / ``valid`` / ``test`` to the corpus's partition names
        (several spellings allowed, e.g. ``Development`` and ``Validation``).
    other_partitions : tuple
        Further partitions, labeled or not (e.g. a challenge's unlabeled test
        set): prepared for prediction only.
    audio_folder : str
        Sub-folder with the audio files.
    label_files : tuple
        Candidate label files, relative to the corpus folder (first found wins).
    id_column, partition_column : str
        Column names of the file name and of the partition.
    attribute_columns : dict
        Column of each attribute (arousal, valence, dominance).

    Example
    -------
    >>> layout = CorpusLayout(
    ...     partitions={"train": ("Train",), "valid": ("Dev",), "test": ("Test",)},
    ...     other_partitions=("Blind",))
    >>> layout.all_partitions()
    ('Train', 'Dev', 'Test', 'Blind')
    >>> layout.split_of("Dev"), layout.split_of("Blind")
    ('valid', 'Blind')
    """

    partitions: dict
    other_partitions: tuple = ()
    audio_folder: str = "Audios"
    label_files: tuple = ("Labels/labels_consensus.csv",)
    id_column: str = "FileName"
    partition_column: str = "Split_Set"
    attribute_columns: dict = field(
        default_factory=lambda: {
            "arousal": "EmoAct",
            "valence": "EmoVal",
            "dominance": "EmoDom",
        }
    )

    def __post_init__(self):
        if set(self.partitions) != set(SPLITS):
            raise ValueError(
                f"partitions must map exactly {SPLITS}, got {sorted(self.partitions)}"
            )
        clash = set(self.other_partitions) & set(SPLITS)
        if clash:
            raise ValueError(f"other partitions may not be named {sorted(clash)}")

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


class CorpusError(ValueError):
    """Problems found while preparing a corpus, each naming its file.

    Arguments
    ---------
    source : str
        The corpus folder or label file.
    problems : list of tuple
        ``(file, problem)`` pairs.

    Example
    -------
    >>> print(CorpusError("corpus", [("a.wav", "audio file is missing")]))
    1 problem(s) in corpus:
      a.wav: audio file is missing
    Fix them, or pass --skip_invalid=True to leave those utterances out.
    """

    def __init__(self, source, problems):
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  {path}: {problem}" for path, problem in self.problems)
        super().__init__(
            f"{len(self.problems)} problem(s) in {source}:\n{lines}\n"
            "Fix them, or pass --skip_invalid=True to leave those utterances out."
        )


def find_label_file(data_folder, layout):
    """Return the label file of a corpus folder (any accepted spelling).

    Example
    -------
    >>> import tempfile
    >>> layout = CorpusLayout({"train": ("A",), "valid": ("B",), "test": ("C",)})
    >>> find_label_file(tempfile.mkdtemp(), layout)
    Traceback (most recent call last):
    ...
    speechbrain_lora_ser.corpus.CorpusError: 1 problem(s) in ...
    """
    for relative in layout.label_files:
        path = os.path.join(data_folder, relative)
        if os.path.isfile(path):
            return path
    raise CorpusError(
        data_folder,
        [
            (
                os.path.join(data_folder, layout.label_files[0]),
                "label file not found (looked for "
                + ", ".join(layout.label_files)
                + ")",
            )
        ],
    )


def _read_label_rows(label_file, layout):
    """Read the label file as ``(line, row)`` pairs, checking its columns."""
    try:
        with open(label_file, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            needed = [layout.id_column, layout.partition_column]
            needed += list(layout.attribute_columns.values())
            missing = [c for c in needed if c not in columns]
            if missing:
                raise CorpusError(
                    label_file,
                    [(label_file, f"malformed label file: missing columns {missing}")],
                )
            return [(reader.line_num, row) for row in reader]
    except (UnicodeDecodeError, csv.Error) as error:
        raise CorpusError(
            label_file, [(label_file, f"malformed label file: {error}")]
        ) from error


def _parse_labels(row, layout, label_range, where, problems):
    """Return the attribute values of a row (None when all are empty)."""
    cells = [
        (row.get(column) or "").strip() for column in layout.attribute_columns.values()
    ]
    if all(cell == "" for cell in cells):
        return None
    values = []
    low, high = label_range
    for name, cell in zip(layout.attribute_columns, cells, strict=True):
        if cell == "":
            problems.append((where, f"{name} label is missing"))
            return None
        try:
            value = float(cell)
        except ValueError:
            problems.append((where, f"{name} label {cell!r} is not a number"))
            return None
        if not (math.isfinite(value) and low <= value <= high):
            problems.append((where, f"{name} label {value} is outside [{low}, {high}]"))
            return None
        values.append(value)
    return values


def _audio_problem(path, min_duration):
    """Return ``(info, problem)`` for an audio file."""
    if not os.path.isfile(path):
        return None, "audio file is missing"
    try:
        info = soundfile.info(path)
    except Exception as error:  # soundfile raises several error types
        return None, f"audio file is unreadable ({error})"
    if info.frames == 0:
        return info, "audio file is empty"
    duration = info.frames / info.samplerate
    if duration < min_duration:
        return info, (
            f"audio is {duration:.3f} s long, shorter than the encoder's "
            f"receptive field ({min_duration} s)"
        )
    return info, None


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
        ``test`` and every other partition of the layout found in the file.
    problems : list
        ``(file, problem)`` pairs of every invalid row.
    resampled : int
        Number of files whose audio is not 16 kHz mono.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.demo_corpus import write_demo_corpus
    >>> layout = CorpusLayout({"train": ("Train",), "valid": ("Development",),
    ...     "test": ("Test",)})
    >>> folder = write_demo_corpus(tempfile.mkdtemp(), "english", layout, (2, 1, 1))
    >>> os.remove(os.path.join(folder, "Audios", "MSP-PODCAST_0000_0000.wav"))
    >>> utterances, problems, _ = collect_utterances(folder, layout)
    >>> {split: len(u) for split, u in utterances.items()}, problems[0][1]
    ({'train': 1, 'valid': 1, 'test': 1}, 'audio file is missing')
    """
    if not os.path.isdir(data_folder):
        raise CorpusError(data_folder, [(data_folder, "data_folder does not exist")])
    data_folder = os.path.abspath(data_folder)
    label_file = find_label_file(data_folder, layout)
    rows = _read_label_rows(label_file, layout)
    known = set(layout.all_partitions())
    utterances = {split: {} for split in SPLITS}
    problems, seen, resampled = [], {}, 0
    for line, row in rows:
        file_name = (row.get(layout.id_column) or "").strip()
        where = f"{label_file}:{line}"
        if not file_name:
            problems.append((where, "empty file name"))
            continue
        audio_path = os.path.join(data_folder, layout.audio_folder, file_name)
        partition = (row.get(layout.partition_column) or "").strip()
        if partition not in known:
            problems.append((audio_path, f"unknown partition {partition!r}"))
            continue
        utt_id = os.path.splitext(file_name)[0]
        if utt_id in seen:
            problems.append(
                (audio_path, f"duplicate ID {utt_id} (lines {seen[utt_id]} and {line})")
            )
            continue
        seen[utt_id] = line
        split = layout.split_of(partition)
        row_problems = []
        labels = _parse_labels(row, layout, label_range, audio_path, row_problems)
        if labels is None and not row_problems and split in ("train", "valid"):
            row_problems.append((audio_path, "labels are missing"))
        info, audio_problem = _audio_problem(audio_path, min_duration)
        if audio_problem:
            row_problems.append((audio_path, audio_problem))
        if row_problems:
            problems.extend(row_problems)
            continue
        if info.samplerate != 16000 or info.channels != 1:
            resampled += 1
        entry = {"wav": audio_path, "duration": info.frames / info.samplerate}
        for index, name in enumerate(ATTRIBUTES):
            entry[name] = None if labels is None else labels[index]
        utterances.setdefault(split, {})[utt_id] = entry
    return utterances, problems, resampled


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


def read_manifests(save_folder):
    """Manifest path of every partition a preparation wrote in ``save_folder``.

    Arguments
    ---------
    save_folder : str
        The ``save_folder`` given to ``prepare_corpus``.

    Returns
    -------
    dict
        ``{"train": path, "valid": path, "test": path, <other>: path, ...}``.

    Example
    -------
    >>> import tempfile
    >>> read_manifests(tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    FileNotFoundError: ...: no prepared manifests (run the data preparation)
    """
    index = os.path.join(save_folder, INDEX_FILE)
    if not os.path.isfile(index):
        raise FileNotFoundError(
            f"{index}: no prepared manifests (run the data preparation)"
        )
    with open(index, encoding="utf-8") as handle:
        names = json.load(handle)
    return {split: os.path.join(save_folder, name) for split, name in names.items()}


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
    """Validate a corpus and write its SpeechBrain JSON manifests.

    Nothing is written unless the whole corpus is valid (or ``skip_invalid``),
    so manifests from an earlier run are never lost. When the manifests exist
    and were made from the same files with the same options, the work is
    skipped.

    Arguments
    ---------
    data_folder : str
        Corpus folder.
    save_folder : str
        Where ``train.json``, ``valid.json``, ``test.json`` and one
        ``<partition>.json`` per other partition are written.
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
    >>> from speechbrain_lora_ser.demo_corpus import write_demo_corpus
    >>> layout = CorpusLayout({"train": ("Train",), "valid": ("Development",),
    ...     "test": ("Test",)})
    >>> folder = write_demo_corpus(tempfile.mkdtemp(), "english", layout, (3, 2, 2))
    >>> sorted(prepare_corpus(folder, tempfile.mkdtemp(), layout))
    ['test', 'train', 'valid']
    """
    options = {
        "data_folder": os.path.abspath(data_folder),
        "label_file": _label_file_identity(data_folder, layout),
        "audio_files": _audio_folder_identity(data_folder, layout),
        "layout": asdict(layout),
        "label_range": list(label_range),
        "train_subset": train_subset,
        "subset_seed": subset_seed,
        "skip_invalid": skip_invalid,
        "min_duration": min_duration,
    }
    options_file = os.path.join(save_folder, "prepare_options.json")
    if _already_prepared(save_folder, options_file, options):
        logger.info("manifests in %s are up to date", save_folder)
        return read_manifests(save_folder)

    utterances, problems, resampled = collect_utterances(
        data_folder, layout, label_range, min_duration
    )
    if problems and not skip_invalid:
        raise CorpusError(data_folder, problems)
    if problems:
        logger.warning(
            "%s: left out %d invalid utterance(s) (--skip_invalid):\n%s",
            data_folder,
            len(problems),
            "\n".join(f"  {path}: {problem}" for path, problem in problems),
        )
    if resampled:
        logger.warning(
            "%s: %d audio file(s) are not 16 kHz mono; they are resampled "
            "and mixed down when loaded",
            data_folder,
            resampled,
        )
    for split in ("train", "valid"):
        if not utterances[split]:
            raise CorpusError(
                data_folder, [(data_folder, f"no usable utterance in the {split} set")]
            )
    utterances["train"] = select_subset(utterances["train"], train_subset, subset_seed)
    os.makedirs(save_folder, exist_ok=True)
    names = {split: f"{split}.json" for split in utterances}
    for split, name in names.items():
        _write_json_atomically(os.path.join(save_folder, name), utterances[split])
    _write_json_atomically(os.path.join(save_folder, INDEX_FILE), names)
    _write_json_atomically(options_file, options)
    absent = [p for p in layout.other_partitions if p not in utterances]
    logger.info(
        "%s prepared: %s%s",
        data_folder,
        ", ".join(f"{s} {len(u)}" for s, u in utterances.items()),
        f" (partitions without any utterance: {', '.join(absent)})" if absent else "",
    )
    return read_manifests(save_folder)


def manifest_digest(entries):
    """Digest of manifest entries (IDs, files, durations, labels).

    Example
    -------
    >>> manifest_digest({"a": {"duration": 1.0}}) == manifest_digest(
    ...     {"a": {"duration": 1.0}})
    True
    """
    text = json.dumps(entries, sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _label_file_identity(data_folder, layout):
    """Path, size and modification time of the label file (None if absent)."""
    for relative in layout.label_files:
        path = os.path.join(data_folder, relative)
        if os.path.isfile(path):
            stat = os.stat(path)
            return [os.path.abspath(path), stat.st_size, stat.st_mtime_ns]
    return None


def _audio_folder_identity(data_folder, layout):
    """Digest of the names, sizes and modification times of the audio files.

    A stat of every file (no audio is read): fast even for 150K files, and
    any added, removed or rewritten file makes preparation run again.
    """
    folder = os.path.join(data_folder, layout.audio_folder)
    if not os.path.isdir(folder):
        return None
    digest = hashlib.sha1()
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        stat = entry.stat()
        digest.update(f"{entry.name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _already_prepared(save_folder, options_file, options):
    try:
        paths = read_manifests(save_folder)
    except FileNotFoundError:
        return False
    if not all(os.path.isfile(p) for p in paths.values()):
        return False
    if not os.path.isfile(options_file):
        return False
    with open(options_file, encoding="utf-8") as handle:
        return json.load(handle) == json.loads(json.dumps(options))


def _write_json_atomically(path, content):
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(content, handle, indent=2, ensure_ascii=False)
    os.replace(temporary, path)
