"""Scheduled re-indexing: one crontab line that runs ``scripts/kb-cron.sh``, the run it starts, and what it last did."""

from __future__ import annotations

import json
import logging
import re
import shlex
import shutil
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from crontab import CronTab
from rich.console import Console

from kbagent.credentials import RedactingFilter
from kbagent.indexprogress import ProgressView
from kbagent.knowledgebase import IndexBusy, KnowledgeBase

MARKER = "kbagent-reindex"
STATE_FILE = "cron-state.json"
LOG_FILE = "reindex.log"
NO_CRONTAB = (
    "the `crontab` command is not installed: install cron (Debian/Ubuntu: sudo apt install cron; "
    "Fedora: sudo dnf install cronie; macOS has it), or pass --tabfile FILE"
)

_EVERY = re.compile(r"^\s*(\d+)\s*(m|min|mins|minutes?|h|hours?|d|days?)\s*$", re.I)


class ScheduleError(ValueError):
    """A schedule that cron cannot express, or a crontab that cannot be written."""


def cron_expression(every: str) -> str:
    """Turn ``15m``, ``1h``, ``6h``, ``1d`` into a cron schedule."""
    m = _EVERY.match(every)
    if not m:
        raise ScheduleError(f"cannot read the interval {every!r}: use e.g. 15m, 1h, 6h or 1d")
    n, unit = int(m.group(1)), m.group(2).lower()[0]
    if n <= 0:
        raise ScheduleError("the interval must be positive")
    if unit == "m":
        if n >= 60 and n % 60 == 0:
            return cron_expression(f"{n // 60}h")
        if 60 % n:
            raise ScheduleError(f"{n} minutes does not divide an hour; use one of 1,2,3,4,5,6,10,12,15,20,30")
        return "* * * * *" if n == 1 else f"*/{n} * * * *"
    if unit == "h":
        if n >= 24 and n % 24 == 0:
            return cron_expression(f"{n // 24}d")
        if 24 % n:
            raise ScheduleError(f"{n} hours does not divide a day; use one of 1,2,3,4,6,8,12")
        return "0 * * * *" if n == 1 else f"0 */{n} * * *"
    if n != 1:
        raise ScheduleError("only daily (1d) is supported for days")
    return "0 3 * * *"


def wrapper_path() -> Path:
    """The cron wrapper script shipped in the repository's ``scripts/``."""
    return Path(__file__).resolve().parent.parent / "scripts" / "kb-cron.sh"


def command_line(home: Path, python: str | None = None, wrapper: Path | None = None) -> str:
    """The command cron runs: the wrapper with the data directory and interpreter it needs."""
    w = wrapper or wrapper_path()
    env = f"KBAGENT_HOME={shlex.quote(str(home))} KBAGENT_PYTHON={shlex.quote(python or sys.executable)}"
    if w.exists():
        return f"{env} {shlex.quote(str(w))}"
    # installed from a wheel, without the repository's scripts/: run the module directly
    return f"{env} {shlex.quote(python or sys.executable)} -m kbagent reindex --cron"


def _tab(tabfile: Path | None) -> CronTab:
    if tabfile is not None:
        tabfile.parent.mkdir(parents=True, exist_ok=True)
        tabfile.touch(exist_ok=True)
        return CronTab(tabfile=str(tabfile))
    if shutil.which("crontab") is None:
        raise ScheduleError(NO_CRONTAB)
    try:
        return CronTab(user=True)
    except OSError as exc:  # crontab exists but refuses (no cron daemon, not allowed to use cron)
        raise ScheduleError(f"could not read the crontab: {exc}") from exc


@dataclass(frozen=True)
class CronEntry:
    """The installed crontab line."""

    schedule: str
    command: str

    def __str__(self) -> str:
        return f"{self.schedule} {self.command} # {MARKER}"


def install(every: str, home: Path, *, tabfile: Path | None = None, python: str | None = None) -> CronEntry:
    """Put (or replace) the one kbagent line in the crontab."""
    schedule = cron_expression(every)
    tab = _tab(tabfile)
    tab.remove_all(comment=MARKER)
    job = tab.new(command=command_line(home, python), comment=MARKER)
    job.setall(schedule)
    _write(tab, tabfile)
    return CronEntry(schedule, job.command or "")


