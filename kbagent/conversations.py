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
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from kbagent.agent.answers import Answer, CallRecord
from kbagent.hits import Hit

FORMAT_VERSION = 1


class ConversationError(Exception):
    """A conversation file cannot be read; the message names the file."""


@dataclass(frozen=True)
class Turn:
    """A question as the chat keeps it: the agent's answer, the model that wrote it, the error that stopped it."""

    answer: Answer
    error: str | None = None
    hint: str | None = None
    model: str = ""
    asked_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the answer's fields at the top level, as the first format had them)."""
        a = self.answer
        return {
            "question": a.question,
            "answer": a.text,
            "calls": [_call_dict(c) for c in a.calls],
            "sources": [_hit_dict(s) for s in a.sources],
            "stop_reason": a.stop_reason,
            "error": self.error,
            "hint": self.hint,
            "model": self.model,
            "tokens": a.tokens,
            "seconds": round(a.seconds, 3),
            "asked_at": self.asked_at,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Turn:
        """The turn a :meth:`to_dict` dict describes (unknown keys are ignored)."""
        answer = Answer(
            question=str(d["question"]),
            text=str(d.get("answer", "")),
            calls=tuple(_call(c) for c in d.get("calls", ())),
            sources=tuple(_hit(s) for s in d.get("sources", ())),
            stop_reason=str(d.get("stop_reason", "eos")),
            tokens=int(d.get("tokens", 0)),
            seconds=float(d.get("seconds", 0.0)),
        )
        return cls(answer, d.get("error"), d.get("hint"), str(d.get("model", "")), str(d.get("asked_at", "")))


def _call_dict(call: CallRecord) -> dict[str, Any]:
    return {
        "tool": call.tool,
        "input": call.input,
        "result": call.result,
        "seconds": round(call.seconds, 4),
        "ok": call.ok,
        "hits": [_hit_dict(h) for h in call.hits],
    }


def _call(d: Mapping[str, Any]) -> CallRecord:
    return CallRecord(
        str(d["tool"]),
        str(d.get("input", "")),
        str(d.get("result", "")),
        float(d.get("seconds", 0.0)),
        bool(d.get("ok", True)),
        tuple(_hit(h) for h in d.get("hits", ())),
    )


def _hit_dict(hit: Hit) -> dict[str, str]:
    # a page's address and what the chat showed of it, not the chunk's text: files stay small
    return {"title": hit.title, "url": hit.url, "source": hit.source, "doc_id": hit.doc_id, "snippet": hit.preview}


def _hit(d: Mapping[str, Any]) -> Hit:
    """A saved hit: its page and snippet (chunk id, text and score are not kept)."""
    return Hit(
        chunk_id="",
        doc_id=str(d.get("doc_id", "")),
        source=str(d.get("source", "")),
        title=str(d.get("title", "")),
        url=str(d.get("url", "")),
        text="",
        score=0.0,
        snippet=str(d.get("snippet", "")),
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
