"""kb eval: scoring as the paper does, question sets, and runs through the real agent loop."""

from __future__ import annotations

import dataclasses
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
    item = E.EvalItem("Tom had 20 apples and ate 5. How many are left?", gold="15", kind="arithmetic")
    assert E.score(item, answer("[Calculator(20 - 5) → 15] 15 apples."))
    # the call's numbers (20, 5, 15) do not count: the first number the reader sees is 16
    assert not E.score(item, answer("[Calculator(20 - 5) → 15] I think 16 apples."))
    assert E.score(E.EvalItem("q", gold="3.3333", kind="arithmetic"), answer("3.33 each"))


def test_text_answers_must_contain_the_gold() -> None:
    item = E.EvalItem("What weekday is it?", gold="Saturday", kind="date")
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
    items = [E.EvalItem("Tom had 20 apples and ate 5. How many are left?", gold="15", kind="arithmetic"),
             E.EvalItem("Sam had 9 pens and lost 2. How many are left?", gold="7", kind="arithmetic")]
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
    items = [E.EvalItem("Which year are we in right now?", gold="2031", kind="date", today=date(2031, 5, 2)),
             E.EvalItem("Which year are we in right now?", gold="2024", kind="date", today=date(2024, 1, 9))]
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
    items = [E.EvalItem("When is the Atlas deadline?", gold="2025-04-30", kind="notes", page="Project Atlas"),
             E.EvalItem("How hot is the oven for banana bread?", gold="175", kind="notes", page="Banana bread")]
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


# --- splits, reading sets, real notes, reports -------------------------------------------------------

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_reading_answers_are_folded_and_numbers_match_as_numbers() -> None:
    assert E.contains_answer("下次是3月26日。", "3 月 26 日")  # CJK: whitespace removed
    assert E.contains_answer("Press CMD+L.", "Cmd+L") and E.contains_answer("ｐｙｔｈｏｎ で", "Python")
    assert E.contains_answer("It has 12400 files.", "12,400")
    assert not E.contains_answer("15 apples", "5")  # a number is not the digits of a longer one
    item = E.EvalItem("How many?", gold="3", kind="reading", answers=("three",), lang="en")
    assert E.score(item, answer("3 bananas."))
    assert E.score(item, answer("Three of them."))
    assert not E.score(item, answer("That is not in your notes. Maybe 3."))  # a refusal never scores
    nothing = E.EvalItem("Who founded it?", gold="", kind="reading", lang="en", unanswerable=True)
    assert nothing.graded and E.score(nothing, answer("That is not in your notes."))
    assert not E.score(nothing, answer("Tienson."))


def test_f1_counts_characters_for_cjk_and_words_for_english() -> None:
    assert E.f1("500年。", "有500年的栽培历史。", cjk=True) == pytest.approx(2 * 0.4 / 1.4)  # 4 of 10 characters
    assert E.f1("the Rhine.", "Rhine Delta") == pytest.approx(2 / 3)
    assert E.f1("Delta", "Rhine Delta") == pytest.approx(2 / 3) and E.f1("x", "y") == 0.0
    item = E.EvalItem("Where?", gold="Rhine Delta", kind="reading", lang="en")
    assert E.reading_f1(item, "That is not in your notes.") == 0.0
    nothing = E.EvalItem("Who?", gold="", kind="reading", lang="en", unanswerable=True)
    assert E.reading_f1(nothing, "That is not in your notes.") == 1.0 and E.reading_f1(nothing, "Tienson.") == 0.0


def test_the_reading_ceiling_looks_only_at_what_search_and_find_showed() -> None:
    from kbagent.agent import CallRecord

    item = E.EvalItem("8世紀の首都は？", gold="奈良", kind="reading", lang="ja")
    result = "(1) 東大寺: 首都は奈 良だった"
    shown = Answer(question="q", text="京都。", calls=(CallRecord("Search", '"首都"', result, 0.0),))
    assert E.gold_shown(item, shown) and not E.score(item, shown)
    hidden = Answer(question="q", text="奈良。", calls=(CallRecord("Calculator", "1+1", "奈良", 0.0),))
    assert not E.gold_shown(item, hidden) and E.score(item, hidden)


