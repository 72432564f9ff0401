"""Training material from public data sets, rendered in the product's own format.

The model is to learn skills — read an answer out of what Search shows, say so when it is not
there, chain Calculator calls — not the shapes of a few templates. So besides the generated corpora
it learns from material written by others:

- reading: JaQuAD (Japanese) and CMRC 2018 (Chinese) questions over their Wikipedia paragraphs, and
  questions about the MIT-licensed Logseq documentation pages (English). The paragraphs are indexed
  into a knowledge base and every Search result is the real text kbagent's Search tool builds over
  it, distractors included: ``Question: … Answer: [Search("…") → (1) …] <span>。``. When the page was
  found but the lines shown miss the answer, the example looks inside with ``Find``; when the
  results do not hold the answer at all, the answer is the short "not in your notes" sentence;
- arithmetic: GSM8K's ``<<48/2=24>>`` annotations become a chain of Calculator calls, each checked
  by running kbagent's calculator.

Only units in the *train* split (:mod:`kbagent.splits`) are used; dev and test articles, pages and
problems never reach training.
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbagent.documents import Document
from kbagent.knowledgebase import Hit
from kbagent.microformat import quote
from kbagent.refusal import language_of, refusal_for
from kbagent.splits import is_training
from kbagent.tools import Calculator, CallContext, Find, Search, Searcher, format_number
from kbagent.training import Example, KeptCall, answer_pieces

_ANNOTATION = re.compile(r"<<([^=<>]+)=([^<>]+)>>")
_QUESTION_TAIL = re.compile(r"[?？。.!！\s]+$")


@dataclass(frozen=True)
class ReadingItem:
    """A question over one paragraph of an article, with its answer span."""

    dataset: str
    article: str
    doc_id: str
    context: str
    question: str
    answer: str


@dataclass
class MixStats:
    """What the builders made and dropped, by reason (for the data summary)."""

    made: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"made": dict(self.made), "dropped": dict(self.dropped)}


def squad_items(path: Path, dataset: str) -> list[ReadingItem]:
    """The questions of a SQuAD-format file whose article is in the train split (first answer as gold)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    items: list[ReadingItem] = []
    for article in raw["data"]:
        title = str(article.get("title") or article.get("id") or "")
        if not title or not is_training(dataset, title):
            continue
        for p_no, para in enumerate(article["paragraphs"]):
            doc_id = f"{dataset}:{title}:{p_no}"
            for qa in para.get("qas", ()):
                answers = qa.get("answers") or ()
                if not answers or not str(answers[0].get("text", "")).strip():
                    continue
                items.append(ReadingItem(dataset, title, doc_id, para["context"], " ".join(qa["question"].split()),
                                         str(answers[0]["text"]).strip()))
    return items


def paragraph_documents(items: Iterable[ReadingItem]) -> list[Document]:
    """One document per paragraph (title = the article's title), each once."""
    seen: dict[str, Document] = {}
    for it in items:
        if it.doc_id not in seen:
            seen[it.doc_id] = Document(id=it.doc_id, source=it.dataset, title=it.article, text=it.context)
    return list(seen.values())


def search_query(question: str) -> str:
    """The query the model is taught to write: the question without its closing punctuation."""
    return _QUESTION_TAIL.sub("", question)[:80]


def answer_sentence(span: str, question: str) -> str:
    """The answer as the model writes it: the span, closed in the question's language."""
    span = span.strip()
    if language_of(question) == "en":
        return span if span.endswith((".", "!", "?")) else span + "."
    return span if span.endswith(("。", "！", "？")) else span + "。"


def contains(text: str, answer: str) -> bool:
    """Whether the answer occurs in a text (width- and case-folded, spaces ignored)."""
    def fold(s: str) -> str:
        return "".join(unicodedata.normalize("NFKC", s).casefold().split())

    return bool(answer.strip()) and fold(answer) in fold(text)


def find_term(question: str, sentence: str) -> str:
    """A term of the question that the answer's sentence also holds (what a reader would Ctrl+F)."""
    q = unicodedata.normalize("NFKC", question)
    s = unicodedata.normalize("NFKC", sentence)
    if language_of(question) == "en":
        words = [w for w in re.findall(r"[A-Za-z][A-Za-z0-9-]{3,}", q) if w.lower() in s.lower()]
        return max(words, key=len) if words else ""
    best = ""
    for i in range(len(q)):
        for j in range(i + len(best) + 1, min(len(q), i + 12) + 1):
            piece = q[i:j]
            if piece in s and not re.search(r"[?？、。\s]", piece):
                best = piece
            else:
                break
    return best if len(best) >= 2 else ""


