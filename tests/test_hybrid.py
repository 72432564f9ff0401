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


def test_a_tie_goes_to_the_chunk_with_lexical_evidence() -> None:
    # the word's only chunk scores 1.0 from words alone: exactly the best vector hit's score
    assert order(fuse(VECTOR, [LexicalHit("z", 5.0, 1.0)], 10))[:2] == ["z", "a"]


def test_a_rare_word_puts_its_chunk_above_every_chunk_the_words_did_not_find() -> None:
    # z holds a word on one chunk only and most of the query; y holds it too, but little else
    lexical = [LexicalHit("z", 3.0, 0.6, rare=1.0), LexicalHit("y", 9.0, 0.2, rare=1.0)]
    ranked = fuse(VECTOR, lexical, 7)
    assert order(ranked)[:2] == ["z", "a"]
    assert order(ranked).index("y") > order(ranked).index("b")
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)


def test_a_hollow_chunk_stays_below_the_best_chunk_with_content_unless_its_words_match() -> None:
    # "a" holds nothing but its page's title, and a short text lands near every short query
    assert order(fuse(VECTOR, [], 5, hollow={"a"}))[:2] == ["b", "a"]
    assert order(fuse(VECTOR, [LexicalHit("a", 1.0, 0.5)], 5, hollow={"a"}))[0] == "a"
    assert order(fuse(VECTOR[:1], [], 5, hollow={"a"})) == ["a"]  # nothing else: it is still found


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


MOSTLY_JAPANESE = {
    "fuji": "富士山の頂上では水は約87度で沸騰する。気圧が低いと沸点が下がるためだ。",
    "prose": "旅行メモ。What the guide said is that it is the one thing we should do if there is time, and that it is"
    " not far from the station.",
    "meeting": "来週の会議では予算と採用計画を話し合う。議事録は田中さんが書く。",
    "cat": "うちの猫は毎朝六時に起こしに来る。",
    "osaka-castle": "大阪城は豊臣秀吉が築いた城で、天守閣は1931年に復興された。",
    "ramen": "駅前のラーメン屋は火曜日が定休日。味噌ラーメンが一番おいしい。",
    "garden": "庭のトマトは七月に毎朝水をやる。バジルは早く花が咲いた。",
    "train": "新幹線で東京から京都まで約2時間15分。指定席は早めに予約する。",
    "supplier": "仕入れ先のメモ: florbanite の納品がまた遅れている。",
}


@pytest.fixture(scope="module")
def mostly_japanese(embedder) -> tuple[LexicalIndex, np.ndarray, list[str]]:
    """Japanese notes, one of them with a line of English prose, and one with a made-up word."""
    texts = MOSTLY_JAPANESE
    index = LexicalIndex(sqlite3.connect(":memory:"))
    index.create()
    index.add([(cid, "notes", text) for cid, text in texts.items()])
    return index, embedder.embed_passages(list(texts.values())), list(texts)


def test_english_stop_words_do_not_win_english_questions(mostly_japanese, embedder) -> None:
    # In these notes "what", "the", "is", "of" are on one page only, so by IDF alone they were the
    # strongest evidence there is, and the English prose page beat the page the question is about.
    assert search(mostly_japanese, embedder, "Who writes the minutes of the meeting?")[0] == "meeting"
    assert search(mostly_japanese, embedder, "What do my notes say about the cat?")[0] == "cat"


def test_a_made_up_word_on_one_note_comes_first(mostly_japanese, embedder) -> None:
    for query in ("florbanite", "what is florbanite?", "florbanite はいつ届く？"):
        assert search(mostly_japanese, embedder, query)[0] == "supplier", query
