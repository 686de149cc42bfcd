"""Intake's HTTP routes: translate requests into use cases and results into responses."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from services.intake import service, store
from services.intake import store_catalogue as catalogue
from services.intake.domain import DomainError
from services.intake.responses import (
    ApplicationOut,
    ApplicationPage,
    BatchOut,
    CentreOut,
    CentrePage,
    ContactOut,
    ContactReadPage,
    DecisionOut,
    ErasureOut,
    ErasurePage,
    ModeOut,
    ProgrammeOut,
    ProgrammePage,
    SessionOut,
    SessionPage,
    TransitionOut,
)
from services.intake.schemas import (
    APPLICATION_EXAMPLE,
    ApplicationFilter,
    ApplicationIn,
    CentreIn,
    DecisionIn,
    DecisionItemIn,
    ModeChangeIn,
    ProgrammeIn,
    SessionIn,
)
from services.intake.unit import PgUnit
from shared.plumbing import auth
from shared.plumbing.batch import apply_allowed, run_batch_at_once, summarise
from shared.plumbing.erasure import tombstones
from shared.plumbing.http import problem
from shared.plumbing.schemas import NO_CONTROL, BatchIn, problems

ANY = ("centre", "followup", "manager")
# Who may call what (admin may call everything). A route missing here is refused.
POLICY: auth.Policy = {
    ("POST", "/centres"): auth.ADMIN_ONLY, ("POST", "/programmes"): auth.ADMIN_ONLY,
    ("POST", "/programmes/{programme_id}/sessions"): auth.ADMIN_ONLY,
    ("POST", "/programmes/{programme_id}/modes"): auth.ADMIN_ONLY,
    ("GET", "/centres"): ANY, ("GET", "/centres/{centre_id}"): ANY, ("GET", "/programmes"): ANY,
    ("GET", "/programmes/{programme_id}"): ANY, ("GET", "/sessions"): ANY, ("GET", "/sessions/{session_id}"): ANY,
    ("POST", "/applications"): ("centre",), ("POST", "/applications/batch"): ("centre",),
    ("GET", "/applications"): ("centre",), ("GET", "/applications/{application_id}"): ("centre",),
    ("GET", "/applications/{application_id}/transitions"): ("centre",),
    ("POST", "/applications/{application_id}/decision"): ("centre",), ("POST", "/decisions/batch"): ("centre",),
    ("GET", "/learners/{learner_id}/contact"): ("followup",),
    ("GET", "/contact-reads"): auth.ADMIN_ONLY, ("DELETE", "/learners/{learner_id}"): auth.ADMIN_ONLY,
    ("GET", "/erasures"): auth.ADMIN_ONLY,
}
router = APIRouter(dependencies=[Depends(auth.guard(POLICY))])

Actor = Annotated[str, Header(
    alias="X-Actor", min_length=1, max_length=100, pattern=NO_CONTROL,
    description="Who acts (a staff account, a system); recorded with every transition. Default: api",
    examples=["staff:lille-0042"],
)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


def _acting(request: Request, declared: str) -> str:
    """The actor a transition records: the key's holder, the X-Actor header beside it ("api": none sent)."""
    return auth.acting(auth.principal_of(request), None if declared == "api" else declared) or declared


def _pool(request: Request):
    return request.app.state.runtime.pool


async def _own_programme(conn, request: Request, programme_id) -> None:
    principal = auth.principal_of(request)
    if principal.role == "centre":
        auth.check_centre(principal, await store.centre_of_programme(conn, programme_id), "this programme's")


def _shown(principal: auth.Principal, row: dict) -> dict:
    """An application as the caller may see it: a centre never gets the network-wide learner id,
    which would tell it that a person is known elsewhere and name her in every event."""
    return {**row, "learner_id": None} if principal.role == "centre" else row


async def _own_application(conn, request: Request, application_id) -> None:
    principal = auth.principal_of(request)
    if principal.role == "centre":
        auth.check_centre(principal, await store.centre_of_application(conn, application_id), "this application's")


