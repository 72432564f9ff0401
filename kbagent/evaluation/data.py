"""Where the public data sets lie, and a clear error naming the file when one is missing."""

from __future__ import annotations

import os
from pathlib import Path

ENV = "KBAGENT_SHARED_DATA"

# The files each data-backed set reads, relative to the data folder.
FILES: dict[str, str] = {
    "mawps": "mawps/MAWPS.json",
    "tram": "tram_arithmetic/arithmetic_saq.csv",
    "gsm8k": "gsm8k-train/train.jsonl",
    "reading-ja": "jaquad/dev",
    "reading-zh": "cmrc2018-train/train.json",
    "logseq-docs": "logseq-docs",
    "villagepump": "scrapbox-villagepump-pages/pages",
}


class MissingData(FileNotFoundError):
    """A set needs a data file that is not there."""


def default_data_dir() -> Path | None:
    """``$KBAGENT_SHARED_DATA``, else ``<repo>/../shared/data`` if it exists, else None."""
    env = os.environ.get(ENV)
    if env:
        return Path(env).expanduser()
    beside = Path(__file__).resolve().parents[3] / "shared" / "data"
    return beside if beside.is_dir() else None


def locate_data(explicit: Path | None = None) -> Path | None:
    """The data folder to read: the one given (it must exist), else :func:`default_data_dir`."""
    if explicit is not None:
        folder = Path(explicit).expanduser()
        if not folder.is_dir():
            raise MissingData(f"{folder}: no such data folder (--data)")
        return folder
    return default_data_dir()


def data_file(data_dir: Path | None, name: str, override: Path | None = None) -> Path:
    """The path of a set's data (``override`` wins); an error naming the file if it is missing."""
    if override is not None:
        if not Path(override).exists():
            raise MissingData(f"{override}: no such file")
        return Path(override)
    rel = FILES[name]
    if data_dir is None:
        raise MissingData(
            f"the {name} set reads <data>/{rel}, and no data folder was found: pass --data DIR or set {ENV} "
            "(default: ../shared/data beside the repository)")
    path = data_dir / rel
    if not path.exists():
        raise MissingData(f"the {name} set needs {path}, which does not exist")
    return path
