"""The enrolment-identity migrations on databases written as the release before them wrote them:
one enrolment per learner and programme becomes one keyed by its own id, which every service
computes alike (legacy_enrolment_id), so that the facts, follow-ups and outcomes stay joined and
new facts still find their enrolment."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime

import asyncpg
import pytest

from services.outcomes import service as outcomes_service
from services.outcomes.unit import PgUnit as OutcomesUnit
from services.progress import service as progress_service
from services.progress.schemas import FactIn
from services.progress.unit import PgUnit
from shared.contracts import calendar, legacy_enrolment_id
from shared.plumbing.db import create_pool, dsn_for_database, ensure_database, migrate, migration_files, packages_for

pytestmark = pytest.mark.integration


async def migrated_until(server: str, package: str, last_version: int) -> str:
    """A database with the plumbing migrated and the service's migrations up to `last_version`
    applied and recorded as the migrations runner records them."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    await ensure_database(server, name)
    dsn = dsn_for_database(server, name)
    await migrate(dsn, packages_for(package)[:1])
    conn = await asyncpg.connect(dsn)
    try:
        for version, file_name, sql in migration_files(package):
            if version <= last_version:
                await conn.execute(sql)
                await conn.execute("INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)",
                                   package, version, file_name)
    finally:
        await conn.close()
    return dsn


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_progress_enrolments_get_their_id_and_keep_their_facts(pg_server):
    async def scenario():
        dsn = await migrated_until(pg_server, "services.progress", 3)
        learner, programme, application = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("INSERT INTO programmes VALUES ($1, $2, 7, '2020-03-02')", programme, uuid.uuid4())
            await conn.execute(
                "INSERT INTO enrolments (learner_id, programme_id, application_id, state, admitted_at, started_at, "
                "last_change_at, last_fact_at, attendance_hours) VALUES ($1, $2, $3, 'started', $4, $5, $5, $6, 70)",
                learner, programme, application, at("2020-02-01T10:00:00"), at("2020-03-02T09:00:00"),
                at("2020-04-30T18:00:00"))
            for event_id, kind, moment, data in [
                    (uuid.uuid4(), "started", "2020-03-02T09:00:00", {}),
                    (uuid.uuid4(), "attendance", "2020-04-30T18:00:00", {"hours": 70.0})]:
                await conn.execute(
                    "INSERT INTO facts (event_id, learner_id, programme_id, fact_type, occurred_at, data, body_hash) "
                    "VALUES ($1, $2, $3, $4, $5, $6, 'h')", event_id, learner, programme, kind, at(moment),
                    json.dumps(data))
        finally:
            await conn.close()
        await migrate(dsn, packages_for("services.progress"))
        pool = await create_pool(dsn, 2)
        try:
            async with pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch("SELECT enrolment_id, application_id FROM enrolments")
                facts = await conn.fetch("SELECT DISTINCT enrolment_id FROM facts")
                # a late fact posted after the upgrade finds the enrolment and is placed at its date
                [late] = await progress_service.post_facts(PgUnit(conn), [FactIn(
                    learner_id=learner, programme_id=programme, type="attendance",
                    occurred_at=at("2020-03-31T18:00:00"), hours=35)])
                hours = await conn.fetchval("SELECT attendance_hours FROM enrolments")
        finally:
            await pool.close()
        return learner, programme, application, rows, facts, late, hours

    learner, programme, application, rows, facts, late, hours = asyncio.run(scenario())
    legacy = legacy_enrolment_id(learner, programme)
    assert [(r["enrolment_id"], r["application_id"]) for r in rows] == [(legacy, application)]
    assert [r["enrolment_id"] for r in facts] == [legacy]
    assert not isinstance(late, Exception), late
    assert late["enrolment_id"] == legacy and late["placed"] == "late"
    assert hours == 105  # placed at its date: the 70 stored before the upgrade + 35


def test_outcomes_projection_keeps_its_follow_ups_outcomes_and_figures(pg_server):
    async def scenario():
        dsn = await migrated_until(pg_server, "services.outcomes", 6)
        learner, programme, application = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                "INSERT INTO programmes (programme_id, centre_id, region, job_family, capacity, start_date, "
                "funding_line) VALUES ($1, $2, '32', 'M1805', 20, '2020-03-02', 'gen_label')", programme, uuid.uuid4())
            await conn.execute(
                "INSERT INTO applications (application_id, learner_id, programme_id, submitted_at, gender, "
                "education_level, age_band, qpv, zrr, job_seeker, region, decision, decided_at) VALUES "
                "($1, $2, $3, $4, 'female', '4', 'under_26', true, false, true, '32', 'admitted', $5)",
                application, learner, programme, at("2020-01-10T10:00:00"), at("2020-02-01T10:00:00"))
            await conn.execute(
                "INSERT INTO enrolments (learner_id, programme_id, started_at, exited_at, exit_reason) "
                "VALUES ($1, $2, $3, $4, 'certified')", learner, programme, at("2020-03-02T09:00:00"),
                at("2020-10-02T17:00:00"))
            followup = await conn.fetchval(
                "INSERT INTO followups (learner_id, programme_id, exit_date, exit_reason, observation_date, "
                "window_start, window_end, status) VALUES ($1, $2, '2020-10-02', 'certified', '2021-04-02', "
                "'2021-03-02', '2021-06-02', 'recorded') RETURNING followup_id", learner, programme)
            await conn.execute(
                "INSERT INTO outcomes (event_id, learner_id, programme_id, situation, situations, digital_job, "
                "source, observed_on, followup_id) VALUES ($1, $2, $3, 'permanent_contract', "
                "ARRAY['permanent_contract'], true, 'learner_statement', '2021-04-02', $4)",
                uuid.uuid4(), learner, programme, followup)
        finally:
            await conn.close()
        await migrate(dsn, packages_for("services.outcomes"))
        pool = await create_pool(dsn, 2)
        try:
            async with pool.acquire() as conn:
                enrolment = dict(await conn.fetchrow("SELECT enrolment_id, application_id FROM enrolments"))
                kept = dict(await conn.fetchrow("SELECT enrolment_id, followup_id FROM followups"))
                detail = await outcomes_service.followup_detail(OutcomesUnit(conn), followup, today=calendar.today())
            figures = await outcomes_service.key_figures(pool, 2020)
        finally:
            await pool.close()
        return learner, programme, application, followup, enrolment, kept, detail, figures

    learner, programme, application, followup, enrolment, kept, detail, figures = asyncio.run(scenario())
    legacy = legacy_enrolment_id(learner, programme)
    assert enrolment == {"enrolment_id": legacy, "application_id": application}
    assert kept == {"enrolment_id": legacy, "followup_id": followup}
    assert detail["status"] == "recorded" and [o["situation"] for o in detail["outcomes"]] == ["permanent_contract"]
    counts = figures["counts"]
    assert counts["learners_trained_or_in_training"] == 1 and counts["learners_women"] == 1
    assert counts["exits_total"] == 1 and counts["followups_in_scope"] == 1 and counts["outcomes_recorded"] == 1
    assert date.fromisoformat(detail["exit_date"].isoformat()) == date(2020, 10, 2)
