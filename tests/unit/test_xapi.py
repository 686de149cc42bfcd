"""The xAPI mapping, on the xAPI specification's example statements adapted with our ids."""

from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from services.progress import xapi
from services.progress.schemas import FactIn

LEARNER = "cc7bb1ba-026b-4865-bb24-66359a5ab6ef"
PROGRAMME = "5024a0b8-ae69-43a0-8ca6-9de17f91a885"
COURSE = "http://adlnet.gov/expapi/activities/course"
ADL = "http://adlnet.gov/expapi/verbs/"

# xAPI-Data.md, Appendix A: "Example of a simple Statement", as published (identified by mbox).
SPEC_SIMPLE = {
    "id": "fd41c918-b88b-4b20-a0a5-a4c32391aaa0",
    "timestamp": "2015-11-18T12:17:00+00:00",
    "actor": {"objectType": "Agent", "name": "Project Tin Can API", "mbox": "mailto:user@example.com"},
    "verb": {"id": "http://example.com/xapi/verbs#sent-a-statement", "display": {"en-US": "sent"}},
    "object": {"id": "http://example.com/xapi/activity/simplestatement",
               "definition": {"name": {"en-US": "simple statement"},
                              "description": {"en-US": "A simple Experience API statement."}}},
}

# xAPI-Data.md, Appendix A: completion with the verb "attempted" and a duration in seconds.
SPEC_ATTEMPTED = {
    "id": "7ccd3322-e1a5-411a-a67d-6a735c76f119",
    "timestamp": "2015-12-18T12:17:00+00:00",
    "actor": {"objectType": "Agent", "name": "Example Learner", "mbox": "mailto:example.learner@adlnet.gov"},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/attempted", "display": {"en-US": "attempted"}},
    "object": {"id": "http://example.adlnet.gov/xapi/example/simpleCBT",
               "definition": {"name": {"en-US": "simple CBT course"},
                              "description": {"en-US": "A fictitious example CBT course."}}},
    "result": {"score": {"scaled": 0.95}, "success": True, "completion": True, "duration": "PT1234S"},
}

# xAPI-Data.md, Appendix A: the long example (a Group attended a meeting), shortened.
SPEC_LONG = {
    "id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee",
    "actor": {"name": "Team PB", "mbox": "mailto:teampb@example.com", "objectType": "Group", "member": [
        {"name": "Andrew Downes", "account": {"homePage": "http://www.example.com", "name": "13936749"},
         "objectType": "Agent"}]},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/attended", "display": {"en-GB": "attended", "en-US": "attended"}},
    "result": {"success": True, "completion": True, "response": "We agreed on some example actions.",
               "duration": "PT1H0M0S"},
    "context": {"registration": "ec531277-b57b-4c15-8d91-d292c5b2b8f7",
                "contextActivities": {"parent": [{"id": "http://www.example.com/meetings/series/267",
                                                  "objectType": "Activity"}]},
                "platform": "Example virtual meeting software", "language": "tlh"},
    "timestamp": "2013-05-18T05:32:34.804+00:00",
    "stored": "2013-05-18T05:32:34.804+00:00",
    "authority": {"account": {"homePage": "http://cloud.scorm.com/", "name": "anonymous"}, "objectType": "Agent"},
    "version": "1.0.0",
    "object": {"id": "http://www.example.com/meetings/occurances/34534", "objectType": "Activity",
               "definition": {"name": {"en-GB": "example meeting", "en-US": "example meeting"},
                              "type": "http://adlnet.gov/expapi/activities/meeting"}},
}

