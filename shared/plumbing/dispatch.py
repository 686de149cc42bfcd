"""A service's consumer registry: which handler takes each contract class it consumes.

A service declares once, as data, the handler of each contract class it acts on, and the classes
it consumes but needs nothing from; a test holds the two together to every class its topics carry,
so that a new event type cannot be dropped without anyone deciding it. Handlers take all the events
of a batch they handle at once (set-based), in the order consumed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import asyncpg

from shared.contracts import Envelope

Handler = Callable[[asyncpg.Connection, list[Envelope]], Awaitable[None]]


async def dispatch(conn: asyncpg.Connection, events: list[Envelope],
                   handlers: Mapping[type[Envelope], Handler]) -> None:
    """Each handler once with its events, in the order consumed; the handlers in the registry's order
    (a handler registered for several classes, e.g. two versions of one event, sees them together)."""
    grouped: dict[Handler, list[Envelope]] = {handler: [] for handler in handlers.values()}
    for event in events:
        handler = handlers.get(type(event))
        if handler is not None:
            grouped[handler].append(event)
    for handler, mine in grouped.items():
        if mine:
            await handler(conn, mine)
