"""The bundled sample notes (``samples/notes``): both connectors read them, and they can be searched."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kbagent.connectors import Failure, detect, open_path

from kbagent import Document, KnowledgeBase

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "notes"
SCRAPBOX = SAMPLES / "scrapbox" / "kbagent-sample.json"


def read(path: Path) -> list[Document]:
    items = list(open_path(path).scan({}))
    assert [i for i in items if isinstance(i, Failure)] == []
    return items


def test_sample_vault_is_an_obsidian_vault_with_a_scrapbox_export() -> None:
    assert (detect(SAMPLES).format, detect(SCRAPBOX).format) == ("markdown", "scrapbox")
    notes, pages = read(SAMPLES), read(SCRAPBOX)
    assert len(notes) + len(pages) >= 20
    assert {d.metadata["flavor"] for d in notes} == {"obsidian"}
    text = "\n".join(d.text for d in notes + pages)
    for word in ("会議", "学习笔记", "Weekly report", "読書", "番茄"):
        assert word in text


def test_tool_call_strings_in_a_note_are_kept_verbatim() -> None:
    note = next(d for d in read(SAMPLES) if d.title == "Toolformer reading notes")
    assert '[Calculator(1+1)] and [Search("x")]' in note.text


@pytest.fixture(scope="module")
def sample_kb(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[KnowledgeBase]:
    with KnowledgeBase(home=tmp_path_factory.mktemp("home"), embedder=embedder) as kb:
        for path in (SAMPLES, SCRAPBOX):
            stats = kb.index(open_path(path))
            assert stats.failed == 0 and stats.added > 0
        yield kb


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("京都", "京都旅行の計画"),  # a two-character Japanese word
        ("番茄炒蛋怎么做？", "番茄炒蛋 (tomato and egg stir-fry)"),
        ("how long does the banana bread bake?", "Banana bread"),
        ("夜景を撮るときのISOとシャッター速度", "Camera settings for night photos"),
        ('[Search("x")]', "Toolformer reading notes"),
    ],
)
def test_sample_notes_can_be_searched(sample_kb: KnowledgeBase, query: str, title: str) -> None:
    assert title in [h.title for h in sample_kb.search(query, k=3)]
