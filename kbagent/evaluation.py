"""``kb eval``: how often the agent answers right, with its tools and without them.

Three kinds of questions:

- arithmetic word problems (MAWPS-style), scored as the Toolformer paper does: the first number in
  the answer (here: in the text the user reads, tool calls removed) must equal the gold number;
- date questions, most of which need today's date (the paper's DATESET idea; the Calendar's clock
  is fixed per question) plus date/time arithmetic questions from a file (TRAM-style);
- note look-up questions over an indexed folder: does the model call Search, and is the page that
  holds the answer among the pages it cites.
"""

from __future__ import annotations

import csv
import json
import random
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from kbagent.agent import Agent, Answer
from kbagent.tools import MONTHS, WEEKDAYS

# Published zero-shot accuracies (%) from the Toolformer paper (Schick et al., 2023, table 4).
PAPER_RESULTS: dict[str, dict[str, float]] = {
    "GPT-J 6.7B + tools (Toolformer)": {"ASDiv": 40.4, "SVAMP": 29.4, "MAWPS": 44.0},
    "GPT-3 175B, no tools": {"ASDiv": 14.0, "SVAMP": 10.0, "MAWPS": 19.8},
}

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


@dataclass(frozen=True)
class EvalItem:
    """One question with what counts as right.

    ``gold`` is a number for kind ``arithmetic`` (and numeric date answers), else text the answer
    must contain; ``page`` is the title (or id) of the page a note question needs; ``today`` is
    the date the Calendar reports for this question.
    """

    question: str
    gold: str
    kind: str
    page: str = ""
    today: date | None = None
    category: str = ""


@dataclass(frozen=True)
class ItemResult:
    """The agent's answer to one question and how it was scored."""

    question: str
    gold: str
    answer: str
    plain: str
    correct: bool
    tools_called: tuple[str, ...]
    cited: tuple[str, ...]
    right_page_cited: bool | None
    seconds: float


@dataclass(frozen=True)
class SetResult:
    """One question set under one setting (with or without tools)."""

    name: str
    kind: str
    tools: bool
    n: int
    accuracy: float
    search_rate: float | None
    cited_rate: float | None
    seconds_per_question: float
    items: tuple[ItemResult, ...] = field(default_factory=tuple)

    def to_dict(self, with_items: bool = True) -> dict[str, Any]:
        """JSON-ready (answers included unless ``with_items`` is false)."""
        d = asdict(self)
        if not with_items:
            d.pop("items")
        return d


# --- scoring ----------------------------------------------------------------------------------------


def first_number(text: str) -> float | None:
    """The first number written in ``text`` (thousands separators allowed), or None."""
    m = _NUMBER.search(text)
    if m is None:
        return None
    try:
        return float(m.group().replace(",", ""))
    except ValueError:
        return None


def numbers_match(value: float | None, gold: float) -> bool:
    """Equal up to rounding to two decimals (answers like 3.33 for 10/3 count)."""
    if value is None:
        return False
    return abs(value - gold) < 1e-6 or round(value, 2) == round(gold, 2)


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("\u3000", " ").split()).strip(" .。!?")


def score(item: EvalItem, answer: Answer) -> bool:
    """Whether the answer is right: first number for numeric golds, else the gold text is in it."""
    plain = answer.plain
    try:
        gold_number = float(item.gold.replace(",", ""))
    except ValueError:
        gold_number = None
    if gold_number is not None:
        return numbers_match(first_number(plain), gold_number)
    return _norm(item.gold) in _norm(plain)


def page_cited(item: EvalItem, answer: Answer) -> bool:
    """Whether the page the question needs is among the pages the answer's searches returned."""
    want = _norm(item.page)
    return any(want in (_norm(h.title), _norm(h.doc_id), _norm(Path(h.doc_id).stem)) for h in answer.sources)


# --- question sets ----------------------------------------------------------------------------------


def _detokenize(text: str) -> str:
    """MAWPS writes tokens apart (``apples .``); put punctuation back where a person writes it."""
    text = re.sub(r"\s+([.,?!;:%])", r"\1", text)
    text = re.sub(r"\s+(['’]s)\b", r"\1", text)
    return " ".join(text.split())


