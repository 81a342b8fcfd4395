"""SpeechBrain JSON manifests: the contract between a corpus and a recipe.

A recipe trains on a *manifest folder*, whoever wrote it: this package's
``prepare_corpus`` (from a label table described by a ``CorpusLayout``), a
user's own prepare function through ``write_manifests``, or a hand-written
set of files. The rule is simple:

* every ``<partition>.json`` in the folder whose name does not start with a
  dot is a partition: ``train.json``, ``valid.json`` and ``test.json`` are
  required; any other (``Test2.json``, ``blind.json``...) is predicted only.
  Files whose name starts with a dot (``.prepared.json``, the preparation's
  record) are not partitions; keep nothing else in the folder.
* each manifest maps an utterance ID (unique over all partitions) to
  ``{"wav": path, "duration": seconds, "arousal": value or null,
  "valence": ..., "dominance": ...}``; other keys are kept. ``null`` labels
  (all three) mark an unlabeled utterance: allowed in ``test`` and other
  partitions, not in ``train`` and ``valid``. Labels are numbers on the
  corpus's scale (``label_range``).
* ``wav`` is an absolute path, or starts with ``{data_root}/``, SpeechBrain's
  convention for manifests that move with their corpus: ``{data_root}`` is
  replaced by the corpus folder when the manifest is read
  (``DynamicItemDataset.from_json(..., replacements={"data_root": folder})``).
  A bare relative path is refused (it would depend on the working
  directory). SpeechBrain's JSON reader formats every string value, so no
  other ``{...}`` may appear in a string value.

``check_manifests`` validates such a folder exactly like a preparation
validates its rows, and raises a ``CorpusError`` listing every bad entry
with its manifest and utterance ID.

Example
-------
A prepare function for a corpus no layout describes (one folder per
partition, a ``<name>.txt`` of ``arousal valence dominance`` beside each
WAV file) hands its utterances to ``write_manifests``:

>>> import glob
>>> def prepare_my_corpus(data_folder, save_folder):
...     utterances = {}
...     for partition in ("train", "valid", "test"):
...         utterances[partition] = {}
...         pattern = os.path.join(data_folder, partition, "*.wav")
...         for wav in sorted(glob.glob(pattern)):
...             with open(wav[: -len(".wav")] + ".txt") as f:
...                 arousal, valence, dominance = map(float, f.read().split())
...             utt_id = f"{partition}/{os.path.basename(wav)[:-4]}"
...             utterances[partition][utt_id] = {"wav": wav,
...                 "arousal": arousal, "valence": valence,
...                 "dominance": dominance}
...     return write_manifests(save_folder, utterances, label_range=(1, 5))

Used on a small corpus in that layout:

>>> import tempfile, numpy
>>> corpus = tempfile.mkdtemp()
>>> for partition in ("train", "valid", "test"):
...     os.makedirs(os.path.join(corpus, partition))
...     base = os.path.join(corpus, partition, "utt1")
...     soundfile.write(base + ".wav", numpy.zeros(8000, "float32"), 16000)
...     with open(base + ".txt", "w") as f:
...         _ = f.write("3.5 2.0 4.0")
>>> paths = prepare_my_corpus(corpus, os.path.join(corpus, "manifests"))
>>> with open(paths["valid"]) as f:
...     json.load(f)["valid/utt1"]["duration"]
0.5

A hand-written folder is checked by ``check_manifests``, every problem
named:

>>> folder = tempfile.mkdtemp()
>>> wav = os.path.join(folder, "a.wav")
>>> soundfile.write(wav, numpy.zeros(16000, "float32"), 16000)
>>> def entry(arousal, others=4.0):
...     return {"wav": wav, "duration": 1.0, "arousal": arousal,
...         "valence": others, "dominance": others}
>>> for name, utterances in [("train", {"u1": entry(4.0)}),
...         ("valid", {"u2": entry(3.0)}), ("test", {"u3": entry(None, None)})]:
...     with open(os.path.join(folder, f"{name}.json"), "w") as f:
...         json.dump(utterances, f)
>>> list(check_manifests(folder))
['train', 'valid', 'test']
>>> with open(os.path.join(folder, "valid.json"), "w") as f:
...     json.dump({"u2": entry(9.0), "u1": entry(4.0)}, f)
>>> check_manifests(folder)
Traceback (most recent call last):
...
speechbrain_lora_ser.data.manifests.CorpusError: 3 problem(s) in ...
  .../valid.json [u2]: arousal label 9.0 is outside [1.0, 7.0]
  .../valid.json [u1]: duplicate ID u1 (also in train)
  .../valid.json: no usable utterance in the valid partition
...

Authors
 * speechbrain-lora-ser contributors 2026
"""

