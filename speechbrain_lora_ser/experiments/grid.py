"""The paper's grid: five configurations in both directions, resumable.

Every run is the recipe's own ``train.py`` with an output folder of its own
(``<root>/<corpus>/<configuration>/<encoder>/<seed>``). The FineTuned runs go
first, because the FineTuned model of one corpus is stage 1 of FT(dual) and
FT+LoRA of the other: those reuse it through ``--stage1_folder`` instead of
training it again. A run whose ``results.json`` exists is finished and
skipped; an unfinished one is started again in its folder, where it resumes
from its checkpoints.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import os
import subprocess
import sys

CONFIGURATIONS = ("finetune", "off_the_shelf", "lora", "ft_dual", "ft_lora")
CORPORA = ("MSP-Podcast", "BIIC-Podcast")
TWO_STAGE = ("ft_dual", "ft_lora")
RECIPES = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "recipes"
)


def other(corpus):
    """Return the other corpus.

    Example
    -------
    >>> other("MSP-Podcast")
    'BIIC-Podcast'
    """
    return CORPORA[1 - CORPORA.index(corpus)]


def run_folder(root, corpus, configuration, encoder, seed, subset=None):
    """Output folder of one run.

    Example
    -------
    >>> run_folder("r", "MSP-Podcast", "lora", "microsoft/wavlm-large", 1986)
    'r/MSP-Podcast/lora/wavlm-large/1986'
    """
    name = os.path.basename(encoder.rstrip("/"))
    folder = os.path.join(root, corpus, configuration, name, str(seed))
    if subset is not None:
        folder = os.path.join(folder, f"subset{subset}")
    return folder


def run_status(folder):
    """``done`` (results.json), ``resume`` (started) or ``new``.

    Example
    -------
    >>> run_status("no/such/run")
    'new'
    """
    if os.path.isfile(os.path.join(folder, "results.json")):
        return "done"
    if os.path.isdir(os.path.join(folder, "save")):
        return "resume"
    return "new"


def plan_grid(
    root,
    data_folders,
    encoder,
    seeds=(1986,),
    configurations=CONFIGURATIONS,
    corpora=CORPORA,
    overrides=(),
):
    """List the runs of the grid in the order they must run.

    Returns
    -------
    list of dict
        ``corpus``, ``configuration``, ``seed``, ``folder``, ``command``,
        ``cwd`` for each run.

    Example
    -------
    >>> runs = plan_grid("r", {"MSP-Podcast": "m", "BIIC-Podcast": "b"}, "wavlm")
    >>> [(r["configuration"], r["corpus"]) for r in runs][:2]
    [('finetune', 'MSP-Podcast'), ('finetune', 'BIIC-Podcast')]
    """
    runs = []
    order = sorted(configurations, key=CONFIGURATIONS.index)
    for seed in seeds:
        for configuration in order:
            for corpus in corpora:
                folder = run_folder(root, corpus, configuration, encoder, seed)
                command = [
                    sys.executable,
                    "train.py",
                    f"hparams/{configuration}.yaml",
                    f"--data_folder={data_folders[corpus]}",
                    f"--cross_data_folder={data_folders[other(corpus)]}",
                    f"--ssl_hub={encoder}",
                    f"--seed={seed}",
                    f"--output_folder={os.path.abspath(folder)}",
                ]
                if configuration in TWO_STAGE and "finetune" in configurations:
                    stage1 = run_folder(root, other(corpus), "finetune", encoder, seed)
                    command.append(f"--stage1_folder={os.path.abspath(stage1)}")
                command += list(overrides)
                runs.append(
                    {
                        "corpus": corpus,
                        "configuration": configuration,
                        "seed": seed,
                        "folder": folder,
                        "command": command,
                        "cwd": os.path.join(RECIPES, corpus),
                    }
                )
    return runs


def run_grid(runs, dry_run=False, log=print):
    """Run (or list) the planned runs, skipping finished ones.

    Returns
    -------
    list of str
        The status of each run before this call.
    """
    statuses = []
    for run in runs:
        status = run_status(run["folder"])
        statuses.append(status)
        label = f"[{status}] {run['corpus']} {run['configuration']} seed {run['seed']}"
        if dry_run:
            log(f"{label}\n    cd {run['cwd']} && " + " ".join(run["command"][1:]))
            continue
        if status == "done":
            log(f"{label}: finished, skipped")
            continue
        log(f"{label}: running in {run['folder']}")
        subprocess.run(run["command"], cwd=run["cwd"], check=True)
    return statuses
