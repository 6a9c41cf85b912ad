"""BACKUP_SCHEDULE as cron means it.

APScheduler 3's `CronTrigger.from_crontab` numbers weekdays from Monday = 0, where cron counts
from Sunday = 0 (and 7), so `0 2 * * 0` would back up on Mondays. The day-of-week field is
rewritten into weekday names first; names mean the same to both.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _day(token: str, *, end: bool = False) -> int:
    word = token.strip().lower()
    if word in CRON_DAYS:
        return CRON_DAYS.index(word)
    if word.isdigit() and 0 <= int(word) <= 7:
        return int(word) if end else int(word) % 7
    raise ValueError(f"day of week {token!r}: use 0-7 (0 and 7 are Sunday) or sun..sat")


def _days(item: str) -> set[int]:
    span, _, step_text = item.partition("/")
    if step_text and not step_text.isdigit():
        raise ValueError(f"day of week {item!r}: the step after / must be a number")
    step = int(step_text) if step_text else 1
    if span == "*":
        first, last = 0, 6
    elif "-" in span:
        start, _, stop = span.partition("-")
        first, last = _day(start), _day(stop, end=True)
        if last < first:
            raise ValueError(f"day of week {item!r}: the range runs backwards")
    else:
        first = _day(span)
        last = 6 if step_text else first
    return {day % 7 for day in range(first, last + 1, max(step, 1))}


def weekday_names(field: str) -> str:
    """Cron's day-of-week field with every day spelled as a name, e.g. `1-5` → `mon,...,fri`."""
    if field == "*":
        return field
    days: set[int] = set()
    for item in field.split(","):
        days |= _days(item)
    return ",".join(CRON_DAYS[day] for day in sorted(days))


def cron_trigger(expression: str, timezone: str) -> CronTrigger:
    """A trigger for a 5-field cron expression in an IANA zone; ValueError if it is invalid."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError("must be a cron expression of 5 fields, e.g. '0 2 * * *'")
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=weekday_names(weekday),
        timezone=ZoneInfo(timezone),
    )
