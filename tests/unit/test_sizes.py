"""Issue 21: the engine stays in rooms of a readable size.

Measured as physical lines (``wc -l``) per module and per class body (first to last line of
the ``class`` statement); migrations aside. Function complexity is ruff's McCabe check (C901,
max 15, in pyproject.toml), run by `make test`'s lint step.
"""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "engine"
MODULE_LINES = 410  # "about 400": the schema (store/tables.py) is the largest
CLASS_LINES = 310  # "about 300"


def modules() -> list[Path]:
    return [p for p in ENGINE.rglob("*.py") if "migrations" not in p.parts]


def test_no_engine_module_is_much_over_400_lines() -> None:
    big = {
        str(p.relative_to(ENGINE)): n
        for p in modules()
        if (n := len(p.read_text().splitlines())) > MODULE_LINES
    }
    assert not big, big


def test_no_engine_class_is_much_over_300_lines() -> None:
    big = {}
    for p in modules():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                n = node.end_lineno - node.lineno + 1
                if n > CLASS_LINES:
                    big[f"{p.relative_to(ENGINE)}:{node.name}"] = n
    assert not big, big
