"""The short "not in your notes" answer, in the question's language, and how to recognise it.

When the results the model reads do not hold the answer, the right answer is to say so — never an
invented number. Training writes exactly these sentences; evaluation counts an answer as a refusal
when it says one of them (or a close variant a model may drift to).
"""

from __future__ import annotations

import re
import unicodedata

REFUSALS: dict[str, str] = {
    "en": "That is not in your notes.",
    "ja": "ノートには書かれていません。",
    "zh": "笔记中没有写。",
}

_KANA = re.compile(r"[\u3040-\u30ff]")
_HAN = re.compile(r"[\u4e00-\u9fff]")

# Variants a model may write instead of the trained sentence; all mean "no answer in the notes".
_REFUSAL_PATTERNS = re.compile(
    r"not in (?:your|my|the) notes|no(?:thing)? (?:about (?:it|this|that) )?in (?:your|my|the) notes"
    r"|notes do not (?:say|mention)|ノートには(?:書かれて|あり|見つかり)|ノートに(?:は)?(?:ない|無い)"
    r"|メモには(?:書かれて|あり)|笔记(?:中|里)(?:没有|沒有)|笔记没有",
    re.IGNORECASE,
)


def language_of(text: str) -> str:
    """``ja`` if the text has kana, ``zh`` if it has Han characters but no kana, else ``en``."""
    if _KANA.search(text):
        return "ja"
    if _HAN.search(text):
        return "zh"
    return "en"


def refusal_for(question: str) -> str:
    """The refusal sentence in the question's language."""
    return REFUSALS[language_of(question)]


def is_refusal(answer: str) -> bool:
    """Whether an answer says the notes do not hold the answer."""
    return _REFUSAL_PATTERNS.search(unicodedata.normalize("NFKC", answer)) is not None
