"""Event contracts of the learner journey: data only, depending on pydantic alone.

Every service imports its events from here; nothing here knows Kafka, HTTP or SQL.
"""

from shared.contracts.codec import (
    HEADER_EVENT_TYPE,
    HEADER_SCHEMA_VERSION,
    UnknownEventType,
    decode_event,
    encode_event,
)
from shared.contracts.envelope import Envelope
from shared.contracts.events import (
    EVENT_TYPES,
    ApplicationDecided,
    ApplicationDecidedV2,
    ApplicationSubmitted,
    CandidateProfile,
    FollowupClosed,
    FollowupDue,
    LearnerErased,
    OutcomeRecorded,
    ProgrammeRegistered,
    SessionScheduled,
    TrainingAttendance,
    TrainingCorrected,
    TrainingExited,
    TrainingInterrupted,
    TrainingMilestone,
    TrainingResumed,
    TrainingStarted,
)
from shared.contracts.topics import TOPICS, Topic, dlq_topic, topic_for

__all__ = [
    "EVENT_TYPES",
    "HEADER_EVENT_TYPE",
    "HEADER_SCHEMA_VERSION",
    "TOPICS",
    "ApplicationDecided",
    "ApplicationDecidedV2",
    "ApplicationSubmitted",
    "CandidateProfile",
    "Envelope",
    "FollowupClosed",
    "FollowupDue",
    "LearnerErased",
    "OutcomeRecorded",
    "ProgrammeRegistered",
    "SessionScheduled",
    "Topic",
    "TrainingAttendance",
    "TrainingCorrected",
    "TrainingExited",
    "TrainingInterrupted",
    "TrainingMilestone",
    "TrainingResumed",
    "TrainingStarted",
    "UnknownEventType",
    "decode_event",
    "dlq_topic",
    "encode_event",
    "topic_for",
]
