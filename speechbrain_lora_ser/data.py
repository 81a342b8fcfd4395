"""Corpus preparation for the MSP-Podcast layout (shared by BIIC-Podcast).

A corpus folder holds ``Audios/<FileName>`` and ``Labels/labels_consensus.csv``
(``FileName, EmoAct, EmoVal, EmoDom, ..., Split_Set``). ``prepare_corpus``
validates every row and audio file, reports every problem at once (naming the
file), and writes SpeechBrain JSON manifests per partition. Column and
partition names live in one ``CorpusLayout`` per corpus, so another release is
a small change.

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
import torch

from speechbrain_lora_ser.ccc import ATTRIBUTES

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class CorpusLayout:
    """Where a corpus keeps its audio and labels, and what its columns mean.

    Arguments
    ---------
    name : str
        Corpus name used in results (``MSP-Podcast``).
    partitions : dict
        Maps ``train`` / ``valid`` / ``test`` to the corpus's partition names
        (several spellings allowed, e.g. ``Development`` and ``Validation``).
    other_partitions : tuple
        Known partitions that are not used by default (not an error).
    audio_folder : str
        Sub-folder with the audio files.
    label_files : tuple
        Candidate label files, relative to the corpus folder (first found wins).
    id_column, partition_column : str
        Column names of the file name and of the partition.
    attribute_columns : dict
        Column of each attribute (arousal, valence, dominance).
    scale : tuple
        Lowest and highest value of the annotation scale.

    Example
    -------
    >>> MSP_PODCAST.partitions["valid"]
    ('Development', 'Validation')
    >>> "Test3" in MSP_PODCAST.all_partitions()
    True
    """

    name: str
    partitions: dict
    other_partitions: tuple = ()
    audio_folder: str = "Audios"
    label_files: tuple = (
        "Labels/labels_consensus.csv",
        "Labels/labels_concensus.csv",
    )
    id_column: str = "FileName"
    partition_column: str = "Split_Set"
    attribute_columns: dict = field(
        default_factory=lambda: {
            "arousal": "EmoAct",
            "valence": "EmoVal",
            "dominance": "EmoDom",
        }
    )
    scale: tuple = (1.0, 7.0)

    def all_partitions(self):
        """Every partition name this layout knows."""
        names = [n for names in self.partitions.values() for n in names]
        return tuple(names) + tuple(self.other_partitions)


MSP_PODCAST = CorpusLayout(
    name="MSP-Podcast",
    partitions={
        "train": ("Train",),
        "valid": ("Development", "Validation"),
        "test": ("Test1",),
    },
    other_partitions=("Test2", "Test3"),
)

BIIC_PODCAST = CorpusLayout(
    name="BIIC-Podcast",
    partitions={"train": ("Train",), "valid": ("Development",), "test": ("Test",)},
)

LAYOUTS = {layout.name: layout for layout in (MSP_PODCAST, BIIC_PODCAST)}


class LabelScaler:
    """Maps labels between the corpus scale and the model's 0-1 range.

    Arguments
    ---------
    low, high : float
        Ends of the annotation scale (1 and 7 for both podcast corpora).

    Example
    -------
    >>> scaler = LabelScaler(1.0, 7.0)
    >>> scaler.scale(torch.tensor([1.0, 4.0, 7.0]))
    tensor([0.0000, 0.5000, 1.0000])
    >>> scaler.unscale(torch.tensor([0.5]))
    tensor([4.])
    """

    def __init__(self, low=1.0, high=7.0):
        if not high > low:
            raise ValueError(f"label scale must have high > low, got {low}, {high}")
        self.low, self.high = float(low), float(high)

    def scale(self, values):
        """Corpus scale -> model range."""
        return (values - self.low) / (self.high - self.low)

    def unscale(self, values):
        """Model range -> corpus scale."""
        return values * (self.high - self.low) + self.low


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
    """Return the label file of a corpus folder (either spelling).

    Example
    -------
    >>> import tempfile
    >>> find_label_file(tempfile.mkdtemp(), MSP_PODCAST)
    Traceback (most recent call last):
    ...
    speechbrain_lora_ser.data.CorpusError: 1 problem(s) in ...
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


def read_label_rows(label_file, layout):
    """Read the label file into a list of dicts, checking its columns."""
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


def _parse_labels(row, layout, where, problems):
    """Return the attribute values of a row (None when all are empty)."""
    cells = [
        (row.get(column) or "").strip() for column in layout.attribute_columns.values()
    ]
    if all(cell == "" for cell in cells):
        return None
    values = []
    low, high = layout.scale
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


def collect_utterances(data_folder, layout, min_duration=0.025):
    """Validate a corpus folder and return its utterances per split.

    Arguments
    ---------
    data_folder : str
        The corpus folder.
    layout : CorpusLayout
        Its layout.
    min_duration : float
        Shortest usable audio, in seconds (the encoder's receptive field:
        400 samples at 16 kHz for WavLM and HuBERT).

    Returns
    -------
    utterances : dict
        ``{split: {id: entry}}`` for valid rows.
    problems : list
        ``(file, problem)`` pairs of every invalid row.
    resampled : int
        Number of files whose audio is not 16 kHz mono.
    """
    if not os.path.isdir(data_folder):
        raise CorpusError(data_folder, [(data_folder, "data_folder does not exist")])
    label_file = find_label_file(data_folder, layout)
    rows = read_label_rows(label_file, layout)
    split_of = {
        name: split for split, names in layout.partitions.items() for name in names
    }
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
        if partition not in split_of:
            continue
        split = split_of[partition]
        row_problems = []
        labels = _parse_labels(row, layout, audio_path, row_problems)
        if labels is None and not row_problems and split != "test":
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
        utterances[split][utt_id] = entry
    return utterances, problems, resampled


