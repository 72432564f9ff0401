"""Write ``indexes/language_directions.json``: the directions multilingual-e5 moves a text in for its language.

For each language of ``indexes/language_pairs.json`` other than English, the mean difference
between the vectors of its sentences and those of the same sentences in English, once embedded as
passages and once as queries (e5's two prefixes move texts differently). kbagent takes these
directions out of query vectors (see :mod:`kbagent.indexes.languages`). Run it again whenever the
sentences or the embedding model change:

    python scripts/make_language_directions.py [--models DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from kbagent.indexes.embedders import MODEL_NAME, load_embedder, prepare_embedder
from kbagent.indexes.languages import DIRECTIONS

from kbagent.config import default_home

PAIRS = DIRECTIONS.with_name("language_pairs.json")


def main(argv: list[str] | None = None) -> None:
    """Embed the sentences and write the directions file."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=default_home() / "models", help="converted model cache")
    args = ap.parse_args(argv)
    prepare_embedder(args.models)
    model = load_embedder(args.models)
    sentences = json.loads(PAIRS.read_text(encoding="utf-8"))["sentences"]

    def vectors(lang: str) -> tuple[np.ndarray, np.ndarray]:
        texts = [s[lang] for s in sentences]
        return model.embed_passages(texts), np.stack([model.embed_query(t) for t in texts])

    en_passages, en_queries = vectors("en")
    directions: dict[str, list[list[float]]] = {}
    for lang in sorted(set(sentences[0]) - {"en"}):
        passages, queries = vectors(lang)
        directions[lang] = [
            [round(float(x), 6) for x in (passages - en_passages).mean(axis=0)],
            [round(float(x), 6) for x in (queries - en_queries).mean(axis=0)],
        ]
    out = {
        "about": "Made by scripts/make_language_directions.py from language_pairs.json: per language, the "
        "mean (language - English) difference of the sentences' passage vectors, then of their query vectors.",
        "model": MODEL_NAME,
        "sentences": len(sentences),
        "directions": directions,
    }
    DIRECTIONS.write_text(json.dumps(out, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{DIRECTIONS}: {', '.join(directions)} from {len(sentences)} sentences")


if __name__ == "__main__":
    main()
