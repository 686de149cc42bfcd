"""Who may call which progress route, and a centre's reach: its own programmes' learners only."""

from __future__ import annotations

from services.progress import service, store
from services.progress.unit import PgUnit
from shared.plumbing import auth
from shared.plumbing.batch import apply_allowed

ANY = ("centre", "followup", "manager")
POLICY: auth.Policy = {
    ("POST", "/facts"): ("centre",), ("POST", "/facts/batch"): ("centre",),
    ("POST", "/facts/{event_id}/corrections"): ("centre",), ("POST", "/facts/csv"): ("centre",),
    ("GET", "/facts/csv/template"): ANY, ("POST", "/xapi/statements"): ("centre",),
    ("PUT", "/xapi/statements"): ("centre",), ("GET", "/xapi/statements"): ("centre",),
    ("GET", "/xapi/attention"): ("centre",), ("GET", "/xapi/about"): auth.PUBLIC,
    # xAPI: an LRS answers HEAD as it would GET, without the body (lrs_api strips it).
    ("HEAD", "/xapi/statements"): ("centre",), ("HEAD", "/xapi/about"): auth.PUBLIC,
    ("PUT", "/xapi/accounts"): ("centre",),
    ("GET", "/enrolments/{learner_id}/{programme_id}"): ("centre",), ("GET", "/enrolments/summary"): ("manager",),
    ("GET", "/enrolments/{enrolment_id}"): ("centre",),
}
REFUSALS = (auth.Forbidden,)


async def own_programme(conn, principal: auth.Principal, programme_id) -> None:
    if principal.role == "centre":
        auth.check_centre(principal, await store.centre_of_programme(conn, programme_id), "this programme's")


def shown(principal: auth.Principal, view: dict) -> dict:
    """An enrolment as the caller may see it: a centre never gets the network-wide learner id."""
    if principal.role != "centre":
        return view
    hide = {"learner_id": None}
    return {**view, **hide, "other_enrolments": [{**o, **hide} for o in view.get("other_enrolments", [])]}


async def own_fact(conn, principal: auth.Principal, event_id) -> None:
    if principal.role == "centre":
        auth.check_centre(principal, await store.centre_of_fact(conn, event_id), "this fact's")


def post_facts_as(principal: auth.Principal):
    """service.post_facts, each fact refused for a programme out of the caller's reach."""

    async def post(conn, facts: list) -> list:
        if principal.role != "centre":
            return await service.post_facts(PgUnit(conn), facts)
        programme_ids = {f.programme_id for f in facts}
        centres = await store.centres_of_programmes(conn, list(programme_ids))
        denied = auth.out_of_reach(principal, programme_ids, centres, "this programme's")
        return await apply_allowed(facts, lambda f: f.programme_id, denied,
                                   lambda allowed: service.post_facts(PgUnit(conn), allowed))

    return post
