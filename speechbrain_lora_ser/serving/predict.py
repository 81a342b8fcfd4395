r"""Command line: arousal, valence and dominance for audio files and folders.

> python -m speechbrain_lora_ser.serving.predict --model results/.../inference \\
>     speech.wav recordings/ --output predictions.csv [--device cuda]

Folders are searched recursively for audio files. Several files are rated
per forward pass (``--batch_size`` windows, grouped by duration; each value
equals the file's one-by-one prediction). Values are on the model's label
scale (e.g. 1-7), calibrated on the model's development set; an attribute
the model did not learn is left empty and named in ``not_learned``
(``--uncalibrated`` writes the raw regression outputs); a value outside the
scale is clipped and named in ``out_of_range`` (``--no_clip`` keeps it). A file that
cannot be rated (unreadable, NaN samples, shorter than the encoder's
receptive field) gets an ``error`` and the others are still predicted;
silence gets a ``warning`` (digital silence and constant signals: values
withheld; near-silence: values given). With an adapter bank (``--model
BANK``), each file is routed to its language: the ``language`` and
``language_probability`` columns say which (``--language`` skips routing).

``--timeline`` writes one row per window (``start``, ``end`` in seconds)
and each file's summary row; long files are read in blocks, so memory does
not grow with their length, and windows without speech (Silero VAD) are not
rated. ``--precision int8`` runs the encoder quantized to int8 on the CPU.

Rows reach ``OUTPUT.partial`` as files finish (``--files_per_chunk`` files
at a time, each chunk synced to disk), and it is renamed to ``OUTPUT`` at
the end: a killed run or a full disk leaves the previous ``OUTPUT`` whole.
``--resume`` keeps the rows a killed run wrote (or a previous output's) and
rates only the other files. Every argument, and the output's folder, is
checked before any file is read. A file that cannot be rated, for whatever
reason, gets an error row and the others are still rated. Cells that a
spreadsheet would run as formulas are written with a leading ``'`` (see
``speechbrain_lora_ser.serving.prediction_table``).

Exit status: 0 when every file was rated (warnings included), 1 when any
file has an error or none was found, 2 for a usage error.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import os
import sys

from tqdm import tqdm

from speechbrain_lora_ser.serving.decoding import find_audio_files
from speechbrain_lora_ser.serving.prediction_table import (
    COLUMNS,
    TIMELINE_COLUMNS,
    PartialTable,
    timeline_rows,
    write_rows,
)

__all__ = ["COLUMNS", "find_audio_files", "main", "write_rows"]


def build_parser():
    """Return the command line's argument parser."""
    parser = argparse.ArgumentParser(
        description="Predict arousal, valence and dominance of audio files."
    )
    _add_files(parser)
    _add_model(parser)
    _add_windows(parser)
    _add_values(parser)
    _add_speech_detection(parser)
    _add_resuming(parser)
    return parser


def _add_files(parser):
    """Add the files to rate, the model, and where the rows go."""
    parser.add_argument("paths", nargs="+", help="audio files and/or folders")
    parser.add_argument("--model", required=True, help="an exported inference folder")
    parser.add_argument("--output", default="-", help="output file (default: stdout)")
    parser.add_argument("--format", choices=("csv", "json"), default=None)


def _add_model(parser):
    """Add how the model runs."""
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "bf16", "fp16", "int8"),
        help="bf16/fp16: autocast on a GPU; int8: the encoder quantized to int8 "
        "with ONNX Runtime, on the CPU (about 2x faster; pip install "
        '".[int8]")',
    )
    parser.add_argument(
        "--savedir",
        default=None,
        help="where the model is linked and an int8 encoder cached (default: a "
        "temporary folder, removed once the model is loaded)",
    )


