"""Training material from data sets: train splits only, real Search results, checked calculator chains."""

from __future__ import annotations

import random
from pathlib import Path

from kbagent import Hit
from kbagent.refusal import REFUSALS
from kbagent.tools import Find, Search
from kbagent.training_mix import (
    ReadingItem,
    calculator_example,
    compound_expression,
    find_term,
    gsm8k_problems,
    paragraph_documents,
    reading_examples,
    search_query,
    squad_items,
)

DATA = Path(__file__).parent / "fixtures" / "datasets"


class Paragraphs:
    """A searcher over paragraph documents that ranks by shared characters (stands in for the index)."""

    def __init__(self, items: list[ReadingItem]) -> None:
        self.docs = paragraph_documents(items)

    def search(self, query: str, k: int) -> list[Hit]:
        ranked = sorted(self.docs, key=lambda d: -len(set(query) & set(d.title + d.text)))
        return [Hit(d.id, d.id, d.source, d.title, "", d.text, 1.0) for d in ranked[:k]]

    def page_text(self, source: str, doc_id: str) -> str:
        return next(d.text for d in self.docs if d.id == doc_id)


def test_only_train_split_articles_become_reading_items() -> None:
    ja = squad_items(DATA / "squad-mini.json", "jaquad-train")
    assert [(i.article, i.answer) for i in ja] == [("芥川龍之介", "1919年3月12日"), ("范廷颂", "1963年")]
    zh = squad_items(DATA / "squad-mini.json", "cmrc2018")  # 范廷颂 is a CMRC test article
    assert [i.article for i in zh] == ["芥川龍之介"]


def test_reading_example_shows_the_answer_line_and_answers_with_the_span() -> None:
    items = squad_items(DATA / "squad-mini.json", "jaquad-train")
    searcher = Paragraphs(items)
    [ex] = reading_examples(items[:1], Search(searcher), Find(searcher), 1, random.Random(0), refusal_share=0)
    head = 'Question: 芥川はいつ結婚したの?\nAnswer: [Search("芥川はいつ結婚したの") → (1) 芥川龍之介:'
    assert ex.text.startswith(head)
    assert ex.text.endswith("] 1919年3月12日。")
    learned = "".join(p for p, learn in ex.pieces if learn)
    assert "塚本文" not in learned  # the result is read, not learned


def test_refusal_examples_search_an_index_without_the_page() -> None:
    items = squad_items(DATA / "squad-mini.json", "jaquad-train")
    searcher = Paragraphs(items)
    [ex] = reading_examples(items[1:], Search(searcher), Find(searcher), 1, random.Random(0), refusal_share=1.0)
    assert ex.text.endswith("] " + REFUSALS["zh"]) and "1963" not in ex.text


def test_gsm8k_steps_become_a_checked_calculator_chain() -> None:
    natalia, weng = gsm8k_problems(DATA / "gsm8k-mini.jsonl")
    assert calculator_example(natalia).text.endswith(
        "Answer: [Calculator(48/2) → 24] [Calculator(48+24) → 72] 72 clips.")
    assert calculator_example(weng).text.endswith("[Calculator(12/60) → 0.2] [Calculator(0.2*50) → 10] 10.")


def test_gsm8k_steps_fold_into_one_checked_call() -> None:
    natalia, weng = gsm8k_problems(DATA / "gsm8k-mini.jsonl")
    assert calculator_example(natalia, compound=True).text.endswith("Answer: [Calculator(48+(48/2)) → 72] 72 clips.")
    assert calculator_example(weng, compound=True).text.endswith("[Calculator((12/60)*50) → 10] 10.")
    assert compound_expression([("3*4", "12"), ("12+12", "24"), ("24-1.5", "22.5")]) == "((3*4)+(3*4))-1.5"


def test_query_and_find_term() -> None:
    assert search_query("芥川はいつ結婚したの?") == "芥川はいつ結婚したの"
    assert find_term("新幹線代はいくら？", "新幹線: 往復 28,000 円") == "新幹線"
    assert find_term("What is the shinkansen fare?", "Shinkansen: 28,000 yen") == "shinkansen"
