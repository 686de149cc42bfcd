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


def _bare_operations(app) -> list[str]:
    """The JSON operations of an app whose success answer has no declared model (read from its OpenAPI)."""
    bare = []
    for path, operations in app.openapi()["paths"].items():
        if path.startswith("/health"):
            continue
        for method, operation in operations.items():
            success = next((operation["responses"][c] for c in ("200", "201") if c in operation["responses"]), {})
            schema = success.get("content", {}).get("application/json", {}).get("schema")
            if schema is not None and "$ref" not in schema and "$ref" not in schema.get("items", {}):
                bare.append(f"{method.upper()} {path}")
    return bare


def test_every_json_route_declares_its_response_model():
    from services.intake.app import create_app as intake
    from services.outcomes.app import create_app as outcomes
    from services.progress.app import create_app as progress

    bare = [f"{create.__module__}: {op}" for create in (intake, progress, outcomes)
            for op in _bare_operations(create())]
    assert not bare, bare
