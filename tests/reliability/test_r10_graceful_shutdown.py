"""R10: shutdown loses nothing.

Inject: SIGTERM under load.
- outcomes, the consumer, while it works through a backlog of several thousand facts: the signal
  is sent the instant one of its connections holds a writing transaction (inside a batch);
- progress, which accepts facts over HTTP and relays them, while eight clients keep posting:
  requests in flight are finished or refused, none is half-done.
After each stop, and before the restart, the consumer group's committed offsets are compared with
the inbox.
Pass: each process exits within its grace period (30 s; uvicorn re-raises the SIGTERM it handled,
so a clean exit has code -15); no committed offset is ahead of what was applied (no half-processed
batch committed); after the restarts every 2xx'd fact is applied, once.
"""

from __future__ import annotations

import asyncio
import random
import signal

import pytest

from tests.reliability.ledger import Ledger, account, offsets_vs_applied, settle, settled, start_audited
from tests.reliability.load import FactPoster, admit_learners, consumed, http_client, timeline, wait_for
from tests.reliability.stack import soak

GRACE = 30.0
LEARNERS = 400 if soak() else 200
IN_TRANSACTION = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL
"""


async def sigterm_when(stack, name: str, condition, timeout: float = 20.0) -> tuple[bool, int | None, float]:
    """SIGTERM `name` once `condition()` holds (or at the timeout); (condition met, exit code, seconds to exit)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    met = False
    while loop.time() < deadline:
        if await condition():
            met = True
            break
        await asyncio.sleep(0.002)
    started = loop.time()
    stack[name].kill(signal.SIGTERM)
    code = await stack[name].wait_exit(GRACE)
    return met, code, loop.time() - started


@pytest.mark.timeout(600 if soak() else 180)
async def test_r10_shutdown_loses_nothing(stack):
    rng = random.Random(10)
    ledger = Ledger("R10", "shutdown loses nothing (SIGTERM under load: outcomes mid-batch, progress mid-requests)",
                    "facts")
    await start_audited(stack, ledger)
    with ledger.phase("admit"):
        learners = await admit_learners(stack, LEARNERS, rng)
        await wait_for(lambda: settled(stack, set()), 60, "admissions applied by outcomes")
    half = len(learners) // 2
    backlog = [timeline(lr, rng, attendance=25) for lr in learners[:half]]
    live = [timeline(lr, rng, attendance=10) for lr in learners[half:]]

    async with http_client(stack) as client:
        poster = FactPoster(stack, client, deadline=150)
        with ledger.phase("outcomes: SIGTERM mid-batch"):
            size = 20 * len(backlog[0])
            facts = [f for t in backlog for f in t]
            await asyncio.gather(*(poster.post_batch(facts[i:i + size]) for i in range(0, len(facts), size)))
            in_batch = lambda: stack.fetchval("outcomes", IN_TRANSACTION)  # noqa: E731
            out_met, out_code, out_seconds = await sigterm_when(stack, "outcomes", in_batch)
            out_check = await offsets_vs_applied(stack)
            stack["outcomes"].start()

        with ledger.phase("progress: SIGTERM mid-requests"):
            loading = asyncio.create_task(poster.post_timelines(live, workers=8))

            async def busy() -> bool:
                return len(poster.accepted) >= len(facts) + 300

            prog_met, prog_code, prog_seconds = await sigterm_when(stack, "progress", busy)
            in_flight_answers = dict(poster.answers.statuses)
            stack["progress"].start()
            await loading

    with ledger.phase("settle"):
        await stack["outcomes"].ready(60)
        await settle(stack, ledger, poster.accepted, 90, sent=set(poster.sent))
    final_check = await offsets_vs_applied(stack)
    after = await consumed(stack["outcomes"].url)

    await account(stack, ledger, set(poster.sent), poster.accepted)
    ledger.note("outcomes SIGTERM", f"inside a batch: {out_met}; exited in {out_seconds:.1f}s with code {out_code}; "
                                    f"then {out_check}")
    ledger.note("progress SIGTERM", f"under load: {prog_met}; exited in {prog_seconds:.1f}s with code {prog_code}")
    ledger.note("answers up to progress's stop", in_flight_answers)
    ledger.note("outcomes after its restart", after)
    ledger.note("in the end", final_check)
    ledger.check()
    assert out_met and prog_met
    assert out_code is not None and out_seconds <= GRACE and out_code in (0, -signal.SIGTERM)
    assert prog_code is not None and prog_seconds <= GRACE and prog_code in (0, -signal.SIGTERM)
    assert out_check["committed but not applied"] == 0
    assert final_check["committed but not applied"] == 0
    assert poster.answers.classes["5xx"] == 0, poster.answers.server_errors
    assert len(poster.accepted) == len(poster.sent), poster.answers.refusals
