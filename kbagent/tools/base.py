"""What a tool is: the ``Tool`` protocol, its output with the pages it cites, the call's context; running one.

A tool is a small object with a ``name``, a one-line ``description`` and ``__call__(input) -> str``.
Tools that can cite pages also offer ``run(input) -> ToolOutput`` with the hits behind the text,
and tools that read the answer so far offer ``run_in(input, context)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from kbagent.hits import Hit


@runtime_checkable
class Tool(Protocol):
    """Something the model can call as ``[name(input) → result]``."""

    name: str
    description: str

    def __call__(self, input: str) -> str:
        """Run the tool on the call's input (quotes already removed) and return the result text."""
        ...


@dataclass(frozen=True)
class ToolOutput:
    """A tool's result text and the pages it came from (for citations)."""

    text: str
    sources: tuple[Hit, ...] = ()


class Searcher(Protocol):
    """Anything that finds pages for a query: the knowledge base, or a fixed list in tests."""

    def search(self, query: str, k: int) -> list[Hit]:
        """The ``k`` best hits for ``query``, best first."""
        ...


@dataclass(frozen=True)
class CallContext:
    """What a tool may know about the answer it is called in: the user's question, pages found so far.

    ``pages`` are the hits of this answer's earlier Searches, the latest Search's first; Find looks
    inside them. Only the agent builds this; note text never reaches it except as page content.
    """

    question: str = ""
    pages: tuple[Hit, ...] = ()


def run_tool(tool: Tool, input: str, context: CallContext | None = None) -> ToolOutput:
    """Call a tool, with its sources if it can cite them (and the answer's context if it reads it)."""
    run_in = getattr(tool, "run_in", None)
    if context is not None and callable(run_in):
        out = run_in(input, context)
        return out if isinstance(out, ToolOutput) else ToolOutput(str(out))
    run = getattr(tool, "run", None)
    if callable(run):
        out = run(input)
        if isinstance(out, ToolOutput):
            return out
        return ToolOutput(str(out))
    return ToolOutput(str(tool(input)))


class PageReader(Protocol):
    """A searcher that can also give a page's whole text (the knowledge base)."""

    def page_text(self, source: str, doc_id: str) -> str:
        """The page's text (its chunks in order); empty when the page is unknown."""
        ...


def page_text(searcher: object, hit: Hit) -> str:
    """A hit's whole page when the searcher can read pages, else the hit's own chunk."""
    read = getattr(searcher, "page_text", None)
    if callable(read):
        text = read(hit.source, hit.doc_id)
        if isinstance(text, str) and text.strip():
            return text
    return hit.text
