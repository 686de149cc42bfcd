"""The xAPI Statement resource's rules, as an LRS applies them (xAPI 1.0.3 and 2.0, Data 2.x and 4.x,
Communication 2.1): which statements are valid, the form in which one is kept, which queries are
valid and what they match, and the forms in which statements are given back. Pure.

A statement refused here is answered 400 with its index and the property at fault, and nothing
of its request is stored. E-mail addresses never leave intake: an agent identified by `mbox` is
kept as its `mbox_sha1sum` (the SHA-1 of the mailto IRI, which is how xAPI compares them), and
an LMS account is matched to a learner by that sum (or its account), never by the address.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

VERSIONS = ("1.0.3", "2.0.0")  # what GET /xapi/about announces
VERSION_HEADER = "X-Experience-API-Version"
CONSISTENT_HEADER = "X-Experience-API-Consistent-Through"
VOIDED = "http://adlnet.gov/expapi/verbs/voided"
SPOKEN = re.compile(r"(1\.0(\.\d+)?|2\.0(\.\d+)?)")

STATEMENT_KEYS = frozenset({"id", "actor", "verb", "object", "result", "context", "timestamp", "stored",
                            "authority", "version", "attachments"})
SUB_STATEMENT_KEYS = frozenset({"actor", "verb", "object", "result", "context", "timestamp", "attachments",
                                "objectType"})
AGENT_KEYS = frozenset({"objectType", "name", "mbox", "mbox_sha1sum", "openid", "account"})
GROUP_KEYS = AGENT_KEYS | {"member"}
IFIS = ("mbox", "mbox_sha1sum", "openid", "account")
RESULT_KEYS = frozenset({"score", "success", "completion", "response", "duration", "extensions"})
SCORE_KEYS = frozenset({"scaled", "raw", "min", "max"})
CONTEXT_KEYS = frozenset({"registration", "instructor", "team", "contextActivities", "revision", "platform",
                          "language", "statement", "extensions", "contextAgents", "contextGroups"})
CONTEXT_ACTIVITY_KINDS = ("parent", "grouping", "category", "other")
ACTIVITY_KEYS = frozenset({"objectType", "id", "definition"})
INTERACTION_TYPES = frozenset({"true-false", "choice", "fill-in", "long-fill-in", "matching", "performance",
                               "sequencing", "likert", "numeric", "other"})
COMPONENT_LISTS = ("choices", "scale", "source", "target", "steps")
DEFINITION_KEYS = frozenset({"name", "description", "type", "moreInfo", "interactionType",
                             "correctResponsesPattern", "extensions", *COMPONENT_LISTS})
ATTACHMENT_KEYS = frozenset({"usageType", "display", "description", "contentType", "length", "sha2", "fileUrl"})
ATTACHMENT_REQUIRED = ("usageType", "display", "contentType", "length", "sha2")
# 2.0's context agents and groups: (property, its objectType, the actor's key, must the actor be a Group).
CONTEXT_ACTORS = (("contextAgents", "contextAgent", "agent", False), ("contextGroups", "contextGroup", "group", True))

IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")
MEDIA_TYPE = re.compile(r"^[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(\s*;.*)?$")
MAILTO = re.compile(r"^mailto:[^@\s]+@[^@\s]+$")
# ISO 8601 durations: weeks stand alone (P4W), never with other units (P4W1D is not one).
_N = r"\d+(?:[.,]\d+)?"
DURATION = re.compile(rf"^P(?:{_N}W|(?=\d|T\d)(?:{_N}Y)?(?:{_N}M)?(?:{_N}D)?"
                      rf"(?:T(?=\d)(?:{_N}H)?(?:{_N}M)?(?:{_N}S)?)?)$")
# RFC 5646 language tags (well-formed), case-insensitive; duplicate variants or extension singletons
# make one invalid, which the regular expression alone cannot see.
LANGUAGE_TAG = re.compile(
    r"^(?:(?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4}|[a-z]{5,8})(?:-[a-z]{4})?(?:-(?:[a-z]{2}|\d{3}))?"
    r"(?P<variants>(?:-(?:[a-z0-9]{5,8}|\d[a-z0-9]{3}))*)(?P<extensions>(?:-[0-9a-wyz](?:-[a-z0-9]{2,8})+)*)"
    r"(?:-x(?:-[a-z0-9]{1,8})+)?|x(?:-[a-z0-9]{1,8})+)$", re.IGNORECASE)
IRREGULAR_TAGS = frozenset({"en-gb-oed", "i-ami", "i-bnn", "i-default", "i-enochian", "i-hak", "i-klingon", "i-lux",
                            "i-mingo", "i-navajo", "i-pwn", "i-tao", "i-tay", "i-tsu", "sgn-be-fr", "sgn-be-nl",
                            "sgn-ch-de"})


class StatementInvalid(ValueError):
    """The statement (or the query) breaks a rule of the specification: 400, nothing stored."""


def supported_version(header: str | None) -> bool:
    return header is not None and SPOKEN.fullmatch(header.strip()) is not None


def answer_version(header: str | None) -> str:
    """The version an answer speaks: the request's own (1.0.x or 2.0.x), else the latest."""
    return "1.0.3" if header is not None and header.strip().startswith("1.0") else VERSIONS[-1]


