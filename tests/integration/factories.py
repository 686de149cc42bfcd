"""Events as the producing services would publish them, for feeding a consumer under test."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from shared.contracts import (
    ApplicationDecided,
    ApplicationDecidedV2,
    ApplicationSubmitted,
    ProgrammeModeChanged,
    ProgrammeRegistered,
    TrainingCorrected,
    TrainingExited,
    TrainingExitedV2,
    TrainingStarted,
    TrainingStartedV2,
)


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC) if "+" not in text else datetime.fromisoformat(text)


def envelope(learner_id=None, programme_id=None, at: str = "2020-01-10T10:00:00", producer: str = "test") -> dict:
    return {"event_id": uuid.uuid4(), "occurred_at": moment(at), "recorded_at": datetime.now(UTC),
            "producer": producer, "learner_id": learner_id, "programme_id": programme_id}


def programme(programme_id, start: date = date(2020, 3, 2), capacity: int = 20, region: str = "32", **attributes):
    return ProgrammeRegistered.build(**envelope(None, programme_id, producer="intake"), data={
        "centre_id": uuid.uuid4(), "centre_name": "Centre", "title": "Dev", "region": region,
        "job_family": "M1805", "duration_months": 7, "capacity": capacity, "start_date": start, **attributes})


def submitted(learner_id, programme_id, at="2020-01-10T10:00:00", application_id=None, **profile):
    values = {"gender": "female", "education_level": "4", "age_band": "under_26", "qpv": True, "zrr": False,
              "job_seeker": True, "region": "32"} | profile
    return ApplicationSubmitted.build(**envelope(learner_id, programme_id, at, "intake"), data={
        "application_id": application_id or uuid.uuid5(learner_id, str(programme_id)), "profile": values})


def decided(learner_id, programme_id, decision="admitted", at="2020-02-01T10:00:00"):
    return ApplicationDecided.build(**envelope(learner_id, programme_id, at, "intake"), data={
        "application_id": uuid.uuid5(learner_id, str(programme_id)), "decision": decision,
        "reason": "not_eligible" if decision == "rejected" else None})


def started(learner_id, programme_id, at="2020-03-02T09:00:00"):
    return TrainingStarted.build(**envelope(learner_id, programme_id, at, "progress"))


def exited(learner_id, programme_id, reason="certified", at="2020-10-02T17:00:00", cause=None):
    return TrainingExited.build(**envelope(learner_id, programme_id, at, "progress"),
                                data={"reason": reason, "dropout_cause": cause})


def corrected(learner_id, programme_id, state="exited", started_at="2020-03-02T09:00:00", exited_at=None,
              exit_reason=None, at="2020-11-02T10:00:00"):
    """A correction as progress publishes it: the enrolment as it stands afterwards."""
    return TrainingCorrected.build(**envelope(learner_id, programme_id, at, "progress"), data={
        "corrected_event_id": uuid.uuid4(), "action": "amend" if exited_at else "void", "fact_type": "exited",
        "state": state, "started_at": moment(started_at) if started_at else None,
        "exited_at": moment(exited_at) if exited_at else None,
        "exit_reason": exit_reason})


def admitted(learner_id, programme_id, application_id, session_id=None, at="2020-02-01T10:00:00",
             decision="admitted"):
    """A decision as intake publishes it (v2), on an application of its own: one per session."""
    return ApplicationDecidedV2.build(**envelope(learner_id, programme_id, at, "intake"), data={
        "application_id": application_id, "session_id": session_id, "decision": decision})


def training_v2(kind, learner_id, programme_id, enrolment_id, at, **data):
    """A training event as progress publishes it (v2), naming its enrolment."""
    cls = {"started": TrainingStartedV2, "exited": TrainingExitedV2}[kind]
    return cls.build(**envelope(learner_id, programme_id, at, "progress"), data={
        "enrolment_id": enrolment_id, "application_id": data.pop("application_id", enrolment_id), **data})


def mode_changed(programme_id, mode: str, effective_on: str):
    """A change of a programme's delivery mode, as intake publishes it."""
    return ProgrammeModeChanged.build(**envelope(None, programme_id, producer="intake"), data={
        "mode": mode, "effective_on": date.fromisoformat(effective_on)})
