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
question in another language gains almost nothing, so the vector order stands.

Three rules on top, each about evidence:

- equal scores are ordered by the lexical gain, so a word's only page is not beaten by a vector
  hit that merely ties with it;
- a chunk that holds a rare word of the query (a word, not a CJK bigram, on at most
  `~kbagent.indexes.lexical.RARE_CHUNKS` chunk: a made-up name, a project code) and covers at
  least `RARE_COVERAGE` of the query ranks above every chunk the words did not find (the Ctrl+F
  case: the word's own page is not buried under pages that only mean something similar);
- a *hollow* chunk — a page with nothing but its title, see
  :func:`kbagent.documents.has_content` — ranks below the best chunk with content unless the
  query's words are in it: a short text's embedding lands near every short query, so an empty
  note would otherwise top unrelated searches.

``scripts/bench_retrieval.py`` measures it against both single methods.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from kbagent.indexes.lexical import LexicalHit

# A rare word lifts its chunk only when that chunk holds at least this share of the query (by IDF
# weight): the word is what the question is about, not a stray name in a long question in another
# language, where the meaning match must stand (measured: without it, English→Japanese Recall@1
# on the mixed corpus falls from 0.26 to 0.18).
RARE_COVERAGE = 0.5


def fuse(
    vector: Sequence[tuple[str, float]],
    lexical: Sequence[LexicalHit],
    k: int,
    hollow: Collection[str] = (),
) -> list[tuple[str, float]]:
    """Combine (chunk_id, similarity) best-first vector hits with lexical hits; best first.

    ``hollow`` names the chunks that hold nothing but their page's title.
    """
    scores: dict[str, float] = {}
    gains: dict[str, float] = {}
    if vector:
        best = max(sim for _, sim in vector)
        last = min(sim for _, sim in vector)
        span = best - last
        for chunk_id, sim in vector:
            scores[chunk_id] = (sim - last) / span if span > 0 else 1.0
    found: set[str] = set()  # chunks holding some meaningful word of the query
    if lexical:
        top = max(h.score for h in lexical)
        for h in lexical:
            gain = h.coverage * (h.score / top if top > 0 else 0.0)
            scores[h.chunk_id] = scores.get(h.chunk_id, 0.0) + gain
            gains[h.chunk_id] = gain
            if h.coverage > 0:
                found.add(h.chunk_id)
    # Scores are raised or capped rather than the order overridden, so they stay in ranking order
    # for whoever shows or merges them; a tie goes to the chunk the rule favours (see the key).
    rare = {h.chunk_id for h in lexical if h.rare > 0 and h.coverage >= RARE_COVERAGE}
    unfound = [s for c, s in scores.items() if c not in found]
    if rare and unfound:
        floor = max(unfound)
        for c in rare:
            scores[c] = max(scores[c], floor)
    held = {c for c in hollow if c in scores and c not in found}
    solid = [s for c, s in scores.items() if c not in held]
    if held and solid:
        cap = max(solid)
        for c in held:
            scores[c] = min(scores[c], cap)
    # The sort is stable: a full tie keeps the vector side's order (inserted first).
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0] in held, -gains.get(item[0], 0.0)))
    return ranked[: max(k, 0)]
