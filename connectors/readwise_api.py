"""Readwise highlights, read live through the v2 export API (one page per book, article or tweet).

``GET /api/v2/export/`` returns books with their highlights, paginated by ``nextPageCursor`` →
``pageCursor``; with ``updatedAfter`` it returns only books whose highlights changed since then.

How deletions are found: an ``updatedAfter`` listing names only what changed, so it can neither
say that a book is unchanged for sure nor that one was deleted. Runs therefore alternate:

- **Full run** (the first sync, then at least every ``full_sync_days``, and after any run that
  failed part-way): the whole export is read. It is a complete listing, so books missing from
  it are removed from the index; every book is compared by its version (latest highlight update
  time + number of live highlights, so a deleted highlight also changes it).
- **Incremental run** (otherwise): ``updatedAfter`` = the newest version indexed; each book it
  names is re-read whole with ``ids=`` (an incremental export may carry only the changed
  highlights), and every other indexed book is reported `Unchanged`, so nothing is removed.

A run whose listing or fetches failed part-way leaves a flag in the state file that makes the
next run a full one: books updated before the newest indexed version would otherwise be missed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kbagent.connectors import ConnectorSpec, Failure, ScanItem, Unchanged, register
from kbagent.connectors.http import BadResponse, HttpClient, HttpError, RetryPolicy, SecretHeader, fetch_each, paginate
from kbagent.connectors.markdown import as_datetime

from kbagent.credentials import Credentials, SecretSource
from kbagent.documents import Document, normalize_text

BASE_URL = "https://readwise.io"
EXPORT = "/api/v2/export/"
IDS_PER_REQUEST = 50


class ReadwiseApi:
    """Reads a Readwise account's highlights, incrementally, through the export API."""

    def __init__(
        self,
        *,
        token: SecretSource,
        source: str = "readwise",
        base_url: str = BASE_URL,
        state_path: Path | None = None,
        full_sync_days: float = 7.0,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.source = source
        self.base_url = base_url.rstrip("/")
        self.state_path = state_path
        self.full_sync_days = full_sync_days
        self.http = HttpClient(
            self.base_url,
            secret_headers=[SecretHeader("Authorization", token, "Token {}")],
            timeout=timeout,
            retry=retry,
            auth_hint=f"check the access token in {token.name} (readwise.io/access_token)",
        )

    # the export endpoint --------------------------------------------------------------------
    def export(self, *, updated_after: str | None = None, ids: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
        """Every book the export returns (with its highlights), following ``nextPageCursor``."""

        def fetch(cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
            params: dict[str, str] = {}
            if updated_after:
                params["updatedAfter"] = updated_after
            if ids:
                params["ids"] = ",".join(ids)
            if cursor:
                params["pageCursor"] = cursor
            data = self.http.get_json(EXPORT, params)
            results = data.get("results") if isinstance(data, dict) else None
            if not isinstance(results, list):
                raise BadResponse(f"GET {self.base_url}{EXPORT}: no \"results\" list in the response")
            books = [b for b in results if isinstance(b, dict) and b.get("user_book_id") is not None]
            if len(books) != len(results):
                raise BadResponse(f"GET {self.base_url}{EXPORT}: a book without user_book_id")
            following = data.get("nextPageCursor")
            return books, str(following) if following not in (None, "") else None

        return paginate(fetch)

    # scanning -------------------------------------------------------------------------------
    def scan(self, known: Mapping[str, str]) -> Iterator[ScanItem]:
        """A full run or an incremental run, as the module docstring explains."""
        watermark = _watermark(known.values())
        if watermark is None or self._full_due():
            yield from self._scan_full(known)
        else:
            yield from self._scan_incremental(known, watermark)

    def _scan_full(self, known: Mapping[str, str]) -> Iterator[ScanItem]:
        clean = True
        try:
            for book in self.export():
                item = self._item(book, known)
                clean = clean and not isinstance(item, Failure)
                if item is not None:
                    yield item
        except HttpError as exc:
            clean = False
            yield Failure(self.base_url + EXPORT, f"export incomplete: {exc}", listing=True)
        self._save_state(clean, full=clean)

    def _scan_incremental(self, known: Mapping[str, str], watermark: str) -> Iterator[ScanItem]:
        changed: list[str] = []
        try:
            for book in self.export(updated_after=watermark):
                book_id = str(book["user_book_id"])
                if book_id not in changed:
                    changed.append(book_id)
        except HttpError as exc:
            self._save_state(False)
            yield Failure(self.base_url + EXPORT, f"export of changes incomplete: {exc}", listing=True)
            return
        for doc_id in known:
            if doc_id not in changed:
                yield Unchanged(doc_id)
        batches = [changed[i : i + IDS_PER_REQUEST] for i in range(0, len(changed), IDS_PER_REQUEST)]
        clean = True
        for item in fetch_each(
            batches,
            lambda batch: self._fetch_books(batch, known),
            lambda batch: (f"{self.base_url}{EXPORT} (books {_some(batch)})", batch),
            source=self.base_url + EXPORT,
        ):
            clean = clean and not isinstance(item, Failure)
            yield item
        self._save_state(clean)

    def _fetch_books(self, ids: list[str], known: Mapping[str, str]) -> Iterable[ScanItem]:
        got: dict[str, dict[str, Any]] = {str(b["user_book_id"]): b for b in self.export(ids=ids)}
        out: list[ScanItem] = []
        for book_id in ids:
            if book_id in got:
                item = self._item(got[book_id], known)
                if item is not None:
                    out.append(item)
            elif book_id in known:
                # deleted since the listing (or not returned): keep it until a full run decides
                out.append(Failure(f"{self.base_url}{EXPORT}", f"book {book_id} was not returned", doc_id=book_id))
        return out

    def _item(self, book: dict[str, Any], known: Mapping[str, str]) -> ScanItem | None:
        try:
            doc = book_document(book, self.source)
        except (TypeError, ValueError, KeyError) as exc:
            book_id = str(book.get("user_book_id"))
            return Failure(f"{self.base_url}{EXPORT} (book {book_id})", f"malformed book: {exc}", doc_id=book_id)
        if doc is None:
            return None  # every highlight deleted: the book is gone
        if known.get(doc.id) == doc.version:
            return Unchanged(doc.id)
        return doc

    # run state ------------------------------------------------------------------------------
    def _full_due(self) -> bool:
        if self.state_path is None:
            return True  # without a place to remember the last full run, every run is full
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            if state.get("full_pending"):
                return True
            last = datetime.fromisoformat(state["last_full"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return True
        return datetime.now(UTC) - last > timedelta(days=self.full_sync_days)

    def _save_state(self, clean: bool, *, full: bool = False) -> None:
        if self.state_path is None:
            return
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            if not isinstance(state, dict):
                state = {}
        except (OSError, ValueError):
            state = {}
        state["full_pending"] = not clean
        if full:
            state["last_full"] = datetime.now(UTC).isoformat()
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, self.state_path)

    def count(self) -> int:
        """Number of books in the account (checks the token too)."""
        data = self.http.get_json("/api/v2/books/", {"page_size": 1})
        if not isinstance(data, dict) or not isinstance(data.get("count"), int):
            raise BadResponse(f"{self.base_url}/api/v2/books/: no count in the response")
        return int(data["count"])

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.http.close()




def _some(ids: Sequence[str]) -> str:
    return ", ".join(ids[:3]) + ("…" if len(ids) > 3 else "")


def _watermark(versions: Iterable[str]) -> str | None:
    """The newest update time among indexed versions, for ``updatedAfter``."""
    times = [t for v in versions if (t := as_datetime(v.split("/", 1)[0])) is not None]
    return max(times).isoformat() if times else None


def book_document(book: Mapping[str, Any], source: str) -> Document | None:
    """One book (article, tweet…) with its live highlights as a page; None if none is left."""
    book_id = str(book["user_book_id"])
    highlights = [h for h in book.get("highlights") or [] if isinstance(h, dict) and not h.get("is_deleted")]
    if not highlights:
        return None
    highlights.sort(key=lambda h: h["location"] if isinstance(h.get("location"), int) else 0)
    times = [
        t for h in highlights
        if (t := as_datetime(h.get("updated_at") or h.get("highlighted_at") or h.get("created_at"))) is not None
    ]
    latest = max(times) if times else None
    title = normalize_text(str(book.get("readable_title") or book.get("title") or f"book {book_id}")).strip()
    author = str(book.get("author") or "").strip()
    category = str(book.get("category") or "").strip()
    head = " · ".join(p for p in (author, category) if p)
    parts = [head] if head else []
    for key in ("summary", "document_note"):
        if isinstance(book.get(key), str) and book[key].strip():
            parts.append(normalize_text(book[key]).strip())
    for h in highlights:
        text = normalize_text(str(h.get("text") or "")).strip()
        if not text:
            continue
        note = normalize_text(str(h.get("note") or "")).strip()
        parts.append(text + ("\n\tNote: " + note.replace("\n", "\n\t") if note else ""))
    tags = [str(t.get("name")) for t in book.get("book_tags") or [] if isinstance(t, dict) and t.get("name")]
    meta = {"author": author, "category": category, "source_url": str(book.get("source_url") or "")}
    if tags:
        meta["tags"] = ", ".join(tags)
    return Document(
        id=book_id,
        source=source,
        title=title,
        text="\n\n".join(parts),
        url=str(book.get("readwise_url") or f"https://readwise.io/bookreview/{book_id}"),
        updated=latest,
        metadata={k: v for k, v in meta.items() if v},
        version=f"{latest.isoformat() if latest else ''}/{len(highlights)}",
    )


def from_settings(
    *, source: str, credentials: Credentials, url: str = BASE_URL, token_env: str = "READWISE_TOKEN",
    full_sync_days: float = 7.0, timeout: float = 30.0, state_path: Path | None = None,
) -> ReadwiseApi:
    """A connector from a ``[sources.NAME]`` table (``format = "readwise_api"``)."""
    return ReadwiseApi(
        token=credentials.ref(token_env), source=source, base_url=url, state_path=state_path,
        full_sync_days=full_sync_days, timeout=timeout,
    )


register(
    ConnectorSpec(
        format="readwise_api",
        description="Readwise highlights over the v2 export API (token in READWISE_TOKEN)",
        factory=from_settings,
    )
)
