"""Built-in demo: the paper's FT+LoRA pipeline on a small bilingual corpus.

Writes a small English corpus in the MSP-Podcast layout and a Mandarin one in
the BIIC-Podcast layout (real synthetic speech whose emotional attributes are
carried by prosody), saves a small local WavLM, then runs the recipes exactly
as a user would:

1. ``recipes/MSP-Podcast/train.py hparams/finetune.yaml``: stage 1, the
   encoder + head fine-tuned on English (language 1);
2. ``recipes/BIIC-Podcast/train.py hparams/ft_lora.yaml --stage1_folder=...``:
   stage 2, LoRA + head trained on Mandarin (language 2), reusing stage 1;

and prints the test CCC of both models on both languages.

> python -m speechbrain_lora_ser.demo --output_folder demo_output

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import importlib.util
import json
import os
import shlex
import subprocess
import sys

from speechbrain_lora_ser.modeling.ccc import ATTRIBUTES
from speechbrain_lora_ser.synthetic.architectures import save_tiny_encoder
from speechbrain_lora_ser.synthetic.demo_corpus import write_demo_corpus

#: The environment variable naming the ``recipes/`` folder of a clone.
RECIPES_VARIABLE = "SER_RECIPES"


class RecipesNotFound(RuntimeError):
    """The demo cannot find the repository's ``recipes/`` folder."""


def recipes_folder(package_dir=None, environ=None, cwd=None):
    """Return the ``recipes/`` folder the demo runs.

    The recipes are SpeechBrain recipe folders (each stands alone, as in
    SpeechBrain's repository), so they are not inside the installed package.
    Looked up in order: ``$SER_RECIPES``; ``recipes/`` beside the package (an
    editable install of a clone); ``recipes/`` in the working folder.

    Arguments
    ---------
    package_dir : str, optional
        The package's folder (default: this module's).
    environ : dict, optional
        The environment (default: ``os.environ``).
    cwd : str, optional
        The working folder (default: ``os.getcwd()``).

    Returns
    -------
    str

    Raises
    ------
    RecipesNotFound
        None of these holds ``MSP-Podcast/train.py``; the message says what
        to do.

    Example
    -------
    >>> os.path.basename(recipes_folder())
    'recipes'
    """
    package_dir = package_dir or os.path.dirname(os.path.abspath(__file__))
    environ = os.environ if environ is None else environ
    candidates = [
        environ.get(RECIPES_VARIABLE),
        os.path.join(os.path.dirname(package_dir), "recipes"),
        os.path.join(cwd or os.getcwd(), "recipes"),
    ]
    for folder in filter(None, candidates):
        if os.path.isfile(os.path.join(folder, "MSP-Podcast", "train.py")):
            return os.path.abspath(folder)
    raise RecipesNotFound(
        "the demo runs the recipes of a clone of this repository, and none was "
        f"found (looked in: {', '.join(filter(None, candidates))}). Run it from "
        "the clone's root folder, install the clone with `pip install -e .`, "
        f"or set {RECIPES_VARIABLE}=/path/to/clone/recipes."
    )


#: Recipe overrides for a small encoder on a CPU (the paper's values are the
#: recipe defaults: lr 1e-5, batch 32, 30 epochs, WavLM-large).
DEMO_OVERRIDES = {
    "batch_size": 8,
    "test_batch_size": 8,
    "lr": 0.001,
    "num_workers": 0,
    "encoder_layerdrop": 0.0,
    "attention_channels": 32,
    "head_hidden_size": 64,
    "head_dropout": 0.1,
    "lora_rank": 8,
    "lora_alpha": 16,
}


def recipe_arguments(corpus, configuration, data, output_folder, epochs):
    """Return the demo's ``train.py`` arguments (run in the recipe's folder).

    Example
    -------
    >>> data = {"MSP-Podcast": "/d/msp", "BIIC-Podcast": "/d/biic",
    ...     "encoder": "/d/wavlm-small"}
    >>> recipe_arguments("MSP-Podcast", "finetune", data, "out", 12)[:3]
    ['hparams/finetune.yaml', '--data_folder=/d/msp', '--cross_data_folder=/d/biic']
    """
    cross = "BIIC-Podcast" if corpus == "MSP-Podcast" else "MSP-Podcast"
    return [
        f"hparams/{configuration}.yaml",
        f"--data_folder={data[corpus]}",
        f"--cross_data_folder={data[cross]}",
        f"--ssl_hub={data['encoder']}",
        f"--output_folder={output_folder}",
        f"--number_of_epochs={epochs}",
        *[f"--{key}={value}" for key, value in DEMO_OVERRIDES.items()],
    ]


