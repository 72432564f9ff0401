"""Readwise exports: one Markdown page per book or article, in the Markdown or the Logseq flavour.

Markdown flavour: ``# Title``, a ``## Metadata`` list (``- Author: [[…]]``, ``- Full Title:``,
``- Category: #books``, ``- URL:``) and a ``## Highlights`` list whose items may carry ``Note:``
and ``Tags:`` sub-bullets. Logseq flavour: the same as page properties (``author::``,
``full-title::``, ``category::``, ``url::``) and highlights nested under
``Highlights first synced by [[Readwise]] [[date]]`` blocks.

Each book becomes one Document whose text starts with an ``Author:``/``Category:`` header and then
keeps the highlights line by line (location links shortened to ``(Location 123)``). Other
Markdown files in the folder are read as plain Markdown notes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kbagent.connectors import ConnectorSpec, Failure, register
from kbagent.connectors.markdown import (
    SUFFIXES,
    Links,
    MarkdownConnector,
    convert_body,
    first_heading,
    logseq_title,
    split_front_matter,
    split_page_properties,
)
from kbagent.connectors.notefiles import file_version, mtime, walk_notes

from kbagent.documents import Document, normalize_text

_LOGSEQ_SYNCED = re.compile(r"(?:Highlights first synced by|New highlights added) \[\[", re.I)
_SECTION = re.compile(r"^##\s+(.+?)\s*$")
_META_ITEM = re.compile(r"^[-*]\s+([^:\n]+?):\s*(.*)$")
_COVER = re.compile(r"^!\[rw-book-cover\]\([^)]*\)\s*$")
_VIEW_LINK = re.compile(r"\s*\(\[View Highlight\]\([^)]*\)\)")
_TAGS_LINE = re.compile(r"^\s*[-*]\s+(?:\*\*)?Tags(?:\*\*)?:\s*(.*)$", re.I)
_TAG_ITEM = re.compile(r"\[\[([^\[\]]+)\]\]|#([^\s#\[\]]+)")
_HEADER_KEYS = (("author", "Author"), ("full_title", "Full Title"), ("category", "Category"), ("url", "URL"))


def looks_like_readwise(text: str) -> bool:
    """True for a page written by Readwise's Markdown or Logseq export."""
    head = text[:16384]
    if _LOGSEQ_SYNCED.search(head) and "[[Readwise]]" in head:
        return True
    if re.search(r"^## Highlights\s*$", head, re.M):
        return bool(re.search(r"^## Metadata\s*$", head, re.M) or "![rw-book-cover]" in head)
    return bool(re.search(r"^full-title::", head, re.M) and re.search(r"^category::", head, re.M))


def _plain(value: str) -> str:
    """A metadata value without link or tag syntax: ``[[Cal Newport]]`` → ``Cal Newport``."""
    return re.sub(r"\[\[([^\[\]]+)\]\]", r"\1", value).strip().lstrip("#").strip()


def _tag_names(raw: str) -> list[str]:
    """Tag names from ``[[a]] [[b]]``, ``#a #b`` or ``a, b``."""
    names = [a or b for a, b in _TAG_ITEM.findall(raw)]
    return names or [t.strip() for t in raw.split(",") if t.strip()]


def _key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


class ReadwiseConnector(MarkdownConnector):
    """Reads a Readwise export folder (or one exported page)."""

    def document(self, path: Path, rel: str, text: str, st: os.stat_result) -> Document:
        """A book's Document, or a plain Markdown one for a file Readwise did not write."""
        if not looks_like_readwise(text):
            return super().document(path, rel, text, st)
        front, body = split_front_matter(text)
        props, body = split_page_properties(body)
        logseq = bool(props) or bool(_LOGSEQ_SYNCED.search(body))
        # values stay raw here: tags need their [[…]] boundaries; the rest is unwrapped below
        meta: dict[str, str] = {_key(k): str(v) for k, v in front.items() if v and k != "title"}
        meta.update({_key(k): v for k, v in props.items() if v and k != "title"})
        if logseq:
            title = props.get("title") or logseq_title(path.stem)
            lines = body.split("\n")
        else:
            title = first_heading(body) or path.stem
            lines = self._markdown_lines(body, meta)
        title = front.get("title") or title

        tags = _tag_names(meta.pop("tags", "")) + _tag_names(meta.pop("document_tags", ""))
        meta = {k: _plain(v) for k, v in meta.items()}
        highlights = 0
        kept: list[str] = []
        for line in lines:
            line = _VIEW_LINK.sub("", line)
            if m := _TAGS_LINE.match(line):
                tags += [a or b for a, b in _TAG_ITEM.findall(m.group(1))]
            if re.match(r"^(?:\t| {2,4})- " if logseq else r"^[-*] ", line):
                highlights += 1
            kept.append(line)
        found = Links()
        text_body = convert_body("\n".join(kept), found, flavor="logseq" if logseq else "markdown")
        header = [f"{label}: {meta[key]}" for key, label in _HEADER_KEYS if meta.get(key)]
        meta.update({"path": rel, "flavor": "readwise-logseq" if logseq else "readwise"})
        meta["highlights"] = str(highlights)
        tags = [_plain(t) for t in tags if _plain(t)]
        if tags:
            meta["tags"] = ", ".join(dict.fromkeys(tags))
        return Document(
            id=rel,
            source=self.source,
            title=normalize_text(_plain(str(title))) or path.stem,
            text="\n".join(header) + ("\n\n" if header and text_body else "") + text_body,
            url=self._url(path, rel, {}),
            updated=mtime(st),
            metadata={k: v[:1000] for k, v in meta.items() if v},
            version=file_version(st),
        )

    @staticmethod
    def _markdown_lines(body: str, meta: dict[str, str]) -> list[str]:
        """The body without its title, cover and Metadata section (whose items go to ``meta``)."""
        out: list[str] = []
        section = ""
        title_seen = False
        for line in body.split("\n"):
            if m := _SECTION.match(line):
                section = m.group(1).strip().lower()
                if section != "metadata":
                    out.append(line)
                continue
            if not title_seen and line.startswith("# "):
                title_seen = True
                continue
            if section == "metadata":
                if item := _META_ITEM.match(line):
                    meta.setdefault(_key(item.group(1)), item.group(2).strip())
                continue
            if _COVER.match(line):
                continue
            out.append(line)
        while out and not out[0].strip():
            out.pop(0)
        return out


def detect(path: Path) -> bool:
    """A Readwise export page, or a folder where most of the first Markdown files are ones."""
    if path.is_file():
        return path.name.lower().endswith(SUFFIXES) and _file_is_readwise(path)
    if not path.is_dir():
        return False
    sample: list[bool] = []
    files: Iterator[Path | Failure] = walk_notes(path, SUFFIXES)
    for item in files:
        if isinstance(item, Path):
            sample.append(_file_is_readwise(item))
            if len(sample) >= 20:
                break
    return bool(sample) and sum(sample) * 2 >= len(sample)


def _file_is_readwise(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(16384).decode("utf-8", errors="replace")
    except OSError:
        return False
    return looks_like_readwise(head)


def _factory(path: Path, *, source: str, **options: Any) -> ReadwiseConnector:
    return ReadwiseConnector(path, source=source, **options)


register(
    ConnectorSpec(
        format="readwise",
        description="Readwise export: one Markdown page per book (Markdown or Logseq flavour)",
        factory=_factory,
        detect=detect,
        priority=30,
    )
)