def test_gsm8k_keeps_one_split_and_reads_the_final_answer(tmp_path: Path) -> None:
    from kbagent.splits import split_of

    assert E.gsm8k_answer("… so 1,200 in all.\n#### 1,200") == "1200"
    path = tmp_path / "train.jsonl"
    lines = [{"question": f"Sam has {k} pens and buys {k + 1} more. How many pens now?",
              "answer": f"{k}+{k + 1}=<<{k}+{k + 1}={2 * k + 1}>>{2 * k + 1}\n#### {2 * k + 1}"} for k in range(200)]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    dev, test = E.load_gsm8k(path, "dev"), E.load_gsm8k(path, "test")
    assert dev and test and not {i.question for i in dev} & {i.question for i in test}
    assert all(split_of("gsm8k", i.question) == "dev" for i in dev)
    assert all(float(i.gold) == 2 * float(i.question.split()[2]) + 1 for i in dev)
    assert E.load_gsm8k(path, "dev", n=2, seed=1) == E.load_gsm8k(path, "dev", n=2, seed=1)
    # the template filter: these problems all share one signature
    from kbagent.evaluation.overlap import template_signature

    assert E.load_gsm8k(path, "dev", avoid={template_signature(lines[0]["question"])}) == []


def test_mawps_keeps_one_split(shared_data: Path) -> None:
    from kbagent.splits import split_of

    path = shared_data / "mawps" / "MAWPS.json"
    dev, test = E.load_mawps(path, split="dev"), E.load_mawps(path, split="test")
    assert len(dev) + len(test) == len(E.load_mawps(path))
    assert all(split_of("mawps", i.question) == "dev" for i in dev)
    assert not {i.question for i in dev} & {i.question for i in test}


def test_a_reading_set_is_the_articles_of_one_split_with_all_their_paragraphs() -> None:
    from kbagent.splits import split_of

    path = FIXTURES / "datasets" / "squad-mini.json"
    rs = E.load_reading_set(path, "jaquad-dev", "dev", "ja")
    assert rs.articles == tuple(sorted(t for t in ("芥川龍之介", "范廷颂") if split_of("jaquad-dev", t) == "dev"))
    assert len(rs.documents) == 3  # the paragraph without questions is a distractor all the same
    item = next(i for i in rs.items if i.gold == "1919年3月12日")
    assert item.page == "jaquad-dev:芥川龍之介:0" and item.lang == "ja" and item.kind == "reading"
    assert E.load_reading_set(path, "jaquad-dev", "test", "ja").items == ()
    assert E.article_key({"paragraphs": [{"qas": [{"id": "TRAIN_7_QUERY_0"}]}]}) == "TRAIN_7"


def test_real_note_questions_are_checked_against_their_pages_split(tmp_path: Path) -> None:
    path = FIXTURES / "real-notes-questions.jsonl"
    dev = E.load_real_note_questions(path, "dev")
    assert [i.id for i in dev] == ["fixture-1", "fixture-2"] and dev[0].answers == ()
    (nothing,) = E.load_real_note_questions(path, "test")
    assert nothing.unanswerable and nothing.lang == "zh" and nothing.category == "unanswerable"
    record = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    for change, message in (({"split": "test"}, "dev split, not test"), ({"split": "train"}, "dev or test"),
                            ({"answers": []}, "unanswerable"), ({"lang": "fr"}, "not one of")):
        bad = tmp_path / "bad.jsonl"
        bad.write_text(json.dumps({**record, **change}) + "\n", encoding="utf-8")
        with pytest.raises(ValueError, match=message):
            E.load_real_note_questions(bad)


