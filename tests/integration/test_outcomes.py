"""Outcomes against a real PostgreSQL and a real Kafka-protocol broker: projection, follow-ups,
outcomes, key figures, and the delivery guarantees of its consumer (inbox, dead letters)."""

from __future__ import annotations

import json
import uuid
from datetime import date

import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.outcomes.app import create_app
from services.outcomes.config import OutcomesSettings
from shared.plumbing.observe import LagWatcher
from tests.integration import factories as f
from tests.integration.helpers import eventually, publish, read_topic, running
from tests.integration.test_access import header, make_keys

pytestmark = pytest.mark.integration


@pytest.fixture
def dsn(new_database):
    return new_database("services.outcomes")


@pytest.fixture
def app(dsn, kafka):
    return create_app(OutcomesSettings(database_url=dsn, kafka_bootstrap_servers=kafka,
                                       relay_idle_seconds=0.02, consumer_batch_timeout_ms=50))


def journey(learner, programme, reason="certified", exit_at="2020-10-02T17:00:00", **profile):
    return [f.submitted(learner, programme, **profile), f.decided(learner, programme),
            f.started(learner, programme), f.exited(learner, programme, reason, exit_at,
                                                    "health" if reason == "dropped_out" else None)]


async def applied(client, n):
    async def check():
        stats = (await client.get("/stats")).json()
        return sum(stats["events_applied"].values()) >= n and stats
    return await eventually(check)


async def test_an_exit_opens_a_followup_six_months_later_clamped_to_month_end(app, kafka):
    learner, programme = uuid.uuid4(), uuid.uuid4()
    events = [f.programme(programme), *journey(learner, programme, exit_at="2019-08-31T17:00:00")]
    async with running(app) as client:
        await publish(kafka, events)
        await applied(client, len(events))
        r = await client.get(f"/followups/{learner}/{programme}")
    assert r.status_code == 200
    body = r.json()
    assert body["exit_date"] == "2019-08-31"
    assert body["observation_date"] == "2020-02-29"
    assert (body["window_start"], body["window_end"]) == ("2020-01-29", "2020-04-29")
    assert body["status"] == "overdue"  # the window closed long ago with nothing recorded


async def test_key_figures_match_a_hand_computed_cohort(app, kafka):
    p1, p2 = uuid.uuid4(), uuid.uuid4()
    a, b, c, d, e = (uuid.uuid4() for _ in range(5))
    rejected = uuid.uuid4()
    events = [
        f.programme(p1, capacity=10), f.programme(p2, capacity=5),
        *journey(a, p1, "certified", gender="female", education_level="3"),
        *journey(b, p1, "dropped_out", exit_at="2020-05-02T16:00:00", qpv=False, age_band="26_44"),
        *journey(c, p2, "not_certified", gender="male", education_level="6", job_seeker=False),
        *journey(d, p2, "transferred", exit_at="2020-06-02T16:00:00"),
        # e: admitted and started but still in training
        f.submitted(e, p2), f.decided(e, p2), f.started(e, p2),
        f.submitted(rejected, p1), f.decided(rejected, p1, "rejected"),
    ]
    async with running(app) as client:
        await publish(kafka, events)
        await applied(client, len(events))
        outcomes = {a: ("permanent_contract", True), b: ("further_study", False), c: ("job_seeker", False)}
        for learner, (situation, digital) in outcomes.items():
            programme = p1 if learner in (a, b) else p2
            r = await client.post(f"/followups/{learner}/{programme}/outcome", json={
                "situation": situation, "digital_job": digital, "observed_on": "2021-04-02"})
            assert r.status_code == 201, r.text
        again = await client.post(f"/followups/{a}/{p1}/outcome", json={
            "situation": "inactive", "observed_on": "2021-04-02"})
        assert again.status_code == 409
        none = await client.post(f"/followups/{d}/{p2}/outcome", json={
            "situation": "inactive", "observed_on": "2021-04-02"})
        assert none.status_code == 404  # a transfer opens no follow-up
        figures = (await client.get("/key-figures", params={"year": 2020})).json()
        empty = (await client.get("/key-figures", params={"year": 2015})).json()
    counts, rates = figures["counts"], figures["rates"]
    assert counts["applications_submitted"] == 6 and counts["applications_admitted"] == 5
    assert counts["applications_rejected"] == 1 and counts["places_offered"] == 15
    assert counts["learners_started"] == 5 and counts["learners_trained_or_in_training"] == 5
    assert counts["learners_women"] == 4 and counts["learners_bac_or_lower"] == 4
    assert counts["learners_qpv"] == 4 and counts["learners_job_seekers"] == 4
    assert counts["learners_under_26"] == 4
    assert counts["exits_by_reason"] == {"completed": 0, "certified": 1, "not_certified": 1,
                                         "dropped_out": 1, "excluded": 0}
    assert counts["exits_total"] == 3 and counts["followups_in_scope"] == 3
    assert counts["outcomes_recorded"] == 3 and counts["outcomes_digital_job"] == 1
    assert rates["admission_rate"] == {"value": round(5 / 6, 6), "numerator": 5, "denominator": 6}
    assert rates["completion_rate"]["numerator"] == 2 and rates["completion_rate"]["denominator"] == 3
    assert rates["certification_rate"]["value"] == 0.5
    assert rates["positive_exit_rate"]["gen_2020"] == {"value": round(2 / 3, 6), "numerator": 2, "denominator": 3}
    assert rates["positive_exit_rate"]["durable_employment_v1"]["numerator"] == 1
    assert rates["response_rate"]["value"] == 1.0
    assert empty["counts"]["applications_submitted"] == 0
    assert empty["rates"]["admission_rate"]["value"] is None


