"""Outcomes's HTTP routes: the follow-up worklist, contact attempts, outcomes, and the key figures."""

from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime

from services.outcomes import network_figures, publications, service, store
from services.outcomes.domain import DomainError
from services.outcomes.responses import (
    FollowupDetailOut,
    FollowupOut,
    FollowupPage,
    KeyFiguresOut,
    NetworkFiguresOut,
    OutcomeBatchOut,
    OutcomeResult,
    PublicationChanges,
    PublicationOut,
    PublicationPage,
    StatsOut,
)
from services.outcomes.schemas import (
    AssignIn,
    AttemptIn,
    BreakdownBy,
    CloseIn,
    OutcomeIn,
    OutcomeItemIn,
    PublicationIn,
)
from services.outcomes.unit import PgUnit
from shared.contracts.vocabulary import FollowupStatus, FundingLine
from shared.plumbing import auth
from shared.plumbing.batch import run_batch, summarise
from shared.plumbing.schemas import BatchIn, problems

FOLLOWUP = ("followup",)
POLICY: auth.Policy = {
    ("GET", "/followups"): FOLLOWUP, ("GET", "/followups/{learner_id}/{programme_id}"): FOLLOWUP,
    ("GET", "/followups/{followup_id}"): FOLLOWUP,
    ("POST", "/followups/{followup_id}/attempts"): FOLLOWUP, ("POST", "/followups/{followup_id}/outcome"): FOLLOWUP,
    ("PUT", "/followups/{followup_id}/outcome"): FOLLOWUP, ("POST", "/followups/{followup_id}/close"): FOLLOWUP,
    ("POST", "/followups/{followup_id}/assign"): FOLLOWUP,
    ("POST", "/followups/{learner_id}/{programme_id}/attempts"): FOLLOWUP,
    ("POST", "/followups/{learner_id}/{programme_id}/outcome"): FOLLOWUP,
    ("PUT", "/followups/{learner_id}/{programme_id}/outcome"): FOLLOWUP,
    ("POST", "/followups/{learner_id}/{programme_id}/close"): FOLLOWUP,
    ("POST", "/followups/{learner_id}/{programme_id}/assign"): FOLLOWUP,
    ("POST", "/outcomes/batch"): FOLLOWUP,
    ("GET", "/key-figures"): ("manager", "followup"), ("GET", "/stats"): ("manager",),
    ("GET", "/network-figures"): ("manager",),
    ("POST", "/publications"): ("manager",), ("GET", "/publications"): ("manager",),
    ("GET", "/publications/{report_id}"): ("manager",), ("GET", "/publications/{report_id}/changes"): ("manager",),
}
router = APIRouter(dependencies=[Depends(auth.guard(POLICY))])
Status = FollowupStatus


def _pool(request: Request):
    return request.app.state.runtime.pool


def signed(request: Request, body):
    """The body with the acting person as recorded: the key's holder, the declared `staff` beside it
    (bodies without a `staff` field as they are)."""
    if "staff" not in type(body).model_fields:
        return body
    return body.model_copy(update={"staff": auth.acting(auth.principal_of(request), body.staff)})


def _today(request: Request) -> date:
    return request.app.state.clock()


async def _in_transaction(request: Request, action, *args):
    """Run one use case in one transaction, on the app's today (a refusal is answered by the app's handler)."""
    async with _pool(request).acquire() as conn, conn.transaction():
        return await action(PgUnit(conn), *args, today=_today(request))


@router.get("/followups", response_model=FollowupPage, tags=["follow-up"],
            summary="The follow-up worklist, most urgent first",
            description="Overdue first (oldest window first), then due or attempted, then scheduled. "
            "Repeat `status` to combine states, e.g. ?status=due&status=overdue.")
async def list_followups(
    request: Request,
    status: list[Status] | None = Query(None),
    programme_id: UUID | None = None,
    centre_id: UUID | None = None,
    staff: str | None = Query(None, max_length=100),
    learner_id: UUID | None = None,
    enrolment_id: UUID | None = Query(None, description="The enrolment (for an admission, the application's id)"),
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=10_000_000),
) -> FollowupPage:
    async with _pool(request).acquire() as conn:
        items, total = await store.list_followups(conn, _today(request), status, programme_id, centre_id, staff,
                                                  limit, offset, learner_id, enrolment_id)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


async def _by_learner(request: Request, learner_id: UUID, programme_id: UUID, action, *args):
    """The routes that name a follow-up by learner and programme: the one follow-up there, else a 4xx."""
    async def resolved(unit, today):
        return await action(unit, await service.resolve_followup(unit, learner_id, programme_id), *args, today=today)
    return await _in_transaction(request, resolved)


async def _detail(unit, followup_id, today):
    followup = await service.followup_detail(unit, followup_id, today=today)
    if followup is None:
        raise service.NotFound(f"no follow-up {followup_id}")
    return followup


@router.get("/followups/{followup_id}", response_model=FollowupDetailOut, responses=problems(404), tags=["follow-up"],
            summary="One follow-up with its contact attempts and outcome history")
