"""The vector index: one Chroma collection of chunk embeddings (embedded store or a Chroma server).

`VectorIndex` goes through chromadb's Python client, whose import alone takes about a second.
`VectorReader` answers the read-only calls a one-shot command needs (query, count) from the
same on-disk store through Chroma's Rust engine directly, which loads in a tenth of that.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

if TYPE_CHECKING:  # numpy's import is a tenth of a second that `kb status` does not need
    import numpy as np

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

COLLECTION = "kbagent_chunks"
_BATCH = 2000  # below Chroma's max batch size
# chromadb's defaults for a local store (tenant, database, file name), which the reader must match
_TENANT = "default_tenant"
_DATABASE = "default_database"
_SQLITE_FILE = "chroma.sqlite3"
# Local stores this process has opened a client of. A client's writes reach the graph that its
# engine caches, and every client of a path in one process shares that engine (chromadb caches
# it), but a reader has an engine of its own, which would go on answering from the graph it
# loaded: once a client is open, reads of that path go through a client too.
_clients: set[str] = set()


def open_client(path: Path | None = None, url: str | None = None) -> Any:
    """An embedded `PersistentClient` at ``path``, or an `HttpClient` for a Chroma server ``url``."""
    import chromadb
    from chromadb.config import Settings

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
    _clients.add(_key(path))
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
        res = self.collection.query(
            query_embeddings=[vector], n_results=min(k, n), where=_source_filter(sources), include=["distances"]
        )
        return _similarities(res["ids"][0], res["distances"][0] if res["distances"] else None)

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


class VectorReader:
    """Read-only access to a local store (query, count) through Chroma's Rust engine, without chromadb's client.

    It answers exactly as `VectorIndex` does (the same engine reads the same files), from the
    graph it loaded: once this process opens a client of the store (to write), the reader is
    `stale` and reads must go through a client.
    """

    def __init__(self, bindings: Any, collection_id: str, path: Path) -> None:
        self._bindings = bindings
        self._collection = collection_id
        self._key = _key(path)

    @property
    def stale(self) -> bool:
        """True once a client of the same store is open in this process (its writes would not show here)."""
        return self._key in _clients

    def query(self, vector: np.ndarray, k: int, sources: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """The ``k`` nearest chunk ids with cosine similarity, best first."""
        n = self.count()
        if n == 0 or k <= 0:
            return []
        import numpy as np

        where = _source_filter(sources)
        res = self._bindings.query(
            self._collection, None, [np.asarray(vector, dtype=np.float32)], min(k, n),
            json.dumps(where) if where else None, None, ["distances"], _TENANT, _DATABASE,
        )
        return _similarities(res.ids[0], res.distances[0] if res.distances else None)

    def count(self) -> int:
        """Number of vectors."""
        return int(self._bindings.count(self._collection, _TENANT, _DATABASE))


def open_reader(path: Path) -> VectorReader | None:
    """A `VectorReader` of the local store at ``path``; None when there is none or the engine's API differs.

    None tells the caller to use `VectorIndex` instead, so a chromadb release whose bindings
    changed costs speed, never results; so does a client of the store open in this process.
    """
    if not (path / _SQLITE_FILE).is_file() or _key(path) in _clients:
        return None  # a new store (chromadb's client makes it), or one this process writes
    try:
        import resource

        import chromadb_rust_bindings as rust

        # what chromadb's own local client passes (its defaults: md5 migration hashes, applied)
        config = rust.SqliteDBConfig(
            hash_type=rust.MigrationHash.MD5, migration_mode=rust.MigrationMode.Apply, url=str(path / _SQLITE_FILE)
        )
        bindings = rust.Bindings(
            allow_reset=False, sqlite_db_config=config, persist_path=str(path),
            hnsw_cache_size=resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 5,
        )
        collection = bindings.get_collection(COLLECTION, _TENANT, _DATABASE)
        return VectorReader(bindings, str(collection.id), path)
    except Exception:  # no collection yet, another platform, other bindings: the full client will do
        return None


def stored_vector_count(path: Path) -> int | None:
    """How many vectors the local store at ``path`` holds, read from its SQLite file; None if it cannot tell.

    Chroma's engine replays up to a thousand logged writes into its graph before it answers even
    a count (a tenth of a second or more); `kb status` needs only the number, which Chroma's
    metadata table holds as soon as a write returns. None (another schema, a locked file) tells
    the caller to ask the engine.
    """
    db = path / _SQLITE_FILE
    if not db.is_file():
        return 0  # no store yet (it is made on the first write)
    try:
        with contextlib.closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=2.0)) as conn:
            row = conn.execute(
                "SELECT COUNT(e.id) FROM collections c JOIN segments s ON s.collection = c.id "
                "LEFT JOIN embeddings e ON e.segment_id = s.id WHERE c.name = ? AND s.scope = 'METADATA' "
                "GROUP BY s.id",
                (COLLECTION,),
            ).fetchall()
    except sqlite3.Error:
        return None
    return int(row[0][0]) if len(row) == 1 else None


def _key(path: Path) -> str:
    return str(Path(path).resolve())


def _source_filter(sources: Sequence[str] | None) -> dict[str, Any] | None:
    return {"source": {"$in": list(sources)}} if sources else None


def _similarities(ids: Sequence[str], distances: Sequence[float] | None) -> list[tuple[str, float]]:
    """Chroma's cosine distances as similarities, paired with their ids."""
    dists = distances if distances else [0.0] * len(ids)
    return [(i, 1.0 - float(d)) for i, d in zip(ids, dists, strict=True)]
