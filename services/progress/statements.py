"""The LRS's use case: keep a centre's valid xAPI statements, and make training facts of those that
are (behind the door: a statement that is not a fact is kept and ignored, one that cannot be
placed yet is kept and listed as needing attention, with why). One transaction: statements,
facts and their events are kept together or not at all.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.progress import access, lrs, service, statements_store, xapi
from services.progress.domain import DomainError
from services.progress.schemas import CorrectionIn, FactIn
from services.progress.unit import PgUnit
from shared.plumbing import auth
from shared.plumbing.batch import Lent, run_batch_at_once
from shared.refusals import Invalid, Missing, Refusal

# What becomes of a statement that is no fact, by the mapping's refusal: a verb or an object that
# is not a training fact is kept and ignored; the rest would be a fact once fixed (a learner not
# admitted yet, an actor without an account): it needs attention.
IGNORED = frozenset({"not_a_fact", "unknown_verb"})
# Why a statement waits that something arriving later may mend, and so is tried again in the
# background: an earlier fact of the learner (a start before its attendance), the programme's
# centre, the admission (also tried at once when it comes: retry_for). A mapping mends `unmappable`
# (map_accounts tries those); a wrong value never mends itself.
RETRIED = ("invalid_transition", "out_of_order", "not_admitted", "forbidden", "ambiguous_enrolment")


class StatementConflict(Refusal):
    code = "statement_conflict"


class BadStatement(Invalid):
    code = "invalid_statement"


class UnknownStatement(Missing):
    code = "not_found"


def checked(statements: list, put_id: str | None = None) -> list[dict]:
    """Every statement valid, or BadStatement naming the first fault (nothing will be stored)."""
    seen: set[str] = set()
    for index, statement in enumerate(statements):
        where = "statement" if len(statements) == 1 else f"statement[{index}]"
        try:
            lrs.check(statement, where)
        except lrs.StatementInvalid as exc:
            raise BadStatement(str(exc)) from None
        sid = statement.get("id")
        if put_id is not None and sid is not None and sid.lower() != put_id.lower():
            raise BadStatement(f"{where}.id differs from the statementId asked for")
        if sid is not None:
            if sid.lower() in seen:
                raise BadStatement(f"{where}.id: {sid} is twice in this request")
            seen.add(sid.lower())
    return statements


async def store(pool, principal: auth.Principal, statements: list[dict], put_id: str | None = None) -> list[str]:
    """Keep the statements (all of them or none) and apply the facts they stand for; their ids."""
    ids = [str(uuid.UUID(put_id or s.get("id") or str(uuid.uuid4()))) for s in statements]
    now = datetime.now(UTC)
    authority = {"objectType": "Agent", "name": principal.name or "parcours",
                 "account": {"homePage": "https://parcours.example/keys", "name": str(principal.key_id)}}
    async with pool.acquire() as conn, conn.transaction():
        known = await statements_store.existing(conn, [uuid.UUID(i) for i in ids])
        new = []
        for statement, sid in zip(statements, ids, strict=True):
            if uuid.UUID(sid) in known:
                kept, centre_id = known[uuid.UUID(sid)]
                # An id is the LRS's, not the centre's: another centre's id is a conflict whatever the
                # content, so that "the same again" never answers for a statement kept for another.
                if centre_id != principal.centre_id or not lrs.same_statement(kept, statement):
                    raise StatementConflict(f"statement {sid} is already kept with other content")
                continue
            new.append(lrs.kept(statement, sid, now, authority))
        rows = await _mapped(conn, principal, new, now)
        await statements_store.insert(conn, rows)
        for kept in new:
            if kept["verb"]["id"] == lrs.VOIDED:
                await _void(conn, principal, kept)
        # A start that arrives after the attendance it allows (in this request or an earlier one):
        # what waits under the same LMS account is tried again at once, in the order of timestamps.
        await retry_for(conn, sorted({_account(row[2]) for row in rows if row[5] == "applied"} - {None}))
    return ids


async def retry_for(conn, application_ids: list) -> int:
    """Apply the statements that waited for these admissions (their actor names the application):
    each as its centre's key would have, in the order of their timestamps (a start before the
    attendance it allows, whatever order they came in). Returns those applied."""
    if not application_ids:
        return 0
    return await _retry(conn, await statements_store.waiting_for(conn, [str(a) for a in application_ids]))


async def retry_due(pool, limit: int = 500) -> int:
    """One background pass: the waiting statements whose turn has come (RETRIED), tried again in the
    order of their timestamps; those still waiting are tried again later, less often. Returns those
    applied."""
    async with pool.acquire() as conn, conn.transaction():
        waiting = await statements_store.due(conn, list(RETRIED), limit)
        return await _retry(conn, waiting)


async def _retry(conn, waiting: list[dict]) -> int:
    """Try these waiting statements again, in the order of their timestamps, each as its centre's key
    would; those still waiting are postponed (DUE). Returns those applied."""
    waiting.sort(key=lambda w: _moment(w["statement"].get("timestamp")))
    applied = 0
    for centre_id in dict.fromkeys(w["centre_id"] for w in waiting):
        principal = auth.Principal(None, "centre", centre_id) if centre_id else auth.ANONYMOUS_ADMIN
        mine = [w for w in waiting if w["centre_id"] == centre_id]
        outcomes = await _outcomes(conn, principal, [w["statement"] for w in mine])
        rows = [(w["statement_id"], *outcomes[k]) for k, w in enumerate(mine)]
        await statements_store.set_outcomes(conn, rows)
        await statements_store.postpone(conn, [row[0] for row in rows if row[1] == "attention"])
        applied += sum(status == "applied" for _, status, *_ in rows)
    return applied


async def map_accounts(pool, principal: auth.Principal, items: list[dict]) -> dict:
    """A centre's LMS accounts mapped to its applications; the statements that waited for them are
    tried again. Returns how many accounts were mapped and statements applied."""
    pairs = [(lrs.actor_key(item["actor"]), uuid.UUID(str(item["application_id"]))) for item in items]
    missing = [k for k, (key, _) in enumerate(pairs) if key is None]
    if missing:
        raise BadStatement(f"items[{missing[0]}].actor: an account (homePage and name), an mbox or an mbox_sha1sum")
    async with pool.acquire() as conn, conn.transaction():
        await statements_store.map_accounts(conn, principal.centre_id, pairs)
        applied = await _retry(conn, await statements_store.waiting_of_centre(conn, principal.centre_id))
    return {"mapped": len(pairs), "applied": applied}


def _account(statement: dict) -> str | None:
    actor = statement.get("actor")
    account = actor.get("account") if isinstance(actor, dict) else None
    return str(account["name"]) if isinstance(account, dict) and account.get("name") else None


def _moment(timestamp) -> datetime:
    try:
        return datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))
    except ValueError:
        return datetime.max.replace(tzinfo=UTC)  # none or unreadable: last (it waits on anyway)


async def _mapped(conn, principal: auth.Principal, kept: list[dict], now: datetime) -> list[tuple]:
    """The rows to keep: each statement with what became of it (its fact applied, or why not)."""
    outcome = await _outcomes(conn, principal, kept)
    return [(uuid.UUID(s["id"]), principal.centre_id, s, now, s["verb"]["id"], *outcome[k])
            for k, s in enumerate(kept)]


async def _outcomes(conn, principal: auth.Principal, kept: list[dict]) -> dict[int, tuple]:
    """index -> (status, code, reason, event_id): each statement made a fact, ignored, or waiting."""
    facts, places, outcome = [], [], {}
    mapped = await statements_store.accounts(conn, principal.centre_id,
                                             [k for k in (lrs.actor_key(s.get("actor")) for s in kept) if k])
    for index, statement in enumerate(kept):
        application = mapped.get(lrs.actor_key(statement.get("actor")))
        if application is not None:  # the centre said which learner this LMS account is
            statement = lrs.as_learner(statement, application)
        if statement["verb"]["id"] == lrs.VOIDED:
            outcome[index] = ("ignored", "voiding", "voids another statement", None)
            continue
        try:
            facts.append(xapi.to_fact(statement))
            places.append(index)
        except xapi.MappingError as exc:
            outcome[index] = ("ignored" if exc.code in IGNORED else "attention", exc.code, str(exc), None)
    results = await run_batch_at_once(Lent(conn), facts, FactIn, access.post_facts_as(principal),
                                      (DomainError, *access.REFUSALS)) if facts else []
    for index, result in zip(places, results, strict=True):
        if result["result"] in ("applied", "duplicate"):
            outcome[index] = ("applied", None, None, uuid.UUID(str(result["event_id"])))
        else:
            outcome[index] = ("attention", result.get("code"), result.get("error"), None)
    return outcome


async def _void(conn, principal: auth.Principal, voiding: dict) -> None:
    """A voiding statement voids its target (the centre's own, itself no voiding), and the fact the
    target became, as POST /facts/{id}/corrections does."""
    target_id = uuid.UUID(voiding["object"]["id"])
    target = await statements_store.get(conn, target_id)
    if target is None or (principal.role == "centre" and target["centre_id"] != principal.centre_id):
        return  # a statement voiding an unknown one is kept; it voids nothing (xAPI: no error)
    if target["statement"]["verb"]["id"] == lrs.VOIDED or not await statements_store.void(conn, target_id,
                                                                                        uuid.UUID(voiding["id"])):
        return
    try:  # the target's fact, if it became one (its event id is the statement's)
        await service.correct_fact(PgUnit(conn), target_id, CorrectionIn(action="void", note="voided by the LMS"),
                                   correction_id=uuid.uuid5(uuid.NAMESPACE_URL, f"xapi-void:{voiding['id']}"))
    except Refusal:
        pass  # it became no fact, or one already voided


async def one(pool, principal: auth.Principal, statement_id: uuid.UUID, voided: bool) -> dict:
    """A kept statement of the caller's centre: a voided one only when asked for as voided."""
    async with pool.acquire() as conn:
        found = await statements_store.get(conn, statement_id)
    mine = found is not None and (principal.role != "centre" or found["centre_id"] == principal.centre_id)
    if not mine or (found["voided_by"] is not None) != voided:
        raise UnknownStatement(f"no {'voided ' if voided else ''}statement {statement_id}")
    return found["statement"]
