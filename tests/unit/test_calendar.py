"""French civil dates: the day, month and year of a moment are taken in Paris (domain.md §1)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.outcomes import domain
from shared.contracts.calendar import civil_date, civil_start, today, year_bounds


@pytest.mark.parametrize(("moment", "day"), [
    # 00:30 on 1 September in Paris (summer time, +02:00) is still 31 August in UTC
    (datetime(2020, 8, 31, 22, 30, tzinfo=UTC), date(2020, 9, 1)),
    # 00:30 on 1 January in Paris (winter time, +01:00) is still 31 December in UTC
    (datetime(2020, 12, 31, 23, 30, tzinfo=UTC), date(2021, 1, 1)),
    # 23:30 on 31 December in Paris is 22:30 UTC: the same day both ways
    (datetime(2020, 12, 31, 22, 30, tzinfo=UTC), date(2020, 12, 31)),
    # the night summer time starts (29 March 2020, 02:00 → 03:00) and ends (25 October 2020)
    (datetime(2020, 3, 28, 23, 30, tzinfo=UTC), date(2020, 3, 29)),
    (datetime(2020, 3, 29, 22, 30, tzinfo=UTC), date(2020, 3, 30)),
    (datetime(2020, 10, 24, 22, 30, tzinfo=UTC), date(2020, 10, 25)),
    (datetime(2020, 10, 25, 22, 30, tzinfo=UTC), date(2020, 10, 25)),
    (datetime(2020, 10, 25, 23, 30, tzinfo=UTC), date(2020, 10, 26)),
])
def test_civil_date_is_the_paris_day(moment, day):
    assert civil_date(moment) == day


def test_year_bounds_are_midnight_in_paris():
    start, end = year_bounds(2021)
    assert start == datetime(2020, 12, 31, 23, 0, tzinfo=UTC)
    assert end == datetime(2021, 12, 31, 23, 0, tzinfo=UTC)
    assert civil_start(date(2020, 7, 1)) == datetime(2020, 6, 30, 22, 0, tzinfo=UTC)


def test_today_is_the_paris_date():
    assert today(datetime(2026, 12, 3, 23, 30, tzinfo=UTC)) == date(2026, 12, 4)


def test_an_exit_just_after_midnight_paris_is_followed_up_from_the_french_date():
    # 00:30 on 1 September Paris time: observation 1 March, not 28 February (UTC's 31 August + 6)
    dates = domain.followup_dates(civil_date(datetime(2020, 8, 31, 22, 30, tzinfo=UTC)))
    assert (dates.exit_date, dates.observation_date) == (date(2020, 9, 1), date(2021, 3, 1))
    assert (dates.window_start, dates.window_end) == (date(2021, 2, 1), date(2021, 5, 1))
