#!/usr/bin/env python3
"""Speed and memory of the two stages, of inference, and of batching.

Prints, for an encoder architecture (the paper's large ones by default, built
from their configurations with random weights, so nothing is downloaded):

1. training step time and peak memory of stage 1 (full fine-tuning) against
   stage 2 (LoRA) at the same batch;
2. inference real-time factor of the plain encoder, LoRA merged, and LoRA kept
   separate;
3. the fraction of padded audio in fixed-size random batches against
   SpeechBrain's ``DynamicBatchSampler``, on a duration distribution like
   MSP-Podcast's (2.75-11 s).

Each training measurement runs in its own process so that peak memory (GPU:
``max_memory_allocated``; CPU: peak resident set size) belongs to it alone.

> python benchmarks/benchmark.py                      # WavLM-large, 2 x 4 s
> python benchmarks/benchmark.py --encoder facebook/hubert-large-ll60k --device cuda

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time

import torch

from speechbrain_lora_ser.architectures import LARGE_CONFIGS, large_config
from speechbrain_lora_ser.brain import configure_stage, count_trainable
from speechbrain_lora_ser.lora import add_lora, merge_lora
from speechbrain_lora_ser.model import EmotionHead, SSLEncoder
from speechbrain_lora_ser.pipeline import duration_bucket_boundaries, padded_fraction

LORA = {"rank": 32, "alpha": 64, "dropout": 0.05}


def build_encoder(name, device):
    """Build an SSLEncoder: a paper architecture (random weights) or a folder."""
    source, from_config = name, False
    if name in LARGE_CONFIGS:
        source, from_config = tempfile.mkdtemp(prefix="encoder_config_"), True
        large_config(name).save_pretrained(source)
    return SSLEncoder(source, from_config=from_config, layerdrop=0.0).to(device)


def peak_memory_mb(device):
    """Peak memory of this process so far, in MB."""
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_training(args):
    """One stage's training steps (run in a child process)."""
    torch.manual_seed(0)
    encoder = build_encoder(args.encoder, args.device)
    configure_stage(encoder, args.mode, LORA)
    head = EmotionHead(encoder.hidden_size).to(args.device)
    parameters = [p for p in encoder.parameters() if p.requires_grad]
    parameters += list(head.parameters())
    optimizer = torch.optim.Adam(parameters, lr=1e-5)
    samples = int(args.seconds * 16000)
    wavs = torch.randn(args.batch, samples, device=args.device)
    lens = torch.ones(args.batch, device=args.device)
    targets = torch.rand(args.batch, 3, device=args.device)
    encoder.train()
    head.train()
    times = []
    for step in range(args.steps + 1):  # the first step warms up
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast(
            device_type=args.device.split(":")[0],
            dtype=torch.bfloat16,
            enabled=args.bf16,
        ):
            hidden, frame_lens = encoder(wavs, lens)
            loss = (head(hidden, frame_lens).float() - targets).pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        if step:
            times.append(time.perf_counter() - start)
    return {
        "mode": args.mode,
        "trainable": count_trainable(encoder) + count_trainable(head),
        "step_s": sum(times) / len(times),
        "peak_mb": peak_memory_mb(args.device),
    }


def measure_inference(args):
    """Real-time factor of the plain, merged and unmerged encoders."""
    torch.manual_seed(0)
    plain = build_encoder(args.encoder, args.device).eval()
    head = EmotionHead(plain.hidden_size).to(args.device).eval()
    adapted = add_lora(build_encoder(args.encoder, args.device), **LORA).eval()
    for name, parameter in adapted.model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.01)
    results = {}
    samples = int(args.seconds * 16000)
    wavs = torch.randn(args.batch, samples, device=args.device)
    lens = torch.ones(args.batch, device=args.device)
    for label, encoder in (("plain", plain), ("lora_unmerged", adapted)):
        results[label] = _rtf(encoder, head, wavs, lens, args)
    results["lora_merged"] = _rtf(merge_lora(adapted), head, wavs, lens, args)
    return results


def _rtf(encoder, head, wavs, lens, args):
    times = []
    with torch.no_grad():
        for step in range(args.steps + 1):
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            head(*encoder(wavs, lens))
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            if step:
                times.append(time.perf_counter() - start)
    audio_seconds = wavs.shape[0] * wavs.shape[1] / 16000
    return min(times) / audio_seconds