def _add_windows(parser):
    """Add the windows a file is cut into, and how many run at once."""
    parser.add_argument(
        "--windows", action="store_true", help="also output per-window values (JSON)"
    )
    parser.add_argument(
        "--timeline",
        action="store_true",
        help="one row per window (start, end in seconds) and a summary row per "
        "file, in CSV or JSON",
    )
    parser.add_argument(
        "--window_seconds",
        type=float,
        default=None,
        help="window length (default: the model's)",
    )
    parser.add_argument(
        "--hop_seconds", type=float, default=None, help="hop (default: the model's)"
    )
    parser.add_argument(
        "--no_vad",
        action="store_true",
        help="rate windows without speech detection (only digital silence and "
        "constant signals are skipped)",
    )
    parser.add_argument(
        "--batch_size",
        type=int,
        default=None,
        help="windows per forward pass (default: 32 on a GPU, 8 on a CPU)",
    )


def _add_values(parser):
    """Add how the values are given."""
    parser.add_argument(
        "--no_clip",
        action="store_true",
        help="write raw outputs, not values clamped to the label scale",
    )
    parser.add_argument(
        "--uncalibrated",
        action="store_true",
        help="write the raw regression outputs (no development-set calibration; "
        "no attribute withheld), clipped to the scale unless --no_clip",
    )
    parser.add_argument(
        "--language", default=None, help="adapter banks: the files' known language"
    )
    parser.add_argument("--no_progress", action="store_true")


def _add_speech_detection(parser):
    """Add when speech detection is trusted."""
    parser.add_argument(
        "--vad_threshold",
        type=float,
        default=None,
        help="Silero VAD's speech probability from which a frame is speech, "
        "in (0, 1) (default 0.5; lower it when a file's row says the detector "
        "missed its speech)",
    )
    parser.add_argument(
        "--min_speech_share",
        type=float,
        default=None,
        help="when the VAD hears speech in less than this share of a file's "
        "sound, the file is rated without it, with a warning; in [0, 1] "
        "(default 0.2; 0 keeps the detector's verdict)",
    )


def _add_resuming(parser):
    """Add the chunks written as they finish, and resuming a killed run."""
    parser.add_argument(
        "--files_per_chunk",
        type=int,
        default=64,
        help="files rated together; each chunk's rows are written to "
        "OUTPUT.partial as it finishes (default: 64)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the rows in OUTPUT.partial (a killed run's) or OUTPUT and "
        "rate only the other files",
    )


def check_arguments(parser, args):
    """Refuse bad arguments before any work (``parser.error``: exit 2)."""
    for name in ("batch_size", "files_per_chunk"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name} must be at least 1, not {value}")
    for name in ("window_seconds", "hop_seconds"):
        value = getattr(args, name)
        if value is not None and not value > 0:  # NaN refused too
            parser.error(f"--{name} must be a positive number of seconds, not {value}")
    if args.vad_threshold is not None and not 0 < args.vad_threshold < 1:
        parser.error(f"--vad_threshold must be in (0, 1), not {args.vad_threshold}")
    if args.min_speech_share is not None and not 0 <= args.min_speech_share <= 1:
        parser.error(
            f"--min_speech_share must be in [0, 1], not {args.min_speech_share}"
        )
    if args.no_vad and (args.vad_threshold or args.min_speech_share) is not None:
        parser.error("--vad_threshold and --min_speech_share need the VAD (--no_vad)")
    if args.precision == "int8" and args.device != "cpu":
        parser.error("--precision int8 runs on the CPU; use bf16 on a GPU")
    if not os.path.isdir(args.model):
        parser.error(f"--model {args.model}: no such folder")
    check_output(parser, args)


