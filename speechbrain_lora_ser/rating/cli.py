r"""Command lines: ``ser-rate`` (an archive on Ray) and ``ser-select``.

> ser-rate --model results/.../inference --output ratings/ podcasts/ \\
>     [--manifest m.csv] [--file_list list.txt] [--address ray://head:10001]

> ser-select ratings/ --output to_annotate/ --count 200 --seconds 6

Exit status of ``ser-rate``: 0 when every file was rated, 1 when some
failed (they are in ``failures/``), 2 for a usage error.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import json
import sys

from speechbrain_lora_ser.rating.inputs import collect_inputs


def rate_parser():
    """Build the ``ser-rate`` argument parser."""
    parser = argparse.ArgumentParser(
        description="Rate an archive of recordings on Ray into a Parquet dataset."
    )
    parser.add_argument("paths", nargs="*", help="audio files and/or folders")
    parser.add_argument("--manifest", action="append", default=[])
    parser.add_argument("--file_list", action="append", default=[])
    parser.add_argument("--model", required=True, help="a model folder or a bank")
    parser.add_argument("--output", required=True, help="the dataset's folder")
    parser.add_argument("--address", default=None, help="a Ray cluster (or local)")
    parser.add_argument(
        "--workers", type=int, default=1, help="CPU actors when there is no GPU"
    )
    parser.add_argument("--num_cpus", type=int, default=None, help="local Ray CPUs")
    parser.add_argument("--files_per_shard", type=int, default=None)
    parser.add_argument("--seconds_per_shard", type=float, default=600.0)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--window_seconds", type=float, default=None)
    parser.add_argument("--hop_seconds", type=float, default=None)
    parser.add_argument("--no_vad", action="store_true")
    parser.add_argument("--uncalibrated", action="store_true")
    parser.add_argument("--no_clip", action="store_true")
    parser.add_argument("--language", default=None)
    return parser


def rate_main(argv=None):
    """Run ``ser-rate``; returns the exit status."""
    args = rate_parser().parse_args(argv)
    try:
        files = collect_inputs(args.paths, args.manifest, args.file_list)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not files:
        print("error: no audio file given", file=sys.stderr)
        return 2
    import ray

    from speechbrain_lora_ser.rating.rate import rate_archive

    options = {
        "batch_size": args.batch_size,
        "window_seconds": args.window_seconds,
        "hop_seconds": args.hop_seconds,
        "vad": not args.no_vad,
        "calibrate": not args.uncalibrated,
        "clip": not args.no_clip,
        "language": args.language,
    }
    ray.init(
        address=args.address,
        num_cpus=None if args.address else args.num_cpus,
        include_dashboard=False,
        log_to_driver=False,
    )
    try:
        report = rate_archive(
            files,
            args.model,
            args.output,
            args.workers,
            args.files_per_shard,
            args.seconds_per_shard,
            options,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        ray.shutdown()
    print(json.dumps(report))
    return 1 if report["failed"] else 0


def select_main(argv=None):
    """Run ``ser-select``; returns the exit status."""
    from speechbrain_lora_ser.rating.selection import main

    return main(argv)


def rate_entry():
    """Console script ``ser-rate``."""
    sys.exit(rate_main())


def select_entry():
    """Console script ``ser-select``."""
    sys.exit(select_main())
