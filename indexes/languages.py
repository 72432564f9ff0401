"""Which writing a text is in, and a query vector with its language taken out.

multilingual-e5 places a text nearer to texts in its own language than to texts in another language
that say the same thing. In a knowledge base with Japanese and English notes, a Japanese question
about an English page meets a top-50 of Japanese pages that share its language rather than its
subject, and the English page is ranked below them or never reaches the fusion (issue 17: target
in the top 5 for 0 of 4 such queries).

The shift a language gives a vector is, to a first approximation, one direction per language
pair, the same for every text: ``indexes/language_pairs.json`` holds 40 note-like sentences
written in English, Japanese and Chinese, and ``scripts/make_language_directions.py`` stores the
mean difference between each language's vectors and the English ones, for passages and for
queries, in ``indexes/language_directions.json``. Taking those directions out of the query
vector — a projection, so the stored passage vectors stay as they are — makes the query's
similarity to a passage blind to that passage's language along them: q'·p = q·p − Σ (q·u)(p·u).

Which directions go depends on the query's writing: a Japanese query loses the Japanese–English
ones, a Chinese query the Chinese–English ones, any other query all of them.
``scripts/bench_retrieval.py --mixed`` measures it on the mixed-language dev set.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

LANGUAGES = ("ja", "zh", "ko", "latin", "other")
DIRECTIONS = Path(__file__).with_name("language_directions.json")

_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HANGUL = re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")

# One CJK character carries about as much as a Latin word of four or five letters: a Japanese
# question with "Logseq" in it is still Japanese, an English page quoting one kanji word English.
_LETTERS_PER_CJK = 4
# Kana is what tells Japanese from Chinese; a Chinese text quoting one Japanese name has a few.
_KANA_SHARE = 0.05


def language_of(text: str) -> str:
    """The writing a text is mostly in, by character counts: one of `LANGUAGES`."""
    kana = len(_KANA.findall(text))
    han = len(_HAN.findall(text))
    hangul = len(_HANGUL.findall(text))
    latin = len(_LATIN.findall(text))
    cjk = kana + han + hangul
    if cjk == 0 and latin == 0:
        return "other"
    if latin > _LETTERS_PER_CJK * cjk:
        return "latin"
    if hangul >= kana + han:
        return "ko"
    return "ja" if kana >= _KANA_SHARE * cjk else "zh"


@dataclass(frozen=True)
class LanguageSubspace:
    """The directions one model moves a text in for its language, as orthonormal rows per language."""

    model: str
    bases: dict[str, np.ndarray]

    def neutral(self, query: str, vector: np.ndarray) -> np.ndarray:
        """``vector`` (the query's embedding) without the directions of the query's language."""
        lang = language_of(query)
        basis = self.bases.get(lang)
        if basis is None:  # an English (or other) query: every known language's directions
            basis = _orthonormal(np.concatenate(list(self.bases.values())))
        out = vector - basis.T @ (basis @ vector)
        return np.asarray(out, dtype=np.float32)


def _orthonormal(rows: np.ndarray) -> np.ndarray:
    q, _ = np.linalg.qr(np.asarray(rows, dtype=np.float64).T)
    return q.T


@cache
def language_subspace(model: str, path: Path = DIRECTIONS) -> LanguageSubspace | None:
    """The stored directions for ``model``, or None when they were made with another model."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if data["model"] != model:
        return None
    bases = {lang: _orthonormal(np.array(rows)) for lang, rows in data["directions"].items()}
    return LanguageSubspace(model, bases)


def neutral_query(query: str, vector: np.ndarray, model: str) -> np.ndarray:
    """The query vector to search with: its language taken out when ``model`` has stored directions."""
    subspace = language_subspace(model)
    return vector if subspace is None else subspace.neutral(query, vector)
