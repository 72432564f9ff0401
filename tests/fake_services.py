"""Scrapbox, Readwise, kintone and Confluence APIs served from memory on 127.0.0.1.

Each fake answers with the shapes the services document (paths, parameters, pagination, auth
headers, error bodies), so the connectors are tested over real HTTP. `Fault`s inject what real
services do on bad days: 429 with ``Retry-After``, 500s, slow answers, malformed JSON. Used by
the tests and by ``scripts/bench_sync.py``.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit


@dataclass
class Fault:
    """Answer the next ``times`` requests whose path+query matches ``pattern`` like this instead.

    ``status=None`` with a ``delay`` only slows the request down, then answers normally.
    """

    pattern: str
    status: int | None = 500
    body: bytes = b'{"message": "injected failure"}'
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    times: int = 1


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class FakeServices:
    """The four fake services on one local server; mutate the dicts to change what they hold."""

    scrapbox_cookie: str | None = None  # required for every project when set
    readwise_token: str = "rw-token"
    kintone_token: str = "kt-token"
    confluence_token: str = "cf-token"
    confluence_user: str | None = None  # Basic auth with this user, else Bearer
    titles_per_call: int = 1000
    export_page_size: int = 1000
    confluence_max_limit: int = 100
    latency: float = 0.0  # seconds added to every answer, like a real network round trip
    scrapbox: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # project → id → page
    readwise: dict[int, dict[str, Any]] = field(default_factory=dict)  # user_book_id → book
    kintone: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)  # app → id → record
    confluence: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # space → id → page
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # lifecycle ------------------------------------------------------------------------------
    def start(self) -> FakeServices:
        """Serve on a free port of 127.0.0.1 in a background thread."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stalls

            def do_GET(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeServices:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail(self, pattern: str, status: int | None = 500, **kw: Any) -> Fault:
        """Add a fault (see `Fault`)."""
        fault = Fault(pattern, status, **kw)
        with self._lock:
            self.faults.append(fault)
        return fault

    def requests_to(self, pattern: str) -> list[Seen]:
        """The requests received so far whose path matches ``pattern``."""
        return [s for s in self.seen if re.search(pattern, s.path)]

    # dispatch -------------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        path, query = unquote(parts.path), parse_qs(parts.query)
        with self._lock:
            self.seen.append(Seen(path, query, {k.lower(): v for k, v in h.headers.items()}))
            fault = next((f for f in self.faults if f.times > 0 and re.search(f.pattern, h.path)), None)
            if fault is not None:
                fault.times -= 1
        if self.latency:
            time.sleep(self.latency)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status is not None:
                self._send(h, fault.status, fault.body, fault.headers)
                return
        try:
            status, body, headers = self._route(path, query, h.headers)
        except Exception as exc:  # a bug in the fake must show up in the test, not hang it
            status, body, headers = 599, {"message": f"fake server error: {exc!r}"}, {}
        raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        self._send(h, status, raw, headers)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json; charset=utf-8")
            h.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (timeout tests)

    def _route(self, path: str, q: dict[str, list[str]], headers: Any) -> tuple[int, Any, dict[str, str]]:
        if path == "/test/echo":
            return 200, {"path": path, "query": q, "headers": dict(headers.items())}, {}
        if path == "/test/redirect":
            return 302, b"", {"Location": q["to"][0]}
        if path.startswith("/api/pages/"):
            return self._scrapbox(path[len("/api/pages/") :], q, headers)
        if path.startswith("/api/v2/"):
            return self._readwise(path, q, headers)
        if path.startswith("/k/v1/"):
            return self._kintone(path, q, headers)
        if path.startswith("/wiki/rest/api/content"):
            return self._confluence(path, q, headers)
        return 404, {"message": "no such endpoint"}, {}

    # Scrapbox -------------------------------------------------------------------------------
    def _scrapbox(self, rest: str, q: dict[str, list[str]], headers: Any) -> tuple[int, Any, dict[str, str]]:
        project, _, tail = rest.partition("/")
        cookie = headers.get("Cookie") or ""
        if self.scrapbox_cookie is not None and f"connect.sid={self.scrapbox_cookie}" not in cookie:
            return 401, {"name": "NotLoggedInError", "message": "Log in to see this project."}, {}
        pages = self.scrapbox.get(project)
        if pages is None:
            return 404, {"name": "NotFoundError", "message": "Project not found."}, {}
        listing = list(pages.values())
        if tail == "":
            limit = int(q.get("limit", ["100"])[0])
            brief = [_brief(p) for p in listing[:limit]]
            return 200, {"projectName": project, "count": len(listing), "pages": brief}, {}
        if tail == "search/titles":
            start = 0
            if "followingId" in q:
                ids = [p["id"] for p in listing]
                start = ids.index(q["followingId"][0]) + 1
            chunk = listing[start : start + self.titles_per_call]
            out = [{"id": p["id"], "title": p["title"], "links": [], "updated": p["updated"]} for p in chunk]
            more = start + self.titles_per_call < len(listing)
            return 200, out, ({"X-Following-Id": chunk[-1]["id"]} if more and chunk else {})
        title = tail
        page = next((p for p in listing if p["title"] == title), None)
        if page is None:
            return 404, {"name": "NotFoundError", "message": "Page not found."}, {}
        return 200, {**page, "persistent": True}, {}

    # Readwise -------------------------------------------------------------------------------
    def _readwise(self, path: str, q: dict[str, list[str]], headers: Any) -> tuple[int, Any, dict[str, str]]:
        if headers.get("Authorization") != f"Token {self.readwise_token}":
            return 401, {"detail": "Invalid token."}, {}
        if path == "/api/v2/auth/":
            return 204, b"", {}
        if path == "/api/v2/books/":
            return 200, {"count": len(self.readwise), "next": None, "previous": None, "results": []}, {}
        if path != "/api/v2/export/":
            return 404, {"detail": "Not found."}, {}
        books = sorted(self.readwise.values(), key=lambda b: b["user_book_id"])
        if "ids" in q:
            wanted = {int(i) for i in q["ids"][0].split(",") if i}
            books = [b for b in books if b["user_book_id"] in wanted]
        if "updatedAfter" in q:
            after = q["updatedAfter"][0]
            books = [
                {**b, "highlights": [h for h in b["highlights"] if _later(h["updated_at"], after)]} for b in books
            ]
            books = [b for b in books if b["highlights"]]
        start = int(q.get("pageCursor", ["0"])[0])
        page = books[start : start + self.export_page_size]
        following = start + self.export_page_size if start + self.export_page_size < len(books) else None
        return 200, {"count": len(page), "nextPageCursor": following, "results": page}, {}

    # kintone --------------------------------------------------------------------------------
    def _kintone(self, path: str, q: dict[str, list[str]], headers: Any) -> tuple[int, Any, dict[str, str]]:
        if headers.get("X-Cybozu-API-Token") != self.kintone_token:
            return 401, {"code": "GAIA_IA02", "id": "x1", "message": "指定したAPIトークンが正しくありません。"}, {}
        if path != "/k/v1/records.json":
            return 404, {"code": "GAIA_RE01", "message": "not found"}, {}
        app = q.get("app", [""])[0]
        records = self.kintone.get(app)
        if records is None:
            return 404, {"code": "GAIA_AP01", "message": f"指定したアプリ（id: {app}）が見つかりません。"}, {}
        query = q.get("query", [""])[0]
        after = re.search(r"\$id > (\d+)", query)
        limit = re.search(r"limit (\d+)", query)
        if limit and int(limit.group(1)) > 500:
            return 400, {"code": "CB_VA01", "message": "limit must be 500 or less"}, {}
        rows = [r for i, r in sorted(records.items()) if not after or i > int(after.group(1))]
        total = str(len(rows)) if q.get("totalCount") == ["true"] else None
        return 200, {"records": rows[: int(limit.group(1)) if limit else 100], "totalCount": total}, {}

    # Confluence -----------------------------------------------------------------------------
    def _confluence(self, path: str, q: dict[str, list[str]], headers: Any) -> tuple[int, Any, dict[str, str]]:
        if self.confluence_user is not None:
            good = "Basic " + base64.b64encode(f"{self.confluence_user}:{self.confluence_token}".encode()).decode()
        else:
            good = f"Bearer {self.confluence_token}"
        if headers.get("Authorization") != good:
            return 401, {"statusCode": 401, "message": "Current user not permitted to use Confluence"}, {}
        base = self.url + "/wiki"
        expand = q.get("expand", [""])[0].split(",")
        all_pages = {pid: p for space in self.confluence.values() for pid, p in space.items()}
        if path.startswith("/wiki/rest/api/content/"):
            page = all_pages.get(path.rsplit("/", 1)[1])
            if page is None:
                return 404, {"statusCode": 404, "message": "No content found"}, {}
            return 200, {**_confluence_page(page, expand), "_links": {**page["_links"], "base": base}}, {}
        space = q.get("spaceKey", [""])[0]
        pages = list(self.confluence.get(space, {}).values())
        start = int(q.get("start", ["0"])[0])
        limit = min(int(q.get("limit", ["25"])[0]), self.confluence_max_limit)
        chunk = pages[start : start + limit]
        links: dict[str, str] = {"base": base, "context": "/wiki"}
        if start + limit < len(pages):
            nq = f"spaceKey={space}&type=page&expand={','.join(expand)}&limit={limit}&start={start + limit}"
            links["next"] = f"/rest/api/content?{nq}"
        results = [_confluence_page(p, expand) for p in chunk]
        return 200, {"results": results, "start": start, "limit": limit, "size": len(chunk), "_links": links}, {}


def _brief(page: dict[str, Any]) -> dict[str, Any]:
    return {"id": page["id"], "title": page["title"], "updated": page["updated"]}


def _later(a: str, b: str) -> bool:
    from datetime import datetime

    return datetime.fromisoformat(a.replace("Z", "+00:00")) > datetime.fromisoformat(b.replace("Z", "+00:00"))


def _confluence_page(page: dict[str, Any], expand: list[str]) -> dict[str, Any]:
    out = {k: v for k, v in page.items() if k not in ("body", "version")}
    if "version" in expand:
        out["version"] = page["version"]
    if "body.storage" in expand:
        out["body"] = page["body"]
    return out


# sample data in each service's documented shape ---------------------------------------------
def scrapbox_page(page_id: str, title: str, body: list[str], updated: int) -> dict[str, Any]:
    """A page as ``GET /api/pages/:project/:title`` returns it (lines with metadata)."""
    lines = [{"id": f"{page_id}-{i}", "text": t, "userId": "u1", "created": updated, "updated": updated}
             for i, t in enumerate([title, *body])]
    return {"id": page_id, "title": title, "created": updated - 100, "updated": updated, "lines": lines}


def readwise_book(book_id: int, title: str, highlights: list[tuple[int, str, str]], author: str = "") -> dict[str, Any]:
    """A book as the export API returns it; highlights are (id, text, updated_at)."""
    return {
        "user_book_id": book_id, "title": title, "readable_title": title, "author": author,
        "category": "books", "source": "kindle", "book_tags": [], "document_note": "", "summary": "",
        "readwise_url": f"https://readwise.io/bookreview/{book_id}", "source_url": None,
        "highlights": [
            {"id": hid, "text": text, "location": n, "note": "", "updated_at": when, "highlighted_at": when,
             "created_at": when, "is_deleted": False, "tags": []}
            for n, (hid, text, when) in enumerate(highlights)
        ],
    }


def kintone_record(record_id: int, title: str, detail: str, updated: str) -> dict[str, Any]:
    """A record as ``GET /k/v1/records.json`` returns it (field code → {type, value})."""
    return {
        "$id": {"type": "__ID__", "value": str(record_id)},
        "$revision": {"type": "__REVISION__", "value": "1"},
        "レコード番号": {"type": "RECORD_NUMBER", "value": str(record_id)},
        "件名": {"type": "SINGLE_LINE_TEXT", "value": title},
        "詳細": {"type": "MULTI_LINE_TEXT", "value": detail},
        "メモ": {"type": "RICH_TEXT", "value": f"<div><b>{title}</b> のメモ</div>"},
        "担当者": {"type": "USER_SELECT", "value": [{"code": "sato", "name": "佐藤"}]},
        "更新日時": {"type": "UPDATED_TIME", "value": updated},
        "作成者": {"type": "CREATOR", "value": {"code": "sato", "name": "佐藤"}},
    }


def confluence_page(page_id: str, space: str, title: str, html: str, when: str, number: int = 1) -> dict[str, Any]:
    """A page as the content API returns it with ``expand=body.storage,version``."""
    return {
        "id": page_id, "type": "page", "status": "current", "title": title,
        "version": {"number": number, "when": when},
        "body": {"storage": {"value": html, "representation": "storage"}},
        "_links": {"webui": f"/spaces/{space}/pages/{page_id}/{quote(title).replace('%20', '+')}",
                   "self": f"/rest/api/content/{page_id}"},
    }
