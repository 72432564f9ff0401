"""Fusing the vector and lexical rankings into one, trusting the lexical side only as far as it matched.

Plain reciprocal rank fusion weighs both lists equally, whatever they found. Across languages
(an English question over Japanese notes) the lexical list is noise that still has ranks, and RRF
lets it drag the right answer down (cross-lingual Recall@1 0.71 → 0.23 in design.md). So each
chunk's score is

    fused(d) = vec(d) + cov(d) · lex(d)

- ``vec(d)``: its cosine similarity rescaled over the vector list, best hit 1, last hit 0
  (0 when the vector side did not return it);
- ``lex(d)``: its lexical score relative to the best lexical hit, 0..1 (0 when absent);
- ``cov(d)``: how much of the query it contains (IDF-weighted share of the query's terms, see
  :mod:`kbagent.indexes.lexical`) — the lexical side's own evidence for this chunk.

A chunk that contains most of the query verbatim gains up to a whole vector-list's span and
rises to the top (the Ctrl+F case); a chunk that shares a stray number or a common word with a
question in another language gains almost nothing, so the vector order stands. There are no
tuned constants. ``scripts/bench_retrieval.py`` measures it against both single methods.
"""

from __future__ import annotations

from collections.abc import Sequence

from kbagent.indexes.lexical import LexicalHit


def fuse(
    vector: Sequence[tuple[str, float]],
    lexical: Sequence[LexicalHit],
    k: int,
) -> list[tuple[str, float]]:
    """Combine (chunk_id, similarity) best-first vector hits with lexical hits; best first."""
    scores: dict[str, float] = {}
    if vector:
        best = max(sim for _, sim in vector)
        last = min(sim for _, sim in vector)
        span = best - last
        for chunk_id, sim in vector:
            scores[chunk_id] = (sim - last) / span if span > 0 else 1.0
    if lexical:
        top = max(h.score for h in lexical)
        for h in lexical:
            gain = h.coverage * (h.score / top if top > 0 else 0.0)
            scores[h.chunk_id] = scores.get(h.chunk_id, 0.0) + gain
    # Stable sort: on a tie the vector side's order (inserted first) wins.
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    return ranked[: max(k, 0)]
