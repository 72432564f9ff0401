"""Conversations are kept as JSON in the data directory and reopened whole."""

from __future__ import annotations

import json
import os
import shutil
import stat
from datetime import datetime
from pathlib import Path

import pytest

from kbagent.agent import Answer, CallRecord
from kbagent.config import Paths
from kbagent.conversations import ConversationError, ConversationStore, Turn
from kbagent.hits import Hit

FIXTURES = Path(__file__).parent / "fixtures" / "conversations"

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
        calls=(
            CallRecord(
                "Search", "dentist", "(1) Dentist: Next appointment: Tuesday, May 12 at 9:30.", 0.03, hits=(DENTIST,)
            ),
        ),
        sources=(DENTIST,),
        tokens=17,
        seconds=1.5,
    )


def page(hit: Hit) -> tuple[str, str, str, str, str]:
    """What a conversation keeps of a hit: its page and the snippet shown."""
    return (hit.title, hit.url, hit.source, hit.doc_id, hit.snippet)


def test_a_turn_keeps_calls_hits_and_sources(tmp_path: Path) -> None:
    store = ConversationStore(Paths(tmp_path).conversations)
    conversation = store.new(datetime(2026, 3, 1, 9, 0).astimezone())
    conversation.turns.append(Turn(answer(), model="smollm2-135m"))
    path = store.save(conversation)

    assert path.parent == tmp_path / "conversations" and path.name.startswith("20260301-090000-")
    (turn,) = store.load(conversation.id).turns
    assert turn.answer.plain == "It is on May 12."
    (call,) = turn.answer.calls
    assert (call.tool, call.input, call.result, call.seconds, call.ok) == (
        "Search",
        "dentist",
        "(1) Dentist: Next appointment: Tuesday, May 12 at 9:30.",
        0.03,
        True,
    )
    assert [page(h) for h in call.hits] == [page(DENTIST)]
    assert turn.answer.sources[0].url == "obsidian://open?vault=notes&file=Dentist"
    assert (turn.model, turn.answer.tokens, turn.answer.seconds) == ("smollm2-135m", 17, 1.5)


def test_a_hit_without_a_snippet_is_kept_with_the_start_of_its_text(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path)
    conversation = store.new()
    bare = Hit("c2", "Kyoto.md", "notes", "Kyoto trip", "", "**Train** leaves at 8:05.", 0.5)
    conversation.turns.append(Turn(Answer("When?", "At 8:05.", sources=(bare,))))
    store.save(conversation)

    (source,) = store.load(conversation.id).turns[0].answer.sources
    assert source.snippet == "Train leaves at 8:05."


def test_a_conversation_saved_by_the_first_format_still_opens(tmp_path: Path) -> None:
    # written by kbagent before turns wrapped the agent's Answer (calls and links had their own types)
    shutil.copy(FIXTURES / "20260301-090000-abcd.json", tmp_path)
    store = ConversationStore(tmp_path)

    saved = store.load("20260301-090000-abcd")
    first, failed, cancelled = saved.turns
    assert saved.created == "2026-03-01T09:00:00+00:00"
    assert first.answer.question == "How many days between my dentist appointment and the Kyoto trip?"
    assert first.answer.plain.startswith("The appointment is on May 12")
    search, calculator, calendar = first.answer.calls
    assert [page(h) for h in search.hits] == [
        ("Dentist", "obsidian://open?vault=notes&file=Dentist", "notes", "Dentist.md",
         "Next appointment with Dr. Sato: Tuesday, May 12 at 9:30."),
    ]
    assert (calculator.tool, calculator.input, calculator.result, calculator.seconds) == (
        "Calculator", "31 - 3 + 12", "40", 0.0002)
    assert not calendar.ok and calendar.hits == ()
    assert [page(s) for s in first.answer.sources] == [
        ("Dentist", "obsidian://open?vault=notes&file=Dentist", "notes", "Dentist.md", ""),
    ]
    assert (first.model, first.answer.tokens, first.answer.seconds, first.asked_at) == (
        "smollm2-135m", 52, 3.4, "2026-03-01T09:00:05+00:00")
    assert (failed.answer.stop_reason, failed.error, failed.hint) == (
        "error", "cannot reach the model server", "Start the model server")
    assert cancelled.answer.stop_reason == "cancelled" and cancelled.error is None

    # and it is written back in the same form
    store.save(saved)
    assert json.loads(store.path(saved.id).read_text(encoding="utf-8")) == json.loads(
        (FIXTURES / "20260301-090000-abcd.json").read_text(encoding="utf-8"))


def test_files_are_private_and_written_whole(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path)
    conversation = store.new()
    conversation.turns.append(Turn(Answer("2+2?", "[Calculator(2+2) → 4] 4.")))
    path = store.save(conversation)
    conversation.turns.append(Turn(Answer("And 3+3?", ""), error="server down", hint="start it"))
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
