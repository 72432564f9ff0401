"""Cybozu kintone: the records of one app, read through the REST API with an API token.

``GET /k/v1/records.json`` with ``X-Cybozu-API-Token``, paged by record id (``$id > LAST order by
$id asc limit 500``) because kintone refuses offsets past 10,000. Every run lists every record,
so it is a complete listing and records deleted in kintone are removed from the index; a record
whose update time (its ``UPDATED_TIME`` field, ``更新日時`` / ``Updated_datetime``) equals the
indexed version is `Unchanged`. The page text is the chosen fields (``fields``; by default every
text-like field) as ``field: value`` lines; the record links to
``https://<sub>.cybozu.com/k/<app>/show#record=<id>``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from kbagent.connectors import ConnectorSpec, Failure, ScanItem, Unchanged, register
from kbagent.connectors.htmltext import html_to_text
from kbagent.connectors.http import BadResponse, HttpClient, HttpError, RetryPolicy, SecretHeader, paginate
from kbagent.connectors.markdown import as_datetime

from kbagent.credentials import Credentials, SecretSource
from kbagent.documents import Document, normalize_text

PAGE_SIZE = 500  # the most kintone returns per request
# field types indexed when no field list is configured
TEXT_TYPES = {
    "SINGLE_LINE_TEXT", "MULTI_LINE_TEXT", "RICH_TEXT", "LINK", "DROP_DOWN", "RADIO_BUTTON",
    "CHECK_BOX", "MULTI_SELECT", "STATUS", "CATEGORY", "NUMBER", "CALC", "DATE", "DATETIME", "TIME",
    "USER_SELECT", "ORGANIZATION_SELECT", "GROUP_SELECT", "SUBTABLE",
}


class KintoneApp:
    """Reads the records of one kintone app as pages."""

    def __init__(
        self,
        url: str,
        app: int | str,
        *,
        token: SecretSource,
        source: str | None = None,
        fields: Sequence[str] = (),
        title_field: str | None = None,
        query: str = "",
        guest_space: int | str | None = None,
        page_size: int = PAGE_SIZE,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.app = str(app)
        self.source = source or f"kintone-{self.app}"
        self.fields = tuple(fields)
        self.title_field = title_field
        self.query = query.strip()
        self.page_size = max(1, min(PAGE_SIZE, page_size))
        self._api = f"/k/guest/{guest_space}/v1" if guest_space else "/k/v1"
        self._show = f"/k/guest/{guest_space}/{self.app}" if guest_space else f"/k/{self.app}"
        self.http = HttpClient(
            self.url,
            secret_headers=[SecretHeader("X-Cybozu-API-Token", token)],
            timeout=timeout,
            retry=retry,
            auth_hint=f"check the API token in {token.name} (it needs the View records permission for app {self.app})",
        )

    def _condition(self, last_id: int) -> str:
        cond = f"$id > {last_id}"
        return f"({self.query}) and {cond}" if self.query else cond

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record of the app (with the extra ``query`` condition), by ascending id."""
        where = f"{self.url}{self._api}/records.json"

        def fetch(last: int | None) -> tuple[list[dict[str, Any]], int | None]:
            query = f"{self._condition(last or 0)} order by $id asc limit {self.page_size}"
            data = self.http.get_json(f"{self._api}/records.json", {"app": self.app, "query": query})
            records = data.get("records") if isinstance(data, dict) else None
            if not isinstance(records, list):
                raise BadResponse(f"GET {where}: no \"records\" list in the response")
            if not records:
                return [], None
            try:
                following = int(records[-1]["$id"]["value"])
            except (KeyError, TypeError, ValueError):
                raise BadResponse(f"GET {where}: a record without $id") from None
            return records, following if len(records) >= self.page_size else None

        return paginate(fetch)

    def scan(self, known: Mapping[str, str]) -> Iterator[ScanItem]:
        """Yield every record (`Unchanged` when its update time is the indexed version)."""
        try:
            for record in self.records():
                yield self._item(record, known)
        except HttpError as exc:
            yield Failure(f"{self.url}{self._show}", f"record listing incomplete: {exc}", listing=True)

    def _item(self, record: Mapping[str, Any], known: Mapping[str, str]) -> ScanItem:
        doc_id = str(_value(record.get("$id")) or "")
        if not doc_id:  # a record we cannot name could be any indexed one: remove nothing
            return Failure(f"{self.url}{self._show}", "a listed record has no $id", listing=True)
        link = f"{self.url}{self._show}/show#record={doc_id}"
        updated_raw = next(
            (f.get("value") for f in record.values() if isinstance(f, dict) and f.get("type") == "UPDATED_TIME"),
            None,
        )
        if updated_raw is None:
            updated_raw = _value(record.get("$revision"))  # no update-time field: the revision
        version = str(updated_raw or "")
        if version and known.get(doc_id) == version:
            return Unchanged(doc_id)
        try:
            return self._document(record, doc_id, link, version)
        except (TypeError, ValueError, AttributeError) as exc:
            return Failure(link, f"malformed record: {exc}", doc_id=doc_id)

    def _document(self, record: Mapping[str, Any], doc_id: str, link: str, version: str) -> Document:
        codes = self.fields or tuple(
            code for code, f in record.items() if isinstance(f, dict) and f.get("type") in TEXT_TYPES
        )
        title_code = self.title_field or next(
            (code for code, f in record.items()
             if isinstance(f, dict) and f.get("type") == "SINGLE_LINE_TEXT" and render_field(f)),
            None,
        )
        title = render_field(record.get(title_code)) if title_code else ""
        lines: list[str] = []
        for code in codes:
            if code == title_code:
                continue
            value = render_field(record.get(code))
            if not value:
                continue
            if "\n" in value:
                lines.append(f"{code}:")
                lines.extend("\t" + line for line in value.split("\n"))
            else:
                lines.append(f"{code}: {value}")
        updated = as_datetime(version)
        return Document(
            id=doc_id,
            source=self.source,
            title=normalize_text(title).strip() or f"record {doc_id}",
            text=normalize_text("\n".join(lines)),
            url=link,
            updated=updated,
            metadata={"app": self.app},
            version=version,
        )

    def count(self) -> int:
        """Number of records (one small request)."""
        data = self.http.get_json(
            f"{self._api}/records.json",
            {"app": self.app, "query": f"{self._condition(0)} limit 1", "totalCount": "true"},
        )
        total = data.get("totalCount") if isinstance(data, dict) else None
        try:
            return int(total)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise BadResponse(f"{self.url}{self._api}/records.json: no totalCount in the response") from None

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self.http.close()


