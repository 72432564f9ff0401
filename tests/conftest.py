"""Shared test set-up: offline model loading and a data directory per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Converted model caches, shared by the whole session.

    ``scripts/test.sh`` points ``KBAGENT_HOME`` at the folder ``kb models prepare`` filled, so
    this costs nothing there; elsewhere the conversion runs once into a temporary folder.
    """
    from kbagent.indexes.embedders import prepare_embedder

    home = os.environ.get("KBAGENT_HOME")
    folder = Path(home) / "models" if home else tmp_path_factory.mktemp("models")
    prepare_embedder(folder)
    yield folder


@pytest.fixture(scope="session")
def embedder(models_dir: Path):
    """The real multilingual-e5-small embedder, loaded once."""
    from kbagent.indexes.embedders import load_embedder

    return load_embedder(models_dir)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public sample data beside the repository (``../shared/data``, or ``$KBAGENT_SHARED_DATA``)."""
    folder = Path(os.environ.get("KBAGENT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    if not folder.is_dir():
        pytest.skip(f"shared sample data not found at {folder}")
    return folder
