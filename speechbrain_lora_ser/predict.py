r"""Command line: arousal, valence and dominance for audio files and folders.

> python -m speechbrain_lora_ser.predict --model results/.../inference \\
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

Exit status: 0 when every file was rated (warnings included), 1 when any
file has an error or none was found, 2 for a usage error.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import csv
import json
import os
import sys
import tempfile

from speechbrain_lora_ser.ccc import ATTRIBUTES
from speechbrain_lora_ser.long_audio import TIMELINE_COLUMNS, timeline_rows

COLUMNS = [
    "file",
    *ATTRIBUTES,
    "label_low",
    "label_high",
    "language",
    "language_probability",
    "not_learned",
    "out_of_range",
    "warning",
    "error",
]
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".aiff", ".aif", ".sph")


def find_audio_files(paths):
    """Expand files and folders into a sorted list of audio files.

    Arguments
    ---------
    paths : list of str
        Files (taken as given) and folders (searched recursively).

    Returns
    -------
    list of str

    Example
    -------
    >>> find_audio_files([])
    []
    """
    files = []
    for path in paths:
        if os.path.isdir(path):
            for root, _, names in os.walk(path):
                files.extend(
                    os.path.join(root, name)
                    for name in names
                    if name.lower().endswith(AUDIO_EXTENSIONS)
                )
        else:
            files.append(path)
    return sorted(files)


def write_rows(rows, output, fmt, columns=COLUMNS):
    """Write rows as CSV or JSON to ``output`` (a path, or ``-`` for stdout).

    Example
    -------
    >>> write_rows([{"file": "a.wav", "arousal": 4.0, "out_of_range": ["valence"]}],
    ...     "-", "csv")
    file,arousal,valence,dominance,label_low,label_high,language,language_probability,not_learned,out_of_range,warning,error
    a.wav,4.0,,,,,,,,valence,,
    """
    stream = (
        sys.stdout if output == "-" else open(output, "w", newline="", encoding="utf-8")
    )
    try:
        if fmt == "json":
            json.dump(rows, stream, indent=2, ensure_ascii=False)
            stream.write("\n")
        else:
            writer = csv.DictWriter(
                stream, fieldnames=columns, extrasaction="ignore", lineterminator="\n"
            )
            writer.writeheader()
            for row in rows:
                writer.writerow(
                    row
                    | {
                        key: ";".join(row.get(key) or [])
                        for key in ("not_learned", "out_of_range")
                    }
                )
    finally:
        if stream is not sys.stdout:
            stream.close()


def main(argv=None):
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        description="Predict arousal, valence and dominance of audio files."
    )
    parser.add_argument("paths", nargs="+", help="audio files and/or folders")
    parser.add_argument("--model", required=True, help="an exported inference folder")
    parser.add_argument("--output", default="-", help="output file (default: stdout)")
    parser.add_argument("--format", choices=("csv", "json"), default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "bf16", "fp16", "int8"),
        help="bf16/fp16: autocast on a GPU; int8: the encoder quantized to int8 "
        "with ONNX Runtime, on the CPU (about 2x faster; pip install "
        '".[int8]")',
    )
    parser.add_argument("--savedir", default=None, help="where the model is linked")
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
    args = parser.parse_args(argv)
    fmt = args.format or (
        "json" if args.output.endswith(".json") or args.windows else "csv"
    )

    from speechbrain_lora_ser.inference import EncoderRegressor

    if args.precision == "int8" and args.device != "cpu":
        parser.error("--precision int8 runs on the CPU; use bf16 on a GPU")
    savedir = args.savedir or tempfile.mkdtemp(prefix="ser_model_")
    precision = "fp32" if args.precision == "int8" else args.precision
    model = EncoderRegressor.from_hparams(
        source=args.model,
        savedir=savedir,
        run_opts={"device": args.device, "precision": precision},
    )
    if args.precision == "int8":
        from speechbrain_lora_ser.quantization import quantize_int8

        try:
            quantize_int8(model, cache_dir=os.path.join(savedir, "int8"))
        except (ImportError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    files = find_audio_files(args.paths)
    if not files:
        print("error: no audio file found in " + " ".join(args.paths), file=sys.stderr)
        return 1
    batch_size = args.batch_size or (32 if args.device.startswith("cuda") else 8)
    rows = model.predict_files(
        files,
        batch_size=batch_size,
        return_windows=args.windows or args.timeline,
        clip=not args.no_clip,
        progress=not args.no_progress,
        language=args.language,
        calibrate=not args.uncalibrated,
        vad=not args.no_vad,
        window_seconds=args.window_seconds,
        hop_seconds=args.hop_seconds,
    )
    for row in rows:
        if row["error"]:
            print(f"error: {row['error']}", file=sys.stderr)
        elif row["warning"]:
            print(f"warning: {row['file']}: {row['warning']}", file=sys.stderr)
    if args.timeline:
        write_rows(timeline_rows(rows), args.output, fmt, TIMELINE_COLUMNS)
    else:
        write_rows(rows, args.output, fmt)
    return 1 if any(row["error"] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
