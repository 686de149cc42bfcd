"""Integration tests of other concerns than access control run their services without keys;
tests/integration/test_access.py turns them on explicitly (R12)."""

import pytest


@pytest.fixture(autouse=True)
def _no_keys_by_default(monkeypatch):
    monkeypatch.setenv("PARCOURS_AUTH_REQUIRED", "false")

