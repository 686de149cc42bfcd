"""The raw ceiling of xAPI statements: what this machine can do for "a batch of statements posted
over HTTP, made durable", with the LRS's client, payloads, PostgreSQL server and tables, and
nothing else. A bare ASGI app under uvicorn (the services' server): the body parsed, each
statement's row, its fact's row and its event's outbox row written with COPY in one transaction,
the ids answered. No framework, no access check, no validation, no mapping, no state machine, no
relay: the LRS is compared with it in the same run (`xapi.ceiling`).

Run as `python -m bench.xapi_ceiling` with PARCOURS_PROGRESS_DATABASE_URL (a database migrated
for progress) and PARCOURS_PROGRESS_PORT, as a service is.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import UTC, datetime

import asyncpg
import uvicorn
from pydantic_core import from_json, to_json

PROGRAMME_ID = "https://parcours.example/xapi/programme_id"
STATEMENT_COLUMNS = ["statement_id", "centre_id", "statement", "stored_at", "verb", "status", "code", "reason",
                     "event_id"]
FACT_COLUMNS = ["event_id", "enrolment_id", "learner_id", "programme_id", "fact_type", "occurred_at", "data",
                "body_hash"]
OUTBOX_COLUMNS = ["topic", "key", "payload", "headers", "event_id", "event_type"]
HEADERS = {"event_type": "training.attendance"}


def _jsonb(value) -> bytes:
    return b"\x01" + to_json(value)  # jsonb's binary form: a version byte, then the text


async def _connection(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn)
    await conn.set_type_codec("jsonb", encoder=_jsonb, decoder=lambda b: from_json(b[1:]), schema="pg_catalog",
                              format="binary")
    return conn


def _rows(statements: list[dict], now: datetime) -> tuple[list, list, list, list[str]]:
    kept, facts, outbox, ids = [], [], [], []
    for statement in statements:
        sid = uuid.UUID(statement.get("id") or str(uuid.uuid4()))
        event_id = uuid.uuid4()
        learner = uuid.UUID(statement["actor"]["account"]["name"])
        programme = uuid.UUID(statement["context"]["extensions"][PROGRAMME_ID])
        at = datetime.fromisoformat(statement["timestamp"])
        kept.append((sid, None, statement, now, statement["verb"]["id"], "applied", None, None, event_id))
        facts.append((event_id, learner, learner, programme, "attendance", at, {"hours": 3.0}, ""))
        event = {"event_id": str(event_id), "occurred_at": statement["timestamp"], "learner_id": str(learner),
                 "programme_id": str(programme), "hours": 3.0}
        outbox.append(("training", learner.bytes, to_json(event), HEADERS, event_id, "training.attendance"))
        ids.append(str(sid))
    return kept, facts, outbox, ids


class Ceiling:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn: asyncpg.Connection | None = None
        self.lock = asyncio.Lock()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await receive()  # startup
            self.conn = await _connection(self.dsn)
            await send({"type": "lifespan.startup.complete"})
            await receive()  # shutdown
            await self.conn.close()
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        answer = b'"ready"'
        if scope["method"] == "POST":
            kept, facts, outbox, ids = _rows(from_json(body), datetime.now(UTC))
            async with self.lock, self.conn.transaction():
                await self.conn.copy_records_to_table("xapi_statements", records=kept, columns=STATEMENT_COLUMNS)
                await self.conn.copy_records_to_table("facts", records=facts, columns=FACT_COLUMNS)
                await self.conn.copy_records_to_table("outbox", records=outbox, columns=OUTBOX_COLUMNS)
            answer = to_json(ids)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": answer})


if __name__ == "__main__":
    uvicorn.run(Ceiling(os.environ["PARCOURS_PROGRESS_DATABASE_URL"]), host="127.0.0.1",
                port=int(os.environ["PARCOURS_PROGRESS_PORT"]), log_level="warning", access_log=False)
