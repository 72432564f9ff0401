"""Confluence: the pages of one space, read through the REST content API.

``GET /rest/api/content?spaceKey=KEY&type=page&expand=version`` lists every current page of the
space, following ``_links.next`` (only within the configured site). On the first sync the
listing also expands ``body.storage`` so each page arrives with its body in one pass; later
runs list versions only and fetch ``/rest/api/content/{id}?expand=body.storage,version`` for
pages whose ``version.when`` changed. The listing is complete, so pages deleted from the space
are removed from the index; a listing that fails part-way removes nothing.

Bodies (storage-format XHTML) become text with headings and lists kept; each page links to
``_links.base + _links.webui``. Confluence Cloud uses an account e-mail (``user``) with an API
token (HTTP Basic); Server/Data Center a personal access token (``Bearer``) without ``user``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from kbagent.connectors import ConnectorSpec, Failure, ScanItem, Unchanged, register
from kbagent.connectors.htmltext import html_to_text
from kbagent.connectors.http import (
    BadResponse,
    HttpClient,
    HttpError,
    RetryPolicy,
    SecretHeader,
    fetch_each,
    paginate,
)
from kbagent.connectors.markdown import as_datetime

from kbagent.credentials import Credentials, SecretSource
from kbagent.documents import Document, normalize_text

CONTENT = "/rest/api/content"


class ConfluenceSpace:
    """Reads the pages of one Confluence space."""

    def __init__(
        self,
        url: str,
        space: str,
        *,
        token: SecretSource,
        user: str | None = None,
        source: str | None = None,
        page_size: int = 50,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        workers: int = 4,
    ) -> None:
        self.url = url.rstrip("/")
        self.space = space
        self.source = source or f"confluence-{space}"
        self.page_size = page_size
        header = (
            SecretHeader("Authorization", token, "Basic {}", basic_user=user) if user
            else SecretHeader("Authorization", token, "Bearer {}")
        )
        hint = (
            f"check the API token in {token.name} for {user}" if user
            else f"check the personal access token in {token.name}"
        )
        self.workers = workers  # pages fetched at once: one request per page, so latency adds up
        self.http = HttpClient(self.url, secret_headers=[header], timeout=timeout, retry=retry, auth_hint=hint)

    def pages(self, *, bodies: bool) -> Iterator[tuple[dict[str, Any], str]]:
        """Every current page of the space with the site base for its links (``_links.base``)."""
        expand = "body.storage,version" if bodies else "version"
        first = self.http.url(CONTENT)

        def fetch(link: str | None) -> tuple[list[tuple[dict[str, Any], str]], str | None]:
            if link is None:
                params = {"spaceKey": self.space, "type": "page", "status": "current",
                          "expand": expand, "limit": str(self.page_size)}
                data = self.http.get_json(first, params)
            else:
                data = self.http.get_json(link)
            results = data.get("results") if isinstance(data, dict) else None
            if not isinstance(results, list):
                raise BadResponse(f"GET {first}: no \"results\" list in the response")
            base = _site_base(data, self.url)
            links = data.get("_links")
            nxt = links.get("next") if isinstance(links, dict) else None
            following = None
            if isinstance(nxt, str) and nxt:
                following = nxt if "://" in nxt else base + nxt
            return [(r, base) for r in results], following

        return paginate(fetch)

    def scan(self, known: Mapping[str, str]) -> Iterator[ScanItem]:
        """Yield every page: `Unchanged` when its version time is the indexed one."""
        first_sync = not known
        changed: list[tuple[str, str]] = []  # (id, link for messages)
        listing_error: HttpError | None = None
        try:
            for page, base in self.pages(bodies=first_sync):
                page_id, version = _id_and_version(page)
                if not page_id:
                    yield Failure(f"{self.url} space {self.space}", "a listed page has no id", listing=True)
                    continue
                if version and known.get(page_id) == version:
                    yield Unchanged(page_id)
                elif first_sync:
                    yield self._item(page, base)
                else:
                    changed.append((page_id, _link(page, base) or f"{self.url}{CONTENT}/{page_id}"))
        except HttpError as exc:
            listing_error = exc
        yield from fetch_each(
            changed,
            self._fetch,
            lambda c: (c[1], [c[0]]),
            source=f"{self.url} space {self.space}",
            workers=self.workers,
        )
        if listing_error is not None:
            yield Failure(f"{self.url} space {self.space}", f"page listing incomplete: {listing_error}", listing=True)

    def _fetch(self, change: tuple[str, str]) -> list[ScanItem]:
        data = self.http.get_json(f"{CONTENT}/{change[0]}", {"expand": "body.storage,version"})
        if not isinstance(data, dict):
            raise BadResponse(f"{change[1]}: expected a page object")
        return [self._item(data, _site_base(data, self.url))]

    def _item(self, page: dict[str, Any], base: str) -> ScanItem:
        page_id, version = _id_and_version(page)
        link = _link(page, base) or f"{self.url}{CONTENT}/{page_id}"
        body = page.get("body")
        storage = body.get("storage") if isinstance(body, dict) else None
        html = storage.get("value") if isinstance(storage, dict) else None
        if not isinstance(html, str):
            return Failure(link, "page has no body.storage", doc_id=page_id)
        version_info = page.get("version")
        when = version_info.get("when") if isinstance(version_info, dict) else None
        return Document(
            id=page_id,
            source=self.source,
            title=normalize_text(str(page.get("title") or f"page {page_id}")).strip(),
            text=normalize_text(html_to_text(html)),
            url=link,
            updated=as_datetime(when),
            metadata={"space": self.space},
            version=version,
        )

    def count(self) -> int:
        """Number of current pages in the space (walks the light listing)."""
        return sum(1 for _ in self.pages(bodies=False))

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.http.close()


def _id_and_version(page: Mapping[str, Any]) -> tuple[str, str]:
    page_id = str(page.get("id") or "")
    version = page.get("version")
    if isinstance(version, dict):
        stamp = version.get("when") or version.get("number")
        return page_id, str(stamp or "")
    return page_id, ""


def _site_base(data: Mapping[str, Any], default: str) -> str:
    """The site root that relative links in a response are relative to (``_links.base``)."""
    links = data.get("_links")
    base = links.get("base") if isinstance(links, dict) else None
    return str(base or default).rstrip("/")


def _link(page: Mapping[str, Any], base: str) -> str:
    links = page.get("_links")
    webui = links.get("webui") if isinstance(links, dict) else None
    return base + webui if isinstance(webui, str) and webui else ""




def from_settings(
    *, source: str, credentials: Credentials, url: str, space: str, user: str | None = None,
    token_env: str = "CONFLUENCE_TOKEN", page_size: int = 50, timeout: float = 30.0, workers: int = 4,
) -> ConfluenceSpace:
    """A connector from a ``[sources.NAME]`` table (``format = "confluence"``)."""
    return ConfluenceSpace(
        url, space, token=credentials.ref(token_env), user=user, source=source, page_size=page_size, timeout=timeout,
        workers=workers,
    )


register(
    ConnectorSpec(
        format="confluence",
        description="Confluence space pages over the REST content API (token in CONFLUENCE_TOKEN)",
        factory=from_settings,
    )
)
