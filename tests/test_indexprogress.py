"""Indexing progress: pages done out of the expected total, rate and ETA, on a terminal or in a log."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from pathlib import Path

from filelock import FileLock
from kbagent.connectors import ScanItem, Unchanged
from rich.console import Console

from kbagent import KnowledgeBase, runstate
from kbagent.indexprogress import WAITING, ProgressView, describe
from kbagent.knowledgebase import Progress


class KnownPages:
    """A source whose pages are all as indexed before (so nothing needs embedding), and that can count them."""

    source = "notes"

    def __init__(self, n: int) -> None:
        self.n = n

    def expected_pages(self) -> int:
        return self.n

    def scan(self, known: Mapping[str, str]) -> Iterator[ScanItem]:
        for i in range(self.n):
            yield Unchanged(f"page-{i}.md")


def test_a_progress_line_says_pages_of_total_rate_and_time_left() -> None:
    p = Progress("notes", 120, 310, total=450, seconds=10.0)
    assert describe(p) == "notes: 120/450 pages · 12.0 pages/s · ETA 0:28 · 310 chunks embedded"
    assert describe(Progress("notes", 7, 0)) == "notes: 7 pages · 0 chunks embedded"  # a first run, nothing measured


def test_off_a_terminal_progress_is_a_log_line_now_and_then() -> None:
    clock = iter([0.0, 5.0, 16.0, 17.0])
    lines: list[str] = []
    view = ProgressView(Console(file=io.StringIO()), "notes", log=lines.append, every=15.0, clock=lambda: next(clock))
    for pages in (1, 2, 3, 4):
        view(Progress("notes", pages, 0, total=4, seconds=float(pages)))
    assert lines == ["notes: 1/4 pages · 1.0 pages/s · ETA 0:03 · 0 chunks embedded",
                     "notes: 3/4 pages · 1.0 pages/s · ETA 0:01 · 0 chunks embedded"]


def test_the_knowledge_base_reports_the_total_and_records_the_run_for_kb_status(tmp_path: Path) -> None:
    seen: list[Progress] = []
    running: list[runstate.RunState | None] = []
    with KnowledgeBase(tmp_path / "home") as kb:

        def progress(p: Progress) -> None:
            seen.append(p)
            running.append(runstate.read(kb.paths.home))

        kb.index(KnownPages(3), progress=progress)
        assert [(p.pages, p.total) for p in seen][-1] == (3, 3) and all(p.total == 3 for p in seen)
        assert running[0] is not None and running[0].source == "notes" and running[0].total == 3
        assert runstate.read(kb.paths.home) is None  # the run is over


def test_a_run_that_waits_for_the_lock_says_so(tmp_path: Path) -> None:
    said: list[str] = []
    with KnowledgeBase(tmp_path / "home") as kb:
        other = FileLock(str(kb.paths.lock))
        other.acquire()  # another indexing run

        def log(line: str) -> None:
            said.append(line)
            other.release()  # ... which ends as soon as we have said that we wait

        kb.reindex(progress=ProgressView(Console(file=io.StringIO()), "sources", log=log), lock_timeout=-1)
    assert said == [WAITING]
