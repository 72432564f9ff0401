"""Scrapbox (Cosense) exports: the project export JSON, one page's JSON, or a folder of page files.

Scrapbox markup is turned into readable text for indexing while keeping its structure: an
indented line becomes a bullet at the same depth, ``code:`` blocks are kept verbatim, ``table:``
rows become ``a | b`` lines, links and decorations become their text, icons their name, and
image URLs are dropped. Outgoing links, ``#tags`` and the creation time go into metadata.

A truncated export still yields every page that is complete in it, then a listing `Failure`, so
the index keeps the pages it could not see.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kbagent.connectors import ConnectorSpec, Failure, ScanItem, Unchanged, register
from kbagent.connectors.notefiles import MAX_PAGE_BYTES, UnreadableFile, decode_note, is_hidden

from kbagent.documents import Document, normalize_text

_INDENT = " \t\u3000"
_URL = re.compile(r"^https?://\S+$")
_IMAGE = re.compile(
    r"(?:\.(?:png|jpe?g|gif|svg|webp|heic)(?:[?#].*)?$)|^https?://(?:i\.)?gyazo\.com/|"
    r"^https?://scrapbox\.io/files/|#\.(?:png|jpe?g|gif)$",
    re.I,
)
_DECORATION = re.compile(r"^([-*/_!\"#%&'()~<>+]+)\s+(.*)$", re.S)
_ICON = re.compile(r"^(.+?)\.icon(?:\*\d+)?$")
_TAG = re.compile(r"(?:(?<=\s)|^)#([^\s\[\]#]+)")
_LINE_ID = re.compile(r"#[0-9a-f]{24}$")


@dataclass
class _Found:
    links: list[str]
    tags: list[str]

    def add(self, bucket: list[str], name: str) -> None:
        if name and name not in bucket:
            bucket.append(name)


def page_url(project: str, title: str) -> str:
    """The page's address on scrapbox.io (spaces as ``_``, the rest URL-encoded)."""
    return f"https://scrapbox.io/{quote(project, safe='')}/{quote(title.replace(' ', '_'), safe='')}"


def render_inline(text: str, found: _Found) -> str:
    """One line of Scrapbox markup as readable text; links and tags are recorded in ``found``."""
    out: list[str] = []
    i, n = 0, len(text)
    plain_start = 0

    def flush_plain(end: int) -> None:
        plain = text[plain_start:end]
        for m in _TAG.finditer(plain):
            found.add(found.tags, m.group(1))
            found.add(found.links, m.group(1))
        out.append(plain)

    while i < n:
        ch = text[i]
        if ch == "`":
            end = text.find("`", i + 1)
            if end < 0:
                break
            flush_plain(i)
            out.append(text[i : end + 1])  # inline code is kept as written
            i = plain_start = end + 1
            continue
        if ch == "[":
            end = _matching_bracket(text, i)
            if end < 0:
                i += 1
                continue
            flush_plain(i)
            inner = text[i + 1 : end]
            rendered = _render_bracket(inner, found)
            before = next((o for o in reversed(out) if o), "")
            if _ICON.match(inner) and before[-1:].strip():
                rendered = " " + rendered  # an icon after text is a signature: keep it a word
            out.append(rendered)
            i = plain_start = end + 1
            continue
        i += 1
    flush_plain(n)
    return "".join(out)


def _matching_bracket(text: str, start: int) -> int:
    depth = 0
    for j in range(start, len(text)):
        c = text[j]
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return j
        elif c == "`" and depth == 1 and text.find("`", j + 1) < 0:
            break
    return -1


def _render_bracket(inner: str, found: _Found) -> str:
    if inner.startswith("[") and inner.endswith("]") and _matching_bracket(inner, 0) == len(inner) - 1:
        return render_inline(inner[1:-1], found)  # [[bold]]
    if inner.startswith("$ "):
        return inner[2:]  # TeX: its source is the most readable form we have
    if m := _DECORATION.match(inner):
        return render_inline(m.group(2), found)
    if m := _ICON.match(inner):
        return m.group(1).rsplit("/", 1)[-1]
    words = inner.split()
    if not words:
        return ""
    first, last = words[0], words[-1]
    if _URL.match(first) or _URL.match(last):
        url, label = (first, inner[len(first) :]) if _URL.match(first) else (last, inner[: -len(last)])
        label = label.strip()
        if label and not _URL.match(label):
            return label
        return "" if _IMAGE.search(url) or (label and _IMAGE.search(label)) else url
    if inner.startswith("/"):
        return inner.rstrip("/").split("/", 2)[-1]  # a page in another project
    title = _LINE_ID.sub("", inner)
    found.add(found.links, title)
    return title


