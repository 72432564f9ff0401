"""Credentials for web services: looked up by name, never written to config, logs or the index.

A source's settings in ``config.toml`` hold only the *name* of each secret (``token_env =
"KINTONE_API_TOKEN"``). The name is looked up first in the environment, then in a secrets file
named by ``[credentials] file = "…"`` in ``config.toml``: a TOML table of ``NAME = "value"`` that
must be readable by its owner only (mode 0600). Every secret value that is read is also
registered for redaction, so :func:`redact` and :class:`RedactingFilter` can scrub it from any
message or log line.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, quote_plus

from kbagent.config import Config

MASK = "***"
_MIN_SECRET = 4  # shorter values would redact ordinary words; no real token is this short

_registry: set[str] = set()
_registry_lock = threading.Lock()


class CredentialError(Exception):
    """A credential is missing, or the secrets file is unsafe or unreadable."""


def register_secret(value: str) -> None:
    """Remember a secret value (and its URL-encoded forms) so that `redact` hides it."""
    if len(value) < _MIN_SECRET:
        return
    with _registry_lock:
        _registry.update({value, quote(value, safe=""), quote_plus(value)})


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    with _registry_lock:
        secrets = sorted(_registry, key=len, reverse=True)
    for s in secrets:
        if s in text:
            text = text.replace(s, MASK)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs registered secrets from each record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message with its redacted, already-formatted text."""
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            # the traceback text is formatted later by the handler; render and scrub it now
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


@dataclass(frozen=True, repr=False)
class Secret:
    """A secret value with its name; it prints as ``Secret(NAME=***)``, never as its value."""

    name: str
    value: str = field(compare=False)

    def __post_init__(self) -> None:
        register_secret(self.value)

    def reveal(self) -> str:
        """The secret value, for putting into a request header."""
        return self.value

    def __repr__(self) -> str:
        return f"Secret({self.name}={MASK})"

    __str__ = __repr__


class SecretSource(Protocol):
    """Something that yields a secret when a request needs it: a `Secret` or a `SecretRef`."""

    @property
    def name(self) -> str:
        """The secret's name (an environment variable or secrets-file key), safe to show."""
        ...

    def reveal(self) -> str:
        """The secret value (raises `CredentialError` when it cannot be found)."""
        ...


@dataclass(frozen=True)
class Credentials:
    """Looks secrets up by name: first in the environment, then in the secrets file."""

    file: Path | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ, compare=False)

    def get(self, name: str) -> Secret | None:
        """The named secret, or None when neither the environment nor the file has it."""
        value = self.environ.get(name)
        if not value and self.file is not None:
            value = load_secrets_file(self.file).get(name)
        return Secret(name, value) if value else None

    def require(self, name: str) -> Secret:
        """The named secret; a `CredentialError` that says where to put it when it is missing."""
        found = self.get(name)
        if found is None:
            where = f"the environment variable {name}"
            if self.file is not None:
                where += f" or the key {name} in {self.file}"
            raise CredentialError(f"credential {name} not found: set {where}")
        return found

    def ref(self, name: str) -> SecretRef:
        """A reference to the named secret that is looked up only when a request needs it."""
        return SecretRef(name, self)


@dataclass(frozen=True)
class SecretRef:
    """Names a secret without holding it; looked up in `Credentials` on each `reveal`."""

    name: str
    store: Credentials

    def reveal(self) -> str:
        """The secret value (raises `CredentialError` when it is missing)."""
        return self.store.require(self.name).reveal()


def credentials_for(config: Config) -> Credentials:
    """The credential store for a configuration: its ``[credentials] file`` plus the environment."""
    name = config.get("credentials.file")
    if not name:
        return Credentials()
    path = Path(str(name)).expanduser()
    if not path.is_absolute():
        path = config.home / path
    return Credentials(file=path)


def check_private(path: Path) -> None:
    """Refuse a secrets file that its group or other users could read or write."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise CredentialError(f"{path}: secrets file named in config.toml does not exist") from None
    except OSError as exc:
        raise CredentialError(f"{path}: cannot read secrets file: {exc.strerror}") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CredentialError(
            f"{path}: secrets file is accessible to other users (mode {stat.S_IMODE(mode):04o}); "
            f"run `chmod 600 {path}`"
        )


def load_secrets_file(path: Path) -> dict[str, str]:
    """Read a private (mode 0600) TOML file of ``NAME = "value"`` secrets."""
    check_private(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CredentialError(f"{path}: cannot read secrets file: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        # the parser's message quotes the offending line, which may be a secret
        raise CredentialError(f"{path}: secrets file is not valid TOML (NAME = \"value\" lines)") from None
    out = {k: v for k, v in data.items() if isinstance(v, str)}
    for value in out.values():
        register_secret(value)
    return out
