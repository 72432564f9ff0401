"""One ``kb eval`` from start to end: the index the note questions search, the plan, the model, the report."""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from kbagent.config import Config
from kbagent.evaluation.items import SetResult
from kbagent.evaluation.plan import PlanRequest, build_plan, resolve_sets
from kbagent.evaluation.report import run_info, write_report
from kbagent.evaluation.running import evaluate
from kbagent.evaluation.sets import load_note_questions, questions_from_index
from kbagent.indexes.embedders import Embedder, load_embedder
from kbagent.knowledgebase import IndexStats, KnowledgeBase, Progress
from kbagent.models import LanguageModel, LocalModel
from kbagent.splits import Split


class EvalSetupError(ValueError):
    """The sets, data or note questions asked for cannot be prepared; the message says why."""


@dataclass(frozen=True)
class EvalRun:
    """A finished evaluation: the model that answered, its prompt style, the results and the report file."""

    model: str
    prompt_style: str
    split: Split
    results: tuple[SetResult, ...]
    report: Path


def run_eval(
    request: PlanRequest,
    config: Config,
    model: str | LanguageModel,
    *,
    adapter: Path | None = None,
    notes: Path | None = None,
    questions: Path | None = None,
    work_dir: Path | None = None,
    report: Path | None = None,
    threads: int = 0,
    embedder: Callable[[], Embedder] | None = None,
    on_notes_indexed: Callable[[IndexStats], None] | None = None,
    on_index: Callable[[str, Progress], None] | None = None,
    progress: Callable[[str, bool, int, int], None] | None = None,
) -> EvalRun:
    """Evaluate a model on the request's sets and write the JSON report (after each set, and at the end).

    ``model`` is a packaged base model's name, loaded with ``adapter`` (None: the base model), or a
    loaded model. The note questions search ``notes`` indexed into a scratch index, else the user's
    index; they are read from ``questions`` or made from that index. The reading sets' corpora are
    kept under ``work_dir`` (default: ``<home>/eval``). The report goes to ``report`` (default:
    ``<home>/logs/eval-<model>.json``); ``threads`` is only recorded in it. Sets that cannot be
    prepared raise :class:`EvalSetupError` before any model is loaded.
    """
    embed = embedder or functools.cache(lambda: load_embedder(config.models_dir))
    with tempfile.TemporaryDirectory(prefix="kb-eval-") as scratch:
        if notes is not None:
            kb = KnowledgeBase(Path(scratch), embedder=embed())
            stats = kb.index_path(notes, remember=False)
            if on_notes_indexed is not None:
                on_notes_indexed(stats)
        else:
            kb = KnowledgeBase(config=config)
        try:
            if "notes" in resolve_sets(request):
                note_items = (load_note_questions(questions) if questions is not None
                              else questions_from_index(kb.chunks(), request.limit))
                request = replace(request, note_questions=tuple(note_items))
            plan = build_plan(request, work_dir=work_dir or config.paths.home / "eval", embedder=embed,
                              on_index=on_index)
        except (ValueError, OSError) as exc:
            kb.close()
            raise EvalSetupError(str(exc)) from exc
        try:
            lm = LocalModel.load(model, config.models_dir, adapter_path=adapter) if isinstance(model, str) else model
            style = getattr(lm, "prompt_style", "few-shot")
            target = report or config.paths.logs / f"eval-{lm.name.replace('+', '-')}.json"
            extra = run_info(split=request.split, seed=request.seed, limit=request.limit,
                             adapter=str(adapter) if adapter else None, prompt_style=style, data=request.data_dir,
                             threads=threads or None)
            results = evaluate(plan, lm, kb, config, progress=progress,
                               on_result=lambda so_far: write_report(target, lm.name, so_far, extra))
        finally:
            plan.close()
            kb.close()
    write_report(target, lm.name, results, extra)
    return EvalRun(lm.name, style, request.split, tuple(results), target)