async def test_duplicates_are_applied_once_and_poison_is_set_aside(app, kafka, dsn):
    learner, programme = uuid.uuid4(), uuid.uuid4()
    events = [f.programme(programme), *journey(learner, programme)]
    exit_event = events[-1]
    poison = [
        ("parcours.training", b"{not json", [("event_type", b"training.exited"), ("schema_version", b"1")]),
        ("parcours.training", b'{"event_id": "x"}', [("event_type", b"training.exited"), ("schema_version", b"1")]),
        ("parcours.training", exit_event.model_dump_json().encode(),
         [("event_type", b"training.exited"), ("schema_version", b"99")]),
    ]
    async with running(app) as client:
        await publish(kafka, events + [exit_event, exit_event], raw=poison)
        stats = await applied(client, len(events))

        async def dead_lettered():
            return len(await read_topic(kafka, "parcours.training.dlq")) >= 3
        await eventually(dead_lettered)
        metrics = (await client.get("/metrics")).text
    assert stats["events_applied"]["training.exited"] == 1
    assert stats["followups"] == 1
    conn = await asyncpg.connect(dsn)
    try:
        reasons = sorted(r["reason"] for r in await conn.fetch("SELECT reason FROM dead_letters"))
    finally:
        await conn.close()
    assert reasons == ["invalid_schema", "undecodable", "unknown_type"]
    records = await read_topic(kafka, "parcours.training.dlq")
    assert {dict(r.headers)["dlq_reason"] for r in records} == {b"invalid_schema", b"undecodable", b"unknown_type"}
    assert 'result="duplicate"' in metrics and "parcours_dead_lettered_total" in metrics


FIGURE_SERIES = ("parcours_key_figure", "parcours_key_rate_ratio", "parcours_positive_exit_rate", "parcours_outcomes")


