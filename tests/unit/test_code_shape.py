"""The shape every service keeps (issue 13): short functions, and handlers that dispatch on the
contract classes, never on event-type strings."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = sorted(p for folder in ("services", "shared") for p in (ROOT / folder).rglob("*.py"))
MAX_LINES = 60


def test_no_function_is_longer_than_sixty_lines():
    long = []
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long


def test_no_service_dispatches_on_an_event_type_string():
    pattern = re.compile(r"event_type\s*(==|!=|in\s)|\.event_type\)\s*$")
    found = [f"{path.relative_to(ROOT)}:{n}" for path in CODE if "contracts" not in path.parts
             for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert not found, found
