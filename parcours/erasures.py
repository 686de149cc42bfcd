"""`parcours erasures` and `parcours restore-check`: erasures survive a restore.

Every service keeps the list of learners it erased (intake when it erases, the others when they
apply `learner.erased`). A restored database has forgotten the erasures made after its backup:
restore-check applies the union of the lists (the restored ones, those of the databases that were
not restored, and an exported copy kept outside the backups) to every database again, each
through the service's own erasure, which is harmless to repeat. Run it after a restore and
before `parcours resync`, so that no restored outbox publishes erased text again.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from uuid import UUID

import asyncpg

from services.intake import service as intake_service
from services.outcomes import handlers as outcomes_handlers
from services.progress import handlers as progress_handlers
from shared.plumbing.erasure import tombstones

# Each service's erasure of one learner, applied again: what it changed (0 when nothing came back).
ERASE = {"intake": intake_service.erase, "progress": progress_handlers.erase, "outcomes": outcomes_handlers.erase}


def read_file(path: Path) -> dict[UUID, datetime]:
    """An exported list: one JSON object per line, {"learner_id": ..., "erased_at": ...}."""
    found: dict[UUID, datetime] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path} cannot be read: {exc.strerror}") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            found[UUID(item["learner_id"])] = datetime.fromisoformat(item["erased_at"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}, line {number}: not an erasure ({exc})") from exc
    return found


def write_file(path: Path | None, erasures: dict[UUID, datetime]) -> str:
    """The list as JSON lines, oldest first; written to `path` when given, else returned."""
    lines = "".join(json.dumps({"learner_id": str(learner), "erased_at": at.isoformat()}) + "\n"
                    for learner, at in sorted(erasures.items(), key=lambda item: (item[1], str(item[0]))))
    if path is not None:
        path.write_text(lines, encoding="utf-8")
    return lines


async def gather(dsns: dict[str, str]) -> dict[UUID, datetime]:
    """The union of the services' lists, each learner with her earliest erasure."""
    found: dict[UUID, datetime] = {}
    for dsn in dsns.values():
        conn = await asyncpg.connect(dsn)
        try:
            for row in await tombstones(conn):
                seen = found.get(row["learner_id"])
                found[row["learner_id"]] = row["erased_at"] if seen is None else min(seen, row["erased_at"])
        finally:
            await conn.close()
    return found


async def apply(dsns: dict[str, str], erasures: dict[UUID, datetime]) -> dict[str, dict]:
    """Every erasure applied again to every database given: per service, how many were applied and
    how many had left something behind (a restored person, a restored copy of an event)."""
    report = {}
    for name, dsn in dsns.items():
        conn = await asyncpg.connect(dsn)
        try:
            before = {row["learner_id"] for row in await tombstones(conn)}
            came_back = 0
            for learner, at in erasures.items():
                async with conn.transaction():
                    came_back += await ERASE[name](conn, learner, at) > 0
            report[name] = {"applied": len(erasures), "missing_from_list": len(erasures.keys() - before),
                            "had_come_back": came_back}
        finally:
            await conn.close()
    return report