def render_lines(lines: Iterable[str], found: _Found) -> str:
    """A page body (without its title line) as readable, indented text."""
    out: list[str] = []
    block: tuple[str, int] | None = None  # ("code"|"table", indent of its header line)
    for raw in lines:
        stripped = raw.lstrip(_INDENT)
        depth = len(raw) - len(stripped)
        if block is not None and raw.strip() and depth > block[1]:
            body = raw[block[1] + 1 :]
            if block[0] == "table":
                body = " | ".join(render_inline(c, found).strip() for c in body.split("\t"))
            out.append("\t" * (block[1] + 1) + body)
            continue
        block = None
        if stripped.startswith(("code:", "table:")):
            block = ("code" if stripped.startswith("code:") else "table", depth)
            text = stripped
        else:
            text = render_inline(stripped, found).strip()
        if not text and raw.strip():
            continue  # a line that held only an image: leave no gap where it was
        if depth == 0:
            out.append(text)
        elif text:  # children stay indented under their parent line, as the chunker expects
            out.append("\t" * depth + "- " + text)
    return "\n".join(out).strip("\n")


def _line_text(line: Any) -> str:
    if isinstance(line, str):
        return line
    if isinstance(line, dict) and isinstance(line.get("text"), str):
        return line["text"]
    raise ValueError(f"a line is neither a string nor an object with text: {str(line)[:60]!r}")


def _when(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int | float) and value > 0 else None


