"""Load through the public HTTP APIs: programmes, admitted learners, and their training facts.

Every answer is classified, so that a test knows exactly what was accepted (2xx: durable, must
reach every consumer), what was refused (4xx), what was put off (503: nothing stored, retry),
what failed (other 5xx: a bug), and what got no answer at all (the process died: unknown, the
client retries with the same event_id, which is idempotent).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from tests.reliability.stack import Stack

START = datetime(2020, 3, 2, 9, 0, tzinfo=UTC)
ACCEPTED, REFUSED, UNAVAILABLE, NO_ANSWER, SERVER_ERROR = "accepted", "refused", "unavailable", "no_answer", "5xx"
EXIT_REASONS = ("certified", "completed", "not_certified", "dropped_out")


@dataclass(frozen=True)
class Learner:
    learner_id: str
    programme_id: str
    application_id: str


@dataclass
class Fact:
    """One training fact with its client-chosen event_id (the idempotency key)."""

    event_id: str
    learner: Learner
    type: str
    occurred_at: datetime
    extra: dict = field(default_factory=dict)

    def body(self) -> dict:
        return {"event_id": self.event_id, "learner_id": self.learner.learner_id,
                "programme_id": self.learner.programme_id, "type": self.type,
                "occurred_at": self.occurred_at.isoformat(), **self.extra}

    @property
    def event_type(self) -> str:
        return f"training.{self.type}"


def timeline(learner: Learner, rng: random.Random, attendance: int = 3, exit_reason: str | None = None,
             exit: bool = True) -> list[Fact]:
    """A learner's facts in date order: started, `attendance` attendance facts, and the exit."""
    def fact(kind: str, at: datetime, **extra) -> Fact:
        return Fact(str(uuid.uuid4()), learner, kind, at, extra)

    facts = [fact("started", START)]
    for m in range(1, attendance + 1):
        facts.append(fact("attendance", START + timedelta(days=7 * m, hours=2), hours=float(rng.randint(10, 40))))
    if exit:
        reason = exit_reason or rng.choice(EXIT_REASONS)
        extra = {"exit_reason": reason}
        if reason == "dropped_out":
            extra["dropout_cause"] = rng.choice(("personal", "health", "found_job"))
        facts.append(fact("exited", START + timedelta(days=7 * (attendance + 1), hours=5), **extra))
    return facts


def classify(response: httpx.Response | None) -> str:
    if response is None:
        return NO_ANSWER
    if 200 <= response.status_code < 300:
        return ACCEPTED
    if response.status_code == 503:
        return UNAVAILABLE
    if response.status_code >= 500:
        return SERVER_ERROR
    return REFUSED


class Answers:
    """Every HTTP answer a test got, by class and by status; 503s without Retry-After are noted."""

    def __init__(self) -> None:
        self.classes: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.no_retry_after = 0
        self.server_errors: list[str] = []
        self.refusals: list[str] = []

    def note(self, route: str, response: httpx.Response | None, error: BaseException | None = None) -> str:
        kind = classify(response)
        self.classes[kind] += 1
        self.statuses[str(response.status_code) if response is not None else type(error).__name__] += 1
        if kind == UNAVAILABLE and "retry-after" not in response.headers:
            self.no_retry_after += 1
        if kind == SERVER_ERROR and len(self.server_errors) < 5:
            self.server_errors.append(f"{route} {response.status_code}: {response.text[:300]}")
        if kind == REFUSED and len(self.refusals) < 5:
            self.refusals.append(f"{route} {response.status_code}: {response.text[:300]}")
        return kind


async def request(client: httpx.AsyncClient, answers: Answers, method: str, url: str, route: str,
                  body=None, timeout: float = 30.0) -> tuple[str, httpx.Response | None]:
    try:
        response = await client.request(method, url, json=body, timeout=timeout)
    except (httpx.TransportError, httpx.TimeoutException) as exc:
        answers.note(route, None, exc)
        return NO_ANSWER, None
    return answers.note(route, response), response


async def until_accepted(client: httpx.AsyncClient, answers: Answers, url: str, route: str, body,
                         deadline: float) -> httpx.Response:
    """POST until a 2xx (the calls here are idempotent); fail on a refusal or at the deadline."""
    delay = 0.1
    while True:
        kind, response = await request(client, answers, "POST", url, route, body)
        if kind == ACCEPTED:
            return response
        if kind in (REFUSED, SERVER_ERROR):
            raise AssertionError(f"{route}: {response.status_code} {response.text[:500]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{route}: no 2xx before the deadline (last: {kind})")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


def programme_body(rng: random.Random, capacity: int = 1000) -> dict:
    return {"programme_id": str(uuid.uuid4()), "centre_id": str(uuid.uuid4()), "centre_name": "Centre fiable",
            "title": "Développeur web", "region": "32", "job_family": "M1805", "duration_months": 7,
            "capacity": capacity, "start_date": "2020-03-02"}


