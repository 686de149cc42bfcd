"""Fixtures of the fault tests: a fresh embedded stack per test, and the ledgers printed at the end.

These tests always run on the embedded stack (whatever `--stack` says): they stop and restart
PostgreSQL and the broker themselves, which they cannot do to testcontainers' containers.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.reliability.ledger import summary_lines
from tests.reliability.stack import Stack


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "reliability: fault tests of R1-R10 on real processes (tests/reliability)")
    config.addinivalue_line("markers", "kafka_proxy: every Kafka connection of the test goes through a HoldingProxy")


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if "tests/reliability/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.reliability)


@pytest.fixture
def stack(request):
    """PostgreSQL (a database per service) and the broker with its topics (4 partitions); no service yet.

    The folder is short-lived and short-named: PostgreSQL's socket lives in it, and a Unix
    socket path has a length limit. A test marked `kafka_proxy` gets the broker behind a
    HoldingProxy (tests/reliability/proxy.py).
    """
    root = Path(tempfile.mkdtemp(prefix="rel-"))
    s = Stack(root, proxied=request.node.get_closest_marker("kafka_proxy") is not None)
    try:
        s.start_postgres()
        s.start_broker()
        s.new_databases("t")
        yield s
    finally:
        failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
        if failed:
            print(f"\n--- service logs (kept in {root / 'logs'}) ---\n{s.logs_tail(25)}", flush=True)
        s.close()
        if not failed:
            shutil.rmtree(root, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    lines = summary_lines()
    if lines:
        terminalreporter.section("reliability ledgers")
        for line in lines:
            terminalreporter.write_line(line)