def test_missing_data_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(E.MissingData, match="jaquad/dev"):
        E.data_file(None, "reading-ja")
    with pytest.raises(E.MissingData, match=r"gsm8k-train/train\.jsonl"):
        E.data_file(tmp_path, "gsm8k")
    with pytest.raises(E.MissingData, match="no such data folder"):
        E.locate_data(tmp_path / "nowhere")
    request = E.PlanRequest(sets=("gsm8k",), data_dir=tmp_path)
    with pytest.raises(E.MissingData, match=r"train\.jsonl"):
        E.build_plan(request)


def test_set_names_are_checked_and_arithmetic_falls_back_to_generated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown set bogus"):
        E.parse_sets("mawps,bogus")
    assert E.parse_sets("reading-ja, gsm8k") == ("reading-ja", "gsm8k")
    assert E.resolve_sets(E.PlanRequest(sets=("arithmetic", "dates"), data_dir=tmp_path)) == ("dates", "generated")
    plan = E.build_plan(E.PlanRequest(sets=("arithmetic", "svamp", "dates"), data_dir=tmp_path, limit=5))
    assert {n: plan.info_of(n).split for n in plan.sets} == {"svamp": "dev", "dates": "dev", "generated": "train"}
    assert "in-distribution" in plan.info_of("svamp").description


def test_legacy_plan_labels_every_set() -> None:
    items = E.load_note_questions(E.SAMPLE_NOTE_QUESTIONS)
    plan = E.default_plan(note_questions=items, limit=5)
    labels = {n: plan.info_of(n).split for n in plan.sets}
    assert labels == {"arithmetic (generated, held out)": "train", "SVAMP-style (hand-written)": "dev",
                      "dates (needs today)": "dev", "note look-up": "train"}


def _reading_data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "jaquad" / "dev").mkdir(parents=True)
    (data / "jaquad" / "dev" / "jaquad_dev_0000.json").write_bytes(
        (FIXTURES / "datasets" / "squad-mini.json").read_bytes())
    return data


def test_a_reading_set_searches_its_own_cached_corpus(tmp_path: Path, embedder) -> None:
    data = _reading_data(tmp_path)
    loads: list[int] = []

    def load() -> object:
        loads.append(1)
        return embedder

    indexed: list[int] = []
    request = E.PlanRequest(sets=("reading-ja",), split="dev", data_dir=data, limit=5)
    plan = E.build_plan(request, work_dir=tmp_path / "work", embedder=load,
                        on_index=lambda name, p: indexed.append(p.chunks_embedded))
    info = plan.info_of("reading-ja")
    assert info.split == "dev" and "3 paragraphs" in info.description and len(loads) == 1
    assert indexed and indexed[-1] > 0
    model = ScriptedModel(lambda read: '[Search("芥川 結婚") →' if "結婚" in read else "わかりません。",
                          lambda read: " 1919年3月12日。" if "1919年3月12日" in read else " 不明。")
    config = load_config(tmp_path / "home")
    results = E.evaluate(dataclasses.replace(plan, without_tools=False), model, None, config)
    plan.close()
    (r,) = results
    assert r.split == "dev" and r.kind == "reading" and r.n == 2
    married = next(i for i in r.items if "結婚" in i.question)
    assert married.correct and married.right_page_cited and married.gold_shown
    assert married.calls[0].startswith("Search(")
    assert r.metrics["search_rate"] == 50.0 and r.metrics["find_rate"] == 0.0
    assert r.metrics["page_found"] == 50.0 and r.metrics["reading_ceiling_page_found"] == 100.0
    assert r.metrics["by_lang"] == {"ja": {"n": 2, "accuracy": 50.0}}
    # a second run reuses the index: nothing is embedded again
    indexed.clear()
    again = E.build_plan(request, work_dir=tmp_path / "work", embedder=load,
                         on_index=lambda name, p: indexed.append(p.chunks_embedded))
    again.close()
    assert indexed[-1] == 0


