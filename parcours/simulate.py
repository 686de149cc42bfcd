"""`parcours simulate`: drive a generated year through the public HTTP APIs, then wait for the
services to have applied everything, and optionally write the ground truth."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import zlib
from collections.abc import Callable
from datetime import date
from urllib.parse import urlencode

import httpx

from parcours.keys import auth_headers
from parcours.simulation.truth import cases, ground_truth, network_figures
from parcours.simulation.world import Application, World, generate
from shared.contracts.calendar import add_months

BATCH = 1000
LANES = 4  # clients posting at once (centres do not wait for each other)
CONCURRENT = 8  # single requests in flight at once (corrections, closings, refused withdrawals)


class SimulationError(RuntimeError):
    pass


class Progress:
    """A one-line progress bar on stderr (silent when quiet)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self._last = 0.0

    def show(self, phase: str, done: int, total: int, force: bool = False) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.2 and done < total:
            return
        self._last = now
        width = 30
        filled = int(width * done / total) if total else width
        sys.stderr.write(f"\r{phase:<22} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}   ")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


async def _at_most(n: int, calls: list) -> None:
    """Await the calls, n at a time (a staff tool's few requests in flight)."""
    gate = asyncio.Semaphore(n)

    async def gated(call) -> None:
        async with gate:
            await call

    await asyncio.gather(*(gated(call) for call in calls))


def _lanes(items: list, lane_of: Callable | None) -> list[list]:
    """Items split among LANES clients (one lane without `lane_of`), each keeping the given order;
    items with the same `lane_of(item)` share a lane, the same one every run."""
    lanes: list[list] = [[] for _ in range(LANES if lane_of else 1)]
    for item in items:
        lanes[zlib.crc32(str(lane_of(item)).encode()) % len(lanes) if lane_of else 0].append(item)
    return [lane for lane in lanes if lane]