import hashlib
import json
import logging
import math
import os
import string

import soundfile

from speechbrain_lora_ser.atomic import write_text
from speechbrain_lora_ser.modeling.ccc import ATTRIBUTES

logger = logging.getLogger(__name__)

#: The partitions a recipe trains, selects and tests on.
SPLITS = ("train", "valid", "test")
#: The partitions that must be labeled.
LABELED_SPLITS = ("train", "valid")
#: The keys every manifest entry has.
ENTRY_KEYS = ("wav", "duration", *ATTRIBUTES)
#: Hidden record of a preparation in its manifest folder (not a partition).
RECORD_FILE = ".prepared.json"
#: Largest accepted difference between a manifest's duration and the audio's.
DURATION_TOLERANCE = 0.1

ROW_HINT = "Fix them, or pass --skip_invalid=True to leave those utterances out."
MANIFEST_HINT = (
    "Fix those entries, or leave them out of the manifests "
    "(write_manifests(..., skip_invalid=True) does it for you): manifests "
    "used as they are (--skip_prep=True) are never rewritten, whatever the "
    "recipe's skip_invalid says."
)
MISSING_FOLDER_HINT = (
    "Write the manifests there, or point the recipe at them (--manifest_folder; "
    "--cross_manifest_folder for the cross corpus, which --skip_prep=True does "
    "not prepare either), or leave out --skip_prep=True to prepare the corpus."
)
FOLDER_HINT = (
    "A manifest folder holds train.json, valid.json, test.json and any other "
    "<partition>.json (predicted only), nothing else but hidden files."
)


#: Label-range problems shown row by row before the rest are summarised.
SHOWN_OUTSIDE = 5
#: Share of labeled rows outside the range above which the range is wrong.
WRONG_SCALE_SHARE = 0.5


class OutsideRange(str):
    """A label outside the annotation scale: the problem's text, with its figures.

    Example
    -------
    >>> problem = OutsideRange("arousal", 9.0, (1.0, 7.0))
    >>> print(problem)
    arousal label 9.0 is outside [1.0, 7.0]
    >>> problem.value, problem.label_range
    (9.0, (1.0, 7.0))
    """

    def __new__(cls, name, value, label_range):
        """Word the problem and keep its value and scale."""
        low, high = label_range
        problem = super().__new__(
            cls, f"{name} label {value} is outside [{low}, {high}]"
        )
        problem.value, problem.label_range = value, (low, high)
        return problem


def format_problems(problems, shown=SHOWN_OUTSIDE):
    """Return the lines listing ``(where, problem)`` pairs, label ranges summarised.

    Every problem is listed, except labels outside the scale: the first
    ``shown`` rows are, then one line gives how many more there are and the
    range the labels span, so a wrong scale does not print a line per row.

    Example
    -------
    >>> problems = [(f"row {i}", OutsideRange("arousal", 10.0 * i, (1, 7)))
    ...     for i in range(1, 5)] + [("a.wav", "audio file is missing")]
    >>> for line in format_problems(problems, shown=2):
    ...     print(line)
      row 1: arousal label 10.0 is outside [1, 7]
      row 2: arousal label 20.0 is outside [1, 7]
      ... and 2 more label(s) outside [1, 7]: 4 label(s) in 4 row(s) are outside, spanning [10.0, 40.0]
      a.wav: audio file is missing
    """  # noqa: E501
    outside = [(w, p) for w, p in problems if isinstance(p, OutsideRange)]
    lines, listed = [], 0
    for where, problem in problems:
        if isinstance(problem, OutsideRange):
            listed += 1
            if listed > shown:
                continue
        lines.append(f"  {where}: {problem}")
        if isinstance(problem, OutsideRange) and listed == shown < len(outside):
            lines.append(_outside_summary(outside, shown))
    return lines


def _outside_summary(outside, shown):
    values = [p.value for _, p in outside if math.isfinite(p.value)]
    low, high = outside[0][1].label_range
    span = f", spanning [{min(values)}, {max(values)}]" if values else ""
    return (
        f"  ... and {len(outside) - shown} more label(s) outside [{low}, {high}]: "
        f"{len(outside)} label(s) in {len({w for w, _ in outside})} row(s) are "
        f"outside{span}"
    )


