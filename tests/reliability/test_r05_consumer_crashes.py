"""R5: at-least-once under consumer crashes.

Inject: outcomes is given a backlog (it is killed, then thousands of facts are committed at
progress and published), then started and killed -9 again while it works through it:
- mid-batch: the test watches outcomes' database and kills the process the instant one of its
  connections holds a transaction that has written (the batch's claims and effects), so that
  transaction dies uncommitted;
- between the database commit and the offset commit: every Kafka connection goes through a proxy
  (tests/reliability/proxy.py) that, from before outcomes starts, holds its OffsetCommit requests
  while its fetches go on; the consumer commits its first batch in PostgreSQL and then waits on
  its offset commit, which sits in the proxy; once the inbox stops growing outcomes is killed -9
  and the proxy drops what the dead process had sent (freezing the broker with SIGSTOP is not enough:
  the commit already in its socket buffer is processed when it resumes).
After every kill, before the restart, the group's committed offsets are read from the broker
and compared with the inbox.
Pass: after each kill every record below a committed offset is applied ("committed offset never
ahead of applied"); the kill between the two commits leaves records applied beyond the committed
offset, which the restarted consumer receives again and its inbox drops (the duplicates counted
by its metrics); in the end every event is applied once and nothing is lost.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from tests.reliability.ledger import Ledger, account, offsets_vs_applied, settled, start_audited
from tests.reliability.load import FactPoster, admit_learners, consumed, http_client, timeline, wait_for
from tests.reliability.stack import soak

LEARNERS = 400 if soak() else 200
ATTENDANCE = 25
MID_BATCH_KILLS = 6 if soak() else 2
# True once outcomes has applied $1 events in all and one of its connections holds a transaction
# that has written: one round trip, so the test can poll it every few milliseconds.
WRITING_PAST = """
SELECT (SELECT count(*) FROM processed_events) >= $1 AND EXISTS (
    SELECT 1 FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL)
"""


async def applied_count(stack) -> int:
    return await stack.fetchval("outcomes", "SELECT count(*) FROM processed_events")


async def kill_mid_batch(stack, target: int, timeout: float = 20.0) -> bool:
    """Kill -9 outcomes the instant it holds a writing transaction, once it has applied `target`
    events; True if it did (else it is killed anyway when the time is up)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await stack.fetchval("outcomes", WRITING_PAST, target):
            stack["outcomes"].kill()
            return True
        await asyncio.sleep(0.002)
    stack["outcomes"].kill()
    return False


async def kill_between_commits(stack) -> int:
    """With outcomes' offset commits held by the proxy (its fetches go on), wait until it has applied
    a batch and stopped (it waits on that batch's commit), kill -9 it, then drop what it had sent.
    Returns bytes dropped."""
    try:
        last, stable_since = await applied_count(stack), asyncio.get_running_loop().time()
        while asyncio.get_running_loop().time() - stable_since < 0.5:
            await asyncio.sleep(0.05)
            now = await applied_count(stack)
            if now != last:
                last, stable_since = now, asyncio.get_running_loop().time()
        stack["outcomes"].kill()
    finally:
        return stack.proxy.release()  # noqa: B012 - always release, and say what was dropped


@pytest.mark.kafka_proxy
@pytest.mark.timeout(600 if soak() else 180)
async def test_r5_at_least_once_under_consumer_crashes(stack):
    rng = random.Random(5)
    ledger = Ledger("R5", "at-least-once under consumer crashes (kill -9 mid-batch and between the commits)",
                    "facts")
    await start_audited(stack, ledger)
    with ledger.phase("admit"):
        learners = await admit_learners(stack, LEARNERS, rng)
    await wait_for(lambda: settled(stack, set()), 60, "admissions applied by outcomes")
    timelines = [timeline(lr, rng, attendance=ATTENDANCE) for lr in learners]
    outcomes = stack["outcomes"]

    # Each kill gets its own backlog (the facts of a share of the learners, posted while outcomes is
    # down): a consumer fast enough to drain one backlog in a round would leave the next nothing.
    shares = [timelines[k::MID_BATCH_KILLS + 1] for k in range(MID_BATCH_KILLS + 1)]
    poster = FactPoster(stack, None, deadline=170)  # each backlog is posted with its own client
    outcomes.kill()

    checks = []
    with ledger.phase("kills"):
        for share in shares[:-1]:
            await _post_backlog(stack, poster, share)
            before = await applied_count(stack)
            outcomes.start()
            in_tx = await kill_mid_batch(stack, before + rng.choice((0, 300, 600)))
            checks.append(("mid-batch" if in_tx else "not in a transaction", await applied_count(stack) - before,
                           await offsets_vs_applied(stack)))
        await _post_backlog(stack, poster, shares[-1])
        before = await applied_count(stack)
        # Commits held before the start: however fast the consumer, the kill lands after a batch
        # is applied in PostgreSQL and before its offsets reach the broker.
        stack.proxy.hold(commits=True)
        outcomes.start()
        await wait_for(lambda: _grew(stack, before + 1), 30, "outcomes applying")
        dropped = await kill_between_commits(stack)
        checks.append(("between the commits", await applied_count(stack) - before, await offsets_vs_applied(stack)))

    with ledger.phase("drain"):
        outcomes.start()
        await outcomes.ready(60)
        await wait_for(lambda: settled(stack, poster.accepted), 120, "every fact applied by outcomes")
    after_restart = await consumed(outcomes.url)

    await account(stack, ledger, set(poster.sent), poster.accepted)
    for n, (kind, progressed, check) in enumerate(checks, 1):
        ledger.note(f"kill {n} ({kind})", f"applied {progressed} since its start; {check}")
    ledger.note("bytes the dead consumer had sent, dropped by the proxy", dropped)
    ledger.note("consumed by the last process", after_restart)
    ledger.check()
    assert all(c["committed but not applied"] == 0 for _, _, c in checks)
    assert sum(kind == "mid-batch" for kind, _, _ in checks) >= 1, "no kill landed inside a batch's transaction"
    assert checks[-1][2]["applied beyond the committed offsets"] > 0, (
        "the kill between the commits left nothing applied beyond the committed offsets")
    assert after_restart.get("duplicate", 0) > 0, "nothing was delivered again after the kills"


async def _grew(stack, target: int) -> bool:
    return await applied_count(stack) >= target


async def _post_backlog(stack, poster: FactPoster, timelines) -> None:
    """Post these learners' facts (20 learners a batch) and wait until progress has published them."""
    facts = [f for t in timelines for f in t]
    size = len(timelines[0]) * 20
    async with http_client(stack) as client:
        poster.client = client
        await asyncio.gather(*(poster.post_batch(facts[i:i + size]) for i in range(0, len(facts), size)))
    await wait_for(lambda: stack.fetchval("progress", "SELECT count(*) = 0 FROM outbox WHERE published_at IS NULL"),
                   60, "the backlog published")
