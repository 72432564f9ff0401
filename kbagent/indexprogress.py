"""How an indexing run shows its progress: a live bar on a terminal, a log line now and then elsewhere.

A run over thousands of pages takes minutes; whoever started it wants to know how far it is and
when it will end, and a cron log or a redirected stderr wants the same in plain lines it can keep
(a live bar there would be an unreadable stream of control characters).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar

from kbagent.humantime import duration
from kbagent.knowledgebase import Progress

# Seconds between two log lines when the output is not a terminal.
LOG_EVERY = 15.0
WAITING = "waiting for another indexing run…"


def describe(p: Progress) -> str:
    """One line: ``notes: 120/450 pages · 35.2 pages/s · ETA 0:09 · 310 chunks embedded``."""
    parts = [f"{p.source}: {p.pages}/{p.total} pages" if p.total else f"{p.source}: {p.pages} pages"]
    if p.rate:
        parts.append(f"{p.rate:.1f} pages/s")
    if p.eta is not None:
        parts.append(f"ETA {duration(p.eta)}")
    parts.append(f"{p.chunks_embedded} chunks embedded")
    return " · ".join(parts)


class ProgressView:
    """A progress callback for `KnowledgeBase.index`/`reindex`, used as a context manager.

    On a terminal it draws a bar that disappears when done; otherwise it writes `describe` lines
    through ``log`` at most every ``every`` seconds (and the first one at once).
    """

    def __init__(self, console: Console, label: str, *, log: Callable[[str], None] | None = None,
                 every: float = LOG_EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self.log = log or (lambda line: console.print(line, highlight=False, markup=False))
        self.every = every
        self.clock = clock
        self.live = console.is_terminal and log is None
        self._last: dict[str, float] = {}
        self._bar = Bar(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                        console=console, transient=True, disable=not self.live)
        self._task = self._bar.add_task(f"indexing {label}", total=None)

    def __enter__(self) -> ProgressView:
        self._bar.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._bar.__exit__(kind, exc, tb)

    def __call__(self, p: Progress) -> None:
        """Show one progress report."""
        if p.waiting:
            if self.live:
                self.console.print(WAITING, highlight=False)  # above the bar, and it stays
            else:
                self.log(WAITING)
            return
        if self.live:
            self._bar.update(self._task, description=describe(p), completed=p.pages, total=p.total)
            return
        now = self.clock()
        last = self._last.get(p.source)
        if last is None or now - last >= self.every:
            self._last[p.source] = now
            self.log(describe(p))
