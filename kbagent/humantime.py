"""Times written for people: how long something takes (``4:05``) and how long ago it was (``3 h ago``)."""

from __future__ import annotations

from datetime import UTC, datetime


def duration(seconds: float) -> str:
    """``0:09``, ``4:05`` or ``1:02:03``."""
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def ago(then: datetime, now: datetime) -> str:
    """How long ago ``then`` was: ``just now``, ``5 min ago``, ``3 h ago``, ``2 days ago``."""
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.astimezone()
    s = max(0.0, (now - then).total_seconds())
    if s < 60:
        return "just now"
    if s < 3600:
        return f"{int(s // 60)} min ago"
    if s < 86400 * 2:
        return f"{int(s // 3600)} h ago"
    return f"{int(s // 86400)} days ago"