class CorpusError(ValueError):
    """Problems found in a corpus or its manifests, each naming its file.

    Arguments
    ---------
    source : str
        The corpus folder, label file or manifest folder.
    problems : list of tuple
        ``(where, problem)`` pairs; ``where`` names the file, and for a bad
        row its line or utterance ID.
    hint : str
        What to do about them. The default (leave bad rows out with
        ``--skip_invalid``) suits bad rows only; problems of a layout, a
        label file or a manifest folder give their own.

    Example
    -------
    >>> print(CorpusError("corpus", [("a.wav", "audio file is missing")]))
    1 problem(s) in corpus:
      a.wav: audio file is missing
    Fix them, or pass --skip_invalid=True to leave those utterances out.
    """

    def __init__(self, source, problems, hint=ROW_HINT):
        self.source = source
        self.problems = list(problems)
        self.hint = hint
        lines = "\n".join(format_problems(self.problems))
        super().__init__(
            f"{len(self.problems)} problem(s) in {source}:\n{lines}\n{hint}"
        )


def _is_partition_file(name):
    return name.endswith(".json") and not name.startswith(".")


def list_manifests(folder):
    """Manifest path of every partition in ``folder``, required or not.

    ``train``, ``valid`` and ``test`` come first, then the other partitions
    in alphabetical order. Use ``read_manifests`` to also require the three
    splits.

    Arguments
    ---------
    folder : str
        A manifest folder.

    Returns
    -------
    dict
        ``{partition: path}``; empty when the folder does not exist.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("test.json", "blind.json", ".prepared.json", "notes.txt"):
    ...     open(os.path.join(folder, name), "w").close()
    >>> list(list_manifests(folder))
    ['test', 'blind']
    """
    if not os.path.isdir(folder):
        return {}
    names = [n[: -len(".json")] for n in os.listdir(folder) if _is_partition_file(n)]
    ordered = [s for s in SPLITS if s in names]
    ordered += sorted(n for n in names if n not in SPLITS)
    return {name: os.path.join(folder, f"{name}.json") for name in ordered}


def read_manifests(folder):
    """Manifest path of every partition of a manifest folder.

    The folder may come from ``prepare_corpus``, ``write_manifests`` or be
    written by hand: every ``<partition>.json`` whose name does not start
    with a dot is a partition (see the module's documentation); there is no
    index file.

    Arguments
    ---------
    folder : str
        The manifest folder.

    Returns
    -------
    dict
        ``{"train": path, "valid": path, "test": path, <other>: path, ...}``.

    Raises
    ------
    FileNotFoundError
        When ``train.json``, ``valid.json`` or ``test.json`` is missing.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> for name in ("train", "valid", "test", "Test3"):
    ...     open(os.path.join(folder, f"{name}.json"), "w").close()
    >>> list(read_manifests(folder))
    ['train', 'valid', 'test', 'Test3']
    >>> os.remove(os.path.join(folder, "valid.json"))
    >>> read_manifests(folder)
    Traceback (most recent call last):
    ...
    FileNotFoundError: ...: no valid.json (found Test3.json, test.json, train.json)...
    """
    paths = list_manifests(folder)
    missing = [f"{split}.json" for split in SPLITS if split not in paths]
    if missing:
        found = sorted(os.path.basename(p) for p in paths.values())
        raise FileNotFoundError(
            f"{folder}: no {', '.join(missing)} "
            f"({'found ' + ', '.join(found) if found else 'no manifest at all'}). "
            f"Run the data preparation, or write the manifests. {FOLDER_HINT}"
        )
    return paths


