"""Evaluation sets are disjoint from training by construction.

For the held-out sets — the real-note questions, the JaQuAD dev and CMRC 2018 articles, the GSM8K
and MAWPS problems of the dev and test splits — nothing the training corpora write names their
pages or articles, no entity of their questions appears in the corpora, no question shares a
template with the corpora, and every item belongs to dev or test, never train. The old
sample-notes set does overlap with the corpora, which is why it is labelled train.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kbagent import evaluation as E
from kbagent.evaluation import overlap as O
from kbagent.splits import split_of

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SPLITS = ("dev", "test")


@pytest.fixture(scope="module")
def data(shared_data: Path) -> Path:
    """The public data sets: conftest's ``shared_data`` (skips when absent)."""
    return shared_data


@pytest.fixture(scope="module")
def corpus() -> str:
    """Everything the generated corpora write, for three seeds (thousands of pages and questions)."""
    return "\n".join(O.corpora_texts())


def _note_files() -> Iterator[Path]:
    yield FIXTURES / "real-notes-questions.jsonl"
    if E.REAL_NOTE_QUESTIONS.exists():
        yield E.REAL_NOTE_QUESTIONS


@pytest.fixture(scope="module")
def notes() -> list[tuple[str, E.EvalItem]]:
    """(source, item) for every real-note question, dev and test, of the fixture and the bundled file."""
    out = []
    for path in _note_files():
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        items = E.load_real_note_questions(path)
        assert len(items) == len(records)
        out += [(str(r["source"]), item) for r, item in zip(records, items, strict=True)]
    return out


@pytest.fixture(scope="module")
def reading(data: Path) -> dict[str, list[E.ReadingSet]]:
    """The JaQuAD dev and CMRC 2018 reading sets of both held-out splits, every question."""
    return {
        "jaquad-dev": [E.load_reading_set(data / "jaquad" / "dev", "jaquad-dev", s, "ja") for s in SPLITS],
        "cmrc2018": [E.load_reading_set(data / "cmrc2018-train" / "train.json", "cmrc2018", s, "zh") for s in SPLITS],
    }


@pytest.fixture(scope="module")
def problems(data: Path) -> dict[str, list[E.EvalItem]]:
    """The MAWPS and GSM8K problems of both held-out splits, as the plan builds them."""
    out: dict[str, list[E.EvalItem]] = {}
    for split in SPLITS:
        plan = E.build_plan(E.PlanRequest(sets=("mawps", "gsm8k"), split=split, limit=10**6, data_dir=data))
        assert {plan.info_of(n).split for n in plan.sets} == {split}
        for name, items in plan.sets.items():
            out.setdefault(name, []).extend(items)
    return out


def _questions(notes: list[tuple[str, E.EvalItem]], reading: dict[str, list[E.ReadingSet]],
               problems: dict[str, list[E.EvalItem]]) -> list[str]:
    return ([i.question for _, i in notes] + [i.question for sets in reading.values() for rs in sets for i in rs.items]
            + [i.question for items in problems.values() for i in items])


def test_real_note_questions_are_disjoint_from_the_corpora(corpus: str, notes: list[tuple[str, E.EvalItem]]) -> None:
    """The note set needs no downloaded data for this: its pages are named in the question file."""
    pages = {i.page for _, i in notes if i.page}
    assert pages and [p for p in pages if O.is_name_like(p) and O.occurs(p, corpus)] == []
    assert [e for _, i in notes for e in O.entities(i.question) if O.occurs(e, corpus)] == []
    signatures = O.corpora_signatures()
    assert [i.question for _, i in notes if O.template_signature(i.question) in signatures] == []
    assert all(split_of(source, i.page) in SPLITS for source, i in notes if i.page)


def test_no_eval_page_or_article_title_occurs_in_the_corpora(
    corpus: str, notes: list[tuple[str, E.EvalItem]], reading: dict[str, list[E.ReadingSet]],
) -> None:
    titles = {i.page for _, i in notes if i.page} | {t for sets in reading.values() for rs in sets for t in rs.articles}
    assert len(titles) > 200
    # a page named by a plain word ("type") is vocabulary, not a name the corpora could have taken
    named = [t for t in titles if O.is_name_like(t)]
    assert [t for t in named if O.occurs(t, corpus)] == []


def test_no_entity_of_an_eval_question_occurs_in_the_corpora(
    corpus: str, notes: list[tuple[str, E.EvalItem]], reading: dict[str, list[E.ReadingSet]],
    problems: dict[str, list[E.EvalItem]],
) -> None:
    questions = _questions(notes, reading, problems)
    found = {e for q in questions for e in O.entities(q)}
    titles = {t for sets in reading.values() for rs in sets for t in rs.articles}
    # the CJK titles the questions name (an article's title written in its own question)
    found |= {t for t in titles if O.occurs(t, "\n".join(questions)) and len(t) >= 2}
    assert len(found) > 100
    assert sorted(e for e in found if O.occurs(e, corpus)) == []


