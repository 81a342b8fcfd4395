#!/usr/bin/env python3
"""Which windows have no speech: the silence rules against two voice activity detectors.

Builds a recording of eSpeak NG sentences (English) separated by pauses of
several seconds, at a speech level of about -20 dBFS, with background noise
at several levels (digital silence, -70, -50, -40 and -30 dBFS white noise,
and a 50 Hz hum with -50 dBFS noise), cuts it into the model's windows
(``--window`` s every ``--hop`` s) and says for each detector how many
windows it gets wrong:

* ``rules``: ``speechbrain_lora_ser.serving.audio.signal_warning`` on the window
  (values withheld for digital silence and constant signals);
* ``webrtcvad``: the WebRTC VAD (``webrtcvad-wheels``, aggressiveness 3,
  30 ms frames);
* ``silero``: Silero VAD (``silero-vad``, its TorchScript model, 32 ms
  frames, speech when the probability is at least 0.5).

A window has speech when at least ``--min_speech`` s of a sentence falls in
it (the sentences' own boundaries, trimmed of eSpeak's silence). A VAD calls a
window speech when at least ``--min_speech`` s of its frames are speech.

> python benchmarks/speech_flags.py

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import time

import numpy as np
import torch
import torchaudio

from speechbrain_lora_ser.serving.audio import signal_warning
from speechbrain_lora_ser.synthetic.speech_synthesis import Speaker

RATE = 16000
SENTENCES = [
    "The weather was lovely this morning, so we walked to the station.",
    "I cannot believe you did that again without telling anyone.",
    "Please send me the report before the meeting on Thursday.",
    "That was the best concert I have heard in years.",
    "We will need more time to finish the second part of the project.",
    "Honestly, I think the answer is somewhere in the middle.",
]


def speech_recording(pauses):
    """Sentences separated by ``pauses`` (seconds); returns wav and speech spans."""
    speaker = Speaker()
    pieces, spans, position = [], [], 0
    for index, pause in enumerate(pauses):
        wav, rate = speaker.say(SENTENCES[index % len(SENTENCES)], voice="en-us")
        wav = torchaudio.functional.resample(torch.from_numpy(wav), rate, RATE)
        voiced = torch.nonzero(wav.abs() > 1e-3).flatten()
        wav = wav[voiced[0] : voiced[-1] + 1]
        wav = wav / wav.pow(2).mean().sqrt() * 10 ** (-20 / 20)
        silence = torch.zeros(int(pause * RATE))
        pieces += [silence, wav]
        spans.append((position + len(silence), position + len(silence) + len(wav)))
        position += len(silence) + len(wav)
    pieces.append(torch.zeros(int(pauses[0] * RATE)))
    return torch.cat(pieces), spans


def backgrounds(length, seed=0):
    """Background signals of ``length`` samples: name -> waveform."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(length, generator=generator)
    hum = torch.sin(2 * torch.pi * 50 * torch.arange(length) / RATE)
    cases = {"digital silence": torch.zeros(length)}
    for level in (-70, -50, -40, -30):
        cases[f"white noise {level} dBFS"] = noise * 10 ** (level / 20)
    cases["50 Hz hum -30 dBFS + noise -50 dBFS"] = hum * 10 ** (
        -30 / 20
    ) * 2**0.5 + noise * 10 ** (-50 / 20)
    # music-like: a chord of three random tones, changing every 0.4 s
    rng = np.random.default_rng(seed)
    steps = torch.arange(length) // int(0.4 * RATE)
    chord = torch.zeros(length)
    for _ in range(3):
        pitches = torch.from_numpy(rng.uniform(200, 2000, int(steps[-1]) + 1))
        chord += torch.sin(2 * torch.pi * pitches[steps] * torch.arange(length) / RATE)
    cases["tone chords -30 dBFS"] = chord / chord.pow(2).mean().sqrt() * 10 ** (-1.5)
    return cases


def windows(length, window, hop):
    """``(start, end)`` of the windows, the last aligned to the end."""
    starts = list(range(0, max(length - window, 0) + 1, hop))
    if starts[-1] + window < length:
        starts.append(length - window)
    return [(s, min(s + window, length)) for s in starts]


def webrtc_frames(wav, aggressiveness=3, frame=480):
    """Per-sample speech mask from the WebRTC VAD (30 ms frames)."""
    import webrtcvad

    vad = webrtcvad.Vad(aggressiveness)
    pcm = (wav.clamp(-1, 1) * 32767).to(torch.int16).numpy()
    mask = torch.zeros(len(wav), dtype=torch.bool)
    for start in range(0, len(pcm) - frame + 1, frame):
        if vad.is_speech(pcm[start : start + frame].tobytes(), RATE):
            mask[start : start + frame] = True
    return mask


def silero_frames(wav, model, threshold=0.5, frame=512):
    """Per-sample speech mask from Silero VAD (32 ms frames)."""
    model.reset_states()
    mask = torch.zeros(len(wav), dtype=torch.bool)
    with torch.no_grad():
        for start in range(0, len(wav) - frame + 1, frame):
            if model(wav[start : start + frame], RATE).item() >= threshold:
                mask[start : start + frame] = True
    return mask


def main():
    """Score each detector on each background; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--hop", type=float, default=5.0)
    parser.add_argument("--min_speech", type=float, default=0.5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from silero_vad import load_silero_vad

    silero = load_silero_vad()
    pauses = [12, 3, 25, 1, 18, 4, 30, 2, 14, 6, 22, 3]
    speech, spans = speech_recording(pauses)
    truth_mask = torch.zeros(len(speech), dtype=torch.bool)
    for begin, end in spans:
        truth_mask[begin:end] = True
    cuts = windows(len(speech), int(args.window * RATE), int(args.hop * RATE))
    need = args.min_speech * RATE
    truth = [truth_mask[b:e].sum().item() >= need for b, e in cuts]
    print(
        f"{len(speech) / RATE:.0f} s, {len(spans)} sentences, {len(cuts)} windows of "
        f"{args.window:g} s every {args.hop:g} s: {sum(truth)} with speech, "
        f"{len(truth) - sum(truth)} without"
    )
    print(
        "| background | detector | speech windows flagged no-speech | "
        "no-speech windows rated | seconds (1 thread) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for name, background in backgrounds(len(speech)).items():
        wav = speech + background
        started = time.perf_counter()
        rules = [not signal_warning(wav[b:e])[1] for b, e in cuts]
        rule_time = time.perf_counter() - started
        started = time.perf_counter()
        webrtc = webrtc_frames(wav)
        webrtc_time = time.perf_counter() - started
        started = time.perf_counter()
        silero_mask = silero_frames(wav, silero)
        silero_time = time.perf_counter() - started
        results = {
            "rules": (rules, rule_time),
            "webrtcvad": (
                [webrtc[b:e].sum().item() >= need for b, e in cuts],
                webrtc_time,
            ),
            "silero": (
                [silero_mask[b:e].sum().item() >= need for b, e in cuts],
                silero_time,
            ),
        }
        for detector, (said, seconds) in results.items():
            missed = sum(t and not s for t, s in zip(truth, said, strict=True))
            rated = sum(s and not t for t, s in zip(truth, said, strict=True))
            print(
                f"| {name} | {detector} | {missed} of {sum(truth)} | "
                f"{rated} of {len(truth) - sum(truth)} | {seconds:.2f} |"
            )


if __name__ == "__main__":
    main()
