#!/usr/bin/env python3
"""Install size and import time: the ONNX runtime against the full package.

For each Python interpreter given (``--python``, default this one), prints

* the installed size of a distribution and of everything it requires,
  recursively (extras left out, environment markers evaluated), as its
  files take on disk: ``speechbrain-lora-ser``'s whole requirement tree
  in a full install, and ``numpy onnxruntime soundfile soxr`` (the
  runtime's) in an environment made for the runtime;
* the import time (best of ``--repeats`` fresh processes) of
  ``speechbrain_lora_ser.onnx`` (the runtime) and, where torch is
  installed, of the PyTorch serving path
  (``speechbrain_lora_ser.serving.inference``, what ``predict`` loads).

> python -m venv /tmp/rt && /tmp/rt/bin/pip install numpy onnxruntime soundfile soxr
> /tmp/rt/bin/pip install --no-deps .
> python benchmarks/onnx_footprint.py --python python /tmp/rt/bin/python

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import json
import subprocess

#: Run by each interpreter: sizes (bytes) of the requirement trees of roots.
SIZE_CODE = r"""
import json, re, sys
from importlib import metadata

def tree(name, seen, missing):
    key = re.sub(r"[-_.]+", "-", name).lower()
    if key in seen or key in missing:
        return
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        missing.add(key)
        return
    seen[key] = dist
    for requirement in dist.requires or ():
        from packaging.requirements import Requirement
        parsed = Requirement(requirement)
        if parsed.marker is None or parsed.marker.evaluate({"extra": ""}):
            tree(parsed.name, seen, missing)

def size(dist):
    total = 0
    for file in dist.files or ():
        path = file.locate()
        try:
            total += path.stat().st_size
        except OSError:
            pass
    return total

seen, missing = {}, set()
for root in sys.argv[1:]:
    tree(root, seen, missing)
sizes = {key: size(dist) for key, dist in seen.items()}
print(json.dumps({"total": sum(sizes.values()), "packages": len(sizes),
                  "missing": sorted(missing),
                  "largest": sorted(sizes.items(), key=lambda kv: -kv[1])[:5]}))
"""

RUNTIME = ("numpy", "onnxruntime", "soundfile", "soxr")
IMPORTS = {
    "speechbrain_lora_ser.onnx": "import speechbrain_lora_ser.onnx",
    "speechbrain_lora_ser.serving.inference": (
        "import speechbrain_lora_ser.serving.inference"
    ),
}


def tree_size(python, roots):
    """Installed bytes of ``roots`` and their requirements, for ``python``."""
    result = subprocess.run(
        [python, "-c", SIZE_CODE, *roots],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    )
    return json.loads(result.stdout)


def import_seconds(python, statement, repeats):
    """Best wall-clock time of ``statement`` in a fresh process (None: fails)."""
    code = (
        "import time; started = time.perf_counter(); "
        f"{statement}; print(time.perf_counter() - started)"
    )
    best = None
    for _ in range(repeats):
        result = subprocess.run(
            [python, "-c", code], capture_output=True, text=True, cwd="/"
        )
        if result.returncode != 0:
            return None
        seconds = float(result.stdout.split()[-1])
        best = seconds if best is None else min(best, seconds)
    return best


def main():
    """Print the size and import time table of every interpreter."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", nargs="+", default=["python"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        "| python | requirement tree | installed size | packages | largest "
        "| not installed |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for python in args.python:
        for roots in (("speechbrain-lora-ser",), RUNTIME):
            size = tree_size(python, roots)
            if size["packages"] == 0:
                continue
            largest = ", ".join(f"{n} {b / 2**20:.0f} MiB" for n, b in size["largest"])
            print(
                f"| {python} | {' '.join(roots)} | {size['total'] / 2**20:.0f} MiB "
                f"| {size['packages']} | {largest} "
                f"| {' '.join(size['missing']) or 'none'} |"
            )
    print()
    print(f"| python | import | seconds (best of {args.repeats}) |")
    print("| --- | --- | --- |")
    for python in args.python:
        for module, statement in IMPORTS.items():
            seconds = import_seconds(python, statement, args.repeats)
            shown = "not installed" if seconds is None else f"{seconds:.2f}"
            print(f"| {python} | {module} | {shown} |")


if __name__ == "__main__":
    main()