async def test_security_6_key_figures_not_on_metrics(dsn, kafka, monkeypatch):
    """Security review, finding 6: /metrics is read without a key, and it carried the year's key
    figures, rates and outcomes by situation that /key-figures keeps for a manager's key. The
    follow-ups by state stay: they are the staff's workload, and ops alert on them."""
    monkeypatch.setenv("PARCOURS_AUTH_REQUIRED", "true")
    app = create_app(OutcomesSettings(database_url=dsn, kafka_bootstrap_servers=kafka, auth_required=True,
                                      consumer_batch_timeout_ms=50, business_metrics_seconds=0.2),
                     clock=lambda: date(2020, 12, 1))
    keys = await make_keys(dsn)
    programme, certified, dropped = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    events = [f.programme(programme), *journey(certified, programme),
              *journey(dropped, programme, "dropped_out", exit_at="2020-05-04T16:00:00")]
    async with running(app) as client:
        await publish(kafka, events)
        await applied_with(client, header(keys["manager"]), len(events))
        r = await client.post(f"/followups/{dropped}/{programme}/outcome", headers=header(keys["followup"]),
                              json={"situation": "permanent_contract", "observed_on": "2020-11-20"})
        assert r.status_code == 201, r.text

        async def refreshed():
            text = (await client.get("/metrics")).text
            return 'parcours_followups{status="recorded"} 1.0' in text and text
        metrics = await eventually(refreshed)
        refused = [(await client.get("/key-figures", params={"year": 2020}, headers=header(token))).status_code
                   for token in (None, keys["centre_a"], "pk_unknown")]
        figures = await client.get("/key-figures", params={"year": 2020}, headers=header(keys["manager"]))
    assert figures.status_code == 200 and figures.json()["counts"]["exits_total"] == 2  # the figures exist
    assert refused == [401, 403, 401]
    names = {family.name for family in text_string_to_metric_families(metrics)}
    assert not [name for name in names if name.startswith(FIGURE_SERIES)], sorted(names)
    assert 'parcours_followups{status="scheduled"} 1.0' in metrics


async def applied_with(client, headers: dict, n: int):
    async def check():
        stats = (await client.get("/stats", headers=headers)).json()
        return sum(stats["events_applied"].values()) >= n and stats
    return await eventually(check)


async def test_dates_and_years_are_french_civil_dates(app, kafka):
    """00:30 in Paris on the 1st of a month is still the last day of the month before in UTC: the
    exit date, the observation date and the year a fact counts in are the French ones, in
    summer time (+02:00) and in winter time (+01:00)."""
    p = uuid.uuid4()
    summer, new_year, late_evening, new_start = (uuid.uuid4() for _ in range(4))
    events = [
        f.programme(p),
        *journey(summer, p, exit_at="2020-09-01T00:30:00+02:00"),
        *journey(new_year, p, exit_at="2021-01-01T00:30:00+01:00"),
        *journey(late_evening, p, exit_at="2020-12-31T23:30:00+01:00"),
        f.submitted(new_start, p, at="2019-12-31T23:45:00+01:00"), f.decided(new_start, p),
        f.started(new_start, p, at="2021-01-01T00:15:00+01:00"),
    ]
    async with running(app) as client:
        await publish(kafka, events)
        await applied(client, len(events))
        followups = {who: (await client.get(f"/followups/{who}/{p}")).json()
                     for who in (summer, new_year, late_evening)}
        y2020 = (await client.get("/key-figures", params={"year": 2020})).json()["counts"]
        y2021 = (await client.get("/key-figures", params={"year": 2021})).json()["counts"]
    assert (followups[summer]["exit_date"], followups[summer]["observation_date"]) == ("2020-09-01", "2021-03-01")
    assert (followups[new_year]["exit_date"], followups[new_year]["observation_date"]) == ("2021-01-01", "2021-07-01")
    assert followups[late_evening]["exit_date"] == "2020-12-31"
    # the summer exit and the 23:30 one count in 2020, the 00:30 one on 1 January in 2021
    assert (y2020["exits_total"], y2021["exits_total"]) == (2, 1)
    assert (y2020["followups_in_scope"], y2021["followups_in_scope"]) == (2, 1)
    # a start at 00:15 on 1 January 2021 belongs to 2021; an application at 23:45 on 31 December
    # 2019 to 2019
    assert (y2020["learners_started"], y2021["learners_started"]) == (3, 1)
    assert y2020["applications_submitted"] == 3


