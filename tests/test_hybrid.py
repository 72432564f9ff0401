"""Hybrid fusion trusts the lexical ranking only as far as it matched the query."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from kbagent.indexes.hybrid import fuse
from kbagent.indexes.lexical import LexicalHit, LexicalIndex

VECTOR = [("a", 0.88), ("b", 0.86), ("c", 0.85), ("d", 0.83), ("e", 0.80)]


def order(ranked: list[tuple[str, float]]) -> list[str]:
    return [chunk_id for chunk_id, _ in ranked]


def test_without_lexical_evidence_the_vector_order_stands() -> None:
    # What an English question over Japanese notes gets from the lexical side: hits in the
    # opposite order that match none of the query.
    noise = [LexicalHit("e", 9.0, 0.0), LexicalHit("d", 8.0, 0.0), LexicalHit("x", 7.0, 0.0)]
    assert order(fuse(VECTOR, noise, 5)) == ["a", "b", "c", "d", "e"]


def test_a_stray_shared_word_does_not_reorder_the_vector_hits() -> None:
    stray = [LexicalHit("e", 9.0, 0.05), LexicalHit("d", 3.0, 0.05)]
    assert order(fuse(VECTOR, stray, 3)) == ["a", "b", "c"]


def test_a_chunk_that_matches_the_query_is_promoted() -> None:
    exact = [LexicalHit("d", 12.0, 1.0), LexicalHit("a", 2.0, 0.3)]
    assert order(fuse(VECTOR, exact, 5))[0] == "d"


def test_a_lexical_only_hit_joins_the_ranking() -> None:
    ranked = order(fuse(VECTOR, [LexicalHit("z", 5.0, 1.0)], 10))
    assert set(ranked) == {"a", "b", "c", "d", "e", "z"}
    assert ranked.index("z") < ranked.index("c")


def test_one_side_empty_or_both() -> None:
    assert order(fuse(VECTOR, [], 2)) == ["a", "b"]
    assert order(fuse([], [LexicalHit("x", 2.0, 0.4), LexicalHit("y", 1.0, 1.0)], 5)) == ["y", "x"]
    assert fuse([], [], 5) == []
    assert fuse(VECTOR, [], 0) == []


@pytest.fixture(scope="module")
def notes(embedder) -> tuple[LexicalIndex, np.ndarray, list[str]]:
    """A small bilingual notebook, embedded with the real e5 model and indexed by words."""
    texts = {
        "tokyo-tower": "東京タワーは1958年に完成した高さ333メートルの電波塔で、港区芝公園にある。",
        "osaka-castle": "大阪城は豊臣秀吉が築いた城で、天守閣は1931年に復興された。",
        "meeting": "来週の会議では予算と採用計画を話し合う。議事録は田中さんが書く。",
        "cat": "うちの猫は毎朝六時に起こしに来る。",
        "garden": "The community garden opens in April; volunteers water the tomatoes on weekends.",
        "budget": "Quarterly budget review: travel costs are up 12 percent.",
    }
    index = LexicalIndex(sqlite3.connect(":memory:"))
    index.create()
    index.add([(cid, "notes", text) for cid, text in texts.items()])
    return index, embedder.embed_passages(list(texts.values())), list(texts)


def search(notes, embedder, query: str) -> list[str]:
    index, vectors, ids = notes
    sims = vectors @ embedder.embed_query(query)
    vector = sorted(zip(ids, sims.tolist(), strict=True), key=lambda x: -x[1])
    return order(fuse(vector, index.search(query), 3))


def test_cross_language_question_keeps_the_meaning_match(notes, embedder) -> None:
    assert search(notes, embedder, "How tall is the Tokyo radio tower?")[0] == "tokyo-tower"
    assert search(notes, embedder, "Who built Osaka Castle?")[0] == "osaka-castle"


def test_exact_short_japanese_words_come_first(notes, embedder) -> None:
    assert search(notes, embedder, "猫")[0] == "cat"
    assert search(notes, embedder, "議事録")[0] == "meeting"
    assert search(notes, embedder, "12 percent")[0] == "budget"