def test_real_note_metrics_count_languages_kinds_and_refusals() -> None:
    items = [E.EvalItem("a?", gold="x", kind="reading", page="P", lang="en", category="fact"),
             E.EvalItem("b?", gold="y", kind="reading", page="Q", lang="ja", category="cross-language"),
             E.EvalItem("c?", gold="", kind="reading", lang="zh", category="unanswerable", unanswerable=True)]

    def result(item: E.EvalItem, correct: bool, refused: bool, page: bool | None, shown: bool | None) -> E.ItemResult:
        return E.ItemResult(item.question, item.gold, "", "", correct, ("Search",), (), page, 0.1, lang=item.lang,
                            category=item.category, unanswerable=item.unanswerable, refused=refused, gold_shown=shown)

    results = [result(items[0], True, False, True, True), result(items[1], False, True, False, False),
               result(items[2], True, True, None, None)]
    m = E.reading_metrics(items, results)
    assert m["by_lang"] == {"en": {"n": 1, "accuracy": 100.0}, "ja": {"n": 1, "accuracy": 0.0},
                            "zh": {"n": 1, "accuracy": 100.0}}
    assert m["by_kind"]["cross-language"] == {"n": 1, "accuracy": 0.0}
    assert m["unanswerable"] == {"n": 1, "accuracy": 100.0} and m["refusal_rate_answerable"] == 50.0
    assert m["page_found"] == 50.0 and m["reading_ceiling"] == 50.0 and m["reading_ceiling_page_found"] == 100.0
    assert any("not in your notes 100%" in line for line in E.detail_lines(
        [E.SetResult("notes-real", "reading", True, 3, 66.7, 100.0, 50.0, 0.1, split="dev", metrics=m)]))


def test_reports_carry_the_split_and_render_as_markdown(tmp_path: Path) -> None:
    from kbagent.evaluation.report import load_reports

    dev = E.SetResult("gsm8k", "arithmetic", True, 2, 50.0, None, None, 1.0, split="dev", description="GSM8K")
    train = E.SetResult("notes", "notes", True, 2, 50.0, 100.0, 50.0, 1.0, split="train")
    extra = E.run_info(split="dev", seed=0, limit=2, adapter="default", threads=2)
    E.write_report(tmp_path / "a.json", "scripted", [dev, train, dataclasses.replace(dev, tools=False, accuracy=0.0)],
                   extra)
    report = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    assert report["split"] == "dev" and report["machine"]["threads"] == 2 and report["adapter"] == "default"
    assert [s["split"] for s in report["sets"]] == ["dev", "train", "dev"]
    assert list(report["sets"][0])[:3] == ["name", "split", "description"]
    assert E.report_rows([dev, train])[0][:2] == ("gsm8k (n=2)", "dev")
    fixtures = [FIXTURES / "eval-reports" / "base.json", FIXTURES / "eval-reports" / "base-test.json"]
    table = E.render_markdown(load_reports([tmp_path / "a.json", *fixtures]))
    # one table per split the runs were made on, the test runs first
    assert table.index("**test** split") < table.index("| set | split | base-test |") < table.index("**dev** split")
    assert "| set | split | a | a, calls disabled | base |" in table
    assert "| gsm8k | dev | 50.0%, n=2 | 0.0%, n=2 | 10.0%, n=10 |" in table
    assert table.index("| reading-ja | test |") < table.index("| gsm8k | dev |") < table.index("| notes | train |")
    readme = "intro\n<!-- eval-table:start -->\nold\n<!-- eval-table:end -->\nrest\n"
    assert E.replace_section(readme, table).count("| gsm8k | dev |") == 1
    with pytest.raises(ValueError, match="eval-table"):
        E.replace_section("no markers", table)


