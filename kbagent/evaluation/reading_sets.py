"""Reading sets: JaQuAD (Japanese) and CMRC 2018 (Chinese) questions over the paragraphs of one split's articles.

The unit of the split is the article: every paragraph and question of an article lands in the
same split, and the corpus the agent searches is every paragraph of the split's articles, so the
paragraphs of other articles are the distractors.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbagent.documents import Document
from kbagent.questions import EvalItem
from kbagent.splits import Split, split_of


@dataclass(frozen=True)
class ReadingSet:
    """Questions of one split and the paragraphs they are asked over (all of the split's articles)."""

    dataset: str
    split: Split
    items: tuple[EvalItem, ...]
    documents: tuple[Document, ...]

    @property
    def articles(self) -> tuple[str, ...]:
        """The article titles of the split, sorted."""
        return tuple(sorted({d.title for d in self.documents}))


def article_key(article: dict[str, Any]) -> str:
    """An article's unit key: its title, else its id, else the id prefix its paragraphs share."""
    title = str(article.get("title") or article.get("id") or "").strip()
    if title:
        return title
    for para in article.get("paragraphs", ()):
        if para.get("id"):
            return str(para["id"])
        for qa in para.get("qas", ()):
            # CMRC-style question ids: TRAIN_186_QUERY_0 belongs to TRAIN_186
            return str(qa.get("id", "")).rsplit("_QUERY", 1)[0]
    return ""


def squad_files(path: Path) -> list[Path]:
    """A SQuAD-format file, or the ``*.json`` files of a folder (JaQuAD's dev shards), sorted."""
    path = Path(path)
    return sorted(path.glob("*.json")) if path.is_dir() else [path]


def load_reading_set(
    path: Path, dataset: str, split: Split, lang: str, n: int | None = None, seed: int = 0,
) -> ReadingSet:
    """The articles of one split, one document per paragraph, and a seeded sample of their questions.

    Document ids are ``dataset:title:paragraph`` (as training's); a question's ``page`` is the id of
    the paragraph it was written from, so "page found" means that very paragraph was found.
    """
    docs: list[Document] = []
    items: list[EvalItem] = []
    for file in squad_files(path):
        raw = json.loads(file.read_text(encoding="utf-8"))
        for article in raw["data"]:
            title = article_key(article)
            if not title or split_of(dataset, title) != split:
                continue
            for p_no, para in enumerate(article.get("paragraphs", ())):
                doc_id = f"{dataset}:{title}:{p_no}"
                docs.append(Document(id=doc_id, source=dataset, title=title, text=str(para["context"])))
                items.extend(_questions(para, title, doc_id, lang))
    return ReadingSet(dataset, split, tuple(_sample(items, n, seed)), tuple(docs))


def _questions(para: dict[str, Any], title: str, doc_id: str, lang: str) -> Iterable[EvalItem]:
    for qa in para.get("qas", ()):
        answers = tuple(dict.fromkeys(str(a.get("text", "")).strip() for a in qa.get("answers") or ()))
        answers = tuple(a for a in answers if a)
        if not answers:
            continue
        yield EvalItem(" ".join(str(qa["question"]).split()), gold=answers[0], kind="reading", page=doc_id,
                       category=str(qa.get("question_type") or "reading"), answers=answers[1:],
                       lang=lang, id=str(qa.get("id", "")))


def _sample(items: Sequence[EvalItem], n: int | None, seed: int) -> list[EvalItem]:
    if n is None or n >= len(items):
        return list(items)
    return random.Random(seed).sample(list(items), n)