def application_body(programme_id: str, rng: random.Random) -> dict:
    return {"programme_id": programme_id, "submitted_at": "2020-01-15T10:00:00+01:00", "candidate": {
        "first_name": "Ada", "last_name": "Lovelace", "email": f"r-{uuid.uuid4().hex}@example.org",
        "birth_year": rng.choice((1990, 1998, 2001)), "gender": rng.choice(("female", "male")),
        "education_level": rng.choice(("3", "4", "5")), "qpv": rng.random() < 0.3, "zrr": False,
        "job_seeker": True, "region": "32"}}


async def admit_learners(stack: Stack, n: int, rng: random.Random, programmes: int = 2,
                         after_decisions: Callable[[], Awaitable[None]] | None = None,
                         timeout: float = 120.0) -> list[Learner]:
    """n admitted learners through intake; returns when progress has an enrolment for each.

    `after_decisions` runs right after the last decision batch was answered 2xx (R1 kills
    intake there).
    """
    answers = Answers()
    deadline = time.monotonic() + timeout
    intake = stack["intake"].url
    async with http_client(stack, 4) as client:
        programme_ids = []
        for _ in range(programmes):
            body = programme_body(rng)
            await until_accepted(client, answers, intake + "/programmes", "/programmes", body, deadline)
            programme_ids.append(body["programme_id"])
        apps = [application_body(programme_ids[i % programmes], rng) for i in range(n)]
        learners: list[Learner] = []
        for chunk in _chunks(apps, 500):
            response = await until_accepted(client, answers, intake + "/applications/batch", "/applications/batch",
                                            {"items": chunk}, deadline)
            for item, result in zip(chunk, response.json()["results"], strict=True):
                assert result["result"] == "created", result
                learners.append(Learner(result["learner_id"], item["programme_id"], result["application_id"]))
        decisions = [{"application_id": lr.application_id, "decision": "admitted",
                      "decided_at": "2020-02-01T09:00:00+01:00"} for lr in learners]
        for chunk in _chunks(decisions, 500):
            response = await until_accepted(client, answers, intake + "/decisions/batch", "/decisions/batch",
                                            {"items": chunk}, deadline)
            assert response.json()["refused"] == 0, response.json()
        if after_decisions is not None:
            await after_decisions()
    await wait_for(lambda: _enrolled(stack, learners), deadline - time.monotonic(),
                   f"progress has the {n} enrolments")
    return learners


async def _enrolled(stack: Stack, learners: list[Learner]) -> bool:
    count = await stack.fetchval("progress", "SELECT count(*) FROM enrolments WHERE learner_id = ANY($1::uuid[])",
                                 [lr.learner_id for lr in learners])
    return count == len(learners)


def _chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


