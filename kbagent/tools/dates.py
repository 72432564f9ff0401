"""Dates as the model reads and writes them: English names, parsing written days and offsets, time zones."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# English names whatever the locale: the model reads and writes them in English
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)


def describe_date(moment: date) -> str:
    """``Today is Saturday, November 21, 2026.`` (English names, whatever the locale)."""
    return (
        f"Today is {WEEKDAYS[moment.weekday()]}, {MONTHS[moment.month - 1]} "
        f"{moment.day}, {moment.year}."
    )


def resolve_timezone(name: str | tzinfo | None) -> tzinfo | None:
    """A time zone from an IANA name (``Asia/Tokyo``); None means the system's local zone."""
    if name is None or isinstance(name, tzinfo):
        return name
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


MONTH_NUMBERS = {name.lower()[:3]: i + 1 for i, name in enumerate(MONTHS)}  # "apr" -> 4
_ISO_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_EAST_ASIAN_DAY = re.compile(r"(?:(\d{4})\s*年\s*)?(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]")
_MONTH_FIRST = re.compile(r"([A-Za-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(\d{4}))?\b")
_DAY_FIRST = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?([A-Za-z]{3,9})\.?(?:,?\s+(\d{4}))?\b")
_US_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b")  # 3/20/2020: month first, as written in the US
_COUNT_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
_UNITS = {"day": "day", "week": "week", "month": "month", "year": "year", "日": "day", "天": "day",
          "週間": "week", "周": "week", "か月": "month", "ヶ月": "month", "カ月": "month", "个月": "month",
          "月": "month", "年": "year"}
_OFFSET_EN = re.compile(
    r"(?P<n>\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\s+"
    r"(?P<unit>day|week|month|year)s?\s+(?P<dir>after|from|later than|before|earlier than|prior to)\s+(?P<rest>.+)",
    re.IGNORECASE,
)
_CJK_UNIT = "日|天|週間|周|か月|ヶ月|カ月|个月|年"
_OFFSET_CJK = (  # 2020年3月20日の176日後 / 2020年3月20日后176天
    re.compile(rf"(?P<rest>.+?)の?(?:之)?(?P<n>\d+)\s*(?P<unit>{_CJK_UNIT})(?P<dir>後|后|前|以后|之后|以前|之前)"),
    re.compile(rf"(?P<rest>.+?)(?:之)?(?P<dir>後|后|前)(?P<n>\d+)\s*(?P<unit>{_CJK_UNIT})"),
)


def parse_day(text: str, today: date) -> date | None:
    """The date ``text`` names (``2027-04-03``, ``April 3, 2027``, ``3 April``, ``2027年4月3日``, ``4月3日``).

    Without a year it is the next such day from ``today`` on; None when no date can be read.
    """
    text = unicodedata.normalize("NFKC", text).strip()
    found: tuple[int | None, int, int] | None = None
    if m := _ISO_DATE.search(text):
        found = (int(m[1]), int(m[2]), int(m[3]))
    elif m := _US_DATE.search(text):
        found = (int(m[3]), int(m[1]), int(m[2]))
    elif m := _EAST_ASIAN_DAY.search(text):
        found = (int(m[1]) if m[1] else None, int(m[2]), int(m[3]))
    else:
        for pattern, month_group, day_group in ((_MONTH_FIRST, 1, 2), (_DAY_FIRST, 2, 1)):
            m = pattern.search(text)
            month = MONTH_NUMBERS.get(m[month_group].lower()[:3]) if m else None
            if m and month and m[month_group].lower() in MONTHS[month - 1].lower():
                found = (int(m[3]) if m[3] else None, month, int(m[day_group]))
                break
    if found is None:
        return None
    year, month, day = found
    try:
        if year is not None:
            return date(year, month, day)
        this_year = date(today.year, month, day)
        return this_year if this_year >= today else date(today.year + 1, month, day)
    except ValueError:
        return None


def shift(day: date, amount: int, unit: str) -> date:
    """A day moved by ``amount`` days, weeks, months or years (a month end stays in its month)."""
    if unit == "day":
        return day + timedelta(days=amount)
    if unit == "week":
        return day + timedelta(weeks=amount)
    months = amount * (12 if unit == "year" else 1)
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    last = (date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


def parse_offset(text: str, today: date) -> tuple[date, int, str, date] | None:
    """``176 days after March 20, 2020`` / ``2020年3月20日の176日後``: (start, amount, unit, result)."""
    text = unicodedata.normalize("NFKC", text).strip()
    readings: list[tuple[str, str, str, bool]] = []
    if m := _OFFSET_EN.search(text):
        back = m["dir"].lower() in ("before", "earlier than", "prior to")
        readings.append((m["n"].lower(), m["unit"].lower(), m["rest"], back))
    for pattern in _OFFSET_CJK:
        if m := pattern.search(text):
            readings.append((m["n"], _UNITS[m["unit"]], m["rest"], m["dir"] in ("前", "以前", "之前")))
    for n_text, unit, rest, backwards in readings:
        amount = _COUNT_WORDS[n_text] if n_text in _COUNT_WORDS else int(n_text)
        start = parse_day(rest, today)
        if start is None:
            continue
        try:
            return start, amount, unit, shift(start, -amount if backwards else amount, unit)
        except (ValueError, OverflowError):
            return None
    return None


def describe_day(day: date, today: date) -> str:
    """``Today is …. April 3, 2027 is a Saturday, 123 days from today.`` (or ``… days ago``)."""
    days = (day - today).days
    when = ("today" if days == 0 else f"{days} day{'s' * (days != 1)} from today" if days > 0
            else f"{-days} day{'s' * (days != -1)} ago")
    return (f"{describe_date(today)} "
            f"{MONTHS[day.month - 1]} {day.day}, {day.year} is a {WEEKDAYS[day.weekday()]}, {when}.")


def long_date(day: date) -> str:
    """``April 3, 2027`` (English month names)."""
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"