class Driver:
    def __init__(self, world: World, urls: dict[str, str], progress: Progress, timeout: float) -> None:
        self.world = world
        self.urls = urls
        self.progress = progress
        self.timeout = timeout
        self.ids: dict[int, tuple[str, str]] = {}  # application index -> (application_id, learner_id)
        self.repeated = 0  # applications the services already had (this world was simulated before)

    async def run(self) -> dict:
        limits = httpx.Limits(max_connections=16)
        async with httpx.AsyncClient(timeout=60.0, limits=limits, headers=auth_headers()) as client:
            self.client = client
            # The services may hold earlier runs' data: wait for what this run adds to it.
            enrolments = lambda: self._get(self.urls["progress"] + "/enrolments/summary", "total")  # noqa: E731
            followups = lambda: self._get(self.urls["outcomes"] + "/stats", "followups")  # noqa: E731
            base = {"enrolments": await enrolments(), "events": await self._outcomes_applied(),
                    "followups": await followups()}
            await self._programmes()
            await self._applications()
            await self._decisions()
            # A world already simulated on these services adds nothing new: then nothing is awaited.
            # (A few repeats are retried requests whose first answer was lost.)
            fresh = 0 if self.repeated == len(self.world.applications) else 1
            # Every admission opens an enrolment: no-shows and those promoted from a waitlist too.
            admitted = sum(a.admitted for a in self.world.applications)
            await self._wait("admissions reach progress", base["enrolments"] + fresh * admitted, enrolments)
            facts, corrections = await self._facts()
            # Every event this run caused on the topics outcomes consumes: each programme and
            # session, each application submitted, each decision (the no-shows', and intake's
            # promotions from a waitlist, included), each fact and correction, and the start of each
            # enrolment a transfer continues in.
            world = self.world
            sessions = sum(len(p.sessions) for p in world.programmes)
            mode_changes = sum(len(p.mode_changes) for p in world.programmes)
            decisions = len(world.applications) + sum(bool(a.no_show_at) + bool(a.promoted_at)
                                                       for a in world.applications)
            continued = sum(t.continued is not None for _, t in world.trainings())
            events = len(world.programmes) + sessions + mode_changes + len(world.applications) + decisions + facts \
                + continued + corrections
            await self._wait("training reaches outcomes", base["events"] + fresh * events, self._outcomes_applied)
            expected_followups = sum(1 for _, t in self.world.trainings()
                                     if t.exit_reason and t.exit_reason != "transferred")
            await self._wait("follow-ups open", base["followups"] + fresh * expected_followups, followups)
            refused = await self._decisions_after_start()
            await self._outcomes()
        return {"programmes": len(self.world.programmes), "sessions": sessions, "mode_changes": mode_changes,
                "applications": len(self.world.applications), "people": len(self.world.people),
                "decisions": decisions, "facts": facts, "transfers": continued, "corrections": corrections,
                "events": events, "decisions_refused_after_start": refused}

    async def _send(self, method: str, url: str, body) -> httpx.Response:
        """Retry while a service is unavailable (503, connection refused): every call is idempotent."""
        delay = 0.2
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                r = await self.client.request(method, url, json=body)
                if r.status_code not in (502, 503, 504):
                    return r
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SimulationError(f"{url} kept failing for {self.timeout:.0f}s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5)

    async def _get(self, url: str, key: str) -> int:
        r = await self._send("GET", url, None)
        return int(r.json()[key])

    async def _outcomes_applied(self) -> int:
        r = await self._send("GET", self.urls["outcomes"] + "/stats", None)
        return sum(r.json()["events_applied"].values())

    async def _wait(self, phase: str, expected: int, current: Callable) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            value = await current()
            self.progress.show(phase, min(value, expected), expected, force=value >= expected)
            if value >= expected:
                return
            if time.monotonic() > deadline:
                raise SimulationError(f"{phase}: {value} of {expected} after {self.timeout:.0f}s")
            await asyncio.sleep(0.3)

    async def _batches(self, phase: str, url: str, items: list, on_result, lane_of: Callable | None = None) -> None:
        """Post (key, body) items in batches. With `lane_of(key, body)`, LANES clients post at once, as
        the network's centres do, each lane keeping its items in the order given: items whose order
        matters (one learner's facts, one programme's decisions) must share a lane."""
        lanes = _lanes(items, (lambda item: lane_of(*item)) if lane_of else None)
        done = 0

        async def post(lane: list) -> None:
            nonlocal done
            for start in range(0, len(lane), BATCH):
                chunk = lane[start:start + BATCH]
                r = await self._send("POST", url, {"items": [body for _, body in chunk]})
                if r.status_code != 200:
                    raise SimulationError(f"{url} answered {r.status_code}: {r.text[:300]}")
                for (key, _), result in zip(chunk, r.json()["results"], strict=True):
                    on_result(key, result)
                done += len(chunk)
                self.progress.show(phase, done, len(items))

        await asyncio.gather(*(post(lane) for lane in lanes))

    async def _programmes(self) -> None:
        sem = asyncio.Semaphore(16)
        done = 0

        async def post(p) -> None:
            nonlocal done
            body = {"programme_id": str(p.programme_id), "centre_id": str(p.centre_id),
                    "centre_name": p.centre_name, "title": p.title, "region": p.region,
                    "job_family": p.job_family, "duration_months": p.duration_months,
                    "capacity": p.capacity, "start_date": p.start_date.isoformat(), "funding_line": p.funding_line,
                    "departement": p.departement, "rncp": p.rncp, "label_year": p.label_year}
            async with sem:
                r = await self._send("POST", self.urls["intake"] + "/programmes", body)
                if r.status_code not in (200, 201):
                    raise SimulationError(f"programme refused: {r.status_code} {r.text[:300]}")
                for day, mode in p.mode_changes:
                    r = await self._send("POST", f"{self.urls['intake']}/programmes/{p.programme_id}/modes",
                                         {"mode": mode, "effective_on": day.isoformat()})
                    if r.status_code not in (200, 201):
                        raise SimulationError(f"mode change refused: {r.status_code} {r.text[:300]}")
                for session in p.sessions[1:]:  # the first came with the programme
                    end = add_months(session.start_date, p.duration_months)
                    r = await self._send("POST", f"{self.urls['intake']}/programmes/{p.programme_id}/sessions", {
                        "session_id": str(session.session_id), "start_date": session.start_date.isoformat(),
                        "end_date": end.isoformat(), "capacity": session.capacity})
                    if r.status_code not in (200, 201):
                        raise SimulationError(f"session refused: {r.status_code} {r.text[:300]}")
            done += 1
            self.progress.show("programmes", done, len(self.world.programmes))

        await asyncio.gather(*(post(p) for p in self.world.programmes))

    async def _applications(self) -> None:
        programmes = self.world.programmes
        items = [(a.index, {"programme_id": str(programmes[a.programme].programme_id),
                            **self._session_of(a), "submitted_at": a.submitted_at.isoformat(),
                            "candidate": self.world.people[a.person].candidate,
                            **({"referral_source": a.referral_source} if a.referral_source else {})})
                 for a in self.world.applications]

        def keep(index: int, result: dict) -> None:
            if result["result"] not in ("created", "duplicate"):
                raise SimulationError(f"application refused: {result}")
            self.repeated += result["result"] == "duplicate"
            self.ids[index] = (result["application_id"], result["learner_id"])

        await self._batches("applications", self.world_url("intake", "/applications/batch"), items, keep,
                            lane_of=lambda _, body: body["programme_id"])

    def world_url(self, service: str, path: str) -> str:
        return self.urls[service] + path

    def _session_of(self, a: Application) -> dict:
        session = self.world.programmes[a.programme].sessions[a.session]
        return {} if session.first else {"session_id": str(session.session_id)}

    async def _decisions(self) -> None:
        """Every decision, and the no-shows after the start (intake gives their place to the first
        waitlisted: that admission is intake's, not posted here), in date order."""
        decided = [(a.decided_at, a.index, a, a.decision) for a in self.world.applications]
        decided += [(a.no_show_at, a.index, a, "no_show") for a in self.world.applications if a.no_show_at]
        decided.sort(key=lambda item: (item[0], item[1]))
        items = [(a.index, {"application_id": self.ids[a.index][0], "decision": decision,
                            "reason": a.reason if decision == a.decision else None,
                            "decided_at": moment.isoformat()}) for moment, _, a, decision in decided]

        def check(index: int, result: dict) -> None:
            if result["result"] not in ("applied", "unchanged"):
                raise SimulationError(f"decision refused: {result}")

        # One programme's decisions in one lane, in date order: a no-show must come after the
        # waitlisting whose candidate takes its place.
        programme_of = {a.index: a.programme for a in self.world.applications}
        await self._batches("decisions", self.world_url("intake", "/decisions/batch"), items, check,
                            lane_of=lambda index, _: programme_of[index])

    async def _facts(self) -> tuple[int, int]:
        """Post every fact as a centre would: in date order, some late, some wrong then corrected.
        A fact names its enrolment (by the application) where the centre must or chooses to.

        Returns (facts posted, corrections posted).
        """
        programmes = self.world.programmes
        in_order, late, corrections = [], [], []
        for a, training in self.world.trainings():
            named = {"application_id": self.ids[a.index][0]} if training.names_enrolment else {}
            for seq, f in enumerate(training.facts):
                extra = dict(f.extra)
                occurred_at = f.occurred_at
                if f.first_posted:
                    extra.update({k: v for k, v in f.first_posted.items() if k != "occurred_at"})
                    if extra.get("exit_reason") != "dropped_out":
                        extra.pop("dropout_cause", None)
                    occurred_at = f.first_posted["occurred_at"]
                    amend = {"action": "amend", "occurred_at": f.occurred_at.isoformat(), **f.extra,
                             "note": "simulated correction"}
                    if "dropout_cause" not in f.extra:
                        amend["dropout_cause"] = None
                    corrections.append((f.event_id, {k: v for k, v in amend.items() if v is not None}, a.index))
                if f.spurious:
                    corrections.append((f.event_id, {"action": "void", "note": "posted by mistake"}, a.index))
                body = {"event_id": str(f.event_id), "learner_id": self.ids[a.index][1],
                        "programme_id": str(programmes[training.programme].programme_id), "type": f.type,
                        "occurred_at": occurred_at.isoformat(), **named, **extra}
                (late if f.late else in_order).append(((occurred_at, a.index, seq), body))
        # A centre posts in date order; one learner's facts are then in order across batches too.
        # Late uploads come after everything else and are placed at their date.
        in_order.sort(key=lambda item: item[0])
        late.sort(key=lambda item: item[0])

        def check(key, result: dict) -> None:
            if result["result"] not in ("applied", "duplicate"):
                raise SimulationError(f"training fact refused: {result}")

        url = self.world_url("progress", "/facts/batch")
        by_learner = lambda _, body: body["learner_id"]  # noqa: E731
        await self._batches("training facts", url, in_order, check, lane_of=by_learner)
        await self._batches("late training facts", url, late, check, lane_of=by_learner)
        await self._corrections(corrections)
        return len(in_order) + len(late), len(corrections)

    async def _decisions_after_start(self) -> int:
        """Centres that try to withdraw an admission after the training started: intake, which
        learns of starts from the training topic, must refuse each. Returns how many it refused."""
        attempts = [a for a in self.world.applications if a.withdraw_attempt_at]
        done = 0

        async def attempt(a: Application) -> None:
            nonlocal done
            url = self.world_url("intake", f"/applications/{self.ids[a.index][0]}")
            deadline = time.monotonic() + self.timeout
            while not (await self._send("GET", url, None)).json().get("started_at"):
                if time.monotonic() > deadline:
                    raise SimulationError(f"intake never learnt that application {self.ids[a.index][0]} started")
                await asyncio.sleep(0.3)
            r = await self._send("POST", url + "/decision", {"decision": "withdrawn",
                                                             "decided_at": a.withdraw_attempt_at.isoformat()})
            if r.status_code != 409 or r.json().get("code") != "training_started":
                raise SimulationError(f"a withdrawal after the start was not refused: {r.status_code} {r.text[:300]}")
            done += 1
            self.progress.show("decisions after start", done, len(attempts))

        await _at_most(CONCURRENT, [attempt(a) for a in attempts])
        return len(attempts)

    async def _corrections(self, corrections: list[tuple]) -> None:
        """One request per correction, LANES at once; one learner's corrections in order, in one lane."""
        lanes = _lanes(corrections, lambda correction: correction[2])
        done = 0

        async def post(lane: list) -> None:
            nonlocal done
            for event_id, body, _ in lane:
                r = await self._send("POST", self.world_url("progress", f"/facts/{event_id}/corrections"), body)
                if r.status_code not in (200, 201) and "already voided" not in r.text:
                    raise SimulationError(f"correction refused: {r.status_code} {r.text[:300]}")
                done += 1
                self.progress.show("corrections", done, len(corrections))

        await asyncio.gather(*(post(lane) for lane in lanes))

    def _followup_named(self, a: Application, training) -> dict:
        """How a staff tool names a follow-up: by the enrolment (an admission's is its application),
        or, for an enrolment continued after a transfer, by the learner and the programme."""
        if not training.is_continuation:
            return {"enrolment_id": self.ids[a.index][0]}
        return {"learner_id": self.ids[a.index][1],
                "programme_id": str(self.world.programmes[training.programme].programme_id)}

    async def _outcomes(self) -> None:
        items = []
        corrected: dict[int, object] = {}  # item -> the outcome it is corrected to
        for n, (a, training) in enumerate((a, t) for a, t in self.world.trainings() if t.outcome is not None):
            first = training.wrong_outcome or training.outcome
            if training.wrong_outcome:
                corrected[n] = training.outcome
            items.append((n, {**self._followup_named(a, training), "lane": self.ids[a.index][1],
                              # the box of lower priority first: the service must pick the one that counts
                              "situations": [*first.also, first.situation], "digital_job": first.digital_job,
                              "source": "learner_statement", "observed_on": first.observed_on.isoformat()}))
        lanes = {n: body.pop("lane") for n, body in items}

        # A follow-up opens when outcomes consumes the exit; the counts waited for above are lower
        # bounds, so a learner's follow-up may still be on its way: those items are posted again,
        # as a staff tool would, until the timeout.
        waiting: list = []
        followup_of: dict[int, str] = {}

        def check(n: int, result: dict) -> None:
            # A retried batch finds its outcomes already recorded: that is the same effect.
            if result["result"] == "created":
                followup_of[n] = result["followup_id"]
                return
            if result.get("code") == "already_recorded":
                return
            if result.get("code") == "not_found":
                waiting.append(n)
                return
            raise SimulationError(f"outcome refused: {result}")

        url = self.world_url("outcomes", "/outcomes/batch")
        deadline = time.monotonic() + self.timeout
        phase = "outcomes"
        while True:
            await self._batches(phase, url, items, check, lane_of=lambda n, _: lanes[n])
            if not waiting:
                break
            if time.monotonic() > deadline:
                raise SimulationError(f"{len(waiting)} outcome(s) found no follow-up after {self.timeout:.0f}s")
            pending = set(waiting)
            items = [item for item in items if item[0] in pending]
            waiting.clear()
            phase = "outcomes (follow-ups late)"
            await asyncio.sleep(0.5)
        done = 0

        async def correct(n: int, outcome) -> None:
            nonlocal done
            r = await self._send("PUT", self.world_url("outcomes", f"/followups/{followup_of[n]}/outcome"), {
                "situations": [*outcome.also, outcome.situation], "digital_job": outcome.digital_job,
                "source": "learner_statement", "observed_on": outcome.observed_on.isoformat(),
                "staff": "simulated correction"})
            if r.status_code != 200:
                raise SimulationError(f"outcome correction refused: {r.status_code} {r.text[:300]}")
            done += 1
            self.progress.show("outcome corrections", done, len(corrected))

        # An outcome recorded by an earlier run of this world was corrected then.
        await _at_most(CONCURRENT, [correct(n, outcome) for n, outcome in corrected.items() if n in followup_of])
        await self._closings()

    async def _closings(self) -> None:
        """Follow-ups closed without an outcome: exempt, unreachable, or refused at a contact."""
        closing = [(a, t) for a, t in self.world.trainings() if t.exempt or t.closing]
        done = 0

        async def close(a: Application, training) -> None:
            nonlocal done
            followup = await self._followup_id(a, training)
            if training.closing == "refused":
                url, body = f"/followups/{followup}/attempts", {
                    "channel": "phone", "result": "refused", "staff": "simulated",
                    "attempted_on": add_months(training.exited_at.date(), 6).isoformat()}
            else:
                url, body = f"/followups/{followup}/close", (
                    {"status": "exempt", "reason": training.exempt} if training.exempt else {"status": "unreachable"})
            r = await self._send("POST", self.world_url("outcomes", url), body)
            # A retried request finds it already closed: the same effect.
            if r.status_code not in (200, 201) and "already" not in r.text and "closed" not in r.text:
                raise SimulationError(f"closing refused: {r.status_code} {r.text[:300]}")
            done += 1
            self.progress.show("follow-ups closed", done, len(closing))

        await _at_most(CONCURRENT, [close(a, t) for a, t in closing])

    async def _followup_id(self, a: Application, training) -> str:
        """The follow-up's id, once outcomes has opened it."""
        deadline = time.monotonic() + self.timeout
        while True:
            query = urlencode(self._followup_named(a, training))
            r = await self._send("GET", self.world_url("outcomes", f"/followups?{query}"), None)
            found = r.json().get("items", []) if r.status_code == 200 else []
            if found:
                return found[0]["followup_id"]
            if time.monotonic() > deadline:
                raise SimulationError(f"no follow-up opened for application {self.ids[a.index][0]}")
            await asyncio.sleep(0.5)


def run_simulate(args) -> int:
    today = date.today()
    if args.year > today.year - 1 or args.year < 2001:
        print(f"parcours simulate: choose a year between 2001 and {today.year - 1} "
              "(the simulator posts only facts that have already happened)")
        return 2
    if not 0 < args.scale <= 10:
        print("parcours simulate: --scale must be above 0 and at most 10")
        return 2
    urls = {"intake": args.intake_url.rstrip("/"), "progress": args.progress_url.rstrip("/"),
            "outcomes": args.outcomes_url.rstrip("/")}
    started = time.monotonic()
    world = generate(args.year, args.scale, args.seed, today)
    try:
        summary = asyncio.run(Driver(world, urls, Progress(args.quiet), args.timeout).run())
    except SimulationError as exc:
        print(f"parcours simulate: {exc}")
        return 1
    except httpx.HTTPError as exc:
        print(f"parcours simulate: cannot reach the services ({exc}); is `parcours up` running?")
        return 1
    elapsed = time.monotonic() - started
    print(f"simulated {args.year} at scale {args.scale} (seed {args.seed}): {summary['programmes']} programmes "
          f"with {summary['sessions']} sessions and {summary['mode_changes']} mode changes, "
          f"{summary['applications']} applications by {summary['people']} "
          f"people, {summary['decisions']} decisions, {summary['facts']} training facts "
          f"({summary['corrections']} corrected afterwards, {summary['transfers']} transfers continued), "
          f"{summary['events']} events applied by outcomes, {summary['decisions_refused_after_start']} decisions "
          f"after a start refused, in {elapsed:.1f}s")
    if args.truth:
        truth = {"year": args.year, "scale": args.scale, "seed": args.seed, "generated_on": today.isoformat(),
                 "counts": ground_truth(world, args.year), "cases": cases(world, args.year),
                 "network_figures": network_figures(world, args.year),
                 "by_funding_line": {line: ground_truth(world, args.year, line)
                                     for line in sorted({p.funding_line for p in world.programmes})}}
        args.truth.write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n")
        print(f"ground truth written to {args.truth}")
    return 0
