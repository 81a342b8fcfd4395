"""The low-resource study (the paper's Figure 2): FT+LoRA on language-2 subsets.

Language-2 training subsets of 1K, 2K, 5K, 10K and 20K utterances (drawn
reproducibly by the recipe's ``--train_subset``: prefixes of one fixed
permutation, so each larger subset contains the smaller ones; development
and test sets unchanged) go through FT+LoRA, all reusing the same stage 1.
The figure shows the test CCC of each attribute against the subset size,
with the full-data FT+LoRA result as a horizontal line.

A size at or above the corpus's training set would train on all of it (the
recipe keeps the whole set), so such sizes are refused when the full-data
run's training manifest tells the set's size, and left out when it is known
only once that run has prepared it. The figure places every subset run at
the number of training utterances its own manifest holds, not at the size
asked for (a run made before this check would otherwise be drawn at, say,
1,000 utterances having trained on 160).

Authors
 * speechbrain-lora-ser contributors 2026
"""

import json
import os

from speechbrain_lora_ser.experiments.grid import (
    CONFIGURATIONS,
    plan_grid,
    run_folder,
)
from speechbrain_lora_ser.modeling.ccc import ATTRIBUTES

PAPER_SIZES = (1000, 2000, 5000, 10000, 20000)
COLORS = {"arousal": "tab:red", "valence": "tab:green", "dominance": "tab:blue"}


def plan_low_resource(
    root, recipes, corpus, encoder, sizes=PAPER_SIZES, seed=1986, **grid_options
):
    """List the study's runs: stage 1, full-data FT+LoRA, one run per size.

    Arguments
    ---------
    root : str
        Where the runs go.
    recipes : dict
        ``grid.parse_recipes``' output (the language-2 recipe and the recipe
        of its cross corpus).
    corpus : str
        The language-2 corpus whose training set is cut.
    encoder : str
        ``--ssl_hub``.
    sizes : sequence of int
        Training-set sizes.
    seed : int
        The runs' seed.
    **grid_options
        ``overrides``, ``nproc_per_node``, ``global_batch_size`` (see
        ``grid.plan_grid``).

    Returns
    -------
    list of dict
        The runs, in order; a subset run has its size under ``subset``.
    """
    cross = recipes[corpus]["cross_corpus"]
    runs = plan_grid(
        root, recipes, encoder, (seed,), ("finetune",), (cross,), **grid_options
    )
    full = plan_grid(
        root,
        recipes,
        encoder,
        (seed,),
        ("finetune", "ft_lora"),
        (corpus,),
        **grid_options,
    )
    runs += [r for r in full if r["configuration"] == "ft_lora"]
    template = runs[-1]
    for size in sizes:
        folder = run_folder(root, corpus, "ft_lora", encoder, seed, subset=size)
        runs.append(subset_run(template, folder, size))
    return runs


def subset_run(template, folder, size):
    """Return the full-data FT+LoRA run ``template`` on a subset of ``size``.

    Example
    -------
    >>> template = {"configuration": "ft_lora", "folder": "r/full",
    ...     "command": ["python", "train.py", "--output_folder=/r/full"]}
    >>> run = subset_run(template, "/r/full/subset5", 5)
    >>> run["command"][2:], run["subset"]
    (['--output_folder=/r/full/subset5', '--train_subset=5'], 5)
    """
    command = [
        f"--output_folder={os.path.abspath(folder)}"
        if part.startswith("--output_folder=")
        else part
        for part in template["command"]
    ]
    return dict(
        template,
        configuration=f"ft_lora, {size} utterances",
        folder=folder,
        command=command + [f"--train_subset={size}"],
        subset=size,
    )


def train_manifest_size(folder, corpus):
    """Return the number of training utterances in a run's manifest of ``corpus``.

    Returns
    -------
    int or None
        The entries of ``<folder>/manifests/<corpus>/train.json`` (what the
        run trained on), or None when the run has not written it.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> os.makedirs(f"{folder}/manifests/A")
    >>> with open(f"{folder}/manifests/A/train.json", "w") as f:
    ...     json.dump({"u1": {}, "u2": {}}, f)
    >>> train_manifest_size(folder, "A"), train_manifest_size(folder, "B")
    (2, None)
    """
    path = os.path.join(folder, "manifests", corpus, "train.json")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return len(json.load(handle))


def train_set_size(root, corpus, encoder, seed=1986):
    """Return the size of ``corpus``'s training set, if a full-data run knows it.

    Read from the training manifest of a full-data run of ``corpus`` (the
    study's FT+LoRA run first, then any other configuration's).

    Returns
    -------
    tuple or None
        ``(utterances, run folder)``, or None before any such run prepared
        the corpus.

    Example
    -------
    >>> import tempfile
    >>> train_set_size(tempfile.mkdtemp(), "A", "wavlm") is None
    True
    """
    order = ("ft_lora", *[c for c in CONFIGURATIONS if c != "ft_lora"])
    for configuration in order:
        folder = run_folder(root, corpus, configuration, encoder, seed)
        size = train_manifest_size(folder, corpus)
        if size is not None:
            return size, folder
    return None