# xAPI-About.md, Appendix B: the cmi5 example (an AU failed), identified by an account.
SPEC_CMI5 = {
    "id": "2a41c918-b88b-4220-20a5-a4c32391a240",
    "actor": {"objectType": "Agent", "name": "Gert Frobe",
              "account": {"homePage": "http://example.adlnet.gov", "name": "1625378"}},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/failed", "display": {"en-US": "failed"}},
    "object": {"id": "https://example.adlnet.gov/AUidentifier", "objectType": "Activity"},
    "result": {"score": {"scaled": 0.65, "raw": 65, "min": 0, "max": 100}, "success": False, "duration": "PT30M",
               "extensions": {"https://w3id.org/xapi/cmi5/result/extensions/progress": 100}},
    "context": {"registration": "ec231277-b27b-4c15-8291-d29225b2b8f7",
                "contextActivities": {"category": [{"id": "https://w3id.org/xapi/cmi5/context/categories/moveon"},
                                                   {"id": "https://w3id.org/xapi/cmi5/context/categories/cmi5"}]},
                "extensions": {"https://w3id.org/xapi/cmi5/context/extensions/sessionid": "458240298378231"}},
    "timestamp": "2012-06-01T19:09:13.245+00:00",
}


def ours(statement: dict, **changes) -> dict:
    """A spec example adapted to Parcours: the learner's account, the programme extension, a recent date."""
    s = copy.deepcopy(statement)
    s["actor"] = {"objectType": "Agent", "name": "Ignored Name",
                  "account": {"homePage": "https://lms.centre.example", "name": LEARNER}}
    context = s.setdefault("context", {})
    context.setdefault("extensions", {})[xapi.PROGRAMME_ID] = PROGRAMME
    s["timestamp"] = "2020-05-18T05:32:34.804+00:00"
    s.update(changes)
    return s


def statement(verb: str, about_programme: bool = True, **changes) -> dict:
    definition = {"name": {"en-US": "Web developer", "fr-FR": "Développeur web"}}
    if about_programme:
        definition["type"] = COURSE
    return ours({"id": "355e5bbe-723a-430e-98e9-7651fcdf09fd", "verb": {"id": verb, "display": {"en-US": "x"}},
                 "object": {"id": "https://lms.centre.example/courses/dev", "objectType": "Activity",
                            "definition": definition}}, **changes)


def refusal(s) -> xapi.MappingError:
    with pytest.raises(xapi.MappingError) as caught:
        xapi.to_fact(s)
    return caught.value


def test_the_spec_long_example_adapted_is_an_attendance():
    fact = xapi.to_fact(ours(SPEC_LONG))
    assert fact == {"event_id": "6690e6c9-3ef0-4ed3-8b37-7f3964730bee", "application_id": LEARNER,
                    "programme_id": PROGRAMME, "type": "attendance",
                    "occurred_at": "2020-05-18T05:32:34.804+00:00", "hours": 1.0}
    assert FactIn.model_validate(fact).hours == 1.0


def test_the_spec_cmi5_example_adapted_is_a_milestone_about_an_au_and_an_exit_about_the_course():
    fact = xapi.to_fact(ours(SPEC_CMI5))
    assert (fact["type"], fact["milestone"]) == ("milestone", "failed: https://example.adlnet.gov/AUidentifier")
    FactIn.model_validate(fact)
    course = ours(SPEC_CMI5)
    course["object"]["definition"] = {"type": "https://w3id.org/xapi/cmi5/activitytype/course"}
    fact = xapi.to_fact(course)
    assert (fact["type"], fact["exit_reason"]) == ("exited", "not_certified")
    FactIn.model_validate(fact)


def test_the_spec_examples_as_published_are_refused_with_the_reason():
    assert refusal(SPEC_SIMPLE).code == "unknown_verb"  # the verb is looked at first
    assert "e-mail" in str(refusal(SPEC_LONG | {"actor": SPEC_SIMPLE["actor"]}))
    assert "Group" in str(refusal(SPEC_LONG))
    assert refusal(ours(SPEC_ATTEMPTED)).code == "unknown_verb"
    assert "programme_id" in str(refusal(SPEC_CMI5 | {"actor": ours(SPEC_CMI5)["actor"]}))


