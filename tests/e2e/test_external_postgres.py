"""`parcours up` on an existing PostgreSQL server reached over TCP (the machine's PostgreSQL 15),
given per-service DSNs, instead of the embedded one."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import uuid

import asyncpg
import pytest

from tests.e2e.helpers import Up, report_counts, run, service_ports

pytestmark = pytest.mark.e2e
SERVER = os.environ.get("PARCOURS_EXTERNAL_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), 1).close()
        return True
    except OSError:
        return False


async def databases(action: str, names: list[str]) -> None:
    conn = await asyncpg.connect(SERVER)
    try:
        for name in names:
            await conn.execute(f'{action} DATABASE "{name}"')  # names made by this test
    finally:
        await conn.close()


@pytest.mark.skipif(not reachable(), reason="no PostgreSQL server answers on 127.0.0.1:5432")
def test_the_journey_on_an_existing_postgresql_server(tmp_path, monkeypatch):
    suffix = uuid.uuid4().hex[:8]
    names = {s: f"parcours_test_{s}_{suffix}" for s in ("intake", "progress", "outcomes")}
    asyncio.run(databases("CREATE", list(names.values())))
    try:
        for service, name in names.items():
            monkeypatch.setenv(f"PARCOURS_{service.upper()}_DATABASE_URL", SERVER.rsplit("/", 1)[0] + "/" + name)
        up = Up(tmp_path / "state", service_ports())
        try:
            lines = up.wait_ready()
            assert all(f"database {s} postgresql://postgres@127.0.0.1:5432/{n}" in lines for s, n in names.items())
            truth_file = tmp_path / "truth.json"
            sim = run(["simulate", "--scale", "0.01", "--seed", "4", "--truth", str(truth_file), "--quiet"], up.env())
            assert sim.returncode == 0, sim.stdout + sim.stderr
            assert report_counts(up.env()) == json.loads(truth_file.read_text())["counts"]
        finally:
            up.stop()
    finally:
        asyncio.run(databases("DROP", list(names.values())))
