#!/usr/bin/env python3
r"""Speed and memory of the two stages, of the recipe loop, of inference.

Prints, for the paper's encoder architectures (built from their
configurations with random weights, so nothing is downloaded) on the device
it runs on:

1. ``train``: one training step of stage 1 (full fine-tuning) and stage 2
   (LoRA) at the same batch, for each execution mode asked
   (``--compile_modes none default reduce-overhead``): step time, peak
   memory, FLOPs per step (``torch.utils.flop_counter.FlopCounterMode``),
   achieved TFLOP/s and MFU against the matrix-product peak measured in the
   same run, and the line ``LoRA / fine-tuning: step time R1x, peak memory
   R2x`` for each mode;
2. ``overhead``: N training steps of the real recipe loop
   (``train_stage`` with the recipe's Brain: a corpus on disk prepared
   and loaded by the recipe's pipeline, logging, checkpointing) against N
   bare steps at the
   same batch: the recipe-overhead ratio;
3. ``inference``: real-time factor of the plain, LoRA-merged and unmerged
   encoders;
4. ``batching``: padded fraction of fixed random batches against dynamic
   batching, on MSP-Podcast-like durations.

The model is the one the recipe's YAML declares (``recipes/MSP-Podcast/
hparams/ft_lora.yaml`` and its model file), with the encoder's configuration
in place of its weights.

Each training measurement runs in its own process, so that peak memory (GPU:
``max_memory_allocated``; CPU: peak resident set size) belongs to it alone.

> python benchmarks/benchmark.py                                  # CPU, 2 x 4 s
> python benchmarks/benchmark.py --device cuda --bf16 --batch 32 --seconds 6 \\
>     --compile_modes none default reduce-overhead

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

import torch
from recipe_model import RECIPE, recipe_hparams

from speechbrain_lora_ser.data.pipeline import (
    duration_bucket_boundaries,
    padded_fraction,
)
from speechbrain_lora_ser.modeling.ccc import CCCLoss
from speechbrain_lora_ser.modeling.lora import add_lora, merge_lora
from speechbrain_lora_ser.training.stages import configure_encoder, count_trainable


def build_encoder(name, device):
    """Build the recipe's encoder: a paper architecture or a folder."""
    return recipe_hparams(name)["modules"]["ssl"].to(device)


