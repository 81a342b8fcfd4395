r"""Command line: arousal, valence and dominance for audio files and folders.

> python -m speechbrain_lora_ser.predict --model results/.../inference \\
>     speech.wav recordings/ --output predictions.csv

Folders are searched recursively for audio files. A file that cannot be read
is reported (on stderr and in the output's ``error`` column) and the other
files are still predicted; the exit status is 1 if any file failed.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import csv
import json
import os
import sys
import tempfile

from tqdm import tqdm

from speechbrain_lora_ser.ccc import ATTRIBUTES

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


def predict_files(model, files, return_windows=False, progress=True):
    """Predict every file; failures become rows with an ``error``.

    Returns
    -------
    list of dict
        One row per file: ``file``, the attributes (or ``error``).
    """
    rows = []
    for path in tqdm(files, disable=not progress, desc="predicting", unit="file"):
        try:
            row = {"file": path} | model.predict_file(
                path, return_windows=return_windows
            )
        except Exception as error:  # one bad file must not stop the others
            message = str(error) if path in str(error) else f"{path}: {error}"
            print(f"error: {message}", file=sys.stderr)
            row = {"file": path, "error": message}
        rows.append(row)
    return rows


def write_rows(rows, output, fmt):
    """Write rows as CSV or JSON to ``output`` (a path, or ``-`` for stdout).

    Example
    -------
    >>> write_rows([{"file": "a.wav", "arousal": 4.0}], "-", "json")
    [
      {
        "file": "a.wav",
        "arousal": 4.0
      }
    ]
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
                stream, fieldnames=["file", *ATTRIBUTES, "error"], extrasaction="ignore"
            )
            writer.writeheader()
            writer.writerows(rows)
    finally:
        if stream is not sys.stdout:
            stream.close()


def main(argv=None):
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        description="Predict arousal, valence and dominance (1-7 scale) of audio files."
    )
    parser.add_argument("paths", nargs="+", help="audio files and/or folders")
    parser.add_argument("--model", required=True, help="an exported inference folder")
    parser.add_argument("--output", default="-", help="output file (default: stdout)")
    parser.add_argument("--format", choices=("csv", "json"), default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--savedir", default=None, help="where the model is linked")
    parser.add_argument(
        "--windows", action="store_true", help="also output per-window values (JSON)"
    )
    parser.add_argument("--no_progress", action="store_true")
    args = parser.parse_args(argv)
    fmt = args.format or (
        "json" if args.output.endswith(".json") or args.windows else "csv"
    )

    from speechbrain_lora_ser.inference import EncoderRegressor

    savedir = args.savedir or tempfile.mkdtemp(prefix="ser_model_")
    model = EncoderRegressor.from_hparams(
        source=args.model, savedir=savedir, run_opts={"device": args.device}
    )
    files = find_audio_files(args.paths)
    if not files:
        print("error: no audio file found in " + " ".join(args.paths), file=sys.stderr)
        return 1
    rows = predict_files(model, files, args.windows, progress=not args.no_progress)
    write_rows(rows, args.output, fmt)
    return 1 if any("error" in row for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
