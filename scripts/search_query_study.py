"""Which query finds the page: the model's own Search query, the user's question, or both fused?

Reads a ``kb eval`` report (dev split), takes the first Search query the model wrote for each
reading question, and searches the same corpus three ways: the model's query alone, the question
alone, and the two rankings fused (what the Search tool does). Prints page-found rates in the top 3.

    python scripts/search_query_study.py docs/eval/dev-previous-adapter.json --json docs/eval/search-query-study.json
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report", type=Path)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    from kbagent.indexes.embedders import load_embedder

    from kbagent.config import load_config
    from kbagent.evaluation.corpus import build_corpus, documents_source
    from kbagent.evaluation.data import data_file, locate_data
    from kbagent.evaluation.notes_real import load_real_note_questions, real_note_connectors
    from kbagent.evaluation.reading_sets import load_reading_set
    from kbagent.tools import fuse_rankings

    report = json.loads(args.report.read_text(encoding="utf-8"))
    split = report.get("split", "dev")
    if split != "dev":
        raise SystemExit("this study chooses a setting: run it on a dev report only")
    config = load_config()
    data = locate_data(args.data)
    work = args.work or config.paths.home / "eval"
    embedder = load_embedder(config.models_dir)
    rows: list[dict[str, Any]] = []
    for s in report["sets"]:
        name = s["name"]
        if name in ("reading-ja", "reading-zh"):
            dataset, lang = ("jaquad-dev", "ja") if name == "reading-ja" else ("cmrc2018", "zh")
            rs = load_reading_set(data_file(data, name), dataset, split, lang, n=report.get("limit"),
                                 seed=report.get("seed", 0))
            kb, _ = build_corpus(f"{name}-{split}", [documents_source(dataset, rs.documents)], work, embedder)
            pages = {it.question: it.page for it in rs.items}
        elif name == "notes-real":
            kb, _ = build_corpus("notes-real", list(real_note_connectors(data)), work, embedder)
            pages = {it.question: it.page for it in load_real_note_questions(split=split) if it.page}
        else:
            continue
        counts = {"query": 0, "question": 0, "fused": 0}
        n = 0
        for item in s["items"]:
            page = pages.get(item["question"])
            query = next((m.group(1) for c in item.get("calls", ())
                          if (m := re.match(r'Search\("?(.*?)"?\)$', c))), None)
            if not page or query is None:
                continue
            n += 1
            by_query = kb.search(query, args.k)
            by_question = kb.search(item["question"], args.k)
            fused = fuse_rankings(by_query, by_question, k=args.k)
            for key, hits in (("query", by_query), ("question", by_question), ("fused", fused)):
                counts[key] += any(page in (h.doc_id, h.title) for h in hits)
        row = {"set": name, "split": split, "n": n, **{k: round(v / max(n, 1), 3) for k, v in counts.items()}}
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps({"report": str(args.report), "k": args.k, "rows": rows}, indent=2),
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
