"""Security review, finding 2: the staff page's sign-in. The cookie was the API key itself (valid a
year, also a Bearer key elsewhere), without expiry, left valid by sign-out, and the forms carried
no CSRF token. Now: a server-side session per sign-in, its random id in the cookie, ended by
sign-out, idleness, age or the key's revocation; a CSRF token in every form."""

from __future__ import annotations

import asyncio
import re
import uuid

import asyncpg
import pytest

from services.outcomes.app import create_app
from services.outcomes.config import OutcomesSettings
from shared.plumbing import auth
from tests.integration import factories as f
from tests.integration.helpers import eventually, publish, running
from tests.integration.test_access import make_keys

pytestmark = pytest.mark.integration
LEARNER, PROGRAMME = uuid.uuid4(), uuid.uuid4()


@pytest.fixture
def dsn(new_database):
    return new_database("services.outcomes")


def staff_app(dsn: str, kafka: str, **settings):
    return create_app(OutcomesSettings(database_url=dsn, kafka_bootstrap_servers=kafka, auth_required=True,
                                       consumer_batch_timeout_ms=50, intake_url="http://127.0.0.1:9", **settings))


async def sign_in(client, key: str):
    r = await client.post("/staff/login", data={"key": key}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return r


async def followup_id(client, admin: str) -> str:
    async def opened():
        r = await client.get("/followups", params={"learner_id": str(LEARNER)},
                             headers={"Authorization": f"Bearer {admin}"})
        return r.json()["items"]
    return (await eventually(opened))[0]["followup_id"]


async def journey(kafka):
    await publish(kafka, [f.programme(PROGRAMME), f.submitted(LEARNER, PROGRAMME), f.decided(LEARNER, PROGRAMME),
                          f.started(LEARNER, PROGRAMME), f.exited(LEARNER, PROGRAMME, at="2020-10-02T17:00:00")])


async def test_security_2_the_cookie_is_a_session_never_the_key_nor_a_key_elsewhere(dsn, kafka):
    keys = await make_keys(dsn)
    async with running(staff_app(dsn, kafka)) as client:
        signed = await sign_in(client, keys["followup"])
        cookie = signed.headers["set-cookie"]
        session_id = client.cookies.get("parcours_staff")
        assert session_id and keys["followup"] not in cookie
        assert all(part in cookie for part in ("HttpOnly", "SameSite=strict", "Path=/staff", "Max-Age="))
        assert "Secure" not in cookie  # plain-HTTP local use; docker-compose.yml turns it on
        assert (await client.get("/staff", follow_redirects=False)).status_code == 200
        for header in ({"Authorization": f"Bearer {session_id}"}, {"X-API-Key": session_id}):
            r = await client.get("/followups", headers=header)
            assert r.status_code == 401
        client.cookies.clear()
        client.cookies.set("parcours_key", keys["followup"])  # the cookie as it used to be: the key itself
        assert (await client.get("/staff", follow_redirects=False)).status_code == 303
    async with running(staff_app(dsn, kafka, staff_cookie_secure=True)) as client:
        assert "Secure" in (await sign_in(client, keys["followup"])).headers["set-cookie"]
    conn = await asyncpg.connect(dsn)
    try:
        stored = await conn.fetch("SELECT session_hash, sealed_key FROM page_sessions")
    finally:
        await conn.close()
    assert len(stored) == 2 and all(keys["followup"].encode() not in bytes(r["sealed_key"]) for r in stored)
    assert session_id not in {r["session_hash"] for r in stored}


async def test_security_2_sign_out_idleness_and_revocation_end_the_session(dsn, kafka):
    keys = await make_keys(dsn)
    async with running(staff_app(dsn, kafka)) as client:
        await sign_in(client, keys["followup"])
        page = (await client.get("/staff")).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        kept = client.cookies.get("parcours_staff")
        assert (await client.post("/staff/logout", data={"csrf": csrf}, follow_redirects=False)).status_code == 303
        client.cookies.set("parcours_staff", kept, path="/staff")  # a copy of the cookie kept after sign-out
        assert (await client.get("/staff", follow_redirects=False)).status_code == 303

        await sign_in(client, keys["admin"])
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
        try:
            key_id = await pool.fetchval("SELECT key_id FROM api_keys WHERE name = 'admin'")
            await auth.revoke_key(pool, key_id)
        finally:
            await pool.close()

        async def ended():
            return (await client.get("/staff", follow_redirects=False)).status_code == 303
        await eventually(ended, timeout=15)  # keys are cached 5 s
    async with running(staff_app(dsn, kafka, staff_session_idle_minutes=0.01)) as client:
        await sign_in(client, keys["followup"])
        assert (await client.get("/staff", follow_redirects=False)).status_code == 200
        await asyncio.sleep(1.0)  # idle longer than 0.6 s
        assert (await client.get("/staff", follow_redirects=False)).status_code == 303


async def test_security_2_a_form_without_its_csrf_token_records_nothing(dsn, kafka):
    keys = await make_keys(dsn)
    await journey(kafka)
    async with running(staff_app(dsn, kafka)) as client:
        followup = await followup_id(client, keys["admin"])
        await sign_in(client, keys["followup"])
        attempt = {"channel": "phone", "attempted_on": "2021-03-05", "result": "no_answer"}
        forged = await client.post(f"/staff/followups/{followup}/attempts", data=attempt, follow_redirects=False)
        wrong = await client.post(f"/staff/followups/{followup}/attempts", data={**attempt, "csrf": "guess"},
                                  follow_redirects=False)
        page = (await client.get(f"/staff/followups/{followup}")).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        sent = await client.post(f"/staff/followups/{followup}/attempts", data={**attempt, "csrf": csrf},
                                 follow_redirects=False)
        admin = {"Authorization": f"Bearer {keys['admin']}"}
        detail = (await client.get(f"/followups/{followup}", headers=admin)).json()
    assert forged.status_code == 403 and wrong.status_code == 403 and "Rechargez la page" in forged.text
    assert sent.status_code == 303
    assert len(detail["attempts"]) == 1


async def test_security_6_the_acting_person_is_the_keys_holder_with_what_is_declared_beside_it(dsn, kafka):
    # Finding 6 of the security review: `staff` and X-Actor were self-declared, not the key's holder.
    keys = await make_keys(dsn)
    await journey(kafka)
    async with running(staff_app(dsn, kafka)) as client:
        followup = await followup_id(client, keys["admin"])
        followup_key = {"Authorization": f"Bearer {keys['followup']}"}
        await client.post(f"/followups/{followup}/attempts", headers=followup_key,
                          json={"channel": "phone", "attempted_on": "2021-03-05", "result": "no_answer",
                                "staff": "Someone Else"})
        await sign_in(client, keys["followup"])
        page = (await client.get(f"/staff/followups/{followup}")).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        await client.post(f"/staff/followups/{followup}/attempts", follow_redirects=False, data={
            "channel": "sms", "attempted_on": "2021-03-06", "result": "no_answer", "csrf": csrf})
        detail = (await client.get(f"/followups/{followup}", headers=followup_key)).json()
    assert [a["staff"] for a in detail["attempts"]] == ["Someone Else (key: followup)", "followup"]
