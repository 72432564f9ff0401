"""What ``kb eval`` runs: question sets by name, each labelled train, dev or test, and the corpora they search.

Every set has one split, fixed by what the model may have seen of it:

- *train*: the training corpora generate it (the sample-notes questions, generated problems);
- *dev*: never trained on, but looked at or tuned against while building (SVAMP-style, dates, TRAM),
  or the dev units of a split data set;
- *test*: the test units of a split data set, only for reporting.

Data sets with a split plan (MAWPS, GSM8K, JaQuAD dev, CMRC 2018, the real notes) give the units
of the one split asked for (``--split dev|test``); a run never mixes the two.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kbagent.evaluation import sets as S
from kbagent.evaluation.corpus import build_corpus, documents_source
from kbagent.evaluation.data import MissingData, data_file
from kbagent.evaluation.notes_real import REAL_NOTE_QUESTIONS, load_real_note_questions, real_note_connectors
from kbagent.evaluation.overlap import corpora_signatures
from kbagent.evaluation.reading_sets import load_reading_set
from kbagent.questions import EvalItem
from kbagent.splits import Split

if TYPE_CHECKING:
    from kbagent.knowledgebase import IndexStats, Progress


@dataclass(frozen=True)
class SetInfo:
    """A set's split, what it is, and the searcher over its own corpus (None: the shared one)."""

    split: Split
    description: str = ""
    searcher: Any = field(default=None, compare=False, repr=False)


# A set nobody labelled claims nothing: it counts as seen in training.
UNLABELLED = SetInfo("train", "no split stated")


@dataclass(frozen=True)
class EvalPlan:
    """What ``kb eval`` runs: question sets by name, their labels, and with/without tools."""

    sets: dict[str, list[EvalItem]]
    with_tools: bool = True
    without_tools: bool = True
    info: Mapping[str, SetInfo] = field(default_factory=dict)

    def info_of(self, name: str) -> SetInfo:
        """The set's label (train when none was given)."""
        return self.info.get(name, UNLABELLED)

    def close(self) -> None:
        """Close the corpora's knowledge bases that the plan opened."""
        for info in self.info.values():
            close = getattr(info.searcher, "close", None)
            if callable(close):
                close()


# --- descriptions ------------------------------------------------------------------------------------

DESCRIPTIONS: dict[str, str] = {
    "mawps": "MAWPS word problems of the {split} split (by problem text), never trained on; problems that share "
             "a question template with the training corpora left out",
    "gsm8k": "GSM8K problems of the {split} split (by question text), training uses only train-split problems; "
             "problems that share a question template with the training corpora left out",
    "svamp": "100 SVAMP-style problems written for kbagent; in-distribution: the corpus templates were tuned "
             "against it",
    "dates": "generated date questions in phrasings the corpus does not use; dev: the phrasings were chosen "
             "while building",
    "tram": "TRAM date/time arithmetic; dev: its misses were read while building",
    "notes": "note look-ups over samples/notes; train: kbagent.corpora generates those very pages",
    "generated": "word problems from the training templates with an unused seed; train: in-distribution",
    "reading-ja": "JaQuAD dev questions over every paragraph of the {split} split's articles ({docs} paragraphs, "
                  "{articles} articles)",
    "reading-zh": "CMRC 2018 questions over every paragraph of the {split} split's articles ({docs} paragraphs, "
                  "{articles} articles); training uses only train-split articles",
    "notes-real": "hand-written questions about {split}-split pages of the Logseq docs and villagepump, over "
                  "all {docs} pages of both",
}


def describe(name: str, split: str, **counts: int) -> str:
    """A set's one-line description."""
    return DESCRIPTIONS[name].format(split=split, **counts)


# --- the legacy plan -----------------------------------------------------------------------------------


