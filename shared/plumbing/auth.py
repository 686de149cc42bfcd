"""API keys: who is calling, with which role, for which centre.

Roles: `admin` (everything), `centre` (its own centre's programmes and learners), `followup`
(follow-up staff), `manager` (key figures). Keys are random tokens shown once; only their SHA-256
is stored (a token has 256 bits of entropy, so a plain hash is enough). `/metrics` and `/health`
need no key and carry nothing personal.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from fastapi import Request

ROLES = ("admin", "centre", "followup", "manager")
TOKEN_PREFIX = "pk_"
UPSERT_KEY = """
INSERT INTO api_keys (key_id, name, role, centre_id, key_hash, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (key_id) DO NOTHING
"""
REVOKE_KEY = "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL RETURNING key_id"
LIST_KEYS = "SELECT key_id, name, role, centre_id, created_at, expires_at, revoked_at FROM api_keys ORDER BY created_at"
FIND_KEY = "SELECT key_id, name, role, centre_id, expires_at, revoked_at FROM api_keys WHERE key_hash = $1"


class Unauthenticated(Exception):
    """401: no key, or a key that is unknown, revoked or expired."""


class Forbidden(Exception):
    """403: a valid key whose role or centre does not reach this (also a per-item refusal in batches)."""

    status = 403
    code = "forbidden"


@dataclass(frozen=True)
class Principal:
    key_id: uuid.UUID | None
    role: str
    centre_id: uuid.UUID | None = None
    name: str | None = None  # the key's name: who holds it

    def may_touch_centre(self, centre_id) -> bool:
        return self.role != "centre" or (centre_id is not None and centre_id == self.centre_id)


ANONYMOUS_ADMIN = Principal(None, "admin")  # when a deployment turns keys off (tests of other concerns)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def store_key(pool: asyncpg.Pool, key_id, name, role, centre_id, key_hash, expires_at) -> None:
    await pool.execute(UPSERT_KEY, key_id, name, role, centre_id, key_hash, expires_at)


async def revoke_key(pool: asyncpg.Pool, key_id) -> bool:
    return await pool.fetchval(REVOKE_KEY, key_id) is not None


async def list_keys(pool: asyncpg.Pool) -> list[dict]:
    return [dict(r) for r in await pool.fetch(LIST_KEYS)]


class KeyChecker:
    """Looks keys up in the service's own table, with a short cache (revocation shows within seconds)."""

    def __init__(self, pool_of, required: bool = True, cache_seconds: float = 5.0) -> None:
        self._pool_of = pool_of
        self.required = required
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._ttl = cache_seconds

    async def principal(self, request: Request) -> Principal:
        if not self.required:
            return ANONYMOUS_ADMIN
        token, claimed = credentials_of(request)
        if not token:
            raise Unauthenticated("an API key is required (Authorization: Bearer <key>, or HTTP Basic with the "
                                  "key's id as user and the key as password)")
        principal = await self.principal_for_token(self._pool_of(request), token)
        if claimed is not None and claimed != str(principal.key_id):
            raise Unauthenticated("HTTP Basic: the user is the key's id (parcours keys list), the password the key")
        return principal

    async def principal_for_token(self, pool: asyncpg.Pool, token: str) -> Principal:
        digest = hash_token(token)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is None or cached[0] < now:
            row = await pool.fetchrow(FIND_KEY, digest)
            cached = (now + self._ttl, _principal(row))
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = cached
        principal = cached[1]
        if principal is None:
            raise Unauthenticated("this API key is unknown, revoked or expired")
        if isinstance(principal, _Expiring) and principal.expires_at <= datetime.now(principal.expires_at.tzinfo):
            raise Unauthenticated("this API key is unknown, revoked or expired")
        return principal.principal if isinstance(principal, _Expiring) else principal


@dataclass(frozen=True)
class _Expiring:
    principal: Principal
    expires_at: datetime


def _principal(row) -> Principal | _Expiring | None:
    if row is None or row["revoked_at"] is not None:
        return None
    principal = Principal(row["key_id"], row["role"], row["centre_id"], row["name"])
    return _Expiring(principal, row["expires_at"]) if row["expires_at"] else principal


def credentials_of(request: Request) -> tuple[str | None, str | None]:
    """The key a request presents, and the key id it claims with it, if any.

    Bearer (or X-API-Key) carries the key alone. HTTP Basic carries the key's id as user and the
    key itself as password: LMSs and xAPI client libraries speak only Basic, and the id lets a
    key be told from another in their settings. Never a cookie: the staff page's session cookie
    opens the staff pages only (services/outcomes/sessions.py)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None, None
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None, None
        return password or None, user or None
    return request.headers.get("x-api-key"), None


def token_of(request: Request) -> str | None:
    return credentials_of(request)[0]


def allow(principal: Principal, *roles: str) -> Principal:
    if principal.role == "admin" or principal.role in roles:
        return principal
    raise Forbidden(f"a {principal.role} key cannot do this (needs {' or '.join(('admin',) + roles)})")


# Routes anyone may call (a login page). A real value, not (): an empty tuple means admin only,
# and `() is ()` holds in Python, so the two must never be told apart by identity.
PUBLIC: tuple[str, ...] = ("anyone",)
ADMIN_ONLY: tuple[str, ...] = ()
Policy = dict[tuple[str, str], tuple[str, ...]]


def guard(policy: Policy):
    """A router dependency: the roles each route (method, path template) admits. Fails closed:
    a route missing from the policy is refused, so a new route cannot be open by mistake."""

    async def check(request: Request) -> None:
        route = request.scope.get("route")
        roles = policy.get((request.method, getattr(route, "path", "")))
        if roles is None:
            raise Forbidden("this route has no access policy")
        if roles == PUBLIC:
            return
        # A principal already set comes from a staff session (outcomes' staff pages); else the request's key.
        principal = getattr(request.state, "principal", None) or await request.app.state.keys.principal(request)
        request.state.principal = allow(principal, *roles)

    return check


def acting(principal: Principal, declared: str | None) -> str | None:
    """Who acts, as recorded: the key's holder, with what the request declares (X-Actor, a staff name)
    beside it, never instead of it. Without keys (turned off), what is declared."""
    if principal.name is None:
        return declared
    return principal.name if not declared else f"{declared} (key: {principal.name})"


def principal_of(request: Request) -> Principal:
    return getattr(request.state, "principal", ANONYMOUS_ADMIN)


def check_centre(principal: Principal, centre_id, what: str) -> None:
    """A centre's key reaches only its own centre's programmes and learners."""
    if not principal.may_touch_centre(centre_id):
        raise Forbidden(f"this key belongs to another centre than {what}")


def out_of_reach(principal: Principal, keys: set, centres: dict, what: str) -> dict:
    """key -> the refusal, for the keys whose centre (`centres[key]`, absent when unknown) the
    principal may not touch: check_centre for a whole batch at once."""
    denied = {}
    for key in keys:
        try:
            check_centre(principal, centres.get(key), what)
        except Forbidden as exc:
            denied[key] = exc
    return denied
