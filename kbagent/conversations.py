"""Chat conversations, kept as JSON files in the data directory so that ``kb chat --continue`` reopens them.

One file per conversation (``conversations/<id>.json``), written whole to a temporary file and
renamed over the old one after every turn, so a crash never leaves half a file. Ids start with
the creation time, so file names sort oldest first.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kbagent.microformat import strip_calls
from kbagent.plaintext import plain_text

if TYPE_CHECKING:
    from kbagent.agent import Answer, CallRecord
    from kbagent.hits import Hit

FORMAT_VERSION = 1


class ConversationError(Exception):
    """A conversation file cannot be read; the message names the file."""


@dataclass(frozen=True)
class Link:
    """A page an answer used or a search found: its title, where to open it, and a snippet."""

    title: str
    url: str = ""
    source: str = ""
    doc_id: str = ""
    snippet: str = ""

    @classmethod
    def from_hit(cls, hit: Hit) -> Link:
        """The link to a search hit's page."""
        shown = hit.snippet or " ".join(plain_text(hit.text).split())[:240]
        return cls(hit.title, hit.url, hit.source, hit.doc_id, shown)


@dataclass(frozen=True)
class ToolCall:
    """One tool call of an answer: what was asked, what came back, how long it took, what it found."""

    tool: str
    input: str
    result: str
    seconds: float = 0.0
    ok: bool = True
    hits: tuple[Link, ...] = ()

    @classmethod
    def from_record(cls, record: CallRecord, hits: Iterable[Hit] = ()) -> ToolCall:
        """A call from the agent's record and the hits its search returned."""
        return cls(record.tool, record.input, record.result, record.seconds, record.ok, tuple(map(Link.from_hit, hits)))


@dataclass(frozen=True)
class Turn:
    """A question and its answer (or the error that stopped it)."""

    question: str
    answer: str = ""
    calls: tuple[ToolCall, ...] = ()
    sources: tuple[Link, ...] = ()
    stop_reason: str = "eos"
    error: str | None = None
    hint: str | None = None
    model: str = ""
    tokens: int = 0
    seconds: float = 0.0
    asked_at: str = ""

    @property
    def plain(self) -> str:
        """The answer without its tool calls (what is copied to the clipboard)."""
        return strip_calls(self.answer)

    @classmethod
    def from_answer(
        cls, answer: Answer, *, hits: Iterable[Iterable[Hit]] = (), model: str = "", asked_at: str = ""
    ) -> Turn:
        """A turn from a finished answer; ``hits`` are each call's search hits, in call order."""
        per_call = list(hits)
        calls = tuple(
            ToolCall.from_record(c, per_call[i] if i < len(per_call) else ()) for i, c in enumerate(answer.calls)
        )
        return cls(
            question=answer.question,
            answer=answer.text,
            calls=calls,
            sources=tuple(map(Link.from_hit, answer.sources)),
            stop_reason=answer.stop_reason,
            model=model,
            tokens=answer.tokens,
            seconds=answer.seconds,
            asked_at=asked_at,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "question": self.question,
            "answer": self.answer,
            "calls": [
                {
                    "tool": c.tool,
                    "input": c.input,
                    "result": c.result,
                    "seconds": round(c.seconds, 4),
                    "ok": c.ok,
                    "hits": [_link_dict(h) for h in c.hits],
                }
                for c in self.calls
            ],
            "sources": [_link_dict(s) for s in self.sources],
            "stop_reason": self.stop_reason,
            "error": self.error,
            "hint": self.hint,
            "model": self.model,
            "tokens": self.tokens,
            "seconds": round(self.seconds, 3),
            "asked_at": self.asked_at,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Turn:
        """The turn a :meth:`to_dict` dict describes (unknown keys are ignored)."""
        return cls(
            question=str(d["question"]),
            answer=str(d.get("answer", "")),
            calls=tuple(
                ToolCall(
                    str(c["tool"]),
                    str(c.get("input", "")),
                    str(c.get("result", "")),
                    float(c.get("seconds", 0.0)),
                    bool(c.get("ok", True)),
                    tuple(_link(h) for h in c.get("hits", ())),
                )
                for c in d.get("calls", ())
            ),
            sources=tuple(_link(s) for s in d.get("sources", ())),
            stop_reason=str(d.get("stop_reason", "eos")),
            error=d.get("error"),
            hint=d.get("hint"),
            model=str(d.get("model", "")),
            tokens=int(d.get("tokens", 0)),
            seconds=float(d.get("seconds", 0.0)),
            asked_at=str(d.get("asked_at", "")),
        )


def _link_dict(link: Link) -> dict[str, str]:
    return {"title": link.title, "url": link.url, "source": link.source, "doc_id": link.doc_id, "snippet": link.snippet}


def _link(d: Mapping[str, Any]) -> Link:
    return Link(
        str(d.get("title", "")),
        str(d.get("url", "")),
        str(d.get("source", "")),
        str(d.get("doc_id", "")),
        str(d.get("snippet", "")),
    )


@dataclass
class Conversation:
    """The turns of one chat, in order."""

    id: str
    created: str
    turns: list[Turn] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "version": FORMAT_VERSION,
            "id": self.id,
            "created": self.created,
            "turns": [t.to_dict() for t in self.turns],
        }


class ConversationStore:
    """The conversations folder of a data directory (``Paths(home).conversations``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def new(self, now: datetime | None = None) -> Conversation:
        """A fresh, empty conversation (written on its first :meth:`save`)."""
        moment = now or datetime.now().astimezone()
        cid = f"{moment:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
        return Conversation(cid, moment.isoformat(timespec="seconds"))

    def path(self, conversation_id: str) -> Path:
        """Where a conversation is kept."""
        if not conversation_id or "/" in conversation_id or "\\" in conversation_id or conversation_id[0] == ".":
            raise ConversationError(f"{conversation_id!r}: not a conversation id")
        return self.folder / f"{conversation_id}.json"

    def save(self, conversation: Conversation) -> Path:
        """Write a conversation (atomically: the old file stays whole until the new one is complete)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path(conversation.id)
        data = json.dumps(conversation.to_dict(), ensure_ascii=False, indent=1)
        fd, tmp = tempfile.mkstemp(prefix=f".{conversation.id}-", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data)
            # conversations quote the user's notes: keep them as private as the index
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def ids(self) -> list[str]:
        """Every saved conversation's id, oldest first."""
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.json") if not p.name.startswith("."))

    def load(self, conversation_id: str) -> Conversation:
        """Read a saved conversation."""
        path = self.path(conversation_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConversationError(f"{path}: no such conversation") from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ConversationError(f"{path}: not a readable conversation file ({exc})") from None
        try:
            if not isinstance(data, dict) or int(data.get("version", 0)) > FORMAT_VERSION:
                raise ValueError("unknown format")
            turns = [Turn.from_dict(t) for t in data.get("turns", ())]
            return Conversation(str(data.get("id", conversation_id)), str(data.get("created", "")), turns)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConversationError(f"{path}: not a conversation file ({exc})") from None

    def latest(self) -> Conversation | None:
        """The conversation last written to, or None when there is none."""
        ids = self.ids()
        if not ids:
            return None
        newest = max(ids, key=lambda i: (self.path(i).stat().st_mtime_ns, i))
        return self.load(newest)
