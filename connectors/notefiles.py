"""Note files on disk: walking a notes folder, decoding a file safely, its version and its link.

Shared by the file connectors (Markdown vaults, Readwise exports). Every problem with one file
becomes an `UnreadableFile` naming it, so a connector can report it and go on with the rest.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from kbagent.connectors import Failure

from kbagent.documents import normalize_text

# One note this big is a dump, not a note: embedding it would take many minutes and swamp search.
MAX_PAGE_BYTES = 10_000_000

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class UnreadableFile(Exception):
    """A note file that cannot be read as text; the message says why."""


def read_note(path: Path, max_bytes: int = MAX_PAGE_BYTES) -> str:
    """The text of a note file (UTF-8, or UTF-16 with a BOM), normalised.

    Raises `UnreadableFile` for a file that is too large, binary, not valid UTF-8 or not readable.
    """
    try:
        size = path.stat().st_size
        if size >= max_bytes:
            raise UnreadableFile(
                f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit for one page; "
                "split it into smaller notes"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(f"cannot read file: {exc.strerror or exc}") from exc
    return normalize_text(decode_note(data))


def decode_note(data: bytes) -> str:
    """Decode a file's bytes (not yet normalised); raises `UnreadableFile` for binary or invalid UTF-8."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise UnreadableFile(f"invalid {encoding} text at byte {exc.start}") from exc
    if b"\x00" in data:
        raise UnreadableFile("binary file (contains NUL bytes), not a text note")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UnreadableFile(f"not valid UTF-8 text (byte {exc.start}, line {line})") from exc


def file_version(st: os.stat_result) -> str:
    """A version string that changes whenever the file is rewritten: mtime (ns) and size."""
    return f"{st.st_mtime_ns}:{st.st_size}"


def mtime(st: os.stat_result) -> datetime:
    """The file's modification time as an aware UTC datetime."""
    return datetime.fromtimestamp(st.st_mtime, UTC)


def is_hidden(name: str) -> bool:
    """Hidden files and folders (``.obsidian``, ``.git``, ``.trash``) are never notes."""
    return name.startswith(".")


def walk_notes(
    root: Path,
    suffixes: tuple[str, ...],
    skip_dir: Callable[[Path], bool] = lambda _p: False,
) -> Iterator[Path | Failure]:
    """Files under ``root`` with one of ``suffixes``, in a stable order, skipping hidden folders.

    A folder that cannot be listed is yielded as a `Failure` with ``listing=True``: the listing
    is incomplete, so nothing may be removed from the index because it seems to be gone.
    """
    errors: list[OSError] = []

    def listing_failures() -> Iterator[Failure]:
        while errors:
            exc = errors.pop(0)
            yield Failure(
                str(exc.filename or root),
                f"cannot list folder: {exc.strerror or exc}; pages in it are kept as they were",
                listing=True,
            )

    # os.walk reports a folder it cannot list through onerror and then skips it
    for folder, dirs, files in os.walk(root, onerror=errors.append):
        yield from listing_failures()
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not is_hidden(d) and not skip_dir(here / d))
        for name in sorted(files):
            if not is_hidden(name) and name.lower().endswith(suffixes):
                yield here / name
    yield from listing_failures()


def obsidian_vault(path: Path) -> Path | None:
    """The Obsidian vault (a folder with ``.obsidian/``) that contains ``path``, if any."""
    for folder in (path, *path.parents) if path.is_dir() else path.parents:
        if (folder / ".obsidian").is_dir():
            return folder
    return None


def note_link(path: Path, vault: Path | None = None) -> str:
    """A link that opens the note: an ``obsidian://`` URI inside a vault, else a ``file://`` URI."""
    path = path.absolute()
    if vault is not None:
        rel = path.relative_to(vault.absolute()).as_posix()
        if rel.lower().endswith(".md"):
            rel = rel[:-3]
        return f"obsidian://open?vault={quote(vault.name, safe='')}&file={quote(rel, safe='')}"
    return path.as_uri()