def default_plan(
    *,
    mawps: Path | None = None,
    tram: Path | None = None,
    note_questions: Sequence[EvalItem] = (),
    limit: int = 50,
    seed: int = 0,
    with_tools: bool = True,
    without_tools: bool = True,
    kinds: Sequence[str] = ("arithmetic", "svamp", "dates", "tram", "notes"),
    problems: Path | None = S.SVAMP_STYLE,
    split: Split = "dev",
) -> EvalPlan:
    """MAWPS of one split (or generated problems when no file is given), the SVAMP-style problems, date
    questions, TRAM if given, notes; each labelled with its split."""
    sets: dict[str, list[EvalItem]] = {}
    info: dict[str, SetInfo] = {}

    def add(name: str, key: str, items: list[EvalItem], label: Split) -> None:
        sets[name] = items
        info[name] = SetInfo(label, describe(key, label))

    if "arithmetic" in kinds and mawps is not None:
        add("MAWPS", "mawps", S.load_mawps(mawps, limit, seed, split=split, avoid=corpora_signatures()), split)
    elif "arithmetic" in kinds:
        add("arithmetic (generated, held out)", "generated", S.generated_arithmetic(limit), "train")
    if "svamp" in kinds and problems is not None:
        add("SVAMP-style (hand-written)", "svamp", S.load_word_problems(problems, limit, seed), "dev")
    if "dates" in kinds:
        add("dates (needs today)", "dates", S.generated_dates(limit), "dev")
    if tram is not None and "tram" in kinds:
        add("TRAM arithmetic", "tram", S.load_tram(tram, limit, seed, S.TRAM_CATEGORIES), "dev")
    if note_questions and "notes" in kinds:
        add("note look-up", "notes", list(note_questions)[:limit], "train")
    return EvalPlan(sets, with_tools, without_tools, info)


# --- the plan by set name ------------------------------------------------------------------------------

# Every set kb eval knows, in the order a plan runs them.
SET_NAMES = ("mawps", "gsm8k", "svamp", "dates", "tram", "generated", "notes", "reading-ja", "reading-zh",
             "notes-real")
# The sets that search a corpus of their own (indexed into the work folder).
CORPUS_SETS = ("reading-ja", "reading-zh", "notes-real")
# The sets whose units are split; the others have a fixed label.
SPLIT_SETS = ("mawps", "gsm8k", "reading-ja", "reading-zh", "notes-real")


@dataclass(frozen=True)
class PlanRequest:
    """What to evaluate: set names, the split of the split data sets, how many questions, where the data is.

    ``arithmetic`` is the old name of the word-problem set: MAWPS when its file is found, else the
    generated problems. ``sets`` None means the old default (arithmetic, svamp, dates, notes, and
    TRAM when its file is found).
    """

    sets: tuple[str, ...] | None = None
    split: Split = "dev"
    limit: int = 50
    seed: int = 0
    data_dir: Path | None = None
    mawps: Path | None = None
    tram: Path | None = None
    problems: Path = S.SVAMP_STYLE
    real_questions: Path = REAL_NOTE_QUESTIONS
    note_questions: tuple[EvalItem, ...] = ()
    with_tools: bool = True
    without_tools: bool = True