@pytest.mark.parametrize(("verb", "about_programme", "expected"), [
    (ADL + "initialized", True, {"type": "started"}),
    (ADL + "attended", True, {"type": "attendance", "hours": 3.5}),
    (ADL + "attended", False, {"type": "attendance", "hours": 3.5}),
    (ADL + "progressed", True, {"type": "milestone", "milestone": "Développeur web"}),
    (ADL + "progressed", False, {"type": "milestone", "milestone": "Développeur web"}),
    (ADL + "completed", True, {"type": "exited", "exit_reason": "completed"}),
    (ADL + "completed", False, {"type": "milestone", "milestone": "completed: Développeur web"}),
    (ADL + "passed", True, {"type": "exited", "exit_reason": "certified"}),
    (ADL + "passed", False, {"type": "milestone", "milestone": "passed: Développeur web"}),
    (ADL + "failed", True, {"type": "exited", "exit_reason": "not_certified"}),
    (ADL + "failed", False, {"type": "milestone", "milestone": "failed: Développeur web"}),
    (ADL + "terminated", True, {"type": "exited", "exit_reason": "dropped_out", "dropout_cause": "other"}),
    (ADL + "suspended", True, {"type": "interrupted"}),
    ("https://w3id.org/xapi/adl/verbs/suspended", True, {"type": "interrupted"}),
    (ADL + "resumed", True, {"type": "resumed"}),
    ("https://w3id.org/xapi/adl/verbs/resumed", True, {"type": "resumed"}),
])
def test_every_verb(verb, about_programme, expected):
    s = statement(verb, about_programme, result={"duration": "PT3H30M"})
    fact = xapi.to_fact(s)
    base = {"event_id": s["id"], "application_id": LEARNER, "programme_id": PROGRAMME,
            "occurred_at": "2020-05-18T05:32:34.804+00:00"}
    assert fact == base | expected
    FactIn.model_validate(fact)


@pytest.mark.parametrize("verb", [ADL + "initialized", ADL + "terminated", ADL + "suspended", ADL + "resumed",
                                  "https://w3id.org/xapi/adl/verbs/suspended"])
def test_session_verbs_about_a_module_are_not_facts(verb):
    error = refusal(statement(verb, about_programme=False))
    assert error.code == "not_a_fact" and "about the programme" in str(error)


@pytest.mark.parametrize("verb", [ADL + "launched", "https://w3id.org/xapi/adl/verbs/abandoned",
                                  "https://w3id.org/xapi/adl/verbs/waived",
                                  "https://w3id.org/xapi/adl/verbs/satisfied", ADL + "voided"])
def test_cmi5_bookkeeping_verbs_are_refused_clearly(verb):
    error = refusal(statement(verb))
    assert error.code == "not_a_fact" and verb.rsplit("/", 1)[1] in str(error)


def test_reason_and_dropout_cause_come_from_our_extensions():
    s = statement(ADL + "suspended")
    s["context"]["extensions"][xapi.REASON] = "health"
    assert xapi.to_fact(s)["reason"] == "health"
    s = statement(ADL + "terminated")
    s["context"]["extensions"][xapi.DROPOUT_CAUSE] = "found_job"
    assert xapi.to_fact(s)["dropout_cause"] == "found_job"


def test_progress_extension_and_names():
    progress = {"extensions": {xapi.CMI5_PROGRESS: 50}}
    s = statement(ADL + "progressed", result=progress)
    assert xapi.to_fact(s)["milestone"] == "Développeur web: 50 %"
    del s["object"]["definition"]["name"]
    assert xapi.to_fact(s)["milestone"] == "progress 50 %"
    s["object"]["definition"]["name"] = {"en-GB": "SQL module", "de": "SQL-Modul"}
    assert xapi.to_fact(s | {"result": {}})["milestone"] == "SQL module"
    s["object"]["definition"]["name"] = {"de": "SQL-Modul"}
    assert xapi.to_fact(s | {"result": {}})["milestone"] == "SQL-Modul"
    del s["object"]["definition"]["name"]
    assert "progressed needs" in str(refusal(s | {"result": {}}))


@pytest.mark.parametrize(("duration", "hours"), [
    ("PT3H30M", 3.5), ("PT1H0M0S", 1.0), ("PT30M", 0.5), ("PT1234S", 0.3428), ("P16559.14S", 4.5998),
    ("PT4H35M59.14S", 4.5998), ("P1DT2H", 26.0), ("PT1,5H", 1.5), ("PT0S", 0.0),
])
def test_durations(duration, hours):
    assert xapi.duration_hours(duration) == hours


