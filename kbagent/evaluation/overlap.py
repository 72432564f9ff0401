"""What evaluation questions share with the training corpora: question templates, names, titles.

A question's *template signature* is its text with numbers, capitalised names and the corpora's
own fillers (names, things, cities, dishes) replaced by placeholders; two questions with the same
signature differ only in the values a template draws. Word-problem sets drop the problems whose
signature the corpora also produce, so an evaluation problem is never a training template with
other numbers; the disjointness tests check every held-out set with the same functions.
"""

from __future__ import annotations

import functools
import random
import re
import unicodedata
from collections.abc import Iterable, Iterator

from kbagent.tools import MONTHS, WEEKDAYS

# Capitalised words that start sentences or name days, not entities.
FUNCTION_WORDS = frozenset((
    "A", "After", "All", "An", "And", "Are", "As", "Assume", "At", "Before", "Both", "But", "By", "Calculate",
    "Can", "Could", "Did", "Do", "Does", "During", "Each", "Every", "Find", "For", "From", "Half", "He", "Her",
    "His", "How", "I", "If", "In", "Is", "It", "Its", "Last", "Mr", "Mrs", "Ms", "Dr", "Next", "Of", "On", "One",
    "Over", "She", "Since", "So", "Some", "Suppose", "That", "The", "Their", "Then", "There", "These", "They",
    "This", "Those", "Three", "To", "Today", "Tomorrow", "Two", "Was", "We", "Were", "What", "When", "Where",
    "Which", "While", "Who", "Why", "Will", "With", "Would", "Yesterday", "You", *MONTHS, *WEEKDAYS,
))
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_CAPITALISED = re.compile(r"(?<![A-Za-z])[A-Z][A-Za-z'’-]*")
# Runs of capitalised words (no sentence break inside): "Brecknock Elementary School".
_ENTITY = re.compile(r"(?<![A-Za-z])[A-Z][A-Za-z'’-]*(?:[ \t]+[A-Z][A-Za-z'’-]*)+")
_QUOTED = re.compile(r"[「『《“\"]([^」』》”\"]{2,40})[」』》”\"]")


def _fillers() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The corpora's word lists (every upper-case tuple of strings), as Latin and CJK patterns."""
    from kbagent import corpora

    words: set[str] = set()
    for name, value in vars(corpora).items():
        if name.isupper() and isinstance(value, tuple):
            for v in value:
                for s in v if isinstance(v, tuple) else (v,):
                    if isinstance(s, str) and 2 <= len(s) <= 30:
                        words.add(s)
    latin = sorted((w for w in words if not _CJK.search(w)), key=len, reverse=True)
    cjk = sorted((w for w in words if _CJK.search(w)), key=len, reverse=True)
    # Latin fillers as whole words ("day" is not the end of "today"); CJK fillers anywhere
    return (re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, latin)) + r")(?!\w)"),
            re.compile("|".join(map(re.escape, cjk)) or r"(?!)"))


@functools.cache
def _filler_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    return _fillers()


def template_signature(text: str) -> str:
    """The question with numbers as ``#`` and names and corpus fillers as ``@``, lower-cased."""
    latin, cjk = _filler_patterns()
    t = unicodedata.normalize("NFKC", text)
    t = cjk.sub("@", latin.sub("@", t))
    t = _NUMBER.sub("#", t)
    t = _CAPITALISED.sub(lambda m: m.group() if m.group() in FUNCTION_WORDS else "@", t)
    return " ".join(t.lower().split())


def entities(text: str) -> list[str]:
    """Capitalised multi-word names (function words left out) and quoted CJK terms of a question."""
    out = []
    for m in _ENTITY.finditer(text):
        words = [w for w in m.group().split() if w not in FUNCTION_WORDS]
        if len(words) >= 2:
            out.append(" ".join(words))
    out += [m.group(1).strip() for m in _QUOTED.finditer(text) if _CJK.search(m.group(1))]
    return out


def corpora_texts(seeds: Iterable[int] = (0, 1, 2), n: int = 1000) -> Iterator[str]:
    """Everything the generated corpora write (titles, pages, questions, answers) for a few seeds."""
    from kbagent import corpora as C

    for seed in seeds:
        rng = random.Random(seed)
        pages = C.synthetic_notes(n, rng)
        for p in pages:
            yield p.title
            yield p.text
            for q in p.questions:
                yield from q
        for item in C.note_questions(pages, rng, per_page=3, compound=1.0):
            yield item.question
            yield item.answer
        for item in C.arithmetic_problems(3 * n, rng, 0.5) + C.date_questions(2 * n, rng):
            yield item.question
            yield item.answer
        yield from (t.text for t in C.arithmetic_texts(n // 2, rng))
        yield from (t.text for t in C.dated_texts(n // 2, rng))


def corpora_questions(seeds: Iterable[int] = (0, 1, 2), n: int = 1000) -> Iterator[str]:
    """The questions the generated corpora ask (notes, arithmetic, dates) for a few seeds."""
    from kbagent import corpora as C

    for seed in seeds:
        rng = random.Random(seed)
        pages = C.synthetic_notes(n, rng)
        yield from (q for p in pages for q, _, _ in p.questions)
        yield from (i.question for i in C.note_questions(pages, rng, per_page=3, compound=1.0))
        yield from (i.question for i in C.arithmetic_problems(3 * n, rng, 0.5))
        yield from (i.question for i in C.date_questions(2 * n, rng))


@functools.cache
def corpora_signatures() -> frozenset[str]:
    """The template signatures of the corpora's questions (three seeds: every template and wording)."""
    return frozenset(template_signature(q) for q in corpora_questions())


def occurs(term: str, text: str) -> bool:
    """Whether a title or name occurs in a text: CJK as a substring, Latin as whole words, case kept."""
    if _CJK.search(term):
        return term in text
    return re.search(r"(?<![A-Za-z0-9])" + re.escape(term) + r"(?![A-Za-z0-9])", text) is not None


def is_name_like(title: str) -> bool:
    """Whether a title names something (CJK, capitals, digits or several words), not a plain word like "type"."""
    t = title.strip()
    return len(t) >= 2 and (bool(_CJK.search(t)) or t != t.lower() or any(c.isdigit() for c in t) or " " in t)
