"""`parcours migrate`, `resync`, `dlq`, `erasures` and `restore-check`: operations on the services'
own databases.

Each service's database is found from PARCOURS_<SERVICE>_DATABASE_URL when set, else from the
state folder of `parcours up` (`--state-dir`, default .parcours), which records where it put them.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from services.intake.config import IntakeSettings
from services.outcomes.config import OutcomesSettings
from services.progress.config import ProgressSettings
from shared.plumbing import deadletters
from shared.plumbing.db import create_pool, migrate, packages_for, redact
from shared.plumbing.outbox import republish_since

SETTINGS = {"intake": IntakeSettings, "progress": ProgressSettings, "outcomes": OutcomesSettings}
STACK_FILE = "stack.json"


def database_url(service: str, state_dir: Path) -> str:
    given = os.environ.get(f"PARCOURS_{service.upper()}_DATABASE_URL")
    if given:
        return given
    recorded = Path(state_dir) / STACK_FILE
    if recorded.exists():
        return json.loads(recorded.read_text())["databases"][service]
    return SETTINGS[service]().database_url


def run_admin(args) -> int:
    services = args.service or list(SETTINGS)
    try:
        if args.command == "migrate":
            for name in services:
                dsn = database_url(name, args.state_dir)
                applied = asyncio.run(migrate(dsn, packages_for(f"services.{name}")))
                print(f"{name} ({redact(dsn)}): {len(applied)} migration(s) applied")
            return 0
        if args.command == "resync":
            since = datetime.fromisoformat(args.since.replace("Z", "+00:00"))
            if since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            for name in services:
                count = asyncio.run(_with_pool(database_url(name, args.state_dir), republish_since, since))
                print(f"{name}: {count} event(s) queued for re-publication")
            return 0
        if args.command in ("erasures", "restore-check"):
            return _erasures(args, {name: database_url(name, args.state_dir) for name in services})
        return _dlq(args, services)
    except ValueError as exc:
        print(f"parcours {args.command}: {exc}")
        return 2
    except OSError as exc:
        print(f"parcours {args.command}: database unreachable: {exc}")
        return 1


def _dlq(args, services: list[str]) -> int:
    if args.dlq_command == "list":
        total = 0
        for name in services:
            rows = asyncio.run(_with_pool(database_url(name, args.state_dir), deadletters.list_dead_letters,
                                          args.all, args.reason, args.limit))
            for r in rows:
                total += 1
                if r["replayed_at"]:
                    state = f"replayed {r['replayed_at']:%Y-%m-%d %H:%M}"
                else:
                    state = "applied since, nothing to replay" if r["applied"] else "waiting"
                print(f"{name} #{r['id']} {r['topic']}[{r['partition']}]@{r['offset']} "
                      f"{r['event_type'] or '-'} {r['reason']} ({state}): {r['error'][:200]}")
        print(f"{total} dead letter(s)")
        return 0
    if not args.id and not args.all:
        print("parcours dlq replay: name the dead letters (--id N, repeatable) or pass --all")
        return 2
    for name in services:
        replayed = asyncio.run(_with_pool(database_url(name, args.state_dir), deadletters.replay,
                                          args.id, args.all, args.reason))
        print(f"{name}: {len(replayed)} dead letter(s) queued for re-delivery"
              + (f" ({', '.join(f'#{i}' for i in replayed)})" if replayed else ""))
    return 0


def _erasures(args, dsns: dict[str, str]) -> int:
    from parcours import erasures

    found = asyncio.run(erasures.gather(dsns))
    if args.command == "erasures":
        text = erasures.write_file(args.output, found)
        if args.output is None:
            print(text, end="")
        else:
            print(f"{len(found)} erasure(s) written to {args.output}: keep it outside the backups")
        return 0
    for path in args.erasures or []:
        for learner, at in erasures.read_file(path).items():
            found[learner] = min(at, found.get(learner, at))
    report = asyncio.run(erasures.apply(dsns, found))
    for name, r in report.items():
        print(f"{name}: {r['applied']} erasure(s) applied again, {r['missing_from_list']} missing from its own list, "
              f"{r['had_come_back']} had left something behind (now erased)")
    return 0


async def _with_pool(dsn: str, action, *args):
    pool = await create_pool(dsn, 2)
    try:
        return await action(pool, *args)
    finally:
        await pool.close()