def remove(*, tabfile: Path | None = None) -> int:
    """Take kbagent's line out of the crontab; return how many lines were removed."""
    tab = _tab(tabfile)
    n = len(list(tab.find_comment(MARKER)))
    tab.remove_all(comment=MARKER)
    _write(tab, tabfile)
    return n


def installed(*, tabfile: Path | None = None) -> CronEntry | None:
    """kbagent's crontab line, if there is one."""
    for job in _tab(tabfile).find_comment(MARKER):
        return CronEntry(" ".join(str(s) for s in job.slices.render().split()), job.command or "")
    return None


def _write(tab: CronTab, tabfile: Path | None) -> None:
    try:
        tab.write(filename=str(tabfile)) if tabfile is not None else tab.write()
    except OSError as exc:
        raise ScheduleError(f"could not write the crontab: {exc}") from exc


@dataclass(frozen=True)
class RunRecord:
    """What one scheduled re-index did."""

    started: str
    finished: str
    ok: bool
    sources: tuple[dict[str, Any], ...]
    errors: tuple[str, ...]
    skipped: str = ""


def save_run(logs: Path, record: RunRecord) -> None:
    """Remember the last scheduled run (atomically: a kill never leaves half a file)."""
    logs.mkdir(parents=True, exist_ok=True)
    tmp = logs / (STATE_FILE + ".tmp")
    data = {
        "started": record.started, "finished": record.finished, "ok": record.ok,
        "sources": list(record.sources), "errors": list(record.errors), "skipped": record.skipped,
    }
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(logs / STATE_FILE)


def last_run(logs: Path) -> RunRecord | None:
    """The last scheduled run, if any."""
    path = logs / STATE_FILE
    if not path.exists():
        return None
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        return RunRecord(
            d["started"], d["finished"], bool(d["ok"]), tuple(d.get("sources", ())),
            tuple(d.get("errors", ())), d.get("skipped", ""),
        )
    except (ValueError, KeyError) as exc:
        return RunRecord("", "", False, (), (f"{path}: unreadable state: {exc}",))


def scheduled_reindex(kb: KnowledgeBase, names: Sequence[str] | None = None, *, wait: bool = False) -> RunRecord:
    """Re-index as the scheduled job does: progress and results go to the log, the run is recorded.

    Another indexing run holding the index is no failure (it does the work): the run is recorded
    as skipped. An unknown source name raises KeyError, as :meth:`KnowledgeBase.reindex` does.
    """
    logs = kb.config.paths.logs
    log, handler = _run_log(logs)
    started = now()
    try:
        # progress lines now and then (and a line while it waits), never a live bar: nobody watches
        view = ProgressView(Console(stderr=True), "sources", log=log.info, every=60.0)
        try:
            results = kb.reindex(names, progress=view, lock_timeout=-1 if wait else 0)
        except IndexBusy as exc:
            log.warning("skipped: %s", exc)
            record = RunRecord(started, now(), True, (), (), str(exc))
            save_run(logs, record)
            return record
        errors = tuple(f for r in results for f in r.failures)
        for r in results:
            log.info("%s: +%d ~%d =%d -%d !%d (%d chunks, %.1fs)", r.source, r.added, r.changed,
                     r.unchanged, r.removed, r.failed, r.chunks_embedded, r.seconds)
        for e in errors:
            log.error("%s", e)
        record = RunRecord(started, now(), not errors, tuple(asdict(r) for r in results), errors)
        save_run(logs, record)
        return record
    finally:
        # a process that runs twice (tests, a long-lived caller) must not log twice, or to an old folder
        log.removeHandler(handler)
        handler.close()


def _run_log(logs: Path) -> tuple[logging.Logger, logging.Handler]:
    """The scheduled run's log: a rotating file in the logs folder, credentials redacted."""
    logs.mkdir(parents=True, exist_ok=True)
    handler = RotatingFileHandler(logs / LOG_FILE, maxBytes=1_000_000, backupCount=5, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())  # no credential may reach the log file
    log = logging.getLogger("kbagent.reindex")
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    return log, handler


def now() -> str:
    """The current time for run records (UTC, ISO 8601)."""
    return datetime.now(UTC).isoformat(timespec="seconds")