def load_mawps(path: Path, n: int | None = None, seed: int = 0) -> list[EvalItem]:
    """MAWPS problems (MWPToolkit's ``MAWPS.json``): question and numeric answer, a seeded sample."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    items = []
    for r in raw:
        try:
            gold = float(str(r["ans"]).replace(",", ""))
        except (KeyError, ValueError):
            continue
        items.append(EvalItem(_detokenize(str(r["original_text"])), _fmt(gold), "arithmetic", category="MAWPS"))
    return _sample(items, n, seed)


# Hand-written problems in SVAMP's manner (question sensitivity, irrelevant numbers, reversed operations,
# changed structure, two steps, comparisons, division); none is copied from SVAMP, ASDiv or MAWPS.
SVAMP_STYLE = Path(__file__).parent / "data" / "eval" / "svamp-style.jsonl"


def load_word_problems(path: Path, n: int | None = None, seed: int = 0, category: str = "") -> list[EvalItem]:
    """Word problems from JSONL, ``{"question", "answer", "variation"?}`` per line, a seeded sample."""
    def item(r: dict[str, Any]) -> EvalItem:
        gold = float(str(r["answer"]).replace(",", ""))
        return EvalItem(str(r["question"]), _fmt(gold), "arithmetic", category=str(r.get("variation", category)))

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
        by_cat.setdefault(cat, []).append(EvalItem(r["Question"], r["Answer"], "date", category=cat))
    if n is None:
        return [i for items in by_cat.values() for i in items]
    per = max(1, n // max(1, len(by_cat)))
    out: list[EvalItem] = []
    for cat in sorted(by_cat):
        out += _sample(by_cat[cat], per, seed)
    return out[:n]


def generated_arithmetic(n: int, seed: int = 1000) -> list[EvalItem]:
    """Held-out generated word problems (a seed training never uses)."""
    from kbagent.corpora import arithmetic_problems

    return [EvalItem(q.question, q.gold, "arithmetic", category="generated")
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
        items.append(EvalItem(q, gold, "date", today=today, category="needs today"))
    return items


def load_note_questions(path: Path) -> list[EvalItem]:
    """Note look-up questions from JSONL: ``{"question", "page", "answer"?}`` per line."""
    return _read_records(
        path, lambda r: EvalItem(r["question"], str(r.get("answer", "")), "notes", page=r["page"]), "question")


def questions_from_index(chunks: Iterable[Any], n: int, seed: int = 1000) -> list[EvalItem]:
    """Note questions made from the indexed notes themselves (when no question file is given)."""
    from kbagent.training import note_qa_items

    chunks = list(chunks)
    rng = random.Random(seed)
    rng.shuffle(chunks)
    items = note_qa_items(chunks[: n * 2], rng)
    return [EvalItem(i.question, "", "notes", page=i.page) for i in items[:n]]


def _sample(items: list[EvalItem], n: int | None, seed: int) -> list[EvalItem]:
    if n is None or n >= len(items):
        return items
    return random.Random(seed).sample(items, n)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


# --- running ----------------------------------------------------------------------------------------


class FixedClock:
    """A Calendar clock that the evaluation sets to each question's "today"."""

    def __init__(self) -> None:
        self.today: date | None = None

    def __call__(self) -> datetime:
        """Noon on the current question's day (or now, if it has none)."""
        if self.today is None:
            return datetime.now().astimezone()
        return datetime(self.today.year, self.today.month, self.today.day, 12).astimezone()


