"""The Scrapbox connector: export JSON in both shapes, page files, markup, and bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from kbagent.connectors import Failure, Unchanged, detect, open_path
from kbagent.connectors.scrapbox import ScrapboxConnector, page_url

from kbagent import Document

FIXTURES = Path(__file__).parent / "fixtures" / "scrapbox"
WITH_METADATA = FIXTURES / "export-with-metadata.json"
PLAIN = FIXTURES / "export-plain.json"


def scan(path: Path, known: dict[str, str] | None = None, **options) -> list:
    return list(ScrapboxConnector(path, source="sb", **options).scan(known or {}))


def docs_by_title(items: list) -> dict[str, Document]:
    return {d.title: d for d in items if isinstance(d, Document)}


def test_export_with_line_objects_and_users() -> None:
    items = scan(WITH_METADATA)
    assert all(isinstance(i, Document) for i in items)
    page = docs_by_title(items)["週末の予定"]
    assert page.id == "65a000000000000000000001"
    assert page.url == "https://scrapbox.io/kb-fixture/%E9%80%B1%E6%9C%AB%E3%81%AE%E4%BA%88%E5%AE%9A"
    assert page.version == "1736300000"
    assert page.updated is not None and page.updated.year == 2025
    assert page.text.splitlines() == [
        "土曜日",
        "\t- 10:00 図書館で本を返す",
        "\t- 14:00 山田さんとカフェ 珈琲館で打ち合わせ",
        "\t\t- 持ち物 ノートPC, 充電器",
        "日曜日",
        "\t- 朝市に行く #買い物",
        "\t- 夕方はランニング 5km taro",
        "",
        "#予定 #週末",
    ]
    assert page.metadata["tags"] == "買い物, 予定, 週末"
    assert page.metadata["links"].startswith("図書館, 山田さん, カフェ 珈琲館")
    assert page.metadata["created"] == "2025-01-01T02:53:20+00:00"


def test_user_emails_in_the_export_never_reach_the_index() -> None:
    for doc in scan(WITH_METADATA):
        assert "@example.com" not in doc.text + repr(doc.metadata)


def test_old_export_with_string_lines_and_no_ids() -> None:
    pages = docs_by_title(scan(PLAIN))
    assert set(pages) == {"读书笔记", "Trip to Lisbon"}
    assert pages["读书笔记"].id == "读书笔记"  # no page id in old exports: the title is the id
    assert pages["Trip to Lisbon"].url == "https://scrapbox.io/old-notes/Trip_to_Lisbon"
    assert pages["读书笔记"].text.splitlines() == [
        "《论语》",
        "\t- 学而时习之，不亦说乎。",
        "\t- 学习方法 #读书",
        "",
        "感想",
        "\t- 温故而知新。",
    ]


def test_markup_becomes_readable_text_and_blocks_stay_verbatim() -> None:
    page = docs_by_title(scan(WITH_METADATA))["Scrapbox notation cheatsheet"]
    assert page.text.splitlines() == [
        "Links: 週末の予定 and Scrapbox notation cheatsheet",
        "External: Scrapbox help / Cosense docs",
        "Strike: old plan strong words underlined",
        "> A quoted line with a link in quote",
        "code:hello.py",
        "\tdef hello(name):",
        '\t    return f"[not a link] {name}"',
        "",
        "table:prices",
        "\titem | price (yen)",
        "\tcoffee | 480",
        "\tcake | 520",
        "Math: E = mc^2",
        "Inline `code with [brackets]` stays.",
    ]
    assert "not a link" not in page.metadata["links"]


def test_empty_page_is_indexed_with_its_title_only() -> None:
    page = docs_by_title(scan(WITH_METADATA))["Empty page"]
    assert (page.text, page.id) == ("", "65a000000000000000000003")


def test_page_url_encodes_the_title_with_underscores_for_spaces() -> None:
    assert page_url("my project", "A/B c?") == "https://scrapbox.io/my%20project/A%2FB_c%3F"


def test_page_whose_updated_time_is_known_is_unchanged() -> None:
    items = scan(WITH_METADATA, {"65a000000000000000000001": "1736300000"})
    assert Unchanged("65a000000000000000000001") in items
    assert len([i for i in items if isinstance(i, Document)]) == 2


def test_real_export_without_metadata(shared_data: Path) -> None:
    [page] = scan(shared_data / "scrapbox-tiny-sample" / "tiny_sample.json")
    assert page.title == "Qualia-san"
    assert page.url == "https://scrapbox.io/tiny_sample/Qualia-san"
    assert "私は「クオリアさん」" in page.text
    assert "JOIN" in page.text and "[" not in page.text.split("\n")[0]
    assert "scrapbox.io/files" not in page.text  # the image line is dropped
    assert "100フォロワー" in page.metadata["links"]


def test_real_folder_of_page_files_with_line_metadata(shared_data: Path) -> None:
    folder = shared_data / "scrapbox-villagepump-pages"
    items = scan(folder)
    docs = [i for i in items if isinstance(i, Document)]
    assert len(docs) == len(items) == 300
    assert {d.metadata["project"] for d in docs} == {"villagepump"}  # from project.json
    page = next(d for d in docs if d.title == "1坪")
    assert page.id == "6093ac0e145393001cbfc1a8"
    assert page.url == "https://scrapbox.io/villagepump/1%E5%9D%AA"
    assert page.text == "#面積\n#単位"
    assert page.metadata["tags"] == "面積, 単位"


def test_real_pages_wrapped_as_one_export_read_the_same(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "scrapbox-villagepump-pages"
    pages = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((folder / "pages").glob("*.json"))]
    export = tmp_path / "villagepump.json"
    export.write_text(json.dumps({"name": "villagepump", "pages": pages}, ensure_ascii=False), encoding="utf-8")
    from_export = {d.id: d for d in scan(export)}
    from_folder = {d.id: d for d in scan(folder)}
    assert from_export == from_folder


def test_single_page_file(shared_data: Path) -> None:
    [page] = scan(shared_data / "scrapbox-villagepump-pages" / "pages" / "1坪.json")
    assert (page.title, page.metadata["project"]) == ("1坪", "villagepump")


def test_truncated_export_keeps_the_complete_pages(tmp_path: Path) -> None:
    raw = WITH_METADATA.read_bytes()
    cut = tmp_path / "cut.json"
    cut.write_bytes(raw[: raw.index(b"Scrapbox notation cheatsheet") + 200])
    items = scan(cut)
    assert [d.title for d in items if isinstance(d, Document)] == ["週末の予定"]
    [failure] = [i for i in items if isinstance(i, Failure)]
    assert failure.listing and failure.location == str(cut)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"name": "x", "pages": [', "not a readable Scrapbox JSON file"),
        (b"", "not a readable Scrapbox JSON file"),
        (b'{"name": "\xff\xfe broken", "pages": []}', "not valid UTF-8"),
        (b'{"name": "x", "projects": []}', "not a Scrapbox export"),
    ],
)
def test_unreadable_export_is_one_listing_failure_naming_the_file(tmp_path: Path, content: bytes, reason: str) -> None:
    bad = tmp_path / "export.json"
    bad.write_bytes(content)
    [failure] = scan(bad)
    assert isinstance(failure, Failure)
    assert failure.listing and failure.location == str(bad) and reason in failure.message


def test_broken_page_in_export_fails_alone(tmp_path: Path) -> None:
    export = tmp_path / "export.json"
    pages = [
        {"title": "good", "updated": 1, "lines": ["good", "fine"]},
        {"title": "bad lines", "id": "p2", "updated": 1, "lines": ["bad lines", 42]},
        {"id": "p3", "lines": "not a list"},
    ]
    export.write_text(json.dumps({"name": "p", "pages": pages}), encoding="utf-8")
    good, bad, no_title = scan(export)
    assert isinstance(good, Document) and good.text == "fine"
    assert isinstance(bad, Failure) and bad.doc_id == "p2" and "bad lines" in bad.location
    assert isinstance(no_title, Failure) and no_title.doc_id == "p3" and not no_title.listing


def test_50_mb_page_is_a_failure_naming_the_page(tmp_path: Path) -> None:
    export = tmp_path / "big.json"
    huge = "あいうえお" * 10_000_000  # 50 M characters on one line
    pages = [{"title": "huge", "id": "h", "lines": ["huge", huge]}, {"title": "small", "lines": ["small", "ok"]}]
    export.write_text(json.dumps({"name": "p", "pages": pages}, ensure_ascii=False), encoding="utf-8")
    huge_item, small = scan(export)
    assert isinstance(huge_item, Failure) and huge_item.doc_id == "h" and "huge" in huge_item.location
    assert "limit" in huge_item.message
    assert isinstance(small, Document)


def test_bad_page_file_in_a_folder_stops_removals_but_not_the_others(tmp_path: Path) -> None:
    (tmp_path / "project.json").write_text('{"name": "proj"}', encoding="utf-8")
    (tmp_path / "a.json").write_text('{"title": "a", "lines": ["a", "text"]}', encoding="utf-8")
    (tmp_path / "b.json").write_text('{"title": "b", "lines": ["b", ', encoding="utf-8")
    a, b = scan(tmp_path)
    assert isinstance(a, Document) and a.url == "https://scrapbox.io/proj/a"
    assert isinstance(b, Failure) and b.listing and b.location == str(tmp_path / "b.json")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_unreadable_export_file(tmp_path: Path) -> None:
    export = tmp_path / "export.json"
    export.write_bytes(PLAIN.read_bytes())
    export.chmod(0)
    [failure] = scan(export)
    assert isinstance(failure, Failure) and failure.listing and "Permission denied" in failure.message


def test_auto_detection(shared_data: Path, tmp_path: Path) -> None:
    assert detect(WITH_METADATA).format == "scrapbox"
    assert detect(shared_data / "scrapbox-villagepump-pages").format == "scrapbox"
    assert detect(shared_data / "scrapbox-villagepump-pages" / "pages" / "1坪.json").format == "scrapbox"
    connector = open_path(PLAIN)
    assert connector.source == "export-plain"
    (tmp_path / "other.json").write_text('{"title": "x"}', encoding="utf-8")
    with pytest.raises(ValueError, match="could not tell"):
        detect(tmp_path / "other.json")
