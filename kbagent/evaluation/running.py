"""Asking the questions through the real agent loop, with tools and without, and scoring the answers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from kbagent.agent import Agent
from kbagent.evaluation.items import ItemResult, SetResult
from kbagent.evaluation.scoring import gold_shown, page_cited, reading_f1, score, share
from kbagent.questions import EvalItem
from kbagent.refusal import is_refusal
from kbagent.splits import Split

if TYPE_CHECKING:
    from kbagent.evaluation.plan import EvalPlan

# The kinds whose answers come from searched pages: Search rate and page found are reported.
SEARCH_KINDS = ("notes", "reading")


class FixedClock:
    """A Calendar clock that the evaluation sets to each question's "today"."""

    def __init__(self) -> None:
        self.today: date | None = None

    def __call__(self) -> datetime:
        """Noon on the current question's day (or now, if it has none)."""
        if self.today is None:
            return datetime.now().astimezone()
        return datetime(self.today.year, self.today.month, self.today.day, 12).astimezone()


def ask(item: EvalItem, agent: Agent, clock: FixedClock | None = None) -> ItemResult:
    """Ask one question and score the answer."""
    if clock is not None:
        clock.today = item.today
    t0 = time.perf_counter()
    answer = agent.ask(item.question)
    seconds = time.perf_counter() - t0
    reading = item.kind == "reading"
    return ItemResult(
        question=item.question, gold=item.gold, answer=answer.text, plain=answer.plain,
        correct=score(item, answer) if item.graded else False,
        tools_called=tuple(c.tool for c in answer.calls), cited=tuple(h.title for h in answer.sources),
        right_page_cited=page_cited(item, answer) if item.page else None, seconds=round(seconds, 2),
        id=item.id, lang=item.lang, category=item.category, unanswerable=item.unanswerable,
        refused=is_refusal(answer.plain),
        gold_shown=gold_shown(item, answer) if reading and not item.unanswerable else None,
        calls=tuple(f"{c.tool}({c.input})" for c in answer.calls),
        f1=round(reading_f1(item, answer.plain), 4) if reading and item.graded else None,
    )


def run_set(
    name: str,
    items: Sequence[EvalItem],
    agent: Agent,
    *,
    tools: bool,
    clock: FixedClock | None = None,
    progress: Callable[[int, int], None] | None = None,
    split: Split = "train",
    description: str = "",
) -> SetResult:
    """Ask every question and score the answers (``split`` labels the set: train, dev or test)."""
    results: list[ItemResult] = []
    for k, item in enumerate(items):
        results.append(ask(item, agent, clock))
        if progress:
            progress(k + 1, len(items))
    return summarize(name, items, results, tools=tools, split=split, description=description)


def summarize(
    name: str, items: Sequence[EvalItem], results: Sequence[ItemResult], *, tools: bool, split: Split = "train",
    description: str = "",
) -> SetResult:
    """One set's figures from its scored answers."""
    n = len(results)
    kind = items[0].kind if items else ""
    graded = [r.correct for r, i in zip(results, items, strict=True) if i.graded]
    pages = [r.right_page_cited for r in results if r.right_page_cited is not None]
    accuracy = share(graded)
    return SetResult(
        name=name, kind=kind, tools=tools, n=n, split=split, description=description,
        accuracy=accuracy if accuracy is not None else float("nan"),
        search_rate=share("Search" in r.tools_called for r in results) if kind in SEARCH_KINDS and n else None,
        cited_rate=share(bool(p) for p in pages),
        seconds_per_question=round(sum(r.seconds for r in results) / n, 2) if n else 0.0,
        items=tuple(results),
        metrics=reading_metrics(items, results) if kind == "reading" else {},
    )


def _group(pairs: Sequence[tuple[EvalItem, ItemResult]], key: Callable[[EvalItem], str]) -> dict[str, Any]:
    groups: dict[str, list[bool]] = {}
    for item, r in pairs:
        if item.graded and key(item):
            groups.setdefault(key(item), []).append(r.correct)
    return {k: {"n": len(v), "accuracy": share(v)} for k, v in sorted(groups.items())}


def reading_metrics(items: Sequence[EvalItem], results: Sequence[ItemResult]) -> dict[str, Any]:
    """Page found, the reading ceiling, Search/Find rates, accuracy per language and kind, refusals.

    The reading ceiling counts the answerable questions whose gold was in a Search/Find result the
    model read: a perfect reader would have got those right, so accuracy below it is a reading
    miss and the rest is a retrieval (or query) miss.
    """
    pairs = list(zip(items, results, strict=True))
    answerable = [(i, r) for i, r in pairs if not i.unanswerable]
    with_page = [(i, r) for i, r in answerable if i.page]
    found = [(i, r) for i, r in with_page if r.right_page_cited]
    unanswerable = [r.refused for i, r in pairs if i.unanswerable]
    return {
        "page_found": share(bool(r.right_page_cited) for _, r in with_page),
        "reading_ceiling": share(bool(r.gold_shown) for _, r in answerable),
        "reading_ceiling_page_found": share(bool(r.gold_shown) for _, r in found),
        "n_answerable": len(answerable),
        "n_page_found": len(found),
        "search_rate": share("Search" in r.tools_called for r in results),
        "find_rate": share("Find" in r.tools_called for r in results),
        "by_lang": _group(pairs, lambda i: i.lang),
        "by_kind": _group(pairs, lambda i: i.category),
        "unanswerable": {"n": len(unanswerable), "accuracy": share(unanswerable)},
        "refusal_rate_answerable": share(r.refused for _, r in answerable),
        "f1": _mean_pct(r.f1 for _, r in pairs if r.f1 is not None),
    }


def _mean_pct(values: Iterable[float]) -> float | None:
    values = list(values)
    return round(100 * sum(values) / len(values), 1) if values else None


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

    A set with its own corpus (reading sets, real notes) searches that corpus; the others search
    ``searcher``. Without tools, a local model cannot open calls at all (see :class:`CallsDisabled`).
    ``on_result`` gets the results so far after each set (to save them as the run goes on).
    """
    from kbagent.agent import build_agent

    clock = FixedClock()
    modes = [m for m, on in ((True, plan.with_tools), (False, plan.without_tools)) if on]
    results: list[SetResult] = []
    for tools in modes:
        lm = model if tools or not hasattr(model, "tokenizer") else CallsDisabled(model)
        agents: dict[int, Agent] = {}
        for name, items in plan.sets.items():
            info = plan.info_of(name)
            own = info.searcher if info.searcher is not None else searcher
            if id(own) not in agents:
                agents[id(own)] = build_agent(own, config=config, model=lm, tools=tools, plugins=False, clock=clock,
                                              max_tokens=96)

            def step(done: int, total: int, name: str = name, tools: bool = tools) -> None:
                if progress:
                    progress(name, tools, done, total)

            results.append(run_set(name, items, agents[id(own)], tools=tools, clock=clock, progress=step,
                                   split=info.split, description=info.description))
            if on_result is not None:
                on_result(list(results))
    return results
