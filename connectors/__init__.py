"""Connectors: each turns one kind of source (an export file, a folder, a web service) into Documents.

A connector module registers a `ConnectorSpec` with :func:`register`; ``kb index --format auto``
asks each registered spec whether it recognises a path. Third-party packages can add connectors
through the ``kbagent.connectors`` entry-point group (the entry point is a module to import).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

from kbagent.documents import Document


@dataclass(frozen=True)
class Unchanged:
    """The source says this page has not changed since the version we hold; it was not fetched."""

    doc_id: str


@dataclass(frozen=True)
class Failure:
    """A page, file or listing that could not be read, and why.

    ``doc_id`` names the page whose indexed copy must be kept as it is. ``listing`` means the
    source could not be listed completely, so nothing may be removed from it in this run.
    """

    location: str
    message: str
    doc_id: str | None = None
    listing: bool = False

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


ScanItem = Document | Unchanged | Failure


class Connector(Protocol):
    """Reads one source. ``known`` maps the ids indexed last time to their ``version``.

    A connector may also offer ``expected_pages() -> int``, a cheap count of the pages a scan will
    yield, which progress displays use as their total.
    """

    source: str

    def scan(self, known: Mapping[str, str]) -> Iterator[ScanItem]:
        """Yield every page of the source (or `Unchanged` / `Failure` in its place)."""
        ...


@dataclass(frozen=True)
class ConnectorSpec:
    """How to recognise and open one format."""

    format: str
    description: str
    factory: Callable[..., Connector]
    detect: Callable[[Path], bool] | None = None
    priority: int = 0  # higher is asked first by auto-detection


_REGISTRY: dict[str, ConnectorSpec] = {}
_BUILTIN = ("scrapbox", "markdown", "readwise", "scrapbox_api", "readwise_api", "kintone", "confluence")
_loaded = False


def register(spec: ConnectorSpec) -> ConnectorSpec:
    """Add a connector format to the registry."""
    _REGISTRY[spec.format] = spec
    return spec


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for name in _BUILTIN:
        try:
            importlib.import_module(f"kbagent.connectors.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"kbagent.connectors.{name}":
                raise
    for ep in entry_points(group="kbagent.connectors"):
        ep.load()


def formats() -> dict[str, ConnectorSpec]:
    """All registered formats by name."""
    _load()
    return dict(_REGISTRY)


class UnknownFormat(ValueError):
    """No connector recognises the path, or the format name is not registered."""


def detect(path: Path) -> ConnectorSpec:
    """The connector spec for a path, by asking each detector (highest priority first)."""
    _load()
    for spec in sorted(_REGISTRY.values(), key=lambda s: -s.priority):
        if spec.detect is not None and spec.detect(path):
            return spec
    raise UnknownFormat(
        f"{path}: could not tell what kind of notes these are; pass --format "
        f"({', '.join(sorted(f for f, s in _REGISTRY.items() if s.detect))})"
    )


def open_path(path: Path | str, *, source: str | None = None, format: str = "auto", **options: Any) -> Connector:
    """Open a file or folder with the named (or detected) format as a connector."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or folder")
    spec = resolve_format(p, format)
    return spec.factory(p, source=source or default_source_name(p), **options)


def resolve_format(path: Path, format: str = "auto") -> ConnectorSpec:
    """The spec for a format name, or the detected one for ``auto``."""
    _load()
    if format == "auto":
        return detect(path)
    if format not in _REGISTRY:
        raise UnknownFormat(f"unknown format {format!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[format]


def default_source_name(path: Path) -> str:
    """A source name from a path: the folder or file name without extension."""
    p = path.resolve()
    return (p.stem if p.is_file() else p.name) or "notes"
