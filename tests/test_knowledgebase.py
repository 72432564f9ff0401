"""The knowledge base: indexing, incremental re-indexing, removal, failures, search, consistency."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from kbagent.connectors import Failure, ScanItem

from kbagent import Document, IndexBusy, KnowledgeBase
from kbagent.documents import Chunker, has_content

PAGES = {
    "tokyo": ("東京旅行の計画", "来週は東京へ行く。浅草寺と上野の美術館を見て、夜は友人と寿司を食べる予定。"),
    "bread": ("Sourdough bread", "Mix 500 g flour, 350 g water and 100 g starter. Bake at 230 °C for 40 minutes."),
    "study": ("中文学习笔记", "今天学习了十个新的汉字。每天复习可以帮助记忆，下个月参加考试。"),
    "cat": ("うちの猫", "猫のミケは朝ごはんの後、窓辺で昼寝をするのが好き。"),
    "budget": ("Team meeting 2026-03-02", "Decisions: the travel budget is cut by 15%. Alice owns the roadmap."),
}


@dataclass
class ListConnector:
    """A connector over an in-memory list of pages (same protocol as the real connectors)."""

    source: str
    pages: dict[str, tuple[str, str]]
    extra: list[ScanItem] = field(default_factory=list)
    fail_after: int | None = None

    def scan(self, known: Mapping[str, str]) -> Iterator[ScanItem]:
        """Yield the pages, then any extra items."""
        for i, (doc_id, (title, text)) in enumerate(self.pages.items()):
            if self.fail_after is not None and i >= self.fail_after:
                raise ConnectionError("network went away")
            yield Document(id=doc_id, source=self.source, title=title, text=text, url=f"https://example.org/{doc_id}")
        yield from self.extra


@pytest.fixture
def kb(tmp_path: Path, embedder) -> Iterator[KnowledgeBase]:
    with KnowledgeBase(home=tmp_path / "home", embedder=embedder) as k:
        yield k


def titles(hits) -> list[str]:
    return [h.title for h in hits]


def test_index_then_search_by_meaning_in_three_languages(kb: KnowledgeBase) -> None:
    stats = kb.index(ListConnector("notes", PAGES))
    assert (stats.added, stats.failed, stats.removed) == (5, 0, 0)
    assert titles(kb.search("how long do I bake the bread?", k=1)) == ["Sourdough bread"]
    assert titles(kb.search("旅行の予定はいつ？", k=1)) == ["東京旅行の計画"]
    assert titles(kb.search("汉字考试", k=1)) == ["中文学习笔记"]


def test_exact_substring_search_finds_short_cjk_words(kb: KnowledgeBase) -> None:
    kb.index(ListConnector("notes", PAGES))
    assert titles(kb.search("東京", k=1, mode="lexical")) == ["東京旅行の計画"]
    assert titles(kb.search("猫", k=1, mode="lexical")) == ["うちの猫"]
    assert titles(kb.search("寿司", k=1)) == ["東京旅行の計画"]


def test_cross_language_question_finds_the_page(kb: KnowledgeBase) -> None:
    kb.index(ListConnector("notes", PAGES))
    assert "中文学习笔记" in titles(kb.search("Chinese characters exam", k=2))


def test_hits_carry_title_url_snippet_and_source(kb: KnowledgeBase) -> None:
    kb.index(ListConnector("notes", PAGES))
    hit = kb.search("travel budget", k=1)[0]
    assert hit.source == "notes" and hit.doc_id == "budget"
    assert hit.url == "https://example.org/budget"
    assert "budget" in hit.snippet


def test_reindexing_an_unchanged_source_embeds_nothing(kb: KnowledgeBase) -> None:
    kb.index(ListConnector("notes", PAGES))
    again = kb.index(ListConnector("notes", PAGES))
    assert (again.added, again.changed, again.unchanged, again.chunks_embedded) == (0, 0, 5, 0)


def test_a_changed_page_is_re_embedded_and_a_deleted_page_removed(kb: KnowledgeBase) -> None:
    kb.index(ListConnector("notes", PAGES))
    pages = dict(PAGES)
    del pages["cat"]
    pages["bread"] = ("Sourdough bread", "Now with rye: 400 g flour and 100 g rye flour.")
    stats = kb.index(ListConnector("notes", pages))
    assert (stats.changed, stats.removed, stats.unchanged) == (1, 1, 3)
    assert "うちの猫" not in titles(kb.search("猫", k=5))
    assert "rye" in kb.search("rye flour", k=1)[0].text
    assert kb.vectors.count() == len(kb.catalog.all_chunk_ids())


def test_renamed_page_replaces_the_old_one(kb: KnowledgeBase) -> None:
    kb.index(ListConnector("notes", PAGES))
    pages = dict(PAGES)
    pages["neko"] = pages.pop("cat")
    stats = kb.index(ListConnector("notes", pages))
    assert (stats.added, stats.removed) == (1, 1)
    assert [h.doc_id for h in kb.search("猫", k=5, mode="lexical")] == ["neko"]


def test_nothing_is_removed_when_the_listing_is_incomplete(kb: KnowledgeBase) -> None:
    kb.index(ListConnector("notes", PAGES))
    cut_short = Failure("export.json", "truncated", listing=True)
    partial = ListConnector("notes", {"tokyo": PAGES["tokyo"]}, extra=[cut_short])
    stats = kb.index(partial)
    assert stats.removed == 0 and stats.deletions_skipped and not stats.ok
    assert kb.status().sources[0].pages == 5


def test_a_connector_dying_mid_scan_keeps_everything(kb: KnowledgeBase) -> None:
    kb.index(ListConnector("notes", PAGES))
    stats = kb.index(ListConnector("notes", PAGES, fail_after=2))
    assert stats.removed == 0 and stats.failed == 1
    assert "network went away" in stats.failures[0]
    assert kb.status().sources[0].pages == 5


def test_a_page_that_failed_keeps_its_indexed_copy(kb: KnowledgeBase) -> None:
    kb.index(ListConnector("notes", PAGES))
    pages = {k: v for k, v in PAGES.items() if k != "bread"}
    stats = kb.index(ListConnector("notes", pages, extra=[Failure("bread.md", "invalid UTF-8", doc_id="bread")]))
    assert stats.removed == 0 and stats.failed == 1
    assert titles(kb.search("sourdough", k=1)) == ["Sourdough bread"]


def test_a_source_that_yields_no_pages_is_reported_and_keeps_its_pages(kb: KnowledgeBase) -> None:
    kb.index(ListConnector("notes", PAGES))
    stats = kb.index(ListConnector("notes", {}), location="/mnt/notes")
    assert not stats.ok and (stats.failed, stats.removed) == (1, 0) and stats.deletions_skipped
    assert stats.failures == ("/mnt/notes: no pages found; is this the right folder or project?",)
    assert kb.status().sources[0].pages == 5


def test_interrupted_vector_writes_are_reconciled(kb: KnowledgeBase) -> None:
    kb.index(ListConnector("notes", PAGES))
    # a vector written before a crash that never reached the catalogue, and a lost one
    kb.vectors.upsert(["orphan"], np.ones((1, kb.embedder.dim), dtype=np.float32) / 20, ["notes"])
    lost = sorted(kb.catalog.all_chunk_ids())[0]
    kb.vectors.delete([lost])
    with kb.catalog.transaction():
        kb.catalog.set_state("vectors_dirty", "1")
    stats = kb.index(ListConnector("notes", PAGES))
    assert stats.unchanged == 5
    assert set(kb.vectors.iter_ids()) == kb.catalog.all_chunk_ids()


def test_a_second_indexing_run_is_refused_while_one_holds_the_lock(kb: KnowledgeBase, embedder) -> None:
    other = KnowledgeBase(home=kb.paths.home, embedder=embedder)
    other._lock.acquire()
    try:
        with pytest.raises(IndexBusy, match="another indexing run"):
            kb.index(ListConnector("notes", PAGES), lock_timeout=0)
    finally:
        other._lock.release()
        other.close()


def test_forget_removes_a_source_and_only_it(kb: KnowledgeBase) -> None:
    kb.index(ListConnector("notes", PAGES))
    kb.index(ListConnector("other", {"x": ("Other page", "東京の地下鉄")}))
    assert kb.forget("notes") == 5
    assert {h.source for h in kb.search("東京", k=5)} == {"other"}
    assert kb.vectors.count() == len(kb.catalog.all_chunk_ids()) == 1


def test_search_can_be_limited_to_sources(kb: KnowledgeBase) -> None:
    kb.index(ListConnector("notes", PAGES))
    kb.index(ListConnector("other", {"x": ("Other page", "東京の地下鉄")}))
    assert {h.source for h in kb.search("東京", k=5, sources=["other"])} == {"other"}


def test_status_counts_pages_and_chunks(kb: KnowledgeBase) -> None:
    kb.index(ListConnector("notes", PAGES))
    st = kb.status()
    (src,) = st.sources
    assert (src.name, src.pages) == ("notes", 5)
    assert src.chunks == st.vectors >= 5
    assert src.last_stats is not None and src.last_stats["added"] == 5


# pages with nothing to find ------------------------------------------------------------------


class WordCounter:
    """Counts whitespace-separated words: enough to test what the chunker keeps."""

    def count_tokens(self, texts: list[str]) -> list[int]:
        """One token per word."""
        return [len(t.split()) for t in texts]


def test_a_page_with_only_a_title_keeps_one_title_chunk() -> None:
    chunker = Chunker(WordCounter())
    [chunk] = chunker.chunk(Document(id="p", source="n", title="Plugins", text=""))
    assert (chunk.text, chunk.embed_text) == ("", "Plugins\n")
    [stub] = chunker.chunk(Document(id="s", source="n", title="Plugins (old)", text="derived from Obsidian"))
    assert stub.embed_text == "Plugins (old)\nderived from Obsidian"  # short pages are findable by title
    assert [has_content("Plugins", t) for t in ("", "-\n-", "# Plugins", "- ## Plugins\n-", "1.\n>")] == [False] * 5
    assert has_content("Plugins (old)", "derived from Obsidian") and has_content("猫", "- 黒猫")


NOTES = {
    "Plugins.md": "",
    "Diagram.md": "![[architecture.png]]\n",
    "Ideas.md": "# Ideas\n",
    "Hiking.md": "# Hiking\nThe trail to the lake was muddy; I was klutzy and slipped twice on the rocks.",
    "Sourdough.md": "# Sourdough\nFeed the starter, then bake the loaf at 230 °C for 40 minutes.",
    "Budget.md": "# Budget\nTravel costs are up 12 percent this quarter; the team dinner is cancelled.",
    "Garden.md": "# Garden\nTomatoes need water every morning in July; the basil flowered early.",
    "会議.md": "# 会議\n来週の会議では予算と採用計画を話し合う。",
}
EMPTY = {"Plugins", "Diagram", "Ideas"}


def test_empty_notes_never_top_a_search_unless_it_names_them(tmp_path: Path, embedder) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    for name, text in NOTES.items():
        (vault / name).write_text(text, encoding="utf-8")
    with KnowledgeBase(home=tmp_path / "home", embedder=embedder) as kb:
        stats = kb.index_path(vault, source="vault")
        assert stats.ok and stats.added == len(NOTES)
        assert kb.status().sources[0].pages == len(NOTES)
        assert titles(kb.search("klutzy", k=3))[0] == "Hiking"
        for query in ("klutzy", "what is the capital of Peru?", "settings", "図", "an empty page"):
            found = titles(kb.search(query, k=len(NOTES)))
            assert found[0] not in EMPTY, (query, found)
        assert titles(kb.search("plugins", k=1)) == ["Plugins"]  # named: found by its title
        (vault / "Plugins.md").unlink()
        again = kb.index_path(vault, source="vault")
        assert (again.removed, again.unchanged) == (1, len(NOTES) - 1)
        assert kb.status().sources[0].pages == len(NOTES) - 1


# exact words first ---------------------------------------------------------------------------

ERRANDS = ["watered the tomatoes", "filed the tax forms", "fixed the bike chain", "baked rye bread",
           "called the landlord", "repainted the fence", "sorted old photos", "booked the dentist",
           "cleaned the aquarium", "returned library books", "renewed the passport", "tuned the guitar"]
PLACES = ["in Osaka", "at the office", "by the lake", "at grandma's house", "downtown"]
LONG_DAY = (
    "Took the early train to the coast with Mia. We walked the cliff path for three hours, ate grilled "
    "sardines at the harbour and watched the fishing boats come in. On the way back the zorblax in the "
    "luggage rack rattled the whole time. Mia fell asleep; I read two chapters of the detective novel "
    "and planned the garden beds for spring: beans by the fence, lettuce in the shade, herbs near the door."
)


def test_a_made_up_word_on_one_note_among_many_comes_first(kb: KnowledgeBase) -> None:
    # The one note with the word is long and about something else; Ctrl+F would show only it.
    pages = {
        f"day{i}": (f"Diary, day {i}", f"Today I {ERRANDS[i % len(ERRANDS)]} {PLACES[i % len(PLACES)]}.")
        for i in range(70)
    }
    pages["day41"] = ("Diary, day 41", LONG_DAY)
    kb.index(ListConnector("notes", pages))
    for query in ("zorblax", "what is the zorblax?", "zorblax adapter", "Zorblax!"):
        hits = kb.search(query, k=5)
        assert hits[0].doc_id == "day41", query
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
