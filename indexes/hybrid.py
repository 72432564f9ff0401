"""Fusing the vector and lexical rankings into one."""

from __future__ import annotations

from collections.abc import Sequence

from kbagent.indexes.lexical import LexicalHit


def fuse(
    vector: Sequence[tuple[str, float]],
    lexical: Sequence[LexicalHit],
    k: int,
) -> list[tuple[str, float]]:
    """Combine (chunk_id, similarity) best-first vector hits with lexical hits; best first."""
    raise NotImplementedError
