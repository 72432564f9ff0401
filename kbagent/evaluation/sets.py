"""Question sets from files and generators: word problems (MAWPS, GSM8K, SVAMP-style), dates, TRAM, notes.

Sets backed by a data set with a split plan (:mod:`kbagent.splits`) keep only the units of one
split (MAWPS and GSM8K: whole problems), so a dev run and a test run never share a question.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from kbagent.evaluation.overlap import template_signature
from kbagent.questions import EvalItem
from kbagent.splits import Split, split_of
from kbagent.tools import MONTHS, WEEKDAYS


def _detokenize(text: str) -> str:
    """MAWPS writes tokens apart (``apples .``); put punctuation back where a person writes it."""
    text = re.sub(r"\s+([.,?!;:%])", r"\1", text)
    text = re.sub(r"\s+(['’]s)\b", r"\1", text)
    return " ".join(text.split())


def load_mawps(
    path: Path, n: int | None = None, seed: int = 0, split: Split | None = None, avoid: Collection[str] = (),
) -> list[EvalItem]:
    """MAWPS problems (MWPToolkit's ``MAWPS.json``): question and numeric answer, a seeded sample.

    With ``split``, only the problems whose text :func:`~kbagent.splits.split_of` puts there;
    problems whose template signature is in ``avoid`` (the corpora's templates) are left out.
    """
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    items = []
    for r in raw:
        try:
            gold = float(str(r["ans"]).replace(",", ""))
        except (KeyError, ValueError):
            continue
        question = _detokenize(str(r["original_text"]))
        if split is not None and split_of("mawps", question) != split:
            continue
        if avoid and template_signature(question) in avoid:
            continue
        items.append(EvalItem(question, gold=_fmt(gold), kind="arithmetic", category="MAWPS", id=str(r.get("id", ""))))
    return _sample(items, n, seed)


def gsm8k_answer(solution: str) -> str:
    """The final answer of a GSM8K solution: the number after ``####``, commas removed."""
    if "####" not in solution:
        raise ValueError("no '####' final answer")
    final = solution.rsplit("####", 1)[1].strip().replace(",", "")
    return _fmt(float(final))


def load_gsm8k(
    path: Path, split: Split, n: int | None = None, seed: int = 0, avoid: Collection[str] = (),
) -> list[EvalItem]:
    """GSM8K problems of one split (by question text; training keeps only ``train``), a seeded sample;
    problems whose template signature is in ``avoid`` are left out."""
    def item(r: dict[str, Any]) -> EvalItem:
        return EvalItem(" ".join(str(r["question"]).split()), gold=gsm8k_answer(str(r["answer"])), kind="arithmetic",
                        category="GSM8K")

    items = [i for i in _read_records(path, item, "GSM8K") if split_of("gsm8k", i.question) == split
             and not (avoid and template_signature(i.question) in avoid)]
    return _sample(items, n, seed)


# Hand-written problems in SVAMP's manner (question sensitivity, irrelevant numbers, reversed operations,
# changed structure, two steps, comparisons, division); none is copied from SVAMP, ASDiv or MAWPS.
SVAMP_STYLE = Path(__file__).resolve().parents[1] / "data" / "eval" / "svamp-style.jsonl"


def load_word_problems(path: Path, n: int | None = None, seed: int = 0, category: str = "") -> list[EvalItem]:
    """Word problems from JSONL, ``{"question", "answer", "variation"?}`` per line, a seeded sample."""
    def item(r: dict[str, Any]) -> EvalItem:
        gold = float(str(r["answer"]).replace(",", ""))
        return EvalItem(str(r["question"]), gold=_fmt(gold), kind="arithmetic",
                        category=str(r.get("variation", category)))

    return _sample(_read_records(path, item, "word-problem"), n, seed)


def _read_records(path: Path, make: Callable[[dict[str, Any]], EvalItem], what: str) -> list[EvalItem]:
    """One item per JSONL line; a bad line is an error naming the file and line."""
    items = []
    with Path(path).open(encoding="utf-8") as f:
        for k, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                items.append(make(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{k}: not a {what} record ({exc})") from None
    return items


def load_tram(path: Path, n: int | None = None, seed: int = 0, categories: Sequence[str] = ()) -> list[EvalItem]:
    """TRAM arithmetic short-answer questions (``arithmetic_saq.csv``), an equal share per category."""
    with Path(path).open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    by_cat: dict[str, list[EvalItem]] = {}
    for r in rows:
        cat = r.get("Category", "")
        if categories and cat not in categories:
            continue
        by_cat.setdefault(cat, []).append(EvalItem(r["Question"], gold=r["Answer"], kind="date", category=cat))
    if n is None:
        return [i for items in by_cat.values() for i in items]
    per = max(1, n // max(1, len(by_cat)))
    out: list[EvalItem] = []
    for cat in sorted(by_cat):
        out += _sample(by_cat[cat], per, seed)
    return out[:n]


# The TRAM categories kb eval asks about (date and time-of-day arithmetic).
TRAM_CATEGORIES = ("Year Shift", "Hour Adjustment (24h)", "Time Computation", "Application")


def generated_arithmetic(n: int, seed: int = 1000) -> list[EvalItem]:
    """Word problems from the training templates with a seed training never uses (in-distribution)."""
    from kbagent.corpora import arithmetic_problems

    return [EvalItem(q.question, gold=q.gold, kind="arithmetic", category="generated")
            for q in arithmetic_problems(n, random.Random(seed))]


# Phrasings the training corpus does not use, so the date set tests more than memorised templates.
_DATE_EVAL: tuple[Callable[[random.Random, date], tuple[str, str]], ...] = (
    lambda r, t: ("Which year are we in right now?", str(t.year)),
    lambda r, t: ("Tell me the weekday today.", WEEKDAYS[t.weekday()]),
    lambda r, t: ((lambda y: (f"How many years ago was the year {y}?", str(t.year - y)))(r.randint(1950, t.year - 1))),
    lambda r, t: ((lambda y: (f"If someone was born in {y}, how old do they turn this year?", str(t.year - y)))(
        r.randint(1940, t.year - 5))),
    lambda r, t: ((lambda y: (f"How many years from now is {y}?", str(y - t.year)))(r.randint(t.year + 1, 2090))),
    lambda r, t: ((lambda d: (f"Count the days from today to {MONTHS[d.month - 1]} {d.day}, {d.year}.",
                              str((d - t).days)))(t + timedelta(days=r.randint(2, 500)))),
    lambda r, t: ((lambda d: (f"{d.year}年{d.month}月{d.day}日まで今日から何日ある？", str((d - t).days)))(
        t + timedelta(days=r.randint(2, 500)))),
    lambda r, t: ("What month is it now?", MONTHS[t.month - 1]),
)


def generated_dates(n: int, seed: int = 1000) -> list[EvalItem]:
    """Questions that need today's date (each with its own fixed "today")."""
    from kbagent.corpora import random_day

    rng = random.Random(seed)
    items = []
    for _ in range(n):
        today = random_day(rng, 2020, 2032)
        q, gold = rng.choice(_DATE_EVAL)(rng, today)
        items.append(EvalItem(q, gold=gold, kind="date", today=today, category="needs today"))
    return items


def load_note_questions(path: Path) -> list[EvalItem]:
    """Note look-up questions from JSONL: ``{"question", "page", "answer"?}`` per line."""
    return _read_records(
        path, lambda r: EvalItem(r["question"], gold=str(r.get("answer", "")), kind="notes", page=r["page"]),
        "question")


# The bundled questions over ``samples/notes``: the training corpora generate those very pages.
SAMPLE_NOTE_QUESTIONS = Path(__file__).resolve().parents[1] / "data" / "eval" / "sample-notes-questions.jsonl"


def questions_from_index(chunks: Iterable[Any], n: int, seed: int = 1000) -> list[EvalItem]:
    """Note questions made from the indexed notes themselves (when no question file is given)."""
    from kbagent.training import note_qa_items

    chunks = list(chunks)
    rng = random.Random(seed)
    rng.shuffle(chunks)
    items = note_qa_items(chunks[: n * 2], rng)
    return [EvalItem(i.question, gold="", kind="notes", page=i.page) for i in items[:n]]


def sample(items: Sequence[EvalItem], n: int | None, seed: int) -> list[EvalItem]:
    """Up to ``n`` items, a sample drawn with ``seed`` (all of them, in order, when ``n`` is None)."""
    return _sample(list(items), n, seed)


def _sample(items: list[EvalItem], n: int | None, seed: int) -> list[EvalItem]:
    if n is None or n >= len(items):
        return items
    return random.Random(seed).sample(items, n)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
