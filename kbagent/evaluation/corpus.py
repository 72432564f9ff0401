"""The throw-away knowledge bases the reading sets search, one per corpus, kept in a work folder.

Each corpus gets its own folder under the work dir; indexing it again embeds only pages that
changed (the catalogue keeps every page's content hash), so a second run of the same set and
split starts at once. Nothing here touches the user's own knowledge base.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kbagent.documents import Document

if TYPE_CHECKING:
    from kbagent.knowledgebase import IndexStats, KnowledgeBase, Progress


def corpus_folder(work_dir: Path, name: str) -> Path:
    """The folder of one corpus's index (``reading-ja-dev``, ``notes-real``) under the work dir."""
    return Path(work_dir) / re.sub(r"[^\w.-]+", "_", name)


def build_corpus(
    name: str,
    sources: Iterable[Any],
    work_dir: Path,
    embedder: Any,
    progress: Callable[[Progress], None] | None = None,
) -> tuple[KnowledgeBase, list[IndexStats]]:
    """Index connectors into the corpus's knowledge base (reusing what an earlier run embedded)."""
    from kbagent.knowledgebase import KnowledgeBase

    kb = KnowledgeBase(corpus_folder(work_dir, name), embedder=embedder)
    try:
        stats = [kb.index(c, format="dataset", location=name, progress=progress) for c in sources]
    except BaseException:
        kb.close()
        raise
    return kb, stats


def documents_source(source: str, documents: Sequence[Document]) -> Any:
    """Documents already in memory (a reading set's paragraphs) as one connector."""
    from kbagent.connectors.documents import DocumentsConnector

    return DocumentsConnector(source, documents)