def synchronize(device):
    """Wait for the device (GPU work is asynchronous)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def peak_memory_mb(device):
    """Peak memory of this process so far, in MB."""
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matmul_peak_tflops(device, dtype):
    """Measured rate of a large matrix product (the MFU denominator)."""
    size = 8192 if device.startswith("cuda") else 2048
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    synchronize(device)
    repeats = 10 if device.startswith("cuda") else 3
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e12


def make_step(encoder, head, optimizer, loss_fn, args):
    """One training step (forward, backward, optimizer) as a function."""
    device_type = args.device.split(":")[0]

    def step(wavs, lens, targets):
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=args.bf16):
            hidden, frame_lens = encoder(wavs, lens)
            loss = loss_fn(head(hidden, frame_lens).float(), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    return step


def build_training(args, mode, device):
    """Build the encoder, head and optimizer of one stage, as the recipe does."""
    torch.manual_seed(0)
    hparams = recipe_hparams(args.encoder)
    encoder, head = hparams["modules"]["ssl"], hparams["modules"]["head"]
    configure_encoder(encoder, mode, hparams["lora_config"])
    encoder.to(device)
    head.to(device)
    parameters = [p for p in encoder.parameters() if p.requires_grad]
    parameters += list(head.parameters())
    optimizer = torch.optim.Adam(parameters, lr=hparams["lr"], fused=True)
    return encoder, head, optimizer


def measure_training(args):
    """One stage's training steps in one execution mode (a child process).

    ``args.compile``: ``none`` (eager), ``default`` or ``reduce-overhead``
    (``torch.compile`` modes); a ``-bf16base`` suffix stores the frozen
    encoder of the LoRA stage in bf16 (with ``--bf16``: the products autocast
    would cast the weights for, without the casts; a candidate lever, not used
    by the recipes).
    """
    bf16_base = args.compile.endswith("-bf16base")
    if bf16_base:
        if not args.bf16:
            raise SystemExit("-bf16base needs --bf16")
        args.compile = args.compile[: -len("-bf16base")]
    encoder, head, optimizer = build_training(args, args.mode, args.device)
    if bf16_base and args.mode == "lora":
        for parameter in encoder.parameters():
            if not parameter.requires_grad:
                parameter.data = parameter.data.to(torch.bfloat16)
    trainable = count_trainable(encoder) + count_trainable(head)
    samples = int(args.seconds * 16000)
    wavs = torch.randn(args.batch, samples, device=args.device)
    lens = torch.ones(args.batch, device=args.device)
    targets = torch.rand(args.batch, 3, device=args.device)
    encoder.train()
    head.train()
    flops = None
    if args.compile == "none":
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter:
            make_step(encoder, head, optimizer, CCCLoss(), args)(wavs, lens, targets)
        flops = counter.get_total_flops()
        run_encoder, run_head = encoder, head
    else:
        run_encoder = torch.compile(encoder, mode=args.compile)
        run_head = torch.compile(head, mode=args.compile)
    step = make_step(run_encoder, run_head, optimizer, CCCLoss(), args)
    cudagraphs = args.compile == "reduce-overhead"
    synchronize(args.device)
    start = time.perf_counter()
    for _ in range(args.warmup):
        if cudagraphs:
            torch.compiler.cudagraph_mark_step_begin()
        step(wavs, lens, targets)
    synchronize(args.device)
    warmup_s = time.perf_counter() - start
    times = []
    for _ in range(args.steps):
        if cudagraphs:
            torch.compiler.cudagraph_mark_step_begin()
        synchronize(args.device)
        start = time.perf_counter()
        step(wavs, lens, targets)
        synchronize(args.device)
        times.append(time.perf_counter() - start)
    times.sort()
    peak_mb = peak_memory_mb(args.device)  # before the profilers add theirs
    profile = None
    if args.profile and args.compile == "none":
        profile = _profile(step, (wavs, lens, targets), args.device)
    tensor_peak_mb = None
    if args.device == "cpu" and args.compile == "none":
        tensor_peak_mb = _cpu_tensor_peak_mb(step, (wavs, lens, targets))
    return {
        "mode": args.mode,
        "compile": args.compile,
        "profile": profile,
        "trainable": trainable,
        "step_s": times[len(times) // 2],
        "step_min_s": times[0],
        "step_max_s": times[-1],
        "warmup_s": warmup_s,
        "peak_mb": peak_mb,
        "tensor_peak_mb": tensor_peak_mb,
        "flops": flops,
    }


def _cpu_tensor_peak_mb(step, inputs):
    """Peak of the live tensors during one step (CPU), in MB.

    The CPU analogue of ``torch.cuda.max_memory_allocated``: parameters,
    gradients, optimizer states and activations, without the process's
    libraries (~0.8 GB here, the same for both stages) and without what the
    C allocator keeps mapped after a tensor is freed, which peak RSS counts.
    Measured by the profiler's memory timeline.
    """
    from torch.profiler import ProfilerActivity, profile

    with profile(
        activities=[ProfilerActivity.CPU],
        profile_memory=True,
        record_shapes=True,
        with_stack=True,
    ) as prof:
        step(*inputs)
    path = os.path.join(tempfile.mkdtemp(prefix="memory_timeline_"), "cpu.json")
    prof.export_memory_timeline(path, device="cpu")
    with open(path) as f:
        _, sizes = json.load(f)
    return max(sum(row) for row in sizes) / 2**20


def _profile(step, inputs, device):
    """Where one step's time goes: host time, device time, top kernels."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device.startswith("cuda"):
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        step(*inputs)
        synchronize(device)
    events = prof.key_averages()
    device_attr = "self_device_time_total"
    device_us = sum(getattr(e, device_attr, 0) for e in events)
    launches = sum(e.count for e in events if getattr(e, device_attr, 0) > 0)
    top = sorted(events, key=lambda e: getattr(e, device_attr, 0), reverse=True)[:10]
    return {
        "host_ops": sum(e.count for e in events),
        "device_ms": device_us / 1000,
        "device_launches": launches,
        "top": [
            [e.key[:60], e.count, round(getattr(e, device_attr, 0) / 1000, 2)]
            for e in top
        ],
    }


