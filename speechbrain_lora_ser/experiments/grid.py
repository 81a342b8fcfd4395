"""The paper's grid: five configurations in both directions, resumable.

Every run is a recipe's own ``train.py`` with an output folder of its own
(``<root>/<corpus>/<configuration>/<encoder>/<seed>``). The recipes are
given as folders with their corpus's data (``recipes/MSP-Podcast=/data/...``);
each recipe's YAML names its corpus and its cross corpus, which must be the
corpus of another recipe given. The FineTuned runs go first, because the
FineTuned model of one corpus is stage 1 of FT(dual) and FT+LoRA of the
other: those reuse it through ``--stage1_folder`` instead of training it
again. A run whose ``results.json`` exists is finished and skipped; an
unfinished one is started again in its folder, where it resumes.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import itertools
import os
import shlex
import subprocess
import sys

from ruamel.yaml import YAML

CONFIGURATIONS = ("finetune", "off_the_shelf", "lora", "ft_dual", "ft_lora")
TWO_STAGE = ("ft_dual", "ft_lora")


def read_recipe(folder, configuration="finetune"):
    r"""Read the corpus and cross corpus a recipe folder declares.

    Arguments
    ---------
    folder : str
        A recipe folder (``train.py`` and ``hparams/<configuration>.yaml``).
    configuration : str
        The YAML to read.

    Returns
    -------
    dict
        ``folder`` (absolute), ``corpus`` and ``cross_corpus``.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> os.makedirs(f"{folder}/hparams")
    >>> with open(f"{folder}/hparams/finetune.yaml", "w") as f:
    ...     _ = f.write("corpus: A\ncross_corpus: B\nx: !ref <corpus>\n")
    >>> read_recipe(folder)["cross_corpus"]
    'B'
    """
    path = os.path.join(folder, "hparams", f"{configuration}.yaml")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: not a recipe folder (no such YAML)")
    with open(path, encoding="utf-8") as handle:
        document = YAML().load(handle)  # round-trip mode: tags are kept, not run
    for key in ("corpus", "cross_corpus"):
        if key not in document:
            raise KeyError(f"{path} declares no {key!r}")
    return {
        "folder": os.path.abspath(folder),
        "corpus": str(document["corpus"]),
        "cross_corpus": str(document["cross_corpus"]),
    }


def parse_recipes(pairs):
    """``["recipes/X=/data/X", ...]`` -> ``{corpus: recipe info + data}``.

    Example
    -------
    >>> parse_recipes(["no_equals_sign"])
    Traceback (most recent call last):
    ...
    ValueError: --recipe no_equals_sign: expected RECIPE_FOLDER=DATA_FOLDER
    """
    recipes = {}
    for pair in pairs:
        folder, separator, data = pair.partition("=")
        if not separator or not folder or not data:
            raise ValueError(f"--recipe {pair}: expected RECIPE_FOLDER=DATA_FOLDER")
        info = read_recipe(folder)
        info["data_folder"] = os.path.abspath(data)
        if info["corpus"] in recipes:
            raise ValueError(f"two recipes for the corpus {info['corpus']}")
        recipes[info["corpus"]] = info
    for info in recipes.values():
        if info["cross_corpus"] not in recipes:
            raise ValueError(
                f"{info['folder']}: its cross corpus {info['cross_corpus']} has no "
                f"recipe here; add --recipe <its recipe folder>=<its data folder>"
            )
    return recipes


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


def launcher(nproc_per_node=1):
    """Return the command that starts ``train.py`` (torchrun for several).

    Example
    -------
    >>> launcher(4)[1:]
    ['-m', 'torch.distributed.run', '--nproc_per_node=4']
    """
    if nproc_per_node > 1:
        return [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={nproc_per_node}",
        ]
    return [sys.executable]


def plan_grid(
    root,
    recipes,
    encoder,
    seeds=(1986,),
    configurations=CONFIGURATIONS,
    corpora=None,
    overrides=(),
    nproc_per_node=1,
    global_batch_size=None,
):
    """List the runs of the grid in the order they must run.

    Arguments
    ---------
    root : str
        Where the run folders go.
    recipes : dict
        ``parse_recipes``' output.
    encoder : str
        ``--ssl_hub`` of every run.
    seeds : sequence of int
        One run per seed.
    configurations : sequence of str
        Which configurations (FineTuned first whatever the order).
    corpora : sequence of str, optional
        Which recipes run (default: all given).
    overrides : sequence of str
        Extra ``train.py`` arguments.
    nproc_per_node : int
        Processes per run (torchrun when more than one).
    global_batch_size : int, optional
        Utterances per optimizer step over all processes (the paper: 32).

    Returns
    -------
    list of dict
        ``corpus``, ``configuration``, ``seed``, ``folder``, ``command``,
        ``cwd`` for each run.

    Example
    -------
    >>> recipes = {
    ...     "A": {"folder": "recipes/A", "corpus": "A", "cross_corpus": "B",
    ...           "data_folder": "/data/A"},
    ...     "B": {"folder": "recipes/B", "corpus": "B", "cross_corpus": "A",
    ...           "data_folder": "/data/B"}}
    >>> runs = plan_grid("r", recipes, "wavlm", configurations=("ft_lora", "finetune"))
    >>> [(r["configuration"], r["corpus"]) for r in runs]
    [('finetune', 'A'), ('finetune', 'B'), ('ft_lora', 'A'), ('ft_lora', 'B')]
    >>> [c for c in runs[2]["command"] if c.startswith("--stage1")][0].endswith(
    ...     "r/B/finetune/wavlm/1986")
    True
    """
    corpora = list(corpora or recipes)
    ordered = [c for c in CONFIGURATIONS if c in configurations]
    unknown = set(configurations) - set(CONFIGURATIONS)
    if unknown:
        raise ValueError(f"unknown configurations {sorted(unknown)}")
    launch = {
        "overrides": overrides,
        "nproc_per_node": nproc_per_node,
        "global_batch_size": global_batch_size,
    }
    runs = []
    for seed, configuration, corpus in itertools.product(seeds, ordered, corpora):
        recipe = recipes[corpus]
        cross = recipes[recipe["cross_corpus"]]
        folder = run_folder(root, corpus, configuration, encoder, seed)
        stage1 = None
        if configuration in TWO_STAGE and "finetune" in configurations:
            stage1 = run_folder(root, cross["corpus"], "finetune", encoder, seed)
        command = train_command(
            recipe, cross, configuration, encoder, seed, folder, stage1, **launch
        )
        runs.append(
            {
                "corpus": corpus,
                "configuration": configuration,
                "seed": seed,
                "folder": folder,
                "command": command,
                "cwd": recipe["folder"],
            }
        )
    return runs


def train_command(
    recipe,
    cross,
    configuration,
    encoder,
    seed,
    folder,
    stage1_folder=None,
    overrides=(),
    nproc_per_node=1,
    global_batch_size=None,
):
    """Return the command of one run (started in the recipe's folder).

    Arguments
    ---------
    recipe, cross : dict
        The run's recipe and the recipe of its cross corpus
        (``parse_recipes``' values).
    configuration : str
        The recipe's YAML.
    encoder : str
        ``--ssl_hub``: a hub name, or a local folder (made absolute, since
        the run starts in the recipe's folder).
    seed : int
        ``--seed``.
    folder : str
        The run's output folder.
    stage1_folder : str, optional
        The FineTuned run whose model is this run's stage 1.
    overrides, nproc_per_node, global_batch_size
        As in ``plan_grid`` (the overrides come last, so they win).

    Returns
    -------
    list of str

    Example
    -------
    >>> recipe = {"folder": "recipes/A", "data_folder": "/data/A"}
    >>> cross = {"folder": "recipes/B", "data_folder": "/data/B"}
    >>> command = train_command(recipe, cross, "lora", "wavlm", 1, "/r/A/lora/1")
    >>> command[3:5]
    ['--data_folder=/data/A', '--cross_data_folder=/data/B']
    """
    command = launcher(nproc_per_node) + [
        "train.py",
        f"hparams/{configuration}.yaml",
        f"--data_folder={recipe['data_folder']}",
        f"--cross_data_folder={cross['data_folder']}",
        f"--ssl_hub={os.path.abspath(encoder) if os.path.isdir(encoder) else encoder}",
        f"--seed={seed}",
        f"--output_folder={os.path.abspath(folder)}",
    ]
    if global_batch_size:
        command.append(f"--global_batch_size={global_batch_size}")
    if stage1_folder is not None:
        command.append(f"--stage1_folder={os.path.abspath(stage1_folder)}")
    return command + list(overrides)


def shell_line(run):
    """Return a run as one shell line: into its folder, then its whole command.

    Every part is quoted (``shlex``), so the line runs as written when pasted
    into a POSIX shell.

    Example
    -------
    >>> shell_line({"cwd": "my recipes/A", "command": ["/usr/bin/python3",
    ...     "train.py", "--data_folder=/data/my corpus"]})
    "cd 'my recipes/A' && /usr/bin/python3 train.py '--data_folder=/data/my corpus'"
    """
    return f"cd {shlex.quote(run['cwd'])} && {shlex.join(run['command'])}"


def run_grid(runs, dry_run=False, log=print):
    """Run (or list) the planned runs, skipping finished ones.

    A dry run prints each run's command as a shell line that runs as written
    (``shell_line``).

    Returns
    -------
    list of str
        The status of each run before this call.

    Example
    -------
    >>> run = {"corpus": "A", "configuration": "lora", "seed": 1, "cwd": "r/A",
    ...        "folder": "no/such/run", "command": ["python", "train.py"]}
    >>> run_grid([run], dry_run=True)
    [new] A lora seed 1
        cd r/A && python train.py
    ['new']
    """
    statuses = []
    for run in runs:
        status = run_status(run["folder"])
        statuses.append(status)
        label = f"[{status}] {run['corpus']} {run['configuration']} seed {run['seed']}"
        if dry_run:
            log(f"{label}\n    {shell_line(run)}")
            continue
        if status == "done":
            log(f"{label}: finished, skipped")
            continue
        log(f"{label}: running in {run['folder']}")
        subprocess.run(run["command"], cwd=run["cwd"], check=True)
    return statuses