class ScrapboxConnector:
    """Reads a Scrapbox project export, a page JSON file, or a folder of page JSON files."""

    def __init__(
        self,
        path: Path,
        *,
        source: str,
        project: str | None = None,
        max_page_bytes: int = MAX_PAGE_BYTES,
    ) -> None:
        self.source = source
        self.path = Path(path)
        self.project = project
        self.max_page_bytes = max_page_bytes

    def scan(self, known: Mapping[str, str]) -> Iterator[ScanItem]:
        """Yield every page (Unchanged when its ``updated`` time is the one indexed)."""
        if self.path.is_dir():
            yield from self._scan_folder(known)
        else:
            yield from self._scan_file(self.path, known, self.project)

    def _scan_folder(self, known: Mapping[str, str]) -> Iterator[ScanItem]:
        project = self.project or _project_name(self.path) or self.path.name
        try:
            files = sorted(
                p
                for p in self.path.rglob("*.json")
                if p.name != "project.json"
                and not any(is_hidden(part) for part in p.relative_to(self.path).parts)
            )
        except OSError as exc:
            yield Failure(str(self.path), f"cannot list folder: {exc.strerror or exc}", listing=True)
            return
        for file in files:
            yield from self._scan_file(file, known, project)

    def _scan_file(self, file: Path, known: Mapping[str, str], project: str | None) -> Iterator[ScanItem]:
        try:
            data = json.loads(decode_note(file.read_bytes()))
        except (OSError, UnreadableFile, ValueError) as exc:
            # we cannot know which pages the file held, so none may be removed in this run
            reason = exc.strerror if isinstance(exc, OSError) else str(exc)
            if isinstance(exc, json.JSONDecodeError):
                yield from self._salvage(file, known, project)
            yield Failure(str(file), f"not a readable Scrapbox JSON file: {reason}", listing=True)
            return
        if isinstance(data, dict) and isinstance(data.get("pages"), list):
            name = project or data.get("name") or file.stem
            for i, page in enumerate(data["pages"]):
                yield self.read_page(page, name, known, f"{file} (page {i + 1})")
        elif isinstance(data, dict) and "lines" in data:
            name = project or _project_name(file.parent) or file.parent.name
            yield self.read_page(data, name, known, str(file))
        elif file != self.path:
            return  # some other JSON file lying in the folder
        else:
            yield Failure(str(file), "not a Scrapbox export: no \"pages\" list or page \"lines\"", listing=True)

    def _salvage(self, file: Path, known: Mapping[str, str], project: str | None) -> Iterator[ScanItem]:
        """Pages that are complete in a truncated export file."""
        try:
            raw = file.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            return
        start = re.search(r'"pages"\s*:\s*\[', raw)
        if start is None:
            return
        if project is None:
            m = re.search(r'"name"\s*:\s*("(?:[^"\\]|\\.)*")', raw[: start.start()])
            project = json.loads(m.group(1)) if m else file.stem
        decoder = json.JSONDecoder()
        pos = start.end()
        while True:
            while pos < len(raw) and raw[pos] in " \t\r\n,":
                pos += 1
            try:
                page, pos = decoder.raw_decode(raw, pos)
            except ValueError:
                return
            yield self.read_page(page, project, known, f"{file} (page)")

    def read_page(self, page: Any, project: str, known: Mapping[str, str], where: str) -> ScanItem:
        """One page object (export or API shape) as a Document, or Unchanged, or a Failure at ``where``."""
        title = page.get("title") if isinstance(page, dict) else None
        doc_id = page.get("id") or title if isinstance(page, dict) else None
        if not isinstance(title, str) or not isinstance(page.get("lines"), list):
            return Failure(where, "page has no title or no lines", doc_id=doc_id if isinstance(doc_id, str) else None)
        doc_id = str(doc_id)
        version = str(page.get("updated", ""))
        if version and known.get(doc_id) == version:
            return Unchanged(doc_id)
        try:
            lines = [_line_text(line) for line in page["lines"]]
        except ValueError as exc:
            return Failure(f"{where}: {title}", str(exc), doc_id=doc_id)
        size = sum(len(line) for line in lines)
        if size >= self.max_page_bytes:
            return Failure(
                f"{where}: {title}",
                f"page is {size / 1e6:.1f} M characters, over the {self.max_page_bytes / 1e6:.0f} M limit",
                doc_id=doc_id,
            )
        found = _Found([], [])
        text = render_lines((normalize_text(line) for line in lines[1:]), found)
        meta = {"project": project}
        if created := _when(page.get("created")):
            meta["created"] = created.isoformat()
        if found.tags:
            meta["tags"] = _join(found.tags)
        if found.links:
            meta["links"] = _join(found.links)
        return Document(
            id=doc_id,
            source=self.source,
            title=normalize_text(title).strip(),
            text=text,
            url=page_url(project, title),
            updated=_when(page.get("updated")),
            metadata=meta,
            version=version,
        )



def _join(names: list[str], limit: int = 1000) -> str:
    """Comma-joined names, as many whole ones as fit in ``limit`` characters."""
    out: list[str] = []
    size = 0
    for name in names:
        size += len(name) + 2
        if size > limit:
            break
        out.append(name)
    return ", ".join(out)


def _project_name(folder: Path) -> str | None:
    """The project name from a ``project.json`` in the folder or the one above it."""
    for candidate in (folder / "project.json", folder.parent / "project.json"):
        try:
            data = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            return data["name"]
    return None


def _looks_like_scrapbox(head: str) -> bool:
    return '"lines"' in head and ('"pages"' in head or '"title"' in head)


def detect(path: Path) -> bool:
    """A JSON file (or folder of them) whose start looks like a Scrapbox export or page."""
    try:
        if path.is_file():
            if path.suffix.lower() != ".json":
                return False
            with path.open("rb") as f:
                return _looks_like_scrapbox(f.read(65536).decode("utf-8", errors="replace"))
        if path.is_dir() and not (path / ".obsidian").is_dir():
            # page files lie in the folder itself or in pages/ (a JSON export inside a notes
            # vault's subfolder does not make the vault a Scrapbox project)
            files = (p for d in (path, path / "pages") for p in sorted(d.glob("*.json")) if p.name != "project.json")
            return any(detect(file) for _, file in zip(range(3), files, strict=False))
    except OSError:
        return False
    return False


def _factory(path: Path, *, source: str, **options: Any) -> ScrapboxConnector:
    return ScrapboxConnector(path, source=source, **options)


register(
    ConnectorSpec(
        format="scrapbox",
        description="Scrapbox/Cosense: project export JSON, a page JSON file, or a folder of pages",
        factory=_factory,
        detect=detect,
        priority=20,
    )
)
