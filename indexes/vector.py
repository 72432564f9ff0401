"""The vector index: one Chroma collection of chunk embeddings (embedded store or a Chroma server)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import chromadb
from chromadb.config import Settings

COLLECTION = "kbagent_chunks"
_BATCH = 2000  # below Chroma's max batch size


def open_client(path: Path | None = None, url: str | None = None) -> Any:
    """An embedded `PersistentClient` at ``path``, or an `HttpClient` for a Chroma server ``url``."""
    settings = Settings(anonymized_telemetry=False, allow_reset=False)
    if url:
        u = urlparse(url if "://" in url else f"http://{url}")
        return chromadb.HttpClient(
            host=u.hostname or "127.0.0.1",
            port=u.port or (443 if u.scheme == "https" else 8000),
            ssl=u.scheme == "https",
            settings=settings,
        )
    if path is None:
        raise ValueError("a path or a url is needed")
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=settings)


class VectorIndex:
    """Chunk embeddings keyed by chunk id, with the source kept as metadata for filtering."""

    def __init__(self, client: Any, dim: int, name: str = COLLECTION) -> None:
        self.client = client
        self.collection = client.get_or_create_collection(
            name,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"dim": dim},
            embedding_function=None,  # we always hand Chroma vectors; its default would download
        )

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, sources: Sequence[str]) -> None:
        """Add or replace vectors."""
        for i in range(0, len(ids), _BATCH):
            self.collection.upsert(
                ids=list(ids[i : i + _BATCH]),
                embeddings=vectors[i : i + _BATCH],
                metadatas=[{"source": s} for s in sources[i : i + _BATCH]],
            )

    def delete(self, ids: Sequence[str]) -> None:
        """Remove vectors (unknown ids are ignored)."""
        for i in range(0, len(ids), _BATCH):
            self.collection.delete(ids=list(ids[i : i + _BATCH]))

    def query(self, vector: np.ndarray, k: int, sources: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """The ``k`` nearest chunk ids with cosine similarity, best first."""
        n = self.count()
        if n == 0 or k <= 0:
            return []
        where: dict[str, Any] | None = None
        if sources:
            where = {"source": {"$in": list(sources)}}
        res = self.collection.query(
            query_embeddings=[vector], n_results=min(k, n), where=where, include=["distances"]
        )
        ids = res["ids"][0]
        dists = res["distances"][0] if res["distances"] else [0.0] * len(ids)
        return [(i, 1.0 - float(d)) for i, d in zip(ids, dists, strict=True)]

    def count(self) -> int:
        """Number of vectors."""
        return int(self.collection.count())

    def iter_ids(self, page: int = 5000) -> Iterator[str]:
        """Every stored id (paged, so a large store does not load at once)."""
        offset = 0
        while True:
            got = self.collection.get(include=[], limit=page, offset=offset)["ids"]
            yield from got
            if len(got) < page:
                return
            offset += page

    def delete_source(self, source: str) -> None:
        """Remove every vector of one source."""
        self.collection.delete(where={"source": source})
