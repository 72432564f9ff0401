"""Reports: the printed table, the JSON file, and the Markdown table made from several JSON files.

JSON report (``kb eval --report docs/eval/NAME.json``)::

    {"schema": 2, "model", "adapter", "prompt_style", "split", "seed", "limit", "date", "machine": {...},
     "data", "paper": {...}, "sets": [SetResult.to_dict(), ...]}

Each set: ``name, split, description, kind, tools, n, accuracy, search_rate, cited_rate,
seconds_per_question, metrics, items``; ``metrics`` (reading sets) holds ``page_found``,
``reading_ceiling``, ``reading_ceiling_page_found``, ``search_rate``, ``find_rate``, ``by_lang``,
``by_kind``, ``unanswerable``, ``refusal_rate_answerable`` and ``f1`` (mean SQuAD/CMRC-style F1, %).
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from kbagent.evaluation.items import SetResult

# Published zero-shot accuracies (%) from the Toolformer paper (Schick et al., 2023, table 4).
PAPER_RESULTS: dict[str, dict[str, float]] = {
    "GPT-J 6.7B + tools (Toolformer)": {"ASDiv": 40.4, "SVAMP": 29.4, "MAWPS": 44.0},
    "GPT-3 175B, no tools": {"ASDiv": 14.0, "SVAMP": 10.0, "MAWPS": 19.8},
}
SCHEMA = 2
TABLE_START = "<!-- eval-table:start -->"
TABLE_END = "<!-- eval-table:end -->"
SPLIT_ORDER = {"test": 0, "dev": 1, "train": 2}


def _pct(x: float | None, digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}%"


def cell(r: SetResult | None) -> str:
    """One set's figures in a few words: accuracy, and for look-ups Search and page found."""
    if r is None:
        return "–"
    if r.kind == "notes":
        parts = [f"Search {r.search_rate:.0f}%" if r.search_rate is not None else ""]
        if r.cited_rate is not None:
            parts.append(f"page cited {r.cited_rate:.0f}%")
        if not math.isnan(r.accuracy):
            parts.append(f"acc {r.accuracy:.0f}%")
        return ", ".join(p for p in parts if p)
    if r.kind == "reading":
        m = r.metrics
        return (f"{_pct(r.accuracy, 1)} (F1 {_pct(m.get('f1'))}, page {_pct(m.get('page_found'))}, "
                f"ceiling {_pct(m.get('reading_ceiling'))}, "
                f"Search {_pct(m.get('search_rate'))}, Find {_pct(m.get('find_rate'))})")
    return _pct(r.accuracy, 1)


def table_rows(results: Sequence[SetResult]) -> list[tuple[str, str, str, str]]:
    """(set, with tools, without tools, notes) rows for printing: accuracy, search and citation rates."""
    return [(name, with_, without, time) for name, _, with_, without, time in report_rows(results)]


TABLE_HEADER = ("questions", "split", "with tools", "without tools", "time")


def report_rows(results: Sequence[SetResult]) -> list[tuple[str, str, str, str, str]]:
    """(set, split, with tools, without tools, time) rows, one per set (:data:`TABLE_HEADER`)."""
    rows: dict[str, dict[bool, SetResult]] = {}
    for r in results:
        rows.setdefault(r.name, {})[r.tools] = r
    out: list[tuple[str, str, str, str, str]] = []
    for name, by in rows.items():
        any_r = next(iter(by.values()))
        out.append((f"{name} (n={any_r.n})", any_r.split, cell(by.get(True)), cell(by.get(False)),
                    f"{any_r.seconds_per_question:.1f}s/q"))
    return out


def detail_lines(results: Sequence[SetResult]) -> list[str]:
    """Per-language and per-kind accuracy, refusals and the reading ceiling of the reading sets."""
    lines = []
    for r in results:
        m = r.metrics
        if r.kind != "reading" or not m:
            continue
        mode = "tools" if r.tools else "no tools"
        parts = [f"ceiling {_pct(m.get('reading_ceiling'))} (when the page was found: "
                 f"{_pct(m.get('reading_ceiling_page_found'))})"]
        by_lang = m.get("by_lang") or {}
        if len(by_lang) > 1:
            parts.append("by language " + ", ".join(f"{k} {_pct(v['accuracy'])} (n={v['n']})"
                                                    for k, v in by_lang.items()))
        by_kind = m.get("by_kind") or {}
        if len(by_kind) > 1:
            parts.append("by kind " + ", ".join(f"{k} {_pct(v['accuracy'])} (n={v['n']})" for k, v in by_kind.items()))
        unanswerable = m.get("unanswerable") or {}
        if unanswerable.get("n"):
            parts.append(f"not in your notes {_pct(unanswerable['accuracy'])} (n={unanswerable['n']})")
        parts.append(f"refusals on answerable {_pct(m.get('refusal_rate_answerable'))}")
        lines.append(f"{r.name} [{r.split}, {mode}]: " + "; ".join(parts))
    return lines


