"""Where kbagent keeps its data, and the settings read from ``config.toml``."""

from __future__ import annotations

import os
import shutil
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

HOME_ENV = "KBAGENT_HOME"


def default_home() -> Path:
    """The data directory: ``$KBAGENT_HOME`` or the platform's user data dir."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("kbagent", appauthor=False))


@dataclass(frozen=True)
class Paths:
    """The files and folders inside one data directory."""

    home: Path

    @property
    def config(self) -> Path:
        """The user's settings file."""
        return self.home / "config.toml"

    @property
    def chroma(self) -> Path:
        """The embedded Chroma store."""
        return self.home / "chroma"

    @property
    def catalog(self) -> Path:
        """The SQLite file with the page catalogue and the lexical index."""
        return self.home / "catalog.sqlite3"

    @property
    def models(self) -> Path:
        """Converted model caches (safetensors, sentence-transformers folders)."""
        return self.home / "models"

    @property
    def logs(self) -> Path:
        """Log files (index runs, cron)."""
        return self.home / "logs"

    @property
    def lock(self) -> Path:
        """The lock that keeps two indexing runs apart."""
        return self.home / "index.lock"

    @property
    def conversations(self) -> Path:
        """Saved chat conversations."""
        return self.home / "conversations"

    @property
    def adapters(self) -> Path:
        """LoRA adapters made by ``kb train``."""
        return self.home / "adapters"

    def ensure(self) -> None:
        """Create the data directory and its sub-folders."""
        for p in (self.home, self.models, self.logs, self.conversations, self.adapters):
            p.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True)
class Config:
    """Settings from ``config.toml``; missing keys take the embedded defaults."""

    home: Path
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def paths(self) -> Paths:
        """The data directory layout."""
        return Paths(self.home)

    def get(self, dotted: str, default: Any = None) -> Any:
        """Look up ``section.key`` in the settings."""
        node: Any = self.raw
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    @property
    def chroma_url(self) -> str | None:
        """A Chroma server to use instead of the embedded store (env wins)."""
        return os.environ.get("KBAGENT_CHROMA_URL") or self.get("index.chroma_url")

    @property
    def models_dir(self) -> Path:
        """Where converted model caches live: ``[models] dir`` (shared between homes) or the data dir."""
        configured = self.get("models.dir")
        return Path(configured).expanduser() if configured else self.paths.models

    @property
    def sources(self) -> dict[str, dict[str, Any]]:
        """Configured sources by name (``[sources.NAME]`` tables)."""
        src = self.raw.get("sources", {})
        return {k: dict(v) for k, v in src.items()} if isinstance(src, dict) else {}

    def with_value(self, dotted: str, value: Any) -> Config:
        """A copy with ``section.key`` set (``None`` removes it)."""
        raw = _deep_copy(self.raw)
        node = raw
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value
        return Config(self.home, raw)

    def save(self) -> None:
        """Write the settings back to ``config.toml`` (mode 0600: it may name secrets files)."""
        self.paths.ensure()
        tmp = self.paths.config.with_suffix(".tmp")
        tmp.write_bytes(tomli_w.dumps(self.raw).encode())
        tmp.chmod(0o600)
        tmp.replace(self.paths.config)


def install_folder(built: Path, target: Path, ready: Callable[[], bool]) -> None:
    """Move a freshly built folder into place, replacing an old one.

    Build next to the target and rename, so a crash or a concurrent run never leaves a
    half-written folder that looks complete; if another process got there first and its folder
    is ``ready``, keep that one.
    """
    if target.exists():
        stale = Path(tempfile.mkdtemp(prefix=f".{target.name}-old-", dir=target.parent))
        target.rename(stale / "old")
        shutil.rmtree(stale, ignore_errors=True)
    try:
        built.rename(target)
    except OSError:
        if not ready():
            raise


def load_config(home: Path | str | None = None) -> Config:
    """Read ``config.toml`` from the data directory (empty settings if absent)."""
    h = Path(home).expanduser() if home is not None else default_home()
    path = Paths(h).config
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return Config(h, raw)


class ConfigError(Exception):
    """The settings file could not be read."""


def _deep_copy(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in d.items()}
