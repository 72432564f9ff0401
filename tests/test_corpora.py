"""The built-in training corpora: every answer follows from the page or the tool results it is given."""

from __future__ import annotations

import random
import re

from kbagent import corpora as C
from kbagent.microformat import unquote
from kbagent.tools import Calculator
from kbagent.training import calendar_on


def _numbers(text: str) -> list[str]:
    return re.findall(r"\d+", text)


def test_note_answers_are_on_their_page_and_compound_ones_are_computed_from_it() -> None:
    rng = random.Random(3)
    pages = {p.title: p for p in C.synthetic_notes(80, rng)}
    items = C.note_questions(list(pages.values()), rng, per_page=3, compound=1.0)
    compound = [i for i in items if len(i.calls) == 2]
    assert compound and len(items) > 3 * len(compound)
    for item in items:
        page = pages[item.page or ""]
        assert item.calls[0].tool == "Search"
        if re.fullmatch(r"\d+ people\.|\d+人です。", item.answer):
            assert len(re.split("[,、]", page.text.split("\n")[1])) == int(_numbers(item.answer)[0])  # counted
        elif len(item.calls) == 1:
            # the numbers (and for most answers the words) a Search result would show
            assert all(n in page.text for n in _numbers(item.answer)), (item.question, page.text)
        else:
            expression = item.calls[1].input
            assert all(n in page.text or n == "2" for n in _numbers(expression)), expression  # 2: twice, return
            assert Calculator()(expression) in item.answer


def test_how_many_and_how_much_note_questions_exist_in_each_language() -> None:
    rng = random.Random(4)
    questions = [q for p in C.synthetic_notes(120, rng) for q, _, _ in p.questions]
    assert any(q.startswith(("How many", "How much")) for q in questions)
    assert any("いくら" in q or "何個" in q for q in questions)
    assert any("多少" in q for q in questions)


def test_calendar_date_questions_are_answered_by_the_calendars_own_words() -> None:
    items = [i for i in C.date_questions(300, random.Random(5))
             if i.calls and i.calls[0].tool == "Calendar" and i.calls[0].input]
    assert len(items) > 40
    for item in items:
        assert item.today is not None
        result = calendar_on(item.today)(unquote(item.calls[0].input))
        if m := re.fullmatch(r"(\d+)年(\d+)月(\d+)日", item.gold):  # read off the ISO date the result ends with
            assert "({:04d}-{:02d}-{:02d})".format(*map(int, m.groups())) in result, (item.question, result)
            continue
        assert item.gold in result or item.gold in C.JA_WEEKDAYS, (item.question, result)
        if item.gold in C.JA_WEEKDAYS:
            assert C.WEEKDAYS[C.JA_WEEKDAYS.index(item.gold)] in result


def test_story_problems_use_the_numbers_they_tell_and_pronouns_that_fit() -> None:
    rng = random.Random(6)
    for _ in range(400):
        question, expression, _unit = rng.choice(C.STORY_TEMPLATES)(rng)
        assert all(n in _numbers(question) or n == "12" for n in _numbers(expression)), (question, expression)
        assert not Calculator()(expression).startswith("-") or "-" in question
        words = set(question.lower().replace(".", " ").replace("?", " ").replace("'s", "").split())
        first = question.split()[0].removesuffix("'s")
        if first in C.NAMES:  # the pronouns refer to the first person named
            assert not words & ({"he", "him", "his"} if first in C.FEMALE else {"she", "her"}), question
