"""A knowledge base holding Japanese and English notes: questions find pages across the languages.

multilingual-e5 ranks a page in the question's language above a page in another language that is
about the question; `kbagent.indexes.languages` takes the question's language out of its vector.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from kbagent.indexes import languages
from kbagent.indexes.embedders import MODEL_NAME
from kbagent.indexes.languages import language_of, language_subspace, neutral_query

from kbagent import KnowledgeBase
from kbagent.splits import split_of

MIXED = Path(__file__).parent / "fixtures" / "mixed-ja-en"
PAIRS = Path(languages.__file__).with_name("language_pairs.json")

# Japanese questions about the English Logseq pages, English questions about the Japanese
# villagepump pages (the dev questions of scripts/mixed_language_questions.json whose pages are here)
JA_ABOUT_EN = {
    "間隔反復とはどういう学習法？": "Spaced Repetition",
    "500日間毎日書き続けられたという時間管理のコツを紹介したツイートのスレッド": "Tweet/This 1 Tiny Time Managem...",
    "Logseqで会議メモのひな形を作って使い回すには？": "templates",
}
EN_ABOUT_JA = {
    "Which book says being flexible against shocks is more practical than predicting risks?": "反脆弱性",
    "Which programming language was called the duct tape of the internet?": "ダクトテープ",
}
SAME_LANGUAGE = {
    "ランダムに報酬を与えると行動が強化されるのはなぜ？": "間欠強化",
    "How do I reuse a block with its children as a meeting template?": "templates",
}


def test_the_writing_of_a_text_is_told_by_its_characters() -> None:
    for s in json.loads(PAIRS.read_text(encoding="utf-8"))["sentences"]:
        assert (language_of(s["en"]), language_of(s["ja"]), language_of(s["zh"])) == ("latin", "ja", "zh"), s
    # an English name inside a Japanese question, one kanji word on an English page
    assert language_of("Logseqでブロックを暗記カードにするにはどうする？") == "ja"
    assert language_of("On the page titled 鍵, which English word is it equated with?") == "latin"
    assert language_of("1234 5678") == "other"


def test_the_query_vector_loses_its_languages_directions_only() -> None:
    subspace = language_subspace(MODEL_NAME)
    assert subspace is not None and set(subspace.bases) == {"ja", "zh"}
    vector = np.random.default_rng(0).normal(size=384).astype(np.float32)
    ja = subspace.neutral("間隔反復とは？", vector)
    assert np.abs(subspace.bases["ja"] @ ja).max() < 1e-5
    assert np.abs(subspace.bases["zh"] @ ja).max() > 1e-3  # a Japanese query keeps the Chinese ones
    en = subspace.neutral("What is spaced repetition?", vector)
    assert max(np.abs(basis @ en).max() for basis in subspace.bases.values()) < 1e-5
    # another model's vectors are left alone: the directions are e5's
    assert neutral_query("間隔反復とは？", vector, "another-model") is vector


@pytest.fixture(scope="module")
def mixed_kb(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[KnowledgeBase]:
    """Six English Logseq docs pages and twelve Japanese villagepump pages in one knowledge base."""
    home = tmp_path_factory.mktemp("mixed")
    # the language-neutral query is a setting (off by default: see KnowledgeBase.search)
    (home / "config.toml").write_text("[search]\nlanguage_neutral = true\n", encoding="utf-8")
    with KnowledgeBase(home=home, embedder=embedder) as kb:
        assert kb.index_path(MIXED / "logseq-docs", source="logseq-docs").added == 6
        assert kb.index_path(MIXED / "villagepump", source="villagepump", format="scrapbox").added == 12
        yield kb


def rank(kb: KnowledgeBase, question: str, title: str) -> int | None:
    titles = [h.title for h in kb.search(question, k=10)]
    return titles.index(title) + 1 if title in titles else None


def test_questions_find_their_page_in_the_other_language(mixed_kb: KnowledgeBase) -> None:
    for question, title in JA_ABOUT_EN.items():
        assert rank(mixed_kb, question, title) == 1, question
    for question, title in EN_ABOUT_JA.items():
        assert rank(mixed_kb, question, title) == 1, question


def test_questions_in_the_pages_language_still_find_them_first(mixed_kb: KnowledgeBase) -> None:
    for question, title in SAME_LANGUAGE.items():
        assert rank(mixed_kb, question, title) == 1, question


def test_without_taking_the_language_out_japanese_pages_on_other_subjects_come_first(
    mixed_kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the bias the directions remove: each English page falls below Japanese pages it is not about
    monkeypatch.setattr(languages, "language_subspace", lambda model: None)
    for question, title in JA_ABOUT_EN.items():
        first = mixed_kb.search(question, k=1)[0]
        assert first.source == "villagepump" and (rank(mixed_kb, question, title) or 99) >= 4, question


def test_the_written_cross_language_questions_are_about_dev_pages_only() -> None:
    # the mixed-language bench chooses nothing on test pages: its own questions are labelled dev
    path = Path(__file__).resolve().parents[1] / "scripts" / "mixed_language_questions.json"
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["split"] == "dev"
    for key, source in (("ja_to_en", "logseq-docs"), ("en_to_ja", "villagepump")):
        for q in written[key]:
            assert split_of(source, q["page"]) == "dev", q
            want = "ja" if key == "ja_to_en" else "latin"
            assert language_of(q["query"]) == want, q
