"""R6: effects happen once.

Load: a simulated year (`parcours simulate`, scale 0.01: programmes, applications with waitlists
and withdrawals, training facts with late ones and corrections, outcomes) through the APIs.
Inject: (1) copies of 10 % of the records of every consumed topic, produced again with
confluent-kafka (same key, value and headers: what a relay re-send or a producer retry does);
(2) outcomes' consumer group reset to the earliest offsets: outcomes is stopped (SIGTERM), the
group's offsets are committed at 0 on every partition by another consumer of the same group (the
group id is fixed, parcours-outcomes; the embedded broker refuses commits from a non-member and
librdkafka cannot join a group there, so an aiokafka consumer joins it alone, commits 0 and leaves),
and outcomes is started again: it reads every topic from the beginning.
Pass: the state of every service (every row of its own tables, the key figures) is unchanged
after each injection; each consumer's `duplicate` counter grows by exactly the copies of its
topics, and after the reset outcomes counts every record of its topics as a duplicate and
applies none; nothing is dead-lettered, nothing written twice. (Exact counts assume no rebalance
in between; should the group rebalance, records are delivered again and the counters may only
be higher, which the test then accepts and says.)
"""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest

from shared.contracts.topics import TOPICS, consumed_by
from tests.reliability.ledger import Ledger, account_committed, differences, settled, snapshot, start_audited
from tests.reliability.load import consumed, simulate, wait_for
from tests.reliability.records import produce, read_topic, reset_group
from tests.reliability.stack import GROUP, soak

SCALE = 0.05 if soak() else 0.01
SHARE = 0.10


async def key_figures(stack) -> dict:
    async with httpx.AsyncClient(headers=stack.headers, timeout=30) as client:
        response = await client.get(stack["outcomes"].url + "/key-figures", params={"year": 2020})
        assert response.status_code == 200, response.text
        return response.json()


async def counters(stack, consumers) -> dict[str, dict[str, int]]:
    return {name: await consumed(stack[name].url) for name in consumers}


@pytest.mark.timeout(600 if soak() else 180)
async def test_r6_effects_happen_once(stack):
    rng = random.Random(6)
    ledger = Ledger("R6", "effects once (10 % of records re-published; outcomes' group reset to earliest)",
                    "committed events")
    consumers = sorted({c for t in TOPICS for c in t.consumers})
    await start_audited(stack, ledger)
    with ledger.phase("simulate"):
        await simulate(stack, SCALE)
        await wait_for(lambda: settled(stack, set()), 60, "every committed event applied")
    before = await snapshot(stack)
    figures = await key_figures(stack)
    base = await counters(stack, consumers)

    with ledger.phase("re-publish 10 %"):
        copies: dict[str, int] = {}
        injected = []
        for topic in [t.name for t in TOPICS if t.consumers]:
            records = await asyncio.to_thread(read_topic, stack.bootstrap, topic)
            chosen = rng.sample(records, max(1, round(len(records) * SHARE)))
            injected += [(r.topic, r.key, r.value, list(r.headers)) for r in chosen]
            copies[topic] = len(chosen)
        await asyncio.to_thread(produce, stack.bootstrap, injected)
        expect = {name: sum(copies[t] for t in consumed_by(name)) for name in consumers}

        async def copies_seen() -> bool:
            now = await counters(stack, consumers)
            return all(now[n].get("duplicate", 0) - base[n].get("duplicate", 0) >= expect[n] for n in consumers)

        await wait_for(copies_seen, 60, "every copy consumed")
        await asyncio.sleep(1.0)  # nothing more should come
        after_copies = await counters(stack, consumers)
    state_after_copies = differences(before, await snapshot(stack))

    with ledger.phase("reset outcomes to earliest"):
        code, seconds = stack["outcomes"].terminate()
        topics = consumed_by("outcomes")
        partitions = await reset_group(stack.bootstrap, GROUP["outcomes"], topics, 0)
        on_topics = sum([len(await asyncio.to_thread(read_topic, stack.bootstrap, t)) for t in topics])
        stack["outcomes"].start()
        await stack["outcomes"].ready(60)

        async def replayed() -> bool:
            return (await consumed(stack["outcomes"].url)).get("duplicate", 0) >= on_topics

        await wait_for(replayed, 90, "outcomes re-read every record from the beginning")
        await asyncio.sleep(1.0)
        after_reset = await consumed(stack["outcomes"].url)
    state_after_reset = differences(before, await snapshot(stack))
    figures_after = await key_figures(stack)

    await account_committed(stack, ledger)
    per_producer = {n: await stack.fetchval(n, "SELECT count(*) FROM outbox WHERE event_id IS NOT NULL")
                    for n in ("intake", "progress", "outcomes")}
    ledger.note("load", f"simulated year at scale {SCALE}: events committed {per_producer}; "
                        f"{sum(copies.values())} records copied ({copies})")
    ledger.note("duplicates counted after the copies (expected)", {
        n: f"{after_copies[n].get('duplicate', 0) - base[n].get('duplicate', 0)} ({expect[n]}), applied "
           f"{after_copies[n].get('applied', 0) - base[n].get('applied', 0)}" for n in consumers})
    ledger.note("state changed by the copies", state_after_copies or "nothing")
    ledger.note("reset", f"outcomes stopped by SIGTERM in {seconds:.1f}s (exit {code}); offsets set to 0 on "
                         f"{partitions} partitions; {on_topics} records on its topics")
    ledger.note("outcomes after the reset (expected duplicates)", f"{after_reset} ({on_topics})")
    ledger.note("state changed by the reset", state_after_reset or "nothing")
    ledger.check()
    for n in consumers:
        seen = after_copies[n].get("duplicate", 0) - base[n].get("duplicate", 0)
        rebalanced = after_copies[n].get("assignments", 0) != base[n].get("assignments", 0)
        assert seen == expect[n] or (rebalanced and seen > expect[n]), (n, seen, expect[n])
        assert after_copies[n].get("applied", 0) == base[n].get("applied", 0)
    assert not state_after_copies
    replayed_once = after_reset.get("assignments", 1) == 1
    assert after_reset.get("duplicate", 0) == on_topics or (not replayed_once and after_reset["duplicate"] > on_topics)
    assert after_reset.get("applied", 0) == 0
    assert not state_after_reset
    assert figures_after == figures
