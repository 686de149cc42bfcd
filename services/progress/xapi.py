"""xAPI statements, as an LMS sends them, mapped onto training facts (pure; see docs/progress-import.md).

The mapping only translates: what a fact must contain is FactIn's business. A statement about
the programme itself (object of activity type "course") may change the enrolment's state; the
same verbs about a module or a session may not, because cmi5 sends initialized and terminated
at every session and completed, passed or failed for every assignable unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

ADL = "http://adlnet.gov/expapi/verbs/"
ADL_W3ID = "https://w3id.org/xapi/adl/verbs/"

PROGRAMME_ID = "https://parcours.example/xapi/programme_id"
REASON = "https://parcours.example/xapi/reason"
DROPOUT_CAUSE = "https://parcours.example/xapi/dropout_cause"
# The enrolment (the admitted application's id), needed when the learner has several in the programme.
ENROLMENT_ID = "https://parcours.example/xapi/enrolment_id"
CMI5_PROGRESS = "https://w3id.org/xapi/cmi5/result/extensions/progress"
COURSE_TYPES = frozenset({"http://adlnet.gov/expapi/activities/course",
                          "https://w3id.org/xapi/cmi5/activitytype/course"})

# Where each fact field comes from, to name it in a refusal.
SOURCES = {
    "event_id": "id",
    "application_id": "actor.account.name",
    "programme_id": f"context.extensions[{PROGRAMME_ID}]",
    "occurred_at": "timestamp",
    "hours": "result.duration",
    "milestone": "object.definition.name",
    "reason": f"context.extensions[{REASON}]",
    "dropout_cause": f"context.extensions[{DROPOUT_CAUSE}]",
    "enrolment_id": f"context.extensions[{ENROLMENT_ID}]",
}


class MappingError(ValueError):
    """The statement cannot become a training fact; the message says why."""

    code = "unmappable"


class UnknownVerb(MappingError):
    code = "unknown_verb"


class NotAFact(MappingError):
    code = "not_a_fact"


@dataclass(frozen=True)
class Meaning:
    word: str
    programme: str | None  # the fact type when the object is the programme
    module: str | None  # the fact type when the object is a module or a session; None: not a fact
    exit_reason: str | None = None


VERBS = {
    ADL + "initialized": Meaning("initialized", "started", None),
    ADL + "attended": Meaning("attended", "attendance", "attendance"),
    ADL + "progressed": Meaning("progressed", "milestone", "milestone"),
    ADL + "completed": Meaning("completed", "exited", "milestone", "completed"),
    ADL + "passed": Meaning("passed", "exited", "milestone", "certified"),
    ADL + "failed": Meaning("failed", "exited", "milestone", "not_certified"),
    ADL + "terminated": Meaning("terminated", "exited", None, "dropped_out"),
    ADL + "suspended": Meaning("suspended", "interrupted", None),
    ADL_W3ID + "suspended": Meaning("suspended", "interrupted", None),
    ADL + "resumed": Meaning("resumed", "resumed", None),
    ADL_W3ID + "resumed": Meaning("resumed", "resumed", None),
}
NOT_FACTS = {
    ADL + "launched": "launched says that the LMS opened a module: not a training fact",
    ADL_W3ID + "abandoned": "abandoned says that a module session ended abnormally: not a training fact",
    ADL_W3ID + "waived": "waived says that a module was waived: not a training fact",
    ADL_W3ID + "satisfied": "satisfied is not a training fact: to record the exit, send completed, passed or "
                            "failed about the programme",
    ADL + "voided": "voided statements are not taken here: void the fact with POST /facts/{its statement id}/"
                    "corrections and the action void",
}

_NUMBER = r"\d+(?:[.,]\d+)?"
DURATION = re.compile(
    rf"P(?!$)(?:(?P<days>{_NUMBER})D)?"
    rf"(?:T(?=\d)(?:(?P<hours>{_NUMBER})H)?(?:(?P<minutes>{_NUMBER})M)?(?:(?P<seconds>{_NUMBER})S)?)?"
)
# Not strict ISO 8601, but the xAPI specification's own example of a duration in seconds.
SECONDS_ONLY = re.compile(rf"P(?P<seconds>{_NUMBER})S")
CALENDAR_UNITS = re.compile(rf"P(?:{_NUMBER}[YMW])")


def to_fact(statement: Any) -> dict:
    """The FactIn body a statement stands for, or a MappingError saying why there is none."""
    if not isinstance(statement, dict):
        raise MappingError("a statement must be a JSON object")
    verb = _dict(statement.get("verb")).get("id")
    if not isinstance(verb, str):
        raise MappingError("verb.id is required")
    if verb in NOT_FACTS:
        raise NotAFact(NOT_FACTS[verb])
    meaning = VERBS.get(verb)
    if meaning is None:
        raise UnknownVerb(f"verb {verb} is not one that maps to a training fact (see docs/progress-import.md)")
    fact = {"event_id": _required(statement, "id", "the statement's UUID, which makes re-sending it harmless"),
            "application_id": _learner(statement.get("actor")),
            "programme_id": _extension(statement, PROGRAMME_ID, "the programme's Parcours id (UUID)"),
            "occurred_at": _required(statement, "timestamp", "when it happened, with an offset "
                                                             "(2020-03-02T09:00:00+01:00)")}
    activity = _activity(statement.get("object"))
    about_programme = _dict(activity.get("definition")).get("type") in COURSE_TYPES
    fact_type = meaning.programme if about_programme else meaning.module
    if fact_type is None:
        raise NotAFact(f"{meaning.word} about a module or a session is not a training fact; about the programme "
                       "(object.definition.type course) it is")
    fact["type"] = fact_type
    enrolment = _extension(statement, ENROLMENT_ID)
    if enrolment is not None:  # names the very enrolment (one a transfer opened has no application)
        fact["enrolment_id"] = enrolment
        del fact["application_id"]
    result = _dict(statement.get("result"))
    if fact_type == "attendance":
        fact["hours"] = duration_hours(result.get("duration"))
    elif fact_type == "milestone":
        fact["milestone"] = _milestone(meaning, activity, result)
    elif fact_type == "interrupted":
        reason = _extension(statement, REASON)
        if reason is not None:
            fact["reason"] = reason
    elif fact_type == "exited":
        fact["exit_reason"] = meaning.exit_reason
        if meaning.exit_reason == "dropped_out":
            fact["dropout_cause"] = _extension(statement, DROPOUT_CAUSE) or "other"
    return fact


def duration_hours(value: Any) -> float:
    """Hours in an xAPI duration (ISO 8601: PT3H30M, PT1H0M0S, P1DT2H; a day counts 24 hours)."""
    if not isinstance(value, str):
        raise MappingError("attended needs result.duration, an ISO 8601 duration like PT3H30M")
    match = DURATION.fullmatch(value) or SECONDS_ONLY.fullmatch(value)
    if match is None:
        if CALENDAR_UNITS.match(value):
            raise MappingError("result.duration in years, months or weeks has no fixed number of hours: "
                               "give it in hours and minutes, like PT3H30M")
        raise MappingError("result.duration is not an ISO 8601 duration like PT3H30M")
    parts = {unit: float(number.replace(",", ".")) for unit, number in match.groupdict().items() if number}
    hours = (parts.get("days", 0) * 24 + parts.get("hours", 0) + parts.get("minutes", 0) / 60
             + parts.get("seconds", 0) / 3600)
    return round(hours, 4)


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _required(statement: dict, key: str, what: str) -> Any:
    value = statement.get(key)
    if value is None or value == "":
        raise MappingError(f"{key} is required: {what}")
    return value


def _extension(statement: dict, iri: str, required: str | None = None) -> Any:
    value = _dict(_dict(statement.get("context")).get("extensions")).get(iri)
    if value is None and required:
        raise MappingError(f"context.extensions[{iri}] is required: {required}")
    return value


def _learner(actor: Any) -> Any:
    if not isinstance(actor, dict):
        raise MappingError("actor is required: an Agent whose account name is the id of the learner's admitted "
                           "application")
    if actor.get("objectType") == "Group":
        raise MappingError("actor is a Group: send one statement per learner")
    if "mbox" in actor or "mbox_sha1sum" in actor:
        raise MappingError("actor is identified by an e-mail address (mbox), and we never take e-mail addresses: "
                           "identify the learner by actor.account, its name being the id of the learner's admitted "
                           "application")
    if "openid" in actor:
        raise MappingError("actor is identified by openid: identify the learner by actor.account, its name being "
                           "the id of the learner's admitted application")
    name = _dict(actor.get("account")).get("name")
    if name is None or name == "":
        raise MappingError("actor.account.name is required: the id of the learner's admitted application (UUID), "
                           "as intake answered it")
    return name


def _activity(value: Any) -> dict:
    if not isinstance(value, dict) or value.get("objectType", "Activity") != "Activity":
        raise MappingError("object must be an Activity: the programme or one of its modules")
    if not isinstance(value.get("id"), str):
        raise MappingError("object.id is required")
    return value


def _text(language_map: Any) -> str | None:
    """French if given, else English, else any language: the network is French."""
    if not isinstance(language_map, dict):
        return None
    texts = {str(tag).lower(): text.strip() for tag, text in language_map.items()
             if isinstance(text, str) and text.strip()}
    for language in ("fr", "en"):
        for tag in sorted(texts):
            if tag.split("-")[0] == language:
                return texts[tag]
    return texts[min(texts)] if texts else None


def _milestone(meaning: Meaning, activity: dict, result: dict) -> str:
    name = _text(_dict(activity.get("definition")).get("name"))
    if meaning.word != "progressed":
        return f"{meaning.word}: {name or activity['id']}"
    progress = _dict(result.get("extensions")).get(CMI5_PROGRESS)
    if isinstance(progress, bool) or not isinstance(progress, int | float):
        progress = None
    if name and progress is not None:
        return f"{name}: {progress:g} %"
    if name or progress is not None:
        return name or f"progress {progress:g} %"
    raise MappingError(f"progressed needs object.definition.name or result.extensions[{CMI5_PROGRESS}]")
