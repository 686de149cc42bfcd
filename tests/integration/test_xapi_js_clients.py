"""Issue 16: the JavaScript xAPI client libraries an LMS or an authoring tool embeds, none written here,
against the LRS door over a real port with HTTP Basic (the key's id and the key): Rustici's TinCanJS,
xAPI.js (@xapi/xapi) and ADL's adl-xapiwrapper. Each, through its own API (tests/xapi_clients/harness.js),
sends one statement, the same again, a batch of 50, one without id, reads that one back, and is
refused with a user the LRS does not know; what each concluded is what really happened.

The libraries are pinned in tests/xapi_clients/package-lock.json and installed there by `npm ci` the
first time (Node.js and npm are required: without them these tests fail, they do not skip)."""

# ruff: noqa: F811 -- `stack` is xapi_setup's fixture, imported and then named by the tests.
from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from tests.integration.helpers import running
from tests.integration.test_progress_imports import serving
from tests.integration.xapi_setup import VERSION, admitted_to_centre_a, scenario, stack  # noqa: F401

pytestmark = pytest.mark.integration
CLIENTS_DIR = Path(__file__).resolve().parents[1] / "xapi_clients"


@pytest.fixture(scope="session")
def node_clients() -> str:
    """The node executable, with the pinned client libraries installed (`npm ci` when they are not)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail("these tests drive JavaScript xAPI clients: install Node.js (18 or later) and npm "
                    f"(node: {node or 'absent'}, npm: {npm or 'absent'}); `npm ci` in tests/xapi_clients "
                    "is then run by the tests themselves")
    installed = CLIENTS_DIR / "node_modules" / ".package-lock.json"
    lock = CLIENTS_DIR / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=CLIENTS_DIR,
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            pytest.fail(f"`npm ci` in tests/xapi_clients failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return node


def drive(node: str, client: str, url: str, user: str, password: str, statements: dict, tmp_path: Path) -> dict:
    """Run the harness for one client; what it concluded at each step."""
    file = tmp_path / f"{client}.json"
    file.write_text(json.dumps(statements))
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    done = subprocess.run([node, str(CLIENTS_DIR / "harness.js"), client, url + "/xapi/", user, password,
                           str(uuid.uuid4()), str(file)], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, f"the {client} harness failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.splitlines()[-1])


# What each library sends a statement with an id by: TinCanJS PUTs it (204, no body), the others POST it.
SINGLE = {"tincanjs": 204, "xapi": 200, "adl": 200}


@pytest.mark.parametrize("client", ["tincanjs", "xapi", "adl"])
async def test_a_js_client_sends_one_statement_a_batch_the_same_twice_and_one_without_id(
        client, stack, kafka, node_clients, tmp_path):
    app, dsn = stack
    async with running(app) as client_, serving(app) as url:
        keys, key_id, programme, application = await admitted_to_centre_a(client_, kafka, dsn)
        statements = scenario(application, programme)
        admin = {"Authorization": f"Bearer {keys['admin']}"}
        said = await asyncio.to_thread(drive, node_clients, client, url, key_id, keys["centre_a"], statements,
                                       tmp_path)
        centre = httpx.BasicAuth(key_id, keys["centre_a"])
        view = (await client_.get(f"/enrolments/{application}", headers=admin)).json()
        no_id = said["no_id"]["ids"][0] if said["no_id"]["ids"] else None
        found = await client_.get("/xapi/statements", params={"statementId": no_id}, headers=VERSION, auth=centre)
        stored = await client_.get("/xapi/statements", params={"limit": 1000}, headers=VERSION, auth=centre)
    started = statements["started"]["id"]
    # What the client concluded...
    assert said["one"]["success"] and said["one"]["status"] == SINGLE[client], said["one"]
    assert said["twice"]["success"] and said["twice"]["status"] == SINGLE[client], said["twice"]
    if SINGLE[client] == 200:  # a POST answers the ids, the given one kept
        assert said["one"]["ids"] == said["twice"]["ids"] == [started]
    batch = said["batch"]
    assert batch["success"] and batch["status"] == 200 and len(set(batch["ids"])) == 50, batch
    if client == "tincanjs":  # TinCanJS names its statements itself: the LRS keeps its ids, in order
        assert batch["ids"] == batch["client_ids"]
        assert said["no_id"]["method"] == "POST"
    assert said["no_id"]["success"] and said["no_id"]["status"] == 200 and len(said["no_id"]["ids"]) == 1
    assert said["back"]["success"] and said["back"]["ids"] == [no_id], said.get("back")
    assert not said["refused"]["success"] and said["refused"]["status"] == 401, said["refused"]
    # ...is what happened: one start, 50 hours and 2 more, nothing twice, nothing from the stranger.
    assert view["state"] == "started" and view["attendance_hours"] == 52.0, view
    assert found.status_code == 200 and found.json()["id"] == no_id
    kept = stored.json()["statements"]
    assert stored.status_code == 200 and len(kept) == 52 and {s["id"] for s in kept} >= {started, no_id, *batch["ids"]}

