"""R1: a 2xx from the API means the fact is durable and will reach every consumer.

Inject: kill -9 the accepting service right after it answered 2xx — intake right after the
decision batch that admits every learner (its events go to progress AND outcomes), progress
several times, each time in the instant after a fact was answered 2xx (in the client's callback,
before anything else runs), while eight clients keep posting. Clients retry what got no answer
with the same event_id (idempotent), as a real client would.
Pass: after the restarts every 2xx'd fact is in progress's `facts` and applied by outcomes;
every event intake committed is applied by progress and outcomes; nothing applied twice.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from tests.reliability.ledger import Ledger, account, settled, start_audited
from tests.reliability.load import FactPoster, admit_learners, http_client, timeline, wait_for
from tests.reliability.stack import soak

LEARNERS = 600 if soak() else 120
KILLS = 10 if soak() else 3


@pytest.mark.timeout(600 if soak() else 180)
async def test_r1_a_2xx_is_durable_and_reaches_every_consumer(stack):
    rng = random.Random(1)
    ledger = Ledger("R1", "a 2xx means durable and reaches every consumer (kill -9 right after 2xx)", "facts")
    restarts: asyncio.Queue[str] = asyncio.Queue()

    async def kill_intake_after_admissions() -> None:
        stack["intake"].kill()  # the decisions were just answered 2xx
        await stack["intake"].restart()

    await start_audited(stack, ledger)
    with ledger.phase("admit"):
        learners = await admit_learners(stack, LEARNERS, rng, after_decisions=kill_intake_after_admissions)
    timelines = [timeline(lr, rng, attendance=3) for lr in learners]
    total = sum(len(t) for t in timelines)
    every = total // (KILLS + 1)
    accepted_count = 0

    def kill_right_after_2xx(fact) -> None:
        nonlocal accepted_count
        accepted_count += 1
        if accepted_count % every == 0 and len(stack["progress"].kills) < KILLS:
            stack["progress"].kill()  # no await between the 2xx and the kill
            restarts.put_nowait("progress")

    async def restarter() -> None:
        while True:
            name = await restarts.get()
            stack[name].start()

    restarting = asyncio.create_task(restarter())
    try:
        with ledger.phase("post facts"):
            async with http_client(stack) as client:
                poster = FactPoster(stack, client, on_accepted=kill_right_after_2xx, deadline=120)
                await poster.post_timelines(timelines, workers=8)
    finally:
        restarting.cancel()
    assert len(stack["progress"].kills) == KILLS
    with ledger.phase("settle"):
        await wait_for(lambda: settled(stack, poster.accepted), 90, "every accepted fact applied by outcomes")

    durable = {str(r["event_id"]) for r in await stack.fetch("progress", "SELECT event_id FROM facts")}
    await account(stack, ledger, set(poster.sent), poster.accepted)
    ledger.note("faults", f"intake SIGKILL x1 right after the admissions' 2xx; progress SIGKILL x{KILLS} "
                          f"right after a 2xx, restarted at once")
    ledger.note("2xx'd facts missing from progress's facts table", len(poster.accepted - durable))
    ledger.note("answers", dict(poster.answers.statuses))
    ledger.note("client retries (same event_id)", poster.retries)
    ledger.check()
    assert poster.accepted <= durable
    assert poster.answers.classes["5xx"] == 0, poster.answers.server_errors
    assert len(poster.accepted) == total, poster.answers.refusals
