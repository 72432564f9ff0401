"""Sync speed of the live connectors against their APIs served from a local process.

For each service (Scrapbox, Readwise, kintone, Confluence) with N pages (default 5,000): pages/s
of a first sync (everything fetched) and the time of a no-change sync (listing only), measured
at the connector (``scan`` fully consumed). With ``--kb`` the Scrapbox project is also synced
through the knowledge base (real e5 embeddings and Chroma in a temporary data directory), where
embedding dominates the first sync.

    python scripts/bench_sync.py [--pages 5000] [--latency-ms 50] [--workers 4] [--kb] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_services import (
    FakeServices,
    confluence_page,
    kintone_record,
    readwise_book,
    scrapbox_page,
)
from kbagent.connectors import Document, Failure, Unchanged

from kbagent.credentials import Secret

LINES = [
    "来週の定例では予算の見直しと採用計画を話し合う。",
    "The migration plan moves the search index to the new cluster in two steps.",
    "今天讨论了新版本的发布时间和测试范围。",
    "[Design review] notes: keep the API small, document every error.",
    " 担当: 佐藤さん、期限は月末",
    "Open question: do we keep the old endpoints for one more release?",
]


def _body(i: int) -> list[str]:
    return [f"{LINES[(i + k) % len(LINES)]} ({i}-{k})" for k in range(8)]


def _fill(fake: FakeServices, n: int) -> None:
    fake.scrapbox["bench"] = {
        f"p{i}": scrapbox_page(f"p{i}", f"Page {i}", _body(i), 1_700_000_000 + i) for i in range(n)
    }
    when = "2024-01-01T00:00:00Z"
    fake.readwise = {
        i: readwise_book(i, f"Book {i}", [(i * 10 + k, line, when) for k, line in enumerate(_body(i)[:3])])
        for i in range(1, n + 1)
    }
    fake.kintone["1"] = {
        i: kintone_record(i, f"案件 {i}", "\n".join(_body(i)), "2024-04-01T09:00:00Z") for i in range(1, n + 1)
    }
    html = "".join(f"<p>{line}</p>" for line in _body(0))
    fake.confluence["BENCH"] = {
        str(i): confluence_page(str(i), "BENCH", f"Page {i}", html, "2024-05-01T00:00:00.000Z") for i in range(1, n + 1)
    }


def _serve(n: int, latency: float, ready: Any, stop: Any) -> None:
    fake = FakeServices(confluence_max_limit=100, latency=latency)
    _fill(fake, n)
    fake.start()
    ready.put(fake.url)
    stop.wait()
    fake.stop()


def _connectors(url: str, state: Path, workers: int) -> dict[str, Callable[[], Any]]:
    from kbagent.connectors.confluence import ConfluenceSpace
    from kbagent.connectors.kintone import KintoneApp
    from kbagent.connectors.readwise_api import ReadwiseApi
    from kbagent.connectors.scrapbox_api import ScrapboxApi

    return {
        "scrapbox": lambda: ScrapboxApi("bench", site=url, workers=workers),
        "readwise": lambda: ReadwiseApi(token=Secret("READWISE_TOKEN", "rw-token"), base_url=url, state_path=state),
        "kintone": lambda: KintoneApp(url, 1, token=Secret("KINTONE_API_TOKEN", "kt-token")),
        "confluence": lambda: ConfluenceSpace(f"{url}/wiki", "BENCH", token=Secret("CONFLUENCE_TOKEN", "cf-token"),
                                              page_size=100, workers=workers),
    }


def _scan(make: Callable[[], Any], known: dict[str, str]) -> tuple[float, dict[str, str], int, int]:
    connector = make()
    start = time.perf_counter()
    versions: dict[str, str] = {}
    unchanged = failed = 0
    for item in connector.scan(known):
        if isinstance(item, Document):
            versions[item.id] = item.version
        elif isinstance(item, Unchanged):
            unchanged += 1
        elif isinstance(item, Failure):
            failed += 1
    return time.perf_counter() - start, versions, unchanged, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=5000)
    parser.add_argument("--latency-ms", type=float, default=0, help="delay the server adds to every answer")
    parser.add_argument("--workers", type=int, default=4, help="pages fetched at once (Scrapbox, Confluence)")
    parser.add_argument("--only", nargs="*", help="only these services (scrapbox readwise kintone confluence)")
    parser.add_argument("--kb", action="store_true", help="also sync the Scrapbox project through the knowledge base")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    ctx = mp.get_context("spawn")
    ready, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve, args=(args.pages, args.latency_ms / 1000, ready, stop), daemon=True)
    server.start()
    url = ready.get(timeout=300)
    results: dict[str, Any] = {"pages": args.pages, "latency_ms": args.latency_ms, "workers": args.workers}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, make in _connectors(url, Path(tmp) / "readwise.json", args.workers).items():
                if args.only and name not in args.only:
                    continue
                first, versions, _, failed = _scan(make, {})
                again, _, unchanged, failed2 = _scan(make, versions)
                assert len(versions) == args.pages and unchanged == args.pages and failed == failed2 == 0, name
                results[name] = {
                    "first_sync_s": round(first, 2),
                    "first_sync_pages_per_s": round(args.pages / first),
                    "no_change_sync_s": round(again, 3),
                }
                print(f"{name:10s} first sync {first:6.2f} s ({args.pages / first:6.0f} pages/s)   "
                      f"no-change sync {again:6.3f} s", flush=True)
            if args.kb:
                results["kb_scrapbox"] = _bench_kb(url, Path(tmp), args.pages)
    finally:
        stop.set()
        server.join(timeout=10)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def _bench_kb(url: str, tmp: Path, pages: int) -> dict[str, float]:
    import os

    from kbagent.connectors.scrapbox_api import ScrapboxApi
    from kbagent.indexes.embedders import load_embedder, prepare_embedder

    from kbagent import KnowledgeBase

    models = Path(os.environ["KBAGENT_HOME"]) / "models" if os.environ.get("KBAGENT_HOME") else tmp / "models"
    prepare_embedder(models)
    with KnowledgeBase(home=tmp / "home", embedder=load_embedder(models)) as kb:
        start = time.perf_counter()
        first = kb.index(ScrapboxApi("bench", site=url))
        t_first = time.perf_counter() - start
        start = time.perf_counter()
        again = kb.index(ScrapboxApi("bench", site=url))
        t_again = time.perf_counter() - start
    assert first.added == pages and again.unchanged == pages, (first, again)
    print(f"kb scrapbox first sync {t_first:6.1f} s ({pages / t_first:5.1f} pages/s, "
          f"{first.chunks_embedded} chunks embedded)   no-change re-index {t_again:5.2f} s", flush=True)
    return {"first_sync_s": round(t_first, 1), "first_sync_pages_per_s": round(pages / t_first, 1),
            "chunks_embedded": first.chunks_embedded, "no_change_sync_s": round(t_again, 2)}


if __name__ == "__main__":
    main()
