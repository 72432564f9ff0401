"""The Search tool: the best pages for a query, and from each the lines that answer the question."""

from __future__ import annotations

from collections.abc import Sequence

from kbagent.hits import Hit
from kbagent.microformat import neutralize, unquote
from kbagent.plaintext import plain_text
from kbagent.reading import LineSelector, shares
from kbagent.tools.base import CallContext, Searcher, ToolOutput, page_text

SEARCH_BUDGET = 200  # tokens of the answering model for all hits of one Search result


class Search:
    """``Search(query)``: the best pages for a query and, from each, the lines that answer the question."""

    name = "Search"
    description = "Search(query) finds passages in your notes; returns the best snippets with page titles."

    def __init__(
        self,
        searcher: Searcher,
        k: int = 3,
        snippet_chars: int = 160,
        *,
        selector: LineSelector | None = None,
        budget: int = SEARCH_BUDGET,
        with_question: bool = True,
    ) -> None:
        self.searcher = searcher
        self.k = k
        self.snippet_chars = snippet_chars
        self.selector = selector or LineSelector()
        self.budget = budget
        self.with_question = with_question

    def __call__(self, input: str) -> str:
        """The result text for a query."""
        return self.run(input).text

    def run(self, input: str) -> ToolOutput:
        """Search and keep the hits, so that the answer can link the pages it used."""
        return self.run_in(input, CallContext())

    def run_in(self, input: str, context: CallContext) -> ToolOutput:
        """Search with the model's query (fused with the user's question) and show the lines that matter."""
        query = unquote(input)
        if not query:
            return ToolOutput("Error: empty search query")
        hits = self.searcher.search(query, self.k)
        question = " ".join(context.question.split())
        if self.with_question and question and question != query:
            hits = fuse_rankings(hits, self.searcher.search(question, self.k), k=self.k)
        if not hits:
            return ToolOutput(f"No results for {query!r}.")
        return ToolOutput(neutralize(self.render(hits, question or query, query)), tuple(hits))

    def render(self, hits: Sequence[Hit], question: str, query: str) -> str:
        """``(1) Title: lines … (2) Title: lines``: the best page gets the most room."""
        parts: list[str] = []
        spare = 0.0
        for i, (h, share) in enumerate(zip(hits, shares(len(hits)), strict=True), 1):
            title = one_line(h.title) or h.doc_id
            room = int(self.budget * share + spare)
            # only the best page's lines may be embedded: it gets the most room and the cost is per line
            view = self.selector.view(title, page_text(self.searcher, h), question, query, room, embed=i == 1)
            shown = view.text or self._snippet(h)
            spare = max(0.0, room - self.selector.count_tokens(f"({i}) {title}: {shown}"))
            parts.append(f"({i}) {title}: {shown}")
        return " ".join(parts)

    def _snippet(self, hit: Hit) -> str:
        text = one_line(hit.snippet or plain_text(hit.text))
        if len(text) > self.snippet_chars:
            text = text[: self.snippet_chars - 1].rstrip() + "…"
        return text


def one_line(text: str) -> str:
    """The text on one line, runs of white space as one space (page titles in results)."""
    return " ".join(text.split())


def fuse_rankings(*rankings: Sequence[Hit], k: int, c: int = 60) -> list[Hit]:
    """Reciprocal rank fusion of several hit lists (by page); the first list wins ties."""
    scores: dict[tuple[str, str], float] = {}
    first: dict[tuple[str, str], Hit] = {}
    for ranking in rankings:
        for rank, h in enumerate(ranking):
            key = (h.source, h.doc_id)
            scores[key] = scores.get(key, 0.0) + 1.0 / (c + rank + 1)
            first.setdefault(key, h)
    order = sorted(scores, key=lambda key: -scores[key])
    return [first[key] for key in order[:k]]
