"""Whether an answer is right, whether it found the page, and whether the results it read held the answer."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from kbagent.agent import Answer
from kbagent.questions import EvalItem
from kbagent.refusal import is_refusal

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]")
# The tools whose results are text the model reads to find an answer.
READING_TOOLS = ("Search", "Find")


def first_number(text: str) -> float | None:
    """The first number written in ``text`` (thousands separators allowed), or None."""
    m = _NUMBER.search(text)
    return _to_number(m.group()) if m else None


def numbers_in(text: str) -> list[float]:
    """Every number written in ``text`` (NFKC first, so full-width digits count)."""
    found = (_to_number(m.group()) for m in _NUMBER.finditer(unicodedata.normalize("NFKC", text)))
    return [x for x in found if x is not None]


def _to_number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def numbers_match(value: float | None, gold: float) -> bool:
    """Equal up to rounding to two decimals (answers like 3.33 for 10/3 count)."""
    if value is None:
        return False
    return abs(value - gold) < 1e-6 or round(value, 2) == round(gold, 2)


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("\u3000", " ").split()).strip(" .。!?")


def has_cjk(text: str) -> bool:
    """Whether the text has kana or Han characters."""
    return _CJK.search(text) is not None


def fold(text: str, cjk: bool = False) -> str:
    """NFKC, case-folded; whitespace removed for CJK (``3 月 26 日`` is ``3月26日``), else collapsed."""
    t = unicodedata.normalize("NFKC", text).casefold()
    return "".join(t.split()) if cjk else " ".join(t.split())


def gold_number(gold: str) -> float | None:
    """The gold as a number if it is one (``12,400``, ``3.5``), else None."""
    return _to_number(unicodedata.normalize("NFKC", gold).strip())


def contains_answer(text: str, gold: str, cjk: bool = False) -> bool:
    """Whether ``text`` holds ``gold``: folded text containment; a numeric gold as a whole number.

    A number must match as a number, not as digits inside a longer one: "5" is not in "15 apples"
    (plain containment would count it), while "12400" is the gold "12,400".
    """
    if not gold.strip():
        return False
    number = gold_number(gold)
    if number is not None:
        return any(numbers_match(x, number) for x in numbers_in(text))
    cjk = cjk or has_cjk(gold)
    return fold(gold, cjk) in fold(text, cjk)


_PUNCT = re.compile(r"[\W_]+")
_EN_ARTICLES = {"a", "an", "the"}


def answer_units(text: str, cjk: bool) -> list[str]:
    """What F1 counts: characters for Japanese and Chinese (as CMRC 2018 scores), else words
    without articles (as SQuAD does); punctuation and case are left out either way."""
    t = unicodedata.normalize("NFKC", text).casefold()
    if cjk:
        return [ch for ch in t if not _PUNCT.fullmatch(ch)]
    return [w for w in _PUNCT.sub(" ", t).split() if w not in _EN_ARTICLES]


def f1(answer: str, gold: str, cjk: bool = False) -> float:
    """The overlap F1 of the answer's and the gold's units (SQuAD/CMRC 2018 style), 0..1."""
    a, g = answer_units(answer, cjk), answer_units(gold, cjk)
    if not a or not g:
        return 0.0
    common = sum((Counter(a) & Counter(g)).values())
    if not common:
        return 0.0
    precision, recall = common / len(a), common / len(g)
    return 2 * precision * recall / (precision + recall)


def reading_f1(item: EvalItem, answer_plain: str) -> float:
    """The best F1 over the acceptable answers; a refusal scores 1 on an unanswerable question and
    0 on an answerable one (a refusal's words must not overlap a gold by chance)."""
    if item.unanswerable or is_refusal(answer_plain):
        return 1.0 if item.unanswerable and is_refusal(answer_plain) else 0.0
    return max((f1(answer_plain, g, _cjk_item(item)) for g in item.acceptable), default=0.0)


def _cjk_item(item: EvalItem) -> bool:
    return item.lang in ("ja", "zh")


def score_reading(item: EvalItem, answer: Answer) -> bool:
    """Reading and real-note questions: an acceptable answer is in the plain answer (or its first
    number matches a numeric gold); an unanswerable question is right when the answer refuses."""
    plain = answer.plain
    if item.unanswerable:
        return is_refusal(plain)
    if is_refusal(plain):
        return False  # "not in your notes, maybe 3" must not score on the number it guessed
    for gold in item.acceptable:
        number = gold_number(gold)
        if number is not None and numbers_match(first_number(unicodedata.normalize("NFKC", plain)), number):
            return True
        if contains_answer(plain, gold, _cjk_item(item)):
            return True
    return False


def score(item: EvalItem, answer: Answer) -> bool:
    """Whether the answer is right: first number for numeric golds, else the gold text is in it.

    Reading items (kind ``reading``) are scored by :func:`score_reading`.
    """
    if item.kind == "reading":
        return score_reading(item, answer)
    plain = answer.plain
    number = _to_number(item.gold)
    if number is not None:
        return numbers_match(first_number(plain), number)
    return _norm(item.gold) in _norm(plain)


def page_cited(item: EvalItem, answer: Answer) -> bool:
    """Whether the page the question needs is among the pages the answer's searches returned."""
    want = _norm(item.page)
    return any(want in (_norm(h.title), _norm(h.doc_id), _norm(Path(h.doc_id).stem)) for h in answer.sources)


def gold_shown(item: EvalItem, answer: Answer) -> bool:
    """Whether any Search/Find result the model was shown holds an acceptable answer."""
    results = [c.result for c in answer.calls if c.tool in READING_TOOLS]
    return any(contains_answer(r, g, _cjk_item(item)) for r in results for g in item.acceptable)


def share(flags: Iterable[bool]) -> float | None:
    """The percentage of true flags (one decimal), or None for no flags."""
    flags = list(flags)
    return round(100 * sum(flags) / len(flags), 1) if flags else None