def _sentence_with(context: str, answer: str) -> str:
    i = context.find(answer)
    if i < 0:
        return ""
    start = max(context.rfind(ch, 0, i) for ch in "。.!?！？\n") + 1
    ends = [e for e in (context.find(ch, i + len(answer)) for ch in "。.!?！？\n") if e >= 0]
    return context[start : (min(ends) + 1 if ends else len(context))]


class ExcludingPage:
    """A searcher that never returns one page: for examples whose answer is not in the results."""

    def __init__(self, searcher: Searcher, doc_id: str) -> None:
        self.searcher = searcher
        self.doc_id = doc_id

    def search(self, query: str, k: int) -> list[Hit]:
        """The hits of the wrapped searcher without the excluded page."""
        return [h for h in self.searcher.search(query, k + 1) if h.doc_id != self.doc_id][:k]

    def page_text(self, source: str, doc_id: str) -> str:
        """The wrapped searcher's page text."""
        read = getattr(self.searcher, "page_text", None)
        return str(read(source, doc_id)) if callable(read) else ""


def _call(tool: str, input: str, result: str) -> KeptCall:
    return KeptCall(tool, input, result, 0, 0.0, 0.0)


def reading_example(item: ReadingItem, search: Search, find: Find, stats: MixStats) -> Example | None:
    """``[Search(…) → …]`` (and ``[Find(…) → …]`` when the lines shown miss it) then the span."""
    query = search_query(item.question)
    ctx = CallContext(item.question)
    out = search.run_in(quote(query), ctx)
    calls = [_call("Search", quote(query), out.text)]
    if not contains(out.text, item.answer):
        if item.doc_id not in {h.doc_id for h in out.sources}:
            stats.dropped[f"{item.dataset}: page not found"] += 1
            return None
        term = find_term(item.question, _sentence_with(item.context, item.answer))
        if not term:
            stats.dropped[f"{item.dataset}: answer not shown, no term to find"] += 1
            return None
        page = [h for h in out.sources if h.doc_id == item.doc_id]
        found = find.run_in(quote(term), CallContext(item.question, tuple(page)))
        if not contains(found.text, item.answer):
            stats.dropped[f"{item.dataset}: Find did not show the answer"] += 1
            return None
        calls.append(_call("Find", quote(term), found.text))
        stats.made[f"{item.dataset}: Search+Find"] += 1
    else:
        stats.made[f"{item.dataset}: Search"] += 1
    return Example("qa", answer_pieces(item.question, calls, answer_sentence(item.answer, item.question)),
                   tuple(calls), f"reading:{item.dataset}")


def refusal_example(item: ReadingItem, search: Search, stats: MixStats) -> Example | None:
    """The same question over an index without its page: the results lack the answer, so say so."""
    blind = Search(ExcludingPage(search.searcher, item.doc_id), k=search.k, selector=search.selector,
                   budget=search.budget, with_question=search.with_question)
    query = search_query(item.question)
    out = blind.run_in(quote(query), CallContext(item.question))
    if contains(out.text, item.answer):
        stats.dropped[f"{item.dataset}: answer elsewhere too"] += 1
        return None
    stats.made[f"{item.dataset}: not in notes"] += 1
    calls = (_call("Search", quote(query), out.text),)
    return Example("qa", answer_pieces(item.question, calls, refusal_for(item.question)), calls,
                   f"refusal:{item.dataset}")


def reading_examples(
    items: Sequence[ReadingItem], search: Search, find: Find, n: int, rng: random.Random,
    refusal_share: float = 0.12, stats: MixStats | None = None,
) -> list[Example]:
    """Up to ``n`` reading examples, a share of them over results that lack the answer."""
    stats = stats if stats is not None else MixStats()
    order = list(items)
    rng.shuffle(order)
    out: list[Example] = []
    refusals = int(n * refusal_share)
    for it in order:
        if len(out) >= n:
            break
        ex = refusal_example(it, search, stats) if refusals > 0 else reading_example(it, search, find, stats)
        if ex is not None:
            if ex.origin.startswith("refusal"):
                refusals -= 1
            out.append(ex)
    return out


# --- arithmetic: GSM8K ----------------------------------------------------------------------------


@dataclass(frozen=True)
class WordProblem:
    """A word problem with its calculator steps (expression, result) and final answer."""

    question: str
    steps: tuple[tuple[str, str], ...]
    answer: str


def gsm8k_problems(path: Path) -> list[WordProblem]:
    """GSM8K problems of the train split, their ``<<a*b=c>>`` steps and final answers."""
    out: list[WordProblem] = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            q = " ".join(str(r["question"]).split())
            if not is_training("gsm8k", q):
                continue
            sol = str(r["answer"])
            final = sol.rsplit("####", 1)[-1].strip().replace(",", "")
            steps = tuple((m.group(1).strip(), m.group(2).strip()) for m in _ANNOTATION.finditer(sol))
            out.append(WordProblem(q, steps, final))
    return out


