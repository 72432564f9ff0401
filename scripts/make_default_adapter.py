"""Make the default LoRA adapter that ships in ``kbagent/data/adapters/default`` (reproducibly).

The data comes only from :mod:`kbagent.corpora` (generated arithmetic word problems, date questions
and fictional notes, Apache-2.0) plus, for plain text, an optional folder of openly licensed
Markdown (``--plain``; the shipped adapter used the MIT-licensed Logseq documentation graph from
``shared/data/logseq-docs``). The fictional notes are indexed into a throw-away knowledge base so that
Search runs for real. Everything is seeded; the same arguments give the same data and adapter.

    python scripts/make_default_adapter.py --threads 1
    python scripts/make_default_adapter.py --dry-run      # only make and summarise the data
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--out", type=Path, default=ROOT / "kbagent" / "data" / "adapters" / "default")
    ap.add_argument("--work", type=Path, default=Path("/tmp/kbagent-default-adapter"))
    ap.add_argument("--models-dir", type=Path, default=None, help="converted models (default: the data dir's)")
    ap.add_argument("--plain", type=Path, default=ROOT.parent / "shared" / "data" / "logseq-docs" / "pages")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (1 is fastest on a busy machine)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pages", type=int, default=100, help="fictional note pages")
    ap.add_argument("--per-page", type=int, default=3, help="questions per page that need one Search")
    ap.add_argument("--compound", type=float, default=0.5,
                    help="share of pages that also get a Search-then-Calculator question")
    ap.add_argument("--arithmetic", type=int, default=1600)
    ap.add_argument("--stories", type=float, default=0.25,
                    help="extra share of arithmetic questions told with pronouns (several wordings per kind)")
    ap.add_argument("--dates", type=int, default=200)
    ap.add_argument("--note-texts", type=int, default=4)
    ap.add_argument("--arithmetic-texts", type=int, default=3)
    ap.add_argument("--dated-texts", type=int, default=3)
    ap.add_argument("--qa-tau-f", type=float, default=0.25)
    ap.add_argument("--top-k", type=int, default=2, help="positions per text (paper: 5)")
    ap.add_argument("--samples", type=int, default=3, help="calls per position (paper: 5)")
    ap.add_argument("--calc-top-k", type=int, default=3, help="calculator positions per text (paper: 20)")
    ap.add_argument("--calc-samples", type=int, default=3, help="calculator calls per position (paper: 10)")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--max-tokens", type=int, default=256,
                    help="tokens per training sequence (a note question with its Search result needs ~220)")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data",
                    help="folder with jaquad-train, cmrc2018-train, gsm8k-train, logseq-docs (their train splits only)")
    ap.add_argument("--reading-ja", type=int, default=700, help="JaQuAD reading examples")
    ap.add_argument("--reading-zh", type=int, default=700, help="CMRC 2018 reading examples")
    ap.add_argument("--reading-en", type=int, default=200, help="questions about Logseq documentation pages")
    ap.add_argument("--gsm8k", type=int, default=600, help="GSM8K problems as Calculator calls")
    ap.add_argument("--gsm8k-form", choices=("compound", "chain"), default="compound",
                    help="one folded Calculator call per problem, or one call per step")
    ap.add_argument("--gsm8k-max-steps", type=int, default=4, help="GSM8K problems with more steps are left out")
    ap.add_argument("--articles", type=int, default=260, help="articles per reading set indexed (distractors)")
    ap.add_argument("--line-embedding", action="store_true",
                    help="choose the lines of training Search results with the embedder too, as kb ask does "
                         "(about a second per weakly matching result on 2 cores; off: words only)")
    ap.add_argument("--init-adapter", type=Path, default=None,
                    help="start from this adapter (e.g. the shipped one) instead of a fresh LoRA")
    ap.add_argument("--reuse-data", action="store_true", help="train on the work folder's data.jsonl")
    ap.add_argument("--replace-gsm8k", action="store_true",
                    help="with --reuse-data: the GSM8K examples made again (--gsm8k, --gsm8k-form)")
    ap.add_argument("--keep-refusals", type=float, default=1.0,
                    help="share of the not-in-your-notes examples kept for fine-tuning (seeded)")
    ap.add_argument("--reuse-generated", action="store_true",
                    help="keep the work folder's index and filtered corpus examples (generated.jsonl); "
                         "make only the data-set mix again")
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()

    import torch
    from kbagent.indexes.embedders import load_embedder, prepare_embedder

    from kbagent import corpora
    from kbagent import training as T
    from kbagent.config import load_config
    from kbagent.knowledgebase import KnowledgeBase
    from kbagent.models import LocalModel

    if args.threads:
        torch.set_num_threads(args.threads)
    models_dir = args.models_dir or load_config().models_dir
    rng = random.Random(args.seed)
    args.work.mkdir(parents=True, exist_ok=True)
    data_file = args.work / "data.jsonl"

    # the fictional notes, indexed for real
    pages = corpora.synthetic_notes(args.pages, rng)
    notes = args.work / "notes"
    shutil.rmtree(notes, ignore_errors=True)
    notes.mkdir(parents=True)
    for page in pages:
        (notes / f"{page.title}.md").write_text(page.text + "\n", encoding="utf-8")
    home = args.work / "home"
    generated_file = args.work / "generated.jsonl"
    if not args.reuse_generated:
        shutil.rmtree(home, ignore_errors=True)
    prepare_embedder(models_dir)
    kb = KnowledgeBase(home, embedder=load_embedder(models_dir))
    stats = kb.index_path(notes, source="notes", remember=False)
    print(f"indexed {stats.added} fictional pages", file=sys.stderr)

    lm = LocalModel.load(args.model, models_dir)
    # τs and τf stay the paper's; k and m are smaller, because sampling is the slow part on a CPU
    sampling = T.with_sampling(T.PAPER_SAMPLING, top_k=args.top_k, samples=args.samples,
                               calc_top_k=args.calc_top_k, calc_samples=args.calc_samples)
    gen = T.DataGenerator(lm, searcher=kb, sampling=sampling, seed=args.seed, qa_tau_f=args.qa_tau_f,
                          max_call_tokens=16)

    if args.reuse_data and data_file.exists():
        examples = T.read_jsonl(data_file)
        summary = json.loads((args.work / "data-summary.json").read_text(encoding="utf-8"))
        if args.replace_gsm8k:
            from kbagent.training_mix import MixStats

            gsm = MixStats()
            examples = [e for e in examples if e.origin != "arithmetic:gsm8k"] + gsm8k_examples(args, rng, gsm)
            summary = {**summary, "gsm8k_replaced": gsm.to_dict()}
    else:
        settings = T.DataSettings(arithmetic_questions=args.arithmetic, story_share=args.stories,
                                  date_questions=args.dates,
                                  arithmetic_texts=args.arithmetic_texts, dated_texts=args.dated_texts,
                                  seed=args.seed)
        qa_items, texts = T.builtin_sources(settings, rng)
        qa_items += corpora.note_questions(pages, rng, per_page=args.per_page, compound=args.compound)
        texts += T.note_sources(list(kb.chunks("notes")), args.note_texts, rng)
        t0 = time.perf_counter()
        last = [0.0]

        def progress(stage: str, done: int, total: int) -> None:
            if time.perf_counter() - last[0] > 30 or done == total:
                last[0] = time.perf_counter()
                print(f"  {stage}: {done}/{total} ({time.perf_counter() - t0:.0f}s) kept so far: "
                      f"{dict(gen.stats.kept)} qa {dict(gen.stats.qa_kept)}", file=sys.stderr, flush=True)

        if args.reuse_generated and generated_file.exists():
            examples = T.read_jsonl(generated_file)
        else:
            examples = T.generate(gen, qa_items, texts, progress=progress)
            T.write_jsonl(generated_file, examples)
        mix, mix_stats = skills_mix(args, kb, lm, rng)
        examples += mix
        seconds = time.perf_counter() - t0
        summary = {**gen.stats.to_dict(), "generation_seconds": round(seconds, 1),
                   "items_per_second": round((len(qa_items) + len(texts)) / seconds, 3),
                   "qa_items": len(qa_items), "texts": len(texts), "kept_examples": len(examples),
                   "skills_mix": mix_stats}
        T.write_jsonl(data_file, examples)
        (args.work / "data-summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    if args.keep_refusals < 1.0:
        # a model that refuses answerable questions (CMRC dev: 23 % with all of them) needs fewer
        keep = random.Random(args.seed)
        examples = [e for e in examples
                    if not e.origin.startswith("refusal:") or keep.random() < args.keep_refusals]
        summary = {**summary, "kept_after_refusal_sampling": len(examples)}
    print(json.dumps(summary, indent=2))
    if args.dry_run:
        return 0

    plain = [p.text for p in pages]
    if args.plain.is_dir():
        # Logseq documentation pages of the train split only: dev/test pages are asked about in evaluation
        from kbagent.connectors import open_path

        from kbagent.documents import Document
        from kbagent.splits import is_training

        docs = [d for d in open_path(args.plain.parent, source="logseq-docs").scan({})
                if isinstance(d, Document) and is_training("logseq-docs", d.title)]
        for d in sorted(docs, key=lambda d: d.id)[:120]:
            if len(d.text.strip()) > 200:
                plain.append(d.text.strip()[:600])
    base, heldout = T.split_plain(plain, 12, random.Random(args.seed))
    ft = T.FinetuneSettings(steps=args.steps, batch_size=args.batch_size, rank=args.rank, alpha=2 * args.rank,
                            learning_rate=args.lr, seed=args.seed, max_tokens=args.max_tokens,
                            init_adapter=str(args.init_adapter or ""))
    t0 = time.perf_counter()

    def show(p: T.TrainProgress) -> None:
        if p.step % 5 == 0 or p.step == p.steps:
            print(f"  step {p.step}/{p.steps} loss {p.loss:.3f} ({p.seconds_per_step:.1f}s/step, "
                  f"{time.perf_counter() - t0:.0f}s)", file=sys.stderr, flush=True)

    info = {"origin": "scripts/make_default_adapter.py", "data": summary, "args": {
        k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in ("out", "work", "models_dir")
    }, "plain_text": "fictional notes + " + (str(args.plain.name) if args.plain.is_dir() else "none")}
    report = T.finetune(lm, examples, base, heldout, args.out, args.work / "checkpoints", ft, show, info)
    print(json.dumps(report.to_dict(), indent=2))
    return 0


def skills_mix(args: argparse.Namespace, kb: Any, lm: Any, rng: random.Random) -> tuple[list[Any], dict[str, Any]]:
    """Reading (ja, zh, en), not-in-your-notes and GSM8K examples from the data sets' train splits."""
    from kbagent.connectors import open_path
    from kbagent.connectors.documents import DocumentsConnector

    from kbagent.documents import Document
    from kbagent.reading import LineSelector, tokenizer_counter
    from kbagent.splits import is_training
    from kbagent.tools import Find, Search
    from kbagent.training import note_qa_items
    from kbagent.training_mix import (
        MixStats,
        ReadingItem,
        paragraph_documents,
        reading_examples,
        squad_items,
    )

    stats = MixStats()
    t0 = time.perf_counter()
    sets: dict[str, list[ReadingItem]] = {}
    for name, folder, dataset in (("ja", "jaquad-train", "jaquad-train"), ("zh", "cmrc2018-train", "cmrc2018")):
        items = squad_items(args.data / folder / "train.json", dataset)
        articles = sorted({it.article for it in items})
        keep = set(rng.sample(articles, min(args.articles, len(articles))))
        sets[name] = [it for it in items if it.article in keep]
        kb.index(DocumentsConnector(dataset, paragraph_documents(sets[name])), format="dataset")
        print(f"indexed {name}: {len(keep)} articles, {len(sets[name])} questions "
              f"({time.perf_counter() - t0:.0f}s)", file=sys.stderr, flush=True)
    logseq = args.data / "logseq-docs"
    docs = [d for d in open_path(logseq, source="logseq-docs").scan({})
            if isinstance(d, Document) and is_training("logseq-docs", d.title)]
    kb.index(DocumentsConnector("logseq-docs", docs), format="dataset")
    selector = LineSelector(tokenizer_counter(lm), kb.embedder if args.line_embedding else None)
    search, find = Search(kb, selector=selector), Find(kb, selector=selector)
    examples = []
    for name, n in (("ja", args.reading_ja), ("zh", args.reading_zh)):
        examples += reading_examples(sets[name], search, find, n, rng, stats=stats)
        print(f"reading {name}: {dict(stats.made)} ({time.perf_counter() - t0:.0f}s)", file=sys.stderr, flush=True)
    en_items = [ReadingItem("logseq-docs", q.page, q.page, "", q.question, q.gold)
                for q in note_qa_items(kb.chunks("logseq-docs"), rng) if q.gold]
    en = [ReadingItem(it.dataset, it.article, it.doc_id, kb.page_text("logseq-docs", it.doc_id), it.question,
                      it.answer) for it in en_items]
    examples += reading_examples(en, search, find, args.reading_en, rng, stats=stats)
    examples += gsm8k_examples(args, rng, stats)
    summary = {**stats.to_dict(), "seconds": round(time.perf_counter() - t0, 1)}
    print(json.dumps(summary, ensure_ascii=False), file=sys.stderr, flush=True)
    return examples, summary


def gsm8k_examples(args: argparse.Namespace, rng: random.Random, stats: Any) -> list[Any]:
    """Up to ``--gsm8k`` train-split GSM8K problems as checked Calculator chains or one folded call."""
    from kbagent.training_mix import calculator_example, gsm8k_problems

    problems = gsm8k_problems(args.data / "gsm8k-train" / "train.jsonl")
    rng.shuffle(problems)
    out = []
    compound = args.gsm8k_form == "compound"
    for p in problems:
        if len(out) >= args.gsm8k:
            break
        ex = calculator_example(p, stats, max_steps=args.gsm8k_max_steps, compound=compound)
        if ex is not None:
            out.append(ex)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
