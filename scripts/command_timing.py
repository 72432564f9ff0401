"""Wall time of `kb search` and `kb status` as a person runs them: a new process each time, start-up included.

The benchmarks call `time_commands` on the data directory they built; on its own it times an
existing one:

    python scripts/command_timing.py --home ~/.local/share/kbagent --query "travel budget"

Figures are only worth quoting from an idle machine: the report gives the 1-minute load average
before and after, and labels the run busy when it was 0.6 or more.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

IDLE_LOAD = 0.6  # 1-minute load average below which the machine counts as idle


@dataclass(frozen=True)
class CommandTiming:
    """Seconds one command took over several runs, each a new process."""

    command: str
    first: float
    median: float
    worst: float
    runs: int
    cpu: float  # median CPU seconds (user + system): close to the wall time an idle machine would give


def kb_command() -> list[str]:
    """The `kb` console script beside this Python (as installed), else ``python -m kbagent``."""
    script = shutil.which("kb", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "kbagent"]


def time_command(home: Path, args: list[str], runs: int) -> CommandTiming:
    """Run ``kb --home HOME ARGS`` once to warm the file cache, then ``runs`` times more; each must succeed."""
    command = [*kb_command(), "--home", str(home), *args]
    seconds, cpu = [], []
    for _ in range(runs + 1):
        started, used = time.perf_counter(), _children_cpu()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds.append(time.perf_counter() - started)
        cpu.append(_children_cpu() - used)
    timed = seconds[1:]
    label = " ".join(["kb", *(a if " " not in a else f'"{a}"' for a in args)])
    return CommandTiming(
        label, seconds[0], statistics.median(timed), max(timed), len(timed), statistics.median(cpu[1:])
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_commands(home: Path, queries: list[str], runs: int = 5) -> list[CommandTiming]:
    """`kb status` and `kb search QUERY` for each query on the data directory ``home``."""
    return [time_command(home, ["status"], runs), *(time_command(home, ["search", q], runs) for q in queries)]


def load_label(before: float, after: float) -> str:
    """'idle' or 'BUSY', with the load averages the figures were taken at."""
    state = "idle" if max(before, after) < IDLE_LOAD else "BUSY: figures not comparable"
    return f"{state} (1-min load {before:.2f} before, {after:.2f} after; {os.cpu_count()} CPUs)"


def report(home: Path, queries: list[str], runs: int = 5) -> None:
    """Time the commands and print a table with the machine's load."""
    before = os.getloadavg()[0]
    timings = time_commands(home, queries, runs)
    after = os.getloadavg()[0]
    print(f"command wall time, process start included, {load_label(before, after)}")
    print(f"{'command':<44} {'first':>7} {'median':>7} {'worst':>7} {'CPU':>7}")
    for t in timings:
        print(f"{t.command:<44} {t.first:>6.2f}s {t.median:>6.2f}s {t.worst:>6.2f}s {t.cpu:>6.2f}s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, required=True, help="The data directory to search.")
    ap.add_argument("--query", action="append", help="A query to time (repeatable).")
    ap.add_argument("--runs", type=int, default=5, help="Timed runs per command (after one warm-up).")
    args = ap.parse_args()
    report(args.home, args.query or ["travel budget"], args.runs)


if __name__ == "__main__":
    main()