def test_no_eval_question_shares_a_template_with_the_corpora(
    notes: list[tuple[str, E.EvalItem]], reading: dict[str, list[E.ReadingSet]],
    problems: dict[str, list[E.EvalItem]],
) -> None:
    signatures = O.corpora_signatures()
    questions = _questions(notes, reading, problems)
    assert len(questions) > 5000
    assert [q for q in questions if O.template_signature(q) in signatures] == []


def test_the_template_signature_ignores_numbers_and_names_only() -> None:
    a = O.template_signature("Martin has 8 boxes of crayons. Each box holds 7 crayons.")
    assert a == O.template_signature("Eric has 3 boxes of crayons. Each box holds 9 crayons.")
    assert a != O.template_signature("Eric has 3 boxes of crayons. Each box holds 9 crayons and 2 pens.")
    # a word problem the corpora generate is recognised by its signature, whatever the numbers
    from random import Random

    from kbagent import corpora

    problem = corpora.arithmetic_problems(1, Random(12345))[0].question
    assert O.template_signature(problem) in O.corpora_signatures()


def test_mawps_problems_that_copy_a_corpus_template_are_left_out(data: Path) -> None:
    signatures = O.corpora_signatures()
    every = E.load_mawps(data / "mawps" / "MAWPS.json")
    # MAWPS has problems with the corpora's very wording ("… Each box holds 7 crayons. How many …"):
    # the filter is needed, and the plan's MAWPS set (see ``problems``) has none of them
    assert any(O.template_signature(i.question) in signatures for i in every)


def test_every_eval_item_is_dev_or_test_never_train(
    notes: list[tuple[str, E.EvalItem]], reading: dict[str, list[E.ReadingSet]],
    problems: dict[str, list[E.EvalItem]],
) -> None:
    for source, item in notes:
        if item.page:
            assert split_of(source, item.page) in SPLITS, item
    for dataset, sets in reading.items():
        for split, rs in zip(SPLITS, sets, strict=True):
            assert {split_of(dataset, t) for t in rs.articles} == {split}
            assert {split_of(dataset, i.page.split(":")[1]) for i in rs.items} == {split}
        dev, test = sets
        assert not set(dev.articles) & set(test.articles)
    for name, items in problems.items():
        assert items and {split_of(name, i.question) for i in items} <= set(SPLITS)


def test_training_reads_only_train_articles_and_problems(data: Path, reading: dict[str, list[E.ReadingSet]]) -> None:
    from kbagent.training_mix import gsm8k_problems, squad_items

    trained = {it.article for it in squad_items(data / "cmrc2018-train" / "train.json", "cmrc2018")}
    held_out = {t for rs in reading["cmrc2018"] for t in rs.articles}
    assert trained and held_out and not trained & held_out
    trained_q = {p.question for p in gsm8k_problems(data / "gsm8k-train" / "train.jsonl")}
    for split in SPLITS:
        assert not trained_q & {i.question for i in E.load_gsm8k(data / "gsm8k-train" / "train.jsonl", split)}


def test_the_plan_labels_held_out_sets_with_the_split_asked_for(data: Path, tmp_path: Path) -> None:
    for split in SPLITS:
        plan = E.build_plan(E.PlanRequest(sets=("mawps", "gsm8k", "svamp", "dates", "tram"), split=split, limit=3,
                                          data_dir=data))
        labels = {n: plan.info_of(n).split for n in plan.sets}
        assert labels == {"mawps": split, "gsm8k": split, "svamp": "dev", "dates": "dev", "tram": "dev"}


def test_the_old_sample_notes_set_overlaps_with_the_corpora(corpus: str) -> None:
    """Why the sample-notes questions are labelled train: the corpora write their very pages."""
    items = E.load_note_questions(E.SAMPLE_NOTE_QUESTIONS)
    pages = {i.page for i in items}
    folded = corpus.casefold()
    shared = sorted(p for p in pages if p.casefold() in folded)
    assert len(shared) >= 3, shared  # "Project Atlas", "Banana bread", "京都旅行の計画", …
    entities = {"Atlas", "banana bread", "京都"}
    assert all(e.casefold() in folded for e in entities)
    assert any(e.casefold() in i.question.casefold() for i in items for e in entities)
    plan = E.default_plan(note_questions=items, kinds=("notes",))
    assert plan.info_of("note look-up").split == "train"