def run_info(
    *, split: str, seed: int, limit: int, adapter: str | None = None, prompt_style: str = "", data: Path | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """What a report says about its run: split, seed, limit, adapter, date and machine."""
    if threads is None:
        try:
            import torch

            threads = torch.get_num_threads()
        except ImportError:
            threads = None
    return {
        "schema": SCHEMA, "adapter": adapter, "prompt_style": prompt_style, "split": split, "seed": seed,
        "limit": limit, "date": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {"host": platform.node(), "platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "threads": threads},
        "data": str(data) if data else None,
    }


def write_report(path: Path, model: str, results: Sequence[SetResult], extra: dict[str, Any] | None = None) -> None:
    """Write the results (every answer included) as JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"model": model, **(extra or {}), "paper": PAPER_RESULTS, "sets": [r.to_dict() for r in results]}
    path.write_text(json.dumps(_finite(payload), ensure_ascii=False, indent=2, default=str), encoding="utf-8")


def _finite(x: Any) -> Any:
    """NaN (a set with nothing to score) as null: JSON has no NaN."""
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


# --- Markdown from reports -------------------------------------------------------------------------


def is_report(data: Any) -> bool:
    """Whether parsed JSON is a ``kb eval`` report (an object with a list of sets)."""
    return isinstance(data, dict) and isinstance(data.get("sets"), list)


def load_reports(paths: Sequence[Path], skipped: list[Path] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(column label, report) for each JSON report; the label is the file name without ``.json``.

    Other JSON files (a folder of reports may hold other figures) are left out and, when
    ``skipped`` is given, listed there.
    """
    out = []
    for p in paths:
        data = json.loads(Path(p).read_text(encoding="utf-8"))
        if is_report(data):
            out.append((Path(p).stem, data))
        elif skipped is not None:
            skipped.append(Path(p))
    return out


def _md_cell(s: dict[str, Any]) -> str:
    acc = s.get("accuracy")
    text = f"{_pct(acc, 1)}" if acc is not None else "–"
    if s.get("kind") == "reading":
        m = s.get("metrics") or {}
        f1 = f"F1 {_pct(m.get('f1'))}, " if m.get("f1") is not None else ""
        text += f" ({f1}page {_pct(m.get('page_found'))}, ceiling {_pct(m.get('reading_ceiling'))})"
    elif s.get("kind") == "notes" and s.get("search_rate") is not None:
        text += f" (Search {_pct(s.get('search_rate'))}, page {_pct(s.get('cited_rate'))})"
    return f"{text}, n={s.get('n')}"


def render_markdown(reports: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """One table per split the reports were run on (test first): a row per set, a column per report.

    Reports of one ``--split`` share a table, so a test figure never sits in a column of dev runs.
    """
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for label, rep in reports:
        groups.setdefault(str(rep.get("split", "?")), []).append((label, rep))
    if len(groups) == 1:
        return _render_table(reports)
    order = sorted(groups, key=lambda split: SPLIT_ORDER.get(split, 3))
    return "\n".join(f"Runs on the **{split}** split:\n\n" + _render_table(groups[split]) for split in order)


def _render_table(reports: Sequence[tuple[str, dict[str, Any]]]) -> str:
    columns: list[tuple[str, int, bool]] = []
    for k, (label, rep) in enumerate(reports):
        modes = [m for m in (True, False) if any(bool(s.get("tools", True)) == m for s in rep.get("sets", ()))]
        columns += [(label if m else f"{label}, calls disabled", k, m) for m in modes]
    rows: dict[tuple[str, str], dict[tuple[int, bool], dict[str, Any]]] = {}
    for k, (_, rep) in enumerate(reports):
        for s in rep.get("sets", ()):
            rows.setdefault((s["name"], s.get("split", "train")), {})[(k, bool(s.get("tools", True)))] = s
    order = sorted(rows, key=lambda key: (SPLIT_ORDER.get(key[1], 3), key[0]))
    lines = ["| set | split | " + " | ".join(c[0] for c in columns) + " |",
             "|---|---|" + "---|" * len(columns)]
    for name, split in order:
        by = rows[(name, split)]
        cells = [_md_cell(by[(k, m)]) if (k, m) in by else "–" for _, k, m in columns]
        lines.append(f"| {name} | {split} | " + " | ".join(cells) + " |")
    lines.append("")
    for label, rep in reports:
        machine = rep.get("machine") or {}
        adapter = rep.get("adapter") or "none"
        lines.append(f"- **{label}**: model {rep.get('model')}, adapter {adapter}, split {rep.get('split', '?')}, "
                     f"seed {rep.get('seed', '?')}, {rep.get('date', '?')}, {machine.get('cpus', '?')} CPUs "
                     f"({machine.get('threads', '?')} threads)")
    return "\n".join(lines) + "\n"


def replace_section(text: str, table: str) -> str:
    """``text`` with what lies between the eval-table markers replaced by ``table``."""
    pattern = re.compile(re.escape(TABLE_START) + r".*?" + re.escape(TABLE_END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"no {TABLE_START} … {TABLE_END} section to replace")
    return pattern.sub(lambda _: f"{TABLE_START}\n{table.rstrip()}\n{TABLE_END}", text, count=1)
