r"""Command line of the experiment tooling.

> python -m speechbrain_lora_ser.experiments grid \\
>     --recipe recipes/MSP-Podcast=/data/MSP-Podcast \\
>     --recipe recipes/BIIC-Podcast=/data/BIIC-Podcast \\
>     [--encoder facebook/hubert-large-ll60k] [--seeds 1986 1987] [--dry_run] \\
>     [--nproc_per_node 4 --global_batch_size 32]
> python -m speechbrain_lora_ser.experiments tables results/grid --output tables
> python -m speechbrain_lora_ser.experiments low_resource --recipe ... \\
>     --recipe ... --corpus BIIC-Podcast [--sizes 1000 2000 5000 10000 20000]

Arguments after ``--`` are passed to every ``train.py`` (e.g. ``--
--batch_size=16 --precision=bf16``). A command checks that everything it
needs is installed before it starts any work.
"""

import argparse
import importlib
import os
import sys

from speechbrain_lora_ser.experiments.grid import (
    CONFIGURATIONS,
    parse_recipes,
    plan_grid,
    run_grid,
)
from speechbrain_lora_ser.experiments.low_resource import (
    PAPER_SIZES,
    plan_low_resource,
    plot_low_resource,
)
from speechbrain_lora_ser.experiments.tables import TablesError, write_tables

#: Optional modules each command needs, checked before any work starts.
NEEDS = {"low_resource": ("matplotlib",)}
INSTALL = 'pip install -c constraints.txt -e ".[experiments]"'


def check_requirements(command):
    """Stop with the install line when a command's optional modules are missing.

    Example
    -------
    >>> check_requirements("tables")
    """
    missing = []
    for module in NEEDS.get(command, ()):
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise SystemExit(
            f"error: `experiments {command}` needs {', '.join(missing)}, which is "
            f"not installed; nothing was run. Install the experiment extras "
            f"first (from the repository root): {INSTALL}"
        )


def _run_arguments(parser):
    parser.add_argument(
        "--recipe",
        action="append",
        required=True,
        metavar="RECIPE_FOLDER=DATA_FOLDER",
        help="a recipe and its corpus (repeat for each corpus)",
    )
    parser.add_argument("--encoder", default="microsoft/wavlm-large")
    parser.add_argument("--root", default="results/grid", help="where the runs go")
    parser.add_argument("--dry_run", action="store_true", help="list, do not run")
    parser.add_argument(
        "--nproc_per_node", type=int, default=1, help="processes per run (torchrun)"
    )
    parser.add_argument(
        "--global_batch_size",
        type=int,
        default=None,
        help="utterances per step over all processes (the paper: 32)",
    )


def build_parser():
    """Return the parser of the three subcommands.

    Example
    -------
    >>> build_parser().parse_args(["tables", "results/grid"]).k
    20
    """
    parser = argparse.ArgumentParser(prog="python -m speechbrain_lora_ser.experiments")
    commands = parser.add_subparsers(dest="command", required=True)

    grid = commands.add_parser("grid", help="the five configurations, both directions")
    _run_arguments(grid)
    grid.add_argument("--seeds", type=int, nargs="+", default=[1986])
    grid.add_argument("--configurations", nargs="+", default=list(CONFIGURATIONS))
    grid.add_argument("--corpora", nargs="+", default=None)

    tables = commands.add_parser("tables", help="Tables 1 and 2 with significance")
    tables.add_argument("root", help="folder holding finished runs")
    tables.add_argument("--output", default=None, help="default: <root>/tables")
    tables.add_argument(
        "--samples", choices=("partitions", "seeds"), default="partitions"
    )
    tables.add_argument("--k", type=int, default=20, help="number of test partitions")
    tables.add_argument("--partition_seed", type=int, default=0)
    tables.add_argument("--alpha", type=float, default=0.05)

    low = commands.add_parser("low_resource", help="Figure 2: FT+LoRA on subsets")
    _run_arguments(low)
    low.add_argument("--corpus", required=True, help="the language-2 corpus")
    low.add_argument("--sizes", type=int, nargs="+", default=list(PAPER_SIZES))
    low.add_argument("--seed", type=int, default=1986)
    low.add_argument("--figure", default=None, help="default: <root>/low_resource.png")
    return parser


def split_overrides(argv):
    """Split the command line at ``--``: ours, and the ``train.py`` arguments.

    Example
    -------
    >>> split_overrides(["grid", "--dry_run", "--", "--batch_size=16"])
    (['grid', '--dry_run'], ['--batch_size=16'])
    """
    if "--" not in argv:
        return argv, []
    index = argv.index("--")
    return argv[:index], argv[index + 1 :]


def main(argv=None):
    """Run a subcommand; returns the exit status."""
    argv, overrides = split_overrides(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    args = parser.parse_args(argv)
    check_requirements(args.command)
    if args.command == "tables":
        return tables_command(args)
    recipes = parse_recipes(args.recipe)
    options = {
        "overrides": overrides,
        "nproc_per_node": args.nproc_per_node,
        "global_batch_size": args.global_batch_size,
    }
    if args.command == "grid":
        runs = plan_grid(
            args.root,
            recipes,
            args.encoder,
            args.seeds,
            args.configurations,
            args.corpora,
            **options,
        )
        run_grid(runs, dry_run=args.dry_run)
        return 0
    if args.corpus not in recipes:
        parser.error(f"--corpus {args.corpus}: no --recipe for it")
    return low_resource_command(args, recipes, options)


def tables_command(args):
    """``tables``: write and print the tables; returns the exit status."""
    output = args.output or os.path.join(args.root, "tables")
    try:
        text = write_tables(
            args.root, output, args.samples, args.k, args.partition_seed, args.alpha
        )
    except TablesError as error:
        print(f"error: experiments tables: {error}", file=sys.stderr)
        return 1
    print(text)
    print(f"written to {output}")
    return 0


def low_resource_command(args, recipes, options):
    """``low_resource``: run the study, then draw its figure; returns 0."""
    runs = plan_low_resource(
        args.root, recipes, args.corpus, args.encoder, args.sizes, args.seed, **options
    )
    run_grid(runs, dry_run=args.dry_run)
    if not args.dry_run:
        figure = args.figure or os.path.join(args.root, "low_resource.png")
        plot_low_resource(
            args.root,
            args.corpus,
            recipes[args.corpus]["cross_corpus"],
            args.encoder,
            figure,
            args.seed,
        )
        print(f"figure: {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
