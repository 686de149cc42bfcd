"""Realistic events, built with the contract models as the producing services build them."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

from shared.contracts import (
    ApplicationDecidedV2,
    Envelope,
    ProgrammeRegistered,
    TrainingAttendanceV2,
    TrainingExitedV2,
    TrainingMilestoneV2,
    TrainingStartedV2,
)

START = datetime(2020, 3, 2, 9, 0, tzinfo=UTC)
DEPARTEMENT = {"11": "75", "32": "59", "84": "69", "76": "31"}  # a département of each region used


def _envelope(producer: str, at: datetime, learner_id=None, programme_id=None, correlation_id=None) -> dict:
    return {"event_id": uuid.uuid4(), "occurred_at": at, "recorded_at": datetime.now(UTC), "producer": producer,
            "learner_id": learner_id, "programme_id": programme_id, "correlation_id": correlation_id}


def programmes(n: int, rng: random.Random) -> list[Envelope]:
    out = []
    for i in range(n):
        pid = uuid.UUID(int=rng.getrandbits(128), version=4)
        out.append(ProgrammeRegistered.build(**_envelope("intake", START - timedelta(days=60), None, pid), data={
            "centre_id": uuid.UUID(int=rng.getrandbits(128), version=4), "centre_name": f"Centre {i % 40}",
            "title": f"Développeur web {i}", "region": rng.choice(("11", "32", "84", "76")),
            "job_family": "M1805", "duration_months": rng.choice((6, 7, 9, 12)), "capacity": 24,
            "start_date": date(2020, 3, 2)}))
    return out


def admissions(n: int, programme_ids: list[uuid.UUID], rng: random.Random) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(learner_id, programme_id) of n admitted learners spread over the programmes."""
    return [(uuid.UUID(int=rng.getrandbits(128), version=4), programme_ids[i % len(programme_ids)])
            for i in range(n)]


def decided(pairs: list[tuple[uuid.UUID, uuid.UUID]], decision: str = "admitted") -> list[Envelope]:
    """application.decided events, v2 as intake publishes them (what progress consumes to open an
    enrolment, whose id is the application's)."""
    at = START - timedelta(days=20)
    out = []
    for learner_id, programme_id in pairs:
        application_id = uuid.uuid5(learner_id, str(programme_id))
        out.append(ApplicationDecidedV2.build(
            **_envelope("intake", at, learner_id, programme_id, application_id),
            data={"application_id": application_id, "session_id": None, "decision": decision, "reason": None,
                  "age_band_at_entry": "under_26" if decision == "admitted" else None}))
    return out


def training(pairs: list[tuple[uuid.UUID, uuid.UUID]], rng: random.Random, limit: int) -> list[Envelope]:
    """A realistic mix of training.* events, each learner's in date order, until `limit` events.

    Per learner, as the simulator posts them: started, an attendance fact per month (6 on
    average), a milestone for half of them, and the exit (two thirds certified or completed).
    Version 2, as progress publishes them: each names its enrolment (the application's id).
    """
    out: list[Envelope] = []
    for learner_id, programme_id in pairs:
        if len(out) >= limit:
            break
        env = lambda at, who=learner_id, where=programme_id: _envelope("progress", at, who, where)  # noqa: E731
        application_id = uuid.uuid5(learner_id, str(programme_id))
        ref = {"enrolment_id": application_id, "application_id": application_id, "session_id": None}
        months = rng.randint(4, 8)
        out.append(TrainingStartedV2.build(**env(START), data=ref))
        for m in range(1, months + 1):
            out.append(TrainingAttendanceV2.build(**env(START + timedelta(days=30 * m, hours=2)),
                                                  data={**ref, "hours": float(rng.randint(40, 140))}))
            if m == months // 2 and rng.random() < 0.5:
                out.append(TrainingMilestoneV2.build(**env(START + timedelta(days=30 * m, hours=5)),
                                                     data={**ref, "milestone": "first project delivered"}))
        reason = rng.choices(("certified", "completed", "not_certified", "dropped_out"), (45, 18, 10, 20))[0]
        out.append(TrainingExitedV2.build(**env(START + timedelta(days=30 * months + 3)), data={
            **ref, "reason": reason, "dropout_cause": "personal" if reason == "dropped_out" else None}))
    return out[:limit]


def candidate(index: int, rng: random.Random, tag: str) -> dict:
    """A candidate as a centre posts it to intake (distinct e-mail each time)."""
    return {
        "first_name": rng.choice(("Camille", "Nadia", "Yanis", "Lucas", "Ines")),
        "last_name": rng.choice(("Martin", "Diallo", "Nguyen", "Petit")),
        "email": f"bench.{tag}.{index}@example.org",
        "phone": f"06 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
        "birth_year": rng.randint(1965, 2002),
        "gender": rng.choice(("female", "male")), "education_level": rng.choice(("3", "4", "5", "6")),
        "qpv": rng.random() < 0.2, "zrr": rng.random() < 0.06, "job_seeker": rng.random() < 0.65,
        "region": "32",
    }