# --- Which statements are valid ---------------------------------------------------------------


def check(statement: Any, where: str = "statement") -> None:
    """Raise StatementInvalid naming the first property that breaks the rules."""
    _object(statement, where)
    _no_nulls(statement, where)
    _keys(statement, where, STATEMENT_KEYS)
    if "id" in statement:
        _uuid(statement["id"], f"{where}.id")
    if "version" in statement and not (isinstance(statement["version"], str)
                                       and SPOKEN.fullmatch(statement["version"])):
        raise StatementInvalid(f"{where}.version: must be 1.0.x or 2.0.x")
    _body(statement, where)
    if "stored" in statement:
        _timestamp(statement["stored"], f"{where}.stored")
    if "authority" in statement:
        _authority(statement["authority"], f"{where}.authority")


def _body(statement: dict, where: str, sub: bool = False) -> None:
    """What a statement and a SubStatement share."""
    for required in ("actor", "verb", "object"):
        if required not in statement:
            raise StatementInvalid(f"{where}.{required} is required")
    _agent(statement["actor"], f"{where}.actor")
    _verb(statement["verb"], f"{where}.verb")
    _target(statement["object"], f"{where}.object", sub)
    if "result" in statement:
        _result(statement["result"], f"{where}.result")
    if "context" in statement:
        _context(statement["context"], f"{where}.context", statement["object"])
    if "timestamp" in statement:
        _timestamp(statement["timestamp"], f"{where}.timestamp")
    if "attachments" in statement:
        _attachments(statement["attachments"], f"{where}.attachments")
    if statement["verb"].get("id") == VOIDED and statement["object"].get("objectType") != "StatementRef":
        raise StatementInvalid(f"{where}.object: a voiding statement's object is a StatementRef")


def _no_nulls(node: Any, where: str) -> None:
    """No property is null (Data 2.2), except an extension's value, which may be anything."""
    if isinstance(node, dict):
        for key, value in node.items():
            if value is None:
                raise StatementInvalid(f"{where}.{key}: null is not allowed")
            if key != "extensions":
                _no_nulls(value, f"{where}.{key}")
    elif isinstance(node, list):
        for k, value in enumerate(node):
            if value is None:
                raise StatementInvalid(f"{where}[{k}]: null is not allowed")
            _no_nulls(value, f"{where}[{k}]")