_UNIT = re.compile(r"\bhow (?:many|much) ([a-z]+(?: [a-z]+)?)", re.IGNORECASE)
_NOT_UNITS = {"more", "less", "does", "did", "do", "will", "is", "are", "was", "were", "has", "have", "can", "money"}


def _unit(question: str) -> str:
    m = _UNIT.search(question)
    if not m:
        return ""
    word = m.group(1).split()[0].lower()
    return "" if word in _NOT_UNITS else word


_OPERAND = re.compile(r"(?<![\d.])\d+(?:\.\d+)?(?![\d.])")


def compound_expression(steps: Sequence[tuple[str, str]]) -> str:
    """The steps folded into one expression: a later step's operand equal to an earlier step's
    result is replaced by that step's expression in parentheses (``48/2``, ``48+24`` → ``48+(48/2)``)."""
    built: dict[str, str] = {}
    expr = ""
    for raw, result in steps:
        expr = _OPERAND.sub(lambda m: _operand(built.get(m.group(), m.group())), raw)
        built.setdefault(result.replace(",", ""), expr)
    return expr


def _operand(expr: str) -> str:
    return expr if _OPERAND.fullmatch(expr) else f"({expr})"


def calculator_example(
    problem: WordProblem, stats: MixStats | None = None, max_steps: int = 6, compound: bool = False
) -> Example | None:
    """``[Calculator(a) → x] [Calculator(b) → y] y units.``: each step run by kbagent's calculator.

    With ``compound`` the steps are one checked call, ``[Calculator(48+(48/2)) → 72] 72 clips.``:
    the one-call form the word-problem corpus teaches, so a chain never has to decide when to stop
    (a model tuned on chains kept calling on one-step problems: MAWPS dev 63 → 23 %).
    """
    stats = stats if stats is not None else MixStats()
    if not problem.steps or len(problem.steps) > max_steps:
        stats.dropped["gsm8k: no steps or too many"] += 1
        return None
    if compound:
        return _compound_example(problem, stats)
    calc = Calculator()
    calls: list[KeptCall] = []
    for expr, want in problem.steps:
        expr = _step_expression(expr)
        got = calc(expr)
        try:
            ok = abs(float(got) - float(want.replace(",", ""))) < 1e-6 * max(1.0, abs(float(got)))
        except ValueError:
            ok = False
        if not ok:
            stats.dropped["gsm8k: a step does not compute"] += 1
            return None
        calls.append(_call("Calculator", expr, got))
    final = _final_answer(problem, stats)
    if final is None:
        return None
    if calls[-1].result != final:
        stats.dropped["gsm8k: last step is not the answer"] += 1
        return None
    unit = _unit(problem.question)
    stats.made["gsm8k"] += 1
    return Example("qa", answer_pieces(problem.question, calls, f"{final} {unit}.".replace(" .", ".")),
                   tuple(calls), "arithmetic:gsm8k")


def _step_expression(expr: str) -> str:
    # GSM8K writes some products as 3x4; only in a purely numeric step is "x" a times sign
    return expr.replace("x", "*") if re.fullmatch(r"[\d.\s+\-*/()x%]+", expr) else expr


def _final_answer(problem: WordProblem, stats: MixStats) -> str | None:
    try:
        return format_number(float(problem.answer))
    except ValueError:
        stats.dropped["gsm8k: answer not a number"] += 1
        return None


def _compound_example(problem: WordProblem, stats: MixStats) -> Example | None:
    steps = [(_step_expression(e), r) for e, r in problem.steps]
    expr = compound_expression(steps)
    got = Calculator()(expr)
    final = _final_answer(problem, stats)
    if final is None:
        return None
    if got != final:
        stats.dropped["gsm8k: the folded expression is not the answer"] += 1
        return None
    call = _call("Calculator", expr, got)
    stats.made["gsm8k (one call)"] += 1
    unit = _unit(problem.question)
    return Example("qa", answer_pieces(problem.question, [call], f"{final} {unit}.".replace(" .", ".")),
                   (call,), "arithmetic:gsm8k")


def sample(items: Sequence[Any], n: int, rng: random.Random) -> list[Any]:
    """Up to ``n`` items, drawn without replacement."""
    return rng.sample(list(items), min(n, len(items)))


def iter_examples(*groups: Iterable[Example | None]) -> Iterator[Example]:
    """The examples of several builders, the dropped (None) ones left out."""
    for g in groups:
        for ex in g:
            if ex is not None:
                yield ex
