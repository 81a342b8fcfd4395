"""The documentation site builds, and a broken link fails the build."""

import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build(root, site):
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", site],
        cwd=root,
        capture_output=True,
        text=True,
    )


def test_docs_build_strict(tmp_path):
    result = build(ROOT, str(tmp_path / "site"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "design" / "index.html").exists()


def test_a_broken_link_fails_the_build(tmp_path):
    shutil.copy(os.path.join(ROOT, "mkdocs.yml"), tmp_path)
    shutil.copytree(os.path.join(ROOT, "docs"), tmp_path / "docs")
    with open(tmp_path / "docs" / "training.md", "a", encoding="utf-8") as f:
        f.write("\nSee [the missing page](missing.md).\n")
    result = build(str(tmp_path), str(tmp_path / "site"))
    assert result.returncode != 0
    assert "missing.md" in result.stderr


def test_readme_links_resolve():
    """README.md's links into docs/ name pages and headings that exist."""

    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        links = re.findall(r"\]\((docs/[^)#]+)(?:#([^)]+))?\)", f.read())
    assert links
    for page, anchor in links:
        path = os.path.join(ROOT, page)
        assert os.path.isfile(path), page
        if anchor:
            with open(path, encoding="utf-8") as f:
                headings = [
                    re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(
                        " ", "-"
                    )
                    for line in f
                    if line.startswith("#")
                ]
            assert anchor in headings, (page, anchor)