async def get_followup(followup_id: UUID, request: Request):
    return await _in_transaction(request, _detail, followup_id)


@router.post("/followups/{followup_id}/attempts", status_code=201, response_model=FollowupOut,
             responses=problems(404, 409), tags=["follow-up"],
             summary="Log a contact attempt (a refusal closes the follow-up)")
async def log_attempt(followup_id: UUID, body: AttemptIn, request: Request):
    return await _in_transaction(request, service.log_attempt, followup_id, signed(request, body))


@router.post("/followups/{followup_id}/outcome", status_code=201, response_model=OutcomeResult,
             responses=problems(404, 409, 422), tags=["follow-up"],
             summary="Record the situation found at six months",
             description="Refused (409 not_due) before the window opens; accepted and flagged late after it closed. "
             "Tick every situation true at the date in `situations`: the first by priority counts.")
async def record_outcome(followup_id: UUID, body: OutcomeIn, request: Request):
    return await _in_transaction(request, service.record_outcome, followup_id, signed(request, body))


@router.put("/followups/{followup_id}/outcome", response_model=OutcomeResult, responses=problems(404, 409, 422),
            tags=["follow-up"],
            summary="Correct the recorded outcome (the history is kept; the figures use the latest)")
async def correct_outcome(followup_id: UUID, body: OutcomeIn, request: Request):
    return await _in_transaction(request, service.correct_outcome, followup_id, signed(request, body))


@router.post("/followups/{followup_id}/close", response_model=FollowupOut, responses=problems(404, 409, 422),
             tags=["follow-up"],
             summary="Close a follow-up as unreachable, refused, or exempt (with a reason)")
async def close_followup(followup_id: UUID, body: CloseIn, request: Request):
    return await _in_transaction(request, service.close_followup, followup_id, body)


@router.post("/followups/{followup_id}/assign", response_model=FollowupOut, responses=problems(404),
             tags=["follow-up"],
             summary="Assign a follow-up to a staff member (null to unassign)")
async def assign_followup(followup_id: UUID, body: AssignIn, request: Request):
    return await _in_transaction(request, service.assign_followup, followup_id, body.staff)


# The same, naming the follow-up by learner and programme: answered while she has one follow-up
# there; 409 ambiguous_followup (naming their ids) once she has several (one per enrolment).
BY_LEARNER = "/followups/{learner_id}/{programme_id}"
BY_LEARNER_HELP = "As the route by follow-up id, for a learner with one follow-up in the programme."


@router.get(BY_LEARNER, response_model=FollowupDetailOut, responses=problems(404, 409), tags=["follow-up"],
            summary="One follow-up, by learner and programme",
            description=BY_LEARNER_HELP)
async def get_followup_of(learner_id: UUID, programme_id: UUID, request: Request):
    return await _by_learner(request, learner_id, programme_id, _detail)


@router.post(BY_LEARNER + "/attempts", status_code=201, response_model=FollowupOut, responses=problems(404, 409),
             tags=["follow-up"], summary="Log a contact attempt, by "
             "learner and programme", description=BY_LEARNER_HELP)
async def log_attempt_of(learner_id: UUID, programme_id: UUID, body: AttemptIn, request: Request):
    return await _by_learner(request, learner_id, programme_id, service.log_attempt, signed(request, body))


@router.post(BY_LEARNER + "/outcome", status_code=201, response_model=OutcomeResult,
             responses=problems(404, 409, 422), tags=["follow-up"], summary="Record the situation, by "
             "learner and programme", description=BY_LEARNER_HELP)
async def record_outcome_of(learner_id: UUID, programme_id: UUID, body: OutcomeIn, request: Request):
    return await _by_learner(request, learner_id, programme_id, service.record_outcome, signed(request, body))


@router.put(BY_LEARNER + "/outcome", response_model=OutcomeResult, responses=problems(404, 409, 422),
            tags=["follow-up"], summary="Correct the recorded outcome, by learner and "
            "programme", description=BY_LEARNER_HELP)
async def correct_outcome_of(learner_id: UUID, programme_id: UUID, body: OutcomeIn, request: Request):
    return await _by_learner(request, learner_id, programme_id, service.correct_outcome, signed(request, body))


@router.post(BY_LEARNER + "/close", response_model=FollowupOut, responses=problems(404, 409, 422),
             tags=["follow-up"], summary="Close a follow-up, by learner and programme",
             description=BY_LEARNER_HELP)
async def close_followup_of(learner_id: UUID, programme_id: UUID, body: CloseIn, request: Request):
    return await _by_learner(request, learner_id, programme_id, service.close_followup, body)


@router.post(BY_LEARNER + "/assign", response_model=FollowupOut, responses=problems(404, 409),
             tags=["follow-up"], summary="Assign a follow-up, by learner and programme",
             description=BY_LEARNER_HELP)
async def assign_followup_of(learner_id: UUID, programme_id: UUID, body: AssignIn, request: Request):
    return await _by_learner(request, learner_id, programme_id, service.assign_followup, body.staff)


