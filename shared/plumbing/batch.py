"""Batches over HTTP: each item validated and applied on its own, all in one transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from pydantic import BaseModel, ValidationError


def describe_errors(errors: Sequence[dict]) -> list[dict]:
    """Validation errors as {field, message, type}, without echoing the input."""
    return [
        {"field": ".".join(str(p) for p in err.get("loc", ()) if p != "body"),
         "message": err.get("msg", "invalid"), "type": err.get("type")}
        for err in errors
    ]


def _validate(items: list[Any], model: type[BaseModel], results: list) -> list[tuple[int, BaseModel]]:
    parsed = []
    for index, raw in enumerate(items):
        try:
            parsed.append((index, model.model_validate(raw)))
        except ValidationError as exc:
            results[index] = {"index": index, "result": "refused", "code": "invalid",
                              "error": "invalid item", "errors": describe_errors(exc.errors())}
    return parsed


def _refusal(index: int, exc: BaseException) -> dict:
    return {"index": index, "result": "refused", "code": getattr(exc, "code", "refused"), "error": str(exc)}


async def run_batch(
    pool: asyncpg.Pool,
    items: list[Any],
    model: type[BaseModel],
    apply: Callable[[asyncpg.Connection, Any], Awaitable[dict]],
    refusals: tuple[type[BaseException], ...],
) -> list[dict]:
    """Return one result per item, in order.

    Items are applied in the order given, each inside a savepoint so that a refused item
    leaves nothing behind while the others commit together. A database outage aborts the
    whole batch (nothing stored; the caller answers 503 and the client retries it).
    """
    results: list[dict | None] = [None] * len(items)
    parsed = _validate(items, model, results)
    if parsed:
        async with pool.acquire() as conn, conn.transaction():
            for index, body in parsed:
                try:
                    async with conn.transaction():
                        results[index] = {"index": index, **await apply(conn, body)}
                except refusals as exc:
                    results[index] = _refusal(index, exc)
    return results  # type: ignore[return-value]


class Lent:
    """A pool that lends one connection, already inside a transaction, to run_batch_at_once: the
    batch's own transaction becomes a savepoint of the caller's."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    @asynccontextmanager
    async def acquire(self):
        yield self._conn


async def run_batch_at_once(
    pool: asyncpg.Pool,
    items: list[Any],
    model: type[BaseModel],
    apply_many: Callable[[asyncpg.Connection, list[Any]], Awaitable[list[dict | BaseException]]],
    refusals: tuple[type[BaseException], ...],
) -> list[dict]:
    """Like run_batch, for a use case that takes the whole batch at once (set-based, no savepoints).

    `apply_many` gets the valid items in order and returns, for each, its result or the refusal
    it raised nothing for: it must leave nothing behind for a refused item. An exception that is
    not a refusal aborts the whole batch.
    """
    results: list[dict | None] = [None] * len(items)
    parsed = _validate(items, model, results)
    if parsed:
        async with pool.acquire() as conn, conn.transaction():
            outcomes = await apply_many(conn, [body for _, body in parsed])
        for (index, _), outcome in zip(parsed, outcomes, strict=True):
            if isinstance(outcome, refusals):
                results[index] = _refusal(index, outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                results[index] = {"index": index, **outcome}
    return results  # type: ignore[return-value]


async def apply_allowed(items: list[Any], key_of: Callable[[Any], Any], denied: dict,
                        apply: Callable[[list[Any]], Awaitable[list]]) -> list:
    """One outcome per item, in order: the refusal of the items whose key is in `denied` (out of the
    caller's reach), what `apply` returns for the others (given them alone, in order)."""
    allowed = iter(await apply([item for item in items if key_of(item) not in denied]))
    return [denied[key_of(item)] if key_of(item) in denied else next(allowed) for item in items]


def summarise(results: list[dict]) -> dict:
    refused = sum(1 for r in results if r["result"] == "refused")
    return {"results": results, "accepted": len(results) - refused, "refused": refused}