def resolve_wav(wav, data_root=None):
    """Return the file a manifest's ``wav`` names, or a problem with it.

    Arguments
    ---------
    wav : str
        The ``wav`` value: an absolute path, or ``{data_root}/...``.
    data_root : str, optional
        What ``{data_root}`` stands for (the corpus folder).

    Returns
    -------
    path : str or None
        The absolute path (None when there is a problem).
    problem : str or None
        What is wrong with ``wav``.

    Example
    -------
    >>> resolve_wav("{data_root}/clips/a.flac", "/data/DE")
    ('/data/DE/clips/a.flac', None)
    >>> resolve_wav("clips/a.flac")[1]
    "wav path 'clips/a.flac' is relative: write it absolute or as {data_root}/..."
    """
    if not isinstance(wav, str) or not wav:
        return None, f"wav {wav!r} is not a file path"
    fields = [f for _, f, _, _ in string.Formatter().parse(wav) if f is not None]
    if any(f != "data_root" for f in fields):
        return None, (
            f"wav path {wav!r} contains braces other than {{data_root}} "
            "(SpeechBrain's JSON reader formats every string: rename the file)"
        )
    if fields:
        if data_root is None:
            return None, f"wav path {wav!r} uses {{data_root}}, but no data_root is set"
        wav = wav.format(data_root=data_root)
    if not os.path.isabs(wav):
        return None, (
            f"wav path {wav!r} is relative: write it absolute or as {{data_root}}/..."
        )
    return os.path.normpath(wav), None


def audio_problem(path, min_duration):
    """Return ``(info, problem)`` for an audio file.

    Arguments
    ---------
    path : str
        The audio file.
    min_duration : float
        Shortest usable audio in seconds.

    Returns
    -------
    info : soundfile info or None
        What ``soundfile.info`` says about the file (None when unreadable).
    problem : str or None
        Missing, unreadable, empty or too short.

    Example
    -------
    >>> audio_problem("/no/such/file.wav", 0.025)
    (None, 'audio file is missing: /no/such/file.wav')
    """
    if not os.path.isfile(path):
        return None, f"audio file is missing: {path}"
    try:
        info = soundfile.info(path)
    except Exception as error:  # soundfile raises several error types
        return None, f"audio file is unreadable ({error}): {path}"
    if info.frames == 0:
        return info, f"audio file is empty: {path}"
    duration = info.frames / info.samplerate
    if duration < min_duration:
        return info, (
            f"audio is {duration:.3f} s long, shorter than the encoder's "
            f"receptive field ({min_duration} s): {path}"
        )
    return info, None


def label_problems(entry, partition, label_range):
    """List what is wrong with an entry's labels (empty when nothing).

    Arguments
    ---------
    entry : dict
        A manifest entry (``arousal``, ``valence``, ``dominance``: a number,
        or None for unlabeled).
    partition : str
        Its partition (``train`` and ``valid`` must be labeled).
    label_range : tuple of float
        Lowest and highest value of the annotation scale.

    Returns
    -------
    list of str

    Example
    -------
    >>> label_problems({"arousal": 1.5, "valence": 0.0, "dominance": None},
    ...     "test", (-1.0, 1.0))
    ['arousal label 1.5 is outside [-1.0, 1.0]', 'dominance label is missing']
    """
    values = [entry.get(name) for name in ATTRIBUTES]
    if all(value is None for value in values):
        if partition in LABELED_SPLITS:
            return [f"labels are missing (the {partition} partition must be labeled)"]
        return []
    low, high = label_range
    problems = []
    for name, value in zip(ATTRIBUTES, values, strict=True):
        if value is None:
            problems.append(f"{name} label is missing")
        elif isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{name} label {value!r} is not a number")
        elif not (math.isfinite(value) and low <= value <= high):
            problems.append(OutsideRange(name, value, label_range))
    return problems


def _numbers(entry):
    values = [entry.get(name) for name in ATTRIBUTES] if isinstance(entry, dict) else []
    return [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]


def wrong_scale(utterances, label_range):
    """Say when most labeled entries are outside the scale, or return None.

    Then the scale (the recipe's ``label_low``/``label_high``) is wrong, not
    the rows, and leaving the rows out (``--skip_invalid``) would drop most
    of the corpus.

    Example
    -------
    >>> entries = {f"u{i}": {"arousal": 50.0 + i, "valence": 3.0,
    ...     "dominance": 3.0} for i in range(3)}
    >>> print(wrong_scale({"train": entries}, (1.0, 7.0)))
    3 of 3 labeled utterance(s) have labels outside [1.0, 7.0] (labels seen span [3.0, 52.0]): the annotation scale is wrong, not the rows. Set label_low and label_high to the corpus's scale (e.g. --label_low=3.0 --label_high=52.0 if that is its scale); --skip_invalid=True would leave out most of the corpus, so it does not apply here.
    """  # noqa: E501
    low, high = label_range
    labeled = outside = 0
    seen = []
    for entries in utterances.values():
        for entry in entries.values():
            numbers = _numbers(entry)
            if not numbers:
                continue
            labeled += 1
            seen += [v for v in numbers if math.isfinite(v)]
            outside += any(not low <= v <= high for v in numbers)
    if not labeled or outside <= WRONG_SCALE_SHARE * labeled:
        return None
    span = f" (labels seen span [{min(seen)}, {max(seen)}])" if seen else ""
    example = (
        f" (e.g. --label_low={min(seen)} --label_high={max(seen)} if that is its scale)"
        if seen
        else ""
    )
    return (
        f"{outside} of {labeled} labeled utterance(s) have labels outside "
        f"[{low}, {high}]{span}: the annotation scale is wrong, not the rows. "
        f"Set label_low and label_high to the corpus's scale{example}; "
        "--skip_invalid=True would leave out most of the corpus, so it does "
        "not apply here."
    )


