"""Markdown notes: plain folders, Obsidian vaults, Logseq graphs and Hugo sites.

Each ``.md``/``.markdown`` file is one page; its id is its path relative to the folder given.
Front matter (YAML ``---`` or TOML ``+++``) and Logseq/Dataview ``key:: value`` page properties
become metadata; ``[[wikilinks]]``, Markdown links, Logseq block references and macros are turned
into readable text; outline indentation is kept so the chunker can follow the structure.

Decisions: ``.org`` files (Logseq can mix them in) are skipped without an error; an empty file is
indexed as a page with its title only; a file of `MAX_PAGE_BYTES` or more, a binary file and a
file that is not valid UTF-8 are reported as failures naming the file (its indexed copy is kept);
a folder without a single note is a failure that says where it looked (a Logseq graph's folders
come from ``logseq/config.edn``, read as EDN).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote

import yaml
from kbagent.connectors import ConnectorSpec, Failure, ScanItem, Unchanged, edn, register
from kbagent.connectors.notefiles import (
    MAX_PAGE_BYTES,
    UnreadableFile,
    file_version,
    is_hidden,
    mtime,
    note_link,
    obsidian_vault,
    read_note,
    walk_notes,
)

from kbagent.documents import Document, normalize_text
from kbagent.plaintext import LOGSEQ_NOISE_PROPERTIES

SUFFIXES = (".md", ".markdown")
FLAVORS = ("markdown", "obsidian", "logseq", "hugo")
_HUGO_CONFIGS = tuple(
    f"{stem}.{ext}" for stem in ("hugo", "config") for ext in ("toml", "yaml", "yml", "json")
)
_MAX_META_CHARS = 1000
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


_FRONT_MATTER = {
    "---": re.compile(r"\A---[ \t]*\n(.*?)(?:\n|^)(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S | re.M),
    "+++": re.compile(r"\A\+\+\+[ \t]*\n(.*?)(?:\n|^)\+\+\+[ \t]*(?:\n|\Z)", re.S | re.M),
}
_PROPERTY = re.compile(r"^([A-Za-z0-9_][\w\-.]*)::(?:[ \t]+(.*?))?[ \t]*$")
_FENCE = re.compile(r"^(`{3,}|~{3,})")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_BLOCK_REF = re.compile(r"\(\([0-9a-fA-F-]{36}\)\)")
_MACRO = re.compile(r"\{\{(?:(embed|cloze)\s+)?([^{}]*)\}\}")
_HUGO_SHORTCODE = re.compile(r"\{\{[<%].*?[%>]\}\}")
_TAG_LINK = re.compile(r"(?:(?<=\s)|^)#\[\[([^\[\]\n]+)\]\]")
_MD_LINK = re.compile(
    r"(!?)\[([^\[\]\n]*)\]\((<[^>\n]*>|\[\[[^\]\n]*\]\]|[^()\s]*(?:\([^()\s]*\)[^()\s]*)*)"
    r"(?:\s+\"[^\"\n]*\")?\)"
)
_WIKILINK = re.compile(r"(!?)\[\[([^\[\]\n]+?)\]\]")
_TAG = re.compile(r"(?:(?<=\s)|^|(?<=[(（]))#([^\W\d_][\w\-/]*|\d+[^\W\d][\w\-/]*)")
_BLOCK_ID = re.compile(r"\s\^[A-Za-z0-9-]+$")
_COMMENT = re.compile(r"%%.*?%%|<!--.*?-->", re.S)
_HEADING1 = re.compile(r"^#\s+(.+?)\s*#*\s*$")
_JOURNAL = re.compile(r"^(\d{4})[_-](\d{2})[_-](\d{2})$")
_ATTACHMENT = re.compile(r"\.(png|jpe?g|gif|svg|webp|bmp|pdf|mp3|mp4|mov|webm|wav|excalidraw)$", re.I)


@dataclass(frozen=True)
class Vault:
    """A notes folder, what kind it is, and where in it the notes are."""

    root: Path
    flavor: str
    folders: tuple[Path, ...]
    base_url: str = ""
    obsidian_root: Path | None = None
    journals: Path | None = None  # a Logseq graph's journals folder, where page names are dates


def inspect_folder(root: Path) -> Vault:
    """Work out what kind of Markdown folder ``root`` is (Logseq, Hugo, Obsidian or plain)."""
    config = root / "logseq" / "config.edn"
    if config.is_file():
        pages, journals = logseq_folders(root, config)
        found = [f for f in dict.fromkeys((pages, journals)) if f.is_dir()]
        # a pages folder of "." holds the journals folder too: walk it once
        folders = tuple(f for f in found if not any(o in f.parents for o in found))
        return Vault(root, "logseq", folders, journals=journals)
    hugo_config = next((root / n for n in _HUGO_CONFIGS if (root / n).is_file()), None)
    if (root / "content").is_dir() and (hugo_config or (root / "archetypes").is_dir()):
        return Vault(root, "hugo", (root / "content",), base_url=_hugo_base_url(hugo_config))
    vault = obsidian_vault(root)
    if vault is not None:
        return Vault(root, "obsidian", (root,), obsidian_root=vault)
    return Vault(root, "markdown", (root,))


def logseq_folders(root: Path, config: Path) -> tuple[Path, Path]:
    """A Logseq graph's pages and journals folders, as its ``config.edn`` names them.

    The config is read as EDN, so the commented-out ``;; :pages-directory "your-directory"``
    lines of Logseq's default config do not count; a config that cannot be read leaves Logseq's
    defaults (``pages``, ``journals``). Journals are indexed even with journals turned off in
    Logseq: the files are still notes.
    """
    try:
        settings = edn.loads(config.read_text(encoding="utf-8", errors="replace"))
    except (OSError, edn.EdnError):
        settings = None
    folders = []
    for key, default in (("pages-directory", "pages"), ("journals-directory", "journals")):
        name = edn.get(settings, key)
        folder = name.strip().strip("/") if isinstance(name, str) else ""
        folders.append(root / (folder or default))
    return folders[0], folders[1]


def _hugo_base_url(config: Path | None) -> str:
    if config is None:
        return ""
    try:
        raw = config.read_text(encoding="utf-8")
        data = (
            tomllib.loads(raw) if config.suffix == ".toml"
            else json.loads(raw) if config.suffix == ".json"
            else yaml.safe_load(raw)
        )  # fmt: skip
    except (OSError, ValueError, UnicodeDecodeError, yaml.YAMLError):
        return ""
    url = data.get("baseURL") or data.get("baseurl") if isinstance(data, dict) else None
    return url if isinstance(url, str) and url.startswith(("http://", "https://")) else ""


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Front matter (YAML ``---`` or TOML ``+++``) as a dict, and the text after it.

    Front matter that does not parse is left in the text, so nothing the user wrote is lost.
    """
    for fence, pattern in _FRONT_MATTER.items():
        if not text.startswith(fence):
            continue
        m = pattern.match(text)
        if m is None:
            return {}, text
        try:
            data = tomllib.loads(m.group(1)) if fence == "+++" else yaml.load(m.group(1), _YAML_LOADER)
        except (ValueError, yaml.YAMLError):
            return {}, text
        if data is None:
            data = {}
        if not isinstance(data, dict):
            return {}, text  # a leading "---" that is a horizontal rule, not front matter
        return {str(k): v for k, v in data.items()}, text[m.end() :]
    return {}, text


