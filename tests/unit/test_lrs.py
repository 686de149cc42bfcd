"""The LRS's pure xAPI rules (services.progress.lrs): which statements are valid (Data 2.x, 4.x),
the form kept, which queries are valid and what they match, and the forms given back."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime

import pytest

from services.progress import lrs

ADL = "http://adlnet.gov/expapi/verbs/"
AGENT = {"objectType": "Agent", "name": "Jeanne", "mbox": "mailto:jeanne@example.org"}
ACCOUNT = {"objectType": "Agent", "account": {"homePage": "https://lms.example", "name": "jdupont"}}
ACTIVITY = {"objectType": "Activity", "id": "https://lms.example/course/sql",
            "definition": {"name": {"fr-FR": "SQL", "en-US": "SQL"}, "type": "http://adlnet.gov/expapi/activities/course"}}
STATEMENT = {"id": "9e13cefd-53d3-4eac-b5ed-2cf6693903bb", "actor": ACCOUNT,
             "verb": {"id": ADL + "attended", "display": {"en-US": "attended"}}, "object": ACTIVITY,
             "timestamp": "2020-03-02T12:30:00+01:00"}


def statement(**changes) -> dict:
    """The valid statement with some properties replaced (None: removed)."""
    s = copy.deepcopy(STATEMENT)
    for key, value in changes.items():
        if value is None:
            s.pop(key, None)
        else:
            s[key] = value
    return s


def sub_statement(**changes) -> dict:
    sub = {"objectType": "SubStatement", "actor": AGENT, "verb": {"id": ADL + "experienced"}, "object": ACTIVITY}
    sub.update(changes)
    return statement(object=sub)


def with_definition(**definition) -> dict:
    return statement(object={"id": ACTIVITY["id"], "definition": definition})


CHOICES = [{"id": "a", "description": {"en-US": "A"}}, {"id": "b", "description": {"en-US": "B"}}]
VALID = {
    "the plain one": statement(),
    "no objectType on the activity, no timestamp": statement(object={"id": ACTIVITY["id"]}, timestamp=None),
    "an mbox actor, an openid one, an mbox_sha1sum one": statement(actor=AGENT),
    "an identified group with members": statement(actor={"objectType": "Group", "openid": "https://id.example/g",
                                                          "member": [AGENT]}),
    "an anonymous group": statement(actor={"objectType": "Group", "member": [AGENT, ACCOUNT]}),
    "an agent object": statement(object=AGENT),
    "a StatementRef object": statement(object={"objectType": "StatementRef", "id": STATEMENT["id"].upper()}),
    "a SubStatement": sub_statement(context={"registration": STATEMENT["id"], "revision": "2"}),
    "a voiding statement": statement(verb={"id": lrs.VOIDED}, object={"objectType": "StatementRef",
                                                                      "id": STATEMENT["id"]}),
    "a choice interaction": with_definition(interactionType="choice", correctResponsesPattern=["a"],
                                            choices=CHOICES),
    "a result, full": statement(result={"score": {"scaled": -1, "raw": 3.5, "min": 0, "max": 10}, "success": True,
                                        "completion": False, "response": "b", "duration": "P1DT2H30.25S",
                                        "extensions": {"https://x.example/e": None}}),
    "a duration of weeks alone": statement(result={"duration": "P4W"}),
    "a context, full": statement(context={
        "registration": STATEMENT["id"], "instructor": AGENT, "team": {"objectType": "Group", "member": [AGENT]},
        "contextActivities": {"parent": {"id": "https://lms.example/p"}, "other": [{"id": "https://lms.example/o"}]},
        "revision": "1", "platform": "Moodle", "language": "zh-Hant-TW",
        "statement": {"objectType": "StatementRef", "id": STATEMENT["id"]},
        "extensions": {"https://x.example/e": {"anything": [1, None]}},
        "contextAgents": [{"objectType": "contextAgent", "agent": AGENT,
                           "relevantTypes": ["https://x.example/tutor"]}],
        "contextGroups": [{"objectType": "contextGroup", "group": {"objectType": "Group", "member": [AGENT]}}]}),
    "an attachment by its fileUrl": statement(attachments=[{
        "usageType": "http://adlnet.gov/expapi/attachments/signature", "display": {"en-US": "certificate"},
        "contentType": "application/pdf", "length": 1234, "sha2": "ab" * 32, "fileUrl": "https://x.example/c.pdf"}]),
    "an OAuth authority (two agents)": statement(authority={"objectType": "Group", "member": [AGENT, ACCOUNT]}),
    "versions 1.0, 1.0.9 and 2.0.0": statement(version="2.0.0"),
    "a timestamp with nanoseconds in UTC": statement(timestamp="2020-03-02T12:30:00.123456789Z"),
}


@pytest.mark.parametrize("case", list(VALID))
def test_valid_statements_pass(case):
    lrs.check(VALID[case])


INVALID = {
    "a null value": (statement(result={"success": None}), "statement.result.success: null"),
    "an unknown property": (statement(Actor=AGENT), "unknown property ['Actor']"),
    "a top-level objectType": (statement(objectType="statementref"), "unknown property ['objectType']"),
    "an id not a UUID": (statement(id="9e13cefd53d34eacb5ed2cf6693903bb"), "statement.id"),
    "a version 1.1.0": (statement(version="1.1.0"), "statement.version"),
    "no actor": (statement(actor=None), "statement.actor is required"),
    "an agent with two IFIs": (statement(actor={**AGENT, "openid": "https://id.example/j"}), "exactly one"),
    "an mbox without mailto": (statement(actor={"mbox": "jeanne@example.org"}), "actor.mbox"),
    "an account without homePage": (statement(actor={"account": {"name": "j"}}), "actor.account"),
    "an anonymous group without members": (statement(actor={"objectType": "Group", "member": []}), "member"),
    "a group as a member": (statement(actor={"objectType": "Group", "member": [{"objectType": "Group",
                                                                                 "member": [AGENT]}]}), "member"),
    "a verb id not an IRI": (statement(verb={"id": "attended"}), "statement.verb.id"),
    "a display not a language map": (statement(verb={"id": ADL + "a", "display": "attended"}), "language map"),
    "a language tag not RFC 5646": (statement(verb={"id": ADL + "a", "display": {"a12345678": "x"}}), "RFC 5646"),
    "an objectType in the wrong case": (statement(object={**ACTIVITY, "objectType": "activity"}), "objectType"),
    "a StatementRef in the wrong case": (statement(object={"objectType": "statementref", "id": STATEMENT["id"]}),
                                         "objectType"),
    "a moreInfo not an IRL": (with_definition(moreInfo="not an iri"), "moreInfo"),
    "an interactionType in the wrong case": (with_definition(interactionType="Choice"), "interactionType"),
    "choices without an interactionType": (with_definition(choices=CHOICES), "needs an interactionType"),
    "components with one id twice": (with_definition(interactionType="choice", choices=CHOICES + CHOICES[:1]),
                                     "distinct"),
    "extensions as a string": (with_definition(extensions="x"), "definition.extensions"),
    "an extension key not an IRI": (statement(result={"extensions": {"should fail": 1}}), "result.extensions key"),
    "a SubStatement with an id": (sub_statement(id=STATEMENT["id"]), "a SubStatement has no id"),
    "a SubStatement in a SubStatement": (sub_statement(object={"objectType": "SubStatement"}), "holds no other"),
    "a voiding statement about an activity": (statement(verb={"id": lrs.VOIDED}), "a voiding statement"),
    "a response not a string": (statement(result={"response": 12}), "result.response"),
    "success as a string": (statement(result={"success": "true"}), "result.success"),
    "weeks with days": (statement(result={"duration": "P4W1D"}), "result.duration"),
    "a scaled score above 1": (statement(result={"score": {"scaled": 1.01}}), "score.scaled"),
    "a raw score above max": (statement(result={"score": {"raw": 11, "max": 10}}), "score.raw"),
    "contextActivities with another key": (statement(context={"contextActivities": {"sibling": []}}),
                                           "contextActivities"),
    "contextActivities as a string": (statement(context={"contextActivities": "x"}), "contextActivities"),
    "a context language not a tag": (statement(context={"language": "something"}), "context.language"),
    "a context statement not a StatementRef": (statement(context={"statement": {"id": STATEMENT["id"]}}),
                                               "context.statement"),
    "revision with an agent object": (statement(object=AGENT, context={"revision": "1"}), "context.revision"),
    "a team not a Group": (statement(context={"team": AGENT}), "context.team"),
    "a contextAgent of another objectType": (statement(context={"contextAgents": [{"objectType": "x",
                                                                                   "agent": AGENT}]}),
                                             "contextAgents[0].objectType"),
    "relevantTypes empty": (statement(context={"contextAgents": [{"objectType": "contextAgent", "agent": AGENT,
                                                                  "relevantTypes": []}]}), "relevantTypes"),
    "a timestamp without offset": (statement(timestamp="2020-03-02T12:30:00"), "statement.timestamp"),
    "a timestamp at -00:00": (statement(timestamp="2020-03-02T12:30:00-00:00"), "-00:00"),
    "an identified group as authority": (statement(authority={"objectType": "Group", "mbox": "mailto:g@x.example",
                                                              "member": [AGENT, ACCOUNT]}), "authority"),
    "an authority of three agents": (statement(authority={"objectType": "Group", "member": [AGENT, ACCOUNT, AGENT]}),
                                     "authority"),
    "an attachment without sha2": (statement(attachments=[{"usageType": ADL + "x", "display": {"en": "x"},
                                                           "contentType": "text/plain", "length": 1}]), "sha2"),
    "an attachment length as a string": (statement(attachments=[{"usageType": ADL + "x", "display": {"en": "x"},
                                                                 "contentType": "text/plain", "length": "1",
                                                                 "sha2": "ab"}]), "length"),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_statements_are_refused_naming_the_property(case):
    body, fragment = INVALID[case]
    with pytest.raises(lrs.StatementInvalid) as refused:
        lrs.check(body)
    assert fragment in str(refused.value)


@pytest.mark.parametrize(("tag", "valid"), [
    ("fr", True), ("fr-FR", True), ("zh-Hant-TW", True), ("cmn", True), ("sr-Latn-RS", True), ("de-CH-1996", True),
    ("en-a-bbb-x-private", True), ("i-klingon", True), ("x-whatever", True), ("es-419", True),
    ("something", False), ("a12345678", False), ("en-", False), ("zh-z-aaa-z-bbb-c-ccc", False),
    ("de-1996-1996", False), ("", False), (12, False),
])
def test_language_tags_follow_rfc_5646(tag, valid):
    assert lrs.language_tag(tag) is valid


def test_raw_attachments_are_those_without_file_url():
    raw = {"usageType": ADL + "x", "display": {"en": "x"}, "contentType": "text/plain", "length": 1, "sha2": "ab"}
    assert lrs.raw_attachments(statement(attachments=[raw, {**raw, "sha2": "cd", "fileUrl": "https://x.example"}])) \
        == ["ab"]
    assert lrs.raw_attachments(statement()) == []


def test_the_kept_form():
    sent = statement(actor=AGENT, object={"objectType": "StatementRef", "id": STATEMENT["id"].upper()},
                     context={"registration": STATEMENT["id"].upper(),
                              "contextActivities": {"parent": {"id": "https://lms.example/p"}}})
    kept = lrs.kept(sent, STATEMENT["id"], datetime(2020, 3, 2, 12, tzinfo=UTC), {"objectType": "Agent"})
    assert kept["actor"] == {"objectType": "Agent", "name": "Jeanne",
                             "mbox_sha1sum": hashlib.sha1(b"mailto:jeanne@example.org").hexdigest()}
    assert kept["object"]["id"] == kept["context"]["registration"] == STATEMENT["id"]
    assert kept["context"]["contextActivities"] == {"parent": [{"id": "https://lms.example/p"}]}
    assert (kept["stored"], kept["version"]) == ("2020-03-02T12:00:00Z", "1.0.0")
    assert "jeanne@example.org" not in json.dumps(kept)
    assert lrs.same_statement(kept, sent) and not lrs.same_statement(kept, statement())


def test_the_version_an_answer_speaks():
    assert [lrs.answer_version(h) for h in ("1.0.3", "1.0", " 1.0.1", "2.0.0", None, "0.9")] == [
        "1.0.3", "1.0.3", "1.0.3", "2.0.0", "2.0.0", "2.0.0"]
    assert [lrs.supported_version(h) for h in ("1.0.3", "2.0", "1.1", None)] == [True, True, False, False]


def test_a_query_read():
    agent = json.dumps({"mbox": "mailto:jeanne@example.org"})
    query = lrs.read_query([("agent", agent), ("verb", ADL + "attended"), ("activity", ACTIVITY["id"]),
                            ("registration", STATEMENT["id"].upper()), ("related_agents", "true"),
                            ("since", "2020-03-02T12:30:00 01:00"), ("limit", "0"), ("format", "ids"),
                            ("ascending", "true")])
    assert query.agent == {"mbox": "mailto:jeanne@example.org"} and query.related_agents
    assert query.registration == STATEMENT["id"] and query.limit == lrs.MAX_PAGE and query.ascending
    assert query.since == datetime.fromisoformat("2020-03-02T12:30:00+01:00") and query.filtered
    single = lrs.read_query([("voidedStatementId", STATEMENT["id"]), ("format", "canonical")])
    assert (single.statement_id, single.voided, single.format, single.filtered) == (STATEMENT["id"], True,
                                                                                    "canonical", False)
    assert lrs.read_query([("limit", "5000")]).limit == lrs.MAX_PAGE and lrs.read_query([]).format == "exact"


@pytest.mark.parametrize(("pairs", "fragment"), [
    ([("foo", "bar")], "unknown parameter 'foo'"),
    ([("StatementId", STATEMENT["id"])], "unknown parameter 'StatementId'"),
    ([("limit", "1"), ("limit", "2")], "more than once"),
    ([("statementId", STATEMENT["id"]), ("verb", ADL + "a")], "only attachments and format"),
    ([("statementId", STATEMENT["id"]), ("voidedStatementId", STATEMENT["id"])], "only attachments and format"),
    ([("statementId", "12")], "statementId"),
    ([("agent", "{not json")], "agent"),
    ([("agent", json.dumps({"objectType": "Group", "member": [AGENT]}))], "anonymous Group"),
    ([("verb", "attended")], "verb"),
    ([("since", "yesterday")], "since"),
    ([("limit", "-1")], "limit"),
    ([("format", "full")], "format"),
    ([("ascending", "yes")], "ascending"),
    ([("after", "nonsense")], "after"),
])
def test_queries_refused(pairs, fragment):
    with pytest.raises(lrs.StatementInvalid) as refused:
        lrs.read_query(pairs)
    assert fragment in str(refused.value)


def test_what_an_agent_filter_matches():
    mbox = {"mbox_sha1sum": hashlib.sha1(b"mailto:jeanne@example.org").hexdigest()}
    assert lrs.agent_patterns(AGENT, related=False) == [{"actor": mbox}, {"object": mbox}]
    related = lrs.agent_patterns(ACCOUNT, related=True)
    account = {"account": ACCOUNT["account"]}
    for pattern in ({"authority": account}, {"context": {"instructor": account}}, {"object": {"actor": account}},
                    {"object": {"context": {"team": account}}}, {"actor": {"member": [account]}},
                    {"context": {"contextAgents": [{"agent": account}]}},
                    {"object": {"context": {"contextGroups": [{"group": account}]}}}):
        assert pattern in related


def test_what_an_activity_filter_matches():
    assert lrs.activity_patterns("https://a.example", related=False) == [{"object": {"id": "https://a.example"}}]
    related = lrs.activity_patterns("https://a.example", related=True)
    assert {"object": {"object": {"id": "https://a.example"}}} in related
    assert {"context": {"contextActivities": {"grouping": [{"id": "https://a.example"}]}}} in related
    assert {"object": {"context": {"contextActivities": {"other": [{"id": "https://a.example"}]}}}} in related
    assert lrs.registration_pattern(STATEMENT["id"]) == {"context": {"registration": STATEMENT["id"]}}


SENT = sub_statement(actor={"objectType": "Group", "member": [AGENT, ACCOUNT]},
                     context={"contextActivities": {"parent": {"id": "https://p.example", "definition": {
                         "name": {"en-US": "Parent", "fr-FR": "Parent (fr)"}}}}})
del SENT["timestamp"]
KEPT = lrs.kept(SENT, STATEMENT["id"], datetime(2020, 3, 2, tzinfo=UTC),
                {"objectType": "Agent", "name": "LMS", "account": {"homePage": "https://parcours.example/keys",
                                                                   "name": "k"}})


def test_given_back_exact_with_the_stored_moment_as_timestamp():
    shown = lrs.shown(KEPT)
    assert shown["timestamp"] == shown["stored"] == "2020-03-02T00:00:00Z"
    assert shown["object"]["actor"]["member"][0]["name"] == "Jeanne"


def test_given_back_as_ids():
    shown = lrs.shown(KEPT, "ids")
    assert shown["verb"] == {"id": ADL + "attended"}
    assert shown["actor"] == {"objectType": "Agent", "account": ACCOUNT["account"]}
    sub = shown["object"]
    assert sub["object"] == {"id": ACTIVITY["id"]} and sub["verb"] == {"id": ADL + "experienced"}
    assert sub["actor"] == {"objectType": "Group", "member": [
        {"objectType": "Agent", "mbox_sha1sum": hashlib.sha1(b"mailto:jeanne@example.org").hexdigest()},
        {"objectType": "Agent", "account": ACCOUNT["account"]}]}
    assert sub["context"]["contextActivities"] == {"parent": [{"id": "https://p.example"}]}
    assert shown["authority"] == {"objectType": "Agent", "account": {"homePage": "https://parcours.example/keys",
                                                                     "name": "k"}}


def test_given_back_canonical_in_the_language_asked():
    languages = lrs.accepted_languages("de;q=0.2, fr-CA, en;q=0.8")
    assert languages == ["fr-CA", "en", "de"]
    shown = lrs.shown(KEPT, "canonical", languages)
    assert shown["verb"]["display"] == {"en-US": "attended"}  # the only one it has
    parent = shown["object"]["context"]["contextActivities"]["parent"][0]["definition"]["name"]
    assert parent == {"fr-FR": "Parent (fr)"}
    assert lrs.best_language(["en-US", "en-GB"], ["en-GB"]) == "en-GB"
    assert lrs.best_language(["en-US", "fr"], []) == "en-US"


def test_a_statement_kept_before_the_rules_is_given_exact_rather_than_failing():
    odd = {**KEPT, "context": {"contextActivities": {"parent": ["not an activity"]}}}
    assert lrs.shown(odd, "ids")["context"] == {"contextActivities": {"parent": ["not an activity"]}}
