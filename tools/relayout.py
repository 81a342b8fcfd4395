#!/usr/bin/env python3
"""Move the package's flat modules into subpackages by role; rewrite references.

Run from the repository root (a git work tree):

> python tools/relayout.py            # move and rewrite
> python tools/relayout.py --check    # exit 1 if anything would change

What it does, in order:

1. ``git mv speechbrain_lora_ser/<old>.py speechbrain_lora_ser/<new>.py`` for
   every entry of ``MOVES`` whose old file exists (an entry already moved is
   skipped; one whose old and new files both exist is an error: merge them
   by hand first).
2. Writes each subpackage's ``__init__.py`` (a docstring naming its role)
   where it has none; an existing one is left as it is.
3. Rewrites every reference to a moved module in the tracked text files
   (Python, YAML, Markdown, setup.cfg, pyproject.toml, shell scripts):
   dotted paths (``speechbrain_lora_ser.inference.EncoderRegressor``, in
   imports, ``python -m`` lines, console scripts and HyperPyYAML tags alike),
   ``from speechbrain_lora_ser import <module>`` and file paths
   (``speechbrain_lora_ser/inference.py``).

It is deterministic and idempotent: a second run changes nothing, and a tree
that gained edits or new modules since the first run can be run again (new
modules not in ``MOVES`` stay where they are and are listed). This file is
never rewritten (it names the old paths).

Authors
 * speechbrain-lora-ser contributors 2026
"""

import argparse
import os
import re
import subprocess
import sys

PACKAGE = "speechbrain_lora_ser"

#: The subpackages and their roles (the docstring of a new ``__init__.py``).
ROLES = {
    "data": "Corpora to training data: layouts, manifests, loaders.",
    "modeling": "The network: encoder lobe, pooling, head, LoRA, CCC, label scale.",
    "training": "Training: the Brain, stages, checkpoints, end-of-run tests.",
    "serving": "Serving one model: interface, audio, long audio, int8, CLI.",
    "export": "The exported model folder (SpeechBrain's pretrained-model form).",
    "bank": "The adapter bank: serving many languages, the language router, building.",
    "synthetic": "Synthetic speech corpora and small encoders for the demo and tests.",
}

#: Old module (relative to the package, no ``.py``) -> new dotted module.
MOVES = {
    "corpus": "data.corpus",
    "manifests": "data.manifests",
    "pipeline": "data.pipeline",
    "model": "modeling.model",
    "lora": "modeling.lora",
    "ccc": "modeling.ccc",
    "labels": "modeling.labels",
    "brain": "training.brain",
    "stages": "training.stages",
    "results": "training.results",
    "checkpoints": "training.checkpoints",
    "inference": "serving.inference",
    "regressor": "serving.regressor",
    "audio": "serving.audio",
    "long_audio": "serving.long_audio",
    "calibration": "serving.calibration",
    "quantization": "serving.quantization",
    "predict": "serving.predict",
    "export": "export.model_folder",
    "bank": "bank.adapter_bank",
    "bank_builder": "bank.bank_builder",
    "routing": "bank.routing",
    "routing_training": "bank.routing_training",
    "routing_taps": "bank.routing_taps",  # later moved to benchmarks/
    "demo_corpus": "synthetic.demo_corpus",
    "speech_synthesis": "synthetic.speech_synthesis",
    "architectures": "synthetic.architectures",
    "weights": "modeling.weights",
    "model_trust": "serving.model_trust",
    "model_loading": "serving.model_loading",
    "prediction_table": "serving.prediction_table",
}

#: Text files whose references are rewritten (by suffix or name).
SUFFIXES = (".py", ".yaml", ".yml", ".md", ".cfg", ".toml", ".sh", ".txt", ".csv")
NAMES = ("run",)

SELF = os.path.normpath("tools/relayout.py")


def module_file(dotted):
    """``a.b`` -> ``speechbrain_lora_ser/a/b.py``."""
    return os.path.join(PACKAGE, *dotted.split(".")) + ".py"


def git(*args):
    """Run git; return its standard output."""
    return subprocess.run(
        ["git", *args], check=True, capture_output=True, text=True
    ).stdout


def move_modules(dry_run):
    """Move every old module that is still flat; return the moves made."""
    tracked = set(git("ls-files", PACKAGE).split("\n"))
    moved = []
    for old, new in MOVES.items():
        source, target = module_file(old), module_file(new)
        if not os.path.exists(source):
            continue
        if os.path.exists(target):
            raise SystemExit(f"both {source} and {target} exist: merge them first")
        moved.append((source, target))
        if dry_run:
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if source in tracked:
            git("mv", source, target)
        else:
            os.rename(source, target)
    return moved


def write_inits(dry_run):
    """Give each subpackage an ``__init__.py``; return those written."""
    written = []
    for package in sorted({new.split(".")[0] for new in MOVES.values()}):
        path = os.path.join(PACKAGE, package, "__init__.py")
        if os.path.exists(path) or not os.path.isdir(os.path.dirname(path)):
            continue
        written.append(path)
        if not dry_run:
            with open(path, "w", encoding="utf-8") as f:
                f.write(f'"""{ROLES[package]}"""\n')
            git("add", path)
    return written