def split_page_properties(text: str) -> tuple[dict[str, str], str]:
    """Leading ``key:: value`` lines (Logseq page properties, Dataview fields) and the rest.

    Logseq also writes page properties as a first block made only of properties
    (``- title:: …``); that block is taken as page properties too.
    """
    lines = text.split("\n")
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    props: dict[str, str] = {}
    j = i
    while j < len(lines) and (m := _PROPERTY.match(lines[j])):
        props.setdefault(m.group(1).lower(), m.group(2) or "")
        j += 1
    if not props and i < len(lines) and lines[i].startswith("- "):
        block = [lines[i][2:]]
        j = i + 1
        while j < len(lines) and lines[j][:1] in (" ", "\t") and lines[j].strip():
            block.append(lines[j].strip())
            j += 1
        matches = [_PROPERTY.match(b) for b in block]
        if all(matches):
            for m in matches:
                assert m is not None
                props.setdefault(m.group(1).lower(), m.group(2) or "")
        else:
            j = i
    return props, "\n".join(lines[:i] + lines[j:]) if props else text


@dataclass
class Links:
    """What a page links to and is tagged with, collected while its text is converted."""

    links: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    def link(self, target: str) -> None:
        """Record an outgoing link."""
        target = target.strip()
        if target and target not in self.links:
            self.links.append(target)

    def tag(self, name: str) -> None:
        """Record a tag (without its ``#``)."""
        name = name.strip().lstrip("#").strip()
        if name and name not in self.tags:
            self.tags.append(name)