def parse_sets(text: str | None) -> tuple[str, ...] | None:
    """``reading-ja,gsm8k`` as names (None for empty); an unknown name is a ValueError listing the known."""
    if text is None or not text.strip():
        return None
    names = tuple(dict.fromkeys(n.strip().lower() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in SET_NAMES and n != "arithmetic"]
    if unknown:
        raise ValueError(f"unknown set {', '.join(unknown)}; known: arithmetic, {', '.join(SET_NAMES)}")
    return names


def resolve_sets(request: PlanRequest) -> tuple[str, ...]:
    """The set names a request runs, in plan order (``arithmetic`` resolved to mawps or generated)."""
    def found(name: str, override: Path | None) -> bool:
        try:
            data_file(request.data_dir, name, override)
        except MissingData:
            return False
        return True

    wanted = request.sets
    if wanted is None:
        wanted = ("arithmetic", "svamp", "dates", "notes") + (("tram",) if found("tram", request.tram) else ())
    names = set(wanted)
    if "arithmetic" in names:
        names.discard("arithmetic")
        names.add("mawps" if found("mawps", request.mawps) else "generated")
    return tuple(n for n in SET_NAMES if n in names)


def build_plan(
    request: PlanRequest,
    *,
    work_dir: Path | None = None,
    embedder: Callable[[], Any] | None = None,
    on_index: Callable[[str, Progress], None] | None = None,
) -> EvalPlan:
    """The sets of a request, with the corpora of reading sets indexed (or reused) under ``work_dir``.

    ``embedder`` is called (once) only when a corpus set is asked for. Missing data is a
    :class:`~kbagent.evaluation.data.MissingData` error naming the file.
    """
    names = resolve_sets(request)
    split, limit, seed = request.split, request.limit, request.seed
    sets: dict[str, list[EvalItem]] = {}
    info: dict[str, SetInfo] = {}
    loaded: list[Any] = []

    def the_embedder() -> Any:
        if embedder is None or work_dir is None:
            raise ValueError("reading sets need a work folder and an embedding model to index their corpus")
        if not loaded:
            loaded.append(embedder())
        return loaded[0]

    def corpus(name: str, sources: Sequence[Any]) -> tuple[Any, list[IndexStats]]:
        assert work_dir is not None  # the_embedder() checked
        progress = (lambda p: on_index(name, p)) if on_index else None
        return build_corpus(name, sources, work_dir, the_embedder(), progress)

    try:
        for name in names:
            if name == "mawps":
                items = S.load_mawps(data_file(request.data_dir, "mawps", request.mawps), limit, seed, split=split,
                                     avoid=corpora_signatures())
                sets[name], info[name] = items, SetInfo(split, describe(name, split))
            elif name == "gsm8k":
                items = S.load_gsm8k(data_file(request.data_dir, "gsm8k"), split, limit, seed,
                                     avoid=corpora_signatures())
                sets[name], info[name] = items, SetInfo(split, describe(name, split))
            elif name == "svamp":
                sets[name], info[name] = S.load_word_problems(request.problems, limit, seed), SetInfo(
                    "dev", describe(name, "dev"))
            elif name == "dates":
                sets[name], info[name] = S.generated_dates(limit), SetInfo("dev", describe(name, "dev"))
            elif name == "tram":
                items = S.load_tram(data_file(request.data_dir, "tram", request.tram), limit, seed,
                                    S.TRAM_CATEGORIES)
                sets[name], info[name] = items, SetInfo("dev", describe(name, "dev"))
            elif name == "generated":
                sets[name], info[name] = S.generated_arithmetic(limit), SetInfo("train", describe(name, "train"))
            elif name == "notes":
                if request.note_questions:
                    sets[name] = list(request.note_questions)[:limit]
                    info[name] = SetInfo("train", describe(name, "train"))
            elif name in ("reading-ja", "reading-zh"):
                dataset, lang = ("jaquad-dev", "ja") if name == "reading-ja" else ("cmrc2018", "zh")
                rs = load_reading_set(data_file(request.data_dir, name), dataset, split, lang, limit, seed)
                kb, _ = corpus(f"{name}-{split}", [documents_source(dataset, rs.documents)])
                sets[name] = list(rs.items)
                info[name] = SetInfo(split, describe(name, split, docs=len(rs.documents), articles=len(rs.articles)),
                                     kb)
            elif name == "notes-real":
                items = S.sample(load_real_note_questions(request.real_questions, split), limit, seed)
                if not items:
                    raise ValueError(f"{request.real_questions}: no notes-real questions in the {split} split")
                # one corpus for both splits: every page of both sources, whichever split is asked about
                kb, stats = corpus("notes-real", list(real_note_connectors(request.data_dir)))
                docs = sum(s.added + s.changed + s.unchanged for s in stats)
                sets[name], info[name] = items, SetInfo(split, describe(name, split, docs=docs), kb)
    except BaseException:
        EvalPlan(sets, info=info).close()
        raise
    return EvalPlan(sets, request.with_tools, request.without_tools, info)