def _value(field: Any) -> Any:
    return field.get("value") if isinstance(field, dict) else None




def render_field(field: Any) -> str:
    """A kintone field value as text (users and lists by name, rich text without HTML, tables as rows)."""
    if not isinstance(field, dict):
        return ""
    kind, value = field.get("type"), field.get("value")
    if value is None:
        return ""
    if kind == "RICH_TEXT":
        return html_to_text(str(value))
    if kind == "SUBTABLE":
        rows = []
        for row in value if isinstance(value, list) else []:
            cells = row.get("value", {}) if isinstance(row, dict) else {}
            text = " | ".join(v for v in (render_field(c) for c in cells.values()) if v)
            if text:
                rows.append(text.replace("\n", " "))
        return "\n".join(rows)
    if isinstance(value, list):
        names = [str(v.get("name") or v.get("code") or "") if isinstance(v, dict) else str(v) for v in value]
        return ", ".join(n for n in names if n)
    if isinstance(value, dict):
        return str(value.get("name") or value.get("code") or "")
    return str(value).strip()


def from_settings(
    *, source: str, credentials: Credentials, url: str, app: int | str, token_env: str = "KINTONE_API_TOKEN",
    fields: Sequence[str] = (), title_field: str | None = None, query: str = "",
    guest_space: int | str | None = None, timeout: float = 30.0,
) -> KintoneApp:
    """A connector from a ``[sources.NAME]`` table (``format = "kintone"``)."""
    return KintoneApp(
        url, app, token=credentials.ref(token_env), source=source, fields=fields, title_field=title_field,
        query=query, guest_space=guest_space, timeout=timeout,
    )


register(
    ConnectorSpec(
        format="kintone",
        description="Cybozu kintone app records over the REST API (API token in KINTONE_API_TOKEN)",
        factory=from_settings,
    )
)