async def wait_for(check: Callable[[], Awaitable], timeout: float, what: str, interval: float = 0.25):
    """Wait until `check()` is truthy; return its value. Database errors count as "not yet"."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = await check()
        except (OSError, TimeoutError, ConnectionError) as exc:
            last = exc
        except Exception as exc:  # noqa: BLE001 - asyncpg errors while a database restarts
            if type(exc).__module__.startswith("asyncpg"):
                last = exc
            else:
                raise
        if last and not isinstance(last, BaseException):
            return last
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f}s for: {what} (last: {last!r})")
        await asyncio.sleep(interval)


class FactPoster:
    """Posts facts to progress and keeps the ledger's raw material.

    `sent`: every fact tried; `accepted`: those answered 2xx at least once; the other answers
    are counted in `answers`. Facts of one learner are posted in order, each retried (same
    event_id) until it is accepted, when `retry` is set.
    """

    def __init__(self, stack: Stack, client: httpx.AsyncClient, retry: bool = True, deadline: float = 120.0,
                 on_accepted: Callable[[Fact], None] | None = None,
                 observer: Callable[[str, httpx.Response | None, float], None] | None = None,
                 retry_5xx: bool = False) -> None:
        self.stack = stack
        self.client = client
        self.retry = retry
        self.deadline = time.monotonic() + deadline
        self.on_accepted = on_accepted
        self.answers = Answers()
        self.sent: dict[str, Fact] = {}
        self.accepted: set[str] = set()
        self.not_stored: set[str] = set()  # answered 503 at least once (nothing stored, by contract)
        self.retries = 0
        self.observer = observer  # called with (kind, response, monotonic time the request was sent)
        self.retry_5xx = retry_5xx  # a 500 leaves the client unsure; the same event_id makes a retry safe

    async def _request(self, path: str, body, timeout: float = 30.0) -> tuple[str, httpx.Response | None]:
        sent_at = time.monotonic()
        kind, response = await request(self.client, self.answers, "POST", self.url + path, path, body, timeout)
        if self.observer is not None:
            self.observer(kind, response, sent_at)
        return kind, response

    @property
    def url(self) -> str:
        return self.stack["progress"].url

    async def post(self, fact: Fact) -> str:
        self.sent[fact.event_id] = fact
        delay = 0.05
        while True:
            kind, response = await self._request("/facts", fact.body())
            if kind == ACCEPTED:
                self._accept(fact)
                return kind
            if kind == UNAVAILABLE:
                self.not_stored.add(fact.event_id)
            if not self.retry or kind == REFUSED or (kind == SERVER_ERROR and not self.retry_5xx):
                return kind
            if time.monotonic() > self.deadline:
                raise TimeoutError(f"fact {fact.event_id} not accepted before the deadline (last: {kind})")
            self.retries += 1
            await asyncio.sleep(delay + random.random() * delay)
            delay = min(delay * 2, 0.5)

    async def post_batch(self, facts: list[Fact]) -> str:
        """POST /facts/batch; with `retry`, until it is answered 2xx (the batch is idempotent)."""
        for fact in facts:
            self.sent[fact.event_id] = fact
        body = {"items": [f.body() for f in facts]}
        delay = 0.1
        while True:
            kind, response = await self._request("/facts/batch", body, timeout=60.0)
            if kind == ACCEPTED:
                results = response.json()["results"]
                for fact, result in zip(facts, results, strict=True):
                    if result["result"] in ("applied", "duplicate"):
                        self._accept(fact)
                    else:
                        self.answers.classes["item_refused"] += 1
                        if len(self.answers.refusals) < 5:
                            self.answers.refusals.append(f"/facts/batch item: {result}")
                return kind
            if kind == UNAVAILABLE:
                self.not_stored.update(f.event_id for f in facts)
            if not self.retry or kind == REFUSED or (kind == SERVER_ERROR and not self.retry_5xx):
                return kind
            if time.monotonic() > self.deadline:
                raise TimeoutError(f"batch not accepted before the deadline (last: {kind})")
            self.retries += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    def _accept(self, fact: Fact) -> None:
        if fact.event_id not in self.accepted:
            self.accepted.add(fact.event_id)
            if self.on_accepted is not None:
                self.on_accepted(fact)

    async def post_timelines(self, timelines: list[list[Fact]], workers: int = 8, pause: float = 0.0) -> None:
        """Post several learners' facts concurrently, each learner's in order (`pause` seconds apart per worker)."""
        queue: asyncio.Queue[list[Fact]] = asyncio.Queue()
        for t in timelines:
            queue.put_nowait(t)

        async def worker() -> None:
            while not queue.empty():
                for fact in queue.get_nowait():
                    kind = await self.post(fact)
                    if kind != ACCEPTED:
                        break  # the rest of this learner's facts would not fit
                    if pause:
                        await asyncio.sleep(pause)

        await asyncio.gather(*(worker() for _ in range(workers)))


def http_client(stack: Stack, connections: int = 32) -> httpx.AsyncClient:
    """A client that sends the stack's admin key."""
    return httpx.AsyncClient(timeout=30.0, headers=stack.headers,
                             limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections))


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A service's /metrics as {(name, ((label, value), ...)): value}."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        text = (await client.get(url + "/metrics")).text
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, labels = head.partition("{")
        pairs = []
        for part in labels.rstrip("}").split('",'):
            if "=" in part:
                key, _, val = part.partition("=")
                pairs.append((key.strip(), val.strip().strip('"')))
        out[(name, tuple(sorted(pairs)))] = float(value)
    return out


def total(metrics: dict, name: str, **labels: str) -> float:
    """Sum of a metric's series whose labels include `labels`."""
    return sum(v for (n, pairs), v in metrics.items()
               if n == name and all(dict(pairs).get(k) == want for k, want in labels.items()))


async def consumed(url: str) -> dict[str, int]:
    """Events consumed by one process since it started, by result (applied, duplicate, dead_lettered...),
    and its consumer's partition assignments so far (`assignments`: more than one means a rebalance)."""
    metrics = await scrape(url)
    results = {dict(pairs).get("result") for (n, pairs) in metrics if n == "parcours_events_consumed_total"}
    out = {r: int(total(metrics, "parcours_events_consumed_total", result=r)) for r in sorted(results) if r}
    assignments = int(total(metrics, "parcours_consumer_rebalances_total", kind="assigned"))
    if assignments:
        out["assignments"] = assignments
    return out


async def simulate(stack: Stack, scale: float, seed: int = 1, timeout: float = 300.0) -> dict:
    """`parcours simulate` against the stack's services (another load source); returns its ground truth."""
    import json
    import os
    import sys

    truth = stack.root / f"truth-{seed}.json"
    env = dict(os.environ, PARCOURS_API_KEY=stack.token,
               **{f"PARCOURS_{name.upper()}_URL": svc.url for name, svc in stack.services.items()})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "parcours.cli", "simulate", "--year", "2020", "--scale", str(scale), "--seed",
        str(seed), "--quiet", "--timeout", str(int(timeout)), "--truth", str(truth), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(), timeout + 30)
    assert process.returncode == 0, out.decode(errors="replace")[-3000:]
    return json.loads(truth.read_text())