# --- the catalogue ------------------------------------------------------------------


@router.post(
    "/centres", status_code=201, response_model=CentreOut, tags=["catalogue"], responses=problems(409),
    summary="Register a training centre",
    description="Answers 201 for a new centre, 200 with the existing one for a known centre_id or, without "
    "a centre_id, a known SIRET; 409 when the SIRET is registered under another centre_id.",
)
async def create_centre(body: CentreIn, request: Request, response: Response):
    centre, created = await service.register_centre(_pool(request), body)
    if not created:
        response.status_code = 200
    return centre


@router.get("/centres", response_model=CentrePage, tags=["catalogue"], summary="List centres")
async def list_centres(
    request: Request,
    region: str | None = Query(None, pattern=r"^\d{2}$", description="INSEE region code"),
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict:
    async with _pool(request).acquire() as conn:
        items, total = await catalogue.list_centres(conn, region, limit, offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/centres/{centre_id}", response_model=CentreOut, tags=["catalogue"], responses=problems(404),
            summary="One centre")
async def get_centre(centre_id: UUID, request: Request):
    async with _pool(request).acquire() as conn:
        centre = await catalogue.get_centre(conn, centre_id)
    if centre is None:
        return problem(404, "not_found", f"centre {centre_id} does not exist")
    return centre


@router.post(
    "/programmes", status_code=201, response_model=ProgrammeOut, tags=["catalogue"], responses=problems(422),
    summary="Register a labelled programme and its first session",
    description="start_date and capacity describe the programme's first session, created with it "
    "(its id is first_session_id). For a registered centre, centre_name may be omitted and region and "
    "departement default to the centre's. Answers 200 with the existing programme for a known programme_id.",
)
async def create_programme(body: ProgrammeIn, request: Request, response: Response):
    programme, created = await service.register_programme(_pool(request), body)
    if not created:
        response.status_code = 200
    return programme


@router.get("/programmes", response_model=ProgrammePage, tags=["catalogue"], summary="List programmes")
async def list_programmes(request: Request, centre_id: UUID | None = None, limit: Limit = 100,
                          offset: Offset = 0) -> dict:
    async with _pool(request).acquire() as conn:
        items, total = await catalogue.list_programmes(conn, centre_id, limit, offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/programmes/{programme_id}", response_model=ProgrammeOut, tags=["catalogue"],
            responses=problems(404), summary="One programme, with its sessions",
            description="The sessions (with their admission counts) are shown to the programme's own centre, "
            "and to the network's staff; another centre sees the programme without them.")
async def get_programme(programme_id: UUID, request: Request):
    principal = auth.principal_of(request)
    async with _pool(request).acquire() as conn:
        programme = await catalogue.get_programme(conn, programme_id)
        if programme is None:
            return problem(404, "not_found", f"programme {programme_id} does not exist")
        if not principal.may_touch_centre(programme["centre_id"]):
            return programme
        sessions, _ = await catalogue.list_sessions(conn, programme_id, None, 1000, 0)
    return programme | {"sessions": sessions}


@router.post(
    "/programmes/{programme_id}/sessions", status_code=201, response_model=SessionOut, tags=["catalogue"],
    responses=problems(404, 409), summary="Schedule another session (cohort) of a programme",
    description="Answers 200 with the existing session for a known session_id.",
)
async def create_session(programme_id: UUID, body: SessionIn, request: Request, response: Response):
    session, created = await service.schedule_session(_pool(request), programme_id, body)
    if not created:
        response.status_code = 200
    return session


@router.post(
    "/programmes/{programme_id}/modes", status_code=201, response_model=list[ModeOut], tags=["catalogue"],
    responses=problems(404, 409), summary="Record a change of delivery mode from a given day",
    description="The programme's delivery mode is dated history: from `effective_on` it is `mode`. The same "
    "change again answers 200; another mode on the same day answers 409. Answers the whole history.",
)
async def change_mode(programme_id: UUID, body: ModeChangeIn, request: Request, response: Response):
    history, created = await service.change_mode(_pool(request), programme_id, body)
    if not created:
        response.status_code = 200
    return history


@router.get("/sessions", response_model=SessionPage, tags=["catalogue"], responses=problems(403),
            summary="List sessions, with their admitted and waitlisted counts",
            description="A centre's key lists its own centre's sessions only: admissions are the centre's business.")
async def list_sessions(request: Request, programme_id: UUID | None = None, centre_id: UUID | None = None,
                        limit: Limit = 100, offset: Offset = 0) -> dict:
    principal = auth.principal_of(request)
    if principal.role == "centre":
        auth.check_centre(principal, centre_id or principal.centre_id, "the sessions asked for")
        centre_id = principal.centre_id
    async with _pool(request).acquire() as conn:
        items, total = await catalogue.list_sessions(conn, programme_id, centre_id, limit, offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.get("/sessions/{session_id}", response_model=SessionOut, tags=["catalogue"], responses=problems(403, 404),
            summary="One session")
async def get_session(session_id: UUID, request: Request):
    async with _pool(request).acquire() as conn:
        session = await catalogue.get_session(conn, session_id)
        if session is not None:
            await _own_programme(conn, request, session["programme_id"])
    if session is None:
        return problem(404, "not_found", f"session {session_id} does not exist")
    return session


# --- applications -------------------------------------------------------------------


@router.post(
    "/applications", status_code=201, response_model=ApplicationOut, tags=["applications"],
    responses=problems(422), summary="Submit an application",
    description="Without session_id the application is for the programme's first session. Answers 201 "
    "for a new application, 200 with the existing one when the same person (same e-mail) already applied "
    "to this session.",
)
async def submit_application(body: ApplicationIn, request: Request, response: Response, actor: Actor = "api"):
    async with _pool(request).acquire() as conn, conn.transaction():
        await _own_programme(conn, request, body.programme_id)
        application, created = await service.submit_application(conn, body, _acting(request, actor))
    if not created:
        response.status_code = 200
    return _shown(auth.principal_of(request), application)


@router.post(
    "/applications/batch", response_model=BatchOut, tags=["applications"],
    summary="Submit up to 1,000 applications",
    description="Each item is an application as for POST /applications; each gets its own result.",
    openapi_extra={"requestBody": {"content": {"application/json": {"example": {"items": [APPLICATION_EXAMPLE]}}}}},
)
async def submit_applications(body: BatchIn, request: Request, actor: Actor = "api") -> dict:
    submit = _submit_as(auth.principal_of(request), _acting(request, actor))
    return summarise(await run_batch_at_once(_pool(request), body.items, ApplicationIn, submit,
                                             (DomainError, auth.Forbidden)))


def _submit_as(principal: auth.Principal, actor: str):
    """service.submit_applications as batch results, each application refused for a programme out of
    the caller's reach (checked before anything else, as POST /applications does)."""

    async def submit(conn, items: list[ApplicationIn]) -> list:
        denied = await _denied_programmes(conn, principal, {item.programme_id for item in items})

        async def apply(allowed: list) -> list:
            return [_batch_result(principal, o) for o in await service.submit_applications(conn, allowed, actor)]

        return await apply_allowed(items, lambda item: item.programme_id, denied, apply)

    return submit


async def _denied_programmes(conn, principal: auth.Principal, programme_ids: set) -> dict:
    """programme_id -> the refusal, for the programmes a centre's key may not apply to (unknown ones too)."""
    if principal.role != "centre":
        return {}
    centres = await store.centres_of_programmes(conn, list(programme_ids))
    return auth.out_of_reach(principal, programme_ids, centres, "this programme's")


def _batch_result(principal: auth.Principal, outcome):
    if isinstance(outcome, DomainError):
        return outcome
    application = _shown(principal, outcome["application"])
    return {"result": "created" if outcome["created"] else "duplicate", "status": application["status"],
            "application_id": application["application_id"], "learner_id": application["learner_id"]}


@router.get(
    "/applications", response_model=ApplicationPage, tags=["applications"],
    summary="List and search applications (no personal data)",
    description="For centre staff: by session, programme, centre, status and submission dates (calendar "
    "days in France, inclusive), oldest first, paginated. Rows hold pseudonymous ids, statuses, dates and "
    "the session, never a name or a contact: contact details are only at /learners/{learner_id}/contact.",
)
async def list_applications(request: Request, filters: Annotated[ApplicationFilter, Query()]) -> dict:
    principal = auth.principal_of(request)
    if principal.role == "centre":
        if filters.centre_id not in (None, principal.centre_id):
            auth.check_centre(principal, filters.centre_id, "the centre asked for")
        filters = filters.model_copy(update={"centre_id": principal.centre_id})
    async with _pool(request).acquire() as conn:
        items, total = await store.list_applications(conn, filters.model_dump())
    return {"items": [_shown(principal, item) for item in items], "total": total, "limit": filters.limit,
            "offset": filters.offset}


@router.get("/applications/{application_id}", response_model=ApplicationOut, tags=["applications"],
            responses=problems(404), summary="One application (no personal data)")
async def get_application(application_id: UUID, request: Request):
    async with _pool(request).acquire() as conn:
        await _own_application(conn, request, application_id)
        application = await store.get_application(conn, application_id)
    if application is None:
        return problem(404, "not_found", f"application {application_id} does not exist")
    return _shown(auth.principal_of(request), application)


@router.get("/applications/{application_id}/transitions", response_model=list[TransitionOut],
            tags=["applications"], responses=problems(404),
            summary="Every status an application went through, with who and when")
async def get_transitions(application_id: UUID, request: Request):
    async with _pool(request).acquire() as conn:
        await _own_application(conn, request, application_id)
        transitions = await store.list_transitions(conn, application_id)
    if not transitions:
        return problem(404, "not_found", f"application {application_id} does not exist")
    return transitions


@router.post(
    "/applications/{application_id}/decision", response_model=DecisionOut, tags=["applications"],
    responses=problems(404, 409, 422),
    summary="Screen, admit, waitlist, reject (with a reason code), record a withdrawal or a no-show",
    description="submitted → screened → admitted | waitlisted | rejected | withdrawn; waitlisted → admitted | "
    "rejected | withdrawn; admitted → withdrawn | no_show. Admitting past the session's capacity is "
    "refused (409). When an admitted candidate withdraws or does not show, the session's earliest "
    "waitlisted application is admitted in the same transaction (actor `waitlist`): its id is "
    "promoted_application_id. Repeating the current decision changes nothing (200).",
)
async def decide(application_id: UUID, body: DecisionIn, request: Request, actor: Actor = "api"):
    async with _pool(request).acquire() as conn, conn.transaction():
        await _own_application(conn, request, application_id)
        application, _, promoted = await service.decide_application(PgUnit(conn), application_id, body,
                                                                    _acting(request, actor))
    return _shown(auth.principal_of(request), application) | {"promoted_application_id": promoted}


@router.post("/decisions/batch", response_model=BatchOut, tags=["applications"],
             summary="Up to 1,000 decisions, each with its application_id",
             description="Each item is a decision as for POST /applications/{id}/decision, applied in order.",
             openapi_extra={"requestBody": {"content": {"application/json": {"example": {"items": [
                 {"application_id": "2a3b4c5d-6e7f-4809-9a1b-2c3d4e5f6a7b", "decision": "admitted",
                  "decided_at": "2020-02-01T09:00:00+01:00"}]}}}}})
async def decide_batch(body: BatchIn, request: Request, actor: Actor = "api") -> dict:
    decide = _decide_as(auth.principal_of(request), _acting(request, actor))
    return summarise(await run_batch_at_once(_pool(request), body.items, DecisionItemIn, decide,
                                             (DomainError, auth.Forbidden)))


def _decide_as(principal: auth.Principal, actor: str):
    """service.decide_applications as batch results, each decision refused for an application out of
    the caller's reach (checked before anything else, as POST /applications/{id}/decision does)."""

    async def decide(conn, items: list[DecisionItemIn]) -> list:
        denied = await _denied_applications(conn, principal, {item.application_id for item in items})

        async def apply(allowed: list) -> list:
            return [_decision_result(principal, o)
                    for o in await service.decide_applications(PgUnit(conn), allowed, actor)]

        return await apply_allowed(items, lambda item: item.application_id, denied, apply)

    return decide


async def _denied_applications(conn, principal: auth.Principal, application_ids: set) -> dict:
    """application_id -> the refusal, for the applications a centre's key may not decide on (unknown ones too)."""
    if principal.role != "centre":
        return {}
    centres = await store.centres_of_applications(conn, list(application_ids))
    return auth.out_of_reach(principal, application_ids, centres, "this application's")


def _decision_result(principal: auth.Principal, outcome):
    if isinstance(outcome, DomainError):
        return outcome
    application = _shown(principal, outcome["application"])
    return {"result": "applied" if outcome["changed"] else "unchanged", "status": application["status"],
            "application_id": application["application_id"], "learner_id": application["learner_id"],
            "promoted_application_id": outcome["promoted"]}


@router.get(
    "/learners/{learner_id}/contact", response_model=ContactOut, tags=["learners"], responses=problems(404),
    summary="A learner's contact details, for the follow-up staff at the moment they call",
    description="The details recorded with the application of a follow-up still open (the learner left, her "
    "follow-up is not closed): `enrolment_id` names it, else the latest. Anything else answers 404, for "
    "follow-up keys; an administrator reads any copy still kept. Every answered read is logged "
    "(GET /contact-reads).",
)
async def get_contact(learner_id: UUID, request: Request, enrolment_id: UUID | None = None):
    principal = auth.principal_of(request)
    async with _pool(request).acquire() as conn, conn.transaction():
        contact = await store.get_contact(conn, learner_id, enrolment_id, open_followup_only=principal.role != "admin")
        if contact is not None:  # every answered read is logged: who, whom, when
            await store.log_contact_read(conn, learner_id, principal.key_id)
    if contact is None:
        return problem(404, "not_found", f"no open follow-up with contact details for learner {learner_id}")
    return contact


@router.get("/contact-reads", response_model=ContactReadPage, tags=["learners"],
            summary="Who read contact details, whose and when (the access log), latest first")
async def list_contact_reads(request: Request, learner_id: UUID | None = None, since: datetime | None = None,
                             limit: Limit = 100) -> dict:
    async with _pool(request).acquire() as conn:
        return {"items": await store.contact_reads(conn, learner_id, since, limit)}


@router.get("/erasures", response_model=ErasurePage, tags=["learners"],
            summary="The tombstone list: every learner erased, and when",
            description="Kept so that erasures survive a restore: `parcours restore-check` applies it to a "
            "restored database (and reads an exported copy of it with --erasures).")
async def list_erasures(request: Request) -> dict:
    async with _pool(request).acquire() as conn:
        return {"items": await tombstones(conn)}


@router.delete("/learners/{learner_id}", response_model=ErasureOut, tags=["learners"], responses=problems(404),
               summary="Erase a learner's personal data (GDPR), everywhere",
               description="Names, e-mail, phone and birth year are removed here, and `learner.erased` tells the "
               "other services to remove any free text about the learner. The anonymous facts stay, so the key "
               "figures do not change. Repeating it answers 200 with `already_erased`.")
async def erase_learner(learner_id: UUID, request: Request):
    async with _pool(request).acquire() as conn, conn.transaction():
        return await service.erase_learner(conn, learner_id)
