"""Waits that lengthen while there is nothing to do and shorten at the first sign of work.

A service at rest still polls: the consumer's fetches, the relay's look at its outbox. Short
waits keep a busy pipeline's latency low; held while nothing comes, they cost a fifth of a
small machine doing nothing. A `Pace` gives the short wait while work arrives and, once the
service has been quiet for `quiet_after` seconds, doubles it at each quiet round up to the
longest. The first sign of work brings it back to the shortest at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Pace:
    def __init__(self, shortest: float, longest: float, quiet_after: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.shortest = shortest
        self.longest = max(shortest, longest)
        self.quiet_after = quiet_after
        self._clock = clock
        self._busy_at = clock()
        self.current = shortest

    def busy(self) -> bool:
        """Work arrived: the shortest wait from now on. True if the wait was longer until now."""
        self._busy_at = self._clock()
        changed = self.current != self.shortest
        self.current = self.shortest
        return changed

    def quiet(self) -> float:
        """A round found nothing: the wait before the next one."""
        if self._clock() - self._busy_at >= self.quiet_after and self.current < self.longest:
            self.current = min(self.current * 2, self.longest)
        return self.current
