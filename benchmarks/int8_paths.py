#!/usr/bin/env python3
"""int8 on the CPU: torchao, torch's dynamic quantization and ONNX Runtime.

Builds the encoder as the project does (``SSLEncoder(folder,
from_config=True)`` on a saved WavLM-large configuration, random weights,
so nothing is downloaded; its attention calls its projection modules), and
for each int8 path prints

* the warnings it emitted (the criterion: no deprecation warning),
* the time of one forward pass on ``--seconds`` of audio with 1 and with 2
  threads (median of ``--repeats``; the paths are interleaved in each repeat
  so that a busy machine slows them alike): wall-clock time, and the
  process's CPU time (all its threads), which a busy machine inflates less,
* the relative error of its last hidden states against fp32
  (``||h_int8 - h_fp32|| / ||h_fp32||``),
* whether it takes other input lengths than the one it was prepared with.

> python benchmarks/int8_paths.py                       # WavLM-large, 6 s
> python benchmarks/int8_paths.py --paths fp32 onnxruntime --repeats 5

torch's path needs nothing more; torchao (``pip install torchao``, a release
built for the installed torch) and ONNX Runtime (``pip install onnxruntime
onnx onnxscript``) are imported only when their path is asked for.

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import copy
import os
import statistics
import tempfile
import time
import warnings

import torch

from speechbrain_lora_ser.modeling.model import SSLEncoder
from speechbrain_lora_ser.synthetic.architectures import large_config

PATHS = ("fp32", "torch.ao", "torchao", "onnxruntime")


def caught(function):
    """Run ``function``; return its result and the warnings it emitted."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = function()
    return result, sorted(
        {f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in seen}
    )


def torch_ao(encoder):
    """Quantize with torch's eager dynamic quantization of every ``nn.Linear``."""
    model = copy.deepcopy(encoder)
    quantized = torch.ao.quantization.quantize_dynamic(
        model, {torch.nn.Linear}, dtype=torch.qint8
    )
    return lambda wav: quantized(wav)[0]


def torchao_int8(encoder):
    """Quantize with torchao: int8 dynamic activations, int8 weights."""
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    model = copy.deepcopy(encoder)
    quantize_(model, Int8DynamicActivationInt8WeightConfig())
    return lambda wav: model(wav)[0]


class _HiddenStates(torch.nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, wav):
        return self.encoder(wav)[0]


def onnx_runtime(encoder, wav, folder, threads):
    """ONNX export (dynamic length) + ``onnxruntime.quantization.quantize_dynamic``."""
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fp32_path = os.path.join(folder, "encoder.onnx")
    int8_path = os.path.join(folder, "encoder.int8mm.onnx")
    if not os.path.exists(int8_path):
        started = time.perf_counter()
        torch.onnx.export(
            _HiddenStates(encoder),
            (wav,),
            fp32_path,
            input_names=["wav"],
            output_names=["hidden"],
            dynamic_shapes={"wav": {1: torch.export.Dim("samples", min=400)}},
            dynamo=True,
            external_data=True,
        )
        # matrix products only (what speechbrain_lora_ser.serving.quantization does):
        # ConvInteger, for the convolutions, is no faster than fp32 here
        quantize_dynamic(
            fp32_path,
            int8_path,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
        )
        print(f"onnx export + quantization: {time.perf_counter() - started:.0f} s")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        int8_path, options, providers=["CPUExecutionProvider"]
    )
    return lambda w: torch.from_numpy(session.run(None, {"wav": w.numpy()})[0])


def main():
    """Prepare each path, time it on 1 and 2 threads, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", default="microsoft/wavlm-large")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=PATHS)
    # (fp32 is always measured: the ratios are against it)
    parser.add_argument(
        "--folder",
        default=None,
        help="work folder (an earlier run's ONNX files are reused)",
    )
    args = parser.parse_args()
    args.paths = ["fp32"] + [p for p in args.paths if p != "fp32"]
    folder = args.folder or tempfile.mkdtemp(prefix="int8_paths_")
    os.makedirs(folder, exist_ok=True)
    large_config(args.encoder).save_pretrained(os.path.join(folder, "config"))
    torch.manual_seed(0)
    encoder = SSLEncoder(os.path.join(folder, "config"), from_config=True).eval()
    wav = 0.1 * torch.randn(1, int(args.seconds * 16000))
    other = 0.1 * torch.randn(1, int(args.seconds * 16000 * 0.7))
    with torch.no_grad():
        reference = encoder(wav)[0]
        reference_other = encoder(other)[0]
    times = {(p, t): [] for p in args.paths for t in args.threads}
    report = {}
    with torch.no_grad():
        for threads in args.threads:
            torch.set_num_threads(threads)
            runners = {}
            for path in args.paths:
                if path == "fp32":
                    runners[path], seen = (lambda w: encoder(w)[0]), []
                elif path == "torch.ao":
                    runners[path], seen = caught(lambda: torch_ao(encoder))
                elif path == "torchao":
                    runners[path], seen = caught(lambda: torchao_int8(encoder))
                else:
                    runners[path], seen = caught(
                        lambda t=threads: onnx_runtime(encoder, wav, folder, t)
                    )
                output, run_seen = caught(lambda r=runners[path]: r(wav))  # warm-up
                try:
                    other_output = runners[path](other)
                    other_error = (
                        (other_output - reference_other).norm() / reference_other.norm()
                    ).item()
                except Exception as error:  # noqa: BLE001 - reported, not hidden
                    other_error = f"fails: {type(error).__name__}"
                error = ((output - reference).norm() / reference.norm()).item()
                report[path] = (sorted(set(seen) | set(run_seen)), error, other_error)
            for _ in range(args.repeats):
                for path, runner in runners.items():
                    started, cpu = time.perf_counter(), time.process_time()
                    runner(wav)
                    times[(path, threads)].append(
                        (time.perf_counter() - started, time.process_time() - cpu)
                    )
            del runners
    print(
        f"{args.encoder} (random weights), {args.seconds:g} s of audio, batch 1, "
        f"median of {args.repeats}; torch {torch.__version__}"
    )
    header = " | ".join(f"{t} thread{'s' * (t > 1)}" for t in args.threads)
    print(f"| path | {header} | rel. error | other length | warnings |")
    print("| --- |" + " --- |" * (len(args.threads) + 3))
    for path in args.paths:
        seen, error, other_error = report[path]
        cells = []
        for threads in args.threads:
            cell = []
            for index, kind in enumerate(("wall", "CPU")):
                median = statistics.median(t[index] for t in times[(path, threads)])
                base = statistics.median(t[index] for t in times[("fp32", threads)])
                cell.append(f"{median:.2f} s {kind} ({base / median:.2f}x)")
            cells.append(", ".join(cell))
        other = other_error if isinstance(other_error, str) else f"{other_error:.2%}"
        print(
            f"| {path} | {' | '.join(cells)} | {error:.2%} | {other} | "
            f"{'; '.join(seen) or 'none'} |"
        )


if __name__ == "__main__":
    main()
