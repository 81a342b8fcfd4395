r"""Files/s of ``ser-rate`` with 1 and 2 workers against ``ser-predict``.

> python benchmarks/rating_throughput.py --model INFERENCE_FOLDER --audio FOLDER \
>     [--copies 4] [--workers 1 2] [--files_per_shard 8] [--repeats 1]

Copies the WAVs of ``--audio`` ``--copies`` times into one folder (the
archive), then rates one file with ``ser-predict`` (its start-up), the
archive with ``ser-predict --timeline`` (one process) and
with ``ser-rate --workers N`` into a fresh dataset each time, as a user
types them. Prints, for each command, the wall time of the whole command,
files/s and seconds of audio per second, and for ``ser-rate`` the time Ray
Data spent from the first shard to the last (``wall_seconds`` of its
report) and the overhead against ``ser-predict``.
"""

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import soundfile


def make_archive(audio, copies, folder):
    """Copy the WAVs of ``audio`` ``copies`` times; returns (files, seconds)."""
    files = sorted(glob.glob(os.path.join(audio, "*.wav")))
    seconds = 0.0
    for copy in range(copies):
        for path in files:
            name = f"{copy:02d}_{os.path.basename(path)}"
            shutil.copy(path, os.path.join(folder, name))
            seconds += soundfile.info(path).duration
    return len(files) * copies, seconds


def timed(command):
    """Run ``command``; returns (seconds, stdout). Raises on failure."""
    began = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}:\n{result.stderr[-3000:]}")
    return seconds, result.stdout


def run_predict(args, archive, work):
    """``ser-predict --timeline`` on the archive: seconds of the command."""
    command = [sys.executable, "-m", "speechbrain_lora_ser.serving.predict"]
    command += ["--model", args.model, "--timeline", "--no_progress"]
    command += ["--output", os.path.join(work, "predict.csv")]
    command += ["--savedir", os.path.join(work, "predict_model"), archive]
    return timed(command)[0]


def run_rate(args, archive, work, workers, repeat):
    """``ser-rate --workers N``: (seconds of the command, Ray Data seconds)."""
    output = os.path.join(work, f"rate_{workers}_{repeat}")
    command = [sys.executable, "-c", "from speechbrain_lora_ser.rating.cli import "]
    command[-1] += "rate_entry; rate_entry()"
    command += ["--model", args.model, "--output", output, archive]
    command += ["--workers", str(workers), "--num_cpus", str(max(2, workers))]
    command += ["--files_per_shard", str(args.files_per_shard)]
    seconds, stdout = timed(command)
    report = json.loads(stdout.strip().splitlines()[-1])
    return seconds, report["wall_seconds"]


def line(name, seconds, files, audio, base=None):
    """One printed row."""
    text = (
        f"{name:<22} {seconds:7.1f} s  {files / seconds:6.2f} files/s  "
        f"{audio / seconds:6.2f} s of audio/s"
    )
    if base is not None:
        text += f"  ({seconds / base:.2f}x ser-predict)"
    return text


def main():
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--audio", required=True, help="a folder of WAVs")
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--files_per_shard", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="rating_throughput_")
    archive = os.path.join(work, "archive")
    os.makedirs(archive)
    files, audio = make_archive(args.audio, args.copies, archive)
    print(f"{files} files, {audio:.1f} s of audio, {os.cpu_count()} CPUs")
    for repeat in range(args.repeats):
        one = sorted(glob.glob(os.path.join(archive, "*.wav")))[0]
        start_up = run_predict(args, one, work)
        print(f"ser-predict on 1 file   {start_up:7.1f} s  (start-up, model loading)")
        base = run_predict(args, archive, work)
        print(line("ser-predict", base, files, audio))
        for workers in args.workers:
            seconds, ray_seconds = run_rate(args, archive, work, workers, repeat)
            print(line(f"ser-rate --workers {workers}", seconds, files, audio, base))
            print(
                line("  of which rating", ray_seconds, files, audio, base)
                + f"; start-up and listing {seconds - ray_seconds:.1f} s"
            )
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
