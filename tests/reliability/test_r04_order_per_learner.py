"""R4: one learner's events are applied in order.

Inject: many learners' facts interleaved (posted in four waves of /facts/batch, each wave a slice
of every learner's timeline), while outcomes' consumer group changes under them: 1 instance ->
2 (a second outcomes process on another port, same database and group) -> a restart (kill -9 of
the first, started again) -> 1 (kill -9 of the second). Each wave is posted while the group
rebalances. The timelines are order-sensitive at outcomes: an exit before its start is refused
(dead-lettered), and the last event of every learner is a correction (training.corrected, which
carries the enrolment as it now stands) that changes the exit reason (sometimes to `transferred`,
which removes the follow-up) or the exit date: applied before the exit it corrects, the exit
would overwrite it.
Pass: each learner's final state in outcomes (enrolment start, exit date and reason, dropout
cause; follow-up present or not, its exit date and reason) equals the ledger's; nothing
dead-lettered, lost or applied twice.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from shared.contracts.calendar import civil_date
from shared.contracts.vocabulary import FOLLOWED_UP_EXITS
from tests.reliability.ledger import Ledger, account, settled, start_audited
from tests.reliability.load import (
    ACCEPTED,
    START,
    Answers,
    FactPoster,
    Learner,
    admit_learners,
    consumed,
    http_client,
    timeline,
    wait_for,
)
from tests.reliability.stack import soak

LEARNERS = 800 if soak() else 300
FOLLOWED_UP = FOLLOWED_UP_EXITS


@dataclass
class Expected:
    exited_at: datetime
    exit_reason: str
    dropout_cause: str | None
    correction: dict
    correction_id: str


def correct(exit_fact, rng: random.Random) -> Expected:
    """A correction of the exit, and the enrolment it leaves."""
    reason = exit_fact.extra["exit_reason"]
    cause = exit_fact.extra.get("dropout_cause")
    at = exit_fact.occurred_at
    if rng.random() < 0.3:
        at = at + timedelta(days=3)
        body = {"action": "amend", "occurred_at": at.isoformat()}
    else:
        new = rng.choice([r for r in ("completed", "not_certified", "transferred", "certified") if r != reason])
        body = {"action": "amend", "exit_reason": new}
        reason, cause = new, None
    return Expected(at, reason, cause, body, str(uuid.uuid4()))


@pytest.mark.timeout(600 if soak() else 180)
async def test_r4_one_learners_events_are_applied_in_order(stack):
    rng = random.Random(4)
    ledger = Ledger("R4", "one learner's events in order (interleaved learners, 1 -> 2 -> 1 outcomes instances, "
                          "consumer restarts)", "facts")
    await start_audited(stack, ledger)
    with ledger.phase("admit"):
        learners = await admit_learners(stack, LEARNERS, rng, programmes=3)
    timelines = {lr: timeline(lr, rng, attendance=3) for lr in learners}
    expected = {lr: correct(t[-1], rng) for lr, t in timelines.items()}
    second = stack.another("outcomes", "outcomes-2")
    first = stack["outcomes"]
    answers = Answers()

    async with http_client(stack) as client:
        poster = FactPoster(stack, client, deadline=150)

        async def wave(start: int, stop: int) -> None:
            facts = [f for t in timelines.values() for f in t[start:stop]]
            per = 400 // (stop - start) * (stop - start)
            await asyncio.gather(*(poster.post_batch(facts[i:i + per]) for i in range(0, len(facts), per)))

        async def corrections(group: list[Learner]) -> None:
            for lr in group:
                e = expected[lr]
                exit_id = timelines[lr][-1].event_id
                url = f"{stack['progress'].url}/facts/{exit_id}/corrections"
                while True:
                    try:
                        response = await client.post(url, json=e.correction,
                                                     headers={"Idempotency-Key": e.correction_id})
                    except Exception as exc:  # noqa: BLE001 - no answer: retry with the same key
                        answers.note("/facts/{id}/corrections", None, exc)
                        await asyncio.sleep(0.2)
                        continue
                    kind = answers.note("/facts/{id}/corrections", response)
                    assert kind == ACCEPTED, response.text
                    break

        with ledger.phase("waves and group changes"):
            await wave(0, 2)                      # started + attendance; 1 instance
            second.start()                        # -> 2 instances, rebalancing while the next wave flows
            await wave(2, 4)
            await second.ready(60)
            first.kill()                          # a consumer restart with 2 instances
            first.start()
            await wave(4, 5)                      # the exits
            await first.live(60)
            by_second = await consumed(second.url)
            second.kill()                         # -> 1 instance again
            groups = [learners[i::8] for i in range(8)]
            await asyncio.gather(*(corrections(g) for g in groups))
            await first.ready(60)

    correction_ids = {e.correction_id for e in expected.values()}
    accepted = poster.accepted | correction_ids
    with ledger.phase("settle"):
        await wait_for(lambda: settled(stack, accepted), 120, "every fact and correction applied by outcomes")

    enrolments = {(str(r["learner_id"])): r for r in await stack.fetch(
        "outcomes", "SELECT learner_id, started_at, exited_at, exit_reason, dropout_cause FROM enrolments")}
    followups = {(str(r["learner_id"])): r for r in await stack.fetch(
        "outcomes", "SELECT learner_id, exit_date, exit_reason FROM followups")}
    wrong = []
    for lr, e in expected.items():
        row = enrolments.get(lr.learner_id)
        state = None if row is None else (row["started_at"], row["exited_at"], row["exit_reason"], row["dropout_cause"])
        if state != (START, e.exited_at, e.exit_reason, e.dropout_cause):
            wrong.append((lr.learner_id, "enrolment", state, (START, e.exited_at, e.exit_reason, e.dropout_cause)))
        f = followups.get(lr.learner_id)
        want = (civil_date(e.exited_at), e.exit_reason) if e.exit_reason in FOLLOWED_UP else None
        got = None if f is None else (f["exit_date"], f["exit_reason"])
        if got != want:
            wrong.append((lr.learner_id, "followup", got, want))

    await account(stack, ledger, set(poster.sent) | correction_ids, accepted)
    wrong_learners = len({w[0] for w in wrong})
    ledger.note("learners", f"{len(learners)}, final state as the ledger says: {len(learners) - wrong_learners}, "
                            f"wrong: {wrong_learners} {wrong[:3]}")
    ledger.note("group changes", "outcomes 1 -> 2 instances -> kill -9 and restart of the first -> kill -9 of the "
                                 "second (1 instance)")
    ledger.note("consumed by the second instance before its kill", by_second)
    ledger.note("consumed by the first instance since its restart", await consumed(first.url))
    ledger.note("answers", {**dict(poster.answers.statuses), **{f"corrections {k}": v
                                                                for k, v in answers.statuses.items()}})
    ledger.check()
    assert not wrong
    assert by_second.get("applied", 0) > 0, "the second instance applied nothing: the group never had 2 members"
