"""What answering produces: the answer with its tool calls and sources, and the events streamed while it is written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kbagent.hits import Hit
from kbagent.microformat import strip_calls


@dataclass(frozen=True)
class CallRecord:
    """One tool call made while answering: what was asked, what came back, how long it took, the pages it found."""

    tool: str
    input: str
    result: str
    seconds: float = 0.0
    ok: bool = True
    hits: tuple[Hit, ...] = ()


@dataclass(frozen=True)
class Answer:
    """A finished answer: its text (calls included, as written), the calls, and the pages used."""

    question: str
    text: str
    calls: tuple[CallRecord, ...] = ()
    sources: tuple[Hit, ...] = ()
    stop_reason: str = "eos"
    tokens: int = 0
    seconds: float = 0.0

    @property
    def plain(self) -> str:
        """The answer without its tool calls."""
        return strip_calls(self.text)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``kb ask --json``; the calls' hits are in ``sources``)."""
        return {
            "question": self.question,
            "answer": self.text,
            "plain": self.plain,
            "calls": [
                {"tool": c.tool, "input": c.input, "result": c.result, "seconds": round(c.seconds, 4), "ok": c.ok}
                for c in self.calls
            ],
            "sources": [{"title": h.title, "url": h.url, "source": h.source, "doc_id": h.doc_id} for h in self.sources],
            "stop_reason": self.stop_reason,
            "tokens": self.tokens,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class TextDelta:
    """Text the model wrote (arrows of calls included)."""

    text: str


@dataclass(frozen=True)
class ToolCallStarted:
    """The model asked for a tool; it is running."""

    tool: str
    input: str


@dataclass(frozen=True)
class ToolCallFinished:
    """A tool call is done (``call.hits`` are the pages it found); ``text`` is what was spliced into the answer."""

    call: CallRecord
    text: str


@dataclass(frozen=True)
class Done:
    """The answer is complete."""

    answer: Answer


Event = TextDelta | ToolCallStarted | ToolCallFinished | Done
