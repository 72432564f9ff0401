"""Conversations are kept as JSON in the data directory and reopened whole."""

from __future__ import annotations

import os
import stat
from datetime import datetime
from pathlib import Path

import pytest

from kbagent.agent import Answer, CallRecord
from kbagent.config import Paths
from kbagent.conversations import ConversationError, ConversationStore, Link, ToolCall, Turn
from kbagent.hits import Hit

DENTIST = Hit(
    "c1",
    "Dentist.md",
    "notes",
    "Dentist",
    "obsidian://open?vault=notes&file=Dentist",
    "Next appointment: Tuesday, May 12 at 9:30.",
    0.9,
    "Next appointment: Tuesday, May 12 at 9:30.",
)


def answer() -> Answer:
    return Answer(
        question="When is my dentist appointment?",
        text='[Search("dentist") → (1) Dentist: Next appointment: Tuesday, May 12 at 9:30.] It is on May 12.',
        calls=(CallRecord("Search", "dentist", "(1) Dentist: Next appointment: Tuesday, May 12 at 9:30.", 0.03),),
        sources=(DENTIST,),
        tokens=17,
        seconds=1.5,
    )


def test_a_turn_keeps_calls_hits_and_sources(tmp_path: Path) -> None:
    store = ConversationStore(Paths(tmp_path).conversations)
    conversation = store.new(datetime(2026, 3, 1, 9, 0).astimezone())
    conversation.turns.append(Turn.from_answer(answer(), hits=[[DENTIST]], model="smollm2-135m"))
    path = store.save(conversation)

    assert path.parent == tmp_path / "conversations" and path.name.startswith("20260301-090000-")
    (turn,) = store.load(conversation.id).turns
    assert turn.plain == "It is on May 12."
    assert turn.calls == (
        ToolCall(
            "Search",
            "dentist",
            "(1) Dentist: Next appointment: Tuesday, May 12 at 9:30.",
            0.03,
            hits=(Link.from_hit(DENTIST),),
        ),
    )
    assert turn.sources[0].url == "obsidian://open?vault=notes&file=Dentist"
    assert (turn.model, turn.tokens, turn.seconds) == ("smollm2-135m", 17, 1.5)


def test_files_are_private_and_written_whole(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path)
    conversation = store.new()
    conversation.turns.append(Turn("2+2?", "[Calculator(2+2) → 4] 4."))
    path = store.save(conversation)
    conversation.turns.append(Turn("And 3+3?", error="server down", hint="start it"))
    store.save(conversation)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary files left
    assert store.load(conversation.id).turns[1].error == "server down"


def test_latest_is_the_one_written_last(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path)
    assert store.latest() is None
    older = store.new(datetime(2026, 1, 1).astimezone())
    newer = store.new(datetime(2026, 2, 1).astimezone())
    store.save(newer)
    store.save(older)
    os.utime(store.path(newer.id), (1, 1))

    latest = store.latest()
    assert latest is not None and latest.id == older.id


def test_a_damaged_file_is_named(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path)
    (tmp_path / "20260101-000000-abcd.json").write_text('{"turns": [', encoding="utf-8")

    with pytest.raises(ConversationError, match=r"20260101-000000-abcd\.json: not a readable conversation file"):
        store.latest()
    with pytest.raises(ConversationError, match="not a conversation id"):
        store.load("../config")
