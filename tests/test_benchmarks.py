"""The benchmark script runs and prints what the README's tables are made of.

Figures are never asserted here (speed targets live in the benchmark's own
output); this checks that the script works on a small encoder, so that a
run on a real machine does not fail after minutes of set-up.
"""

import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_benchmark_prints_ratios_flops_mfu_and_recipe_overhead(tiny_wavlm):
    command = [
        sys.executable,
        os.path.join(ROOT, "benchmarks", "benchmark.py"),
        "--encoder",
        tiny_wavlm,
        "--batch",
        "2",
        "--seconds",
        "1",
        "--steps",
        "3",
        "--warmup",
        "1",
        "--sections",
        "train",
        "overhead",
        "inference",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout
    assert "FAILED" not in output, output
    ratio = re.search(
        r"LoRA / fine-tuning: step time ([\d.]+)x, peak memory ([\d.]+)x, "
        r"peak tensors ([\d.]+)x",
        output,
    )
    assert ratio, output
    assert all(float(value) > 0 for value in ratio.groups())
    assert re.search(r"FLOPs per step: fine-tuning [\d.]+ T, LoRA [\d.]+ T", output)
    rows = re.findall(r"\| stage \d: (?:fine-tuning|LoRA) \|.*\| ([\d.]+)% \|", output)
    assert len(rows) == 2, output  # MFU of both stages
    overhead = re.findall(
        r"\| (finetune|lora) \| [\d.]+ ms \| [\d.]+ ms \| ([\d.]+)x", output
    )
    assert [stage for stage, _ in overhead] == ["finetune", "lora"], output
    assert "| lora_merged |" in output and "| lora_unmerged |" in output


def test_language_id_benchmark_prints_both_identifiers_tables(tmp_path):
    """``benchmarks/language_id.py`` end to end on a few utterances."""
    output = tmp_path / "language_id.json"
    command = [
        sys.executable,
        os.path.join(ROOT, "benchmarks", "language_id.py"),
        *("--train", "12", "--valid", "6", "--test", "5", "--unknown", "2"),
        *("--epochs", "1", "--channels", "clean", "opus", "--output", str(output)),
        *("--size", "small"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    saved = json.loads(output.read_text())
    assert set(saved["routers"]) == {"ecapa", "cepstral"}
    # ECAPA at the guard it chose on its development speech and at 0.9
    guard = saved["routers"]["ecapa"]["guard"]
    assert 0.5 <= guard <= 0.9
    # --size small: the test-sized identifier, not the bank's 1.9 M parameters
    assert 10_000 < saved["routers"]["ecapa"]["parameters"] < 100_000
    assert set(saved["routers"]["ecapa"]["by_guard"]) == {str(guard), "0.9"}
    for name, entry in saved["routers"].items():
        for shown in entry["by_guard"]:
            assert f"{name}, guard {shown}: % routed right" in result.stdout
    # English's held-out accents, each routed right on a share of its files
    ecapa = saved["routers"]["ecapa"]
    for rates in ecapa["by_accent"].values():
        assert len(rates) >= 2
        assert set(rates) == set(ecapa["test_accents"]["english"])
        assert set(rates) <= {
            *("en-gb-scotland", "en-029", "en-us-nyc", "en-gb-x-rp"),
            "en-gb-x-gbclan",
        }
        assert all(0.0 <= rate <= 1.0 for rate in rates.values())
    # every test file's probabilities (3 languages and unknown), per channel
    for by_language in ecapa["probabilities"].values():
        assert {len(rows) for rows in by_language.values()} <= {5, 2}
        for rows in by_language.values():
            assert all(len(row) == 4 and abs(sum(row) - 1) < 1e-3 for row in rows)
    assert "by accent (clean, guard" in result.stdout
    rows = [line for line in result.stdout.splitlines() if line.startswith("| opus |")]
    assert len(rows) == sum(len(e["by_guard"]) for e in saved["routers"].values())
    assert set(saved["routers"]["ecapa"]["table"]["clean"]) == {
        "english",
        "mandarin",
        "german",
        "es",
        "fr",
        "ru",
    }
    # other decision rules on the saved probabilities: a line per pair of
    # thresholds (six of u, five of g), each with the three bank languages
    rules = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "language_id_rules.py")]
        + [str(output)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rules.returncode == 0, rules.stderr[-3000:]
    lines = [x for x in rules.stdout.splitlines() if x.startswith("u ")]
    assert len(lines) == 30
    assert all(" en " in x and " ma " in x and " ge " in x for x in lines)