def check_output(parser, args):
    """Refuse an output whose folder is missing or not writable (exit 2)."""
    if args.output == "-":
        if args.resume:
            parser.error("--resume needs an --output file (not stdout)")
        return
    folder = os.path.dirname(os.path.abspath(args.output))
    if os.path.isdir(args.output):
        parser.error(f"--output {args.output} is a folder; give a file name")
    if not os.path.isdir(folder):
        parser.error(f"--output {args.output}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        parser.error(f"--output {args.output}: the folder {folder} is not writable")
    partial = args.output + ".partial"
    if os.path.exists(partial) and not args.resume:
        parser.error(
            f"{partial} holds the rows of an earlier run that did not finish: "
            "add --resume to keep them and rate the other files, or delete it"
        )


def check_model_arguments(parser, args, model):
    """Refuse arguments this model cannot serve (exit 2)."""
    from speechbrain_lora_ser.serving.model_loading import check_model_options

    try:
        check_model_options(model, args.language, args.window_seconds, args.hop_seconds)
    except ValueError as error:
        parser.error(str(error))


def prediction_options(args):
    """``predict_files``'s keyword arguments from the command line."""
    options = {
        "batch_size": args.batch_size or (32 if args.device.startswith("cuda") else 8),
        "return_windows": args.windows or args.timeline,
        "clip": not args.no_clip,
        "language": args.language,
        "calibrate": not args.uncalibrated,
        "vad": not args.no_vad,
        "window_seconds": args.window_seconds,
        "hop_seconds": args.hop_seconds,
    }
    for name in ("vad_threshold", "min_speech_share"):
        if getattr(args, name) is not None:  # the package's default otherwise
            options[name] = getattr(args, name)
    return options


def error_row(path, error):
    """Return the row of a file whose rating raised ``error``."""
    row = dict.fromkeys(COLUMNS) | {"file": str(path), "duration": None}
    row.update(not_learned=[], out_of_range=[])
    row["error"] = f"{path}: {type(error).__name__}: {error}"
    return row


def rate_chunk(model, files, options):
    """Rate files together; if that fails, one by one (a failure: its row).

    Whatever a file raises (not only a known audio problem) becomes that
    file's error row, so one bad file never loses the others' values.
    """
    try:
        return model.predict_files(files, files_per_chunk=len(files), **options)
    except Exception as error:  # noqa: BLE001 - any failure: find the file, go on
        if len(files) == 1:
            return [error_row(files[0], error)]
    rows = []
    for path in files:
        try:
            rows.extend(model.predict_files([path], **options))
        except Exception as error:  # noqa: BLE001 - the file's error row
            rows.append(error_row(path, error))
    return rows


def report(rows):
    """Each error and warning on stderr, naming the file."""
    for row in rows:
        if row["error"]:
            print(f"error: {row['error']}", file=sys.stderr)
        elif row["warning"]:
            print(f"warning: {row['file']}: {row['warning']}", file=sys.stderr)


def main(argv=None):
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    fmt = args.format or (
        "json" if args.output.endswith(".json") or args.windows else "csv"
    )
    columns = TIMELINE_COLUMNS if args.timeline else COLUMNS
    end = ("span", "file") if args.timeline else (None, None)
    from speechbrain_lora_ser.serving.model_loading import load_serving_model

    try:
        model = load_serving_model(
            args.model, args.savedir, args.device, args.precision
        )
    except (ImportError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    check_model_arguments(parser, args, model)
    files = find_audio_files(args.paths)
    if not files:
        print("error: no audio file found in " + " ".join(args.paths), file=sys.stderr)
        return 1
    try:
        table = PartialTable(args.output, fmt, columns, args.resume, end)
    except ValueError as error:
        parser.error(str(error))
    try:
        failed = rate_all(model, args, files, table)
        table.finish()
    except OSError as error:  # a full disk, a removed folder: say what is kept
        print(
            f"error: writing {args.output}: {error}. The previous output is "
            f"unchanged; the rows written so far are in {table.partial} "
            "(run again with --resume to complete it)",
            file=sys.stderr,
        )
        return 1
    return 1 if failed else 0


def rate_all(model, args, files, table):
    """Rate the files ``table`` has no rows for, writing each chunk's rows.

    Returns whether any file (this run's or a resumed one's) has an error.
    """
    failed = any(row.get("error") for row in table.rows)
    todo = [path for path in files if path not in table.done]
    options = prediction_options(args)
    with tqdm(total=len(files), disable=args.no_progress, unit="file") as bar:
        bar.update(len(files) - len(todo))
        for start in range(0, len(todo), args.files_per_chunk):
            chunk = todo[start : start + args.files_per_chunk]
            rows = rate_chunk(model, chunk, options)
            report(rows)
            failed = failed or any(row["error"] for row in rows)
            table.write(timeline_rows(rows) if args.timeline else rows)
            bar.update(len(chunk))
    return failed


if __name__ == "__main__":
    sys.exit(main())
