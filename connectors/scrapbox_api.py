"""A live Scrapbox (Cosense) project, read through its REST API.

Each run first lists every page cheaply with ``GET /api/pages/:project/search/titles`` (id, title
and update time of up to 1000 pages a call, paginated by the ``X-Following-Id`` response header
passed back as ``followingId``). Pages whose update time equals the indexed version are
`Unchanged` and not fetched; the others are fetched one by one with ``GET
/api/pages/:project/:title`` (lines with metadata) and rendered like the export connector renders
them. A complete title listing is what lets the index remove deleted pages; if it fails part-way
the pages listed so far are still synced and a listing `Failure` tells the index to delete
nothing.

Private projects need the browser's ``connect.sid`` cookie (``cookie``); Business projects can use
a service-account key instead (``token``, sent as ``x-service-account-access-key``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kbagent.connectors import ConnectorSpec, Failure, ScanItem, Unchanged, register
from kbagent.connectors.http import (
    BadResponse,
    HttpClient,
    HttpError,
    RetryPolicy,
    SecretHeader,
    fetch_each,
    paginate,
)
from kbagent.connectors.scrapbox import ScrapboxConnector, page_url

from kbagent.credentials import Credentials, SecretSource

SITE = "https://scrapbox.io"


@dataclass(frozen=True)
class TitleEntry:
    """One page as the titles listing shows it."""

    id: str
    title: str
    updated: int


class ScrapboxApi:
    """Reads a Scrapbox project over HTTP; only pages changed since the last run are fetched."""

    def __init__(
        self,
        project: str,
        *,
        source: str | None = None,
        site: str = SITE,
        cookie: SecretSource | None = None,
        token: SecretSource | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        workers: int = 4,
    ) -> None:
        self.project = project
        self.source = source or project
        self.site = site.rstrip("/")
        headers = []
        if cookie is not None:
            headers.append(SecretHeader("Cookie", cookie, "connect.sid={}"))
        if token is not None:
            headers.append(SecretHeader("x-service-account-access-key", token))
        names = " / ".join(h.secret.name for h in headers)
        hint = (
            f"check the credential in {names}" if names
            else "the project may be private: add it with --cookie-env NAME (connect.sid cookie)"
        )
        self.workers = workers  # pages fetched at once: one request per page, so latency adds up
        self.http = HttpClient(self.site, secret_headers=headers, timeout=timeout, retry=retry, auth_hint=hint)
        # pages are rendered exactly like the export connector does, so both agree on text
        self._render = ScrapboxConnector(Path(), source=self.source, project=project)
        self._base = f"/api/pages/{quote(project, safe='')}"

    def titles(self) -> Iterator[TitleEntry]:
        """Every page's id, title and update time (raises `HttpError` if the listing fails)."""

        def fetch(following: str | None) -> tuple[list[TitleEntry], str | None]:
            resp = self.http.get(f"{self._base}/search/titles", {"followingId": following} if following else None)
            where = f"{self.site}{self._base}/search/titles"
            try:
                data = resp.json()
            except ValueError as exc:
                raise BadResponse(f"GET {where}: the response is not valid JSON ({exc})") from None
            if not isinstance(data, list):
                raise BadResponse(f"GET {where}: expected a list of pages, got {type(data).__name__}")
            entries = [_entry(item, where) for item in data]
            return entries, (resp.headers.get("X-Following-Id") or None) if entries else None

        return paginate(fetch)

    def scan(self, known: Mapping[str, str]) -> Iterator[ScanItem]:
        """Yield `Unchanged` for pages with the indexed version, fetch and yield the rest."""
        changed: list[TitleEntry] = []
        listing_error: HttpError | None = None
        try:
            for entry in self.titles():
                if known.get(entry.id) == str(entry.updated):
                    yield Unchanged(entry.id)
                else:
                    changed.append(entry)
        except HttpError as exc:
            listing_error = exc
        yield from fetch_each(
            changed,
            self._fetch,
            lambda e: (page_url(self.project, e.title), [e.id]),
            source=f"{self.site}/{self.project}",
            workers=self.workers,
        )
        if listing_error is not None:
            yield Failure(f"{self.site}/{self.project}", f"page listing incomplete: {listing_error}", listing=True)

    def _fetch(self, entry: TitleEntry) -> list[ScanItem]:
        page = self.http.get_json(f"{self._base}/{quote(entry.title, safe='')}")
        if not isinstance(page, dict):
            raise BadResponse(f"{page_url(self.project, entry.title)}: expected a page object")
        if page.get("persistent") is False:
            # the page was emptied or deleted since the listing; the next listing will drop it
            raise HttpError(f"{page_url(self.project, entry.title)}: page no longer exists")
        page.setdefault("id", entry.id)
        page.setdefault("updated", entry.updated)
        return [self._render.read_page(page, self.project, {}, page_url(self.project, entry.title))]

    def count(self) -> int:
        """Number of pages in the project (one small request)."""
        data = self.http.get_json(self._base, {"limit": 1})
        if not isinstance(data, dict) or not isinstance(data.get("count"), int):
            raise BadResponse(f"{self.site}{self._base}: no page count in the response")
        return int(data["count"])

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.http.close()


def _entry(item: Any, where: str) -> TitleEntry:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not isinstance(item.get("title"), str):
        raise BadResponse(f"GET {where}: a listed page has no id or title")
    updated = item.get("updated")
    return TitleEntry(item["id"], item["title"], int(updated) if isinstance(updated, int | float) else 0)


def from_settings(
    *, source: str, credentials: Credentials, project: str, site: str = SITE,
    cookie_env: str | None = None, token_env: str | None = None, timeout: float = 30.0, workers: int = 4,
) -> ScrapboxApi:
    """A connector from a ``[sources.NAME]`` table (``format = "scrapbox_api"``)."""
    return ScrapboxApi(
        project, source=source, site=site, timeout=timeout, workers=workers,
        cookie=credentials.ref(cookie_env) if cookie_env else None,
        token=credentials.ref(token_env) if token_env else None,
    )


register(
    ConnectorSpec(
        format="scrapbox_api",
        description="Scrapbox/Cosense project over its REST API (public, or private with a connect.sid cookie)",
        factory=from_settings,
    )
)
