"""docs/guarantees.md names the tests that hold each guarantee: every test it names exists, so
a renamed or deleted test cannot leave a claim pointing at nothing."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "guarantees.md"
# `file.py::test_name`, or `::test_name` for another test of the file named last.
REFERENCE = re.compile(r"`((?:[\w/]+\.py)?)::(test_\w+)`")


def _tests(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


def test_every_test_the_guarantee_table_names_exists() -> None:
    text = DOC.read_text()
    named: list[tuple[str, str]] = []
    current = ""
    for file, test in REFERENCE.findall(text):
        current = file or current
        assert current, f"::{test} names no file before it"
        named.append((current, test))
    assert len(named) > 100
    missing = [
        f"{file}::{test}"
        for file, test in named
        if not (ROOT / "tests" / file).is_file() or test not in _tests(ROOT / "tests" / file)
    ]
    assert missing == []


def test_the_readme_links_the_guarantee_table_from_how_it_behaves() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## How it behaves", 1)[1].split("\n## ", 1)[0]
    assert "(docs/guarantees.md)" in section