def run_child(argv, extra):
    """Run this script in a child process and return its JSON line (or None)."""
    command = [sys.executable, os.path.abspath(__file__), *argv, *extra]
    output = subprocess.run(command, capture_output=True, text=True)
    if output.returncode != 0:
        print(f"FAILED: {' '.join(extra)}:\n{output.stderr[-2500:]}", flush=True)
        return None
    return json.loads(output.stdout.strip().splitlines()[-1])


def report_training(args, argv):
    """Both stages in every compile mode: the table, ratios, FLOPs and MFU."""
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    peak = matmul_peak_tflops(args.device, dtype)
    rows = {}
    for compile_mode in args.compile_modes:
        for mode in ("finetune", "lora"):
            if mode == "finetune" and compile_mode.endswith("-bf16base"):
                continue  # fine-tuning trains those weights: compared below
            row = run_child(
                argv, ["--child", "train", "--mode", mode, "--compile", compile_mode]
            )
            if row is not None:
                rows[(mode, compile_mode)] = row
                print(json.dumps(row), flush=True)
    flops = {
        mode: row["flops"]
        for (mode, _), row in rows.items()
        if row["flops"] is not None
    }
    if len(flops) < 2:  # FLOPs are counted on the eager step
        for mode in ("finetune", "lora"):
            flops[mode] = run_child(
                argv, ["--child", "train", "--mode", mode, "--compile", "none"]
            )["flops"]
    print(
        f"\nmatrix-product peak measured here ({dtype}): {peak:.3g} TFLOP/s; FLOPs "
        f"per step: fine-tuning {flops['finetune'] / 1e12:.2f} T, LoRA "
        f"{flops['lora'] / 1e12:.2f} T ({flops['lora'] / flops['finetune']:.2f}x)"
    )
    memory = "peak GPU memory, allocated" if args.device != "cpu" else "peak RSS"
    print(
        f"\n| stage | execution | trainable | step (median) | {memory} (MB) | "
        "peak tensors (MB) | TFLOP/s | MFU |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for (mode, compile_mode), row in rows.items():
        if row.get("profile"):
            profile = row["profile"]
            print(
                f"profile {mode} ({compile_mode}): {profile['host_ops']} host ops, "
                f"device busy {profile['device_ms']:.1f} ms of "
                f"{1000 * row['step_s']:.1f} ms, {profile['device_launches']} kernels; "
                f"top: {profile['top']}"
            )
    for (mode, compile_mode), row in rows.items():
        tflops = flops[mode] / row["step_s"] / 1e12
        label = {"finetune": "stage 1: fine-tuning", "lora": "stage 2: LoRA"}[mode]
        print(
            f"| {label} | {compile_mode} | {row['trainable']:,} | "
            f"{1000 * row['step_s']:.1f} ms | {row['peak_mb']:.0f} | "
            f"{_tensor_peak(row):.0f} | {tflops:.3g} | {tflops / peak:.1%} |"
        )
    for compile_mode in args.compile_modes:
        reference = compile_mode.removesuffix("-bf16base")
        if ("finetune", reference) not in rows or ("lora", compile_mode) not in rows:
            continue
        ft, lora = rows[("finetune", reference)], rows[("lora", compile_mode)]
        tensors = ""
        if args.device == "cpu" and ft["tensor_peak_mb"] and lora["tensor_peak_mb"]:
            tensors = (
                f", peak tensors {lora['tensor_peak_mb'] / ft['tensor_peak_mb']:.2f}x"
            )
        print(
            f"[{compile_mode}] LoRA / fine-tuning: step time "
            f"{lora['step_s'] / ft['step_s']:.2f}x, peak memory "
            f"{lora['peak_mb'] / ft['peak_mb']:.2f}x{tensors} (warm-up "
            f"{ft['warmup_s']:.0f} s / {lora['warmup_s']:.0f} s)"
        )
    return rows


def _tensor_peak(row):
    """Peak of the live tensors: measured on a CPU, allocated on a GPU."""
    if row.get("tensor_peak_mb") is not None:
        return row["tensor_peak_mb"]
    return row["peak_mb"]


def measure_overhead(args):
    """Recipe loop against bare steps, same model and batch (a child process)."""
    import numpy as np
    import soundfile

    from speechbrain_lora_ser.data.corpus import CorpusLayout, prepare_corpus
    from speechbrain_lora_ser.training.stages import configure_encoder

    sys.path.insert(0, RECIPE)
    import train as recipe  # the recipe's train.py: its Brain and pipelines

    folder = tempfile.mkdtemp(prefix="overhead_")
    corpus = os.path.join(folder, "corpus")
    layout = CorpusLayout({"train": ("Train",), "valid": ("Dev",), "test": ("Test",)})
    os.makedirs(os.path.join(corpus, "Audios"))
    os.makedirs(os.path.join(corpus, "Labels"))
    rows = ["FileName,EmoAct,EmoVal,EmoDom,Split_Set"]
    generator = np.random.default_rng(0)
    count = args.batch * args.steps
    for index in range(count + 2 * args.batch):
        name = f"utt{index:05d}.wav"
        wav = 0.1 * generator.standard_normal(int(args.seconds * 16000))
        soundfile.write(os.path.join(corpus, "Audios", name), wav, 16000)
        split = (
            "Train"
            if index < count
            else ("Dev" if index < count + args.batch else "Test")
        )
        rows.append(f"{name},{1 + 6 * generator.random():.3f},4.0,4.0,{split}")
    with open(os.path.join(corpus, "Labels", "labels_consensus.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    torch.manual_seed(0)
    hparams = recipe_hparams(
        args.encoder,
        folder,
        data_folder=corpus,
        batch_size=args.batch,
        number_of_epochs=1,
        num_workers=4,
        pin_memory=args.device.startswith("cuda"),
    )
    prepare_corpus(corpus, hparams["manifest_folder"], layout)
    datasets = recipe.dataio_prep(hparams)
    stage = next(s for s in hparams["stages"] if s.train == args.mode)
    stage.corpus = hparams["corpus"]
    stage.label_scaler = hparams["label_scaler"]
    stamps = []

    class TimedBrain(recipe.SERBrain):
        def on_fit_batch_end(self, batch, outputs, loss, should_step):
            synchronize(args.device)
            stamps.append(time.perf_counter())

    configure_encoder(hparams["modules"]["ssl"], stage.train, hparams["lora_config"])
    brain = TimedBrain(
        stage,
        modules=hparams["modules"],
        hparams=hparams,
        run_opts={
            "device": args.device,
            "precision": "bf16" if args.bf16 else "fp32",
            "noprogressbar": False,
        },
    )
    recipe.train_stage(brain, stage, datasets[stage.corpus], hparams)
    warm = min(2, len(stamps) - 1)
    recipe_step = (stamps[-1] - stamps[warm - 1]) / (len(stamps) - warm)

    # bare steps: the same modules and optimizer class on one in-memory batch
    encoder, head, optimizer = build_training(args, args.mode, args.device)
    encoder.train()
    head.train()
    step = make_step(encoder, head, optimizer, CCCLoss(), args)
    samples = int(args.seconds * 16000)
    wavs = torch.randn(args.batch, samples, device=args.device)
    lens = torch.ones(args.batch, device=args.device)
    targets = torch.rand(args.batch, 3, device=args.device)
    for _ in range(warm):
        step(wavs, lens, targets)
    synchronize(args.device)
    start = time.perf_counter()
    for _ in range(len(stamps) - warm):
        step(wavs, lens, targets)
    synchronize(args.device)
    bare = (time.perf_counter() - start) / (len(stamps) - warm)
    return {
        "mode": args.mode,
        "recipe_s": recipe_step,
        "bare_s": bare,
        "steps": len(stamps),
    }


def report_overhead(args, argv):
    """Print the recipe-overhead ratio of both stages."""
    print("\n| stage | recipe loop step | bare step | recipe / bare |")
    print("| --- | --- | --- | --- |")
    for mode in ("finetune", "lora"):
        row = run_child(argv, ["--child", "overhead", "--mode", mode])
        if row is None:
            continue
        print(
            f"| {mode} | {1000 * row['recipe_s']:.1f} ms | {1000 * row['bare_s']:.1f} "
            f"ms | {row['recipe_s'] / row['bare_s']:.3f}x ({row['steps']} steps) |"
        )


def measure_inference(args):
    """Real-time factor of the plain, merged and unmerged encoders."""
    torch.manual_seed(0)
    hparams = recipe_hparams(args.encoder)
    plain = hparams["modules"]["ssl"].to(args.device).eval()
    head = hparams["modules"]["head"].to(args.device).eval()
    adapted = build_encoder(args.encoder, args.device)
    adapted = add_lora(adapted, hparams["lora_config"]).eval()
    adapted.to(args.device)
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
    device_type = args.device.split(":")[0]
    with (
        torch.no_grad(),
        torch.autocast(device_type, dtype=torch.bfloat16, enabled=args.bf16),
    ):
        for step in range(args.steps + 1):
            synchronize(args.device)
            start = time.perf_counter()
            head(*encoder(wavs, lens))
            synchronize(args.device)
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
        "mean_dynamic_batch": sum(len(b) for b in dynamic) / len(dynamic),
    }


def main():
    """Run the measurements asked for and print a report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", default="microsoft/wavlm-large")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--compile_modes", nargs="+", default=["none"])
    parser.add_argument("--utterances", type=int, default=20000)
    parser.add_argument("--max_batch_length", type=float, default=200.0)
    parser.add_argument("--num_buckets", type=int, default=20)
    parser.add_argument(
        "--sections",
        nargs="+",
        default=["train", "overhead", "inference", "batching"],
        choices=("train", "overhead", "inference", "batching"),
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--compile", default="none", help=argparse.SUPPRESS)
    parser.add_argument(
        "--profile", action="store_true", help="profile the eager steps"
    )
    args = parser.parse_args()
    if args.child == "train":
        print(json.dumps(measure_training(args)))
        return
    if args.child == "overhead":
        print(json.dumps(measure_overhead(args)))
        return
    argv = [a for a in sys.argv[1:]]
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(
        f"encoder {args.encoder}, batch {args.batch} x {args.seconds} s, "
        f"{args.device} ({name}), {'bf16 autocast' if args.bf16 else 'fp32'}"
    )
    if "train" in args.sections:
        report_training(args, argv)
    if "overhead" in args.sections:
        report_overhead(args, argv)
    if "inference" in args.sections:
        rtf = measure_inference(args)
        print("\n| inference | real-time factor | vs plain |")
        print("| --- | --- | --- |")
        for label in ("plain", "lora_merged", "lora_unmerged"):
            print(f"| {label} | {rtf[label]:.4f} | {rtf[label] / rtf['plain']:.3f}x |")
    if "batching" in args.sections:
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