async def test_an_outcome_of_a_voided_exit_does_not_count_for_the_exit_restored_later(app, kafka):
    """A correction voids the exit (the follow-up goes), a later one restores it (a new follow-up
    opens): the outcome recorded on the first follow-up is history, not the new one's outcome."""
    learner, p = uuid.uuid4(), uuid.uuid4()
    events = [f.programme(p), *journey(learner, p, exit_at="2020-10-02T17:00:00")]
    async with running(app) as client:
        await publish(kafka, events)
        await applied(client, len(events))
        r = await client.post(f"/followups/{learner}/{p}/outcome", json={
            "situation": "permanent_contract", "digital_job": True, "observed_on": "2021-04-02"})
        assert r.status_code == 201, r.text
        void = f.corrected(learner, p, state="started")
        await publish(kafka, [void])
        await applied(client, len(events) + 1)
        assert (await client.get(f"/followups/{learner}/{p}")).status_code == 404
        restore = f.corrected(learner, p, exited_at="2020-10-09T17:00:00", exit_reason="certified")
        await publish(kafka, [restore])
        await applied(client, len(events) + 2)
        followup = (await client.get(f"/followups/{learner}/{p}")).json()
        counts = (await client.get("/key-figures", params={"year": 2020})).json()["counts"]
        again = await client.post(f"/followups/{learner}/{p}/outcome", json={
            "situation": "further_study", "observed_on": "2021-04-09"})
        after = (await client.get("/key-figures", params={"year": 2020})).json()["counts"]
    assert followup["exit_date"] == "2020-10-09"
    assert followup["status"] == "overdue" and followup["outcomes"] == []
    assert counts["followups_in_scope"] == 1 and counts["outcomes_recorded"] == 0
    assert counts["outcomes_by_situation"]["permanent_contract"] == 0
    assert again.status_code == 201, again.text
    assert after["outcomes_recorded"] == 1 and after["outcomes_by_situation"]["further_study"] == 1


async def test_several_situations_count_under_the_first_by_priority(app, kafka):
    learner, p = uuid.uuid4(), uuid.uuid4()
    events = [f.programme(p), *journey(learner, p)]
    url = f"/followups/{learner}/{p}/outcome"
    async with running(app) as client:
        await publish(kafka, events)
        await applied(client, len(events))
        wrong = await client.post(url, json={"situation": "further_study", "observed_on": "2021-04-02",
                                             "situations": ["further_study", "fixed_term_under_6m"]})
        none = await client.post(url, json={"observed_on": "2021-04-02"})
        r = await client.post(url, json={"situations": ["further_study", "fixed_term_under_6m"], "digital_job": True,
                                         "observed_on": "2021-04-02"})
        first = (await client.get("/key-figures", params={"year": 2020})).json()["counts"]
        corrected = await client.put(url, json={"situations": ["job_seeker", "further_study"],
                                                "observed_on": "2021-04-03"})
        second = (await client.get("/key-figures", params={"year": 2020})).json()["counts"]
        detail = (await client.get(f"/followups/{learner}/{p}")).json()

        async def both_published():
            records = [r for r in await read_topic(kafka, "parcours.outcomes")
                       if dict(r.headers).get("event_type") == b"outcome.recorded" and str(learner) in r.value.decode()]
            return len(records) == 2 and records
        published = await eventually(both_published)
    assert wrong.status_code == 422 and "fixed_term_under_6m comes first by priority" in wrong.text
    assert none.status_code == 422 and "situation" in none.text
    assert r.status_code == 201, r.text
    assert first["outcomes_by_situation"]["fixed_term_under_6m"] == 1 and first["outcomes_digital_job"] == 1
    assert first["outcomes_by_situation"]["further_study"] == 0
    assert corrected.status_code == 200, corrected.text
    assert second["outcomes_by_situation"]["further_study"] == 1 and second["outcomes_recorded"] == 1
    assert second["outcomes_by_situation"]["fixed_term_under_6m"] == 0
    assert [o["situations"] for o in detail["outcomes"]] == [["fixed_term_under_6m", "further_study"],
                                                            ["further_study", "job_seeker"]]
    assert [o["situation"] for o in detail["outcomes"]] == ["fixed_term_under_6m", "further_study"]
    payloads = [json.loads(r.value) for r in published]
    assert [p["data"]["situations"] for p in payloads] == [["fixed_term_under_6m", "further_study"],
                                                           ["further_study", "job_seeker"]]


