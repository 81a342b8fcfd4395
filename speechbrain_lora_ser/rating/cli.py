r"""Command lines: ``ser-rate`` (an archive on Ray) and ``ser-select``.

> ser-rate --model results/.../inference --output ratings/ podcasts/ \\
>     [--manifest m.csv] [--file_list list.txt] [--address ray://head:10001]

> ser-select ratings/ --output to_annotate/ --count 200 --seconds 6

Exit status of ``ser-rate``: 0 when every file given was rated, 1 when
some failed (they are in ``failures/``, and the next run tries them
again), 2 for a usage error (named in one line, before Ray starts when it
can be: the model, the numbers; options the model cannot serve stop the
run before any shard is written).

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import json
import sys

from speechbrain_lora_ser.rating.inputs import collect_inputs
from speechbrain_lora_ser.serving.speech_share import check_settings


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
    parser.add_argument("--vad_threshold", type=float, default=None)
    parser.add_argument("--min_speech_share", type=float, default=None)
    parser.add_argument("--uncalibrated", action="store_true")
    parser.add_argument("--no_clip", action="store_true")
    parser.add_argument("--language", default=None)
    return parser


def check_rate_arguments(parser, args):
    """Refuse bad numbers before Ray starts (``parser.error``: exit 2).

    Example
    -------
    >>> parser = rate_parser()
    >>> args = parser.parse_args(["--model", "m", "--output", "o", "--workers", "0"])
    >>> check_rate_arguments(parser, args)  # the message goes to stderr
    Traceback (most recent call last):
    ...
    SystemExit: 2
    """
    for name in ("workers", "batch_size", "files_per_shard", "num_cpus"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} must be at least 1, not {value}")
    for name in ("seconds_per_shard", "window_seconds", "hop_seconds"):
        value = getattr(args, name)
        if value is not None and not value > 0:  # NaN refused too
            parser.error(f"--{name} must be a positive number of seconds, not {value}")
    try:
        check_settings(
            0.5 if args.vad_threshold is None else args.vad_threshold,
            0.0 if args.min_speech_share is None else args.min_speech_share,
        )
    except ValueError as error:
        parser.error(f"--{error}")
    if args.no_vad and (args.vad_threshold or args.min_speech_share) is not None:
        parser.error("--vad_threshold and --min_speech_share need the VAD (--no_vad)")


def rating_options(args):
    """``predict_files``'s keyword arguments from the command line.

    Example
    -------
    >>> args = rate_parser().parse_args(
    ...     ["--model", "m", "--output", "o", "--vad_threshold", "0.3"])
    >>> options = rating_options(args)
    >>> options["vad"], options["vad_threshold"], "min_speech_share" in options
    (True, 0.3, False)
    """
    options = {
        "batch_size": args.batch_size,
        "window_seconds": args.window_seconds,
        "hop_seconds": args.hop_seconds,
        "vad": not args.no_vad,
        "calibrate": not args.uncalibrated,
        "clip": not args.no_clip,
        "language": args.language,
    }
    for name in ("vad_threshold", "min_speech_share"):
        if getattr(args, name) is not None:  # the package's default otherwise
            options[name] = getattr(args, name)
    return options


def rate_main(argv=None):
    """Run ``ser-rate``; returns the exit status."""
    parser = rate_parser()
    args = parser.parse_args(argv)
    check_rate_arguments(parser, args)
    from speechbrain_lora_ser.serving.model_loading import check_model_source

    try:
        files = collect_inputs(args.paths, args.manifest, args.file_list)
        check_model_source(args.model)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not files:
        print("error: no audio file given", file=sys.stderr)
        return 2
    import ray

    from speechbrain_lora_ser.rating.rate import rate_archive

    options = rating_options(args)
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
    except KeyboardInterrupt:
        print(
            f"interrupted: the finished shards are in {args.output}; the same "
            "command rates the rest",
            file=sys.stderr,
        )
        return 130
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