def convert_inline(text: str, found: Links, *, flavor: str = "markdown") -> str:
    """Turn one line's link syntax into readable text, recording links and tags; code is kept."""
    parts = _INLINE_CODE.split(text)
    out = []
    # split() with one group pair gives [plain, ticks, code, plain, ticks, code, ...]
    for k in range(0, len(parts), 3):
        out.append(_convert_plain(parts[k], found, flavor))
        if k + 2 < len(parts):
            out.append(parts[k + 1] + parts[k + 2] + parts[k + 1])
    return "".join(out)


def _convert_plain(text: str, found: Links, flavor: str) -> str:
    if flavor == "logseq":
        text = _BLOCK_REF.sub("", text)
        text = _MACRO.sub(lambda m: _macro(m, found), text)
    elif flavor == "hugo":
        text = _HUGO_SHORTCODE.sub("", text)

    def tag_link(m: re.Match[str]) -> str:
        found.tag(m.group(1))
        found.link(m.group(1))
        return f"#{m.group(1)}"

    def md_link(m: re.Match[str]) -> str:
        label, target = m.group(2).strip(), m.group(3)
        if target.startswith("[[") and target.endswith("]]"):
            found.link(target[2:-2])
        if m.group(1):  # an image: its alt text says what it shows, unless it is a file name
            return "" if _ATTACHMENT.search(label) else label
        return label or target.strip("<>")

    def wikilink(m: re.Match[str]) -> str:
        target, _, alias = m.group(2).partition("|")
        page, _, anchor = target.partition("#")
        if m.group(1) and _ATTACHMENT.search(page):
            return ""
        found.link(page or target)
        if alias.strip():
            return alias.strip()
        anchor = "" if anchor.startswith("^") else anchor
        return f"{page} > {anchor}" if page and anchor else (page or anchor)

    text = _TAG_LINK.sub(tag_link, text)
    text = _MD_LINK.sub(md_link, text)
    text = _WIKILINK.sub(wikilink, text)
    for m in _TAG.finditer(text):
        found.tag(m.group(1))
    return _BLOCK_ID.sub("", text) if flavor == "obsidian" else text


def _macro(m: re.Match[str], found: Links) -> str:
    kind, arg = m.group(1), m.group(2).strip()
    if kind == "cloze":
        return arg
    if kind == "embed":
        page = re.fullmatch(r"\[\[([^\[\]]+)\]\]", arg)
        if page:
            found.link(page.group(1))
            return page.group(1)
    return ""  # queries, videos, renderers: nothing a reader would search for


def convert_body(text: str, found: Links, *, flavor: str = "markdown") -> str:
    """Convert a page body line by line; fenced code is kept verbatim.

    In Logseq pages, block properties that Logseq keeps for itself (``id::``, ``collapsed::``)
    are dropped and the others are written as ``key: value``.
    """
    if flavor == "obsidian":
        text = _COMMENT.sub("", text)
    out: list[str] = []
    fence = ""
    for line in text.split("\n"):
        stripped = line.strip()
        bare = stripped[2:] if stripped.startswith("- ") else stripped
        if fence:
            out.append(line)
            if bare.startswith(fence) and not bare.strip("`~"):
                fence = ""
            continue
        if m := _FENCE.match(bare):
            fence = m.group(1)
            out.append(line)
            continue
        if flavor == "logseq" and (p := _PROPERTY.match(bare)):
            key = p.group(1).lower()
            if key in LOGSEQ_NOISE_PROPERTIES or key.startswith("logseq."):
                continue
            indent = line[: len(line) - len(line.lstrip())]
            bullet = "- " if stripped.startswith("- ") else ""
            line = f"{indent}{bullet}{key}: {p.group(2) or ''}"
        out.append(convert_inline(line, found, flavor=flavor).rstrip())
    while out and not out[-1].strip():
        out.pop()
    while out and not out[0].strip():
        out.pop(0)
    # a Logseq page's empty trailing block is just "-"
    return "" if all(s.strip() in ("", "-") for s in out) else "\n".join(out)


def first_heading(text: str) -> str | None:
    """The first level-1 ATX heading outside code fences, if any."""
    fence = ""
    for line in text.split("\n"):
        if fence:
            fence = "" if line.strip().startswith(fence) else fence
        elif m := _FENCE.match(line.strip()):
            fence = m.group(1)
        elif h := _HEADING1.match(line):
            return h.group(1)
    return None


def meta_value(value: Any) -> str:
    """A front-matter value as metadata text (lists comma-joined, dates in ISO form)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(meta_value(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return "" if value is None else str(value)


def as_datetime(value: Any) -> datetime | None:
    """A front-matter date (datetime, date, or ISO string) as an aware datetime, if it is one."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return None


