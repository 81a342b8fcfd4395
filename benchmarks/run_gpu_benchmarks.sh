#!/usr/bin/env bash
# The GPU figures of the README, in one run: from the repository root on a
# CUDA machine with this package importable (PYTHONPATH or pip install -e .).
#   DEVICE=cuda ENCODER=microsoft/wavlm-large BATCH=32 UTTERANCE_SECONDS=6 benchmarks/run_gpu_benchmarks.sh
# (not SECONDS: bash keeps its elapsed time in that variable)
# Writes every log to $OUT (default: gpu_results/).
set -uo pipefail
export PYTHONUNBUFFERED=1
DEVICE=${DEVICE:-cuda}
ENCODER=${ENCODER:-microsoft/wavlm-large}
BATCH=${BATCH:-32}
UTTERANCE_SECONDS=${UTTERANCE_SECONDS:-6}
MODES=${MODES:-none none-bf16base default reduce-overhead}
FILES=${FILES:-256}
OUT=${OUT:-gpu_results}
mkdir -p "$OUT"
common=(--device "$DEVICE" --encoder "$ENCODER" --batch "$BATCH" --seconds "$UTTERANCE_SECONDS" --bf16)
(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv) | tee "$OUT/device.txt"
python -c "import torch, transformers, peft, speechbrain; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__, 'speechbrain', speechbrain.__version__)" | tee -a "$OUT/device.txt"
python benchmarks/benchmark.py "${common[@]}" --steps 10 --warmup 3 --sections train --profile --compile_modes $MODES 2>&1 | grep -v "it/s" | tee "$OUT/train.log"
python benchmarks/benchmark.py "${common[@]}" --steps 12 --sections overhead 2>&1 | grep -v "it/s" | tee "$OUT/overhead.log"
python benchmarks/inference_throughput.py --device "$DEVICE" --encoder "$ENCODER" --files "$FILES" --batch_size 32 --precision bf16 2>&1 | tee "$OUT/throughput.log"
python benchmarks/benchmark.py "${common[@]}" --steps 5 --sections inference 2>&1 | tee "$OUT/inference.log"
