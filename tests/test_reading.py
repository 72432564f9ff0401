"""What the model reads of a page: the lines that answer, in page order, within a token budget."""

from __future__ import annotations

from kbagent.reading import LineSelector, approx_tokens, lexical_scores, page_units

TRIP = """京都旅行の計画
- 3泊4日。
- 日程
    - 4/3(木): 東京 8:00 発の新幹線で京都へ
    - 4/4(金): 嵐山
- 予算(2 人分)
    - 新幹線: 往復 1 人 28,000 円 × 2 人
    - 宿: 1 泊 18,000 円 × 3 泊
- [https://example.org/map.png]
"""


def test_a_page_becomes_clean_lines_and_sentences() -> None:
    units = page_units(TRIP, "京都旅行の計画")
    assert units[0] == "3泊4日。" and "新幹線: 往復 1 人 28,000 円 × 2 人" in units
    assert not any("example.org" in u for u in units)  # a link-only line says nothing
    assert page_units("First sentence. Second one! ## Heading") == ["First sentence.", "Second one!", "## Heading"]
    assert page_units("- ## Usage") == ["Usage"]


def test_question_words_are_not_evidence_but_one_character_words_are() -> None:
    units = ["What is this page about and how", "鍵は玄関の棚にある", "傘は車の中"]
    scores = lexical_scores(units, ["What is the 鍵?"])
    assert scores[1] > 0 and scores[0] == 0 and scores[2] == 0


def test_the_answer_line_wins_the_budget_and_lines_keep_page_order() -> None:
    view = LineSelector().view("京都旅行の計画", TRIP, "京都旅行の新幹線代は2人でいくら？", "京都旅行", budget=40)
    assert "28,000 円" in view.text
    assert view.text.index("4/3") < view.text.index("28,000") if "4/3" in view.text else True
    assert approx_tokens(view.text) <= 40


def test_a_question_in_another_language_finds_its_line_by_embedding(embedder) -> None:
    page = "\n".join(["会議は毎週月曜日の朝9時から。", "猫の名前はミケ。三毛猫で五歳。", "駐車場は建物の裏にある。"])
    view = LineSelector(embedder=embedder).view("メモ", page, "What is my cat called?", "cat name", budget=14)
    assert "ミケ" in view.text and view.shown == 1