def split_list(value: Any, *, spaces: bool = False) -> list[str]:
    """Tags or aliases given as a list, or as one comma-separated string.

    With ``spaces``, a string without commas is split at whitespace (Obsidian's ``tags: a b``);
    ``[[multi word]]`` items stay whole either way.
    """
    if isinstance(value, list | tuple):
        return [str(v).strip().lstrip("#") for v in value if str(v).strip()]
    if isinstance(value, str):
        value = re.sub(r"\[\[([^\[\]]+)\]\]", lambda m: m.group(1).replace(" ", "\x00"), value)
        sep = None if spaces and "," not in value else ","
        return [v.strip().lstrip("#").replace("\x00", " ") for v in value.split(sep) if v.strip()]
    return []


def logseq_title(stem: str) -> str:
    """A Logseq page name from its file name (``a___b`` and ``a%2Fb`` are namespaces ``a/b``)."""
    return unquote(stem.replace("___", "/"))


class MarkdownConnector:
    """Reads a folder (or one file) of Markdown notes."""

    def __init__(
        self,
        path: Path,
        *,
        source: str,
        flavor: str | None = None,
        max_page_bytes: int = MAX_PAGE_BYTES,
    ) -> None:
        self.source = source
        self.path = Path(path)
        self.max_page_bytes = max_page_bytes
        if self.path.is_file():
            vault = obsidian_vault(self.path)
            self.vault = Vault(
                self.path.parent, "obsidian" if vault else "markdown", (), obsidian_root=vault
            )
        else:
            self.vault = inspect_folder(self.path)
        if flavor is not None:
            if flavor not in FLAVORS:
                raise ValueError(f"unknown Markdown flavor {flavor!r}; known: {', '.join(FLAVORS)}")
            self.vault = replace(self.vault, flavor=flavor)

    @property
    def flavor(self) -> str:
        """``markdown``, ``obsidian``, ``logseq`` or ``hugo``."""
        return self.vault.flavor

    def files(self) -> Iterator[Path | Failure]:
        """The note files to read, and failures for folders that could not be listed."""
        if self.path.is_file():
            yield self.path
            return
        skip = self.vault.root / "logseq"  # Logseq's own folder: config, backups, versions
        for folder in self.vault.folders:
            yield from walk_notes(folder, SUFFIXES, skip_dir=lambda d: d == skip)

    def expected_pages(self) -> int:
        """How many notes a scan will yield (one walk of the folders: a progress bar's total)."""
        return sum(1 for f in self.files() if isinstance(f, Path))

    def scan(self, known: Mapping[str, str]) -> Iterator[ScanItem]:
        """Yield every note as a Document (or Unchanged when its mtime and size are as indexed).

        A folder without a single note is a `Failure` that says where it looked: indexing nothing
        must not look like success, and nothing indexed before is removed because of it.
        """
        empty = True
        for item in self.files():
            empty = False
            if isinstance(item, Failure):
                yield item
                continue
            yield self.read(item, known)
        if empty:
            yield Failure(str(self.path), self.nothing_found(), listing=True)

    def nothing_found(self) -> str:
        """Why a folder gave no notes, in words, with where the notes were looked for."""
        config = self.vault.root / "logseq" / "config.edn"
        if self.flavor == "logseq" and config.is_file():
            looked = [f"{f}" if f.is_dir() else f"{f} (missing)" for f in logseq_folders(self.vault.root, config)]
            return f"no Markdown files under {' or '.join(looked)}; is this the graph's root?"
        return f"no Markdown files under {self.path}; is this the notes folder?"

    def read(self, path: Path, known: Mapping[str, str] | None = None) -> ScanItem:
        """Read one note file into a Document, or a Failure naming it."""
        rel = path.relative_to(self.vault.root).as_posix()
        try:
            st = path.stat()
            if known is not None and known.get(rel) == file_version(st):
                return Unchanged(rel)
            text = read_note(path, self.max_page_bytes)
        except UnreadableFile as exc:
            return Failure(str(path), str(exc), doc_id=rel)
        except OSError as exc:
            return Failure(str(path), f"cannot read file: {exc.strerror or exc}", doc_id=rel)
        try:
            return self.document(path, rel, text, st)
        except Exception as exc:  # one odd note must not stop the whole vault
            return Failure(str(path), f"could not parse: {type(exc).__name__}: {exc}", doc_id=rel)

    def document(self, path: Path, rel: str, text: str, st: os.stat_result) -> Document:
        """Build the Document for one note from its text."""
        flavor = self.flavor
        front, body = split_front_matter(text)
        props, body = split_page_properties(body)
        found = Links()
        converted = convert_body(body, found, flavor=flavor)

        journal_date = self._journal_date(path)
        explicit = front.get("title") or props.get("title")
        explicit = convert_inline(str(explicit), Links()).strip() if explicit else ""
        if journal_date is not None:
            title = journal_date.date().isoformat()
        elif explicit:
            title = explicit
        elif flavor == "logseq":
            title = logseq_title(path.stem)
        else:
            heading = first_heading(body)
            title = convert_inline(heading, Links()).strip() if heading else path.stem

        meta: dict[str, str] = {"path": rel, "flavor": flavor}
        for key, value in front.items():
            if key not in ("tags", "tag", "aliases", "alias") and (v := meta_value(value)):
                meta[key] = v
        for key, value in props.items():
            if key not in ("tags", "alias", "aliases") and value:
                meta.setdefault(key, convert_inline(value, found).strip())
        if journal_date is None or not explicit:
            meta.pop("title", None)
        tags = Links()
        for t in [*split_list(front.get("tags"), spaces=True), *split_list(front.get("tag"), spaces=True)]:
            tags.tag(t)
        for t in split_list(props.get("tags")):
            tags.tag(t)
        for t in found.tags:
            tags.tag(t)
        aliases = [
            a for v in (front.get("aliases"), front.get("alias"), props.get("alias")) for a in split_list(v)
        ]
        for key, values in (("tags", tags.tags), ("aliases", aliases), ("links", found.links)):
            if values:
                meta[key] = ", ".join(values)

        return Document(
            id=rel,
            source=self.source,
            title=normalize_text(title).strip() or path.stem,
            text=converted,
            url=self._url(path, rel, front),
            updated=self._updated(front, journal_date, st),
            metadata={k: v[:_MAX_META_CHARS] for k, v in meta.items()},
            version=file_version(st),
        )

    def _journal_date(self, path: Path) -> datetime | None:
        journals = self.vault.journals
        if self.flavor != "logseq" or (path.parent != journals if journals else path.parent.name != "journals"):
            return None
        m = _JOURNAL.match(path.stem)
        if m is None:
            return None
        try:
            return datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), tzinfo=UTC)
        except ValueError:
            return None

    def _updated(self, front: Mapping[str, Any], journal: datetime | None, st: os.stat_result) -> datetime:
        keys = ["lastmod", "updated", "modified", "last_modified"]
        if self.flavor == "hugo":
            keys.append("date")  # Hugo's lastmod defaults to the date
        for key in keys:
            if (when := as_datetime(front.get(key))) is not None:
                return when
        return journal or mtime(st)

    def _url(self, path: Path, rel: str, front: Mapping[str, Any]) -> str:
        v = self.vault
        if v.flavor == "hugo" and v.base_url:
            return _hugo_url(v.base_url, PurePosixPath(rel), front)
        return note_link(path, v.obsidian_root if v.flavor == "obsidian" else None)


