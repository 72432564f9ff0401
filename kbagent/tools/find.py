"""The Find tool: the lines around each occurrence of a term in the pages just searched (Ctrl+F)."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence

from kbagent.hits import Hit
from kbagent.microformat import neutralize, unquote
from kbagent.reading import GAP, LineSelector, page_units
from kbagent.tools.base import CallContext, Searcher, ToolOutput, page_text
from kbagent.tools.search import one_line

FIND_BUDGET = 160


class Find:
    """``Find("term")``: the lines around each occurrence of a term in the pages just searched.

    ``Find("term", "Page title")`` looks in that page instead. Matching ignores case and character
    width; for CJK terms with no exact occurrence, lines sharing most of the term's character
    pairs count as near matches. This is the Ctrl+F the model presses inside a page.
    """

    name = "Find"
    description = 'Find("term") shows the lines around each occurrence of a term in the pages just searched.'

    def __init__(self, searcher: Searcher, *, selector: LineSelector | None = None, budget: int = FIND_BUDGET,
                 context_lines: int = 1) -> None:
        self.searcher = searcher
        self.selector = selector or LineSelector()
        self.budget = budget
        self.context_lines = context_lines

    def __call__(self, input: str) -> str:
        """The result text for a term (no earlier Search: the term is searched first)."""
        return self.run_in(input, CallContext()).text

    def run_in(self, input: str, context: CallContext) -> ToolOutput:
        """Find the term in the named page, else in the pages of this answer's Searches."""
        term, page = _find_arguments(input)
        if not term:
            return ToolOutput("Error: Find needs a term, e.g. Find(\"fare\")")
        if page:
            pages = [h for h in self.searcher.search(page, 5) if _same(h.title, page)][:1]
            if not pages:
                return ToolOutput(f"No page titled {page!r}.")
        else:
            pages = list(context.pages[:3]) or self.searcher.search(term, 3)
        if not pages:
            return ToolOutput(f"No results for {term!r}.")
        parts: list[str] = []
        used = 0
        found: list[Hit] = []
        for i, h in enumerate(pages, 1):
            units = page_units(page_text(self.searcher, h), h.title)
            rows = occurrences(units, term)
            if not rows:
                continue
            keep: set[int] = set()
            for r in rows:
                keep.update(range(max(0, r - self.context_lines), min(len(units), r + self.context_lines + 1)))
            lines = [units[j] if j == 0 or j - 1 in keep else GAP.strip() + " " + units[j] for j in sorted(keep)]
            text = f"({i}) {one_line(h.title)}: " + " ".join(lines)
            cost = self.selector.count_tokens(text)
            if used and used + cost > self.budget:
                break
            if cost > self.budget:
                text = text[: max(40, len(text) * self.budget // cost)].rstrip() + "…"
                cost = self.budget
            parts.append(text)
            used += cost
            found.append(h)
        if not parts:
            titles = ", ".join(one_line(h.title) for h in pages)
            return ToolOutput(neutralize(f"No line contains {term!r} in {titles}."))
        return ToolOutput(neutralize(" ".join(parts)), tuple(found))


def _find_arguments(input: str) -> tuple[str, str]:
    """``"term"`` or ``"term", "Page"`` (quotes optional for a single term)."""
    quoted = re.findall(r'"([^"]*)"|「([^」]*)」|“([^”]*)”', input)
    values = [next(v for v in q if v) for q in quoted if any(q)]
    if len(values) >= 2:
        return values[0].strip(), values[1].strip()
    if values:
        return values[0].strip(), ""
    return unquote(input).strip(), ""


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _same(a: str, b: str) -> bool:
    return " ".join(_fold(a).split()) == " ".join(_fold(b).split())


def occurrences(units: Sequence[str], term: str) -> list[int]:
    """The units holding the term: exactly (case/width folded), else every word, else most CJK pairs."""
    t = " ".join(_fold(term).split())
    if not t:
        return []
    folded = [_fold(u) for u in units]
    exact = [i for i, u in enumerate(folded) if t in u]
    if exact:
        return exact
    words = t.split()
    if len(words) > 1:
        every = [i for i, u in enumerate(folded) if all(w in u for w in words)]
        if every:
            return every
    compact = t.replace(" ", "")
    pairs = {compact[i : i + 2] for i in range(len(compact) - 1)}
    if len(pairs) < 2:
        return []
    need = max(2, math.ceil(0.6 * len(pairs)))
    return [i for i, u in enumerate(folded) if sum(p in u for p in pairs) >= need]
