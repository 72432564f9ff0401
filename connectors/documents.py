"""A source made of documents already in memory: data sets indexed for training and evaluation."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from kbagent.documents import Document

from . import ScanItem


@dataclass(frozen=True)
class DocumentsConnector:
    """Yields the given documents as one source (the same protocol as the file and API connectors)."""

    source: str
    documents: Sequence[Document]

    def scan(self, known: Mapping[str, str]) -> Iterator[ScanItem]:
        """Every document, re-labelled with this source's name."""
        for doc in self.documents:
            yield doc if doc.source == self.source else Document(
                id=doc.id, source=self.source, title=doc.title, text=doc.text, url=doc.url,
                updated=doc.updated, metadata=doc.metadata, version=doc.version,
            )
