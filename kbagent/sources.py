"""Configured sources: the ``[sources.NAME]`` tables of ``config.toml``, and opening them.

A table names its ``format`` and either a ``path`` (a file connector, as ``kb index PATH``
remembers it) or the settings of a web-service connector (``project``, ``url``, ``app``,
``space`` …) together with the *names* of the credentials to use (``token_env``,
``cookie_env``); secret values never go into ``config.toml`` (see `kbagent.credentials`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbagent.config import Config
from kbagent.connectors import Connector, ConnectorSpec, Failure, Unchanged, formats, open_path
from kbagent.credentials import CredentialError, credentials_for, redact
from kbagent.documents import Document

# what `kb sources add KIND` calls each web service, and the connector format it is stored as
KINDS = {"scrapbox": "scrapbox_api", "readwise": "readwise_api", "kintone": "kintone", "confluence": "confluence"}
_PROVIDED = {"source", "credentials", "state_path"}  # filled in by open_source, not by settings
_SECRET_KEYS = re.compile(r"^(token|cookie|password|secret|api_?key|api_?token|connect\.?sid)$", re.I)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class SourceError(ValueError):
    """A source name or its settings are not usable; the message says what to change."""


@dataclass(frozen=True)
class SourceInfo:
    """One configured source, as ``kb sources list`` shows it (no secrets: only their names)."""

    name: str
    format: str
    settings: Mapping[str, Any]

    @property
    def summary(self) -> str:
        """The settings in one line, e.g. ``project=myproj cookie_env=SCRAPBOX_SID``."""
        return " ".join(f"{k}={v}" for k, v in self.settings.items() if k != "format")


@dataclass(frozen=True)
class Check:
    """The outcome of ``kb sources test``: could we connect, and how many pages are there."""

    name: str
    ok: bool
    pages: int | None
    message: str


def list_sources(config: Config) -> list[SourceInfo]:
    """Every configured source, by name."""
    return [
        SourceInfo(name, str(table.get("format", "")), dict(table))
        for name, table in sorted(config.sources.items())
    ]


def _spec(fmt: str) -> ConnectorSpec:
    specs = formats()
    if fmt not in specs:
        raise SourceError(f"unknown format {fmt!r}; known: {', '.join(sorted(specs))}")
    return specs[fmt]


def _check_settings(name: str, spec: ConnectorSpec, settings: Mapping[str, Any]) -> None:
    """Refuse secrets, unknown settings and missing required ones, naming each."""
    for key in settings:
        if _SECRET_KEYS.match(key):
            raise SourceError(
                f"{name}: secrets do not go into config.toml; put the value in an environment variable "
                f"(or the secrets file named by [credentials] file) and give its name, e.g. token_env = \"MY_TOKEN\""
            )
    if "path" in settings:
        return
    params = inspect.signature(spec.factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = {k for k in params if k not in _PROVIDED}
    unknown = sorted(set(settings) - allowed - {"format"})
    if unknown:
        raise SourceError(
            f"{name}: unknown setting(s) {', '.join(unknown)} for format {spec.format}; "
            f"known: {', '.join(sorted(allowed))}"
        )
    missing = sorted(
        k for k, p in params.items()
        if k in allowed and p.default is inspect.Parameter.empty and k not in settings
    )
    if missing:
        raise SourceError(f"{name}: format {spec.format} needs {', '.join(missing)}")


def add_source(config: Config, name: str, format: str, *, replace: bool = False, **settings: Any) -> Config:
    """Add (or with ``replace``, change) a ``[sources.NAME]`` table, save it and return the new config.

    ``format`` may be a connector format or a `KINDS` name (``scrapbox`` → ``scrapbox_api``).
    """
    if not _NAME.match(name):
        raise SourceError(f"{name!r}: a source name is letters, digits, '-', '_' or '.'")
    if name in config.sources and not replace:
        raise SourceError(f"{name}: a source of this name exists; remove it first or choose another name")
    fmt = KINDS.get(format, format)
    spec = _spec(fmt)
    clean = {k: v for k, v in settings.items() if v is not None and v != () and v != []}
    _check_settings(name, spec, clean)
    updated = config.with_value(f"sources.{name}", {"format": fmt, **clean})
    updated.save()
    return updated


def remove_source(config: Config, name: str) -> Config:
    """Take a source out of ``config.toml`` (its indexed pages stay until ``kb forget``); save."""
    if name not in config.sources:
        raise SourceError(f"no such source: {name} (see `kb sources list`)")
    updated = config.with_value(f"sources.{name}", None)
    updated.save()
    return updated


def state_path(config: Config, name: str) -> Path:
    """Where a source's connector may keep small state between runs (e.g. its last full sync)."""
    return config.paths.home / "sources" / f"{name}.json"


def open_source(config: Config, name: str) -> Connector:
    """The connector for a configured source (no network access yet)."""
    table = config.sources.get(name)
    if table is None:
        raise SourceError(f"no such source: {name} (see `kb sources list`)")
    settings = {k: v for k, v in table.items() if k != "format"}
    fmt = str(table.get("format", "auto"))
    if "path" in settings:
        path = settings.pop("path")
        return open_path(path, source=name, format=fmt, **settings)
    spec = _spec(fmt)
    _check_settings(name, spec, settings)
    params = inspect.signature(spec.factory).parameters
    extra: dict[str, Any] = {}
    if "state_path" in params:
        extra["state_path"] = state_path(config, name)
    return spec.factory(source=name, credentials=credentials_for(config), **settings, **extra)


def check_source(config: Config, name: str) -> Check:
    """Connect to a source and count its pages; a failed check says why (auth, network, settings)."""
    from kbagent.connectors.http import HttpError

    try:
        connector = open_source(config, name)
    except (CredentialError, SourceError, OSError, ValueError) as exc:
        return Check(name, False, None, redact(str(exc)))
    try:
        pages = _count(connector)
    except (HttpError, CredentialError, OSError, ValueError) as exc:
        return Check(name, False, None, redact(str(exc)))
    finally:
        close = getattr(connector, "close", None)
        if callable(close):
            close()
    if isinstance(pages, Failure):
        return Check(name, False, None, redact(str(pages)))
    return Check(name, True, pages, f"{pages} pages")


def _count(connector: Connector) -> int | Failure:
    """Pages in a source: its own ``count()`` if it has one, else by scanning it."""
    counter = getattr(connector, "count", None)
    if callable(counter):
        return int(counter())
    pages = 0
    for item in connector.scan({}):
        if isinstance(item, Failure):
            return item
        if isinstance(item, Document | Unchanged):
            pages += 1
    return pages
