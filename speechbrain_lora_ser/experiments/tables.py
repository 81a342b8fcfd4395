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
t-test, ``p <= alpha``; see ``significance`` for the samples). Each table is
also written as a long-format CSV with every p-value.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import csv
import json
import os

import numpy as np

from speechbrain_lora_ser.ccc import ATTRIBUTES
from speechbrain_lora_ser.experiments.significance import (
    partition_ccc_samples,
    read_predictions,
    welch_greater,
)

NAMES = {
    "off_the_shelf": "Off-the-shelf",
    "finetune": "FineTuned",
    "lora": "LoRA",
    "ft_dual": "FT(dual)",
    "ft_lora": "FT+LoRA",
}
SINGLE = ("off_the_shelf", "finetune", "lora")
TWO_STAGE = ("ft_dual", "ft_lora")


class RunMismatch(ValueError):
    """Runs that would be averaged differ in more than their seed."""


def find_runs(root):
    """Finished full-data runs under ``root`` (``run_info.json`` + ``results.json``).

    Example
    -------
    >>> import tempfile
    >>> find_runs(tempfile.mkdtemp())
    []
    """
    runs = []
    for folder, _, files in os.walk(root):
        if "run_info.json" in files and "results.json" in files:
            with open(os.path.join(folder, "run_info.json"), encoding="utf-8") as f:
                info = json.load(f)
            if info.get("train_subset") is None:
                runs.append((folder, info))
    return sorted(runs)


def encoder_name(info):
    """Return the encoder of a run, as the tables name it.

    Example
    -------
    >>> encoder_name({"ssl_hub": "microsoft/wavlm-large"})
    'wavlm-large'
    """
    return os.path.basename(str(info["ssl_hub"]).rstrip("/"))


