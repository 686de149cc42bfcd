"""Follow-up work on the outcomes service: attempts, closing, corrections, the worklist,
breakdowns, cohorts and suppression, on a real PostgreSQL and a real broker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.outcomes.app import create_app
from services.outcomes.config import OutcomesSettings
from tests.integration import factories as f
from tests.integration.helpers import eventually, publish, running

pytestmark = pytest.mark.integration


@pytest.fixture
def app(new_database, kafka):
    return create_app(OutcomesSettings(database_url=new_database("services.outcomes"), kafka_bootstrap_servers=kafka,
                                       relay_idle_seconds=0.02, consumer_batch_timeout_ms=50))


def journey(learner, programme, reason="certified", exit_at="2020-10-02T17:00:00", start="2020-03-02T09:00:00",
            **profile):
    return [f.submitted(learner, programme, **profile), f.decided(learner, programme),
            f.started(learner, programme, start), f.exited(learner, programme, reason, exit_at,
                                                           "health" if reason == "dropped_out" else None)]


async def settle(client, n):
    async def check():
        stats = (await client.get("/stats")).json()
        return sum(stats["events_applied"].values()) >= n
    await eventually(check)


OUTCOME = {"situation": "permanent_contract", "digital_job": True, "observed_on": "2021-04-02",
           "job_title": "Développeuse web", "staff": "Samia"}


async def test_attempts_closing_and_the_worklist(app, kafka):
    p = uuid.uuid4()
    a, b, c, d = (uuid.uuid4() for _ in range(4))
    today = datetime.now(UTC).date()
    recent = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S")
    events = [f.programme(p), *journey(a, p, exit_at="2020-10-02T17:00:00"),
              *journey(b, p, exit_at="2020-12-15T17:00:00"), *journey(c, p, exit_at="2020-11-02T17:00:00"),
              *journey(d, p, exit_at=recent, start="2020-03-02T09:00:00")]
    async with running(app) as client:
        await publish(kafka, events)
        await settle(client, len(events))
        url = f"/followups/{a}/{p}"
        r = await client.post(url + "/attempts", json={"channel": "phone", "attempted_on": "2021-04-01",
                                                       "result": "no_answer", "staff": "Samia"})
        assert r.status_code == 201 and r.json()["attempts"] == 1
        assert r.json()["status"] == "overdue"  # 2021 is long gone: past the window
        r = await client.post(f"/followups/{b}/{p}/close", json={"status": "exempt"})
        assert r.status_code == 422 and r.json()["code"] == "invalid_outcome"
        r = await client.post(f"/followups/{b}/{p}/close", json={"status": "exempt", "reason": "left_country"})
        assert r.json()["status"] == "exempt"
        r = await client.post(f"/followups/{c}/{p}/attempts", json={"channel": "email", "attempted_on": "2021-05-01",
                                                                    "result": "refused"})
        assert r.json()["status"] == "refused"
        r = await client.post(f"/followups/{c}/{p}/attempts", json={"channel": "email", "attempted_on": "2021-05-02",
                                                                    "result": "reached"})
        assert r.status_code == 409 and r.json()["code"] == "followup_closed"
        # d left three days ago: the window opens in about five months.
        r = await client.post(f"/followups/{d}/{p}/outcome", json=OUTCOME | {"observed_on": today.isoformat()})
        assert r.status_code == 409 and r.json()["code"] == "not_due"
        assert (await client.post(f"/followups/{d}/{p}/assign", json={"staff": "Samia"})).json()["assigned_to"] == \
            "Samia"

        worklist = (await client.get("/followups")).json()
        assert [(i["learner_id"], i["status"]) for i in worklist["items"]] == [
            (str(a), "overdue"), (str(d), "scheduled"), (str(c), "refused"), (str(b), "exempt")]
        open_items = (await client.get("/followups", params={"status": ["due", "overdue", "attempted"]})).json()
        assert [i["learner_id"] for i in open_items["items"]] == [str(a)]
        mine = (await client.get("/followups", params={"staff": "Samia"})).json()
        assert [i["learner_id"] for i in mine["items"]] == [str(d)]
        page = (await client.get("/followups", params={"limit": 2, "offset": 2})).json()
        assert page["total"] == 4 and len(page["items"]) == 2
        figures = (await client.get("/key-figures", params={"year": 2020})).json()
    assert figures["counts"]["followups_in_scope"] == 2 and figures["counts"]["followups_exempt"] == 1


async def test_a_corrected_outcome_replaces_the_first_in_the_figures_and_keeps_the_history(app, kafka):
    p, a = uuid.uuid4(), uuid.uuid4()
    events = [f.programme(p), *journey(a, p)]
    async with running(app) as client:
        await publish(kafka, events)
        await settle(client, len(events))
        url = f"/followups/{a}/{p}/outcome"
        r = await client.put(url, json=OUTCOME)
        assert r.status_code == 409 and r.json()["code"] == "nothing_to_correct"
        first = await client.post(url, json=OUTCOME)
        assert first.status_code == 201 and first.json()["late"] is True
        before = (await client.get("/key-figures", params={"year": 2020})).json()
        fixed = await client.put(url, json=OUTCOME | {"situation": "further_study", "digital_job": False})
        assert fixed.status_code == 200 and fixed.json()["corrects_event_id"] == first.json()["event_id"]
        after = (await client.get("/key-figures", params={"year": 2020})).json()
        detail = (await client.get(f"/followups/{a}/{p}")).json()
    assert before["counts"]["outcomes_by_situation"]["permanent_contract"] == 1
    assert after["counts"]["outcomes_by_situation"]["permanent_contract"] == 0
    assert after["counts"]["outcomes_by_situation"]["further_study"] == 1
    assert after["counts"]["outcomes_recorded"] == 1  # a correction is never counted as a new fact
    assert [o["situation"] for o in detail["outcomes"]] == ["permanent_contract", "further_study"]
    assert detail["outcomes"][0]["job_title"] == "Développeuse web"


async def test_breakdowns_sum_to_the_network_cohorts_differ_and_small_cells_are_withheld(app, kafka):
    lille, paris = uuid.uuid4(), uuid.uuid4()
    learners = [uuid.uuid4() for _ in range(5)]
    events = [f.programme(lille, region="32"), f.programme(paris, region="11")]
    events += journey(learners[0], lille, start="2019-09-02T09:00:00")  # started 2019, left 2020
    for learner in learners[1:4]:
        events += journey(learner, lille)
    events += journey(learners[4], paris, exit_at="2021-02-01T17:00:00")  # started 2020, left 2021
    async with running(app) as client:
        await publish(kafka, events)
        await settle(client, len(events))
        by_region = (await client.get("/key-figures", params={"year": 2020, "by": "region"})).json()
        entry = (await client.get("/key-figures", params={"year": 2020, "cohort": "entry"})).json()
        published = (await client.get("/key-figures", params={"year": 2020, "by": "region", "suppress": 4})).json()
        bad = await client.get("/key-figures", params={"year": 2020, "by": "postcode"})
    groups = {g["label"]: g for g in by_region["breakdown"]["groups"]}
    assert set(groups) == {"Hauts-de-France", "Île-de-France"}
    for key in ("applications_submitted", "learners_trained_or_in_training", "exits_total", "followups_in_scope"):
        assert sum(g["counts"][key] for g in groups.values()) == by_region["counts"][key]
    assert groups["Hauts-de-France"]["counts"]["followups_in_scope"] == 4
    assert by_region["counts"]["followups_in_scope"] == 4   # exit cohort 2020: the four who left in 2020
    assert entry["counts"]["followups_in_scope"] == 4       # entry cohort 2020: three + the one leaving in 2021
    assert entry["cohort"] == "entry" and "start" in entry["cohorts"]["followups"]
    small = {g["label"]: g for g in published["breakdown"]["groups"]}["Île-de-France"]
    assert small["counts"]["learners_trained_or_in_training"] == "s"  # withheld
    assert small["rates"]["admission_rate"]["value"] == "s"
    assert published["suppressed_under"] == 4
    assert bad.status_code == 422


async def test_the_worklists_sql_status_is_the_domains_for_every_stored_state_and_day(pg_server):
    # store.STATUS_SQL filters and sorts the worklist in PostgreSQL; domain.followup_status is the rule.
    from datetime import date

    import asyncpg

    from services.outcomes import domain, store
    from shared.contracts.vocabulary import FOLLOWUP_STATUSES

    start, end = date(2021, 3, 2), date(2021, 6, 2)
    days = [start - timedelta(days=1), start, start + timedelta(days=30), end, end + timedelta(days=1)]
    stored = [s for s in FOLLOWUP_STATUSES if s not in ("due", "overdue")]  # never stored: they follow the date
    conn = await asyncpg.connect(pg_server)
    try:
        for today in days:
            rows = await conn.fetch(
                f"SELECT f.status AS stored, {store.STATUS_SQL} AS seen FROM (SELECT s AS status, $3::date AS "
                "window_start, $4::date AS window_end FROM unnest($2::text[]) AS s) AS f", today, stored, start, end)
            assert {r["stored"]: r["seen"] for r in rows} == {
                s: domain.followup_status(s, today, start, end) for s in stored}, today
    finally:
        await conn.close()


async def test_every_breakdown_a_funder_asks_for_and_a_report_per_funding_line(app, kafka):
    """Issue 17: département, certification, delivery mode (on 31 December), label year and
    funding line, carried by programme.registered; each funding line's report is its group."""
    lille, paris, remote = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    events = [f.programme(lille, region="32", departement="59", rncp="RNCP37674", label_year=2018),
              f.programme(paris, region="11", departement="75", rncp="RNCP31114", label_year=2020,
                          funding_line="other"),
              f.programme(remote, region="11", departement="93", label_year=2020, mode="remote"),
              f.mode_changed(remote, "in_person", "2020-06-01")]
    for _ in range(3):
        events += journey(uuid.uuid4(), lille)
    for _ in range(2):
        events += journey(uuid.uuid4(), paris)
    events += journey(uuid.uuid4(), remote)
    async with running(app) as client:
        await publish(kafka, events)
        await settle(client, len(events))

        async def figures(**params):
            return (await client.get("/key-figures", params={"year": 2020, **params})).json()
        network = await figures()
        by = {name: {g["key"]: g["counts"]["exits_total"] for g in (await figures(by=name))["breakdown"]["groups"]}
              for name in ("departement", "certification", "mode", "label_year", "funding_line")}
        lines = {line: (await figures(funding_line=line))["counts"] for line in ("gen_label", "other")}
    assert by["departement"] == {"59": 3, "75": 2, "93": 1}
    assert by["certification"] == {"RNCP37674": 3, "RNCP31114": 2, "unknown": 1}
    assert by["mode"] == {"in_person": 6}  # the remote one came back in June
    assert by["label_year"] == {"2018": 3, "2020": 3}
    assert by["funding_line"] == {"gen_label": 4, "other": 2}
    for key in ("applications_submitted", "learners_trained_or_in_training", "exits_total", "followups_in_scope"):
        assert lines["gen_label"][key] + lines["other"][key] == network["counts"][key], key
    assert lines["other"]["exits_total"] == 2
