"""`parcours up` on an existing PostgreSQL server given per-service DSNs, instead of the embedded
one: the machine's PostgreSQL reached over TCP (PARCOURS_EXTERNAL_PG, by default 127.0.0.1:5432);
on a machine without one, the suite's own server stands in for it, so the path is always tested."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import uuid
from urllib.parse import urlsplit

import asyncpg
import pytest

from shared.plumbing.db import dsn_for_database, redact
from tests.e2e.helpers import Up, report_counts, run, service_ports

pytestmark = pytest.mark.e2e
SERVER = os.environ.get("PARCOURS_EXTERNAL_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def reachable(dsn: str) -> bool:
    parts = urlsplit(dsn)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 1).close()
        return True
    except OSError:
        return False


@pytest.fixture
def server(pg_server) -> str:
    return SERVER if reachable(SERVER) else pg_server


async def databases(server: str, action: str, names: list[str]) -> None:
    conn = await asyncpg.connect(server)
    try:
        for name in names:
            await conn.execute(f'{action} DATABASE "{name}"')  # names made by this test
    finally:
        await conn.close()


def test_the_journey_on_an_existing_postgresql_server(server, tmp_path, monkeypatch):
    suffix = uuid.uuid4().hex[:8]
    dsns = {s: dsn_for_database(server, f"parcours_test_{s}_{suffix}") for s in ("intake", "progress", "outcomes")}
    names = [urlsplit(dsn).path.lstrip("/") for dsn in dsns.values()]
    asyncio.run(databases(server, "CREATE", names))
    try:
        for service, dsn in dsns.items():
            monkeypatch.setenv(f"PARCOURS_{service.upper()}_DATABASE_URL", dsn)
        up = Up(tmp_path / "state", service_ports())
        try:
            lines = up.wait_ready()
            assert all(f"database {s} {redact(dsn)}" in lines for s, dsn in dsns.items())
            truth_file = tmp_path / "truth.json"
            sim = run(["simulate", "--scale", "0.01", "--seed", "4", "--truth", str(truth_file), "--quiet"], up.env())
            assert sim.returncode == 0, sim.stdout + sim.stderr
            assert report_counts(up.env()) == json.loads(truth_file.read_text())["counts"]
        finally:
            up.stop()
    finally:
        asyncio.run(databases(server, "DROP", names))
