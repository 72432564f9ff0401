"""The Calendar tool: today's date in the user's time zone, and a written day's weekday or offset."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, tzinfo

from kbagent.microformat import unquote
from kbagent.tools.dates import (
    WEEKDAYS,
    describe_date,
    describe_day,
    long_date,
    parse_day,
    parse_offset,
    resolve_timezone,
)


class Calendar:
    """``Calendar()``: today's date in the user's time zone; ``Calendar("April 3, 2027")``: that day too."""

    name = "Calendar"
    # the few-shot prompt of a base model shows this line; a longer one that mentions the date
    # argument made SmolLM2 call the Calendar for plain arithmetic, so the date form is taught by
    # training (and documented) rather than advertised here
    description = "Calendar() tells today's date and weekday."

    def __init__(self, clock: Callable[[], datetime] | None = None, tz: str | tzinfo | None = None) -> None:
        self.clock = clock or (lambda: datetime.now().astimezone())
        self.tz = resolve_timezone(tz)

    def today(self) -> date:
        """Today's date in the tool's time zone."""
        now = self.clock()
        if self.tz is not None:
            now = now.astimezone(self.tz) if now.tzinfo else now.replace(tzinfo=self.tz)
        return now.date()

    def __call__(self, input: str = "") -> str:
        """Today's date; with a date as input, also that day's weekday and distance from today.

        An input that names no date is ignored (the paper's Calendar takes none), so a stray word
        still gets today's date rather than an error.
        """
        today = self.today()
        written = unquote(input)
        offset = parse_offset(written, today) if written.strip() else None
        if offset is not None:
            start, amount, unit, moved = offset
            return (f"{long_date(start)} {'-' if moved < start else '+'} {amount} {unit}{'s' * (amount != 1)} = "
                    f"{WEEKDAYS[moved.weekday()]}, {long_date(moved)} ({moved.isoformat()}).")
        day = parse_day(written, today) if written.strip() else None
        if day is None:
            return describe_date(today)
        return describe_day(day, today)