def test_the_render_script_rewrites_the_readme_section(tmp_path: Path) -> None:
    import subprocess
    import sys

    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- eval-table:start -->\n<!-- eval-table:end -->\nafter\n", encoding="utf-8")
    script = Path(__file__).resolve().parents[1] / "scripts" / "render_eval.py"
    reports = [str(FIXTURES / "eval-reports" / name) for name in ("base.json", "base-test.json")]
    other = tmp_path / "ceiling.json"
    other.write_text('{"budgets": [160]}', encoding="utf-8")  # other figures beside the reports are left out
    shown = subprocess.run([sys.executable, str(script), *reports, str(other)], capture_output=True, text=True,
                           check=True)
    assert "not a kb eval report" in shown.stderr
    assert "| reading-ja | test | 40.0% (page 80%, ceiling 60%), n=5 |" in shown.stdout
    subprocess.run([sys.executable, str(script), *reports, "--readme", str(readme)], check=True, capture_output=True)
    text = readme.read_text(encoding="utf-8")
    assert "| reading-ja | test |" in text and text.endswith("<!-- eval-table:end -->\nafter\n")


@pytest.mark.slow
def test_kb_eval_writes_a_report_with_each_sets_split(tmp_path: Path, models_dir: Path) -> None:
    from typer.testing import CliRunner

    from kbagent.cli import app

    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(models_dir)
    report = tmp_path / "eval" / "smoke.json"
    result = CliRunner().invoke(app, ["--home", str(home), "eval", "--sets", "svamp,dates", "--limit", "1",
                                      "--tools-only", "--model", "smollm2-135m", "--adapter", "none",
                                      "--data", str(tmp_path), "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert "split" in result.output and "svamp (n=1)" in result.output
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["split"] == "dev" and data["machine"]["cpus"] and data["date"]
    sets = [(s["name"], s["split"], len(s["items"])) for s in data["sets"]]
    assert sets == [("svamp", "dev", 1), ("dates", "dev", 1)]


def test_run_eval_answers_the_note_questions_over_a_scratch_index_and_writes_the_report(
    tmp_path: Path, embedder
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "Project Atlas.md").write_text("# Project Atlas\nDeadline: 2025-04-30\n", encoding="utf-8")
    (notes / "Banana bread.md").write_text("# Banana bread\nOven 175 °C.\n", encoding="utf-8")
    questions = tmp_path / "questions.jsonl"
    questions.write_text(json.dumps({"question": "When is the Atlas deadline?", "page": "Project Atlas",
                                     "answer": "2025-04-30"}) + "\n", encoding="utf-8")
    config = load_config(tmp_path / "home")
    indexed: list[int] = []
    model = ScriptedModel('[Search("Atlas deadline") →', " 2025-04-30.")
    request = E.PlanRequest(sets=("notes",), limit=5, without_tools=False)

    run = E.run_eval(request, config, model, notes=notes, questions=questions, embedder=lambda: embedder,
                     on_notes_indexed=lambda stats: indexed.append(stats.added))

    assert indexed == [2]
    (notes_set,) = run.results
    assert (notes_set.name, notes_set.tools, notes_set.n, notes_set.accuracy) == ("notes", True, 1, 100.0)
    assert notes_set.items[0].right_page_cited and notes_set.items[0].cited[0] == "Project Atlas"
    assert (run.model, run.prompt_style, run.split) == ("scripted", "few-shot", "dev")
    assert run.report == config.paths.logs / "eval-scripted.json"
    data = json.loads(run.report.read_text(encoding="utf-8"))
    assert data["model"] == "scripted" and [s["name"] for s in data["sets"]] == ["notes"]


def test_run_eval_says_what_is_missing_before_loading_a_model(tmp_path: Path) -> None:
    config = load_config(tmp_path / "home")
    request = E.PlanRequest(sets=("gsm8k",), data_dir=tmp_path / "no-data")

    with pytest.raises(E.EvalSetupError, match="gsm8k"):
        E.run_eval(request, config, "no-such-model")