async def test_each_enrolment_has_its_follow_up_and_a_person_counts_once(app, kafka):
    """Re-admitted after a drop-out: two enrolments, two exits, two follow-ups (each addressed by its
    own id); one learner in the counts. A transfer is no exit: its follow-up opens at the final exit,
    and the transferred person is one learner."""
    p, q = uuid.uuid4(), uuid.uuid4()
    again, moved = uuid.uuid4(), uuid.uuid4()
    first, second, origin = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    continued = uuid.uuid4()
    events = [
        f.programme(p), f.programme(q),
        f.submitted(again, p, application_id=first, gender="male"), f.admitted(again, p, first),
        # her latest admission says female: she counts so, once
        f.submitted(again, p, application_id=second), f.admitted(again, p, second, at="2020-06-01T10:00:00"),
        f.training_v2("started", again, p, first, "2020-03-02T09:00:00"),
        f.training_v2("exited", again, p, first, "2020-04-10T17:00:00", reason="dropped_out", dropout_cause="health"),
        f.training_v2("started", again, p, second, "2020-09-07T09:00:00"),
        f.training_v2("exited", again, p, second, "2020-12-18T17:00:00", reason="certified"),
        f.submitted(moved, p, application_id=origin), f.admitted(moved, p, origin),
        f.training_v2("started", moved, p, origin, "2020-03-02T09:00:00"),
        f.training_v2("exited", moved, p, origin, "2020-05-04T17:00:00", reason="transferred",
                      transfer_to_enrolment_id=continued, transfer_to_programme_id=q),
        f.training_v2("started", moved, q, continued, "2020-05-04T17:00:00", application_id=None,
                      transferred_from=origin),
        f.training_v2("exited", moved, q, continued, "2020-11-20T17:00:00", application_id=None,
                      reason="completed"),
    ]
    async with running(app) as client:
        await publish(kafka, events)
        await applied(client, len(events))
        ambiguous = await client.get(f"/followups/{again}/{p}")
        listed = (await client.get("/followups", params={"limit": 100})).json()["items"]
        mine = sorted((i for i in listed if i["learner_id"] == str(again)), key=lambda i: i["exit_date"])
        by_id = [(await client.get(f"/followups/{i['followup_id']}")).json() for i in mine]
        recorded = await client.post(f"/followups/{mine[1]['followup_id']}/outcome", json={
            "situation": "permanent_contract", "digital_job": True, "observed_on": "2021-06-18"})
        single = await client.get(f"/followups/{moved}/{q}")
        none = await client.get(f"/followups/{moved}/{p}")
        counts = (await client.get("/key-figures", params={"year": 2020})).json()["counts"]
        by_programme = (await client.get("/key-figures", params={"year": 2020, "by": "programme"})).json()
    assert ambiguous.status_code == 409 and ambiguous.json()["code"] == "ambiguous_followup"
    assert [i["exit_reason"] for i in mine] == ["dropped_out", "certified"]
    assert [d["enrolment_id"] for d in by_id] == [str(first), str(second)]
    assert recorded.status_code == 201 and recorded.json()["followup_id"] == mine[1]["followup_id"]
    assert single.status_code == 200 and single.json()["exit_reason"] == "completed"
    assert none.status_code == 404  # the transfer opened no follow-up
    assert counts["learners_started"] == 2 and counts["learners_trained_or_in_training"] == 2
    assert counts["learners_women"] == 2
    assert counts["exits_total"] == 3 and counts["followups_in_scope"] == 3 and counts["outcomes_recorded"] == 1
    groups = {g["key"]: g["counts"] for g in by_programme["breakdown"]["groups"]}
    # in programme p both people trained; the transferred one trained in q too
    assert groups[str(p)]["learners_trained_or_in_training"] == 2
    assert groups[str(q)]["learners_trained_or_in_training"] == 1
    assert groups[str(q)]["learners_started"] == 1 and groups[str(p)]["learners_started"] == 2


