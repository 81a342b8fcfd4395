r"""Command line: export a model to ONNX, and rate files with it (no torch).

> ser-onnx export --model results/.../inference --output model_onnx [--int8]
> ser-onnx predict --model model_onnx speech.wav recordings/ \\
>     [--output predictions.csv]

(or ``python -m speechbrain_lora_ser.onnx``, the same command).

``export`` needs the full package (torch, SpeechBrain, peft, onnx);
``predict`` needs only numpy, onnxruntime, soundfile and soxr. The CSV has
the columns of ``python -m speechbrain_lora_ser.serving.predict``. Exit status of
``predict``: 0 when every file was rated (warnings included), 1 when any
file has an error or none was found, 2 for a usage error.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import csv
import os
import sys

from speechbrain_lora_ser.atomic import replacing
from speechbrain_lora_ser.serving.decoding import find_audio_files
from speechbrain_lora_ser.serving.prediction_table import COLUMNS


def write_csv(rows, output):
    """Write result rows as CSV to ``output`` (``-``: stdout), beside then renamed."""
    if output == "-":
        _write_csv_rows(rows, sys.stdout)
        return
    with replacing(output) as temporary:
        with open(temporary, "w", newline="") as stream:
            _write_csv_rows(rows, stream)


def _write_csv_rows(rows, stream):
    writer = csv.DictWriter(
        stream, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        lists = {k: ";".join(row.get(k) or []) for k in ("not_learned", "out_of_range")}
        writer.writerow(row | lists)


def _program():
    """Return the command's name as typed: ``ser-onnx`` or ``python -m ...``."""
    if os.path.basename(sys.argv[0]) == "ser-onnx":
        return "ser-onnx"
    return "python -m speechbrain_lora_ser.onnx"


def parser():
    """Build the argument parser of both commands."""
    main_parser = argparse.ArgumentParser(
        prog=_program(),
        description="Emotion ratings with an ONNX model (no PyTorch to rate).",
    )
    commands = main_parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="export a model folder to ONNX")
    export.add_argument("--model", required=True, help="an exported model folder")
    export.add_argument("--output", required=True, help="the ONNX model folder")
    export.add_argument("--int8", action="store_true", help="int8 matrix products")
    predict = commands.add_parser("predict", help="rate audio files")
    predict.add_argument("paths", nargs="+", help="audio files and/or folders")
    predict.add_argument("--model", required=True, help="an ONNX model folder")
    predict.add_argument("--output", default="-", help="CSV file (default: stdout)")
    predict.add_argument("--batch_size", type=int, default=8)
    predict.add_argument("--threads", type=int, default=None)
    predict.add_argument("--no_vad", action="store_true", help="no speech detection")
    predict.add_argument(
        "--vad_threshold",
        type=float,
        default=0.5,
        help="Silero VAD's speech probability from which a frame is speech",
    )
    predict.add_argument(
        "--min_speech_share",
        type=float,
        default=0.2,
        help="below this share of a file's sound heard as speech, the file is "
        "rated without the VAD, with a warning (0: keep the VAD's verdict)",
    )
    predict.add_argument("--no_clip", action="store_true", help="values not clipped")
    predict.add_argument(
        "--uncalibrated", action="store_true", help="raw regression outputs"
    )
    return main_parser


def main(argv=None):
    """Run the command line; returns the exit status."""
    args = parser().parse_args(argv)
    if args.command == "export":
        from speechbrain_lora_ser.onnx.export import export_onnx

        info = export_onnx(args.model, args.output, int8=args.int8)
        print(
            f"wrote {args.output} ({info['precision']}, opset {info['opset']}; "
            f"check against PyTorch: {info['check']})"
        )
        return 0
    from speechbrain_lora_ser.onnx.runtime import OnnxRegressor

    paths = find_audio_files(args.paths)
    if not paths:
        print("no audio files found", file=sys.stderr)
        return 1
    model = OnnxRegressor(args.model, threads=args.threads)
    rows = model.predict_files(
        paths,
        batch_size=args.batch_size,
        clip=not args.no_clip,
        calibrate=not args.uncalibrated,
        vad=not args.no_vad,
        vad_threshold=args.vad_threshold,
        min_speech_share=args.min_speech_share,
    )
    write_csv(rows, args.output)
    errors = [row for row in rows if row["error"]]
    for row in errors:
        print(row["error"], file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
