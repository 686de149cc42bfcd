"""French civil dates (domain.md §1): every day, month and year the figures use is taken in
Europe/Paris, never in UTC. 00:30 on 1 January in Paris belongs to the new year although it is
still 31 December in UTC; summer time moves the offset from +01:00 to +02:00 and back.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


def civil_date(moment: datetime) -> date:
    """The French calendar date of an aware moment."""
    return moment.astimezone(PARIS).date()


def civil_start(day: date) -> datetime:
    """The first instant of a French calendar day, as an aware moment."""
    return datetime(day.year, day.month, day.day, tzinfo=PARIS)


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """[1 January 00:00, next 1 January 00:00) in Paris: the moments of the year `year`."""
    return civil_start(date(year, 1, 1)), civil_start(date(year + 1, 1, 1))


def today(now: datetime | None = None) -> date:
    """Today's French date (what a staff member's calendar says)."""
    return civil_date(now or datetime.now(UTC))


def add_months(day: date, months: int) -> date:
    """Calendar months later (or earlier), clamped to the month's end: 31 Aug + 6 = 28/29 Feb."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))
