"""The xAPI Statement resource's rules, as an LRS applies them before storing (xAPI 1.0.3 and 2.0,
Data 2.x): which statements are valid, and the form in which one is kept. Pure.

A statement refused here is answered 400 with its index and the property at fault, and nothing
of its request is stored. E-mail addresses never leave intake: an agent identified by `mbox` is
kept as its `mbox_sha1sum` (the SHA-1 of the mailto IRI, which is how xAPI compares them), and
an LMS account is matched to a learner by that sum (or its account), never by the address.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import datetime
from typing import Any

VERSIONS = ("1.0.3", "2.0.0")  # what GET /xapi/about announces
VERSION_HEADER = "X-Experience-API-Version"
VOIDED = "http://adlnet.gov/expapi/verbs/voided"
STATEMENT_KEYS = frozenset({"id", "actor", "verb", "object", "result", "context", "timestamp", "stored",
                            "authority", "version", "attachments", "objectType"})
SUB_STATEMENT_KEYS = frozenset({"actor", "verb", "object", "result", "context", "timestamp", "attachments",
                                "objectType"})
AGENT_KEYS = frozenset({"objectType", "name", "mbox", "mbox_sha1sum", "openid", "account", "member"})
IFIS = ("mbox", "mbox_sha1sum", "openid", "account")
RESULT_KEYS = frozenset({"score", "success", "completion", "response", "duration", "extensions"})
CONTEXT_KEYS = frozenset({"registration", "instructor", "team", "contextActivities", "revision", "platform",
                          "language", "statement", "extensions", "contextAgents", "contextGroups"})
IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
SHA1 = re.compile(r"^[0-9a-f]{40}$")
DURATION = re.compile(r"^P(?!$)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?"
                      r"(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$")
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")


class StatementInvalid(ValueError):
    """The statement breaks a rule of the specification: 400, nothing of the request stored."""


def supported_version(header: str | None) -> bool:
    return header is not None and re.fullmatch(r"(1\.0(\.\d+)?|2\.0(\.\d+)?)", header.strip()) is not None


def check(statement: Any, where: str = "statement") -> None:
    """Raise StatementInvalid naming the first property that breaks the rules."""
    _object(statement, where)
    unknown = set(statement) - STATEMENT_KEYS
    if unknown:
        raise StatementInvalid(f"{where}: unknown propert{'ies' if len(unknown) > 1 else 'y'} {sorted(unknown)}")
    if "id" in statement:
        _uuid(statement["id"], f"{where}.id")
    if "version" in statement and not (isinstance(statement["version"], str)
                                       and re.fullmatch(r"(1\.0(\.\d+)?|2\.0(\.\d+)?)", statement["version"])):
        raise StatementInvalid(f"{where}.version: must be 1.0.x or 2.0.x")
    _body(statement, where)
    if "timestamp" in statement:
        _timestamp(statement["timestamp"], f"{where}.timestamp")
    if "stored" in statement:
        _timestamp(statement["stored"], f"{where}.stored")
    if "authority" in statement:
        _agent(statement["authority"], f"{where}.authority")


def _body(statement: dict, where: str) -> None:
    for required in ("actor", "verb", "object"):
        if required not in statement:
            raise StatementInvalid(f"{where}.{required} is required")
    _agent(statement["actor"], f"{where}.actor")
    _verb(statement["verb"], f"{where}.verb")
    _target(statement["object"], f"{where}.object", where == "statement")
    if "result" in statement:
        _result(statement["result"], f"{where}.result")
    if "context" in statement:
        _context(statement["context"], f"{where}.context", statement["object"])
    if statement["verb"].get("id") == VOIDED:
        target = statement["object"]
        if not isinstance(target, dict) or target.get("objectType") != "StatementRef":
            raise StatementInvalid(f"{where}.object: a voiding statement's object is a StatementRef")


def _object(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise StatementInvalid(f"{where}: must be a JSON object")
    return value


def _uuid(value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise StatementInvalid(f"{where}: must be a UUID string")
    try:
        uuid.UUID(value)
    except ValueError:
        raise StatementInvalid(f"{where}: {value!r} is not a UUID") from None


def _iri(value: Any, where: str) -> None:
    if not isinstance(value, str) or not IRI.match(value):
        raise StatementInvalid(f"{where}: must be an IRI (an absolute address such as https://...)")


def _language_map(value: Any, where: str) -> None:
    if not isinstance(value, dict) or not all(isinstance(k, str) and LANGUAGE_TAG.match(k) and isinstance(v, str)
                                              for k, v in value.items()):
        raise StatementInvalid(f"{where}: must be a language map ({{\"fr-FR\": \"...\"}})")


def _timestamp(value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise StatementInvalid(f"{where}: must be an ISO 8601 timestamp")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise StatementInvalid(f"{where}: {value!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise StatementInvalid(f"{where}: needs an offset (Z or +01:00)")
    if value.endswith(("-00:00", "-0000", "-00")):
        raise StatementInvalid(f"{where}: the offset -00:00 is not allowed")


def _agent(value: Any, where: str, group_member: bool = False) -> None:
    agent = _object(value, where)
    kind = agent.get("objectType", "Agent")
    unknown = set(agent) - AGENT_KEYS
    if unknown or kind not in ("Agent", "Group"):
        raise StatementInvalid(f"{where}: not an Agent or a Group")
    ifis = [k for k in IFIS if k in agent]
    if kind == "Agent" and len(ifis) != 1:
        raise StatementInvalid(f"{where}: an Agent has exactly one of mbox, mbox_sha1sum, openid, account")
    if kind == "Group":
        if group_member:
            raise StatementInvalid(f"{where}: a Group's member is an Agent")
        if len(ifis) > 1 or (not ifis and not agent.get("member")):
            raise StatementInvalid(f"{where}: a Group is identified (one of mbox, ...) or lists its members")
        members = agent.get("member", [])
        if not isinstance(members, list):
            raise StatementInvalid(f"{where}.member: must be a list of Agents")
        for k, member in enumerate(members):
            _agent(member, f"{where}.member[{k}]", group_member=True)
    elif "member" in agent:
        raise StatementInvalid(f"{where}: only a Group has members")
    if "name" in agent and not isinstance(agent["name"], str):
        raise StatementInvalid(f"{where}.name: must be a string")
    _ifi(agent, where)


def _ifi(agent: dict, where: str) -> None:
    if "mbox" in agent and not (isinstance(agent["mbox"], str) and agent["mbox"].startswith("mailto:")
                                and "@" in agent["mbox"]):
        raise StatementInvalid(f"{where}.mbox: must be a mailto: IRI")
    if "mbox_sha1sum" in agent and not (isinstance(agent["mbox_sha1sum"], str) and SHA1.match(agent["mbox_sha1sum"])):
        raise StatementInvalid(f"{where}.mbox_sha1sum: must be 40 hexadecimal digits")
    if "openid" in agent:
        _iri(agent["openid"], f"{where}.openid")
    if "account" in agent:
        account = _object(agent["account"], f"{where}.account")
        if set(account) - {"homePage", "name"} or not isinstance(account.get("name"), str) or not account["name"]:
            raise StatementInvalid(f"{where}.account: needs homePage and name, nothing else")
        _iri(account.get("homePage"), f"{where}.account.homePage")


def _verb(value: Any, where: str) -> None:
    verb = _object(value, where)
    if set(verb) - {"id", "display"}:
        raise StatementInvalid(f"{where}: has only id and display")
    _iri(verb.get("id"), f"{where}.id")
    if "display" in verb:
        _language_map(verb["display"], f"{where}.display")


def _target(value: Any, where: str, top: bool) -> None:
    target = _object(value, where)
    kind = target.get("objectType", "Activity")
    if kind == "Activity":
        if set(target) - {"objectType", "id", "definition"}:
            raise StatementInvalid(f"{where}: an Activity has only objectType, id and definition")
        _iri(target.get("id"), f"{where}.id")
        if "definition" in target:
            definition = _object(target["definition"], f"{where}.definition")
            for key in ("name", "description"):
                if key in definition:
                    _language_map(definition[key], f"{where}.definition.{key}")
            if "type" in definition:
                _iri(definition["type"], f"{where}.definition.type")
    elif kind in ("Agent", "Group"):
        _agent(target, where)
    elif kind == "StatementRef":
        if set(target) != {"objectType", "id"}:
            raise StatementInvalid(f"{where}: a StatementRef has only objectType and id")
        _uuid(target["id"], f"{where}.id")
    elif kind == "SubStatement" and top:
        if set(target) - SUB_STATEMENT_KEYS:
            raise StatementInvalid(f"{where}: a SubStatement has no id, stored, version or authority")
        if isinstance(target.get("object"), dict) and target["object"].get("objectType") == "SubStatement":
            raise StatementInvalid(f"{where}.object: a SubStatement cannot hold another")
        _body(target, where)
        if "timestamp" in target:
            _timestamp(target["timestamp"], f"{where}.timestamp")
    else:
        raise StatementInvalid(f"{where}.objectType: {kind!r} is not an object a statement can have here")


def _result(value: Any, where: str) -> None:
    result = _object(value, where)
    if set(result) - RESULT_KEYS:
        raise StatementInvalid(f"{where}: unknown property {sorted(set(result) - RESULT_KEYS)}")
    for key in ("success", "completion"):
        if key in result and not isinstance(result[key], bool):
            raise StatementInvalid(f"{where}.{key}: must be true or false")
    if "duration" in result and not (isinstance(result["duration"], str) and DURATION.match(result["duration"])):
        raise StatementInvalid(f"{where}.duration: must be an ISO 8601 duration (PT3H30M)")
    if "score" in result:
        score = _object(result["score"], f"{where}.score")
        if set(score) - {"scaled", "raw", "min", "max"}:
            raise StatementInvalid(f"{where}.score: has only scaled, raw, min and max")
        if any(not isinstance(v, int | float) or isinstance(v, bool) for v in score.values()):
            raise StatementInvalid(f"{where}.score: numbers only")
        if "scaled" in score and not -1 <= score["scaled"] <= 1:
            raise StatementInvalid(f"{where}.score.scaled: between -1 and 1")
        if "min" in score and "max" in score and score["min"] > score["max"]:
            raise StatementInvalid(f"{where}.score: min above max")
        if "raw" in score and (score.get("min", score["raw"]) > score["raw"] or score["raw"] > score.get("max",
                                                                                                          score["raw"])):
            raise StatementInvalid(f"{where}.score.raw: between min and max")


def _context(value: Any, where: str, target: Any) -> None:
    context = _object(value, where)
    if set(context) - CONTEXT_KEYS:
        raise StatementInvalid(f"{where}: unknown property {sorted(set(context) - CONTEXT_KEYS)}")
    if "registration" in context:
        _uuid(context["registration"], f"{where}.registration")
    for key in ("revision", "platform"):
        if key in context:
            if not isinstance(context[key], str):
                raise StatementInvalid(f"{where}.{key}: must be a string")
            if isinstance(target, dict) and target.get("objectType", "Activity") != "Activity":
                raise StatementInvalid(f"{where}.{key}: only when the object is an Activity")
    if "instructor" in context:
        _agent(context["instructor"], f"{where}.instructor")
    if "team" in context:
        team = _object(context["team"], f"{where}.team")
        if team.get("objectType") != "Group":
            raise StatementInvalid(f"{where}.team: must be a Group")
        _agent(team, f"{where}.team")
    if "extensions" in context:
        extensions = _object(context["extensions"], f"{where}.extensions")
        for key in extensions:
            _iri(key, f"{where}.extensions key")


def kept(statement: dict, statement_id: str, stored: datetime, authority: dict) -> dict:
    """The statement as the LRS keeps and gives it back: its id, stored and authority set, version
    1.0.0 when absent, and every mbox replaced by its mbox_sha1sum (addresses stay in intake)."""
    out = _hashed(json.loads(json.dumps(statement)))
    out["id"] = statement_id
    out["stored"] = stored.isoformat().replace("+00:00", "Z")
    out["authority"] = authority
    out.setdefault("version", "1.0.0")
    return out


def _hashed(node):
    if isinstance(node, dict):
        if isinstance(node.get("mbox"), str):
            node = {**node, "mbox_sha1sum": hashlib.sha1(node["mbox"].encode()).hexdigest()}
            del node["mbox"]
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
        return {k: v for k, v in _hashed(s).items() if k not in ("stored", "authority", "version", "id")}
    return core(a) == core(b)
