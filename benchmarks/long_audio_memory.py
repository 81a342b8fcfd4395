#!/usr/bin/env python3
"""Peak memory of rating a long recording: whole-file reading vs. streaming.

Writes stereo 44.1 kHz 16-bit FLAC files of ``--minutes`` each (eSpeak NG
sentences, English, repeated with pauses of digital silence and of quiet
noise, so that the files stay small on disk), then rates each one in a fresh
process, twice:

* ``whole``: today's path: ``read_audio`` (the whole file, resampled and
  mixed down at once), windows cut from it, the model on batches of windows;
* ``streamed``: ``speechbrain_lora_ser.serving.long_audio.stream_windows`` (blocks,
  Silero VAD, windows as they complete), the model on batches of windows
  with speech.

The model is a small WavLM (``save_tiny_encoder``) with the recipes' head
(attentive statistics pooling and fully connected layers), so that the
windows really go through an encoder. Each
process prints its peak resident memory (``getrusage``'s ``ru_maxrss``) and
its resident memory after the imports and the model (the bare import); the
table gives both and their difference.

> python benchmarks/long_audio_memory.py                     # 30 and 120 min
> python benchmarks/long_audio_memory.py --minutes 5 --modes streamed
> python benchmarks/long_audio_memory.py --minutes 60 --modes streamed \
      --contents silence speech

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

RATE = 44100
#: Batches padded to whole seconds, as ``EncoderRegressor`` rates long files
#: (``PAD_TO=0`` in the environment: to the longest window of each batch).
PAD_TO = int(os.environ.get("PAD_TO", 16000))
SENTENCES = [
    "So today we are talking about the one thing nobody wants to admit.",
    "Honestly, I was furious when I heard what happened next.",
    "It was a quiet evening, and we just sat there for a while.",
    "That is wonderful news, congratulations to the whole team!",
]


def write_recording(path, minutes, seed=0, content="speech"):
    """Write a stereo 44.1 kHz FLAC of ``minutes`` of speech and pauses, in blocks.

    ``content="silence"``: the pauses alone (digital silence, room noise).
    """
    import soundfile
    import torch
    import torchaudio

    from speechbrain_lora_ser.synthetic.speech_synthesis import Speaker

    speaker, rng = Speaker(), np.random.default_rng(seed)
    clips = []
    for index, text in enumerate(SENTENCES):
        wav, rate = speaker.say(text, voice="en-us", pitch=40 + 10 * index)
        clips.append(
            torchaudio.functional.resample(torch.from_numpy(wav), rate, RATE).numpy()
        )
    total = int(minutes * 60 * RATE)
    with soundfile.SoundFile(
        path, "w", samplerate=RATE, channels=2, format="FLAC", subtype="PCM_16"
    ) as handle:
        written = 0
        while written < total:
            clip = clips[int(rng.integers(len(clips)))]
            if content == "silence":
                clip = clip[:0]
            pause = np.zeros(int(rng.uniform(0.3, 8.0) * RATE), dtype=np.float32)
            if rng.random() < 0.3:  # room noise in some pauses
                pause += 0.003 * rng.standard_normal(len(pause)).astype(np.float32)
            mono = np.concatenate([clip, pause])[: total - written]
            stereo = np.stack([mono, 0.8 * mono], axis=1)
            handle.write(stereo)
            written += len(mono)
    return path


def peak_rss_mb():
    """Peak resident memory of this process so far, in MB (Linux: KiB units)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb():
    """Resident memory of this process now, in MB."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(mode, path, encoder_folder, batch_size):
    """Rate ``path`` in this process; print a JSON line of the figures."""
    import torch

    from speechbrain_lora_ser.modeling.model import (
        EmotionHead,
        MaskedAttentiveStatisticsPooling,
        SSLEncoder,
    )
    from speechbrain_lora_ser.serving.audio import read_audio
    from speechbrain_lora_ser.serving.long_audio import (
        _padded,
        stream_windows,
        window_bounds,
    )

    torch.set_num_threads(1)
    torch.manual_seed(0)
    ssl = SSLEncoder(encoder_folder).eval()
    width = ssl.hidden_size
    head = EmotionHead(  # the recipes' head (their model YAML), small
        MaskedAttentiveStatisticsPooling(width, attention_channels=8),
        torch.nn.Sequential(
            torch.nn.Linear(2 * width, 8),
            torch.nn.LayerNorm(8),
            torch.nn.ReLU(),
            torch.nn.Linear(8, 3),
        ),
    ).eval()
    bare = current_rss_mb()
    started = time.perf_counter()
    rated = withheld = 0

    def rate(wavs):
        # windows rated on their speech alone differ in length: padded
        wavs, lens = _padded(wavs, PAD_TO)
        with torch.no_grad():
            hidden, lens = ssl(wavs, lens)
            return head(hidden, lens)

    batch = []
    if mode == "whole":
        wav = read_audio(path, 16000)
        for start, end in window_bounds(wav.shape[0], 160000, 80000):
            batch.append(wav[start:end])
            if len(batch) == batch_size:
                rate(batch)
                rated, batch = rated + len(batch), []
    else:
        for window in stream_windows(path, 16000, 10.0, 5.0):
            if window.withhold:
                withheld += 1
                continue
            batch.append(window.wav)
            if len(batch) == batch_size:
                rate(batch)
                rated, batch = rated + len(batch), []
    if batch:
        # the last window can be shorter (a file under 10 s) or end-aligned
        for wav in batch:
            rate([wav])
        rated += len(batch)
    print(
        json.dumps(
            {
                "bare_mb": bare,
                "peak_mb": peak_rss_mb(),
                "seconds": time.perf_counter() - started,
                "rated": rated,
                "withheld": withheld,
            }
        )
    )


def main():
    """Write the files, run each case in a fresh process, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[30, 120])
    parser.add_argument("--modes", nargs="+", default=["whole", "streamed"])
    parser.add_argument(
        "--contents",
        nargs="+",
        default=["speech"],
        choices=["speech", "silence"],
        help="speech with pauses, or the pauses alone",
    )
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--folder", default=None, help="where the files go")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child[:2], args.child[2], args.batch_size)
        return
    from speechbrain_lora_ser.synthetic.architectures import save_tiny_encoder

    folder = args.folder or tempfile.mkdtemp(prefix="long_audio_")
    encoder = save_tiny_encoder(os.path.join(folder, "encoder"))
    rows = []
    for minutes, content in itertools.product(args.minutes, args.contents):
        path = os.path.join(folder, f"{content}_{minutes:g}min.flac")
        if not os.path.exists(path):
            started = time.perf_counter()
            write_recording(path, minutes, content=content)
            print(
                f"wrote {path} ({os.path.getsize(path) / 2**20:.0f} MB) in "
                f"{time.perf_counter() - started:.0f} s",
                flush=True,
            )
        for mode in args.modes:
            result = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    mode,
                    path,
                    encoder,
                    "--batch_size",
                    str(args.batch_size),
                ],
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                rows.append(
                    (minutes, content, mode, None, result.stderr.strip()[-300:])
                )
            else:
                rows.append(
                    (
                        minutes,
                        content,
                        mode,
                        json.loads(result.stdout.strip().splitlines()[-1]),
                        "",
                    )
                )
            print(rows[-1], flush=True)
    print(
        "stereo 44.1 kHz FLAC, small WavLM + head, 10-s windows every 5 s, "
        f"batch {args.batch_size}, 1 thread"
    )
    print(
        "| minutes | content | path | bare import (MB) | peak RSS (MB) "
        "| audio handling (MB) | windows rated / withheld | seconds |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for minutes, content, mode, figures, error in rows:
        if figures is None:
            print(f"| {minutes:g} | {content} | {mode} | failed: {error} |")
            continue
        bare, peak = figures["bare_mb"], figures["peak_mb"]
        print(
            f"| {minutes:g} | {content} | {mode} | {bare:.0f} | {peak:.0f} "
            f"| {peak - bare:+.0f} "
            f"| {figures['rated']} / {figures['withheld']} | {figures['seconds']:.0f} |"
        )


if __name__ == "__main__":
    main()