@pytest.mark.parametrize(("duration", "message"), [
    ("P3Y1M29DT4H35M59.14S", "years, months or weeks"), ("P4W", "years, months or weeks"),
    ("PT", "not an ISO 8601 duration"), ("P", "not an ISO 8601 duration"), ("3H", "not an ISO 8601 duration"),
    ("PT1H30", "not an ISO 8601 duration"), (None, "attended needs result.duration"), (90, "attended needs"),
])
def test_bad_durations(duration, message):
    with pytest.raises(xapi.MappingError, match=message):
        xapi.duration_hours(duration)


def drop(s: dict, *path: str) -> dict:
    s = copy.deepcopy(s)
    node = s
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return s


ATTENDED = statement(ADL + "attended", result={"duration": "PT2H"})


@pytest.mark.parametrize(("bad", "code", "message"), [
    (["not", "an", "object"], "unmappable", "JSON object"),
    (drop(ATTENDED, "verb"), "unmappable", "verb.id is required"),
    (ATTENDED | {"verb": {"id": "http://adlnet.gov/expapi/verbs/answered"}}, "unknown_verb", "answered"),
    (drop(ATTENDED, "id"), "unmappable", "id is required"),
    (drop(ATTENDED, "actor"), "unmappable", "actor is required"),
    (ATTENDED | {"actor": {"objectType": "Group", "member": []}}, "unmappable", "Group"),
    (ATTENDED | {"actor": {"mbox": "mailto:learner@example.com"}}, "unmappable", "never take e-mail"),
    (ATTENDED | {"actor": {"mbox_sha1sum": "ebd31e95054c018b10727ccffd2ef2ec3a016ee9"}}, "unmappable", "e-mail"),
    (ATTENDED | {"actor": {"mbox": "mailto:l@example.com", "account": {"homePage": "h", "name": LEARNER}}},
     "unmappable", "e-mail"),
    (ATTENDED | {"actor": {"openid": "http://toby.openid.example.org/"}}, "unmappable", "openid"),
    (ATTENDED | {"actor": {"account": {"homePage": "https://lms.centre.example"}}}, "unmappable",
     "actor.account.name is required"),
    (drop(ATTENDED, "context", "extensions", xapi.PROGRAMME_ID), "unmappable", "programme_id"),
    (drop(ATTENDED, "context"), "unmappable", "programme_id"),
    (drop(ATTENDED, "timestamp"), "unmappable", "timestamp is required"),
    (ATTENDED | {"object": {"objectType": "StatementRef", "id": "9e13cefd-53d3-4eac-b5ed-2cf6693903bb"}},
     "unmappable", "object must be an Activity"),
    (ATTENDED | {"object": {"objectType": "Activity"}}, "unmappable", "object.id is required"),
    (drop(ATTENDED, "result"), "unmappable", "attended needs result.duration"),
    (ATTENDED | {"result": {"duration": "3 hours"}}, "unmappable", "not an ISO 8601 duration"),
])
def test_every_refusal(bad, code, message):
    error = refusal(bad)
    assert error.code == code and message in str(error)


def test_values_are_left_to_factin_which_names_the_statement_field():
    s = statement(ADL + "attended", result={"duration": "PT0S"}, timestamp="2020-05-18T05:32:34")
    s["actor"]["account"]["name"] = "1625378"
    with pytest.raises(ValidationError) as caught:
        FactIn.model_validate(xapi.to_fact(s))
    fields = {e["loc"][0] for e in caught.value.errors()}
    assert fields == {"application_id", "occurred_at", "hours"}
    assert {xapi.SOURCES[f] for f in fields} == {"actor.account.name", "timestamp", "result.duration"}


def test_a_statement_may_name_the_enrolment():
    enrolment = "5a0c9e1d-3b7f-4e2a-9c4d-8f1e2a3b4c5d"
    s = statement(xapi.ADL + "initialized")
    s["context"]["extensions"][xapi.ENROLMENT_ID] = enrolment
    fact = xapi.to_fact(s)
    assert fact["enrolment_id"] == enrolment and str(FactIn(**fact).enrolment_id) == enrolment
    assert "enrolment_id" not in xapi.to_fact(statement(xapi.ADL + "initialized"))