def _hugo_url(base: str, rel: PurePosixPath, front: Mapping[str, Any]) -> str:
    """The page's address on the built site (Hugo's default: lower-case path, no extension)."""
    base = base.rstrip("/")
    if isinstance(front.get("url"), str):
        return base + "/" + front["url"].lstrip("/")
    parts = list(rel.parts[1:] if rel.parts[:1] == ("content",) else rel.parts)
    parts[-1:] = [] if rel.stem in ("_index", "index") else [rel.stem]  # index.md: a page bundle
    slug = front.get("slug")
    if isinstance(slug, str) and slug and parts and rel.stem != "_index":
        parts[-1] = slug
    path = "/".join(p.lower().replace(" ", "-") for p in parts)
    return f"{base}/{path}/" if path else f"{base}/"


def detect(path: Path) -> bool:
    """A Markdown file, or a folder with Markdown notes in it (looked for a few levels deep)."""
    if path.is_file():
        return path.name.lower().endswith(SUFFIXES)
    if not path.is_dir():
        return False
    if (path / ".obsidian").is_dir() or (path / "logseq" / "config.edn").is_file():
        return True
    seen = 0
    for folder, dirs, files in os.walk(path):
        if any(f.lower().endswith(SUFFIXES) for f in files):
            return True
        seen += len(files) + len(dirs)
        deep = folder.count(os.sep) - str(path).count(os.sep) >= 4
        dirs[:] = [] if deep else [d for d in dirs if not is_hidden(d)]
        if seen > 20_000:
            return False
    return False


def _factory(path: Path, *, source: str, **options: Any) -> MarkdownConnector:
    return MarkdownConnector(path, source=source, **options)


register(
    ConnectorSpec(
        format="markdown",
        description="Markdown notes: a folder, an Obsidian vault, a Logseq graph or a Hugo site",
        factory=_factory,
        detect=detect,
        priority=0,
    )
)
