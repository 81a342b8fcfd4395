r"""Command line of the experiment tooling.

> python -m speechbrain_lora_ser.experiments grid --msp_folder M --biic_folder B \\
>     [--encoder facebook/hubert-large-ll60k] [--seeds 1986 1987] [--dry_run]
> python -m speechbrain_lora_ser.experiments tables results/grid --output tables
> python -m speechbrain_lora_ser.experiments low_resource --msp_folder M \\
>     --biic_folder B [--corpus BIIC-Podcast] [--sizes 1000 2000 5000 10000 20000]

Arguments after ``--`` are passed to every ``train.py`` (e.g. ``--
--batch_size=16 --precision=bf16``).
"""

import argparse
import os
import sys

from speechbrain_lora_ser.experiments.grid import (
    CONFIGURATIONS,
    CORPORA,
    plan_grid,
    run_grid,
)
from speechbrain_lora_ser.experiments.low_resource import (
    PAPER_SIZES,
    plan_low_resource,
    plot_low_resource,
)
from speechbrain_lora_ser.experiments.tables import write_tables


def _data_arguments(parser):
    parser.add_argument("--msp_folder", required=True, help="MSP-Podcast corpus folder")
    parser.add_argument(
        "--biic_folder", required=True, help="BIIC-Podcast corpus folder"
    )
    parser.add_argument("--encoder", default="microsoft/wavlm-large")
    parser.add_argument("--root", default="results/grid", help="where the runs go")
    parser.add_argument("--dry_run", action="store_true", help="list, do not run")


def main(argv=None):
    """Run a subcommand; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides = []
    if "--" in argv:
        index = argv.index("--")
        argv, overrides = argv[:index], argv[index + 1 :]
    parser = argparse.ArgumentParser(prog="python -m speechbrain_lora_ser.experiments")
    commands = parser.add_subparsers(dest="command", required=True)

    grid = commands.add_parser("grid", help="the five configurations, both directions")
    _data_arguments(grid)
    grid.add_argument("--seeds", type=int, nargs="+", default=[1986])
    grid.add_argument("--configurations", nargs="+", default=list(CONFIGURATIONS))
    grid.add_argument("--corpora", nargs="+", default=list(CORPORA))

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
    _data_arguments(low)
    low.add_argument("--corpus", choices=CORPORA, default="BIIC-Podcast")
    low.add_argument("--sizes", type=int, nargs="+", default=list(PAPER_SIZES))
    low.add_argument("--seed", type=int, default=1986)
    low.add_argument("--figure", default=None, help="default: <root>/low_resource.png")

    args = parser.parse_args(argv)
    if args.command == "tables":
        output = args.output or os.path.join(args.root, "tables")
        markdown = write_tables(
            args.root, output, args.samples, args.k, args.partition_seed, args.alpha
        )
        print("Table 1: in-domain CCC\n\n" + markdown["table1"])
        print("\nTable 2: cross-lingual CCC\n\n" + markdown["table2"])
        print(f"\nwritten to {output}")
        return 0
    folders = {"MSP-Podcast": args.msp_folder, "BIIC-Podcast": args.biic_folder}
    if args.command == "grid":
        runs = plan_grid(
            args.root,
            folders,
            args.encoder,
            args.seeds,
            args.configurations,
            args.corpora,
            overrides,
        )
        run_grid(runs, dry_run=args.dry_run)
        return 0
    runs = plan_low_resource(
        args.root, folders, args.corpus, args.encoder, args.sizes, args.seed, overrides
    )
    run_grid(runs, dry_run=args.dry_run)
    if not args.dry_run:
        figure = args.figure or os.path.join(args.root, "low_resource.png")
        plot_low_resource(args.root, args.corpus, args.encoder, figure, args.seed)
        print(f"figure: {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