def oversized(sizes, corpus, known):
    """Say which subset sizes are not below the training set, or return None.

    Arguments
    ---------
    sizes : sequence of int
        The subset sizes asked for.
    corpus : str
        The corpus they cut.
    known : tuple or None
        ``train_set_size``'s output.

    Returns
    -------
    str or None
        One line naming the sizes, the training set's size and where it was
        read; None when every size is below it (or it is not known).

    Example
    -------
    >>> oversized([1000, 80], "B", (160, "r")).split(";")[0]
    '--sizes 1000: not below the 160 training utterances of B (the manifest of r)'
    >>> oversized([80], "B", (160, "r")), oversized([80], "B", None)
    (None, None)
    """
    if known is None:
        return None
    count, folder = known
    large = [str(size) for size in sizes if size >= count]
    if not large:
        return None
    return (
        f"--sizes {' '.join(large)}: not below the {count} training utterances "
        f"of {corpus} (the manifest of {folder}); a subset that large is the "
        "whole training set, as in the full-data run"
    )


def runs_below(runs, known):
    """Return the runs without the subset runs at or above the training set.

    Example
    -------
    >>> runs = [{"folder": "full"}, {"folder": "s80", "subset": 80},
    ...     {"folder": "s1000", "subset": 1000}]
    >>> [run["folder"] for run in runs_below(runs, (160, "full"))]
    ['full', 's80']
    """
    if known is None:
        return list(runs)
    return [run for run in runs if run.get("subset", 0) < known[0]]


def read_study(root, corpus, encoder, seed=1986, warn=None):
    """CCC on ``corpus``'s test set per training-set size, and the full-data CCC.

    Each subset run is placed at the number of training utterances it used
    (its training manifest's, or the size asked for when it has none). A run
    that asked for more than the corpus has trained on the whole training
    set: it is placed there, and ``warn`` (a callable, optional) is told;
    of runs that used the same utterances only the first is kept.

    Returns
    -------
    points : dict
        ``{training utterances: {attribute: ccc}}``, sorted by size.
    full : dict
        The full-data run's ``{attribute: ccc}``.
    """
    full_folder = run_folder(root, corpus, "ft_lora", encoder, seed)
    with open(os.path.join(full_folder, "results.json"), encoding="utf-8") as f:
        full = json.load(f)[corpus]
    asked = sorted(
        int(name[len("subset") :])
        for name in os.listdir(full_folder)
        if name.startswith("subset") and name[len("subset") :].isdigit()
    )
    points, folders = {}, {}
    for size in asked:
        folder = os.path.join(full_folder, f"subset{size}")
        path = os.path.join(folder, "results.json")
        if not os.path.isfile(path):
            continue
        used = train_manifest_size(folder, corpus)
        used = size if used is None else used
        if used != size and warn is not None:
            warn(
                f"{folder} asked for {size} training utterances but trained on "
                f"{used} (the whole training set of {corpus}): drawn at {used}"
            )
        if used in points:
            if warn is not None:
                warn(f"{folder}: the same {used} utterances as {folders[used]}")
            continue
        with open(path, encoding="utf-8") as f:
            points[used] = json.load(f)[corpus]
        folders[used] = folder
    if not points:
        raise FileNotFoundError(f"no finished subset run in {full_folder}")
    return dict(sorted(points.items())), full


def plot_low_resource(
    root, corpus, cross_corpus, encoder, output, seed=1986, warn=None
):
    """Draw the Figure 2-style plot (PNG) and return its path.

    The subset runs are drawn at the training-set size they used
    (``read_study``, which tells ``warn`` where that is not the size asked).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points, full = read_study(root, corpus, encoder, seed, warn)
    sizes = list(points)
    figure, axis = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for attribute in ATTRIBUTES:
        color = COLORS[attribute]
        axis.plot(
            sizes,
            [points[s][attribute] for s in sizes],
            marker="o",
            color=color,
            label=f"{attribute} (subset)",
        )
        axis.axhline(
            full[attribute],
            linestyle="--",
            color=color,
            alpha=0.8,
            label=f"{attribute} (all data)",
        )
    axis.set_xscale("log")
    axis.set_xticks(sizes)
    axis.set_xticklabels([f"{s:,}" for s in sizes])
    axis.minorticks_off()
    direction = f"{cross_corpus[0]}→{corpus[0]}"
    axis.set_title(f"FT+LoRA ({direction}) on {corpus}: low-resource adaptation")
    axis.set_xlabel(f"{corpus} training utterances")
    axis.set_ylabel(f"test CCC ({corpus})")
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8, ncol=2, loc="best")
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    figure.savefig(output)
    plt.close(figure)
    return output
