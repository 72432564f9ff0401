"""kb eval: scoring as the paper does, question sets, and runs through the real agent loop."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest
from scripted_model import ScriptedModel

from kbagent import evaluation as E
from kbagent.agent import Agent, Answer, build_agent
from kbagent.config import load_config
from kbagent.tools import Calculator, Calendar


def answer(text: str) -> Answer:
    return Answer(question="q", text=text)


def test_first_number_is_what_counts() -> None:
    assert E.first_number("26 apples, not 27") == 26
    assert E.first_number("It costs 1,200 yen.") == 1200
    assert E.first_number("about 3.5 km") == 3.5
    assert E.first_number("no number here") is None


def test_arithmetic_is_scored_on_the_answer_text_not_the_call() -> None:
    item = E.EvalItem("Tom had 20 apples and ate 5. How many are left?", "15", "arithmetic")
    assert E.score(item, answer("[Calculator(20 - 5) → 15] 15 apples."))
    # the call's numbers (20, 5, 15) do not count: the first number the reader sees is 16
    assert not E.score(item, answer("[Calculator(20 - 5) → 15] I think 16 apples."))
    assert E.score(E.EvalItem("q", "3.3333", "arithmetic"), answer("3.33 each"))


def test_text_answers_must_contain_the_gold() -> None:
    item = E.EvalItem("What weekday is it?", "Saturday", "date")
    assert E.score(item, answer("[Calendar() → Today is Saturday, March 15, 2025.] It is saturday."))
    assert not E.score(item, answer("[Calendar() → Today is Saturday, March 15, 2025.] Friday."))


def test_mawps_is_read_and_detokenized(shared_data: Path) -> None:
    items = E.load_mawps(shared_data / "mawps" / "MAWPS.json", n=20, seed=1)
    assert len(items) == 20 and items == E.load_mawps(shared_data / "mawps" / "MAWPS.json", n=20, seed=1)
    assert all(float(i.gold) == float(i.gold) and i.kind == "arithmetic" for i in items)
    assert not any(re.search(r"\s[.,?]", i.question) for i in items)


def test_bundled_svamp_style_problems_are_read_with_their_variation() -> None:
    items = E.load_word_problems(E.SVAMP_STYLE)
    assert len(items) == 100 and {i.kind for i in items} == {"arithmetic"}
    assert "irrelevant_info" in {i.category for i in items}
    assert E.load_word_problems(E.SVAMP_STYLE, n=10, seed=3) == E.load_word_problems(E.SVAMP_STYLE, n=10, seed=3)
    plan = E.default_plan(kinds=("svamp",), limit=20)
    assert list(plan.sets) == ["SVAMP-style (hand-written)"] and len(plan.sets["SVAMP-style (hand-written)"]) == 20


def test_word_problem_file_is_checked(tmp_path: Path) -> None:
    bad = tmp_path / "p.jsonl"
    bad.write_text('{"question": "How many?", "answer": "many"}\n')
    with pytest.raises(ValueError, match=r"p\.jsonl:1"):
        E.load_word_problems(bad)


def test_tram_takes_an_equal_share_of_each_category(shared_data: Path) -> None:
    cats = ("Year Shift", "Hour Adjustment (24h)")
    items = E.load_tram(shared_data / "tram_arithmetic" / "arithmetic_saq.csv", n=10, categories=cats)
    assert len(items) == 10
    assert {i.category for i in items} == set(cats)


def test_generated_sets_are_held_out_and_need_today() -> None:
    dates = E.generated_dates(30)
    assert dates == E.generated_dates(30) and all(i.today is not None for i in dates)
    year = next(i for i in dates if i.question == "Which year are we in right now?")
    assert year.gold == str(year.today.year)
    arith = E.generated_arithmetic(5)
    assert {i.kind for i in arith} == {"arithmetic"}


def test_note_questions_file_is_checked(tmp_path: Path) -> None:
    good = tmp_path / "q.jsonl"
    good.write_text('{"question": "When is the Atlas deadline?", "page": "Project Atlas", "answer": "2025-04-30"}\n')
    (item,) = E.load_note_questions(good)
    assert (item.page, item.gold, item.kind) == ("Project Atlas", "2025-04-30", "notes")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "no page"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:1"):
        E.load_note_questions(bad)


def test_shipped_sample_note_questions_name_real_sample_pages() -> None:
    root = Path(__file__).resolve().parents[1]
    items = E.load_note_questions(root / "kbagent" / "data" / "eval" / "sample-notes-questions.jsonl")
    stems = {p.stem for p in (root / "samples" / "notes").rglob("*.md")}
    assert len(items) >= 20 and {i.page for i in items} <= stems


def test_a_run_through_the_agent_scores_with_and_without_tools(tmp_path: Path) -> None:
    items = [E.EvalItem("Tom had 20 apples and ate 5. How many are left?", "15", "arithmetic"),
             E.EvalItem("Sam had 9 pens and lost 2. How many are left?", "7", "arithmetic")]
    calc = ScriptedModel(lambda read: "[Calculator(20 - 5) →" if "20 apples" in read else "[Calculator(9 - 1) →",
                         lambda read: " " + read.rsplit("→ ", 1)[1].split("]")[0] + " left.")
    with_tools = E.run_set("toy", items, Agent(calc, [Calculator()]), tools=True)
    assert with_tools.accuracy == 50.0 and with_tools.n == 2
    assert with_tools.items[0].tools_called == ("Calculator",) and with_tools.items[0].correct
    guess = ScriptedModel("15 apples.")
    without = E.run_set("toy", items, Agent(guess, []), tools=False)
    assert without.accuracy == 50.0 and without.items[1].tools_called == ()
    rows = E.table_rows([with_tools, without])
    assert rows == [("toy (n=2)", "50.0%", "50.0%", rows[0][3])]
    E.write_report(tmp_path / "eval.json", "scripted", [with_tools, without])
    report = json.loads((tmp_path / "eval.json").read_text(encoding="utf-8"))
    assert report["paper"]["GPT-J 6.7B + tools (Toolformer)"]["MAWPS"] == 44.0
    assert report["sets"][0]["items"][0]["answer"].startswith("[Calculator(20 - 5) → 15]")


def test_each_date_question_gets_its_own_today() -> None:
    items = [E.EvalItem("Which year are we in right now?", "2031", "date", today=date(2031, 5, 2)),
             E.EvalItem("Which year are we in right now?", "2024", "date", today=date(2024, 1, 9))]
    model = ScriptedModel("[Calendar() →", lambda read: " " + re.findall(r"\d{4}", read)[-1] + ".")
    clock = E.FixedClock()
    result = E.run_set("dates", items, Agent(model, [Calendar(clock)]), tools=True, clock=clock)
    assert result.accuracy == 100.0
    assert "Today is Friday, May 2, 2031." in result.items[0].answer


def test_note_lookups_count_searches_and_cited_pages(tmp_path: Path, embedder) -> None:
    from kbagent.knowledgebase import KnowledgeBase

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "Project Atlas.md").write_text("# Project Atlas\nDeadline: 2025-04-30\n", encoding="utf-8")
    (notes / "Banana bread.md").write_text("# Banana bread\nOven 175 °C.\n", encoding="utf-8")
    kb = KnowledgeBase(tmp_path / "home", embedder=embedder)
    kb.index_path(notes, remember=False)
    items = [E.EvalItem("When is the Atlas deadline?", "2025-04-30", "notes", page="Project Atlas"),
             E.EvalItem("How hot is the oven for banana bread?", "175", "notes", page="Banana bread")]
    model = ScriptedModel(lambda read: '[Search("Atlas deadline") →' if "Atlas" in read else "I don't know.",
                          " 2025-04-30.")
    config = load_config(tmp_path / "home")
    agent = build_agent(kb, config=config, model=model, plugins=False, search_k=1)
    result = E.run_set("notes", items, agent, tools=True)
    assert result.search_rate == 50.0 and result.cited_rate == 50.0
    assert result.items[0].right_page_cited and result.items[0].cited == ("Project Atlas",)
    assert result.items[1].right_page_cited is False
    kb.close()


def test_questions_can_be_made_from_the_index() -> None:
    class Chunk:
        def __init__(self, title: str, text: str) -> None:
            self.title, self.text, self.doc_id, self.source = title, text, title + ".md", "notes"

    items = E.questions_from_index([Chunk("Project Atlas", "Deadline: 2025-04-30"), Chunk("Plants", "Water daily")], 2)
    assert len(items) == 2 and all(i.kind == "notes" and i.page.endswith(".md") for i in items)


@pytest.mark.slow
def test_without_tools_a_local_model_cannot_open_a_call(models_dir: Path) -> None:
    from kbagent.models import LocalModel

    lm = LocalModel.load("smollm2-135m", models_dir)
    prompt = "List: [a] [b] [c] [d] [e] ["
    assert "[" in "".join(lm.start(prompt).stream(8))
    assert "[" not in "".join(E.CallsDisabled(lm).start(prompt).stream(8))
