"""The ledger of a fault test: what it sent, what was accepted, what the system applied.

- sent: the events the test tried to create (facts posted, records produced);
- accepted: those answered 2xx (or acknowledged by the broker, for records produced directly);
- applied: the accepted ones found applied by every consumer (in its inbox, `processed_events`);
- lost: accepted but never applied, plus every event committed in a producer's outbox that some
  consumer neither applied nor set aside, plus every applied event whose effect is missing;
- duplicated: effects applied more than once (see below);
- dead-lettered: rows in the services' `dead_letters`; must equal what the test injected.

Duplicated effects are counted by the database itself: an audit trigger (installed by the test
on outcomes' database, not part of the service) logs every row written to outcomes' `enrolments`
and `applications`. Each applied training.started/exited/corrected and application.submitted/
decided event writes exactly one such row, so per learner the writes must equal the applied
events of that learner; a surplus is an effect applied twice, a shortfall an effect lost.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field

from shared.contracts.topics import TOPICS, consumed_by
from tests.reliability.records import committed_offsets, read_topic
from tests.reliability.stack import GROUP, Stack

LEDGERS: list[Ledger] = []

AUDIT = """
CREATE TABLE IF NOT EXISTS reliability_writes (
    id          bigserial PRIMARY KEY,
    tbl         text NOT NULL,
    learner_id  uuid,
    programme_id uuid,
    op          text NOT NULL,
    at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE OR REPLACE FUNCTION reliability_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reliability_writes (tbl, learner_id, programme_id, op)
    VALUES (TG_TABLE_NAME, NEW.learner_id, NEW.programme_id, TG_OP);
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS reliability_audit ON enrolments;
CREATE TRIGGER reliability_audit AFTER INSERT OR UPDATE ON enrolments
    FOR EACH ROW EXECUTE FUNCTION reliability_audit();
DROP TRIGGER IF EXISTS reliability_audit ON applications;
CREATE TRIGGER reliability_audit AFTER INSERT OR UPDATE ON applications
    FOR EACH ROW EXECUTE FUNCTION reliability_audit();
"""
# Event types that write exactly one row of outcomes' enrolments or applications when applied.
AUDITED_TYPES = ("training.started", "training.exited", "training.corrected",
                 "application.submitted", "application.decided")


@dataclass
class Ledger:
    requirement: str
    title: str
    what: str = "events"
    sent: int = 0
    accepted: int = 0
    applied: int = 0
    lost: int = 0
    duplicated: int = 0
    dead_lettered: int = 0
    injected: int = 0
    excused: int = 0  # dead letters explained by a known bug that a strict xfail test proves on its own
    notes: dict[str, object] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0

    def __post_init__(self) -> None:
        LEDGERS.append(self)
        self._clock = time.monotonic()

    @contextmanager
    def phase(self, name: str):
        started = time.monotonic()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.monotonic() - started

    def note(self, key: str, value: object) -> None:
        self.notes[key] = value

    def line(self) -> str:
        return (f"[{self.requirement}] {self.what}: sent {self.sent}, accepted {self.accepted}, "
                f"applied {self.applied}, lost {self.lost}, duplicated {self.duplicated}, "
                f"dead-lettered {self.dead_lettered} (injected {self.injected}"
                + (f", by a known bug {self.excused}" if self.excused else "") + ")")

    def report(self) -> str:
        if not self.elapsed:
            self.elapsed = time.monotonic() - self._clock  # frozen at the first report
        lines = [f"{self.line()}  -- {self.title}"]
        lines += [f"      {key}: {value}" for key, value in self.notes.items()]
        if self.timings:
            phases = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in self.timings.items())
            lines.append(f"      seconds: {phases}; total {self.elapsed:.1f}s")
        return "\n".join(lines)

    def check(self) -> None:
        """Print the ledger, then hold it to its rules."""
        self.elapsed = time.monotonic() - self._clock
        print("\n" + self.report(), flush=True)
        assert self.lost == 0, f"{self.requirement}: {self.lost} lost\n{self.report()}"
        assert self.duplicated == 0, f"{self.requirement}: {self.duplicated} duplicated\n{self.report()}"
        assert self.dead_lettered == self.injected + self.excused, (
            f"{self.requirement}: {self.dead_lettered} dead-lettered, {self.injected} injected\n{self.report()}")


# --- what the databases say ---------------------------------------------------------------


async def start_audited(stack, ledger: Ledger, env: dict[str, dict[str, str]] | None = None) -> None:
    """The ledger's "start" phase: every service started (with `env` per service) and the audit
    of outcomes' effects installed."""
    with ledger.phase("start"):
        await stack.start_services(env=env)
        await install_audit(stack)


async def install_audit(stack: Stack) -> None:
    await stack.execute("outcomes", AUDIT)


async def inbox(stack: Stack, service: str) -> set[str]:
    return {str(r["event_id"]) for r in await stack.fetch(service, "SELECT event_id FROM processed_events")}


async def outbox(stack: Stack, service: str) -> list[dict]:
    """Committed events of a service (dead-letter copies and replays have no event_id)."""
    rows = await stack.fetch(service, "SELECT event_id, topic, key, event_type, published_at IS NOT NULL AS published "
                                      "FROM outbox WHERE event_id IS NOT NULL")
    return [{"event_id": str(r["event_id"]), "topic": r["topic"], "key": (r["key"] or b"").decode(),
             "event_type": r["event_type"], "published": r["published"]} for r in rows]


async def dead_letters(stack: Stack, service: str) -> list[dict]:
    rows = await stack.fetch(service, 'SELECT topic, partition, "offset", key, payload, reason, error '
                                      "FROM dead_letters ORDER BY id")
    out = []
    for r in rows:
        try:
            event_id = str(uuid.UUID(json.loads(bytes(r["payload"]))["event_id"]))
        except (ValueError, KeyError, TypeError):
            event_id = None
        out.append({**dict(r), "event_id": event_id})
    return out


async def undelivered(stack: Stack) -> tuple[int, dict[str, int]]:
    """(committed events, {"producer>topic>consumer": n}) for every committed event a consumer lacks."""
    committed, missing = await undelivered_ids(stack)
    return committed, {key: len(ids) for key, ids in missing.items()}


async def undelivered_ids(stack: Stack) -> tuple[int, dict[str, set[str]]]:
    """(committed events, {"producer>topic>consumer": event ids}) for every committed event a consumer lacks."""
    outboxes = {t.producer: await outbox(stack, t.producer) for t in TOPICS if t.consumers}
    inboxes = {c: await inbox(stack, c) for t in TOPICS for c in t.consumers}
    set_aside = {c: {d["event_id"] for d in await dead_letters(stack, c) if d["event_id"]} for c in inboxes}
    committed = sum(len(rows) for rows in outboxes.values())
    missing: dict[str, set[str]] = {}
    for topic in TOPICS:
        ids = {r["event_id"] for r in outboxes.get(topic.producer, []) if r["topic"] == topic.name}
        for consumer in topic.consumers:
            lacking = ids - inboxes[consumer] - set_aside[consumer]
            if lacking:
                missing[f"{topic.producer}>{topic.name}>{consumer}"] = lacking
    return committed, missing


async def effects(stack: Stack) -> tuple[int, int, int]:
    """(audited writes, writes beyond one per applied event, applied events without their write)."""
    applied = await inbox(stack, "outcomes")
    expected: Counter[str] = Counter()
    for producer in ("intake", "progress"):
        for row in await outbox(stack, producer):
            if row["event_type"] in AUDITED_TYPES and row["event_id"] in applied:
                expected[row["key"]] += 1
    written: Counter[str] = Counter({str(r["learner_id"]): r["n"] for r in await stack.fetch(
        "outcomes", "SELECT learner_id, count(*) AS n FROM reliability_writes GROUP BY learner_id")})
    extra = sum(max(0, written[k] - expected[k]) for k in written.keys() | expected.keys())
    short = sum(max(0, expected[k] - written[k]) for k in written.keys() | expected.keys())
    return sum(written.values()), extra, short


async def account_committed(stack: Stack, ledger: Ledger) -> None:
    """A ledger whose unit is every event committed in an outbox (for loads the test did not itemise)."""
    await account(stack, ledger, set(), set())
    committed, missing = await undelivered(stack)
    ledger.sent = ledger.accepted = committed
    ledger.applied = committed - sum(missing.values())


async def dead_letter_counts(stack: Stack) -> dict[str, int]:
    return {name: await stack.fetchval(name, "SELECT count(*) FROM dead_letters")
            for name in ("intake", "progress", "outcomes")}


async def account(stack: Stack, ledger: Ledger, sent: set[str], accepted: set[str],
                  consumers: tuple[str, ...] = ("outcomes",)) -> None:
    """Fill the ledger from the databases (call once the system has settled)."""
    applied = set(accepted)
    for consumer in consumers:
        applied &= await inbox(stack, consumer)
    committed, missing_ids = await undelivered_ids(stack)
    missing = {key: len(ids) for key, ids in missing_ids.items()}
    writes, extra, short = await effects(stack)
    dead = await dead_letter_counts(stack)
    ledger.sent = len(sent)
    ledger.accepted = len(accepted)
    ledger.applied = len(applied)
    # Accepted but not applied, plus committed events a consumer lacks that the test did not itemise,
    # plus applied events whose effect is missing.
    ledger.lost = len(accepted - applied) + len(set().union(*missing_ids.values()) - accepted) + short
    ledger.duplicated = extra
    ledger.dead_lettered = sum(dead.values())
    ledger.note("committed events (all outboxes)", f"{committed}, not applied by a consumer: "
                f"{sum(missing.values())}{' ' + str(missing) if missing else ''}")
    ledger.note("effects audited (outcomes rows written)", f"{writes}, twice: {extra}, missing: {short}")


async def settled(stack: Stack, accepted: set[str], consumers: tuple[str, ...] = ("outcomes",)) -> bool:
    """True when every accepted event is applied and every committed event reached its consumers."""
    for consumer in consumers:
        if accepted - await inbox(stack, consumer):
            return False
    _, missing = await undelivered(stack)
    if missing:
        return False
    backlog = 0
    for name in ("intake", "progress", "outcomes"):
        backlog += await stack.fetchval(name, "SELECT count(*) FROM outbox WHERE published_at IS NULL")
    return backlog == 0


async def offsets_vs_applied(stack: Stack, service: str = "outcomes") -> dict[str, int]:
    """Compare the group's committed offsets with what the service's database holds.

    Every record below a committed offset must be applied (its event_id in the inbox) or set aside
    (its position in dead_letters): "committed but not applied" must be 0. Records applied at or
    beyond the committed offset are the ones a restart will deliver again (the inbox drops them).
    """
    topics = consumed_by(service)
    committed = await asyncio.to_thread(committed_offsets, stack.bootstrap, GROUP[service], topics)
    applied = await inbox(stack, service)
    set_aside = {(d["topic"], d["partition"], d["offset"]) for d in await dead_letters(stack, service)}
    below = not_applied = beyond = 0
    for topic in topics:
        for r in await asyncio.to_thread(read_topic, stack.bootstrap, topic):
            done = r.event_id in applied or (topic, r.partition, r.offset) in set_aside
            mark = committed.get((topic, r.partition))
            if mark is not None and r.offset < mark:
                below += 1
                not_applied += not done
            elif done:
                beyond += 1
    return {"records below the committed offsets": below, "committed but not applied": not_applied,
            "applied beyond the committed offsets": beyond}


def summary_lines() -> list[str]:
    return [ledger.report() for ledger in LEDGERS]


SKIP_TABLES = {"outbox", "processed_events", "schema_migrations", "dead_letters", "reliability_writes", "api_keys"}


async def snapshot(stack: Stack) -> dict[str, list]:
    """Every row of every service's own tables (not the delivery tables), sorted: the state to compare."""
    state: dict[str, list] = {}
    for name in ("intake", "progress", "outcomes"):
        tables = [r["table_name"] for r in await stack.fetch(
            name, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
                  "AND table_type = 'BASE TABLE' ORDER BY table_name")]
        for table in tables:
            if table in SKIP_TABLES:
                continue
            rows = await stack.fetch(name, f'SELECT * FROM "{table}"')
            state[f"{name}.{table}"] = sorted(repr(tuple(r.values())) for r in rows)
        for table in ("outbox", "processed_events", "dead_letters"):
            state[f"{name}.{table} (rows)"] = [await stack.fetchval(name, f"SELECT count(*) FROM {table}")]
    return state


def differences(before: dict[str, list], after: dict[str, list]) -> dict[str, str]:
    out = {}
    for key in before.keys() | after.keys():
        a, b = before.get(key, []), after.get(key, [])
        if a != b:
            out[key] = f"{len(a)} rows -> {len(b)} rows, {len(set(a) ^ set(b))} differ"
    return out


async def diagnose(stack: Stack, accepted: set[str], consumers: tuple[str, ...] = ("outcomes",)) -> dict:
    """What is still missing, for the report of a test that did not settle."""
    out: dict[str, object] = {}
    for consumer in consumers:
        out[f"accepted not applied by {consumer}"] = len(accepted - await inbox(stack, consumer))
    out["committed events not applied (producer>topic>consumer)"] = (await undelivered(stack))[1]
    for name in ("intake", "progress", "outcomes"):
        out[f"{name} outbox unpublished"] = await stack.fetchval(
            name, "SELECT count(*) FROM outbox WHERE published_at IS NULL")
    return out


async def settle(stack: Stack, ledger: Ledger, accepted: set[str], timeout: float,
                 consumers: tuple[str, ...] = ("outcomes",), sent: set[str] | None = None) -> None:
    """Wait until everything is applied; if it does not happen, take the ledger as it is, say what is
    missing, and fail."""
    from tests.reliability.load import wait_for

    try:
        await wait_for(lambda: settled(stack, accepted, consumers), timeout,
                       "every accepted and committed event applied")
    except TimeoutError:
        await account(stack, ledger, sent if sent is not None else accepted, accepted, consumers)
        for key, value in (await diagnose(stack, accepted, consumers)).items():
            ledger.note(key, value)
        print("\n" + ledger.report(), flush=True)
        raise
