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
    oversized,
    plan_low_resource,
    plot_low_resource,
    runs_below,
    train_set_size,
)
from speechbrain_lora_ser.experiments.tables import (
    MIN_PARTITION_SIZE,
    TablesError,
    smallest_test_set,
    write_tables,
)

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


def warn(message):
    """Print a one-line warning on stderr.

    Example
    -------
    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     warn("few samples")
    >>> print(err.getvalue(), end="")
    warning: experiments: few samples
    """
    print(f"warning: experiments: {message}", file=sys.stderr)


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
    tables.add_argument(
        "--k",
        type=int,
        default=20,
        help="number of test partitions (from 2 to the test set's utterances)",
    )
    tables.add_argument("--partition_seed", type=int, default=0)
    tables.add_argument(
        "--alpha", type=float, default=0.05, help="significance level, in (0, 1)"
    )

    low = commands.add_parser("low_resource", help="Figure 2: FT+LoRA on subsets")
    _run_arguments(low)
    low.add_argument("--corpus", required=True, help="the language-2 corpus")
    low.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=list(PAPER_SIZES),
        help="training subsets, each below the corpus's training set",
    )
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
        return tables_command(args, parser)
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
    check_sizes(args, parser)
    return low_resource_command(args, recipes, options)


def check_tables_arguments(args, parser):
    """Refuse ``--k`` and ``--alpha`` values the t-test cannot use.

    ``--k`` must be at least 2 (two samples per row) and at most the
    utterances of the smallest test set of the finished runs; ``--alpha``
    in (0, 1). Warns when the partitions are smaller than
    ``MIN_PARTITION_SIZE`` utterances (a test of little power).

    Example
    -------
    >>> parser = build_parser()
    >>> args = parser.parse_args(["tables", "runs", "--k", "1"])
    >>> check_tables_arguments(args, parser)  # the message goes to stderr
    Traceback (most recent call last):
    ...
    SystemExit: 2
    """
    if args.k < 2:
        parser.error(
            f"argument --k: {args.k} partitions; a t-test needs at least 2 "
            "samples per row: give 2 or more"
        )
    if not 0 < args.alpha < 1:
        parser.error(f"argument --alpha: {args.alpha} is not in (0, 1)")
    smallest = smallest_test_set(args.root) if args.samples == "partitions" else None
    if smallest is None:
        return
    path, size = smallest
    if args.k > size:
        parser.error(
            f"argument --k: {args.k} partitions of a test set of {size} "
            f"utterances ({path}): give at most {size}"
        )
    if size // args.k < MIN_PARTITION_SIZE:
        warn(
            f"--k {args.k}: partitions of as few as {size // args.k} utterances "
            f"({path} has {size}); with fewer than {MIN_PARTITION_SIZE} the "
            "t-test has little power: a smaller --k gives larger partitions"
        )


def tables_command(args, parser):
    """``tables``: write and print the tables; returns the exit status."""
    output = args.output or os.path.join(args.root, "tables")
    try:
        check_tables_arguments(args, parser)
        text = write_tables(
            args.root,
            output,
            args.samples,
            args.k,
            args.partition_seed,
            args.alpha,
            warn=warn,
        )
    except TablesError as error:
        print(f"error: experiments tables: {error}", file=sys.stderr)
        return 1
    print(text)
    print(f"written to {output}")
    return 0


def check_sizes(args, parser):
    """Refuse subset sizes below 1, or not below the corpus's training set.

    The training set's size is known when a full-data run of the corpus
    has prepared it (``low_resource.train_set_size``).

    Example
    -------
    >>> parser = build_parser()
    >>> args = parser.parse_args(["low_resource", "--recipe", "B=r", "--corpus",
    ...     "B", "--sizes", "0"])
    >>> check_sizes(args, parser)  # the message goes to stderr
    Traceback (most recent call last):
    ...
    SystemExit: 2
    """
    if min(args.sizes) < 1:
        parser.error(f"argument --sizes: {min(args.sizes)} is not a positive size")
    known = train_set_size(args.root, args.corpus, args.encoder, args.seed)
    problem = oversized(args.sizes, args.corpus, known)
    if problem:
        parser.error(f"{problem}: give sizes below {known[0]}")


def low_resource_command(args, recipes, options):
    """``low_resource``: run the study, then draw its figure; returns 0.

    The full-data runs go first; a subset size that their training manifest
    shows to be the whole training set is then left out, with a warning.
    """
    runs = plan_low_resource(
        args.root, recipes, args.corpus, args.encoder, args.sizes, args.seed, **options
    )
    run_grid([run for run in runs if "subset" not in run], dry_run=args.dry_run)
    subsets = [run for run in runs if "subset" in run]
    if not args.dry_run:
        known = train_set_size(args.root, args.corpus, args.encoder, args.seed)
        problem = oversized(args.sizes, args.corpus, known)
        if problem:
            warn(f"{problem}: not run")
        subsets = runs_below(subsets, known)
    run_grid(subsets, dry_run=args.dry_run)
    if not args.dry_run:
        figure = args.figure or os.path.join(args.root, "low_resource.png")
        plot_low_resource(
            args.root,
            args.corpus,
            recipes[args.corpus]["cross_corpus"],
            args.encoder,
            figure,
            args.seed,
            warn=warn,
        )
        print(f"figure: {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
