"""How often the text the model is shown holds the answer — the reading ceiling — with no model at all.

For every answerable question of the dev reading sets (JaQuAD, CMRC 2018, the hand-written real-notes
set), Search runs with the question as its query (a model's query is shorter; ``kb eval`` measures
that case) and the script records whether the question's page is among the hits and whether a gold
answer is inside the result text. Settings compared: the token budget, and whether lines are chosen
with the embedder's help. Dev sets only: settings are chosen here, test sets are for reporting.

    python scripts/reading_ceiling.py --limit 150 --json docs/eval/reading-ceiling.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=None, help="the shared data folder (default: as kb eval)")
    ap.add_argument("--work", type=Path, default=None, help="where the corpora are indexed (default: <home>/eval)")
    ap.add_argument("--limit", type=int, default=150, help="questions per set")
    ap.add_argument("--budgets", default="160,200,256")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import torch
    from kbagent.indexes.embedders import load_embedder

    from kbagent.config import load_config
    from kbagent.evaluation.corpus import build_corpus, documents_source
    from kbagent.evaluation.data import data_file, locate_data
    from kbagent.evaluation.notes_real import load_real_note_questions, real_note_connectors
    from kbagent.evaluation.reading_sets import load_reading_set
    from kbagent.evaluation.scoring import contains_answer, has_cjk
    from kbagent.models import LocalModel
    from kbagent.reading import LineSelector, tokenizer_counter
    from kbagent.tools import CallContext, Search

    torch.set_num_threads(args.threads)
    config = load_config()
    data = locate_data(args.data)
    work = args.work or config.paths.home / "eval"
    embedder = load_embedder(config.models_dir)
    counter = tokenizer_counter(LocalModel.load("gemma3-270m", config.models_dir))
    sets: list[tuple[str, Any, list[Any]]] = []
    for name, dataset, lang in (("reading-ja", "jaquad-dev", "ja"),
                              ("reading-zh", "cmrc2018", "zh")):
        rs = load_reading_set(data_file(data, name), dataset, "dev", lang, n=args.limit, seed=0)
        kb, _ = build_corpus(f"{name}-dev", [documents_source(dataset, rs.documents)], work, embedder)
        sets.append((name, kb, list(rs.items)))
    notes = [q for q in load_real_note_questions(split="dev") if not q.unanswerable][: args.limit]
    kb, _ = build_corpus("notes-real", list(real_note_connectors(data)), work, embedder)
    sets.append(("notes-real", kb, notes))

    rows: list[dict[str, Any]] = []
    for budget in (int(b) for b in args.budgets.split(",")):
        for embed in (False, True):
            selector = LineSelector(counter, embedder if embed else None)
            for name, kb, items in sets:
                search = Search(kb, selector=selector, budget=budget)
                found = shown = shown_found = 0
                t0 = time.perf_counter()
                for it in items:
                    out = search.run_in(it.question, CallContext(it.question))
                    page = any(it.page in (h.doc_id, h.title) for h in out.sources)
                    cjk = has_cjk(it.gold)
                    ok = any(contains_answer(out.text, a, cjk) for a in it.acceptable)
                    found += page
                    shown += ok
                    shown_found += ok and page
                n = len(items)
                row = {"set": name, "split": "dev", "budget": budget, "embedding": embed, "n": n,
                       "page_found": round(found / n, 3), "ceiling": round(shown / n, 3),
                       "ceiling_when_found": round(shown_found / max(found, 1), 3),
                       "ms_per_search": round(1000 * (time.perf_counter() - t0) / n, 1)}
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    print("| set (dev) | budget | line embedding | n | page found | answer shown | shown when found | ms/search |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['set']} | {r['budget']} | {'yes' if r['embedding'] else 'no'} | {r['n']} | "
              f"{100 * r['page_found']:.0f} % | {100 * r['ceiling']:.0f} % | {100 * r['ceiling_when_found']:.0f} % | "
              f"{r['ms_per_search']:.0f} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": platform.platform(), "threads": args.threads,
                                         "rows": rows}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
