"""Tables 1 and 2 of the paper from run folders, with significance marks.

Runs are grouped by encoder (one block of tables per encoder, as in the
paper) and by configuration, corpus and cross corpus; runs of one group may
differ in their seed only (anything else is refused, naming the keys).
The corpora are read from the runs; each pair of corpora gets:

* Table 1 (the language each model was first trained on): five rows. The
  single-corpus models (Off-the-shelf, FineTuned, LoRA) tested on the corpus
  they were trained on; FT(dual) and FT+LoRA tested on the corpus of their
  *first* stage (does the second language make the model forget the first?).
* Table 2 (cross-lingual), one block per test corpus T: the single-corpus
  models trained on the *other* corpus, and the two-stage models whose second
  stage is T, all tested on T. Head / Enc. / LoRA say which corpus trained
  each part (``M/B`` = first M, then B; ``—`` = the frozen pre-trained
  encoder, or no LoRA).

In each column the best CCC is bold, and it gets an asterisk when it is
significantly better than every other row of the column (one-tailed Welch's
t-test, ``p <= alpha``; see ``significance`` for the samples). Rows that tie
for the best are all bold; a column with a single value (or equal values)
has neither mark: there is nothing to compare. A column with a cell without
a value (``n/a``) has no asterisk either: the best was not compared with
that row. Nor does a column with a row of fewer than two samples (one seed,
with ``samples="seeds"``): a t-test needs two; those runs are listed under
the tables. Each table is also written as a long-format CSV with every
p-value.

**Any subset of runs.** The tables always have the paper's five rows; a cell
without a finished run reads ``n/a`` (``MISSING``, in the Markdown and the
CSV alike), and the runs that would fill those cells are listed under the
tables with their status: *started* (a run folder with ``run_info.json`` or
``hyperparams.yaml`` but no ``results.json`` yet: running, or stopped) or
*not run*. A folder without any finished run is a ``TablesError`` (the
command line prints it and exits with status 1), never a traceback.

**Calibrated CCC.** ``results.json`` holds the raw-prediction CCC (the
paper's protocol) per test corpus and may hold, under the reserved key
``"calibrated"``, the CCC of the same test predictions after the
development-set calibration (``speechbrain_lora_ser.serving.calibration``)::

    {"MSP-Podcast": {"arousal": 0.61, "valence": 0.02, "dominance": 0.55},
     "BIIC-Podcast": {"arousal": 0.40, "valence": 0.01, "dominance": 0.31},
     "calibrated": {
         "MSP-Podcast": {"arousal": 0.63, "valence": 0.05, "dominance": 0.56},
         "BIIC-Podcast": {"arousal": 0.42, "valence": 0.03, "dominance": 0.33}},
     "calibration": {"attributes": {"arousal": {"scale": 1.3, ...}, ...}, ...}}

(``"calibration"``, optional: the fitted map, ``Calibration.to_dict()`` of
``speechbrain_lora_ser.serving.calibration``, with each attribute's development CCC
and ``learned`` flag; the tables do not read it.)
Bold and asterisks are decided on the raw CCC; where the runs recorded a
calibrated CCC the cell shows it in parentheses, ``0.610 (0.630)``, and the
CSV has it in ``ccc_calibrated``.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import csv
import glob
import json
import math
import os

import numpy as np
from ruamel.yaml import YAML

from speechbrain_lora_ser.atomic import replacing, write_text
from speechbrain_lora_ser.experiments.significance import (
    partition_ccc_samples,
    read_predictions,
    welch_greater,
)
from speechbrain_lora_ser.modeling.ccc import ATTRIBUTES

NAMES = {
    "off_the_shelf": "Off-the-shelf",
    "finetune": "FineTuned",
    "lora": "LoRA",
    "ft_dual": "FT(dual)",
    "ft_lora": "FT+LoRA",
}
SINGLE = ("off_the_shelf", "finetune", "lora")
TWO_STAGE = ("ft_dual", "ft_lora")
#: A cell without a value, in the Markdown and the CSV.
MISSING = "n/a"
#: The key of ``results.json`` that holds the calibrated CCC (not a corpus).
CALIBRATED = "calibrated"
#: The key of ``results.json`` that holds the development-set calibration
#: (``Calibration.to_dict()``; not a corpus, not read by the tables).
CALIBRATION = "calibration"
#: The key of ``results.json`` that holds the cross-lingual baseline: the
#: previous stage tested on the last stage's corpus (not a corpus).
BEFORE_ADAPTATION = "before_adaptation"
#: What ``run_info.json`` (or a started run's ``hyperparams.yaml``) must say.
RUN_KEYS = ("configuration", "corpus", "cross_corpus", "ssl_hub")
#: Fewest test utterances a partition should hold before the tables warn. A
#: partition's CCC is a correlation-like estimate from its utterances, whose
#: standard error is about (1 - r^2) / sqrt(n - 1): with fewer than 10 pairs,
#: 0.17 or more at r = 0.7, larger than the differences the tables compare
#: (hundredths to a tenth), so the t-test on such samples has little power.
MIN_PARTITION_SIZE = 10


class TablesError(ValueError):
    """The tables cannot be made; the message says why, naming the files."""


class RunMismatch(TablesError):
    """Runs that would be averaged differ in more than their seed."""


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as error:
        raise TablesError(f"{path}: cannot be read as JSON ({error})") from None


def _check_info(info, path):
    if not isinstance(info, dict):
        raise TablesError(f"{path}: expected a JSON object")
    missing = [key for key in RUN_KEYS if key not in info]
    if missing:
        raise TablesError(f"{path}: lacks {', '.join(missing)}")
    return info


def read_results(path):
    """Raw and calibrated test CCC of a run's ``results.json``.

    Arguments
    ---------
    path : str
        The file (format in the module's docstring).

    Returns
    -------
    raw, calibrated : dict
        ``{corpus: {attribute: ccc}}`` each (``calibrated`` empty when the run
        recorded none).

    Raises
    ------
    TablesError
        Naming the file, when it is not that format.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "results.json")
    >>> values = {"arousal": 0.5, "valence": 0.1, "dominance": 0.4}
    >>> with open(path, "w") as f:
    ...     json.dump({"A": values, "calibrated": {"A": values}}, f)
    >>> raw, calibrated = read_results(path)
    >>> list(raw), list(calibrated)
    (['A'], ['A'])
    """
    results = _read_json(path)
    if not isinstance(results, dict):
        raise TablesError(f"{path}: expected a JSON object")
    calibrated = results.get(CALIBRATED, {})
    not_corpora = (CALIBRATED, CALIBRATION, BEFORE_ADAPTATION)
    raw = {k: v for k, v in results.items() if k not in not_corpora}
    for name, table in (("", raw), (f"{CALIBRATED}.", calibrated)):
        if not isinstance(table, dict):
            raise TablesError(f"{path}: {name or 'results'} must be a JSON object")
        for corpus, values in table.items():
            if not isinstance(values, dict) or any(
                not isinstance(values.get(a), int | float) for a in ATTRIBUTES
            ):
                raise TablesError(
                    f"{path}: {name}{corpus} must give a number for each of "
                    f"{', '.join(ATTRIBUTES)}"
                )
    return raw, calibrated


def _started_info(folder, files):
    """Return what a started run is (run_info.json or hyperparams.yaml), or None."""
    if "run_info.json" in files:
        path = os.path.join(folder, "run_info.json")
        return _check_info(_read_json(path), path)
    if "hyperparams.yaml" not in files:
        return None
    try:
        with open(os.path.join(folder, "hyperparams.yaml"), encoding="utf-8") as f:
            document = YAML().load(f)  # round-trip mode: tags are kept, not run
    except Exception:  # noqa: BLE001 - not a run's YAML: nothing started here
        return None
    if not isinstance(document, dict) or any(k not in document for k in RUN_KEYS):
        return None
    keys = (*RUN_KEYS, "seed", "train_subset")
    return {key: document.get(key) for key in keys}


def scan_runs(root):
    """Finished and started full-data runs under ``root``.

    A finished run has ``run_info.json`` and ``results.json``; a started one
    has no ``results.json`` yet, but a ``run_info.json`` or the
    ``hyperparams.yaml`` SpeechBrain writes when a run starts. Low-resource
    subset runs (``train_subset``) are left out, as are folders inside a run.

    Returns
    -------
    finished, started : list
        ``[(folder, info)]`` each, sorted.

    Example
    -------
    >>> import tempfile
    >>> scan_runs(tempfile.mkdtemp())
    ([], [])
    """
    finished, started = [], []
    for folder, subfolders, files in os.walk(root):
        if "results.json" in files and "run_info.json" in files:
            path = os.path.join(folder, "run_info.json")
            info, found = _check_info(_read_json(path), path), finished
        else:
            info, found = _started_info(folder, files), started
        if info is None:
            continue
        subfolders.clear()  # a run's own folders hold no other full run
        if info.get("train_subset") is None:
            found.append((folder, info))
    return sorted(finished, key=lambda r: r[0]), sorted(started, key=lambda r: r[0])


def find_runs(root):
    """Finished full-data runs under ``root`` (``run_info.json`` + ``results.json``).

    Example
    -------
    >>> import tempfile
    >>> find_runs(tempfile.mkdtemp())
    []
    """
    return scan_runs(root)[0]


def encoder_name(info):
    """Return the encoder of a run, as the tables name it.

    Example
    -------
    >>> encoder_name({"ssl_hub": "microsoft/wavlm-large"})
    'wavlm-large'
    """
    return os.path.basename(str(info["ssl_hub"]).rstrip("/"))


def _key(info):
    return (
        encoder_name(info),
        str(info["configuration"]),
        str(info["corpus"]),
        str(info["cross_corpus"]),
    )


def _without_seed(info):
    """Return what must agree between runs averaged together (all but the seed)."""
    stages = {}
    for name, fingerprint in info.get("stage_fingerprints", {}).items():
        # the seed is a setting of the stage record
        # (speechbrain_lora_ser.training.stages)
        stages[name] = {k: v for k, v in fingerprint.items() if k != "seed"}
        settings = fingerprint.get("settings")
        if isinstance(settings, dict):
            stages[name]["settings"] = {
                k: v for k, v in settings.items() if k != "seed"
            }
    return {"stages": info.get("stages"), "stage_fingerprints": stages}


def _differences(a, b, prefix=""):
    if isinstance(a, dict) and isinstance(b, dict):
        keys = []
        for key in sorted(set(a) | set(b)):
            keys += _differences(a.get(key), b.get(key), f"{prefix}{key}.")
        return keys
    return [] if a == b else [prefix.rstrip(".")]


def group_runs(runs):
    """Group runs by (encoder, configuration, corpus, cross corpus).

    Raises
    ------
    RunMismatch
        When runs of a group differ in anything but the seed.

    Returns
    -------
    dict
        ``{(encoder, configuration, corpus, cross_corpus): [(folder, info)]}``.

    Example
    -------
    >>> info = {"ssl_hub": "x/wavlm", "configuration": "lora", "corpus": "A",
    ...         "cross_corpus": "B", "stage_fingerprints": {"stage1": {"lr": 1}}}
    >>> other = dict(info, stage_fingerprints={"stage1": {"lr": 2}})
    >>> list(group_runs([("r1", info)]))
    [('wavlm', 'lora', 'A', 'B')]
    >>> try:
    ...     group_runs([("r1", info), ("r2", other)])
    ... except RunMismatch as error:
    ...     print(str(error).split(": ")[1].split(".")[:3])
    ['stage_fingerprints', 'stage1', 'lr']
    """
    groups = {}
    for folder, info in runs:
        groups.setdefault(_key(info), []).append((folder, info))
    for key, members in groups.items():
        first_folder, first = members[0]
        for folder, info in members[1:]:
            differing = _differences(_without_seed(first), _without_seed(info))
            if differing:
                raise RunMismatch(
                    f"{first_folder} and {folder} ({key[1]} on {key[2]}, "
                    f"{key[0]}) differ in more than the seed: "
                    + ", ".join(differing)
                    + ". Averaging them would mix different experiments: move "
                    "one of them to another results folder."
                )
    return groups


def collect(members, test_corpus, samples="partitions", k=20, partition_seed=0):
    """Mean CCC over a group's runs on one test corpus, and the CCC samples.

    Returns
    -------
    dict or None
        ``{"ccc": [3], "calibrated": [3] or None, "samples": [n, 3],
        "runs": n_runs, "unsampled": [folders without predictions]}``, or
        None when a run was not tested on ``test_corpus`` (or its CCC is not
        finite, e.g. an unlabeled test set). ``calibrated`` is None unless
        every run recorded it; ``samples`` has no rows when the predictions
        to sample from are missing (then no significance test).

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "results.json"), "w") as f:
    ...     json.dump({"A": {"arousal": 0.5, "valence": 0.1, "dominance": 0.4}}, f)
    >>> entry = collect([(folder, {})], "A", samples="seeds")
    >>> entry["ccc"].tolist(), entry["calibrated"], entry["samples"].shape
    ([0.5, 0.1, 0.4], None, (1, 3))
    >>> collect([(folder, {})], "B") is None
    True
    """
    values, calibrated, sample_rows, unsampled = [], [], [], []
    for folder, _ in members:
        raw, calibrated_results = read_results(os.path.join(folder, "results.json"))
        if test_corpus not in raw:
            return None
        row = [float(raw[test_corpus][a]) for a in ATTRIBUTES]
        if not all(math.isfinite(v) for v in row):
            return None
        values.append(row)
        if test_corpus in calibrated_results:
            calibrated.append(
                [float(calibrated_results[test_corpus][a]) for a in ATTRIBUTES]
            )
        if samples == "partitions":
            path = os.path.join(folder, "predictions", f"{test_corpus}_test.csv")
            if not os.path.isfile(path):
                unsampled.append(folder)
                continue
            ids, predictions, targets = read_predictions(path)
            sample_rows.extend(
                partition_ccc_samples(ids, predictions, targets, k, partition_seed)
            )
        else:
            sample_rows.append(row)
    return {
        "ccc": np.mean(values, axis=0),
        "calibrated": np.mean(calibrated, axis=0)
        if len(calibrated) == len(values)
        else None,
        "samples": np.array(sample_rows, dtype=float).reshape(-1, len(ATTRIBUTES)),
        "runs": len(values),
        "unsampled": unsampled if samples == "partitions" else [],
    }


def letters(corpora):
    """Short names of corpora: first letters, or the names if those clash.

    Example
    -------
    >>> letters(["MSP-Podcast", "BIIC-Podcast"])
    {'MSP-Podcast': 'M', 'BIIC-Podcast': 'B'}
    """
    short = {corpus: corpus[0].upper() for corpus in corpora}
    if len(set(short.values())) < len(short):
        return {corpus: corpus for corpus in corpora}
    return short


def trained_parts(configuration, corpus, cross_corpus, short):
    """Which corpus trained the Head, the Encoder and LoRA of a run.

    Example
    -------
    >>> short = {"MSP-Podcast": "M", "BIIC-Podcast": "B"}
    >>> trained_parts("ft_lora", "BIIC-Podcast", "MSP-Podcast", short)
    ('M/B', 'M', 'B')
    >>> trained_parts("off_the_shelf", "MSP-Podcast", "BIIC-Podcast", short)
    ('M', '—', '—')
    """
    own, cross = short[corpus], short[cross_corpus]
    return {
        "off_the_shelf": (own, "—", "—"),
        "finetune": (own, own, "—"),
        "lora": (own, "—", own),
        "ft_dual": (f"{cross}/{own}", f"{cross}/{own}", "—"),
        "ft_lora": (f"{cross}/{own}", cross, own),
    }[configuration]


def describe_run(configuration, corpus, cross_corpus, encoder):
    """Say which run fills a row: its model and what the grid calls it.

    Example
    -------
    >>> describe_run("ft_lora", "B", "M", "wavlm-large")
    'FT+LoRA, M then B (configuration ft_lora, corpus B, encoder wavlm-large)'
    >>> describe_run("lora", "M", "B", "wavlm-large")
    'LoRA on M (configuration lora, corpus M, encoder wavlm-large)'
    """
    trained = (
        f"{cross_corpus} then {corpus}"
        if configuration in TWO_STAGE
        else f"on {corpus}"
    )
    return (
        f"{NAMES[configuration]}{',' if configuration in TWO_STAGE else ''} "
        f"{trained} (configuration {configuration}, corpus {corpus}, "
        f"encoder {encoder})"
    )


def column_tests(rows, alpha):
    """Best row of a column, its p-values against the others, and its star.

    Arguments
    ---------
    rows : dict
        ``{row: (ccc, samples)}`` for one test corpus and attribute: the rows
        that have a value (may be empty).
    alpha : float
        Significance level.

    Returns
    -------
    best : key or None
        The row with the highest CCC (None for an empty column).
    p_values : dict
        ``{row: p}``: one-tailed Welch's t-test that the best is greater
        (None for the best itself, or without two samples on each side).
    starred : bool
        Whether the best is significantly better than every other row (False
        for a column of one row: there is nothing to compare).

    Example
    -------
    >>> rows = {"a": (0.6, [0.6, 0.61, 0.59]), "b": (0.4, [0.4, 0.41, 0.39]),
    ...     "c": (0.58, [0.7, 0.5, 0.55])}
    >>> best, p_values, starred = column_tests(rows, alpha=0.05)
    >>> best, p_values["b"] < 0.05, p_values["c"] < 0.05, starred
    ('a', True, False, False)
    >>> column_tests({}, 0.05), column_tests({"a": (0.6, [0.6, 0.7])}, 0.05)
    ((None, {}, False), ('a', {'a': None}, False))
    """
    if not rows:
        return None, {}, False
    best = max(rows, key=lambda key: rows[key][0])
    p_values = {}
    for key, (_, samples) in rows.items():
        if key == best or len(samples) < 2 or len(rows[best][1]) < 2:
            p_values[key] = None
            continue
        p_values[key] = welch_greater(rows[best][1], samples)
    others = [p for key, p in p_values.items() if key != best]
    starred = bool(others) and all(p is not None and p <= alpha for p in others)
    return best, p_values, starred


def _cells(entries, alpha):
    """Cells of one table's column group: ``{(run, attribute): cell}``.

    ``entries``: ``{run: entry or None}`` (``collect``'s output). No star
    in a column with a row without a value: the best was not compared with it.
    """
    cells = {}
    complete = all(entry is not None for entry in entries.values())
    for index, attribute in enumerate(ATTRIBUTES):
        present = {
            run: (entry["ccc"][index], entry["samples"][:, index])
            for run, entry in entries.items()
            if entry is not None
        }
        best, p_values, starred = column_tests(present, alpha)
        values = [value for value, _ in present.values()]
        top, bottom = max(values, default=None), min(values, default=None)
        for run, entry in entries.items():
            if entry is None:
                cells[(run, attribute)] = None
                continue
            calibrated = entry["calibrated"]
            cells[(run, attribute)] = {
                "ccc": float(entry["ccc"][index]),
                "calibrated": None if calibrated is None else float(calibrated[index]),
                # bold: the best, ties included, when it beats some other
                # row (not a lone value, not a column of equal values)
                "best": bool(entry["ccc"][index] == top and top > bottom),
                "starred": run == best and starred and complete,
                "p_value": p_values[run],
                "runs": entry["runs"],
            }
    return cells


def _format(cell, show_calibrated=False):
    if cell is None:
        return MISSING
    text = f"{cell['ccc']:.3f}"
    if cell["best"]:
        text = f"**{text}**"
    text += "*" if cell["starred"] else ""
    if show_calibrated and cell["calibrated"] is not None:
        text += f" ({cell['calibrated']:.3f})"
    return text


def table_runs(pair, test, first_trained):
    """Return the five runs of one column group, in the paper's row order.

    Arguments
    ---------
    pair : tuple of str
        The two corpora.
    test : str
        The test corpus of the columns.
    first_trained : bool
        True for Table 1 (single-corpus models trained on ``test``, two-stage
        models whose first stage is ``test``), False for Table 2
        (single-corpus models of the other corpus, two-stage models whose
        second stage is ``test``).

    Returns
    -------
    list of tuple
        ``(configuration, corpus, cross_corpus)`` of each row.

    Example
    -------
    >>> table_runs(("A", "B"), "A", first_trained=True)[-1]
    ('ft_lora', 'B', 'A')
    >>> table_runs(("A", "B"), "A", first_trained=False)[0]
    ('off_the_shelf', 'B', 'A')
    """
    other = pair[1] if test == pair[0] else pair[0]
    own_single = (test, other) if first_trained else (other, test)
    runs = []
    for configuration in NAMES:
        corpora = own_single if configuration in SINGLE else own_single[::-1]
        runs.append((configuration, *corpora))
    return runs


def build_tables(groups, encoder, pair, alpha, started=None, **sampling):
    """Table 1 and Table 2 of one encoder and one pair of corpora.

    Every table has the paper's five rows; cells without a finished run are
    ``MISSING``, and the runs that would fill them are listed.

    Arguments
    ---------
    groups : dict
        ``group_runs``' output (finished runs).
    encoder : str
        The block's encoder.
    pair : tuple of str
        The two corpora.
    alpha : float
        Significance level.
    started : dict, optional
        Started runs grouped like ``groups`` (``{key: [(folder, info)]}``).
    **sampling
        ``samples``, ``k``, ``partition_seed`` (see ``collect``).

    Returns
    -------
    markdown : dict
        ``{"table1": str, "table2": str, "missing": str}`` (``missing`` is
        empty when every cell has a value and every run could be tested),
        ``"calibrated"``: whether the cells show a calibrated CCC,
        ``"incomplete"``: whether a cell has no value, and ``"untested"``:
        the runs with fewer than two samples (no significance test).
    rows : dict
        Long-format CSV rows of each table, one per cell (missing ones too).

    Example
    -------
    >>> markdown, rows = build_tables({}, "wavlm", ("A", "B"), 0.05)
    >>> print(markdown["table1"].splitlines()[2])
    | Off-the-shelf | n/a | n/a | n/a | n/a | n/a | n/a |
    >>> len(rows["table2"]), {row["status"] for row in rows["table2"]}
    (30, {'not run'})
    """
    short = letters(pair)
    started = started or {}
    entries = _entries(groups, encoder, pair, sampling)
    cells = _table_cells(entries, pair, alpha)
    long_rows = {"table1": [], "table2": []}
    for (table, test, run, attribute), cell in cells.items():
        status = _status(groups, started, encoder, run, test, cell)
        long_rows[table].append(
            _long_row(encoder, table, test, run, short, attribute, cell, status)
        )
    show = any(c is not None and c["calibrated"] is not None for c in cells.values())
    untested = _untested_runs(entries, encoder)
    missing = _missing_runs(groups, started, entries, encoder, pair)
    if untested:
        missing = "\n\n".join(
            filter(
                None,
                [
                    missing,
                    "No significance test for these runs' cells (fewer than 2 "
                    "samples; with --samples=seeds, one seed):\n\n"
                    + "\n".join(f"- {label}" for label in untested),
                ],
            )
        )
    markdown = {
        "table1": _table1_markdown(cells, pair, short, show),
        "table2": _table2_markdown(cells, pair, short, show),
        "missing": missing,
        "calibrated": show,
        "incomplete": any(cell is None for cell in cells.values()),
        "untested": untested,
    }
    return markdown, long_rows


def _untested_runs(entries, encoder):
    """Return the runs whose samples are too few for a t-test (one seed).

    Runs without any sample (no predictions file) are listed apart
    (``_missing_runs``).
    """
    runs = {
        run
        for (_, run), entry in entries.items()
        if entry is not None and 0 < len(entry["samples"]) < 2
    }
    return [describe_run(*run, encoder) for run in sorted(runs)]


def _entries(groups, encoder, pair, sampling):
    """Return ``collect``'s entry of every row of both tables, per test corpus.

    Returns
    -------
    dict
        ``{(test, run): entry or None}`` (None: no finished run, or not
        tested on ``test``), in the tables' order.
    """
    entries = {}
    for first_trained in (True, False):
        for test in pair:
            for run in table_runs(pair, test, first_trained):
                if (test, run) in entries:
                    continue
                members = groups.get((encoder, *run))
                entries[(test, run)] = (
                    collect(members, test, **sampling) if members else None
                )
    return entries


def _table_cells(entries, pair, alpha):
    """Return every cell of both tables: ``{(table, test, run, attribute): cell}``.

    Bold and asterisks are decided within each column group (one table, one
    test corpus), in the tables' row order.
    """
    cells = {}
    for table, first_trained in (("table1", True), ("table2", False)):
        for test in pair:
            runs = table_runs(pair, test, first_trained)
            column = _cells({run: entries[(test, run)] for run in runs}, alpha)
            for run in runs:
                for attribute in ATTRIBUTES:
                    cells[(table, test, run, attribute)] = column[(run, attribute)]
    return cells


def _table1_markdown(cells, pair, short, show):
    """Table 1: each model on the language it was first trained on."""
    header = "| configuration | " + " | ".join(
        f"{short[t]} {x[:3]}" for t in pair for x in ATTRIBUTES
    )
    lines = [header + " |", "|" + " --- |" * (1 + 3 * len(pair))]
    for row, name in enumerate(NAMES.values()):
        values = [
            _format(cells[("table1", t, table_runs(pair, t, True)[row], x)], show)
            for t in pair
            for x in ATTRIBUTES
        ]
        lines.append(f"| {name} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def _table2_markdown(cells, pair, short, show):
    """Table 2: cross-lingual, one block per test corpus."""
    blocks = []
    for test in pair:
        lines = [
            f"Test on {test} ({short[test]})",
            "",
            "| configuration | Head | Enc. | LoRA | "
            + " | ".join(x[:3] for x in ATTRIBUTES)
            + " |",
            "|" + " --- |" * (4 + len(ATTRIBUTES)),
        ]
        for run in table_runs(pair, test, first_trained=False):
            parts = trained_parts(*run, short)
            values = [
                _format(cells[("table2", test, run, x)], show) for x in ATTRIBUTES
            ]
            lines.append(
                f"| {NAMES[run[0]]} | {' | '.join(parts)} | "
                + " | ".join(values)
                + " |"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _status(groups, started, encoder, run, test, cell):
    """``done``, ``not tested on T``, ``started`` or ``not run``."""
    if cell is not None:
        return "done"
    if (encoder, *run) in groups:
        return f"not tested on {test}"
    if (encoder, *run) in started:
        return "started"
    return "not run"


def _missing_runs(groups, started, entries, encoder, pair):
    """Return the list under the tables: the runs that would fill MISSING cells."""
    missing, notes = _unfinished_runs(groups, started, entries, encoder, pair)
    unsampled = sorted(
        {
            (folder, test)
            for (test, _), e in entries.items()
            if e is not None
            for folder in e["unsampled"]
        }
    )
    text = []
    if missing:
        text.append(
            f"Missing runs ({MISSING} cells):\n\n"
            + "\n".join(missing)
            + "\n\n`python -m speechbrain_lora_ser.experiments grid` with the same "
            "--recipe and --encoder arguments runs what is missing (finished runs "
            "are skipped, started ones resume)."
        )
    if notes:
        text.append("Runs in progress:\n\n" + "\n".join(notes))
    if unsampled:
        text.append(
            "No significance test for these runs' cells (no predictions file "
            "to sample): "
            + ", ".join(
                os.path.join(folder, "predictions", f"{test}_test.csv")
                for folder, test in unsampled
            )
        )
    return "\n\n".join(text)


def _unfinished_runs(groups, started, entries, encoder, pair):
    """Say, for each of the ten runs of a pair, what keeps its cells empty.

    Returns
    -------
    missing : list of str
        Runs not run, started without results, or finished but untested on
        a corpus.
    notes : list of str
        Finished runs with more seeds started (not in the means yet).
    """
    missing, notes = [], []
    for corpus in pair:
        cross = pair[1] if corpus == pair[0] else pair[0]
        for configuration in NAMES:
            run = (configuration, corpus, cross)
            key = (encoder, *run)
            label = describe_run(*run, encoder)
            folders = [folder for folder, _ in started.get(key, [])]
            if key not in groups:
                missing.append(
                    f"- {label}: started, no results.json yet (running or "
                    f"stopped): {', '.join(folders)}"
                    if folders
                    else f"- {label}: not run"
                )
                continue
            untested = sorted(
                test for (test, r), e in entries.items() if r == run and e is None
            )
            if untested:
                missing.append(
                    f"- {label}: finished, but its results.json has no finite "
                    f"CCC on {' and '.join(untested)}"
                )
            if folders:
                notes.append(
                    f"- {label}: more seeds started, not in the means yet: "
                    + ", ".join(folders)
                )
    return missing, notes


def _long_row(encoder, table, test, run, short, attribute, cell, status):
    configuration, corpus, cross = run
    head, encoder_part, lora = trained_parts(configuration, corpus, cross, short)
    present = cell is not None
    return {
        "encoder": encoder,
        "table": table,
        "test_corpus": test,
        "configuration": configuration,
        "corpus": corpus,
        "cross_corpus": cross,
        "head": head,
        "encoder_trained_on": encoder_part,
        "lora": lora,
        "attribute": attribute,
        "ccc": f"{cell['ccc']:.6f}" if present else MISSING,
        "ccc_calibrated": f"{cell['calibrated']:.6f}"
        if present and cell["calibrated"] is not None
        else MISSING,
        "runs": cell["runs"] if present else 0,
        "status": status,
        "best": present and cell["best"],
        "p_value_best_greater": ""
        if not present or cell["p_value"] is None
        else f"{cell['p_value']:.6g}",
        "starred": present and cell["starred"],
    }


def caption(alpha, samples, k, partition_seed, calibrated=False, incomplete=False):
    """Return the rule of bold and asterisks, printed under every table.

    ``incomplete``: some cell has no value (its columns get no asterisk).

    Example
    -------
    >>> caption(0.05, "seeds", 20, 0).startswith("Bold: the best CCC")
    True
    >>> caption(0.05, "seeds", 20, 0, incomplete=True).split(". ")[-1]
    'A column with an n/a cell has no *: significance was not tested against it.'
    """
    source = (
        f"CCC on {k} random partitions of the test set, seed {partition_seed}"
        if samples == "partitions"
        else "the CCC of each training seed"
    )
    text = (
        "Bold: the best CCC of the column. *: the best is significantly better "
        f"than every other row of the column (one-tailed Welch's t-test, p <= "
        f"{alpha}; samples: {source})."
    )
    if calibrated:
        text += (
            " In parentheses: the CCC after the development-set calibration of "
            "each attribute (the paper's protocol, and bold and *, use the raw "
            "CCC before it)."
        )
    text += f" {MISSING}: no finished run."
    if incomplete:
        text += (
            f" A column with an {MISSING} cell has no *: significance was not "
            "tested against it."
        )
    return text


def write_tables(
    root, output, samples="partitions", k=20, partition_seed=0, alpha=0.05, warn=None
):
    """Build the tables of every encoder and pair of corpora under ``root``.

    Writes ``tables.md`` and ``table1.csv`` / ``table2.csv`` to ``output``.
    Any subset of the grid's runs makes tables: the cells without a finished
    run are ``MISSING`` and the runs that would fill them are listed.
    ``warn`` (a callable, optional) is given a one-line notice when runs
    have too few samples for a significance test (one seed each).

    Returns
    -------
    str
        The Markdown of every table.

    Raises
    ------
    TablesError
        When there is no finished run under ``root`` (naming the started
        ones), when runs would mix different experiments (``RunMismatch``),
        or when a run's files cannot be read (naming the file).

    Example
    -------
    >>> import tempfile
    >>> write_tables(tempfile.mkdtemp(), tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    speechbrain_lora_ser.experiments.tables.TablesError: no finished run ...
    """
    groups, started = _read_runs(root)
    sampling = {"samples": samples, "k": k, "partition_seed": partition_seed}
    keys = list(groups) + list(started)
    pairs = sorted({tuple(sorted((key[2], key[3]))) for key in keys})
    sections, long_rows, untested = [], {"table1": [], "table2": []}, []
    for encoder in sorted({key[0] for key in keys}):
        for pair in pairs:
            if not any(k[0] == encoder and {k[2], k[3]} == set(pair) for k in keys):
                continue
            markdown, rows = build_tables(
                groups, encoder, pair, alpha, started, **sampling
            )
            note = caption(
                alpha,
                samples,
                k,
                partition_seed,
                markdown["calibrated"],
                markdown["incomplete"],
            )
            sections.append(_section(encoder, pair, markdown, note))
            untested += markdown["untested"]
            for name in rows:
                long_rows[name] += rows[name]
    text = "\n\n".join(sections) + "\n"
    _write_files(output, text, long_rows)
    if untested and warn is not None:
        runs = f"{len(untested)} run" + ("s" if len(untested) > 1 else "")
        warn(
            f"significance not tested (no *) for {runs} with fewer than 2 "
            "samples (with --samples=seeds: a single seed); run the grid "
            "with more --seeds, or use --samples=partitions. They are listed "
            "under the tables."
        )
    return text


def smallest_test_set(root):
    """Return the finished runs' test predictions with the fewest labels.

    Returns
    -------
    tuple or None
        ``(path, labelled utterances)`` of the smallest ``<corpus>_test.csv``
        of the finished runs' ``predictions`` folders; None without any.

    Example
    -------
    >>> import tempfile
    >>> smallest_test_set(tempfile.mkdtemp()) is None
    True
    """
    sizes = {}
    for folder, _ in find_runs(root):
        pattern = os.path.join(glob.escape(folder), "predictions", "*_test.csv")
        for path in glob.glob(pattern):
            sizes[path] = len(read_predictions(path)[0])
    if not sizes:
        return None
    return min(sorted(sizes.items()), key=lambda item: item[1])


def _read_runs(root):
    """Return the finished runs grouped (``group_runs``) and the started ones.

    Raises
    ------
    TablesError
        When ``root`` is not a folder or holds no finished run (naming the
        started ones).
    """
    if not os.path.isdir(root):
        raise TablesError(f"{root}: no such folder")
    finished, started_runs = scan_runs(root)
    if not finished:
        listing = "".join(f"\n  {folder}" for folder, _ in started_runs)
        raise TablesError(
            f"no finished run (results.json + run_info.json) in {root}"
            + (
                f"; {len(started_runs)} started, not finished yet:{listing}"
                if started_runs
                else ""
            )
        )
    started = {}
    for folder, info in started_runs:
        started.setdefault(_key(info), []).append((folder, info))
    return group_runs(finished), started


def _section(encoder, pair, markdown, note):
    """Return the Markdown section of one encoder and pair of corpora."""
    section = (
        f"## {encoder}: {pair[0]} and {pair[1]}\n\n"
        f"Table 1: CCC on the language each model was first trained on\n\n"
        f"{markdown['table1']}\n\n{note}\n\n"
        f"Table 2: cross-lingual CCC\n\n{markdown['table2']}\n\n{note}"
    )
    if markdown["missing"]:
        section += "\n\n" + markdown["missing"]
    return section


def _write_files(output, text, long_rows):
    """Write ``tables.md`` and a CSV per table to ``output``, each atomically."""
    os.makedirs(output, exist_ok=True)
    write_text(os.path.join(output, "tables.md"), text)
    for name, rows in long_rows.items():
        with replacing(os.path.join(output, f"{name}.csv")) as temporary:
            with open(temporary, "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