def submodules(package):
    """Return the module and subpackage names a new subpackage holds (or will)."""
    names = {
        new.split(".", 1)[1] for new in MOVES.values() if new.startswith(package + ".")
    }
    folder = os.path.join(PACKAGE, package)
    if os.path.isdir(folder):
        for entry in os.listdir(folder):
            name, ext = os.path.splitext(entry)
            if ext == ".py" or os.path.isdir(os.path.join(folder, entry)):
                names.add(name)
    return names


def rewrite_dotted(text):
    """Rewrite dotted references to moved modules (idempotent)."""
    for old, new in MOVES.items():
        # an old name that is also a new subpackage (``bank``, ``export``):
        # ``<pkg>.bank.routing`` already names the new layout; leave it.
        inside = submodules(old) if old in ROLES else set()

        def dotted(match, new=new, inside=inside):
            rest = match.group(1) or ""
            after = match.string[match.end() :]
            if inside and re.match(r"\s+import\b", after):
                return match.group(0)  # a from-import: ``imported`` decided
            if rest and rest[1:] in inside:
                return match.group(0)
            return f"{PACKAGE}.{new}{rest}"

        def imported(match, new=new, inside=inside):
            names = re.split(r"[\s,()]+", match.group(1))
            names = [n for n in names if n and n != "as"]
            if all(n in inside for n in names if n.isidentifier()):
                return match.group(0)
            return f"from {PACKAGE}.{new} import {match.group(1)}"

        if inside:  # ``from <pkg>.bank import ...``: by the names imported
            text = re.sub(
                rf"from {PACKAGE}\.{old} import (\([^)]*\)|[\w ,]+)",
                imported,
                text,
            )
        text = re.sub(
            rf"(?<![\w.]){PACKAGE}\.{old}(?![\w])(\.\w+)?",
            dotted,
            text,
        )
    return text


def rewrite_from_package(text):
    """``from speechbrain_lora_ser import <moved module>`` (one name)."""

    def replace(match):
        name, alias = match.group(1), match.group(2) or ""
        if name not in MOVES:
            return match.group(0)
        parent, leaf = MOVES[name].rsplit(".", 1)
        alias = alias or (f" as {name}" if leaf != name else "")
        return f"from {PACKAGE}.{parent} import {leaf}{alias}"

    return re.sub(
        rf"from {PACKAGE} import (\w+)( as \w+)?(?=\s*$)", replace, text, flags=re.M
    )


def rewrite_paths(text):
    """``speechbrain_lora_ser/<old>.py`` -> its new path."""
    for old, new in MOVES.items():
        text = re.sub(
            rf"(?<![\w/]){PACKAGE}/{old}\.py(?![\w])",
            module_file(new).replace(os.sep, "/"),
            text,
        )
    return text


def rewrite(text):
    """All the rewrites, in a fixed order."""
    return rewrite_paths(rewrite_from_package(rewrite_dotted(text)))


def text_files():
    """Return the tracked (and new, not ignored) text files, sorted."""
    listed = git("ls-files", "--cached", "--others", "--exclude-standard")
    files = []
    for path in sorted(set(filter(None, listed.split("\n")))):
        if os.path.normpath(path) == SELF or not os.path.isfile(path):
            continue
        if path.endswith(SUFFIXES) or os.path.basename(path) in NAMES:
            files.append(path)
    return files


def tidy(paths, dry_run):
    """Sort the rewritten imports and re-wrap long lines.

    Each folder keeps its ruff settings (the recipes: SpeechBrain's).
    """
    if not paths or dry_run:
        return
    subprocess.run(["ruff", "check", "-q", "--select", "I", "--fix", *paths])
    subprocess.run(["ruff", "format", "-q", *paths], check=True)


def main(argv=None):
    """Relayout the package; with ``--check``, only report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if not os.path.isdir(PACKAGE):
        raise SystemExit(f"run from the repository root (no {PACKAGE}/ here)")
    changes = [f"move {a} -> {b}" for a, b in move_modules(args.check)]
    changes += [f"write {p}" for p in write_inits(args.check)]
    for path in text_files():
        with open(path, encoding="utf-8") as f:
            try:
                text = f.read()
            except UnicodeDecodeError:
                continue
        new = rewrite(text)
        if new != text:
            changes.append(f"rewrite {path}")
            if not args.check:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(new)
    flat = sorted(
        name[:-3]
        for name in os.listdir(PACKAGE)
        if name.endswith(".py") and name[:-3] not in ("__init__", "__main__", "demo")
    )
    rewritten = [c.split(" ", 1)[1] for c in changes if c.startswith("rewrite ")]
    tidy([p for p in rewritten if p.endswith(".py")], args.check)
    print("\n".join(changes) or "nothing to change")
    if flat:
        print(f"left flat (not in MOVES): {', '.join(flat)}", file=sys.stderr)
    return 1 if args.check and changes else 0


if __name__ == "__main__":
    sys.exit(main())
