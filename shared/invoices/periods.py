"""Calendar periods of recurring invoices: a week is 7 days; a month keeps the day, clamped to month end."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from typing import TypeVar

from shared.models.invoice import RecurringSchedule

Moment = TypeVar("Moment", date, datetime)


def add_months(moment: Moment, months: int) -> Moment:
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def next_period(moment: Moment, schedule: RecurringSchedule) -> Moment:
    if schedule.interval == "week":
        return moment + timedelta(weeks=schedule.interval_count)
    return add_months(moment, schedule.interval_count)
