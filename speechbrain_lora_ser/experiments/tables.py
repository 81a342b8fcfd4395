"""Tables 1 and 2 of the paper from run folders, with significance marks.

Table 1 (in-domain): the single-corpus configurations (Off-the-shelf,
FineTuned, LoRA), each tested on the corpus it was trained on.
Table 2 (cross-lingual): every configuration and direction, with the Head /
Enc. / LoRA columns saying which corpus trained each part (``M/B`` = first
MSP-Podcast, then BIIC-Podcast; ``—`` = the frozen pre-trained encoder or no
LoRA), tested on both corpora.

In each column the best CCC is in bold; an asterisk marks a row that the best
row beats significantly (one-tailed Welch's t-test, ``p <= alpha``; see
``significance`` for how the samples are formed). Each table is written as
Markdown and as a long-format CSV with every p-value.

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

LETTERS = {"MSP-Podcast": "M", "BIIC-Podcast": "B"}
NAMES = {
    "off_the_shelf": "Off-the-shelf",
    "finetune": "FineTuned",
    "lora": "LoRA",
    "ft_dual": "FT(dual)",
    "ft_lora": "FT+LoRA",
}
ORDER = tuple(NAMES)
TEST_CORPORA = ("MSP-Podcast", "BIIC-Podcast")


def find_runs(root):
    """Finished full-data runs under ``root`` (``run_info.json`` + ``results.json``)."""
    runs = []
    for folder, _, files in os.walk(root):
        if "run_info.json" in files and "results.json" in files:
            with open(os.path.join(folder, "run_info.json"), encoding="utf-8") as f:
                info = json.load(f)
            if info.get("train_subset") is None:
                runs.append((folder, info))
    return sorted(runs)


def trained_parts(configuration, corpus):
    """Which corpus trained the Head, the Encoder and LoRA.

    Example
    -------
    >>> trained_parts("ft_lora", "BIIC-Podcast")
    ('M/B', 'M', 'B')
    >>> trained_parts("off_the_shelf", "MSP-Podcast")
    ('M', '—', '—')
    """
    own = LETTERS[corpus]
    cross = LETTERS[next(c for c in LETTERS if c != corpus)]
    return {
        "off_the_shelf": (own, "—", "—"),
        "finetune": (own, own, "—"),
        "lora": (own, "—", own),
        "ft_dual": (f"{cross}/{own}", f"{cross}/{own}", "—"),
        "ft_lora": (f"{cross}/{own}", cross, own),
    }[configuration]


def collect(runs, samples="partitions", k=20, partition_seed=0):
    """Group runs by (configuration, corpus): mean CCC and CCC samples.

    Returns
    -------
    dict
        ``{(configuration, corpus): {test_corpus: {"ccc": [3], "samples": [n, 3]}}}``
    """
    grouped = {}
    for folder, info in runs:
        key = (info["configuration"], info["corpus"])
        with open(os.path.join(folder, "results.json"), encoding="utf-8") as f:
            results = json.load(f)
        for test_corpus in TEST_CORPORA:
            entry = grouped.setdefault(key, {}).setdefault(
                test_corpus, {"ccc": [], "samples": []}
            )
            entry["ccc"].append([results[test_corpus][a] for a in ATTRIBUTES])
            if samples == "partitions":
                path = os.path.join(folder, "predictions", f"{test_corpus}_test.csv")
                ids, predictions, targets = read_predictions(path)
                entry["samples"].extend(
                    partition_ccc_samples(ids, predictions, targets, k, partition_seed)
                )
            else:
                entry["samples"].append(entry["ccc"][-1])
    for entries in grouped.values():
        for entry in entries.values():
            entry["ccc"] = np.mean(entry["ccc"], axis=0)
            entry["samples"] = np.array(entry["samples"])
    return grouped


def column_tests(rows, alpha):
    """Best row and p-values of one column.

    Arguments
    ---------
    rows : dict
        ``{row_key: (ccc, samples)}`` for one test corpus and attribute.
    alpha : float
        Significance level.

    Returns
    -------
    best : key
    tests : dict
        ``{row_key: (p_value or None, significant)}``.

    Example
    -------
    >>> rows = {"a": (0.6, [0.6, 0.61, 0.59]), "b": (0.4, [0.4, 0.41, 0.39])}
    >>> best, tests = column_tests(rows, alpha=0.05)
    >>> best, tests["b"][1]
    ('a', True)
    """
    best = max(rows, key=lambda key: rows[key][0])
    tests = {}
    for key, (_, samples) in rows.items():
        if key == best or len(samples) < 2 or len(rows[best][1]) < 2:
            tests[key] = (None, False)
            continue
        p_value = welch_greater(rows[best][1], samples)
        tests[key] = (p_value, p_value <= alpha)
    return best, tests


def build_table(grouped, row_keys, test_corpora, alpha):
    """Cells of a table: ``{(row, test_corpus, attribute): dict}``."""
    cells = {}
    for test_corpus in test_corpora:
        for index, attribute in enumerate(ATTRIBUTES):
            column = {
                row: (
                    grouped[row][test_corpus]["ccc"][index],
                    grouped[row][test_corpus]["samples"][:, index],
                )
                for row in row_keys
                if row in grouped
            }
            if not column:
                continue
            best, tests = column_tests(column, alpha)
            for row, (value, _) in column.items():
                p_value, significant = tests[row]
                cells[(row, test_corpus, attribute)] = {
                    "ccc": float(value),
                    "best": row == best,
                    "p_value": p_value,
                    "significant": significant,
                }
    return cells


def _format(cell):
    if cell is None:
        return "–"
    text = f"{cell['ccc']:.3f}"
    if cell["best"]:
        text = f"**{text}**"
    return text + ("*" if cell["significant"] else "")


def table1(grouped, alpha):
    """Markdown and CSV rows of Table 1 (in-domain)."""
    rows = [
        (configuration, corpus)
        for configuration in ("off_the_shelf", "finetune", "lora")
        for corpus in TEST_CORPORA
    ]
    cells = {}
    for corpus in TEST_CORPORA:
        keys = [row for row in rows if row[1] == corpus]
        cells.update(build_table(grouped, keys, [corpus], alpha))
    header = "| configuration | " + " | ".join(
        f"{LETTERS[c]} {a[:3]}" for c in TEST_CORPORA for a in ATTRIBUTES
    )
    lines = [header + " |", "|" + " --- |" * (1 + 3 * len(TEST_CORPORA))]
    for configuration in ("off_the_shelf", "finetune", "lora"):
        values = [
            _format(cells.get(((configuration, c), c, a)))
            for c in TEST_CORPORA
            for a in ATTRIBUTES
        ]
        if all(v == "–" for v in values):
            continue
        lines.append(f"| {NAMES[configuration]} | " + " | ".join(values) + " |")
    return "\n".join(lines), _long_rows(cells)


def table2(grouped, alpha):
    """Markdown and CSV rows of Table 2 (cross-lingual)."""
    rows = [
        (configuration, corpus)
        for configuration in ORDER
        for corpus in ("BIIC-Podcast", "MSP-Podcast")
        if (configuration, corpus) in grouped
    ]
    cells = build_table(grouped, rows, TEST_CORPORA, alpha)
    header = "| configuration | Head | Enc. | LoRA | " + " | ".join(
        f"test {LETTERS[c]} {a[:3]}" for c in TEST_CORPORA for a in ATTRIBUTES
    )
    lines = [header + " |", "|" + " --- |" * (4 + 3 * len(TEST_CORPORA))]
    for row in rows:
        head, encoder, lora = trained_parts(*row)
        values = [
            _format(cells.get((row, c, a))) for c in TEST_CORPORA for a in ATTRIBUTES
        ]
        lines.append(
            f"| {NAMES[row[0]]} | {head} | {encoder} | {lora} | "
            + " | ".join(values)
            + " |"
        )
    return "\n".join(lines), _long_rows(cells)


def _long_rows(cells):
    rows = []
    for (row, test_corpus, attribute), cell in sorted(cells.items()):
        head, encoder, lora = trained_parts(*row)
        rows.append(
            {
                "configuration": row[0],
                "trained_on": row[1],
                "head": head,
                "encoder": encoder,
                "lora": lora,
                "test_corpus": test_corpus,
                "attribute": attribute,
                "ccc": f"{cell['ccc']:.6f}",
                "best": cell["best"],
                "p_value_best_greater": ""
                if cell["p_value"] is None
                else f"{cell['p_value']:.6g}",
                "significant": cell["significant"],
            }
        )
    return rows


def write_tables(
    root, output, samples="partitions", k=20, partition_seed=0, alpha=0.05
):
    """Build both tables from the runs under ``root``; write them to ``output``.

    Returns
    -------
    dict
        ``{"table1": markdown, "table2": markdown}``.
    """
    runs = find_runs(root)
    if not runs:
        raise FileNotFoundError(
            f"no finished run (results.json + run_info.json) in {root}"
        )
    grouped = collect(runs, samples, k, partition_seed)
    os.makedirs(output, exist_ok=True)
    note = (
        f"\n\nBold: best in the column. *: the best is significantly better "
        f"(one-tailed Welch's t-test, p <= {alpha}; samples: "
        + (
            f"CCC on {k} random test partitions, seed {partition_seed})."
            if samples == "partitions"
            else "CCC of each training seed)."
        )
    )
    markdown = {}
    for name, builder in (("table1", table1), ("table2", table2)):
        text, rows = builder(grouped, alpha)
        markdown[name] = text
        with open(os.path.join(output, f"{name}.md"), "w", encoding="utf-8") as f:
            f.write(text + note + "\n")
        with open(
            os.path.join(output, f"{name}.csv"), "w", newline="", encoding="utf-8"
        ) as f:
            if rows:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
    return markdown