def check_entries(
    utterances,
    label_range,
    min_duration,
    data_root=None,
    where=None,
    duration_required=False,
):
    """Validate manifest entries: the checks every route to a recipe gets.

    Arguments
    ---------
    utterances : dict
        ``{partition: {utt_id: entry}}``.
    label_range : tuple of float
        Lowest and highest value of the annotation scale.
    min_duration : float
        Shortest usable audio in seconds.
    data_root : str, optional
        What ``{data_root}`` in a ``wav`` path stands for.
    where : callable, optional
        ``where(partition, utt_id)`` names a row in a problem (the default
        names the partition and the ID).
    duration_required : bool
        Whether an entry without ``duration`` is a problem (manifests used
        as they are: the recipes' sorting and samplers read it) or is filled
        in from the audio (entries about to be written).

    Returns
    -------
    valid : dict
        ``{partition: {utt_id: entry}}`` of the entries without problems;
        a missing ``duration`` (when allowed) is filled in from the audio.
    problems : list
        ``(where, problem)`` pairs, every problem of every bad entry.
    converted : int
        Number of valid entries whose audio is not 16 kHz mono.

    Example
    -------
    >>> entry = {"wav": "/no/such.wav", "arousal": 4.0, "valence": 8.0,
    ...     "dominance": 4.0}
    >>> valid, problems, _ = check_entries({"train": {"u1": entry}}, (1, 7), 0.025)
    >>> for where, problem in problems:
    ...     print(where, "-", problem)
    train [u1] - valence label 8.0 is outside [1, 7]
    train [u1] - audio file is missing: /no/such.wav
    """
    where = where or (lambda partition, utt_id: f"{partition} [{utt_id}]")
    valid, problems, seen, converted = {}, [], {}, 0
    for partition, entries in utterances.items():
        valid[partition] = {}
        for utt_id, entry in entries.items():
            if utt_id in seen:
                row = [f"duplicate ID {utt_id} (also in {seen[utt_id]})"]
            else:
                seen[utt_id] = partition
                row, info = _check_entry(
                    entry,
                    (partition, label_range, min_duration, data_root),
                    duration_required,
                )
            if row:
                problems.extend((where(partition, utt_id), p) for p in row)
                continue
            converted += info.samplerate != 16000 or info.channels != 1
            duration = info.frames / info.samplerate
            valid[partition][utt_id] = {"wav": None, "duration": duration, **entry}
    return valid, problems, converted


def _check_entry(entry, context, duration_required):
    """One entry's problems, and its audio's ``soundfile`` info."""
    partition, label_range, min_duration, data_root = context
    if not isinstance(entry, dict):
        return [f"entry is {type(entry).__name__}, not an object"], None
    required = [k for k in ENTRY_KEYS if duration_required or k != "duration"]
    row = _entry_problems(entry, partition, label_range, data_root, required)
    info = None
    if "wav" in entry:
        path, wav_problem = resolve_wav(entry["wav"], data_root)
        if wav_problem:
            row.append(wav_problem)
        else:
            info, problem = audio_problem(path, min_duration)
            if problem:
                row.append(problem)
    if info is not None and not row:
        row += _duration_problems(entry, info)
    return row, info


