"""Every event of the journey.

Rules (see docs/architecture.md): a field is never removed or retyped inside a
version; new optional fields may be added; consumers ignore unknown fields. A change of
meaning is a new version beside the old one (training events v2 name the enrolment: a v1
consumer, which keys a learner's training by programme, must not read them).
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from shared.contracts.envelope import Envelope, EventData
from shared.contracts.vocabulary import (
    AgeBand,
    ClosedStatus,
    Decision,
    DecisionV2,
    DropoutCause,
    EducationLevel,
    EnrolmentState,
    ExitReason,
    FundingLine,
    Gender,
    InformationSource,
    Mode,
    ReferralSource,
    Situation,
)

# --- programmes -----------------------------------------------------------------


class ProgrammeData(EventData):
    centre_id: UUID
    centre_name: str
    title: str
    region: str = Field(pattern=r"^\d{2}$")
    job_family: str = Field(pattern=r"^[A-N]\d{4}$")
    duration_months: int = Field(ge=1, le=48)
    capacity: int = Field(ge=1)
    start_date: date
    mode: Mode = "in_person"
    funding_line: FundingLine = "gen_label"
    # Added within v1 (optional: a consumer that does not know them ignores them, an older event
    # has none), for the breakdowns a funder asks for.
    departement: str | None = Field(None, pattern=r"^(\d{2}|2A|2B|97\d)$")
    rncp: str | None = Field(None, pattern=r"^RNCP\d{3,6}$", description="the certification targeted")
    label_year: int | None = Field(None, ge=2015, le=2100, description="the year the programme was labelled")


class ProgrammeRegistered(Envelope):
    EVENT_TYPE = "programme.registered"
    data: ProgrammeData


class SessionData(EventData):
    """A cohort of a programme. The places it offers count in the year it starts."""

    session_id: UUID
    start_date: date
    end_date: date
    capacity: int = Field(ge=1)


class SessionScheduled(Envelope):
    EVENT_TYPE = "session.scheduled"
    data: SessionData


class ProgrammeModeChangedData(EventData):
    """From `effective_on` the programme is delivered in `mode` (until a later change)."""

    mode: Mode
    effective_on: date


class ProgrammeModeChanged(Envelope):
    EVENT_TYPE = "programme.mode_changed"
    data: ProgrammeModeChangedData


# --- applications ---------------------------------------------------------------


class CandidateProfile(EventData):
    """The pseudonymous attributes the indicators need; never a name or a contact."""

    gender: Gender
    education_level: EducationLevel
    age_band: AgeBand
    qpv: bool
    zrr: bool
    job_seeker: bool
    region: str = Field(pattern=r"^\d{2}$")


class ApplicationSubmittedData(EventData):
    application_id: UUID
    profile: CandidateProfile
    # Added within v1 (optional): the session applied to.
    session_id: UUID | None = None
    # Added within v1 (optional): who referred the candidate (None: not stated).
    referral_source: ReferralSource | None = None


class ApplicationSubmitted(Envelope):
    EVENT_TYPE = "application.submitted"
    data: ApplicationSubmittedData


class ApplicationDecidedData(EventData):
    application_id: UUID
    decision: Decision
    reason: str | None = None


class ApplicationDecided(Envelope):
    EVENT_TYPE = "application.decided"
    data: ApplicationDecidedData


class ApplicationDecidedDataV2(EventData):
    application_id: UUID
    session_id: UUID | None = None
    decision: DecisionV2
    reason: str | None = None
    # Added within v2 (optional): for an admission, the age band at the session's start.
    age_band_at_entry: AgeBand | None = None


class ApplicationDecidedV2(Envelope):
    """v2: the decision vocabulary gains `no_show`, which v1 consumers could not read."""

    EVENT_TYPE = "application.decided"
    SCHEMA_VERSION = 2
    data: ApplicationDecidedDataV2


class LearnerErasedData(EventData):
    pass


class LearnerErased(Envelope):
    EVENT_TYPE = "learner.erased"
    data: LearnerErasedData = LearnerErasedData()


# --- training -------------------------------------------------------------------


class TrainingStartedData(EventData):
    pass


class TrainingStarted(Envelope):
    EVENT_TYPE = "training.started"
    data: TrainingStartedData = TrainingStartedData()


class TrainingAttendanceData(EventData):
    hours: float = Field(gt=0, le=744)


class TrainingAttendance(Envelope):
    EVENT_TYPE = "training.attendance"
    data: TrainingAttendanceData


class TrainingMilestoneData(EventData):
    milestone: str = Field(min_length=1, max_length=200)


class TrainingMilestone(Envelope):
    EVENT_TYPE = "training.milestone"
    data: TrainingMilestoneData


class TrainingInterruptedData(EventData):
    reason: str | None = None


class TrainingInterrupted(Envelope):
    EVENT_TYPE = "training.interrupted"
    data: TrainingInterruptedData = TrainingInterruptedData()


class TrainingResumedData(EventData):
    pass


class TrainingResumed(Envelope):
    EVENT_TYPE = "training.resumed"
    data: TrainingResumedData = TrainingResumedData()


class TrainingExitedData(EventData):
    reason: ExitReason
    dropout_cause: DropoutCause | None = None


class TrainingExited(Envelope):
    EVENT_TYPE = "training.exited"
    data: TrainingExitedData


class TrainingCorrectedData(EventData):
    """A centre voided or amended a fact it posted. Carries the enrolment as it stands after the
    correction, so that every consumer can replace what it derived instead of undoing it."""

    corrected_event_id: UUID
    action: Literal["void", "amend"]
    fact_type: str
    state: EnrolmentState
    started_at: datetime | None = None
    exited_at: datetime | None = None
    exit_reason: ExitReason | None = None
    dropout_cause: DropoutCause | None = None


class TrainingCorrected(Envelope):
    EVENT_TYPE = "training.corrected"
    data: TrainingCorrectedData


# --- training, v2: every fact names its enrolment -------------------------------------


def legacy_enrolment_id(learner_id: UUID, programme_id: UUID) -> UUID:
    """The enrolment of a v1 training event (one per learner and programme, before enrolments had
    their own id). The services' migrations compute the same in SQL:
    md5(learner_id::text || ':' || programme_id::text)::uuid."""
    return UUID(hashlib.md5(f"{learner_id}:{programme_id}".encode()).hexdigest())


class EnrolmentRef(EventData):
    """The enrolment a training fact belongs to: one per admission (its id is the admitted
    application's), or one continued in another programme after a transfer (no application)."""

    enrolment_id: UUID
    application_id: UUID | None = None
    session_id: UUID | None = None


class TrainingStartedDataV2(EnrolmentRef):
    # The enrolment left by a transfer that this one continues (the same journey, not a new learner).
    transferred_from: UUID | None = None


class TrainingStartedV2(Envelope):
    EVENT_TYPE = "training.started"
    SCHEMA_VERSION = 2
    data: TrainingStartedDataV2


class TrainingAttendanceDataV2(TrainingAttendanceData, EnrolmentRef):
    pass


class TrainingAttendanceV2(Envelope):
    EVENT_TYPE = "training.attendance"
    SCHEMA_VERSION = 2
    data: TrainingAttendanceDataV2


class TrainingMilestoneDataV2(TrainingMilestoneData, EnrolmentRef):
    pass


class TrainingMilestoneV2(Envelope):
    EVENT_TYPE = "training.milestone"
    SCHEMA_VERSION = 2
    data: TrainingMilestoneDataV2


class TrainingInterruptedDataV2(TrainingInterruptedData, EnrolmentRef):
    pass


class TrainingInterruptedV2(Envelope):
    EVENT_TYPE = "training.interrupted"
    SCHEMA_VERSION = 2
    data: TrainingInterruptedDataV2


class TrainingResumedDataV2(EnrolmentRef):
    pass


class TrainingResumedV2(Envelope):
    EVENT_TYPE = "training.resumed"
    SCHEMA_VERSION = 2
    data: TrainingResumedDataV2


class TrainingExitedDataV2(TrainingExitedData, EnrolmentRef):
    # A transfer names the enrolment it continues in (not an exit from the network).
    transfer_to_enrolment_id: UUID | None = None
    transfer_to_programme_id: UUID | None = None


class TrainingExitedV2(Envelope):
    EVENT_TYPE = "training.exited"
    SCHEMA_VERSION = 2
    data: TrainingExitedDataV2


class TrainingCorrectedDataV2(TrainingCorrectedData, EnrolmentRef):
    pass


class TrainingCorrectedV2(Envelope):
    EVENT_TYPE = "training.corrected"
    SCHEMA_VERSION = 2
    data: TrainingCorrectedDataV2


TRAINING_V2 = (TrainingStartedV2, TrainingAttendanceV2, TrainingMilestoneV2, TrainingInterruptedV2,
               TrainingResumedV2, TrainingExitedV2, TrainingCorrectedV2)
# Each kind of event in every version a consumer accepts.
DECIDED = (ApplicationDecided, ApplicationDecidedV2)
TRAINING_STARTED = (TrainingStarted, TrainingStartedV2)
TRAINING_EXITED = (TrainingExited, TrainingExitedV2)
TRAINING_CORRECTED = (TrainingCorrected, TrainingCorrectedV2)
# What happens during a training without starting or ending it: attendance, milestones, pauses.
TRAINING_PROGRESS = (TrainingAttendance, TrainingAttendanceV2, TrainingMilestone, TrainingMilestoneV2,
                     TrainingInterrupted, TrainingInterruptedV2, TrainingResumed, TrainingResumedV2)


def enrolment_of(event: Envelope) -> UUID:
    """The enrolment a training event belongs to, whatever its version."""
    if isinstance(event, TRAINING_V2):
        return event.data.enrolment_id
    return legacy_enrolment_id(event.learner_id, event.programme_id)


# --- outcomes -------------------------------------------------------------------


class FollowupClosedData(EventData):
    """A follow-up is over: its outcome is recorded, or the learner was unreachable, refused or exempt."""

    status: ClosedStatus
    closed_on: date


class FollowupClosed(Envelope):
    EVENT_TYPE = "followup.closed"
    data: FollowupClosedData


class OutcomeRecordedData(EventData):
    situation: Situation  # the one that counts: the first of `situations` by priority
    digital_job: bool
    source: InformationSource
    observed_on: date
    # Added within v1 (optional): set when this outcome corrects an earlier one, which it replaces.
    corrects_event_id: UUID | None = None
    # Added within v1 (optional): every situation ticked, `situation` among them.
    situations: list[Situation] | None = None


class OutcomeRecorded(Envelope):
    EVENT_TYPE = "outcome.recorded"
    data: OutcomeRecordedData


# The fields of an event's data that hold free text a centre typed (which may name a person or a
# place): erased wherever a copy of the event is kept when its learner is erased.
FREE_TEXT: dict[str, tuple[str, ...]] = {"training.milestone": ("milestone",), "training.interrupted": ("reason",)}
ERASED = "(erased)"

EVENT_TYPES: dict[tuple[str, int], type[Envelope]] = {
    (cls.EVENT_TYPE, cls.SCHEMA_VERSION): cls
    for cls in (
        ProgrammeRegistered,
        SessionScheduled,
        ProgrammeModeChanged,
        ApplicationSubmitted,
        ApplicationDecided,
        ApplicationDecidedV2,
        LearnerErased,
        TrainingStarted,
        TrainingAttendance,
        TrainingMilestone,
        TrainingInterrupted,
        TrainingResumed,
        TrainingExited,
        TrainingCorrected,
        *TRAINING_V2,
        FollowupClosed,
        OutcomeRecorded,
    )
}
