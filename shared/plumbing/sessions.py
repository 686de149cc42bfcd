"""The pages' sessions (staff, managers, centres): a key checked once at sign-in, then a random
session id in the cookie.

The session id is stored hashed (SHA-256), so a copy of the table opens no session. The staff
member's key, still needed to read contact details from intake with her own rights, is kept sealed
with a keystream derived from the session id (HMAC-SHA256 in counter mode, a fresh random id per
session): the table alone opens no key either. A session ends on sign-out, after `idle` without a
request or `absolute` after sign-in, and as soon as its key no longer authenticates (revoked,
expired): the key is checked again at every request. Each session has its own CSRF token, which
every staff form carries and every POST must return.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg

START = "INSERT INTO page_sessions (session_hash, key_id, sealed_key, csrf) VALUES ($1, $2, $3, $4)"
FIND = """
SELECT key_id, sealed_key, csrf, created_at, seen_at FROM page_sessions
WHERE session_hash = $1 AND ended_at IS NULL
"""
TOUCH = "UPDATE page_sessions SET seen_at = now() WHERE session_hash = $1"
END = "UPDATE page_sessions SET ended_at = now() WHERE session_hash = $1 AND ended_at IS NULL"


@dataclass(frozen=True)
class Session:
    session_id: str
    key_id: UUID
    key: str
    csrf: str


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def _keystream(session_id: str, length: int) -> bytes:
    blocks = b""
    counter = 0
    while len(blocks) < length:
        blocks += hmac.new(session_id.encode(), b"parcours-staff-key:%d" % counter, hashlib.sha256).digest()
        counter += 1
    return blocks[:length]


def seal(session_id: str, key: str) -> bytes:
    data = key.encode()
    return bytes(a ^ b for a, b in zip(data, _keystream(session_id, len(data)), strict=True))


def unseal(session_id: str, sealed: bytes) -> str:
    return bytes(a ^ b for a, b in zip(sealed, _keystream(session_id, len(sealed)), strict=True)).decode()


async def start(conn: asyncpg.Connection, key_id: UUID, key: str) -> Session:
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    await conn.execute(START, _hash(session_id), key_id, seal(session_id, key), csrf)
    return Session(session_id, key_id, key, csrf)


async def find(conn: asyncpg.Connection, session_id: str, idle: timedelta, absolute: timedelta) -> Session | None:
    """The live session of this id, or None (unknown, ended, or expired now: then ended)."""
    row = await conn.fetchrow(FIND, _hash(session_id))
    if row is None:
        return None
    now = datetime.now(UTC)
    if now - row["seen_at"] > idle or now - row["created_at"] > absolute:
        await end(conn, session_id)
        return None
    await conn.execute(TOUCH, _hash(session_id))
    return Session(session_id, row["key_id"], unseal(session_id, row["sealed_key"]), row["csrf"])


async def end(conn: asyncpg.Connection, session_id: str) -> None:
    await conn.execute(END, _hash(session_id))


def same_csrf(session: Session, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(session.csrf, sent)
