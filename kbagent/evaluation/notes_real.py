"""``notes-real``: hand-written questions over real notes (the Logseq docs graph and Scrapbox's villagepump).

The questions are in ``kbagent/data/eval/real-notes-questions.jsonl``, one JSON object a line::

    {"id", "question", "answers": [...] (empty: unanswerable), "lang": "en"|"ja"|"zh",
     "kind": "fact"|"cross-language"|"number"|"arithmetic"|"exact-term"|"unanswerable",
     "source": "logseq-docs"|"villagepump", "page", "split": "dev"|"test"}

A question's split is its page's (:func:`kbagent.splits.split_of` of the source and page title);
the loader checks that, so no question about a page training may read gets in. The corpus is
every page of both sources: the pages of other splits are distractors the model never trained on
as questions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kbagent.evaluation.data import data_file
from kbagent.questions import EvalItem
from kbagent.splits import KINDS, Split, split_of

REAL_NOTE_QUESTIONS = Path(__file__).resolve().parents[1] / "data" / "eval" / "real-notes-questions.jsonl"
LANGS = ("en", "ja", "zh")
QUESTION_KINDS = ("fact", "cross-language", "number", "arithmetic", "exact-term", "unanswerable")
SOURCES = ("logseq-docs", "villagepump")


def real_note_item(r: dict[str, Any]) -> tuple[Split, EvalItem]:
    """One record as (its split, an item); a record that breaks the rules is a ValueError."""
    answers = r["answers"]
    if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
        raise ValueError("answers must be a list of strings")
    lang, kind, source, page, split = (str(r[k]) for k in ("lang", "kind", "source", "page", "split"))
    if lang not in LANGS or kind not in QUESTION_KINDS or source not in SOURCES:
        raise ValueError(f"lang {lang!r}, kind {kind!r} or source {source!r} is not one of {LANGS}, "
                         f"{QUESTION_KINDS}, {SOURCES}")
    answers = [a.strip() for a in answers if a.strip()]
    if (kind == "unanswerable") != (not answers):
        raise ValueError("unanswerable questions, and only they, have no answers")
    if split not in KINDS or split == "train":
        raise ValueError(f"split {split!r}: evaluation questions are dev or test")
    if page and split_of(source, page) != split:
        # the split is the page's, by construction: a question about a train page would test memory
        raise ValueError(f"page {page!r} of {source} is in the {split_of(source, page)} split, not {split}")
    item = EvalItem(str(r["question"]).strip(), gold=answers[0] if answers else "", kind="reading", page=page,
                    category=kind, answers=tuple(answers[1:]), lang=lang, id=str(r["id"]),
                    unanswerable=not answers)
    checked: Split = "dev" if split == "dev" else "test"
    return checked, item


def load_real_note_questions(path: Path = REAL_NOTE_QUESTIONS, split: Split | None = None) -> list[EvalItem]:
    """The questions of one split (all dev and test questions when ``split`` is None)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"the notes-real set needs {path}, which does not exist")
    out: list[EvalItem] = []
    with path.open(encoding="utf-8") as f:
        for k, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                item_split, item = real_note_item(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{k}: not a real-note question ({exc})") from None
            if split is None or item_split == split:
                out.append(item)
    return out


def real_note_connectors(data_dir: Path | None) -> Iterator[Any]:
    """The corpus's sources: the Logseq graph and the villagepump page files (read as they are)."""
    from kbagent.connectors import open_path

    yield open_path(data_file(data_dir, "logseq-docs"), source="logseq-docs")
    # the per-page JSON files with line objects are a Scrapbox folder the connector reads directly
    yield open_path(data_file(data_dir, "villagepump"), source="villagepump", format="scrapbox")
