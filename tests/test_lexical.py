"""The lexical index finds exact words in Japanese, Chinese and English, the way Ctrl+F would."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kbagent.indexes.lexical import LexicalIndex, analyze

NOTES = [
    ("tokyo", "travel", "東京タワーは高さ333メートルの電波塔です。"),
    ("kyoto", "travel", "京都の東にある寺を訪ねた。"),
    ("cat", "diary", "今朝、黒猫が庭を横切った。"),
    ("meeting", "work", "来週の会議の議題をまとめる。"),
    ("zh", "work", "我们在北京大学图书馆讨论了机器学习的问题。"),
    ("en", "work", "The Quarterly Report is due on Friday."),
]


@pytest.fixture
def index() -> LexicalIndex:
    conn = sqlite3.connect(":memory:")
    index = LexicalIndex(conn)
    index.create()
    index.add(NOTES)
    return index


def ids(index: LexicalIndex, query: str, **kw: object) -> list[str]:
    return [h.chunk_id for h in index.search(query, **kw)]


def test_cjk_text_becomes_bigrams_and_words_stay_whole() -> None:
    terms = analyze("東京タワーとKintone API")
    assert terms.stream == ("東京", "京タ", "タワ", "ワー", "ーと", "kintone", "api")
    assert terms.chars == tuple("東京タワーと")


def test_two_character_japanese_word_is_found(index: LexicalIndex) -> None:
    assert ids(index, "東京") == ["tokyo"]
    assert ids(index, "会議") == ["meeting"]


def test_one_character_japanese_word_is_found_inside_a_longer_word(index: LexicalIndex) -> None:
    assert ids(index, "猫") == ["cat"]
    assert set(ids(index, "東")) == {"tokyo", "kyoto"}


def test_chinese_substring_is_found(index: LexicalIndex) -> None:
    assert ids(index, "图书馆")[0] == "zh"
    assert ids(index, "机器学习")[0] == "zh"


def test_english_words_match_regardless_of_case(index: LexicalIndex) -> None:
    assert ids(index, "quarterly report") == ["en"]
    assert ids(index, "FRIDAY") == ["en"]


def test_full_width_and_half_width_forms_match(index: LexicalIndex) -> None:
    assert ids(index, "３３３") == ["tokyo"]
    assert ids(index, "ＱＵＡＲＴＥＲＬＹ") == ["en"]


def test_coverage_is_the_share_of_query_terms_found(index: LexicalIndex) -> None:
    [hit] = index.search("friday")
    assert hit.coverage == 1.0
    [hit] = index.search("friday holiday")
    assert 0.0 < hit.coverage < 1.0


def test_coverage_weighs_rare_terms_more_than_common_ones() -> None:
    index = LexicalIndex(sqlite3.connect(":memory:"))
    index.create()
    index.add([(animal, "s", f"the old {animal} is here") for animal in ("cat", "dog", "bird", "lion")])
    hits = {h.chunk_id: h.coverage for h in index.search("old lion")}
    assert hits["lion"] == 1.0
    assert hits["cat"] < 0.25  # "old" is in every note: it is little evidence


def test_verbatim_phrase_ranks_above_scattered_words() -> None:
    index = LexicalIndex(sqlite3.connect(":memory:"))
    index.create()
    index.add(
        [
            # "report" and "quarterly" many times, but never together in this order.
            ("scattered", "s", "Report on sales. The quarterly numbers; report again, quarterly figures, report."),
            ("verbatim", "s", "Long note about many things, one of which is the quarterly report for March."),
        ]
    )
    assert ids(index, "quarterly report") == ["verbatim", "scattered"]
    index.add([("ja-scattered", "s", "会議室で議事録を書いた。定例の会議。"), ("ja-verbatim", "s", "定例会議室")])
    assert ids(index, "会議室")[0] == "ja-verbatim"


@pytest.mark.parametrize(
    "query", ['"', '""', "*", "AND", "OR (", "NOT x", "a:b", "東京 NEAR(", "^", "'", "-", "\\", "", "   "]
)
def test_query_syntax_in_user_text_never_raises(index: LexicalIndex, query: str) -> None:
    index.search(query)


@given(st.text(max_size=40))
def test_any_text_is_a_valid_query(query: str) -> None:
    index = LexicalIndex(sqlite3.connect(":memory:"))
    index.create()
    index.add(NOTES)
    for hit in index.search(query):
        assert 0.0 < hit.coverage <= 1.0


def test_delete_removes_chunks(index: LexicalIndex) -> None:
    index.delete(["cat", "not-indexed"])
    assert ids(index, "猫") == []
    assert ids(index, "東京") == ["tokyo"]


def test_adding_a_chunk_again_replaces_it(index: LexicalIndex) -> None:
    index.add([("cat", "diary", "白い犬が寝ている。")])
    assert ids(index, "猫") == []
    assert ids(index, "犬") == ["cat"]


def test_sources_filter(index: LexicalIndex) -> None:
    assert set(ids(index, "東")) == {"tokyo", "kyoto"}
    assert ids(index, "東", sources=["diary"]) == []
    assert ids(index, "会議", sources=["work", "diary"]) == ["meeting"]
    assert ids(index, "会議", sources=[]) == []


def test_k_limits_the_hits(index: LexicalIndex) -> None:
    assert len(index.search("東", k=1)) == 1


def test_writes_stay_in_the_callers_transaction() -> None:
    conn = sqlite3.connect(":memory:")
    index = LexicalIndex(conn)
    index.create()
    conn.commit()
    index.add(NOTES)
    conn.rollback()
    assert index.search("東京") == []


def test_a_whole_pasted_page_as_query_finds_its_page() -> None:
    index = LexicalIndex(sqlite3.connect(":memory:"))
    index.create()
    page = "".join(f"第{i}章では東京と大阪の会議{i}について説明する。" for i in range(400))
    index.add([*NOTES, ("page", "s", page)])
    assert ids(index, page)[0] == "page"


# function words and rare words -----------------------------------------------------------------

JAPANESE = [f"ja{i}" for i in range(30)]


def mostly_japanese() -> LexicalIndex:
    """Thirty Japanese notes and one with a line of English prose: "the" and "what" are rare here."""
    index = LexicalIndex(sqlite3.connect(":memory:"))
    index.create()
    index.add([(cid, "s", f"第{i}回の会議メモ。予算と日程を確認した。") for i, cid in enumerate(JAPANESE)])
    index.add([("prose", "s", "旅行メモ: what the guide said is that the castle and the garden close at five.")])
    index.add([("boil", "s", "水の沸点は標高が高いほど低くなる。富士山頂では約87度 (boiling point)。")])
    return index


def test_function_words_are_no_evidence_in_a_mostly_japanese_index() -> None:
    hits = {h.chunk_id: h for h in mostly_japanese().search("What is the boiling point of water?")}
    assert "prose" not in hits  # it shares only "what", "the", "is": nothing the question is about
    assert hits["boil"].coverage > 0.5


def test_a_query_of_only_function_words_still_finds_them() -> None:
    assert [h.chunk_id for h in mostly_japanese().search("what the")] == ["prose"]


def test_japanese_and_chinese_particles_and_question_words_are_no_evidence() -> None:
    index = LexicalIndex(sqlite3.connect(":memory:"))
    index.create()
    index.add([("particles", "s", "それは何のことか。什么意思？"), ("fuji", "s", "富士山の高さは3776メートル。")])
    hits = {h.chunk_id: h for h in index.search("富士山の高さは何メートル")}
    assert "particles" not in hits  # it shares only "は何", a particle and a question word
    assert hits["fuji"].coverage > 0.7  # all but "何メ"
    assert [h.chunk_id for h in index.search("富士山是什么")] == ["fuji"]


def test_hits_say_how_much_of_the_querys_rare_words_they_hold() -> None:
    index = LexicalIndex(sqlite3.connect(":memory:"))
    index.create()
    index.add([(f"n{i}", "s", f"Meeting notes {i}: budget, hiring and the roadmap.") for i in range(20)])
    index.add([("made-up", "s", "Meeting notes: the florbanite supplier is late again.")])
    hits = {h.chunk_id: h for h in index.search("florbanite meeting")}
    assert hits["made-up"].rare == 1.0
    assert hits["n3"].rare == 0.0 and hits["n3"].coverage > 0  # "meeting" is on every page: not rare