async def test_at_rest_the_waits_lengthen_and_the_first_event_shortens_them_again(dsn, kafka):
    app = create_app(OutcomesSettings(database_url=dsn, kafka_bootstrap_servers=kafka, consumer_fetch_max_wait_ms=20,
                                      consumer_idle_fetch_wait_ms=320, quiet_after_seconds=3))
    learner, programme = uuid.uuid4(), uuid.uuid4()
    async with running(app) as client:
        runtime = app.state.runtime
        await runtime.kafka_started()
        [consumer] = runtime._consumers()

        async def slowed():
            return consumer._fetcher._fetch_max_wait_ms == 320
        await eventually(slowed, timeout=20)
        assert runtime.broker.subscribers[0].batch_timeout_ms == 320  # below the poll's own ceiling
        await publish(kafka, [f.programme(programme), f.submitted(learner, programme)])
        await applied(client, 2)
        assert consumer._fetcher._fetch_max_wait_ms == 20
        assert runtime.broker.subscribers[0].batch_timeout_ms == runtime.settings.consumer_batch_timeout_ms


async def test_consumer_lag_is_the_end_offset_less_the_committed_one(app, kafka):
    learner, programme = uuid.uuid4(), uuid.uuid4()
    events = [f.programme(programme), *journey(learner, programme)]
    async with running(app) as client:
        runtime = app.state.runtime
        await publish(kafka, events)
        await applied(client, len(events))
        await eventually(lambda: _all_committed(runtime))
        watcher = LagWatcher(runtime.metrics, runtime._consumers)
        await watcher.measure()
        [consumer] = runtime._consumers()
        assigned = consumer.assignment()
        metrics = (await client.get("/metrics")).text
    lags = [line for line in metrics.splitlines() if line.startswith("parcours_consumer_lag{")]
    assert len(lags) == len(assigned) and {tp.topic for tp in assigned} == set(runtime.consumes)
    assert all(line.endswith(" 0.0") for line in lags), lags


async def _all_committed(runtime) -> bool:
    [consumer] = runtime._consumers()
    ends = await consumer.end_offsets(list(consumer.assignment()))
    for tp, end in ends.items():
        if end and (await consumer.committed(tp) or 0) < end:
            return False
    return True


async def test_statuses_and_refusals_follow_the_clock_the_app_is_given(dsn, kafka):
    # Exit on 2 October 2020: observation 2 April 2021, window 2 March to 2 June 2021.
    learner, programme = uuid.uuid4(), uuid.uuid4()
    events = [f.programme(programme), *journey(learner, programme, exit_at="2020-10-02T17:00:00")]
    body = {"situation": "permanent_contract", "digital_job": True, "observed_on": "2021-01-10"}
    settings = OutcomesSettings(database_url=dsn, kafka_bootstrap_servers=kafka, relay_idle_seconds=0.02)
    in_january = create_app(settings, clock=lambda: date(2021, 1, 15))
    async with running(in_january) as client:
        await publish(kafka, events)
        await applied(client, len(events))
        seen = (await client.get(f"/followups/{learner}/{programme}")).json()
        early = await client.post(f"/followups/{seen['followup_id']}/outcome", json=body)
    assert seen["status"] == "scheduled"
    assert early.status_code == 409 and early.json()["code"] == "not_due"
    in_july = create_app(settings, clock=lambda: date(2021, 7, 1))
    async with running(in_july) as client:
        late = (await client.get("/followups", params={"learner_id": str(learner)})).json()["items"]
        recorded = await client.post(f"/followups/{seen['followup_id']}/outcome",
                                     json={**body, "observed_on": "2021-04-02"})
    assert [item["status"] for item in late] == ["overdue"]
    assert recorded.status_code == 201 and recorded.json()["late"] is True
