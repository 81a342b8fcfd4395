"""Peak memory of reading odd-rate files with the serving reader (soxr).

Writes mono 16-bit WAV noise at 8001, 44099 and 48000 Hz, 3 s and 10 min
long, and reads each in a fresh child process through
``speechbrain_lora_ser.serving.long_audio.stream_windows`` (blocks, soxr;
what ``predict_files`` does) and through
``speechbrain_lora_ser.serving.audio.read_audio`` (the whole waveform,
read in blocks). Prints the growth of peak RSS (VmHWM, reset after the
imports) for each: the memory the reading itself costs.

Usage::

    python benchmarks/resampling_memory.py [--folder /tmp/rates]

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import soundfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATES = (8001, 44099, 48000)
SECONDS = (3, 600)

CHILD = textwrap.dedent(
    """
    import json, sys
    import torch
    torch.set_num_threads(1)
    from speechbrain_lora_ser.serving.audio import read_audio
    from speechbrain_lora_ser.serving.long_audio import stream_windows
    mode, path = sys.argv[1:]
    def status(key):
        with open("/proc/self/status") as handle:
            line = next(r for r in handle if r.startswith(key))
        return int(line.split()[1]) / 1024
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # reset the peak RSS (VmHWM) to the current RSS
    before = status("VmRSS:")
    if mode == "streamed":
        sum(1 for _ in stream_windows(path, 16000, 10.0, 5.0, vad=False))
    else:
        read_audio(path, 16000)
    print(json.dumps(status("VmHWM:") - before))
    """
)


def write_noise(path, rate, seconds):
    """Mono 16-bit noise, written a minute at a time."""
    rng = np.random.default_rng(rate)
    with soundfile.SoundFile(path, "w", samplerate=rate, channels=1) as handle:
        for start in range(0, seconds, 60):
            block = min(60, seconds - start)
            handle.write((0.1 * rng.standard_normal(block * rate)).astype("f4"))
    return path


def peak_mb(mode, path):
    """Growth of peak RSS (MB) of reading ``path`` in a fresh process."""
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-c", CHILD, mode, path],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    """Write the files, read each, print the peaks as CSV."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", default=None, help="where the files go")
    args = parser.parse_args()
    folder = args.folder or tempfile.mkdtemp(prefix="resampling_memory_")
    os.makedirs(folder, exist_ok=True)
    print("rate_hz,seconds,streamed_peak_mb,whole_read_peak_mb")
    for rate in RATES:
        for seconds in SECONDS:
            path = write_noise(
                os.path.join(folder, f"{rate}_{seconds}.wav"), rate, seconds
            )
            streamed = peak_mb("streamed", path)
            whole = peak_mb("whole", path)
            print(f"{rate},{seconds},{streamed:.1f},{whole:.1f}", flush=True)
            os.remove(path)


if __name__ == "__main__":
    main()
