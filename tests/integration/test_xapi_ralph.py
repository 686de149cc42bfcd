"""Issue 16: Ralph (France Université Numérique's learning-analytics toolbox, `ralph-malph`) as a centre
would point it at the LRS door to push its tracking logs: `ralph write -b lrs` over a real port with
HTTP Basic (the key's id and the key). It POSTs lists and learns no id back; what it concludes is its
exit status, and `ralph read -b lrs` (paged by the door's `more`) reads the statements back.

Ralph 5 pins click below 8.2.1 and importlib-metadata below 8.6, which the project's dev tools do not
share: it lives in a venv of its own, built under .cache/ the first time (a few seconds, about 40 MB)."""

# ruff: noqa: F811 -- `stack` is xapi_setup's fixture, imported and then named by the tests.
from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.integration.helpers import running
from tests.integration.test_progress_imports import serving
from tests.integration.xapi_setup import VERSION, admitted_to_centre_a, scenario, stack  # noqa: F401

pytestmark = pytest.mark.integration
RALPH = "ralph-malph[cli,backend-lrs]==5.1.0"
VENV = Path(__file__).resolve().parents[2] / ".cache" / "xapi-clients" / "ralph-malph-5.1.0"


@pytest.fixture(scope="session")
def ralph() -> Path:
    """The python of a venv holding Ralph and its LRS backend, built the first time."""
    python = VENV / "bin" / "python"
    stamp = VENV / "installed.txt"
    if not (stamp.exists() and stamp.read_text() == RALPH and python.exists()):
        shutil.rmtree(VENV, ignore_errors=True)
        VENV.parent.mkdir(parents=True, exist_ok=True)
        steps = ([sys.executable, "-m", "venv", "--without-pip", str(VENV)],
                 [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                  "--disable-pip-version-check", RALPH])
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                pytest.fail(f"could not install {RALPH} in {VENV.relative_to(VENV.parents[2])} "
                            f"({done.returncode}):\n{done.stdout}\n{done.stderr}")
        stamp.write_text(RALPH)
    return python


def run_ralph(python: Path, home: Path, *args: str, lines: list[dict] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "RALPH_APP_DIR": str(home), "NO_PROXY": "127.0.0.1,localhost",
           "no_proxy": "127.0.0.1,localhost"}
    stdin = "".join(json.dumps(line) + "\n" for line in lines or [])
    return subprocess.run([str(python), "-m", "ralph", *args], input=stdin, capture_output=True, text=True,
                          timeout=120, env=env)


def lrs(url: str, user: str, password: str) -> list[str]:
    return ["-b", "lrs", "--lrs-base-url", url, "--lrs-username", user, "--lrs-password", password,
            "--lrs-statements-endpoint", "/xapi/statements"]


async def test_ralph_writes_one_statement_a_batch_the_same_twice_and_one_without_id(stack, kafka, ralph, tmp_path):
    app, dsn = stack
    async with running(app) as client, serving(app) as url:
        keys, key_id, programme, application = await admitted_to_centre_a(client, kafka, dsn)
        statements = scenario(application, programme)
        admin = {"Authorization": f"Bearer {keys['admin']}"}
        centre = lrs(url, key_id, keys["centre_a"])

        def write(lines: list[dict], *options: str) -> subprocess.CompletedProcess:
            return run_ralph(ralph, tmp_path, "write", *centre, *options, lines=lines)

        one = await asyncio.to_thread(write, [statements["started"]])  # a list of one, POSTed
        twice = await asyncio.to_thread(write, [statements["started"]])
        many = await asyncio.to_thread(write, statements["batch"])  # one POST of 50 (chunks of 500)
        without = await asyncio.to_thread(write, [statements["no_id"]])
        refused = await asyncio.to_thread(lambda: run_ralph(
            ralph, tmp_path, "write", *lrs(url, str(uuid.uuid4()), keys["centre_a"]), lines=[statements["refused"]]))
        # Read back by pages of 20: GET ?limit=20, then the door's `more` until there is none.
        read = await asyncio.to_thread(run_ralph, ralph, tmp_path, "read", *centre, "--chunk-size", "20")
        back = [json.loads(line) for line in read.stdout.splitlines() if line.strip()]
        named = [s["id"] for s in back if s.get("timestamp", "").startswith("2020-03-30")]
        found = await client.get("/xapi/statements", params={"statementId": named[0] if named else str(uuid.uuid4())},
                                 headers=VERSION, auth=httpx.BasicAuth(key_id, keys["centre_a"]))
        view = (await client.get(f"/enrolments/{application}", headers=admin)).json()
    # What Ralph concluded: each write went through, the stranger's did not (401, said on stderr).
    for done in (one, twice, many, without, read):
        assert done.returncode == 0, done.stderr
    assert refused.returncode != 0 and "401 Unauthorized" in refused.stderr, refused.stderr
    # Read back: every statement once, the one without id named by the LRS...
    assert len(back) == 52 and len({s["id"] for s in back}) == 52, [s.get("id") for s in back]
    assert statements["started"]["id"] in {s["id"] for s in back}
    assert len(named) == 1 and found.status_code == 200 and found.json()["id"] == named[0]
    # ...and what happened: one start, 50 hours and 2 more, nothing twice, nothing from the stranger.
    assert view["state"] == "started" and view["attendance_hours"] == 52.0, view
