"""The low-resource study (the paper's Figure 2): FT+LoRA on language-2 subsets.

Language-2 training subsets of 1K, 2K, 5K, 10K and 20K utterances (drawn
reproducibly by the recipe's ``--train_subset``: prefixes of one fixed
permutation, so each larger subset contains the smaller ones; development
and test sets unchanged) go through FT+LoRA, all reusing the same stage 1.
The figure shows the test CCC of each attribute against the subset size,
with the full-data FT+LoRA result as a horizontal line.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import json
import os

from speechbrain_lora_ser.experiments.grid import plan_grid, run_folder
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
        The runs, in order.
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
    >>> subset_run(template, "/r/full/subset5", 5)["command"][2:]
    ['--output_folder=/r/full/subset5', '--train_subset=5']
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
    )


def read_study(root, corpus, encoder, seed=1986):
    """CCC on ``corpus``'s test set per subset size, and the full-data CCC."""
    full_folder = run_folder(root, corpus, "ft_lora", encoder, seed)
    with open(os.path.join(full_folder, "results.json"), encoding="utf-8") as f:
        full = json.load(f)[corpus]
    points = {}
    for name in os.listdir(full_folder):
        path = os.path.join(full_folder, name, "results.json")
        if name.startswith("subset") and os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                points[int(name[len("subset") :])] = json.load(f)[corpus]
    if not points:
        raise FileNotFoundError(f"no finished subset run in {full_folder}")
    return dict(sorted(points.items())), full


def plot_low_resource(root, corpus, cross_corpus, encoder, output, seed=1986):
    """Draw the Figure 2-style plot (PNG) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points, full = read_study(root, corpus, encoder, seed)
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