def _entry_problems(entry, partition, label_range, data_root, required):
    """Missing keys, labels, and string values the JSON reader cannot format."""
    problems = []
    missing = [key for key in required if key not in entry]
    if missing:
        problems.append(f"missing keys {missing} (an entry has {list(ENTRY_KEYS)})")
    problems += label_problems(entry, partition, label_range)
    for key, value in entry.items():
        if key != "wav" and isinstance(value, str):
            try:
                value.format_map({"data_root": data_root or ""})
            except (KeyError, ValueError, IndexError):
                problems.append(
                    f"{key} {value!r} contains braces (SpeechBrain's JSON reader "
                    "formats every string value)"
                )
    return problems


def _duration_problems(entry, info):
    if "duration" not in entry:
        return []
    duration = entry["duration"]
    actual = info.frames / info.samplerate
    if isinstance(duration, bool) or not isinstance(duration, int | float):
        return [f"duration {duration!r} is not a number"]
    if not abs(duration - actual) <= DURATION_TOLERANCE:
        return [f"duration {duration} s does not match the audio ({actual:.3f} s)"]
    return []


def _structure_problems(folder, partitions, valid):
    """Missing or empty train / valid / test partitions."""
    problems = []
    for split in SPLITS:
        path = os.path.join(folder, f"{split}.json")
        if split not in partitions:
            problems.append((path, f"the {split} partition is missing"))
        elif split in LABELED_SPLITS and not valid.get(split):
            problems.append((path, f"no usable utterance in the {split} partition"))
    return problems


class DuplicateKeyError(ValueError):
    """A JSON object names one key twice (``json.load`` keeps the last)."""

    def __init__(self, key):
        self.key = key
        super().__init__(f"duplicate ID {key} in one JSON object")


def refuse_duplicate_keys(pairs):
    """``object_pairs_hook`` for ``json.load``: refuse a key given twice.

    ``json.load`` silently keeps the last value of a repeated key, which
    would drop an utterance from a manifest without a word.

    Example
    -------
    >>> json.loads('{"u1": 1, "u1": 2}', object_pairs_hook=refuse_duplicate_keys)
    Traceback (most recent call last):
    ...
    speechbrain_lora_ser.data.manifests.DuplicateKeyError: duplicate ID u1 in one JSON object
    """  # noqa: E501
    content = {}
    for key, value in pairs:
        if key in content:
            raise DuplicateKeyError(key)
        content[key] = value
    return content


def _load_manifest(path):
    """Entries of one manifest file, or a problem with the whole file."""
    try:
        with open(path, encoding="utf-8") as handle:
            content = json.load(handle, object_pairs_hook=refuse_duplicate_keys)
    except DuplicateKeyError as error:
        return None, (
            f"duplicate ID {error.key}: the manifest names it twice "
            "(JSON would keep only the last)"
        )
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, f"not a readable JSON manifest ({error})"
    if not isinstance(content, dict):
        return None, (
            f"a manifest is a JSON object {{utterance ID: entry}}, "
            f"not a {type(content).__name__}"
        )
    return content, None


def check_manifests(
    manifests, label_range=(1.0, 7.0), min_duration=0.025, data_root=None
):
    """Validate a manifest folder exactly like a preparation validates a corpus.

    Every entry of every partition is checked: keys (``wav``, ``duration``,
    ``arousal``, ``valence``, ``dominance``), the audio (missing, unreadable,
    empty, shorter than ``min_duration``, a duration that differs from the
    audio's by more than 0.1 s), the labels (numbers inside ``label_range``,
    present in ``train`` and ``valid``), IDs unique over all partitions, and
    ``train.json``, ``valid.json`` and ``test.json`` present, train and
    valid not empty.

    Arguments
    ---------
    manifests : str or dict
        A manifest folder (see the module's documentation), or
        ``{partition: path}`` as ``read_manifests`` returns it.
    label_range : tuple of float
        Lowest and highest value of the annotation scale.
    min_duration : float
        Shortest usable audio in seconds.
    data_root : str, optional
        What ``{data_root}`` in a ``wav`` path stands for (the corpus folder).

    Returns
    -------
    dict
        ``{partition: path}``, as ``read_manifests`` returns it.

    Raises
    ------
    CorpusError
        Listing every problem, each with its manifest and utterance ID.

    Example
    -------
    More in the module's documentation.

    >>> check_manifests("/no/such/folder")
    Traceback (most recent call last):
    ...
    speechbrain_lora_ser.data.manifests.CorpusError: 1 problem(s) in /no/such/folder:
      /no/such/folder: manifest folder does not exist
    ...
    """  # noqa: E501
    folder, paths = _manifest_paths(manifests)
    utterances, problems = _load_manifests(paths)
    valid, row_problems, converted = check_entries(
        utterances,
        label_range,
        min_duration,
        data_root,
        where=lambda partition, utt_id: f"{paths[partition]} [{utt_id}]",
        duration_required=True,
    )
    problems += row_problems + _structure_problems(folder, paths, valid)
    if problems:
        hint = MANIFEST_HINT if row_problems else FOLDER_HINT
        hint = wrong_scale(utterances, label_range) or hint
        raise CorpusError(folder, problems, hint=hint)
    report_conversion(folder, converted)
    return paths


