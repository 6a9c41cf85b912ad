"""BACKUP_SCHEDULE means what it means to cron, weekdays included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.backup.cron import cron_trigger, weekday_names

WEDNESDAY = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


def next_days(expression: str, count: int = 7) -> list[str]:
    trigger = cron_trigger(expression, "UTC")
    days, when = [], WEDNESDAY
    for _ in range(count):
        when = trigger.get_next_fire_time(None, when)
        assert when is not None
        days.append(when.strftime("%a"))
        when = when.replace(hour=23, minute=59)
    return days


@pytest.mark.parametrize(
    ("field", "names"),
    [
        ("*", "*"),
        ("0", "sun"),
        ("7", "sun"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("5-7", "sun,fri,sat"),
        ("0,6", "sun,sat"),
        ("*/2", "sun,tue,thu,sat"),
        ("1-5/2", "mon,wed,fri"),
        ("mon-fri", "mon,tue,wed,thu,fri"),
        ("SUN", "sun"),
    ],
)
def test_weekday_field_in_cron_numbering(field: str, names: str) -> None:
    assert weekday_names(field) == names


def test_sunday_backups_run_on_sundays() -> None:
    assert next_days("0 2 * * 0", 2) == ["Sun", "Sun"]
    assert next_days("0 2 * * 7", 1) == ["Sun"]


def test_weekday_backups_skip_the_weekend() -> None:
    assert next_days("30 1 * * 1-5", 5) == ["Thu", "Fri", "Mon", "Tue", "Wed"]


@pytest.mark.parametrize("bad", ["8", "mon-sun-tue", "5-1", "*/x", "someday"])
def test_invalid_weekdays_are_refused_clearly(bad: str) -> None:
    with pytest.raises(ValueError, match="day of week"):
        cron_trigger(f"0 2 * * {bad}", "UTC")


def test_not_five_fields() -> None:
    with pytest.raises(ValueError, match="5 fields"):
        cron_trigger("0 2 * *", "UTC")