@router.post("/outcomes/batch", response_model=OutcomeBatchOut, response_model_exclude_none=True, tags=["follow-up"],
             summary="Record up to 1,000 outcomes",
             description="Each item names its follow-up by `followup_id`, by `enrolment_id` (for an admission, the "
             "application's id), or by `learner_id` and `programme_id`.")
async def record_outcomes(body: BatchIn, request: Request) -> dict:
    today = _today(request)

    async def apply(conn, item: OutcomeItemIn) -> dict:
        outcome = signed(request, OutcomeIn(**item.model_dump(exclude={"learner_id", "programme_id", "followup_id",
                                                                        "enrolment_id"})))
        unit = PgUnit(conn)
        return await service.record_outcome(unit, await service.followup_named(unit, item), outcome, today=today)

    return summarise(await run_batch(_pool(request), body.items, OutcomeItemIn, apply, (DomainError,)))


@router.get("/key-figures", response_model=KeyFiguresOut, response_model_exclude_unset=True, tags=["key figures"],
            summary="The network's key figures for one year",
            description="Counts, and rates with their numerator and denominator (definitions v1); "
            "optionally broken down by a programme attribute (region, département, programme, centre, job family, "
            "certification, delivery mode on 31 December, label year, funding line), for the exit or the entry "
            "cohort. With `suppress`, for publication: every count under it (zero excepted) is withheld, "
            "and so are enough others that none can be recomputed from what is shown (sums, differences, a "
            "rate times its denominator, across rows, columns and definitions); a withheld count or rate "
            "reads \"s\" (secret statistique), a withheld rate has no numerator or denominator.")
async def key_figures(
    request: Request,
    year: int = Query(ge=2000, le=2100),
    by: BreakdownBy | None = None,
    cohort: Literal["exit", "entry"] = "exit",
    funding_line: FundingLine | None = Query(None, description="Only the programmes of this funding line (each "
                                                                "funder is reported to separately)"),
    suppress: int | None = Query(None, ge=2, le=1000, description="Withhold cells under this size (20 is the "
                                 "usual threshold), and those that would give them away"),
    as_of: AwareDatetime | None = Query(None, description="The figures as known at this moment: late facts and "
                                                          "corrections recorded after it are ignored"),
) -> dict:
    return await service.key_figures(_pool(request), year, by, cohort, suppress, funding_line, as_of)


@router.get("/stats", response_model=StatsOut, tags=["key figures"],
            summary="Events applied by type, and follow-ups opened")
async def stats(request: Request) -> dict:
    async with _pool(request).acquire() as conn:
        return await store.stats(conn)


@router.post("/publications", status_code=201, response_model=PublicationOut, tags=["key figures"],
             summary="Publish the key figures of a year: frozen, with their hash",
             description="The figures as they are now (with the breakdown, cohort and suppression asked for; a "
             "published report is always suppressed) are stored as canonical JSON with their SHA-256. They are "
             "given back byte for byte at GET /publications/{report_id}, whatever is recorded later; "
             "GET /publications/{report_id}/changes compares them with the same report computed now.")
async def publish(body: PublicationIn, request: Request) -> dict:
    who = auth.acting(auth.principal_of(request), None) or "api"
    return await publications.publish(_pool(request), body.year, body.by, body.cohort, body.suppress, who,
                                      body.funding_line)


@router.get("/publications", response_model=PublicationPage, tags=["key figures"],
            summary="The published reports, latest first")
async def list_publications(request: Request, year: int | None = Query(None, ge=2000, le=2100)) -> dict:
    return {"items": await publications.publications(_pool(request), year)}


@router.get("/publications/{report_id}", response_class=Response, tags=["key figures"], responses={
    200: {"description": "The figures as published, byte for byte (canonical JSON); the X-Content-SHA256 header "
                         "is their hash", "content": {"application/json": {}}}, **problems(404)},
    summary="A published report, exactly as published")
async def get_publication(report_id: UUID, request: Request) -> Response:
    report = await publications.published(_pool(request), report_id)
    return Response(report["content"], media_type="application/json",
                    headers={"X-Content-SHA256": report["sha256"]})


@router.get("/publications/{report_id}/changes", response_model=PublicationChanges, tags=["key figures"],
            responses=problems(404), summary="What changed since a report was published, and why")
async def publication_changes(report_id: UUID, request: Request) -> dict:
    return await publications.changes(_pool(request), report_id)


@router.get("/network-figures", response_model=NetworkFiguresOut, tags=["key figures"],
            summary="The figures the network publishes beyond the rates",
            description="Target jobs ranked by their learners, programmes that changed their delivery mode during "
            "the year (and those back to their usual mode by 31 December), people trained since the first year, "
            "and the positive exit rate (gen_2020) of every exit cohort since then, pooled. With `suppress`, "
            "figures about people are withheld as in the key figures.")
async def get_network_figures(
    request: Request, year: int = Query(ge=2000, le=2100),
    suppress: int | None = Query(None, ge=2, le=1000, description="Withhold as /key-figures does"),
    funding_line: FundingLine | None = Query(None, description="Only the programmes of this funding line"),
) -> dict:
    return await network_figures.network_figures(_pool(request), year, suppress, funding_line)