def _load_manifests(paths):
    """Entries of every partition, and the files that cannot be read."""
    utterances, problems = {}, []
    for partition, path in paths.items():
        entries, problem = _load_manifest(path)
        if problem:
            problems.append((path, problem))
        else:
            utterances[partition] = entries
    return utterances, problems


def _manifest_paths(manifests):
    """Return the folder and ``{partition: path}`` of a folder or such a dict."""
    if not isinstance(manifests, str | os.PathLike):
        paths = dict(manifests)
        return os.path.dirname(next(iter(paths.values()), "")) or ".", paths
    folder = os.fspath(manifests)
    if not os.path.isdir(folder):
        raise CorpusError(
            folder,
            [(folder, "manifest folder does not exist")],
            hint=MISSING_FOLDER_HINT,
        )
    return folder, list_manifests(folder)


def refuse_or_skip(source, utterances, problems, label_range, skip_invalid):
    """Refuse bad entries, or with ``skip_invalid`` say which are left out.

    What a preparation and ``write_manifests`` do with the problems
    ``check_entries`` found: a ``CorpusError`` listing them (always when
    most labels are off the scale: ``wrong_scale``), or a warning.

    Arguments
    ---------
    source : str
        The corpus or manifest folder.
    utterances : dict
        ``{partition: {utt_id: entry}}``, as checked.
    problems : list
        ``(where, problem)`` pairs.
    label_range : tuple of float
        The annotation scale.
    skip_invalid : bool
        Leave the bad entries out instead of stopping.

    Example
    -------
    >>> refuse_or_skip("corpus", {}, [("a.wav", "audio file is missing")],
    ...     (1, 7), skip_invalid=False)
    Traceback (most recent call last):
    ...
    speechbrain_lora_ser.data.manifests.CorpusError: 1 problem(s) in corpus:
    ...
    """
    scale = wrong_scale(utterances, label_range)
    if problems and (scale or not skip_invalid):
        raise CorpusError(source, problems, hint=scale or ROW_HINT)
    if problems:
        logger.warning(
            "%s: left out %d invalid utterance(s) (skip_invalid):\n%s",
            source,
            len({where for where, _ in problems}),
            "\n".join(format_problems(problems)),
        )


def report_conversion(source, converted):
    """Warn that ``converted`` audio files are not 16 kHz mono (when any)."""
    if converted:
        logger.warning(
            "%s: %d audio file(s) are not 16 kHz mono; they are resampled "
            "and mixed down when loaded",
            source,
            converted,
        )


def write_manifests(
    save_folder,
    utterances,
    label_range=(1.0, 7.0),
    min_duration=0.025,
    skip_invalid=False,
    data_root=None,
):
    """Check utterances and write them as a recipe's manifest folder.

    For a corpus no ``CorpusLayout`` describes, a prepare function (the
    module's example) hands its utterances here and gets the checks of
    ``prepare_corpus``: nothing is written unless all entries are valid (or
    ``skip_invalid``). A relative ``wav`` is made absolute (from the working
    directory), a ``{data_root}/...`` one kept; a missing ``duration`` is
    measured. The folder is then written as ``save_manifests`` does.

    Arguments
    ---------
    save_folder : str
        The manifest folder to write.
    utterances : dict
        ``{partition: {utt_id: entry}}``: ``train``, ``valid``, ``test``
        and any other partition (predicted only); an entry is ``{"wav":
        path, "arousal": value or None, "valence": ..., "dominance": ...}``
        plus, optionally, ``duration`` and any other key.
    label_range : tuple of float
        Lowest and highest value of the annotation scale.
    min_duration : float
        Shortest usable audio in seconds.
    skip_invalid : bool
        Leave bad entries out (and say how many) instead of stopping.
    data_root : str, optional
        What ``{data_root}`` in a ``wav`` path stands for.

    Returns
    -------
    dict
        ``{partition: path}``, as ``read_manifests`` returns it.

    Example
    -------
    >>> import tempfile
    >>> entry = {"wav": "/no/such.wav", "arousal": 4.0, "valence": 4.0,
    ...     "dominance": 4.0}
    >>> write_manifests(tempfile.mkdtemp(), {"train": {"u1": entry}})
    Traceback (most recent call last):
    ...
    speechbrain_lora_ser.data.manifests.CorpusError: 1 problem(s) in ...
      train [u1]: audio file is missing: /no/such.wav
    ...
    """
    prepared = {
        partition: {utt_id: _absolute_wav(entry) for utt_id, entry in entries.items()}
        for partition, entries in utterances.items()
    }
    valid, problems, converted = check_entries(
        prepared, label_range, min_duration, data_root
    )
    refuse_or_skip(save_folder, prepared, problems, label_range, skip_invalid)
    structure = _structure_problems(save_folder, valid, valid)
    if structure:
        raise CorpusError(save_folder, structure, hint=FOLDER_HINT)
    report_conversion(save_folder, converted)
    return save_manifests(save_folder, valid)


