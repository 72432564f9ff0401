"""Indexing benchmark: throughput against the raw embedding limit, unchanged re-index, search latency.

Generates a multilingual Markdown vault (Japanese, Chinese, English pages of varying length),
then in one process:

1. raw: embeds exactly the chunks the knowledge base will make, with the same embedder
   (the limit: indexing can only be as fast as the model);
2. index: ``KnowledgeBase.index_path`` on the vault into a fresh data directory;
3. re-index of the unchanged vault;
4. search latency over mixed-language queries (hybrid, the default);
5. `kb status` and `kb search` as commands on that data directory, each a new process
   (scripts/command_timing.py: start-up included, with the machine's load).

    python scripts/bench_index.py --pages 5000
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from command_timing import report as report_commands
from kbagent.indexes.embedders import load_embedder, prepare_embedder

from kbagent.config import default_home
from kbagent.documents import Chunker
from kbagent.knowledgebase import KnowledgeBase

JA = ["東京", "会議", "予算", "猫", "旅行", "読書", "計画", "駅", "料理", "天気", "研究", "写真", "山", "海", "電車"]
ZH = ["学习", "计划", "会议", "北京", "预算", "读书", "旅行", "天气", "朋友", "工作", "项目", "时间"]
EN = ["budget", "meeting", "travel", "roadmap", "garden", "recipe", "novel", "server", "deadline", "invoice", "river"]


def sentence(rng: random.Random, lang: str) -> str:
    if lang == "ja":
        a, b, c = rng.sample(JA, 3)
        return f"{a}の{b}について、{c}と合わせて{rng.randint(1, 99)}件を確認した。"
    if lang == "zh":
        a, b, c = rng.sample(ZH, 3)
        return f"今天{a}和{b}的{c}，一共{rng.randint(1, 99)}项。"
    a, b, c = rng.sample(EN, 3)
    return f"The {a} notes mention the {b} and the {c}, {rng.randint(1, 99)} items in total."


def make_vault(root: Path, pages: int, seed: int = 1) -> None:
    """Pages of 2–40 bullet lines (most short, some long enough to need several chunks)."""
    rng = random.Random(seed)
    for i in range(pages):
        lang = ("ja", "zh", "en")[i % 3]
        lines = [f"- {sentence(rng, lang)}" for _ in range(rng.choice((2, 4, 6, 10, 40)))]
        folder = root / f"d{i // 500:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"page-{i:05d}.md").write_text(f"# {lang} page {i}\n\n" + "\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=5000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--models-dir", type=Path, default=default_home() / "models")
    ap.add_argument("--command-runs", type=int, default=5, help="Timed runs of each kb command (0: none).")
    args = ap.parse_args()

    prepare_embedder(args.models_dir)
    embedder = load_embedder(args.models_dir)
    with tempfile.TemporaryDirectory() as tmp:
        vault = Path(tmp) / "vault"
        make_vault(vault, args.pages)
        home = Path(tmp) / "home"
        home.mkdir()
        (home / "config.toml").write_text(f'[models]\ndir = "{args.models_dir}"\n', encoding="utf-8")
        kb = KnowledgeBase(home=home, embedder=embedder)

        # the chunks indexing will embed, made the same way, outside the timed regions
        from kbagent.connectors import open_path

        connector = open_path(vault, source="bench", format="markdown")
        docs = [d for d in connector.scan({}) if hasattr(d, "text")]
        texts = [c.embed_text for d in docs for c in Chunker(embedder).chunk(d)]  # type: ignore[arg-type]
        embedder.embed_passages(texts[:64])  # warm-up

        t0 = time.perf_counter()
        for i in range(0, len(texts), 256):
            embedder.embed_passages(texts[i : i + 256])
        raw = time.perf_counter() - t0

        t0 = time.perf_counter()
        first = kb.index_path(vault, source="bench", remember=False)
        indexing = time.perf_counter() - t0

        t0 = time.perf_counter()
        again = kb.index_path(vault, source="bench", remember=False)
        unchanged = time.perf_counter() - t0
        assert again.chunks_embedded == 0 and again.unchanged == args.pages

        rng = random.Random(2)
        queries = [
            rng.choice([*JA, *ZH, *EN, "東京の会議の予算", "学习计划的时间", "travel budget meeting", "料理"])
            for _ in range(args.queries)
        ]
        kb.search("warm-up", k=5)
        lat = []
        for q in queries:
            t = time.perf_counter()
            kb.search(q, k=5)
            lat.append((time.perf_counter() - t) * 1000)
        lat.sort()
        p50 = statistics.median(lat)
        p95 = lat[int(0.95 * (len(lat) - 1))]
        kb.close()
        if args.command_runs:
            report_commands(home, ["travel budget meeting", "東京の会議の予算", "学习计划的时间"], args.command_runs)

    n = len(texts)
    print(f"{args.pages} pages, {n} chunks, embedder {embedder.name}")
    print(f"{'measure':<38} {'value':>12} {'ratio':>8}")
    print(f"{'raw embedding (baseline)':<38} {n / raw:>9.1f} c/s {1.0:>8.2f}")
    print(f"{'kb.index, first run':<38} {first.chunks_embedded / indexing:>9.1f} c/s "
          f"{(first.chunks_embedded / indexing) / (n / raw):>8.2f}")
    print(f"{'kb.index, unchanged re-run':<38} {unchanged:>10.2f} s {'':>8}")
    print(f"{'search p50 (hybrid, k=5)':<38} {p50:>9.1f} ms {'':>8}")
    print(f"{'search p95 (hybrid, k=5)':<38} {p95:>9.1f} ms {'':>8}")


if __name__ == "__main__":
    main()