def msp_like_durations(count, seed=0):
    """Durations between 2.75 and 11 s, most of them short (like MSP-Podcast)."""
    rng = random.Random(seed)
    durations = []
    while len(durations) < count:
        value = rng.lognormvariate(1.6, 0.4)
        if 2.75 <= value <= 11.0:
            durations.append(value)
    return {f"utt{i}": d for i, d in enumerate(durations)}


def measure_batching(args):
    """Compare the padded fraction of fixed random and dynamic batches."""
    from speechbrain.dataio.dataset import DynamicItemDataset
    from speechbrain.dataio.sampler import DynamicBatchSampler

    durations = msp_like_durations(args.utterances)
    keys = list(durations)
    rng = random.Random(1)
    shuffled = keys[:]
    rng.shuffle(shuffled)
    fixed = [shuffled[i : i + 32] for i in range(0, len(shuffled), 32)]
    dataset = DynamicItemDataset({k: {"duration": d} for k, d in durations.items()})
    sampler = DynamicBatchSampler(
        dataset,
        max_batch_length=args.max_batch_length,
        bucket_boundaries=duration_bucket_boundaries(
            list(durations.values()), args.num_buckets
        ),
        length_func=lambda item: item["duration"],
        shuffle=True,
        batch_ordering="random",
    )
    dynamic = [[keys[i] for i in batch] for batch in sampler]
    return {
        "fixed_32_random": padded_fraction(fixed, durations),
        "dynamic": padded_fraction(dynamic, durations),
        "dynamic_batches": len(dynamic),
        "mean_dynamic_batch": sum(len(b) for b in dynamic) / len(dynamic),
    }


def main():
    """Run every measurement and print a report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", default="microsoft/wavlm-large")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--utterances", type=int, default=20000)
    parser.add_argument("--max_batch_length", type=float, default=200.0)
    parser.add_argument("--num_buckets", type=int, default=20)
    parser.add_argument("--only", choices=("train", "inference", "batching"))
    parser.add_argument("--mode", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:  # child process: one training measurement
        print(json.dumps(measure_training(args)))
        return

    print(
        f"encoder {args.encoder}, batch {args.batch} x {args.seconds} s, {args.device}"
    )
    if args.only in (None, "train"):
        rows = {}
        for mode in ("finetune", "lora"):
            command = [sys.executable, __file__, *sys.argv[1:], "--mode", mode]
            output = subprocess.run(command, capture_output=True, text=True, check=True)
            rows[mode] = json.loads(output.stdout.strip().splitlines()[-1])
        ft, lora = rows["finetune"], rows["lora"]
        print("\n| training step | trainable | step time (s) | peak memory (MB) |")
        print("| --- | --- | --- | --- |")
        for label, row in (("stage 1: fine-tuning", ft), ("stage 2: LoRA", lora)):
            print(
                f"| {label} | {row['trainable']:,} | {row['step_s']:.2f} | "
                f"{row['peak_mb']:.0f} |"
            )
        print(
            f"LoRA / fine-tuning: step time {lora['step_s'] / ft['step_s']:.2f}x, "
            f"peak memory {lora['peak_mb'] / ft['peak_mb']:.2f}x"
        )
    if args.only in (None, "inference"):
        rtf = measure_inference(args)
        print("\n| inference | real-time factor | vs plain |")
        print("| --- | --- | --- |")
        for label in ("plain", "lora_merged", "lora_unmerged"):
            print(f"| {label} | {rtf[label]:.3f} | {rtf[label] / rtf['plain']:.3f}x |")
    if args.only in (None, "batching"):
        batching = measure_batching(args)
        print(
            f"\npadded fraction over {args.utterances} MSP-like durations: "
            f"fixed random batches of 32 {batching['fixed_32_random']:.1%}, "
            f"dynamic batching ({args.max_batch_length:.0f} s, {args.num_buckets} "
            f"buckets) {batching['dynamic']:.1%} "
            f"(mean {batching['mean_dynamic_batch']:.1f} utterances per batch)"
        )


if __name__ == "__main__":
    main()
