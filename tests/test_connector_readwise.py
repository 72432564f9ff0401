"""The Readwise connector: the Markdown and Logseq export flavours, and auto-detection."""

from __future__ import annotations

from pathlib import Path

from kbagent.connectors import Failure, detect
from kbagent.connectors.readwise import ReadwiseConnector, looks_like_readwise

from kbagent import Document

FIXTURES = Path(__file__).parent / "fixtures" / "readwise"


def books(path: Path) -> dict[str, Document]:
    items = list(ReadwiseConnector(path, source="readwise").scan({}))
    assert not [i for i in items if isinstance(i, Failure)]
    return {d.title: d for d in items if isinstance(d, Document)}


def test_markdown_export_one_document_per_book() -> None:
    found = books(FIXTURES / "markdown")
    assert sorted(found) == ["The Quiet Garden", "Why Small Notes Work", "はじめての発酵料理"]
    garden = found["The Quiet Garden"]
    assert garden.id == "Books/The Quiet Garden.md"
    assert dict(garden.metadata) == {
        "author": "Ana Whitfield",
        "full_title": "The Quiet Garden: Notes on Growing Things Slowly",
        "category": "books",
        "path": "Books/The Quiet Garden.md",
        "flavor": "readwise",
        "highlights": "3",
        "tags": "gardening, patience, watering, routine",
    }


def test_markdown_export_keeps_highlights_line_by_line() -> None:
    garden = books(FIXTURES / "markdown")["The Quiet Garden"]
    assert garden.text.splitlines() == [
        "Author: Ana Whitfield",
        "Full Title: The Quiet Garden: Notes on Growing Things Slowly",
        "Category: books",
        "",
        "## Highlights",
        "- A seed does not hurry, and it is never late. (Location 112)",
        "    - Note: Good line for the opening of my talk in April.",
        "- Water in the morning, when the soil is cool and the leaves can dry before night. (Location 348)",
        "    - Tags: watering routine",
        "- Compost is a letter the old season writes to the next one. (Location 1020)",
    ]


def test_article_keeps_its_source_url_and_drops_view_links() -> None:
    article = books(FIXTURES / "markdown")["Why Small Notes Work"]
    assert article.metadata["url"] == "https://notes.example.org/blog/why-small-notes-work"
    assert article.metadata["category"] == "articles"
    assert "URL: https://notes.example.org/blog/why-small-notes-work" in article.text
    assert "View Highlight" not in article.text and "read.readwise.io" not in article.text


def test_japanese_book() -> None:
    book = books(FIXTURES / "markdown")["はじめての発酵料理"]
    assert book.metadata["author"] == "山田花子"
    assert "- ぬか床は毎日一回、底から大きくかき混ぜること。 (Location 230)" in book.text.splitlines()
    assert book.metadata["tags"] == "ぬか漬け"


def test_logseq_flavour() -> None:
    found = books(FIXTURES / "logseq")
    assert sorted(found) == ["The Quiet Garden", "番茄工作法"]
    garden = found["The Quiet Garden"]
    assert garden.metadata["flavor"] == "readwise-logseq"
    assert garden.metadata["author"] == "Ana Whitfield"
    assert garden.metadata["url"] == "https://example.com/books/the-quiet-garden"
    assert garden.metadata["highlights"] == "3"
    assert garden.metadata["tags"] == "gardening, patience, watering, routine"
    lines = garden.text.splitlines()
    assert lines[:4] == [
        "Author: Ana Whitfield",
        "Full Title: The Quiet Garden: Notes on Growing Things Slowly",
        "Category: books",
        "URL: https://example.com/books/the-quiet-garden",
    ]
    assert "- ### Highlights first synced by Readwise Mar 3rd, 2025" in lines
    assert "\t- A seed does not hurry, and it is never late. (Location 112)" in lines
    assert "author::" not in garden.text
    assert found["番茄工作法"].metadata["author"] == "李明"


def test_other_markdown_in_the_export_folder_is_a_plain_note(tmp_path: Path) -> None:
    book = FIXTURES / "markdown" / "Books" / "The Quiet Garden.md"
    (tmp_path / "Garden.md").write_bytes(book.read_bytes())
    (tmp_path / "Readwise index.md").write_text("# My reading\nSee [[The Quiet Garden]].", encoding="utf-8")
    found = books(tmp_path)
    assert found["The Quiet Garden"].metadata["flavor"] == "readwise"
    assert found["My reading"].text == "# My reading\nSee The Quiet Garden."


def test_detected_before_generic_markdown(tmp_path: Path) -> None:
    assert detect(FIXTURES / "markdown").format == "readwise"
    assert detect(FIXTURES / "logseq").format == "readwise"
    assert detect(FIXTURES / "markdown" / "Books" / "The Quiet Garden.md").format == "readwise"
    # a vault where Readwise pages are a minority stays a Markdown vault
    for i in range(3):
        (tmp_path / f"note{i}.md").write_text(f"# Note {i}\n## Highlights\n- mine", encoding="utf-8")
    (tmp_path / "book.md").write_bytes((FIXTURES / "markdown" / "Books" / "The Quiet Garden.md").read_bytes())
    assert detect(tmp_path).format == "markdown"


def test_markers() -> None:
    assert looks_like_readwise("# T\n\n## Metadata\n- Author: [[A]]\n\n## Highlights\n- h")
    assert looks_like_readwise("author:: [[A]]\n\n- Highlights first synced by [[Readwise]] [[Mar 3rd, 2025]]")
    assert not looks_like_readwise("# Meeting\n## Highlights\n- we shipped")