def _absolute_wav(entry):
    """Return the entry, a relative ``wav`` path made absolute."""
    if isinstance(entry, dict) and isinstance(entry.get("wav"), str):
        wav = entry["wav"]
        if "{" not in wav and not os.path.isabs(wav):
            return {**entry, "wav": os.path.abspath(wav)}
    return entry


def read_record(save_folder):
    """Return the record a preparation keeps in its manifest folder, or None.

    Arguments
    ---------
    save_folder : str
        The manifest folder.

    Returns
    -------
    dict or None
        ``{"partitions": [...], "options": ...}``.

    Example
    -------
    >>> import tempfile
    >>> read_record(tempfile.mkdtemp()) is None
    True
    """
    path = os.path.join(save_folder, RECORD_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def save_manifests(save_folder, utterances, options=None):
    """Write checked utterances as manifests, with no further checks.

    ``write_manifests`` checks first; ``prepare_corpus`` has checked the
    corpus already. Each file is replaced atomically; manifests of
    partitions an earlier preparation wrote and this one does not are
    removed, so that the folder holds exactly this preparation.

    Arguments
    ---------
    save_folder : str
        The manifest folder.
    utterances : dict
        ``{partition: {utt_id: entry}}``, entries complete.
    options : dict, optional
        What the preparation was made from, kept in the folder's hidden
        record (``prepare_corpus`` compares it to skip work already done).

    Returns
    -------
    dict
        ``{partition: path}``, as ``read_manifests`` returns it.

    Raises
    ------
    CorpusError
        When the folder holds another ``.json`` file, which would be read
        as a partition.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> empty = {"train": {}, "valid": {}, "test": {}, "Test2": {}}
    >>> list(save_manifests(folder, empty))
    ['train', 'valid', 'test', 'Test2']
    >>> del empty["Test2"]
    >>> list(save_manifests(folder, empty))
    ['train', 'valid', 'test']
    """
    os.makedirs(save_folder, exist_ok=True)
    record = read_record(save_folder) or {}
    earlier = set(record.get("partitions", []))
    _refuse_strangers(save_folder, earlier | set(utterances))
    for partition in earlier - set(utterances):
        path = os.path.join(save_folder, f"{partition}.json")
        if os.path.isfile(path):
            os.remove(path)
    for partition, entries in utterances.items():
        _write_json(os.path.join(save_folder, f"{partition}.json"), entries)
    _write_json(
        os.path.join(save_folder, RECORD_FILE),
        {"partitions": list(utterances), "options": options},
    )
    return list_manifests(save_folder)


def _refuse_strangers(save_folder, ours):
    """Refuse a ``.json`` file that is none of ``ours`` (a partition to be)."""
    strangers = [
        path
        for partition, path in list_manifests(save_folder).items()
        if partition not in ours
    ]
    if strangers:
        raise CorpusError(
            save_folder,
            [
                (
                    path,
                    "not written by this preparation, yet it would be read as a "
                    "partition: move it out of the manifest folder",
                )
                for path in strangers
            ],
            hint=FOLDER_HINT,
        )


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


def _write_json(path, content):
    # non-ASCII (IDs, paths) as it is: a manifest stays readable
    write_text(path, json.dumps(content, indent=2, ensure_ascii=False))