def select_subset(entries, size, seed):
    """Return a reproducible random subset of ``size`` manifest entries.

    Example
    -------
    >>> entries = {str(i): {} for i in range(10)}
    >>> sorted(select_subset(entries, 3, seed=1)) == sorted(
    ...     select_subset(entries, 3, seed=1))
    True
    >>> len(select_subset(entries, 3, seed=1))
    3
    """
    if size is None or size >= len(entries):
        return dict(entries)
    chosen = random.Random(seed).sample(sorted(entries), size)
    return {key: entries[key] for key in sorted(chosen)}


def manifest_paths(save_folder):
    """Paths of the train / valid / test manifests in ``save_folder``.

    Example
    -------
    >>> manifest_paths("m")["valid"]
    'm/valid.json'
    """
    return {split: os.path.join(save_folder, f"{split}.json") for split in SPLITS}


def prepare_corpus(
    data_folder,
    save_folder,
    layout,
    train_subset=None,
    subset_seed=1234,
    skip_invalid=False,
    min_duration=0.025,
):
    """Validate a corpus and write its SpeechBrain JSON manifests.

    Nothing is written unless the whole corpus is valid (or ``skip_invalid``),
    so manifests from an earlier run are never lost. When the manifests exist
    and were made with the same options, the work is skipped.

    Arguments
    ---------
    data_folder : str
        Corpus folder (``Audios/``, ``Labels/labels_consensus.csv``).
    save_folder : str
        Where ``train.json``, ``valid.json`` and ``test.json`` are written.
    layout : CorpusLayout or str
        The corpus layout, or its name (``MSP-Podcast``, ``BIIC-Podcast``).
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
        Manifest path per split.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_lora_ser.demo_corpus import write_demo_corpus
    >>> folder = write_demo_corpus(tempfile.mkdtemp(), "english", (3, 2, 2))
    >>> paths = prepare_corpus(folder, tempfile.mkdtemp(), "MSP-Podcast")
    >>> sorted(paths)
    ['test', 'train', 'valid']
    """
    if isinstance(layout, str):
        layout = LAYOUTS[layout]
    paths = manifest_paths(save_folder)
    options = {
        "data_folder": os.path.abspath(data_folder),
        "label_file": _label_file_identity(data_folder, layout),
        "audio_files": _audio_folder_identity(data_folder, layout),
        "layout": asdict(layout),
        "train_subset": train_subset,
        "subset_seed": subset_seed,
        "skip_invalid": skip_invalid,
        "min_duration": min_duration,
    }
    options_file = os.path.join(save_folder, "prepare_options.json")
    if _already_prepared(paths, options_file, options):
        logger.info("%s manifests in %s are up to date", layout.name, save_folder)
        return paths

    utterances, problems, resampled = collect_utterances(
        data_folder, layout, min_duration
    )
    if problems and not skip_invalid:
        raise CorpusError(data_folder, problems)
    if problems:
        logger.warning(
            "%s: left out %d invalid utterance(s) (--skip_invalid):\n%s",
            layout.name,
            len(problems),
            "\n".join(f"  {path}: {problem}" for path, problem in problems),
        )
    if resampled:
        logger.warning(
            "%s: %d audio file(s) are not 16 kHz mono; they are resampled "
            "and mixed down when loaded",
            layout.name,
            resampled,
        )
    for split in ("train", "valid"):
        if not utterances[split]:
            raise CorpusError(
                data_folder, [(data_folder, f"no usable utterance in the {split} set")]
            )
    utterances["train"] = select_subset(utterances["train"], train_subset, subset_seed)
    os.makedirs(save_folder, exist_ok=True)
    for split, path in paths.items():
        _write_json_atomically(path, utterances[split])
    _write_json_atomically(options_file, options)
    logger.info(
        "%s prepared: %s",
        layout.name,
        ", ".join(f"{s} {len(utterances[s])}" for s in SPLITS),
    )
    return paths


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


def _already_prepared(paths, options_file, options):
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


def load_audio(path, sample_rate=16000):
    """Read an audio file as a mono float32 tensor at ``sample_rate``.

    Several channels are averaged; other sample rates are resampled.

    Arguments
    ---------
    path : str
        Any format ``soundfile`` reads.
    sample_rate : int
        Target sample rate.

    Returns
    -------
    torch.Tensor
        ``[samples]`` waveform.

    Example
    -------
    >>> import tempfile, numpy
    >>> path = os.path.join(tempfile.mkdtemp(), "stereo.wav")
    >>> soundfile.write(path, numpy.zeros((8000, 2), dtype="float32"), 8000)
    >>> load_audio(path).shape  # 1 s, mono, 16 kHz
    torch.Size([16000])
    """
    import torchaudio.functional

    try:
        samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except Exception as error:
        raise RuntimeError(f"{path}: unreadable audio ({error})") from error
    if samples.shape[0] == 0:
        raise RuntimeError(f"{path}: audio file is empty")
    wav = torch.from_numpy(samples).mean(dim=1)
    if rate != sample_rate:
        wav = torchaudio.functional.resample(wav, rate, sample_rate)
    return wav