def _without_seed(info):
    """Return what must agree between runs averaged together (all but the seed)."""
    stages = {}
    for name, fingerprint in info.get("stage_fingerprints", {}).items():
        stages[name] = {k: v for k, v in fingerprint.items() if k != "seed"}
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
        key = (
            encoder_name(info),
            info["configuration"],
            info["corpus"],
            info["cross_corpus"],
        )
        groups.setdefault(key, []).append((folder, info))
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
    dict
        ``{"ccc": [3], "samples": [n, 3], "runs": n_runs}``, or None when the
        runs were not tested on ``test_corpus``.
    """
    values, sample_rows = [], []
    for folder, _ in members:
        with open(os.path.join(folder, "results.json"), encoding="utf-8") as f:
            results = json.load(f)
        if test_corpus not in results:
            return None
        values.append([results[test_corpus][a] for a in ATTRIBUTES])
        if samples == "partitions":
            path = os.path.join(folder, "predictions", f"{test_corpus}_test.csv")
            ids, predictions, targets = read_predictions(path)
            sample_rows.extend(
                partition_ccc_samples(ids, predictions, targets, k, partition_seed)
            )
        else:
            sample_rows.append(values[-1])
    return {
        "ccc": np.mean(values, axis=0),
        "samples": np.array(sample_rows),
        "runs": len(values),
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


def column_tests(rows, alpha):
    """Best row of a column, its p-values against the others, and its star.

    Arguments
    ---------
    rows : dict
        ``{row: (ccc, samples)}`` for one test corpus and attribute.
    alpha : float
        Significance level.

    Returns
    -------
    best : key
        The row with the highest CCC.
    p_values : dict
        ``{row: p}``: one-tailed Welch's t-test that the best is greater
        (None for the best itself, or without two samples on each side).
    starred : bool
        Whether the best is significantly better than every other row.

    Example
    -------
    >>> rows = {"a": (0.6, [0.6, 0.61, 0.59]), "b": (0.4, [0.4, 0.41, 0.39]),
    ...     "c": (0.58, [0.7, 0.5, 0.55])}
    >>> best, p_values, starred = column_tests(rows, alpha=0.05)
    >>> best, p_values["b"] < 0.05, p_values["c"] < 0.05, starred
    ('a', True, False, False)
    """
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


def _cells(column_rows, alpha):
    """Format-ready cells of one column: ``{row: cell}``."""
    rows = {
        row: (entry["ccc"][index], entry["samples"][:, index])
        for row, (entry, index) in column_rows.items()
    }
    best, p_values, starred = column_tests(rows, alpha)
    return {
        row: {
            "ccc": float(value),
            "best": row == best,
            "starred": row == best and starred,
            "p_value": p_values[row],
        }
        for row, (value, _) in rows.items()
    }


def _format(cell):
    if cell is None:
        return "–"
    text = f"{cell['ccc']:.3f}"
    if cell["best"]:
        text = f"**{text}**"
    return text + ("*" if cell["starred"] else "")


def build_tables(groups, encoder, pair, alpha, **sampling):
    """Table 1 and Table 2 of one encoder and one pair of corpora.

    Returns
    -------
    markdown : dict
        ``{"table1": str, "table2": str}``.
    rows : dict
        Long-format CSV rows of each table.
    """
    short = letters(pair)

    def column(test, first_trained):
        """Collect the five models of one test corpus (CCC and samples).

        ``first_trained``: Table 1 (single-corpus models trained on ``test``,
        two-stage models whose first stage is ``test``); otherwise Table 2
        (single-corpus models of the other corpus, two-stage models whose
        second stage is ``test``).
        """
        other = pair[1] if test == pair[0] else pair[0]
        own_single = (test, other) if first_trained else (other, test)
        entries = {}
        for configuration in NAMES:
            corpora = own_single if configuration in SINGLE else own_single[::-1]
            run = (configuration, *corpora)
            members = groups.get((encoder, *run))
            entry = members and collect(members, test, **sampling)
            if entry:
                entries[run] = entry
        return entries

    def cells_and_rows(entries, test, table):
        cells, rows = {}, []
        for index, attribute in enumerate(ATTRIBUTES):
            for run, cell in _cells(
                {r: (e, index) for r, e in entries.items()}, alpha
            ).items():
                cells[(run, attribute)] = cell
                rows.append(
                    _long_row(
                        encoder,
                        table,
                        test,
                        run,
                        short,
                        attribute,
                        cell,
                        entries[run]["runs"],
                    )
                )
        return cells, rows

    # Table 1: each model on the language it was first trained on.
    table1, rows1 = {}, []
    for test in pair:
        cells, rows = cells_and_rows(column(test, first_trained=True), test, "table1")
        rows1 += rows
        for (run, attribute), cell in cells.items():
            table1[(run[0], test, attribute)] = cell
    header = "| configuration | " + " | ".join(
        f"{short[t]} {x[:3]}" for t in pair for x in ATTRIBUTES
    )
    lines = [header + " |", "|" + " --- |" * (1 + 3 * len(pair))]
    for configuration, name in NAMES.items():
        values = [
            _format(table1.get((configuration, t, x))) for t in pair for x in ATTRIBUTES
        ]
        if any(v != "–" for v in values):
            lines.append(f"| {name} | " + " | ".join(values) + " |")
    markdown1 = "\n".join(lines)

    # Table 2: cross-lingual, one block per test corpus.
    blocks, rows2 = [], []
    for test in pair:
        entries = column(test, first_trained=False)
        if not entries:
            continue
        cells, rows = cells_and_rows(entries, test, "table2")
        rows2 += rows
        lines = [
            f"Test on {test} ({short[test]})",
            "",
            "| configuration | Head | Enc. | LoRA | "
            + " | ".join(x[:3] for x in ATTRIBUTES)
            + " |",
            "|" + " --- |" * (4 + len(ATTRIBUTES)),
        ]
        for run in entries:
            parts = trained_parts(*run, short)
            values = [_format(cells[(run, x)]) for x in ATTRIBUTES]
            lines.append(
                f"| {NAMES[run[0]]} | {' | '.join(parts)} | "
                + " | ".join(values)
                + " |"
            )
        blocks.append("\n".join(lines))
    return {"table1": markdown1, "table2": "\n\n".join(blocks)}, {
        "table1": rows1,
        "table2": rows2,
    }


def _long_row(encoder, table, test, run, short, attribute, cell, runs):
    configuration, corpus, cross = run
    head, encoder_part, lora = trained_parts(configuration, corpus, cross, short)
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
        "ccc": f"{cell['ccc']:.6f}",
        "runs": runs,
        "best": cell["best"],
        "p_value_best_greater": ""
        if cell["p_value"] is None
        else f"{cell['p_value']:.6g}",
        "starred": cell["starred"],
    }


def caption(alpha, samples, k, partition_seed):
    """Return the rule of bold and asterisks, printed under every table.

    Example
    -------
    >>> caption(0.05, "seeds", 20, 0).startswith("Bold: the best CCC")
    True
    """
    source = (
        f"CCC on {k} random partitions of the test set, seed {partition_seed}"
        if samples == "partitions"
        else "the CCC of each training seed"
    )
    return (
        "Bold: the best CCC of the column. *: the best is significantly better "
        f"than every other row of the column (one-tailed Welch's t-test, p <= "
        f"{alpha}; samples: {source})."
    )


def write_tables(
    root, output, samples="partitions", k=20, partition_seed=0, alpha=0.05
):
    """Build the tables of every encoder and pair of corpora under ``root``.

    Writes ``tables.md`` and ``table1.csv`` / ``table2.csv`` to ``output``.

    Returns
    -------
    str
        The Markdown of every table.

    Example
    -------
    >>> import tempfile
    >>> write_tables(tempfile.mkdtemp(), tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    FileNotFoundError: no finished run (results.json + run_info.json) in ...
    """
    runs = find_runs(root)
    if not runs:
        raise FileNotFoundError(
            f"no finished run (results.json + run_info.json) in {root}"
        )
    groups = group_runs(runs)
    sampling = {"samples": samples, "k": k, "partition_seed": partition_seed}
    pairs = sorted({tuple(sorted((key[2], key[3]))) for key in groups})
    note = caption(alpha, samples, k, partition_seed)
    sections, long_rows = [], {"table1": [], "table2": []}
    for encoder in sorted({key[0] for key in groups}):
        for pair in pairs:
            markdown, rows = build_tables(groups, encoder, pair, alpha, **sampling)
            if not rows["table1"] and not rows["table2"]:
                continue
            sections.append(
                f"## {encoder}: {pair[0]} and {pair[1]}\n\n"
                f"Table 1: CCC on the language each model was first trained on\n\n"
                f"{markdown['table1']}\n\n{note}\n\n"
                f"Table 2: cross-lingual CCC\n\n{markdown['table2']}\n\n{note}"
            )
            for name in rows:
                long_rows[name] += rows[name]
    os.makedirs(output, exist_ok=True)
    text = "\n\n".join(sections) + "\n"
    with open(os.path.join(output, "tables.md"), "w", encoding="utf-8") as f:
        f.write(text)
    for name, rows in long_rows.items():
        with open(
            os.path.join(output, f"{name}.csv"), "w", newline="", encoding="utf-8"
        ) as f:
            if rows:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
    return text
