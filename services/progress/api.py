"""Progress's HTTP routes."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from services.progress import access, service, store
from services.progress.domain import DomainError
from services.progress.responses import CorrectionResult, EnrolmentOut, EnrolmentSummary, FactBatchOut, FactResult
from services.progress.schemas import CorrectionIn, FactIn
from services.progress.unit import PgUnit
from shared.plumbing import auth
from shared.plumbing.batch import run_batch_at_once, summarise
from shared.plumbing.http import problem
from shared.plumbing.schemas import BatchIn, problems

router = APIRouter(dependencies=[Depends(auth.guard(access.POLICY))])
IDEMPOTENCY_HELP = ("Repeating a request with the same key returns the first result; the same key with another "
                    "body answers 409. Keys are your centre's own: another centre using the same string never "
                    "meets yours (a UUID key is the fact's event_id)")


def _holder(request: Request):
    """Whose idempotency keys these are: the centre's (whatever key it uses), else the key's."""
    principal = auth.principal_of(request)
    return principal.centre_id or principal.key_id


def _pool(request: Request):
    return request.app.state.runtime.pool


@router.post(
    "/facts", status_code=201, response_model=FactResult, responses=problems(404, 409, 422), tags=["progress"],
    summary="Post one training fact",
    description="started, attendance (hours), milestone, interrupted, resumed, exited (exit_reason, and "
    "dropout_cause for a drop-out). A repeated event_id answers 200 with the first result; the same "
    "event_id with another body answers 409.",
)
async def post_fact(body: FactIn, request: Request,
                    idempotency_key: str | None = Header(None, max_length=200, description=IDEMPOTENCY_HELP)):
    if idempotency_key is not None:
        key_id = service.idempotency_id(idempotency_key, _holder(request))
        if body.event_id is not None and body.event_id != key_id:
            return problem(422, "idempotency_mismatch", "event_id and Idempotency-Key name different facts")
        body = body.model_copy(update={"event_id": key_id})
    async with _pool(request).acquire() as conn, conn.transaction():
        await access.own_programme(conn, auth.principal_of(request), body.programme_id)
        result = await service.post_fact(PgUnit(conn), body)
    if result["result"] == "duplicate":
        return JSONResponse(FactResult(**result).model_dump(mode="json"), status_code=200)
    return result


@router.post(
    "/facts/{event_id}/corrections", status_code=201, response_model=CorrectionResult,
    responses=problems(404, 409, 422), tags=["progress"], summary="Void or amend a fact you posted",
    description="The enrolment is recomputed from the corrected history, and `training.corrected` carries the "
    "result to the key figures. Refused (409) when the corrected history would not hold, e.g. voiding the start "
    "of a training that has attendance.",
)
async def correct_fact(event_id: UUID, body: CorrectionIn, request: Request,
                       idempotency_key: str | None = Header(None, max_length=200, description=IDEMPOTENCY_HELP)):
    correction_id = service.idempotency_id(idempotency_key, _holder(request)) if idempotency_key else None
    async with _pool(request).acquire() as conn, conn.transaction():
        await access.own_fact(conn, auth.principal_of(request), event_id)
        result = await service.correct_fact(PgUnit(conn), event_id, body, correction_id)
    if result["result"] == "duplicate":
        return JSONResponse(CorrectionResult(**result).model_dump(mode="json"), status_code=200)
    return result


@router.post("/facts/batch", response_model=FactBatchOut, response_model_exclude_none=True, tags=["progress"],
             summary="Post up to 1,000 facts, each with its own result")
async def post_facts(body: BatchIn, request: Request) -> dict:
    post = access.post_facts_as(auth.principal_of(request))
    return summarise(await run_batch_at_once(_pool(request), body.items, FactIn, post,
                                             (DomainError, *access.REFUSALS)))


@router.get("/enrolments/summary", response_model=EnrolmentSummary, tags=["progress"],
            summary="Number of enrolments in each state")
async def enrolments_summary(request: Request) -> dict:
    async with _pool(request).acquire() as conn:
        states = await store.summary(conn)
    return {"states": states, "total": sum(states.values())}


@router.get("/enrolments/{learner_id}/{programme_id}", response_model=EnrolmentOut, responses=problems(404),
            tags=["progress"], summary="A learner's latest enrolment in a programme, with its facts and her others")
async def get_enrolment(learner_id: UUID, programme_id: UUID, request: Request):
    async with _pool(request).acquire() as conn:
        await access.own_programme(conn, auth.principal_of(request), programme_id)
        view = await store.enrolment_view(conn, learner_id, programme_id)
    if view is None:
        return problem(404, "not_found", f"no enrolment of learner {learner_id} in programme {programme_id}")
    return access.shown(auth.principal_of(request), view)


@router.get("/enrolments/{enrolment_id}", response_model=EnrolmentOut, responses=problems(404), tags=["progress"],
            summary="One enrolment, by its id or its admitted application's, with its facts and the learner's others "
                    "in the programme")
async def get_enrolment_by_id(enrolment_id: UUID, request: Request):
    principal = auth.principal_of(request)
    async with _pool(request).acquire() as conn:
        named = await store.enrolment_named(conn, enrolment_id)
        if named is not None:
            await access.own_programme(conn, principal, named["programme_id"])
            view = await store.enrolment_view(conn, named["learner_id"], named["programme_id"],
                                              named["enrolment_id"])
    if named is None:
        return problem(404, "not_found", f"no enrolment {enrolment_id}")
    return access.shown(principal, view)
