"""The dependency floors agree everywhere they are written.

``constraints-floors.txt`` pins the lowest versions the LoRA, model, inference
and CCC tests pass with (README, "Dependency floors": installing it into a
fresh environment is how the floors are tested). ``setup.cfg``'s ``>=``
versions and each recipe's ``extra_requirements.txt`` must say the same
versions, and ``constraints.txt`` (the CI pins) must not pin below a floor;
otherwise a user installing at the declared minimum gets an untested set.
"""

import configparser
import glob
import os
import shutil

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from conftest import ROOT

FLOORS_FILE = "constraints-floors.txt"
PACKAGE = canonicalize_name("speechbrain-lora-ser")


def requirement_lines(path):
    """(line number, Requirement) of each requirement line of a pip file."""
    with open(path) as f:
        lines = f.read().splitlines()
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if text:
            yield number, Requirement(text)


def only(req, operator):
    """The version of a requirement written as ``name<operator>version`` alone."""
    specs = list(req.specifier)
    if len(specs) == 1 and specs[0].operator == operator:
        return Version(specs[0].version)
    return None


def setup_cfg(root):
    config = configparser.ConfigParser(interpolation=None)
    config.read(os.path.join(root, "setup.cfg"))
    runtime = [
        Requirement(line)
        for line in config["options"]["install_requires"].splitlines()
        if line.strip()
    ]
    extras = [
        Requirement(line)
        for _, lines in config["options.extras_require"].items()
        for line in lines.splitlines()
        if line.strip()
    ]
    return config["metadata"]["version"], runtime, extras


def floor_disagreements(root):
    """Every place where a written minimum version disagrees with the floors."""
    problems = []
    floors_path = os.path.join(root, FLOORS_FILE)
    floors, spelled = {}, {}
    for number, req in requirement_lines(floors_path):
        pinned = only(req, "==")
        if pinned is None:
            problems.append(f"{FLOORS_FILE}:{number}: {req} is not name==version")
        else:
            floors[canonicalize_name(req.name)] = pinned
            spelled[canonicalize_name(req.name)] = req.name

    version, runtime, extras = setup_cfg(root)
    declared = {}
    for req in runtime + extras:
        floor = only(req, ">=")
        name = canonicalize_name(req.name)
        if floor is None:
            problems.append(f"setup.cfg: {req} is not name>=version")
            continue
        if declared.get(name, floor) != floor:
            problems.append(f"setup.cfg: {req.name} has two floors")
        declared[name] = floor
        if name in floors and floors[name] != floor:
            problems.append(
                f"setup.cfg: {req.name}>={floor} but {FLOORS_FILE} "
                f"tests {req.name}=={floors[name]}"
            )
    for req in runtime:  # every runtime floor is one the floors file tests
        if canonicalize_name(req.name) not in floors:
            problems.append(f"setup.cfg: {req.name} has no pin in {FLOORS_FILE}")
    for name in sorted(floors.keys() - declared.keys()):
        problems.append(f"{FLOORS_FILE}: {spelled[name]} is not declared in setup.cfg")

    pattern = os.path.join(root, "recipes", "*", "extra_requirements.txt")
    for path in sorted(glob.glob(pattern)):
        where = os.path.relpath(path, root)
        for number, req in requirement_lines(path):
            floor = only(req, ">=")
            name = canonicalize_name(req.name)
            if floor is None:
                problems.append(f"{where}:{number}: {req} is not name>=version")
            elif name == PACKAGE:
                if floor > Version(version):
                    problems.append(
                        f"{where}:{number}: asks {req} but setup.cfg is {version}"
                    )
            elif name not in declared:
                problems.append(f"{where}:{number}: {req.name} not in setup.cfg")
            elif floor != declared[name]:
                problems.append(
                    f"{where}:{number}: {req} but setup.cfg says "
                    f"{req.name}>={declared[name]}"
                )

    for number, req in requirement_lines(os.path.join(root, "constraints.txt")):
        pinned = only(req, "==")
        name = canonicalize_name(req.name)
        if name in declared and (pinned is None or pinned < declared[name]):
            problems.append(
                f"constraints.txt:{number}: {req} is below setup.cfg's "
                f"{req.name}>={declared[name]}"
            )
    return problems


def test_floors_agree_in_setup_cfg_recipes_and_constraints():
    assert floor_disagreements(ROOT) == []


def test_floors_cover_every_runtime_dependency():
    _, runtime, _ = setup_cfg(ROOT)
    floors = {
        canonicalize_name(req.name)
        for _, req in requirement_lines(os.path.join(ROOT, FLOORS_FILE))
    }
    assert {canonicalize_name(req.name) for req in runtime} <= floors
    assert {"torch", "transformers", "peft", "speechbrain"} <= floors


def test_each_recipe_asks_for_the_package_and_its_lora_floors():
    for path in glob.glob(os.path.join(ROOT, "recipes", "*", "extra_requirements.txt")):
        names = {canonicalize_name(req.name) for _, req in requirement_lines(path)}
        assert {PACKAGE, "transformers", "peft"} <= names, path


def copy_of_the_floor_files(tmp_path):
    shutil.copy(os.path.join(ROOT, "setup.cfg"), tmp_path)
    shutil.copy(os.path.join(ROOT, FLOORS_FILE), tmp_path)
    shutil.copy(os.path.join(ROOT, "constraints.txt"), tmp_path)
    for path in glob.glob(os.path.join(ROOT, "recipes", "*", "extra_requirements.txt")):
        target = tmp_path / os.path.relpath(path, ROOT)
        target.parent.mkdir(parents=True)
        shutil.copy(path, target)
    return tmp_path


def test_a_recipe_floor_that_drifts_is_named(tmp_path):
    root = copy_of_the_floor_files(tmp_path)
    recipe = root / "recipes" / "MSP-Podcast" / "extra_requirements.txt"
    text = recipe.read_text()
    assert "\npeft>=" in text
    lines = [
        "peft>=0.0.1" if line.startswith("peft>=") else line
        for line in text.splitlines()
    ]
    recipe.write_text("\n".join(lines) + "\n")
    problems = floor_disagreements(str(root))
    assert len(problems) == 1
    assert problems[0].startswith("recipes/MSP-Podcast/extra_requirements.txt:")
    assert "peft>=0.0.1" in problems[0]


def test_a_setup_cfg_floor_that_drifts_from_the_tested_pin_is_named(tmp_path):
    root = copy_of_the_floor_files(tmp_path)
    floors = (root / FLOORS_FILE).read_text()
    pinned = next(
        line for line in floors.splitlines() if line.startswith("transformers==")
    )
    (root / FLOORS_FILE).write_text(floors.replace(pinned, "transformers==0.0.1"))
    problems = floor_disagreements(str(root))
    assert any(
        p.startswith("setup.cfg: transformers>=") and "transformers==0.0.1" in p
        for p in problems
    ), problems


def test_an_undeclared_pin_and_a_ci_pin_below_a_floor_are_named(tmp_path):
    root = copy_of_the_floor_files(tmp_path)
    with open(root / FLOORS_FILE, "a") as f:
        f.write("notapackage==1.0\n")
    (root / "constraints.txt").write_text("torch==1.0.0\n")
    problems = floor_disagreements(str(root))
    assert f"{FLOORS_FILE}: notapackage is not declared in setup.cfg" in problems
    assert any(
        p.startswith("constraints.txt:1: torch==1.0.0 is below") for p in problems
    )
