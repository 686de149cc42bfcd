"""`parcours keys create|list|revoke`: API keys, written to every service's own database.

A key is shown once, when created; only its hash is stored. Each service checks its callers
against its own copy, so none needs another to be up.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from parcours.admin import SETTINGS, database_url
from shared.plumbing import auth
from shared.plumbing.db import create_pool


def add_parser(sub) -> None:
    keys = sub.add_parser("keys", help="API keys: create (shown once), list, revoke")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    state = argparse_state()
    create = keys_sub.add_parser("create", parents=[state], help="create a key and print it once")
    create.add_argument("--role", choices=auth.ROLES, required=True)
    create.add_argument("--centre", type=uuid.UUID, help="the centre a `centre` key belongs to")
    create.add_argument("--name", required=True, help="who or what holds it, e.g. 'Simplon Lille LMS'")
    create.add_argument("--expires-days", type=int, default=365, help="valid this many days (default 365)")
    keys_sub.add_parser("list", parents=[state], help="every key (never the key itself)")
    revoke = keys_sub.add_parser("revoke", parents=[state], help="revoke a key in every service")
    revoke.add_argument("key_id", type=uuid.UUID)


def argparse_state():
    import argparse

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--state-dir", type=Path, default=Path(os.environ.get("PARCOURS_STATE_DIR", ".parcours")))
    return parser


async def create_key(dsns: list[str], name: str, role: str, centre_id, expires_days: int) -> tuple[uuid.UUID, str]:
    if role == "centre" and centre_id is None:
        raise ValueError("a centre key needs --centre")
    if role != "centre" and centre_id is not None:
        raise ValueError("only a centre key belongs to a centre")
    token, key_id = auth.new_token(), uuid.uuid4()
    expires_at = datetime.now(UTC) + timedelta(days=expires_days)
    for dsn in dsns:
        pool = await create_pool(dsn, 1)
        try:
            await auth.store_key(pool, key_id, name, role, centre_id, auth.hash_token(token), expires_at)
        finally:
            await pool.close()
    return key_id, token


async def _revoke(dsns: list[str], key_id) -> int:
    done = 0
    for dsn in dsns:
        pool = await create_pool(dsn, 1)
        try:
            done += await auth.revoke_key(pool, key_id)
        finally:
            await pool.close()
    return done


async def _list(dsn: str) -> list[dict]:
    pool = await create_pool(dsn, 1)
    try:
        return await auth.list_keys(pool)
    finally:
        await pool.close()


def run_keys(args) -> int:
    dsns = [database_url(name, args.state_dir) for name in SETTINGS]
    try:
        if args.keys_command == "create":
            key_id, token = asyncio.run(create_key(dsns, args.name, args.role, args.centre, args.expires_days))
            print(f"key {key_id} ({args.role}{' of centre ' + str(args.centre) if args.centre else ''}) "
                  f"valid {args.expires_days} days:\n{token}\nIt is shown once: keep it now.")
            return 0
        if args.keys_command == "revoke":
            done = asyncio.run(_revoke(dsns, args.key_id))
            print(f"key {args.key_id} revoked in {done} service(s)" if done else f"no active key {args.key_id}")
            return 0 if done else 1
        for key in asyncio.run(_list(dsns[0])):
            state = "revoked" if key["revoked_at"] else (
                "expired" if key["expires_at"] and key["expires_at"] < datetime.now(UTC) else "active")
            print(json.dumps({k: str(v) if v is not None else None for k, v in key.items()} | {"state": state}))
        return 0
    except ValueError as exc:
        print(f"parcours keys: {exc}")
        return 2
    except OSError as exc:
        print(f"parcours keys: database unreachable: {exc}")
        return 1


def api_key(state_dir: Path | None = None) -> str | None:
    """The key the CLI sends: PARCOURS_API_KEY, else the admin key `parcours up` keeps in its state."""
    given = os.environ.get("PARCOURS_API_KEY")
    if given:
        return given
    recorded = Path(state_dir or os.environ.get("PARCOURS_STATE_DIR", ".parcours")) / "stack.json"
    if recorded.exists():
        return json.loads(recorded.read_text()).get("admin_key")
    return None


def auth_headers() -> dict[str, str]:
    key = api_key()
    return {"Authorization": f"Bearer {key}"} if key else {}