def run_set(
    name: str,
    items: Sequence[EvalItem],
    agent: Agent,
    *,
    tools: bool,
    clock: FixedClock | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SetResult:
    """Ask every question and score the answers."""
    results: list[ItemResult] = []
    for k, item in enumerate(items):
        if clock is not None:
            clock.today = item.today
        t0 = time.perf_counter()
        answer = agent.ask(item.question)
        seconds = time.perf_counter() - t0
        cited = tuple(h.title for h in answer.sources)
        results.append(ItemResult(
            question=item.question, gold=item.gold, answer=answer.text, plain=answer.plain,
            correct=score(item, answer) if item.gold else False,
            tools_called=tuple(c.tool for c in answer.calls), cited=cited,
            right_page_cited=page_cited(item, answer) if item.page else None, seconds=round(seconds, 2),
        ))
        if progress:
            progress(k + 1, len(items))
    n = len(results)
    kind = items[0].kind if items else ""
    searched = [("Search" in r.tools_called) for r in results]
    pages = [r.right_page_cited for r in results if r.right_page_cited is not None]
    graded = [r.correct for r, i in zip(results, items, strict=True) if i.gold]
    return SetResult(
        name=name, kind=kind, tools=tools, n=n,
        accuracy=round(100 * sum(graded) / len(graded), 1) if graded else float("nan"),
        search_rate=round(100 * sum(searched) / n, 1) if kind == "notes" and n else None,
        cited_rate=round(100 * sum(pages) / len(pages), 1) if pages else None,
        seconds_per_question=round(sum(r.seconds for r in results) / n, 2) if n else 0.0,
        items=tuple(results),
    )


def table_rows(results: Sequence[SetResult]) -> list[tuple[str, str, str, str]]:
    """(set, with tools, without tools, notes) rows for printing: accuracy, search and citation rates."""
    rows: dict[str, dict[bool, SetResult]] = {}
    for r in results:
        rows.setdefault(r.name, {})[r.tools] = r
    out = []
    for name, by in rows.items():
        def cell(r: SetResult | None) -> str:
            if r is None:
                return "–"
            if r.kind == "notes":
                parts = [f"Search {r.search_rate:.0f}%" if r.search_rate is not None else ""]
                if r.cited_rate is not None:
                    parts.append(f"page cited {r.cited_rate:.0f}%")
                if r.accuracy == r.accuracy:  # not NaN
                    parts.append(f"acc {r.accuracy:.0f}%")
                return ", ".join(p for p in parts if p)
            return f"{r.accuracy:.1f}%"
        any_r = next(iter(by.values()))
        out.append((f"{name} (n={any_r.n})", cell(by.get(True)), cell(by.get(False)),
                    f"{any_r.seconds_per_question:.1f}s/q"))
    return out


def write_report(path: Path, model: str, results: Sequence[SetResult], extra: dict[str, Any] | None = None) -> None:
    """Write the results (every answer included) as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"model": model, "paper": PAPER_RESULTS, **(extra or {}),
               "sets": [r.to_dict() for r in results]}
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2, default=str), encoding="utf-8")


@dataclass(frozen=True)
class EvalPlan:
    """What ``kb eval`` runs: question sets by name, and with/without tools."""

    sets: dict[str, list[EvalItem]]
    with_tools: bool = True
    without_tools: bool = True


def default_plan(
    *,
    mawps: Path | None = None,
    tram: Path | None = None,
    note_questions: Sequence[EvalItem] = (),
    limit: int = 50,
    seed: int = 0,
    with_tools: bool = True,
    without_tools: bool = True,
    kinds: Sequence[str] = ("arithmetic", "svamp", "dates", "tram", "notes"),
    problems: Path | None = SVAMP_STYLE,
) -> EvalPlan:
    """MAWPS (or generated problems when no file is given), the SVAMP-style problems, date questions,
    TRAM if given, notes."""
    sets: dict[str, list[EvalItem]] = {}
    if "arithmetic" in kinds and mawps is not None:
        sets["MAWPS"] = load_mawps(mawps, limit, seed)
    elif "arithmetic" in kinds:
        sets["arithmetic (generated, held out)"] = generated_arithmetic(limit)
    if "svamp" in kinds and problems is not None:
        sets["SVAMP-style (hand-written)"] = load_word_problems(problems, limit, seed)
    if "dates" in kinds:
        sets["dates (needs today)"] = generated_dates(limit)
    if tram is not None and "tram" in kinds:
        sets["TRAM arithmetic"] = load_tram(tram, limit, seed,
                                            ("Year Shift", "Hour Adjustment (24h)", "Time Computation", "Application"))
    if note_questions and "notes" in kinds:
        sets["note look-up"] = list(note_questions)[:limit]
    return EvalPlan(sets, with_tools, without_tools)


class CallsDisabled:
    """A local model that can never open a call: every token containing ``[`` is banned.

    This is the paper's "Toolformer (disabled)": without tools a tuned model would still write
    calls and then invent their results.
    """

    def __init__(self, lm: Any) -> None:
        self.lm = lm
        self.name = lm.name
        self.prompt_style = getattr(lm, "prompt_style", "few-shot")
        vocab = lm.tokenizer.get_vocab()
        self.banned = sorted(i for tok, i in vocab.items() if "[" in lm.tokenizer.convert_tokens_to_string([tok]))

    def start(self, prompt: Any) -> Any:
        """A generation of the wrapped model with the bracket tokens banned."""
        gen = self.lm.start(prompt)
        gen.banned = self.banned
        return gen


def evaluate(
    plan: EvalPlan,
    model: Any,
    searcher: Any,
    config: Any,
    *,
    progress: Callable[[str, bool, int, int], None] | None = None,
    on_result: Callable[[list[SetResult]], None] | None = None,
) -> list[SetResult]:
    """Run every set of the plan with an already loaded model (with and/or without tools).

    Without tools, a local model cannot open calls at all (see :class:`CallsDisabled`).
    ``on_result`` gets the results so far after each set (to save them as the run goes on).
    """
    from kbagent.agent import build_agent

    clock = FixedClock()
    modes = [m for m, on in ((True, plan.with_tools), (False, plan.without_tools)) if on]
    results = []
    for tools in modes:
        lm = model if tools or not hasattr(model, "tokenizer") else CallsDisabled(model)
        agent = build_agent(searcher, config=config, model=lm, tools=tools, plugins=False, clock=clock,
                            max_tokens=96)
        for name, items in plan.sets.items():
            def step(done: int, total: int, name: str = name, tools: bool = tools) -> None:
                if progress:
                    progress(name, tools, done, total)

            results.append(run_set(name, items, agent, tools=tools, clock=clock, progress=step))
            if on_result is not None:
                on_result(list(results))
    return results
