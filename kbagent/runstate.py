"""The indexing run in progress, written to a small file so that `kb status` in another terminal can show it.

The lock says only *that* a run holds the index; this file says which source it is on and how far
it got. A run killed outright leaves the file behind, so a reader trusts it only while the process
that wrote it is alive (the lock itself is not tried: that could turn away a run starting just then).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

FILE = "indexing.json"


@dataclass(frozen=True)
class RunState:
    """Where a running index is: the source, pages done out of the expected total, and since when."""

    pid: int
    started: str
    source: str
    pages: int = 0
    total: int | None = None
    updated: str = ""


def write(home: Path, state: RunState) -> None:
    """Record the run's state (atomically: a reader never sees half a file)."""
    tmp = home / (FILE + ".tmp")
    tmp.write_text(json.dumps(asdict(state), ensure_ascii=False), encoding="utf-8")
    tmp.replace(home / FILE)


def clear(home: Path) -> None:
    """The run is over: forget its state."""
    (home / FILE).unlink(missing_ok=True)


def read(home: Path) -> RunState | None:
    """The run in progress, or None when there is none (no file, a damaged one, or its process is gone)."""
    try:
        state = RunState(**json.loads((home / FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    return state if _alive(state.pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process by that number: alive
        return True
    return True
