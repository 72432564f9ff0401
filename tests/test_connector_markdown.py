"""The Markdown connector: Obsidian vaults, Logseq graphs, Hugo sites, plain folders, bad files."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kbagent.connectors import Failure, Unchanged, detect
from kbagent.connectors.markdown import MarkdownConnector
from kbagent.connectors.notefiles import MAX_PAGE_BYTES

from kbagent import Document

FIXTURES = Path(__file__).parent / "fixtures"


def scan(path: Path, known: dict[str, str] | None = None) -> list:
    return list(MarkdownConnector(path, source="notes").scan(known or {}))


def by_id(items: list) -> dict[str, Document]:
    return {d.id: d for d in items if isinstance(d, Document)}


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# --- Obsidian ---------------------------------------------------------------------------------


def test_obsidian_vault_pages_titles_and_links() -> None:
    vault = FIXTURES / "obsidian"
    pages = by_id(scan(vault))
    assert sorted(pages) == ["Daily/2025-03-15.md", "Home.md", "Projects/Atlas.md", "Reading.md"]  # no .png
    assert pages["Projects/Atlas.md"].title == "Atlas migration"  # front matter title wins
    assert pages["Home.md"].title == "Home"  # then the first "# " heading
    assert pages["Reading.md"].title == "Reading"  # then the file name
    assert pages["Home.md"].text.splitlines()[2] == "Start here. Current work: the Atlas project and Daily/2025-03-15."
    assert pages["Home.md"].url == "obsidian://open?vault=obsidian&file=Home"
    assert pages["Projects/Atlas.md"].url == "obsidian://open?vault=obsidian&file=Projects%2FAtlas"


def test_obsidian_front_matter_tags_aliases_and_markup() -> None:
    atlas = by_id(scan(FIXTURES / "obsidian"))["Projects/Atlas.md"]
    assert atlas.metadata["tags"] == "work, migration, todo/atlas"
    assert atlas.metadata["aliases"] == "Atlas, アトラス移行"
    assert atlas.metadata["status"] == "active"
    assert atlas.metadata["created"] == "2025-02-01"
    assert atlas.metadata["links"] == "Checksums"
    assert "- Week 2: check hashes, see Checksums > Why SHA-256" in atlas.text
    assert "- Week 1: copy the 2019–2021 folders" in atlas.text.splitlines()  # block id ^plan1 gone
    assert "Owner's notes: the storage layout sketch" in atlas.text  # image alt text kept
    assert "atlas-diagram.png" not in atlas.text  # embedded attachment dropped
    assert "private" not in atlas.text  # %% comment %% dropped
    assert "title:" not in atlas.text  # front matter is metadata, not text


def test_obsidian_daily_note_with_cjk_tags() -> None:
    daily = by_id(scan(FIXTURES / "obsidian"))["Daily/2025-03-15.md"]
    assert daily.title == "2025-03-15"
    assert daily.metadata["tags"] == "daily, 仕事"
    assert "- Projects/Atlas のハッシュ確認を始めた #仕事" in daily.text


# --- Logseq -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def logseq_docs(shared_data: Path) -> list:
    return scan(shared_data / "logseq-docs")


def test_real_logseq_graph_indexes_every_markdown_page(logseq_docs: list) -> None:
    items = logseq_docs
    assert [i for i in items if not isinstance(i, Document)] == []
    pages = by_id(items)
    assert len(pages) == 313  # .org files skipped, LICENSE.md and logseq/ not notes
    assert all(d.metadata["flavor"] == "logseq" for d in pages.values())
    assert not any(d.id.endswith(".org") or d.id.startswith("logseq/") for d in pages.values())


def test_real_logseq_titles_properties_and_block_syntax(logseq_docs: list) -> None:
    pages = by_id(logseq_docs)
    titles = {d.title for d in pages.values()}
    assert {"Whiteboard/Action Bar/Arrow head toggle", "New to Logseq?", "Block Reference"} <= titles
    ref = pages["pages/Block Reference.md"]
    assert ref.metadata["type"] == "Feature" and ref.metadata["platforms"] == "All Platforms"
    assert ref.metadata["aliases"] == "term/block reference"
    assert ref.text.startswith("- ## Usage\n\t- Create one by")
    texts = "\n".join(d.text for d in pages.values())
    outside_code = re.sub(r"```.*?```|`[^`\n]*`", "", texts, flags=re.S)
    assert not re.search(r"^\s*(- )?(id|collapsed)::", outside_code, re.M)
    assert not re.search(r"\(\([0-9a-f-]{36}\)\)", outside_code)  # block references
    assert "{{query" not in outside_code


def test_real_logseq_journal_title_and_date(logseq_docs: list) -> None:
    journal = by_id(logseq_docs)["journals/2020_09_14.md"]
    assert journal.title == "2020-09-14"
    assert journal.updated == datetime(2020, 9, 14, tzinfo=UTC)
    assert journal.metadata["title"] == "Sep 14th, 2020"


def test_logseq_page_properties_block_refs_and_macros(tmp_path: Path) -> None:
    write(tmp_path, "logseq/config.edn", "{:file/name-format :triple-lowbar}")
    write(tmp_path, "logseq/bak/pages/old.md", "- backup copy")
    write(tmp_path, "journals/2025_03_15.md", "- 会議の準備 [[Atlas]]\n- 读书会")
    write(
        tmp_path,
        "pages/project___atlas.md",
        "tags:: work, 移行\nalias:: Atlas\nstatus:: active\n\n"
        "- 目標は 4 月 30 日 #deadline\n"
        "\tid:: 65f0c0de-0000-4000-8000-000000000001\n"
        "\tcollapsed:: true\n"
        "\t- 参照 ((65f0c0de-0000-4000-8000-000000000002)) と {{embed [[Checksums]]}}\n"
        "\t- {{query (todo now)}}\n"
        "\t  owner:: [[Sato]]\n",
    )
    pages = by_id(scan(tmp_path))
    assert sorted(pages) == ["journals/2025_03_15.md", "pages/project___atlas.md"]
    page = pages["pages/project___atlas.md"]
    assert page.title == "project/atlas"
    assert page.metadata["tags"] == "work, 移行, deadline"
    assert (page.metadata["aliases"], page.metadata["status"]) == ("Atlas", "active")
    assert page.text == "- 目標は 4 月 30 日 #deadline\n\t- 参照  と Checksums\n\t-\n\t  owner: Sato"
    journal = pages["journals/2025_03_15.md"]
    assert (journal.title, journal.text) == ("2025-03-15", "- 会議の準備 Atlas\n- 读书会")


def test_default_logseq_config_with_commented_directories_reads_pages_and_journals() -> None:
    # Logseq's own config.edn carries ;; :pages-directory "your-directory" as a comment
    graph = FIXTURES / "logseq"
    assert ';; :pages-directory "your-directory"' in (graph / "logseq" / "config.edn").read_text()
    items = scan(graph)
    assert [i for i in items if not isinstance(i, Document)] == []
    pages = by_id(items)
    assert sorted(pages) == ["journals/2025_03_15.md", "pages/Sourdough.md", "pages/reading___Kokoro.md"]
    assert pages["journals/2025_03_15.md"].title == "2025-03-15"
    assert pages["pages/reading___Kokoro.md"].title == "reading/Kokoro"


def test_real_logseq_graph_folders_come_from_its_config(shared_data: Path) -> None:
    graph = shared_data / "logseq-docs"
    connector = MarkdownConnector(graph, source="docs")
    assert connector.vault.folders == (graph / "pages", graph / "journals")
    assert connector.vault.journals == graph / "journals"


def test_logseq_directories_set_in_config_edn_are_used(tmp_path: Path) -> None:
    config = '{:pages-directory "notes" ;; :pages-directory "ignored"\n :journals-directory "days/"}'
    write(tmp_path, "logseq/config.edn", config)
    write(tmp_path, "notes/a.md", "- alpha")
    write(tmp_path, "days/2024_01_02.md", "- a day")
    write(tmp_path, "pages/stray.md", "- not where Logseq looks")
    pages = by_id(scan(tmp_path))
    assert sorted(pages) == ["days/2024_01_02.md", "notes/a.md"]
    assert pages["days/2024_01_02.md"].title == "2024-01-02"  # a journal, in its configured folder


def test_a_config_edn_that_does_not_parse_leaves_logseqs_default_folders(tmp_path: Path) -> None:
    write(tmp_path, "logseq/config.edn", '{:pages-directory "notes"')  # unclosed map
    write(tmp_path, "pages/a.md", "- alpha")
    assert sorted(by_id(scan(tmp_path))) == ["pages/a.md"]


def test_a_graph_without_markdown_pages_says_where_it_looked(tmp_path: Path) -> None:
    write(tmp_path, "logseq/config.edn", '{:pages-directory "notes"}')
    write(tmp_path, "journals/agenda.org", "* Org only")
    [failure] = scan(tmp_path)
    assert isinstance(failure, Failure) and failure.listing  # nothing indexed before is removed
    assert failure.message == (
        f"no Markdown files under {tmp_path / 'notes'} (missing) or {tmp_path / 'journals'};"
        " is this the graph's root?"
    )


def test_an_empty_folder_is_a_failure_not_silence(tmp_path: Path) -> None:
    [failure] = scan(tmp_path)
    assert isinstance(failure, Failure) and failure.listing
    assert failure.message == f"no Markdown files under {tmp_path}; is this the notes folder?"


def test_kb_index_of_a_graph_without_pages_exits_1_with_the_reason(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from kbagent.cli import app

    graph = tmp_path / "graph"
    write(graph, "logseq/config.edn", '{:pages-directory "notes"}')
    result = CliRunner().invoke(app, ["--home", str(tmp_path / "home"), "index", str(graph)])
    assert result.exit_code == 1
    assert "0 added" in result.stdout and "1 failed" in result.stdout
    assert "is this the graph's root?" in " ".join(result.stderr.split())


# --- Hugo -------------------------------------------------------------------------------------


def test_hugo_site_reads_content_only_with_toml_and_yaml_front_matter() -> None:
    pages = by_id(scan(FIXTURES / "hugo"))
    assert sorted(pages) == [
        "content/_index.md",
        "content/posts/first-tomatoes.md",
        "content/posts/garden-log/index.md",
    ]
    tomatoes = pages["content/posts/first-tomatoes.md"]
    assert tomatoes.title == "First tomatoes"
    assert tomatoes.url == "https://garden.example.org/posts/first-tomatoes/"
    assert tomatoes.updated == datetime.fromisoformat("2025-06-05T21:30:00+09:00")  # lastmod
    assert tomatoes.metadata["tags"] == "tomato, harvest" and tomatoes.metadata["draft"] == "false"
    assert "figure" not in tomatoes.text and "Picked the first three tomatoes today." in tomatoes.text
    assert pages["content/posts/garden-log/index.md"].url == "https://garden.example.org/posts/june-log/"
    assert pages["content/_index.md"].url == "https://garden.example.org/"


# --- plain folders and bad input --------------------------------------------------------------


def test_plain_folder_uses_file_links_and_skips_hidden_and_non_notes(tmp_path: Path) -> None:
    note = write(tmp_path, "notes/a.md", "# Alpha\ntext")
    write(tmp_path, "notes/b.markdown", "beta")
    write(tmp_path, ".git/HEAD.md", "not a note")
    write(tmp_path, "notes/.hidden.md", "not a note")
    write(tmp_path, "notes/picture.jpg", b"\xff\xd8\xff\xe0 binary")
    write(tmp_path, "notes/org-page.org", "* an org page")
    pages = by_id(scan(tmp_path))
    assert sorted(pages) == ["notes/a.md", "notes/b.markdown"]
    assert pages["notes/a.md"].url == note.absolute().as_uri()
    assert pages["notes/a.md"].metadata["flavor"] == "markdown"


def test_bad_files_are_failures_naming_them_and_the_rest_is_read(tmp_path: Path) -> None:
    write(tmp_path, "good.md", "# Good\n日本語のノート")
    write(tmp_path, "latin1.md", "café".encode("latin-1"))
    write(tmp_path, "binary.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    os.symlink(tmp_path / "gone.md", tmp_path / "dangling.md")
    items = scan(tmp_path)
    failures = {Path(f.location).name: f for f in items if isinstance(f, Failure)}
    assert sorted(failures) == ["binary.md", "dangling.md", "latin1.md"]
    assert "not valid UTF-8" in failures["latin1.md"].message
    assert "binary" in failures["binary.md"].message
    assert failures["dangling.md"].doc_id == "dangling.md" and not failures["dangling.md"].listing
    assert failures["latin1.md"].location == str(tmp_path / "latin1.md")
    assert list(by_id(items)) == ["good.md"]


def test_50_mb_file_is_a_failure_naming_it(tmp_path: Path) -> None:
    with (tmp_path / "dump.md").open("wb") as f:
        f.truncate(50 * 1024 * 1024)
    write(tmp_path, "small.md", "small")
    dump, small = scan(tmp_path)
    assert isinstance(dump, Failure) and dump.doc_id == "dump.md"
    assert "52.4 MB" in dump.message and "limit" in dump.message
    assert isinstance(small, Document)


def test_size_limit_is_a_connector_option(tmp_path: Path) -> None:
    assert MAX_PAGE_BYTES == 10_000_000
    write(tmp_path, "a.md", "a" * 999)
    write(tmp_path, "b.md", "b" * 1000)
    a, b = MarkdownConnector(tmp_path, source="notes", max_page_bytes=1000).scan({})
    assert isinstance(a, Document) and isinstance(b, Failure)


def test_empty_file_is_a_page_with_its_title_only(tmp_path: Path) -> None:
    write(tmp_path, "空のページ.md", "")
    [page] = scan(tmp_path)
    assert (page.title, page.text) == ("空のページ", "")


def test_byte_order_marks_and_windows_newlines(tmp_path: Path) -> None:
    write(tmp_path, "utf8bom.md", "\ufeff# Title A\r\nline".encode())
    write(tmp_path, "utf16.md", "# Title B\r\n中文".encode("utf-16"))
    pages = by_id(scan(tmp_path))
    assert (pages["utf8bom.md"].title, pages["utf8bom.md"].text) == ("Title A", "# Title A\nline")
    assert (pages["utf16.md"].title, pages["utf16.md"].text) == ("Title B", "# Title B\n中文")


def test_broken_front_matter_stays_in_the_text(tmp_path: Path) -> None:
    write(tmp_path, "broken.md", "---\ntitle: [unclosed\n---\nbody text")
    [page] = scan(tmp_path)
    assert page.title == "broken" and "title: [unclosed" in page.text and "body text" in page.text


def test_leading_rule_is_not_front_matter(tmp_path: Path) -> None:
    write(tmp_path, "rule.md", "---\nJust a line between rules.\n---\nMore.")
    [page] = scan(tmp_path)
    assert "Just a line between rules." in page.text


def test_unchanged_file_is_not_read_again(tmp_path: Path) -> None:
    write(tmp_path, "a.md", "alpha")
    [first] = scan(tmp_path)
    assert scan(tmp_path, {"a.md": first.version}) == [Unchanged("a.md")]
    write(tmp_path, "a.md", "alpha, edited")
    [edited] = scan(tmp_path, {"a.md": first.version})
    assert isinstance(edited, Document) and edited.text == "alpha, edited"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read chmod 000 files and folders")
def test_unreadable_file_and_folder(tmp_path: Path) -> None:
    write(tmp_path, "locked.md", "secret").chmod(0)
    write(tmp_path, "closed/inside.md", "x")
    (tmp_path / "closed").chmod(0)
    try:
        items = scan(tmp_path)
    finally:
        (tmp_path / "closed").chmod(0o755)
    locked = next(i for i in items if isinstance(i, Failure) and i.doc_id == "locked.md")
    assert "Permission denied" in locked.message
    assert any(isinstance(i, Failure) and i.listing for i in items)  # nothing may be removed


def test_folder_that_cannot_be_listed_stops_removals(tmp_path: Path) -> None:
    write(tmp_path, "ok.md", "fine")
    # a folder nested past PATH_MAX cannot be listed, even by root (ENAMETOOLONG)
    fd = os.open(tmp_path, os.O_RDONLY)
    for _ in range(18):
        os.mkdir("d" * 250, dir_fd=fd)
        fd, old = os.open("d" * 250, os.O_RDONLY, dir_fd=fd), fd
        os.close(old)
    os.close(fd)
    items = scan(tmp_path)
    assert [d.id for d in items if isinstance(d, Document)] == ["ok.md"]
    [failure] = [f for f in items if isinstance(f, Failure)]
    assert failure.listing and "cannot list folder" in failure.message


def test_single_file_path(tmp_path: Path) -> None:
    note = write(tmp_path, "one.md", "# One\nbody")
    [page] = scan(note)
    assert (page.id, page.title) == ("one.md", "One")


def test_auto_detection_of_markdown_folders(shared_data: Path, tmp_path: Path) -> None:
    assert detect(FIXTURES / "obsidian").format == "markdown"
    assert detect(FIXTURES / "hugo").format == "markdown"
    assert detect(shared_data / "logseq-docs").format == "markdown"
    assert detect(write(tmp_path, "deep/er/note.md", "x").parent.parent.parent).format == "markdown"
    assert detect(tmp_path / "deep" / "er" / "note.md").format == "markdown"
