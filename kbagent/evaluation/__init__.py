"""``kb eval``: how often the agent answers right, with its tools and without them, on sets kept apart by split.

Every set is labelled *train* (the model saw it, or the training corpora generate it), *dev* (never
trained on; for choosing settings) or *test* (never looked at while building; only to report);
data sets with a split plan (:mod:`kbagent.splits`) give the units of the one split asked for.

The kinds of question:

- arithmetic word problems (MAWPS, GSM8K, SVAMP-style), scored as the Toolformer paper does: the
  first number in the answer (here: in the text the user reads, tool calls removed) must equal the
  gold number;
- date questions, most of which need today's date (the paper's DATESET idea; the Calendar's clock
  is fixed per question) plus date/time arithmetic questions from a file (TRAM);
- note look-ups over an indexed folder: does the model call Search, is the page that holds the
  answer among the pages it cites;
- reading: JaQuAD and CMRC 2018 questions over their articles' paragraphs, and hand-written
  questions over real notes (``notes-real``), each set searching a corpus of its own: accuracy,
  page found, the reading ceiling, Search and Find rates, and "not in your notes" refusals.

Modules: :mod:`~kbagent.evaluation.items` (results; the questions are :class:`kbagent.questions.EvalItem`),
:mod:`~kbagent.evaluation.scoring`, :mod:`~kbagent.evaluation.sets`, :mod:`~kbagent.evaluation.reading_sets`,
:mod:`~kbagent.evaluation.notes_real`, :mod:`~kbagent.evaluation.corpus`,
:mod:`~kbagent.evaluation.data`, :mod:`~kbagent.evaluation.plan`,
:mod:`~kbagent.evaluation.running`, :mod:`~kbagent.evaluation.report`, and
:mod:`~kbagent.evaluation.session` (one whole run, as ``kb eval`` makes it).
"""

from __future__ import annotations

from kbagent.evaluation.data import MissingData, data_file, default_data_dir, locate_data
from kbagent.evaluation.items import ItemResult, SetResult
from kbagent.evaluation.notes_real import REAL_NOTE_QUESTIONS, load_real_note_questions, real_note_connectors
from kbagent.evaluation.plan import (
    CORPUS_SETS,
    SET_NAMES,
    SPLIT_SETS,
    EvalPlan,
    PlanRequest,
    SetInfo,
    build_plan,
    default_plan,
    parse_sets,
    resolve_sets,
)
from kbagent.evaluation.reading_sets import ReadingSet, article_key, load_reading_set
from kbagent.evaluation.report import (
    PAPER_RESULTS,
    TABLE_HEADER,
    detail_lines,
    render_markdown,
    replace_section,
    report_rows,
    run_info,
    table_rows,
    write_report,
)
from kbagent.evaluation.running import CallsDisabled, FixedClock, evaluate, reading_metrics, run_set
from kbagent.evaluation.scoring import (
    contains_answer,
    f1,
    first_number,
    gold_shown,
    numbers_match,
    page_cited,
    reading_f1,
    score,
    score_reading,
)
from kbagent.evaluation.session import EvalRun, EvalSetupError, run_eval
from kbagent.evaluation.sets import (
    SAMPLE_NOTE_QUESTIONS,
    SVAMP_STYLE,
    generated_arithmetic,
    generated_dates,
    gsm8k_answer,
    load_gsm8k,
    load_mawps,
    load_note_questions,
    load_tram,
    load_word_problems,
    questions_from_index,
)
from kbagent.questions import EvalItem

__all__ = [
    "CORPUS_SETS", "PAPER_RESULTS", "REAL_NOTE_QUESTIONS", "SAMPLE_NOTE_QUESTIONS", "SET_NAMES", "SPLIT_SETS",
    "SVAMP_STYLE", "TABLE_HEADER", "CallsDisabled", "EvalItem", "EvalPlan", "EvalRun", "EvalSetupError", "FixedClock",
    "ItemResult", "MissingData", "PlanRequest", "ReadingSet", "SetInfo", "SetResult", "article_key", "build_plan",
    "contains_answer", "data_file", "default_data_dir", "default_plan", "detail_lines", "evaluate", "f1",
    "first_number", "generated_arithmetic", "generated_dates", "gold_shown", "gsm8k_answer", "load_gsm8k",
    "load_mawps", "load_note_questions", "load_reading_set", "load_real_note_questions", "load_tram",
    "load_word_problems", "locate_data", "numbers_match", "page_cited", "parse_sets", "questions_from_index",
    "reading_f1", "reading_metrics", "real_note_connectors", "render_markdown", "replace_section", "report_rows",
    "resolve_sets", "run_eval", "run_info", "run_set", "score", "score_reading", "table_rows", "write_report",
]