def run_training(
    corpus, configuration, data, output_folder, epochs, extra=(), threads=1
):
    """Run a recipe's ``train.py`` as a user would; returns its results.

    The recipe runs on ``threads`` CPU threads: training results depend on
    the thread count (the order of floating-point sums), so a fixed count
    makes them repeat on one machine.
    """
    folder = os.path.join(recipes_folder(), corpus)
    command = [
        sys.executable,
        "train.py",
        *recipe_arguments(corpus, configuration, data, output_folder, epochs),
        *extra,
    ]
    threads = str(threads)
    environment = dict(os.environ, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    subprocess.run(command, cwd=folder, check=True, env=environment)
    with open(os.path.join(output_folder, "results.json"), encoding="utf-8") as f:
        return json.load(f)


def load_recipe_module(recipe_folder, name):
    """Import a module of a recipe folder (e.g. its ``*_prepare.py``).

    Arguments
    ---------
    recipe_folder : str
        The recipe folder.
    name : str
        Module name, without ``.py``.

    Returns
    -------
    module

    Example
    -------
    >>> module = load_recipe_module(os.path.join(recipes_folder(), "MSP-Podcast"),
    ...     "msp_podcast_prepare")
    >>> module.MSP_PODCAST.partitions["test"]
    ('Test1',)
    """
    path = os.path.join(recipe_folder, f"{name}.py")
    spec = importlib.util.spec_from_file_location(
        f"{os.path.basename(recipe_folder)}.{name}", path
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def recipe_layouts():
    """Return the corpus layouts the two recipes' prepare modules declare."""
    return {
        "MSP-Podcast": load_recipe_module(
            os.path.join(recipes_folder(), "MSP-Podcast"), "msp_podcast_prepare"
        ).MSP_PODCAST,
        "BIIC-Podcast": load_recipe_module(
            os.path.join(recipes_folder(), "BIIC-Podcast"), "biic_podcast_prepare"
        ).BIIC_PODCAST,
    }


def make_demo_data(folder, sizes, seed=0, speech=True):
    """Write both corpora (in their recipes' layouts) and a small encoder.

    Arguments
    ---------
    folder : str
        Where ``MSP-Podcast/``, ``BIIC-Podcast/`` and ``wavlm-small/`` go
        (each is written only when absent).
    sizes : tuple of int
        Train, development and test utterances per corpus.
    seed : int
        Seed of the corpora and the encoder's weights.
    speech : bool
        eSpeak NG speech (False: tone sequences carrying the same prosodic
        cues, written in milliseconds without eSpeak: a data-flow check).

    Returns
    -------
    dict
        The corpus folders and the encoder folder.
    """
    layouts = recipe_layouts()
    data = {
        "MSP-Podcast": os.path.join(folder, "MSP-Podcast"),
        "BIIC-Podcast": os.path.join(folder, "BIIC-Podcast"),
        "encoder": os.path.join(folder, "wavlm-small"),
    }
    languages = (
        ("MSP-Podcast", "english", seed),
        ("BIIC-Podcast", "mandarin", seed + 1),
    )
    for corpus, language, corpus_seed in languages:
        if not os.path.isdir(data[corpus]):
            write_demo_corpus(
                data[corpus],
                language,
                layouts[corpus],
                sizes,
                seed=corpus_seed,
                speech=speech,
            )
    if not os.path.isdir(data["encoder"]):
        save_tiny_encoder(data["encoder"], "wavlm", seed=seed)
    return data


def cpu_name():
    """Return the CPU's model name (Linux), or the platform's processor string.

    Example
    -------
    >>> isinstance(cpu_name(), str)
    True
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def format_table(rows):
    """Markdown table of ``[(model, corpus, {attribute: ccc})]``.

    Example
    -------
    >>> values = {"arousal": 0.5, "valence": 0.25, "dominance": 0.125}
    >>> print(format_table([("FT", "MSP", values)]).splitlines()[-1])
    | FT | MSP | 0.500 | 0.250 | 0.125 |
    """
    lines = [
        "| model | test set | " + " | ".join(ATTRIBUTES) + " |",
        "| --- | --- | " + " | ".join("---" for _ in ATTRIBUTES) + " |",
    ]
    for model, corpus, values in rows:
        cells = " | ".join(f"{values[name]:.3f}" for name in ATTRIBUTES)
        lines.append(f"| {model} | {corpus} | {cells} |")
    return "\n".join(lines)


def build_parser():
    """Return the demo's command-line parser.

    Example
    -------
    >>> build_parser().parse_args(["--sizes", "4", "2", "2"]).sizes
    [4, 2, 2]
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_folder", default="demo_output")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument(
        "--sizes",
        type=int,
        nargs=3,
        default=(160, 40, 60),
        metavar=("TRAIN", "DEV", "TEST"),
    )
    parser.add_argument(
        "--data_only",
        action="store_true",
        help="only write the corpora and the encoder into OUTPUT_FOLDER "
        "(e.g. for SpeechBrain's recipe tests)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads of the training runs (the numbers repeat for a given "
        "count and CPU type)",
    )
    parser.add_argument(
        "--no_speech",
        action="store_true",
        help="tone sequences instead of eSpeak NG speech (no eSpeak needed)",
    )
    return parser


def recipe_commands(data, output_folder, epochs):
    """Say how to run the demo's two stages by hand on the written data.

    Example
    -------
    >>> data = {"MSP-Podcast": "/d/msp", "BIIC-Podcast": "/d/biic",
    ...     "encoder": "/d/wavlm-small"}
    >>> recipe_commands(data, "/out", 12).split()[-1]
    '--stage1_folder=/out/MSP-Podcast_finetune'
    """
    stage1 = os.path.join(output_folder, "MSP-Podcast_finetune")
    stage2 = os.path.join(output_folder, "BIIC-Podcast_ft_lora")
    first = recipe_arguments("MSP-Podcast", "finetune", data, stage1, epochs)
    second = recipe_arguments("BIIC-Podcast", "ft_lora", data, stage2, epochs)
    return (
        "\nThe demo's runs on these (small encoder, CPU). Stage 1, from "
        "recipes/MSP-Podcast:\n  python train.py "
        + shlex.join(first)
        + "\nStage 2 reusing it, from recipes/BIIC-Podcast (a copy for your "
        "corpus: its --data_folder; the settings stage 1 was trained with are "
        "taken from it, the loader and LoRA ones are not):\n  python train.py "
        + shlex.join([*second, f"--stage1_folder={stage1}"])
    )


def train_both_stages(data, output_folder, epochs, threads):
    """Run stage 1 (FineTuned on English), then stage 2 (FT+LoRA on Mandarin).

    Returns
    -------
    stage1, stage2 : dict
        The ``results.json`` of each run (test CCC on both corpora).
    """
    stage1_folder = os.path.join(output_folder, "MSP-Podcast_finetune")
    stage1 = run_training(
        "MSP-Podcast", "finetune", data, stage1_folder, epochs, threads=threads
    )
    stage2 = run_training(
        "BIIC-Podcast",
        "ft_lora",
        data,
        os.path.join(output_folder, "BIIC-Podcast_ft_lora"),
        epochs,
        extra=[f"--stage1_folder={stage1_folder}"],
        threads=threads,
    )
    return stage1, stage2


def results_table(stage1, stage2):
    """Markdown table of both stages' test CCC on both languages.

    Example
    -------
    >>> values = {"arousal": 0.5, "valence": 0.25, "dominance": 0.125}
    >>> results = {"MSP-Podcast": values, "BIIC-Podcast": values}
    >>> print(results_table(results, results).splitlines()[2])
    | stage 1: FineTuned on English | MSP-Podcast (English) | 0.500 | 0.250 | 0.125 |
    """
    test_sets = (
        ("MSP-Podcast", "MSP-Podcast (English)"),
        ("BIIC-Podcast", "BIIC-Podcast (Mandarin)"),
    )
    models = (
        ("stage 1: FineTuned on English", stage1),
        ("stage 2: FT+LoRA (M->B)", stage2),
    )
    return format_table(
        [
            (model, name, results[corpus])
            for model, results in models
            for corpus, name in test_sets
        ]
    )


def main(argv=None):
    """Run the demo; returns the results table (Markdown).

    With ``--data_only``, only writes the corpora and the encoder and prints
    the recipe commands that train on them (returns None).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:  # before any work: say at once what is missing
        recipes_folder()
    except RecipesNotFound as error:
        parser.exit(2, f"{parser.prog}: {error}\n")
    # the recipes run in their own folders: give them absolute paths
    output_folder = os.path.abspath(args.output_folder)
    sizes, speech = tuple(args.sizes), not args.no_speech
    if args.data_only:
        data = make_demo_data(output_folder, sizes, speech=speech)
        print("\n".join(f"{name}: {path}" for name, path in data.items()))
        print(recipe_commands(data, output_folder, args.epochs))
        return None
    data = make_demo_data(os.path.join(output_folder, "data"), sizes, speech=speech)
    stage1, stage2 = train_both_stages(data, output_folder, args.epochs, args.threads)
    table = results_table(stage1, stage2)
    print(
        f"\nTest-set CCC of the demo models ({args.threads} CPU thread(s), "
        f"{cpu_name()}; the numbers repeat for the same thread count and CPU "
        "type)\n"
    )
    print(table)
    base, adapter = (
        os.path.join(output_folder, name)
        for name in ("MSP-Podcast_finetune", "BIIC-Podcast_ft_lora")
    )
    print(
        f"\nInference folder (EncoderRegressor): {adapter}/inference\n"
        f"Runs: FineTuned {base}, FT+LoRA {adapter}; one model for both "
        "languages (docs/bank.md):\n"
        f"  ser-bank build --base {base} --adapter {adapter} --output "
        f"{os.path.join(output_folder, 'bank')}\n"
        "(add --router ecapa --router_background FOLDER for a language "
        "identifier that also names other languages unknown)"
    )
    return table


if __name__ == "__main__":
    main()
