"""PostgreSQL access: the connection pool and the migrations runner."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import asyncpg
from pydantic_core import from_json, to_json

log = logging.getLogger(__name__)

# Errors that say "the database is not reachable right now": retried, never dead-lettered,
# answered 503 over HTTP.
TRANSIENT_DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.InsufficientResourcesError,
    # When PostgreSQL terminates a backend (fast shutdown, failover, pg_terminate_backend) right
    # after a statement completed, asyncpg's protocol is left mid-state and the next statement on
    # that connection raises this; the pool discards the connection when it fails to reset it.
    asyncpg.exceptions.InternalClientError,
)

MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
MIGRATIONS_LOCK = 7_310_001


def _jsonb(value) -> bytes:
    return b"\x01" + to_json(value)  # jsonb's binary form: its version (1), then the JSON text


def _from_jsonb(data: bytes):
    return from_json(data[1:])


async def _init_connection(conn: asyncpg.Connection) -> None:
    # pydantic-core's JSON (Rust) rather than the standard library's: a batch of 1,000 xAPI
    # statements is 1,000 documents written and as many read back. The binary format, so that
    # rows with JSON can be written with COPY (asyncpg's COPY is binary only).
    await conn.set_type_codec("jsonb", encoder=_jsonb, decoder=_from_jsonb, schema="pg_catalog", format="binary")
    await conn.set_type_codec("json", encoder=to_json, decoder=from_json, schema="pg_catalog", format="binary")


# A batch's rows go in with COPY from this many (cheaper per row: no array parameters to build and
# unnest), below with one INSERT (COPY takes one round trip more).
COPY_FROM = 50


async def insert_rows(conn: asyncpg.Connection, table: str, columns: list[str], rows: list[tuple],
                      insert: str, as_parameters: Callable[[list[list]], list[list]] | None = None) -> None:
    """Rows (tuples in `columns`' order) into `table`, in their order: with COPY for a batch, else with
    `insert`, which takes one array parameter per column (`as_parameters` turns the columns into
    them where a column cannot travel as an array as it is)."""
    if len(rows) >= COPY_FROM:
        await conn.copy_records_to_table(table, records=rows, columns=columns)
    elif rows:
        arrays = [list(c) for c in zip(*rows, strict=True)]
        await conn.execute(insert, *(as_parameters(arrays) if as_parameters else arrays))


# PostgreSQL's default random_page_cost (4) prices an index lookup as a read from a spinning disk:
# with it, joining a batch's 500 keys to a table of 50,000 rows planned as a full scan (12 ms)
# rather than 500 index lookups (1 ms). 1.1 is the usual value for SSDs and cached data.
SERVER_SETTINGS = {"random_page_cost": "1.1"}


class Connection(asyncpg.Connection):
    """A pooled connection that remembers it queued outbox rows, so that the pool can wake the
    relay once the transaction that queued them has ended: on release, after the commit.

    This replaced `pg_notify` at commit, which PostgreSQL serialises across the whole server
    (every notifying transaction takes one lock until its commit is flushed): under a stream of
    single-fact requests, commits queued behind each other.
    """

    queued_outbox_rows = False

    def note_outbox_rows(self) -> None:
        self.queued_outbox_rows = True


async def create_pool(dsn: str, size: int = 10, on_outbox_rows: Callable[[], None] | None = None) -> asyncpg.Pool:
    """A pool whose first connection is opened lazily, so a service starts while PostgreSQL is down.

    `on_outbox_rows` is called when a connection that queued outbox rows comes back to the pool.
    """

    async def reset(conn: Connection) -> None:
        # The services leave no session state on a pooled connection (locks are transaction-level,
        # no SET, no LISTEN, no cursors), so the default reset query, a round trip on every release,
        # has nothing to undo. The pool still rolls back a transaction left open.
        if conn.queued_outbox_rows:
            conn.queued_outbox_rows = False
            if on_outbox_rows is not None:
                on_outbox_rows()

    return await asyncpg.create_pool(
        dsn, min_size=0, max_size=size, init=_init_connection, command_timeout=60, reset=reset,
        connection_class=Connection, server_settings=SERVER_SETTINGS,
    )


def migration_files(package: str) -> list[tuple[int, str, str]]:
    """(version, name, sql) of the numbered .sql files in `<package>/migrations`, in order."""
    folder = resources.files(package) / "migrations"
    found = []
    for entry in folder.iterdir():
        match = MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


async def migrate(dsn: str, packages: list[str]) -> list[str]:
    """Apply the migrations of each package not yet recorded; return the names applied.

    Runs on its own connection under a session advisory lock, so that two instances
    starting together do not apply the same file twice.
    """
    applied: list[str] = []
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATIONS_LOCK)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   component text NOT NULL,
                   version integer NOT NULL,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now(),
                   PRIMARY KEY (component, version))"""
        )
        for package in packages:
            done = {
                r["version"]
                for r in await conn.fetch(
                    "SELECT version FROM schema_migrations WHERE component = $1", package
                )
            }
            for version, name, sql in migration_files(package):
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)",
                        package,
                        version,
                        name,
                    )
                applied.append(f"{package}/{name}")
                log.info("applied migration %s/%s", package, name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATIONS_LOCK)
        await conn.close()
    return applied


async def ensure_database(server_dsn: str, name: str) -> None:
    """Create database `name` on the server of `server_dsn` if it does not exist."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"invalid database name {name!r}")
    conn = await asyncpg.connect(server_dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # Identifiers cannot be parameters; the name was checked above.
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def dsn_for_database(server_dsn: str, name: str) -> str:
    """The same server, another database (works for host:port and for Unix-socket DSNs)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(server_dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def redact(dsn: str) -> str:
    """A DSN without its password, for printing."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return dsn


PLUMBING_PACKAGE = "shared.plumbing"


def packages_for(service_package: str) -> list[str]:
    return [PLUMBING_PACKAGE, service_package]


__all__ = [
    "TRANSIENT_DB_ERRORS",
    "Path",
    "create_pool",
    "dsn_for_database",
    "ensure_database",
    "migrate",
    "packages_for",
    "redact",
]