def _object(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise StatementInvalid(f"{where}: must be a JSON object")
    return value


def _keys(value: dict, where: str, allowed: frozenset, what: str = "") -> None:
    unknown = set(value) - allowed
    if unknown:
        raise StatementInvalid(f"{where}: {what or 'unknown'} propert{'ies' if len(unknown) > 1 else 'y'} "
                               f"{sorted(unknown)} (keys are case-sensitive)")


def _list(value: Any, where: str, non_empty: bool = False) -> list:
    if not isinstance(value, list) or (non_empty and not value):
        raise StatementInvalid(f"{where}: must be a{' non-empty' if non_empty else ''} list")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise StatementInvalid(f"{where}: must be a string")
    return value


def _uuid(value: Any, where: str) -> None:
    if not isinstance(value, str) or not UUID.match(value):
        raise StatementInvalid(f"{where}: must be a UUID (8-4-4-4-12 hexadecimal digits)")


def _iri(value: Any, where: str) -> None:
    if not isinstance(value, str) or not IRI.match(value):
        raise StatementInvalid(f"{where}: must be an IRI (an absolute address such as https://...)")


def language_tag(tag: Any) -> bool:
    """An RFC 5646 language tag: well-formed, no variant or extension singleton twice."""
    if not isinstance(tag, str):
        return False
    if tag.lower() in IRREGULAR_TAGS:
        return True
    match = LANGUAGE_TAG.match(tag)
    if match is None:
        return False
    variants = [v.lower() for v in (match["variants"] or "").split("-") if v]
    singletons = [s.lower() for s in re.findall(r"-([0-9a-wyz])(?=-)", match["extensions"] or "")]
    return len(set(variants)) == len(variants) and len(set(singletons)) == len(singletons)


def _language_map(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise StatementInvalid(f"{where}: must be a language map ({{\"fr-FR\": \"...\"}})")
    for tag, text in value.items():
        if not language_tag(tag):
            raise StatementInvalid(f"{where}: {tag!r} is not an RFC 5646 language tag")
        _string(text, f"{where}[{tag}]")


def _extensions(value: Any, where: str) -> None:
    for key in _object(value, where):
        _iri(key, f"{where} key {key!r}")


def _timestamp(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise StatementInvalid(f"{where}: must be an ISO 8601 timestamp")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise StatementInvalid(f"{where}: {value!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise StatementInvalid(f"{where}: needs an offset (Z or +01:00)")
    if value.endswith(("-00:00", "-0000", "-00")):
        raise StatementInvalid(f"{where}: the offset -00:00 is not allowed")
    return moment


def _agent(value: Any, where: str, member: bool = False) -> dict:
    """An Agent, or a Group: identified by exactly one IFI (a Group by at most one, else by its members)."""
    agent = _object(value, where)
    kind = agent.get("objectType", "Agent")
    if kind not in ("Agent", "Group") or (member and kind != "Agent"):
        raise StatementInvalid(f"{where}.objectType: {'a member is an Agent' if member else 'Agent or Group'}")
    _keys(agent, where, GROUP_KEYS if kind == "Group" else AGENT_KEYS, f"an {kind} has no")
    ifis = [k for k in IFIS if k in agent]
    if kind == "Agent" and len(ifis) != 1:
        raise StatementInvalid(f"{where}: an Agent has exactly one of mbox, mbox_sha1sum, openid, account")
    if kind == "Group":
        if len(ifis) > 1 or (not ifis and "member" not in agent):
            raise StatementInvalid(f"{where}: a Group is identified (one of mbox, ...) or lists its members")
        for k, one in enumerate(_list(agent.get("member", []), f"{where}.member", non_empty=not ifis)):
            _agent(one, f"{where}.member[{k}]", member=True)
    if "name" in agent:
        _string(agent["name"], f"{where}.name")
    _ifi(agent, where)
    return agent


def _ifi(agent: dict, where: str) -> None:
    if "mbox" in agent and not (isinstance(agent["mbox"], str) and MAILTO.match(agent["mbox"])):
        raise StatementInvalid(f"{where}.mbox: must be a mailto: IRI")
    if "mbox_sha1sum" in agent and not (isinstance(agent["mbox_sha1sum"], str) and SHA1.match(agent["mbox_sha1sum"])):
        raise StatementInvalid(f"{where}.mbox_sha1sum: must be 40 hexadecimal digits")
    if "openid" in agent:
        _iri(agent["openid"], f"{where}.openid")
    if "account" in agent:
        account = _object(agent["account"], f"{where}.account")
        if set(account) != {"homePage", "name"} or not isinstance(account["name"], str):
            raise StatementInvalid(f"{where}.account: needs homePage and name, nothing else")
        _iri(account["homePage"], f"{where}.account.homePage")


def _authority(value: Any, where: str) -> None:
    """An Agent, or the anonymous Group of exactly two Agents that OAuth's consumer and user make."""
    authority = _agent(value, where)
    if authority.get("objectType") == "Group" and (any(k in authority for k in IFIS)
                                                   or len(authority.get("member", [])) != 2):
        raise StatementInvalid(f"{where}: a Group authority is anonymous with exactly two Agents (OAuth)")


def _verb(value: Any, where: str) -> None:
    verb = _object(value, where)
    _keys(verb, where, frozenset({"id", "display"}), "a verb has only id and display, not")
    _iri(verb.get("id"), f"{where}.id")
    if "display" in verb:
        _language_map(verb["display"], f"{where}.display")


def _target(value: Any, where: str, inside_sub_statement: bool) -> None:
    target = _object(value, where)
    kind = target.get("objectType", "Activity")
    if kind == "Activity":
        _activity(target, where)
    elif kind in ("Agent", "Group"):
        _agent(target, where)
    elif kind == "StatementRef":
        _statement_ref(target, where)
    elif kind == "SubStatement" and not inside_sub_statement:
        _keys(target, where, SUB_STATEMENT_KEYS, "a SubStatement has no id, stored, version or authority:")
        _body(target, where, sub=True)
    else:
        raise StatementInvalid(f"{where}.objectType: {kind!r} is not an object a statement can have here "
                               "(Activity, Agent, Group, StatementRef, SubStatement; a SubStatement holds no other)")


def _statement_ref(value: Any, where: str) -> None:
    ref = _object(value, where)
    if ref.get("objectType") != "StatementRef" or set(ref) != {"objectType", "id"}:
        raise StatementInvalid(f"{where}: a StatementRef has objectType \"StatementRef\" and id, nothing else")
    _uuid(ref["id"], f"{where}.id")


def _activity(value: Any, where: str) -> None:
    activity = _object(value, where)
    if activity.get("objectType", "Activity") != "Activity":
        raise StatementInvalid(f"{where}.objectType: an Activity's is \"Activity\"")
    _keys(activity, where, ACTIVITY_KEYS, "an Activity has only objectType, id and definition, not")
    _iri(activity.get("id"), f"{where}.id")
    if "definition" in activity:
        _definition(activity["definition"], f"{where}.definition")


def _definition(value: Any, where: str) -> None:
    definition = _object(value, where)
    _keys(definition, where, DEFINITION_KEYS)
    for key in ("name", "description"):
        if key in definition:
            _language_map(definition[key], f"{where}.{key}")
    for key in ("type", "moreInfo"):
        if key in definition:
            _iri(definition[key], f"{where}.{key}")
    if "extensions" in definition:
        _extensions(definition["extensions"], f"{where}.extensions")
    interaction = [k for k in ("correctResponsesPattern", *COMPONENT_LISTS) if k in definition]
    if "interactionType" not in definition:
        if interaction:
            raise StatementInvalid(f"{where}: {interaction[0]} needs an interactionType")
        return
    if not isinstance(definition["interactionType"], str) or definition["interactionType"] not in INTERACTION_TYPES:
        raise StatementInvalid(f"{where}.interactionType: one of {sorted(INTERACTION_TYPES)} (case-sensitive)")
    if "correctResponsesPattern" in definition:
        for k, pattern in enumerate(_list(definition["correctResponsesPattern"], f"{where}.correctResponsesPattern")):
            _string(pattern, f"{where}.correctResponsesPattern[{k}]")
    for key in COMPONENT_LISTS:
        if key in definition:
            _components(definition[key], f"{where}.{key}")


def _components(value: Any, where: str) -> None:
    ids = []
    for k, component in enumerate(_list(value, where)):
        _keys(_object(component, f"{where}[{k}]"), f"{where}[{k}]", frozenset({"id", "description"}))
        ids.append(_string(component.get("id"), f"{where}[{k}].id"))
        if "description" in component:
            _language_map(component["description"], f"{where}[{k}].description")
    if len(set(ids)) != len(ids):
        raise StatementInvalid(f"{where}: the components' ids must be distinct")


def _result(value: Any, where: str) -> None:
    result = _object(value, where)
    _keys(result, where, RESULT_KEYS)
    for key in ("success", "completion"):
        if key in result and not isinstance(result[key], bool):
            raise StatementInvalid(f"{where}.{key}: must be true or false")
    if "response" in result:
        _string(result["response"], f"{where}.response")
    if "duration" in result and not (isinstance(result["duration"], str) and DURATION.match(result["duration"])):
        raise StatementInvalid(f"{where}.duration: must be an ISO 8601 duration (PT3H30M)")
    if "score" in result:
        _score(result["score"], f"{where}.score")
    if "extensions" in result:
        _extensions(result["extensions"], f"{where}.extensions")


def _score(value: Any, where: str) -> None:
    score = _object(value, where)
    _keys(score, where, SCORE_KEYS)
    if any(not isinstance(v, int | float) or isinstance(v, bool) for v in score.values()):
        raise StatementInvalid(f"{where}: numbers only")
    if "scaled" in score and not -1 <= score["scaled"] <= 1:
        raise StatementInvalid(f"{where}.scaled: between -1 and 1")
    if "min" in score and "max" in score and score["min"] > score["max"]:
        raise StatementInvalid(f"{where}: min above max")
    raw = score.get("raw")
    if raw is not None and not score.get("min", raw) <= raw <= score.get("max", raw):
        raise StatementInvalid(f"{where}.raw: between min and max")


def _context(value: Any, where: str, target: dict) -> None:
    context = _object(value, where)
    _keys(context, where, CONTEXT_KEYS)
    if "registration" in context:
        _uuid(context["registration"], f"{where}.registration")
    for key in ("revision", "platform"):
        if key in context:
            _string(context[key], f"{where}.{key}")
            if target.get("objectType", "Activity") != "Activity":
                raise StatementInvalid(f"{where}.{key}: only when the statement's object is an Activity")
    if "language" in context and not language_tag(context["language"]):
        raise StatementInvalid(f"{where}.language: must be an RFC 5646 language tag (fr-FR)")
    if "instructor" in context:
        _agent(context["instructor"], f"{where}.instructor")
    if "team" in context:
        if _object(context["team"], f"{where}.team").get("objectType") != "Group":
            raise StatementInvalid(f"{where}.team: must be a Group")
        _agent(context["team"], f"{where}.team")
    if "statement" in context:
        _statement_ref(context["statement"], f"{where}.statement")
    if "contextActivities" in context:
        _context_activities(context["contextActivities"], f"{where}.contextActivities")
    if "extensions" in context:
        _extensions(context["extensions"], f"{where}.extensions")
    for key, kind, actor, group in CONTEXT_ACTORS:
        for k, item in enumerate(_list(context.get(key, []), f"{where}.{key}")):
            _context_actor(item, f"{where}.{key}[{k}]", kind, actor, group)


def _context_activities(value: Any, where: str) -> None:
    activities = _object(value, where)
    _keys(activities, where, frozenset(CONTEXT_ACTIVITY_KINDS), "contextActivities has only parent, grouping, "
                                                                 "category and other, not")
    for kind, listed in activities.items():
        for k, activity in enumerate(listed if isinstance(listed, list) else [listed]):
            _activity(activity, f"{where}.{kind}[{k}]")


def _context_actor(value: Any, where: str, kind: str, actor: str, group: bool) -> None:
    item = _object(value, where)
    _keys(item, where, frozenset({"objectType", actor, "relevantTypes"}))
    if item.get("objectType") != kind:
        raise StatementInvalid(f"{where}.objectType: must be {kind!r}")
    if actor not in item or (group and _object(item[actor], f"{where}.{actor}").get("objectType") != "Group"):
        raise StatementInvalid(f"{where}.{actor}: {'a Group' if group else 'an Agent'} is required")
    _agent(item[actor], f"{where}.{actor}")
    if "relevantTypes" in item:
        for k, iri in enumerate(_list(item["relevantTypes"], f"{where}.relevantTypes", non_empty=True)):
            _iri(iri, f"{where}.relevantTypes[{k}]")


def _attachments(value: Any, where: str) -> None:
    for k, attachment in enumerate(_list(value, where)):
        here = f"{where}[{k}]"
        _keys(_object(attachment, here), here, ATTACHMENT_KEYS)
        missing = [key for key in ATTACHMENT_REQUIRED if key not in attachment]
        if missing:
            raise StatementInvalid(f"{here}.{missing[0]} is required")
        _iri(attachment["usageType"], f"{here}.usageType")
        _language_map(attachment["display"], f"{here}.display")
        if "description" in attachment:
            _language_map(attachment["description"], f"{here}.description")
        if not (isinstance(attachment["contentType"], str) and MEDIA_TYPE.match(attachment["contentType"])):
            raise StatementInvalid(f"{here}.contentType: must be an Internet media type (text/plain)")
        if not isinstance(attachment["length"], int) or isinstance(attachment["length"], bool):
            raise StatementInvalid(f"{here}.length: must be an integer")
        _string(attachment["sha2"], f"{here}.sha2")
        if "fileUrl" in attachment:
            _iri(attachment["fileUrl"], f"{here}.fileUrl")


def raw_attachments(statement: dict) -> list[str]:
    """The sha2 of each attachment the statement sends as data rather than by its fileUrl."""
    parts = [statement, statement.get("object") if isinstance(statement.get("object"), dict) else {}]
    return [a["sha2"] for part in parts for a in part.get("attachments", []) if "fileUrl" not in a]


# --- The form in which a statement is kept ---------------------------------------------------


def kept(statement: dict, statement_id: str, stored: datetime, authority: dict) -> dict:
    """The statement as the LRS keeps and gives it back: its id, stored and authority set, version
    1.0.0 when absent, every mbox replaced by its mbox_sha1sum (addresses stay in intake), each
    context activity in a list and UUIDs in lower case (what queries compare)."""
    out = normalised(statement)
    out["id"] = statement_id
    out["stored"] = stored.isoformat().replace("+00:00", "Z")
    out["authority"] = authority
    out.setdefault("version", "1.0.0")
    return out


def normalised(statement: dict) -> dict:
    out = _hashed(statement)  # a copy: _hashed rebuilds every object and array, the caller's stays as sent
    for part in (out, out.get("object")):
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("object"), dict) and part["object"].get("objectType") == "StatementRef":
            part["object"]["id"] = part["object"]["id"].lower()
        context = part.get("context")
        if isinstance(context, dict):
            _normal_context(context)
    return out


def _normal_context(context: dict) -> None:
    if isinstance(context.get("registration"), str):
        context["registration"] = context["registration"].lower()
    if isinstance(context.get("statement"), dict) and isinstance(context["statement"].get("id"), str):
        context["statement"]["id"] = context["statement"]["id"].lower()
    activities = context.get("contextActivities")
    if isinstance(activities, dict):
        context["contextActivities"] = {kind: value if isinstance(value, list) else [value]
                                        for kind, value in activities.items()}


def _hashed(node):
    if isinstance(node, dict):
        if isinstance(node.get("mbox"), str):
            node = {**node, "mbox_sha1sum": hashlib.sha1(node["mbox"].encode()).hexdigest()}
            del node["mbox"]
        if isinstance(node.get("mbox_sha1sum"), str):  # compared as given or as hashed here: one case
            node = {**node, "mbox_sha1sum": node["mbox_sha1sum"].lower()}
        return {k: _hashed(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_hashed(v) for v in node]
    return node


def actor_key(actor) -> str | None:
    """How a centre's LMS account mapping names an actor: by its account, or its mbox's SHA-1."""
    if not isinstance(actor, dict):
        return None
    account = actor.get("account")
    if isinstance(account, dict) and isinstance(account.get("name"), str):
        return f"account:{account.get('homePage', '')} {account['name']}"
    if isinstance(actor.get("mbox_sha1sum"), str):
        return f"mbox_sha1sum:{actor['mbox_sha1sum']}"
    if isinstance(actor.get("mbox"), str):
        return f"mbox_sha1sum:{hashlib.sha1(actor['mbox'].encode()).hexdigest()}"
    return None


def as_learner(statement: dict, application_id) -> dict:
    """The statement with its actor named as the learner's application, for the mapping to facts."""
    return {**statement, "actor": {"objectType": "Agent",
                                   "account": {"homePage": "https://parcours.example", "name": str(application_id)}}}


def same_statement(a: dict, b: dict) -> bool:
    """Whether two statements with one id say the same (what the LRS sets is not compared)."""
    def core(s: dict) -> dict:
        return {k: v for k, v in normalised(s).items() if k not in ("stored", "authority", "version", "id")}
    return core(a) == core(b)


# --- Which queries are valid, and what they match ----------------------------------------------

QUERY_PARAMETERS = frozenset({"statementId", "voidedStatementId", "agent", "verb", "activity", "registration",
                              "related_activities", "related_agents", "since", "until", "limit", "format",
                              "attachments", "ascending", "after"})
WITH_ONE_STATEMENT = frozenset({"statementId", "voidedStatementId", "attachments", "format"})
FORMATS = ("exact", "ids", "canonical")
MAX_PAGE = 1000


@dataclass(frozen=True)
class Query:
    """A GET of the Statement resource, read and checked (Communication 2.1.3)."""

    statement_id: str | None = None
    voided: bool = False
    agent: dict | None = None
    verb: str | None = None
    activity: str | None = None
    registration: str | None = None
    related_activities: bool = False
    related_agents: bool = False
    since: datetime | None = None
    until: datetime | None = None
    limit: int = MAX_PAGE
    format: str = "exact"
    attachments: bool = False
    ascending: bool = False
    after: tuple[datetime, str] | None = None

    @property
    def filtered(self) -> bool:
        """Whether a filter other than time or order applies (statements referring to a match match too)."""
        return any(v is not None for v in (self.agent, self.verb, self.activity, self.registration))


def read_query(pairs: list[tuple[str, str]]) -> Query:
    """The query a GET's parameters ask for, or StatementInvalid naming the first one at fault:
    an unknown parameter (names are case-sensitive), one given twice, statementId or
    voidedStatementId with anything but attachments and format, or a value of the wrong form."""
    names = [name for name, _ in pairs]
    unknown = sorted(set(names) - QUERY_PARAMETERS)
    if unknown:
        raise StatementInvalid(f"unknown parameter {unknown[0]!r} (names are case-sensitive: "
                               f"{', '.join(sorted(QUERY_PARAMETERS - {'after'}))})")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise StatementInvalid(f"{twice[0]}: given more than once")
    given = dict(pairs)
    one = [n for n in ("statementId", "voidedStatementId") if n in given]
    if one and (len(one) > 1 or set(given) - WITH_ONE_STATEMENT):
        raise StatementInvalid(f"{one[0]}: only attachments and format may come with it")
    fields = {field: parse(given[name], name) for name, (field, parse) in PARAMETERS.items() if name in given}
    if one:
        fields["voided"] = one[0] == "voidedStatementId"
    return Query(**fields)


def _query_uuid(value: str, name: str) -> str:
    _uuid(value, name)
    return value.lower()


def _query_iri(value: str, name: str) -> str:
    _iri(value, name)
    return value


def _query_agent(value: str, name: str) -> dict:
    try:
        agent = json.loads(value)
    except ValueError:
        raise StatementInvalid(f"{name}: must be an Agent or an identified Group, as JSON") from None
    _agent(agent, name)
    if not any(k in agent for k in IFIS):
        raise StatementInvalid(f"{name}: an Agent or an identified Group (an anonymous Group matches nothing)")
    return agent


def _query_moment(value: str, name: str) -> datetime:
    # A "+01:00" offset not percent-encoded arrives as a space: read it as the plus it was.
    return _timestamp(value.replace(" ", "+"), name)


def _query_bool(value: str, name: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise StatementInvalid(f"{name}: true or false")
    return value.lower() == "true"


def _query_limit(value: str, name: str) -> int:
    if not value.isdigit():
        raise StatementInvalid(f"{name}: a whole number, 0 for as many as the LRS gives")
    return min(int(value), MAX_PAGE) or MAX_PAGE


def _query_format(value: str, name: str) -> str:
    if value not in FORMATS:
        raise StatementInvalid(f"{name}: one of {', '.join(FORMATS)}")
    return value


def _query_cursor(value: str, name: str) -> tuple[datetime, str]:
    moment, _, statement_id = value.partition("|")
    try:
        return datetime.fromisoformat(moment), _query_uuid(statement_id, name)
    except (ValueError, StatementInvalid):
        raise StatementInvalid(f"{name}: not a cursor this LRS gave (follow `more` as given)") from None


# Each parameter: the Query field it sets and how its value is read.
PARAMETERS = {
    "statementId": ("statement_id", _query_uuid), "voidedStatementId": ("statement_id", _query_uuid),
    "agent": ("agent", _query_agent), "verb": ("verb", _query_iri), "activity": ("activity", _query_iri),
    "registration": ("registration", _query_uuid), "related_activities": ("related_activities", _query_bool),
    "related_agents": ("related_agents", _query_bool), "since": ("since", _query_moment),
    "until": ("until", _query_moment), "limit": ("limit", _query_limit), "format": ("format", _query_format),
    "attachments": ("attachments", _query_bool), "ascending": ("ascending", _query_bool),
    "after": ("after", _query_cursor),
}

# Where an agent, and an activity, stand in a kept statement, as JSON containment patterns: the
# narrow places (the actor and the object), then those related_agents / related_activities add.
# A SubStatement's own places are under "object"; a Group's members under "member".
AGENT_PLACES = ((("actor",), ("object",)),
                (("authority",), ("context", "instructor"), ("context", "team"), ("object", "actor"),
                 ("object", "object"), ("object", "context", "instructor"), ("object", "context", "team")))
CONTEXT_AGENT_PLACES = (("contextAgents", "agent"), ("contextGroups", "group"))
ACTIVITY_PLACES = ((("object",),), (("object", "object"),))


def _nested(path: tuple[str, ...], leaf: Any) -> dict:
    for key in reversed(path):
        leaf = {key: leaf}
    return leaf


def agent_patterns(agent: dict, related: bool) -> list[dict]:
    """What a kept statement contains when this agent (or identified group) is in it: its actor
    or object; with related_agents, also its authority, instructor, team, context agents and
    groups, a SubStatement's, and a member of any of these groups."""
    ifi = ifi_of(agent)
    places = AGENT_PLACES[0] + (AGENT_PLACES[1] if related else ())
    patterns = [_nested(place, ifi) for place in places]
    if related:
        patterns += [_nested(place, {"member": [ifi]}) for place in places]
        patterns += [_nested((*base, "context", key), [{actor: ifi}])
                     for base in ((), ("object",)) for key, actor in CONTEXT_AGENT_PLACES]
    return patterns


def ifi_of(agent: dict) -> dict:
    """The identifier an agent is matched by, as kept: an mbox as its mbox_sha1sum."""
    kept_form = _hashed(agent)
    return next({k: kept_form[k]} for k in ("mbox_sha1sum", "openid", "account") if k in kept_form)


def activity_patterns(activity: str, related: bool) -> list[dict]:
    """What a kept statement contains when it is about this activity: its object; with
    related_activities, also its context activities, and a SubStatement's object and context's."""
    places = ACTIVITY_PLACES[0] + (ACTIVITY_PLACES[1] if related else ())
    patterns = [_nested(place, {"id": activity}) for place in places]
    if related:
        patterns += [_nested((*base, "context", "contextActivities", kind), [{"id": activity}])
                     for base in ((), ("object",)) for kind in CONTEXT_ACTIVITY_KINDS]
    return patterns


def registration_pattern(registration: str) -> dict:
    return {"context": {"registration": registration}}


# --- The forms in which statements are given back ---------------------------------------------


def shown(statement: dict, form: str = "exact", languages: list[str] | None = None) -> dict:
    """A kept statement as a GET gives it: its timestamp, if it came without one, is when it was
    stored; `ids` keeps only the identifiers of agents, groups, activities and verbs; `canonical`
    keeps one language in each language map, the best of the Accept-Language header's."""
    out = normalised(statement)  # statements kept before the forms were (a single context activity)
    out["timestamp"] = out.get("timestamp") or out.get("stored")
    try:
        if form == "ids":
            return _reshaped(out, _ids_agent, lambda a: {"id": a["id"]}, lambda v: {"id": v["id"]})
        if form == "canonical":
            return _reshaped(out, lambda a: a, lambda a: _canonical_activity(a, languages or []),
                             lambda v: _one_language(v, "display", languages or []))
    except (KeyError, TypeError, AttributeError):
        pass  # one kept before today's rules, not of the shape a form needs: given exact
    return out


def _reshaped(statement: dict, agent, activity, verb) -> dict:
    """The statement with each agent or group, activity and verb (a SubStatement's too) remade."""
    out = dict(statement)
    if "verb" in out:
        out["verb"] = verb(out["verb"])
    for key in ("actor", "authority"):
        if key in out:
            out[key] = agent(out[key])
    target = out.get("object", {})
    kind = target.get("objectType", "Activity")
    if kind == "Activity":
        out["object"] = activity(target)
    elif kind in ("Agent", "Group"):
        out["object"] = agent(target)
    elif kind == "SubStatement":
        out["object"] = _reshaped(target, agent, activity, verb)
    if isinstance(out.get("context"), dict):
        out["context"] = _reshaped_context(out["context"], agent, activity)
    return out


def _reshaped_context(context: dict, agent, activity) -> dict:
    out = dict(context)
    for key in ("instructor", "team"):
        if key in out:
            out[key] = agent(out[key])
    if "contextActivities" in out:
        out["contextActivities"] = {kind: [activity(a) for a in listed]
                                    for kind, listed in out["contextActivities"].items()}
    for key, _, actor, _ in CONTEXT_ACTORS:
        if key in out:
            out[key] = [{**item, actor: agent(item[actor])} for item in out[key]]
    return out


def _ids_agent(agent: dict) -> dict:
    out = {k: agent[k] for k in ("objectType", *IFIS) if k in agent}
    if agent.get("objectType") == "Group" and not any(k in agent for k in IFIS):
        out["member"] = [_ids_agent(m) for m in agent.get("member", [])]
    return out


def _canonical_activity(activity: dict, languages: list[str]) -> dict:
    definition = activity.get("definition")
    if not isinstance(definition, dict):
        return activity
    definition = _one_language(_one_language(definition, "name", languages), "description", languages)
    for key in COMPONENT_LISTS:
        if key in definition:
            definition[key] = [_one_language(c, "description", languages) for c in definition[key]]
    return {**activity, "definition": definition}


def _one_language(holder: dict, key: str, languages: list[str]) -> dict:
    if not isinstance(holder.get(key), dict) or not holder[key]:
        return dict(holder)
    tag = best_language(list(holder[key]), languages)
    return {**holder, key: {tag: holder[key][tag]}}


def best_language(tags: list[str], languages: list[str]) -> str:
    """The tag to show of a language map's: the first of the caller's languages it has (exactly,
    else by primary language), else its first."""
    lowered = {t.lower(): t for t in tags}
    for wanted in (w.lower() for w in languages):
        if wanted in lowered:
            return lowered[wanted]
        near = [t for low, t in lowered.items() if low.split("-")[0] == wanted.split("-")[0]]
        if near:
            return near[0]
    return tags[0]


def accepted_languages(header: str | None) -> list[str]:
    """An Accept-Language header's languages, the preferred first (q values honoured, * ignored)."""
    ranked = []
    for k, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = re.search(r"q=([0-9.]+)", params)
        if tag and tag != "*":
            ranked.append((-float(quality[1]) if quality else -1.0, k, tag.strip()))
    return [tag for *_, tag in sorted(ranked)]
