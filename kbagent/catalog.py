"""The catalogue: the SQLite record of every indexed page and chunk, the store of record.

Chroma holds only vectors; what a page's chunks are, their text and hashes live here, in the same
SQLite file (and transactions) as the lexical index. Vector writes that are not yet confirmed here
are tracked (`vector_trash`, the ``vectors_dirty`` flag) so a crash at any point can be reconciled.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from kbagent.documents import Chunk, Document

SCHEMA = """
CREATE TABLE IF NOT EXISTS sources(
    name TEXT PRIMARY KEY, format TEXT NOT NULL DEFAULT '', location TEXT NOT NULL DEFAULT '',
    last_run TEXT, last_stats TEXT
);
CREATE TABLE IF NOT EXISTS documents(
    source TEXT NOT NULL, doc_id TEXT NOT NULL, title TEXT NOT NULL, url TEXT NOT NULL,
    updated TEXT, version TEXT NOT NULL DEFAULT '', hash TEXT NOT NULL, indexed_at TEXT NOT NULL,
    PRIMARY KEY(source, doc_id)
);
CREATE TABLE IF NOT EXISTS chunks(
    chunk_id TEXT PRIMARY KEY, source TEXT NOT NULL, doc_id TEXT NOT NULL, ordinal INTEGER NOT NULL,
    title TEXT NOT NULL, url TEXT NOT NULL, text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks(source, doc_id);
CREATE TABLE IF NOT EXISTS vector_trash(chunk_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS state(key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class DocRecord:
    """What the catalogue remembers of an indexed page."""

    source: str
    doc_id: str
    title: str
    url: str
    version: str
    hash: str


@dataclass(frozen=True)
class ChunkRecord:
    """A stored chunk."""

    chunk_id: str
    source: str
    doc_id: str
    ordinal: int
    title: str
    url: str
    text: str


def connect(path: Path) -> sqlite3.Connection:
    """Open the catalogue (WAL, so searches read while an index run writes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=60.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.executescript(SCHEMA)
    return conn


class Catalog:
    """Typed access to the catalogue tables. Writes happen inside `transaction()`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def transaction(self) -> _Txn:
        """``with catalog.transaction():`` — BEGIN IMMEDIATE … COMMIT, or ROLLBACK on error."""
        return _Txn(self.conn)

    # documents -------------------------------------------------------------------------------
    def documents(self, source: str) -> dict[str, DocRecord]:
        """Every indexed page of a source by id."""
        rows = self.conn.execute(
            "SELECT source, doc_id, title, url, version, hash FROM documents WHERE source=?", (source,)
        )
        return {r[1]: DocRecord(*r) for r in rows}

    def put_document(self, doc: Document, now: str) -> None:
        """Insert or replace a page's record."""
        self.conn.execute(
            "INSERT OR REPLACE INTO documents VALUES (?,?,?,?,?,?,?,?)",
            (
                doc.source, doc.id, doc.title, doc.url,
                doc.updated.isoformat() if doc.updated else None, doc.version, doc.content_hash, now,
            ),
        )

    def delete_document(self, source: str, doc_id: str) -> list[str]:
        """Remove a page and its chunks; return the removed chunk ids."""
        ids = self.chunk_ids(source, doc_id)
        self.conn.execute("DELETE FROM documents WHERE source=? AND doc_id=?", (source, doc_id))
        self.conn.execute("DELETE FROM chunks WHERE source=? AND doc_id=?", (source, doc_id))
        return ids

    # chunks ----------------------------------------------------------------------------------
    def chunk_ids(self, source: str, doc_id: str) -> list[str]:
        """The chunk ids of one page."""
        rows = self.conn.execute(
            "SELECT chunk_id FROM chunks WHERE source=? AND doc_id=? ORDER BY ordinal", (source, doc_id)
        )
        return [r[0] for r in rows]

    def existing_chunk_ids(self, ids: Iterable[str]) -> set[str]:
        """Which of these chunk ids are stored."""
        out: set[str] = set()
        batch = list(ids)
        for i in range(0, len(batch), 500):
            part = batch[i : i + 500]
            q = f"SELECT chunk_id FROM chunks WHERE chunk_id IN ({','.join('?' * len(part))})"
            out.update(r[0] for r in self.conn.execute(q, part))
        return out

    def put_chunks(self, chunks: Sequence[Chunk]) -> None:
        """Insert chunk rows (ids are content-addressed, so a re-insert is harmless)."""
        self.conn.executemany(
            "INSERT OR REPLACE INTO chunks VALUES (?,?,?,?,?,?,?)",
            [(c.id, c.source, c.doc_id, c.ordinal, c.title, c.url, c.text) for c in chunks],
        )

    def delete_chunks(self, ids: Sequence[str]) -> None:
        """Remove chunk rows."""
        self.conn.executemany("DELETE FROM chunks WHERE chunk_id=?", [(i,) for i in ids])

    def get_chunks(self, ids: Sequence[str]) -> dict[str, ChunkRecord]:
        """Stored chunks by id (missing ids are left out)."""
        out: dict[str, ChunkRecord] = {}
        for i in range(0, len(ids), 500):
            part = list(ids[i : i + 500])
            q = (
                "SELECT chunk_id, source, doc_id, ordinal, title, url, text FROM chunks "
                f"WHERE chunk_id IN ({','.join('?' * len(part))})"
            )
            out.update({r[0]: ChunkRecord(*r) for r in self.conn.execute(q, part)})
        return out

    def page_text(self, source: str, doc_id: str) -> str:
        """A page's chunks joined in order."""
        rows = self.conn.execute(
            "SELECT text FROM chunks WHERE source=? AND doc_id=? ORDER BY ordinal", (source, doc_id)
        )
        return "\n".join(r[0] for r in rows)

    def iter_chunks(self, source: str | None = None) -> Iterator[ChunkRecord]:
        """Every stored chunk (of one source)."""
        q = "SELECT chunk_id, source, doc_id, ordinal, title, url, text FROM chunks"
        rows = self.conn.execute(q + " WHERE source=?", (source,)) if source else self.conn.execute(q)
        for r in rows:
            yield ChunkRecord(*r)

    def all_chunk_ids(self) -> set[str]:
        """Every stored chunk id."""
        return {r[0] for r in self.conn.execute("SELECT chunk_id FROM chunks")}

    # vector bookkeeping ------------------------------------------------------------------------
    def trash(self, ids: Iterable[str]) -> None:
        """Remember vectors to delete from Chroma (survives a crash before they are deleted)."""
        self.conn.executemany("INSERT OR IGNORE INTO vector_trash VALUES (?)", [(i,) for i in ids])

    def trashed(self) -> list[str]:
        """Vectors waiting to be deleted."""
        return [r[0] for r in self.conn.execute("SELECT chunk_id FROM vector_trash")]

    def untrash(self, ids: Sequence[str]) -> None:
        """Forget vectors that have been deleted."""
        self.conn.executemany("DELETE FROM vector_trash WHERE chunk_id=?", [(i,) for i in ids])

    def get_state(self, key: str) -> str | None:
        """A bookkeeping value."""
        row = self.conn.execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_state(self, key: str, value: str | None) -> None:
        """Set (or with None, clear) a bookkeeping value."""
        if value is None:
            self.conn.execute("DELETE FROM state WHERE key=?", (key,))
        else:
            self.conn.execute("INSERT OR REPLACE INTO state VALUES (?,?)", (key, value))

    # sources ---------------------------------------------------------------------------------
    def put_source(self, name: str, format: str, location: str) -> None:
        """Record a source (keeps its last-run fields)."""
        self.conn.execute(
            "INSERT INTO sources(name, format, location) VALUES (?,?,?) "
            "ON CONFLICT(name) DO UPDATE SET format=excluded.format, location=excluded.location",
            (name, format, location),
        )

    def finish_run(self, name: str, when: str, stats_json: str) -> None:
        """Record when a source was last indexed and what happened."""
        self.conn.execute(
            "UPDATE sources SET last_run=?, last_stats=? WHERE name=?", (when, stats_json, name)
        )

    def sources(self) -> list[tuple[str, str, str, str | None, str | None, int, int]]:
        """(name, format, location, last_run, last_stats, pages, chunks) for every source."""
        rows = self.conn.execute(
            "SELECT s.name, s.format, s.location, s.last_run, s.last_stats, "
            "(SELECT COUNT(*) FROM documents d WHERE d.source=s.name), "
            "(SELECT COUNT(*) FROM chunks c WHERE c.source=s.name) FROM sources s ORDER BY s.name"
        )
        return [tuple(r) for r in rows]

    def delete_source(self, name: str) -> list[str]:
        """Remove a source and everything of it; return its chunk ids."""
        ids = [r[0] for r in self.conn.execute("SELECT chunk_id FROM chunks WHERE source=?", (name,))]
        self.conn.execute("DELETE FROM chunks WHERE source=?", (name,))
        self.conn.execute("DELETE FROM documents WHERE source=?", (name,))
        self.conn.execute("DELETE FROM sources WHERE name=?", (name,))
        return ids


class _Txn:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
