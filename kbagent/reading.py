"""What the model reads from a page: the lines that best match the question, within a token budget.

A search hit is the best *chunk* of a page, but the line that answers a question is often elsewhere
on the page (a trip page's fare line is not its first 160 characters). So the Search result the
model reads is built for reading: the page is split into lines and sentences, each is scored by how
much of the question and the model's query it covers (IDF-weighted within the page, CJK-aware, with
function words left out) and — when an embedder is at hand — by embedding similarity to the
question, which carries questions asked in another language. The best lines are kept in page order
(gaps marked ``…``) until the page's share of the token budget, counted in the answering model's
own tokenizer, is used.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from kbagent.indexes.lexical import CJK_FUNCTION_CHARS as _CJK_FUNCTION_CHARS
from kbagent.indexes.lexical import CJK_QUESTION_WORDS as _CJK_QUESTION_WORDS
from kbagent.indexes.lexical import FUNCTION_WORDS, analyze
from kbagent.plaintext import plain_line

TokenCounter = Callable[[str], int]

GAP = " … "
# At most this many lines of one page are embedded for a question: a page is rarely longer, and
# each line costs a few milliseconds of encoding.
MAX_EMBEDDED_UNITS = 24
# Lines are embedded only when words say too little: below this lexical coverage (a question in
# another language, or in other words). Embedding a page's lines costs about a second on 2 cores,
# matching words a few milliseconds.
WEAK_LEXICAL = 0.3
# A sentence longer than this many characters is cut into pieces of about this size.
MAX_UNIT_CHARS = 220

_SENTENCE_END = re.compile(r"(?<=[。！？!?])|(?<=[.;])\s+(?=[A-Z0-9\"'(])|(?<=；)")
_ONLY_LINK = re.compile(r"^\[?\s*(?:https?://\S+|[^\[\]]+\.icon)\s*\]?$")


class LineEmbedder(Protocol):
    """Anything that embeds a question and lines in one space (the knowledge base's e5 model)."""

    def embed_query(self, text: str) -> np.ndarray:
        """One query vector (normalised)."""
        ...

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """One row per text (normalised)."""
        ...


@dataclass(frozen=True)
class PageView:
    """The part of one page the model is shown: its title and the chosen lines, in page order."""

    title: str
    text: str
    units: int
    shown: int


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate: one token per CJK character, one per four other characters."""
    cjk = sum(1 for ch in text if ord(ch) >= 0x2E80)
    return cjk + math.ceil((len(text) - cjk) / 4)


def clean_line(line: str) -> str:
    """A line as a reader sees it: plain text (no markup, link targets or noise), widths unified."""
    return plain_line(unicodedata.normalize("NFKC", line))


def page_units(text: str, title: str = "") -> list[str]:
    """A page cut into readable units: lines, long lines into sentences; blank and link-only lines dropped."""
    units: list[str] = []
    for raw in text.splitlines():
        line = clean_line(raw)
        if not line or line == title or _ONLY_LINK.match(line):
            continue
        for sentence in _SENTENCE_END.split(line):
            sentence = sentence.strip()
            while len(sentence) > MAX_UNIT_CHARS:
                cut = sentence.rfind(" ", 0, MAX_UNIT_CHARS)
                cut = cut if cut > MAX_UNIT_CHARS // 2 else MAX_UNIT_CHARS
                units.append(sentence[:cut].strip())
                sentence = sentence[cut:].strip()
            if sentence:
                units.append(sentence)
    return units


def content_terms(text: str) -> dict[str, float]:
    """The terms of a question that carry meaning, with a base weight (CJK unigrams count less)."""
    terms = analyze(text)
    out: dict[str, float] = {}
    for t in terms.stream:
        if t in FUNCTION_WORDS or t in _CJK_QUESTION_WORDS or all(ch in _CJK_FUNCTION_CHARS for ch in t):
            continue
        out[t] = 1.0
    for ch in terms.chars:
        if ch not in _CJK_FUNCTION_CHARS:
            out.setdefault(ch, 0.3)
    return out


def lexical_scores(units: Sequence[str], texts: Sequence[str]) -> list[float]:
    """For each unit, the IDF-weighted share of the texts' meaningful terms it contains (0..1)."""
    wanted: dict[str, float] = {}
    for t in texts:
        for term, w in content_terms(t).items():
            wanted[term] = max(wanted.get(term, 0.0), w)
    if not wanted or not units:
        return [0.0] * len(units)
    unit_terms = []
    for u in units:
        a = analyze(u)
        unit_terms.append(set(a.stream) | set(a.chars))
    n = len(units)
    weight = {}
    for term, base in wanted.items():
        df = sum(1 for ts in unit_terms if term in ts)
        weight[term] = base * math.log(1 + (n + 1) / (df + 0.5))
    total = sum(weight.values()) or 1.0
    return [sum(w for term, w in weight.items() if term in ts) / total for ts in unit_terms]


class LineSelector:
    """Chooses the lines of pages that the model reads for a question."""

    def __init__(self, count_tokens: TokenCounter | None = None, embedder: LineEmbedder | None = None,
                 embedding_weight: float = 0.5) -> None:
        self.count_tokens = count_tokens or approx_tokens
        self.embedder = embedder
        self.embedding_weight = embedding_weight

    def scores(self, units: Sequence[str], question: str, query: str = "", embed: bool = True) -> list[float]:
        """How well each unit answers: lexical coverage of question and query, plus embedding similarity.

        The embedder is asked only when ``embed`` and the words match weakly.
        """
        lex = lexical_scores(units, [question, query] if query else [question])
        if self.embedder is None or not units or not embed or max(lex) >= WEAK_LEXICAL:
            return lex
        head = list(units[:MAX_EMBEDDED_UNITS])
        sims = _similarities(self.embedder, question, head)
        out = list(lex)
        for i, s in enumerate(sims):
            out[i] += self.embedding_weight * s
        return out

    def view(self, title: str, text: str, question: str, query: str, budget: int, embed: bool = True) -> PageView:
        """The best lines of one page within ``budget`` tokens, in page order."""
        units = page_units(text, title)
        if not units:
            return PageView(title, "", 0, 0)
        scores = self.scores(units, question, query, embed)
        order = sorted(range(len(units)), key=lambda i: (-scores[i], i))
        chosen: list[int] = []
        used = self.count_tokens(title) + 2
        for i in order:
            cost = self.count_tokens(units[i]) + 1
            if used + cost > budget:
                if not chosen:  # the best line alone is too long: show its start
                    units[i] = _cut_to(units[i], budget - used, self.count_tokens)
                    chosen.append(i)
                continue
            chosen.append(i)
            used += cost
        chosen.sort()
        parts: list[str] = []
        for j, i in enumerate(chosen):
            if j and i != chosen[j - 1] + 1:
                parts.append(GAP.strip())
            parts.append(units[i])
        return PageView(title, " ".join(parts).replace(" … ", GAP), len(units), len(chosen))


def _similarities(embedder: LineEmbedder, question: str, units: list[str]) -> list[float]:
    """Cosine similarity of each unit to the question, rescaled to 0..1 within the page."""
    q = np.asarray(embedder.embed_query(question), dtype=np.float32)
    m = np.asarray(embedder.embed_passages(units), dtype=np.float32)
    sims = m @ q
    lo, hi = float(sims.min()), float(sims.max())
    if hi - lo < 1e-6:
        return [0.0] * len(units)
    return [float((s - lo) / (hi - lo)) for s in sims]


def _cut_to(text: str, budget: int, count: TokenCounter) -> str:
    if budget <= 0:
        return ""
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix within budget (binary search on characters)
        mid = (lo + hi + 1) // 2
        if count(text[:mid]) + 1 <= budget:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + ("…" if lo < len(text) else "")


def shares(n: int, first: float = 0.6) -> list[float]:
    """How the budget is divided among ``n`` pages: the best gets ``first``, the rest equally."""
    if n <= 1:
        return [1.0] * n
    rest = (1.0 - first) / (n - 1)
    return [first] + [rest] * (n - 1)


def tokenizer_counter(lm: Any) -> TokenCounter | None:
    """A token counter from a local model's tokenizer, or None when the model has none."""
    encode = getattr(lm, "encode", None)
    if not callable(encode):
        return None

    def count(text: str) -> int:
        return len(encode(text))

    return count
