"""Toolformer data generation and fine-tuning: the filter's arithmetic on a real model, then end to end."""

from __future__ import annotations

import json
import math
import random
from datetime import date
from pathlib import Path

import pytest

from kbagent import training as T
from kbagent.hits import Hit

TEXT = "The hall has 34 rows with 39 chairs each, so it seats 1326 people."


def test_loss_weights_are_the_papers() -> None:
    # w̃_t = max(0, 1 - 0.2 t) = 1, .8, .6, .4, .2 (then 0), normalised to sum to 1
    assert T.loss_weights() == pytest.approx([1 / 3, 0.8 / 3, 0.6 / 3, 0.4 / 3, 0.2 / 3])
    assert T.loss_weights(8)[5:] == [0.0, 0.0, 0.0]
    assert sum(T.loss_weights()) == pytest.approx(1.0)


def test_paper_defaults_and_overrides() -> None:
    assert T.PAPER_SAMPLING["Search"] == T.ToolSampling(tau_s=0.05, top_k=5, samples=5, tau_f=1.0)
    assert T.PAPER_SAMPLING["Calculator"] == T.ToolSampling(tau_s=0.0, top_k=20, samples=10, tau_f=0.5)
    changed = T.with_sampling(T.PAPER_SAMPLING, top_k=2, calc_samples=3)
    assert changed["Search"].top_k == 2 and changed["Calendar"].top_k == 2
    assert changed["Calculator"].top_k == 20 and changed["Calculator"].samples == 3


def test_kept_calls_are_inserted_and_their_results_are_not_learned() -> None:
    call = T.KeptCall("Calculator", "34 * 39", "1326", TEXT.index(" 1326"), 0.5, 2.0)
    pieces = T.text_with_calls(TEXT, [call])
    assert "".join(p for p, _ in pieces) == TEXT.replace(" 1326", " [Calculator(34 * 39) → 1326] 1326")
    assert [learn for _, learn in pieces] == [True, False, True]
    assert pieces[1] == (" 1326]", False)
    assert call.reduction == pytest.approx(1.5)


def test_question_answer_example_learns_the_call_and_the_answer_only() -> None:
    call = T.KeptCall("Calculator", "20 - 5", "15", 0, 0.2, 1.0)
    pieces = T.answer_pieces("Tom had 20 apples and ate 5. How many are left?", [call], "15 apples.")
    assert pieces == (
        ("Question: Tom had 20 apples and ate 5. How many are left?\nAnswer:", False),
        (" [Calculator(20 - 5) →", True),
        (" 15]", False),
        (" 15 apples.", True),
    )


def test_jsonl_records_tool_input_result_position_and_loss_reduction(tmp_path: Path) -> None:
    call = T.KeptCall("Search", '"Atlas deadline"', "(1) Project Atlas: Deadline: 2025-04-30", 12, 0.7, 2.2)
    ex = T.Example("text", T.text_with_calls("Atlas is due 2025-04-30.", [call]), (call,), "note:samples")
    path = tmp_path / "data.jsonl"
    assert T.write_jsonl(path, [ex]) == 1
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["calls"] == [{
        "tool": "Search", "input": '"Atlas deadline"', "result": "(1) Project Atlas: Deadline: 2025-04-30",
        "position": 12, "loss_reduction": 1.5, "loss_plus": 0.7, "loss_minus": 2.2,
    }]
    assert T.read_jsonl(path) == [ex]


class Pages:
    """A searcher over fixed hits (the Searcher protocol)."""

    def __init__(self, *titles: str) -> None:
        self.hits = [Hit(f"c{i}", t, "notes", t, "", f"text of {t}", 1.0 - i / 10) for i, t in enumerate(titles)]

    def search(self, query: str, k: int) -> list[Hit]:
        return self.hits[:k]


def test_search_for_training_never_returns_the_texts_own_page() -> None:
    searcher = T.ExcludingSearcher(Pages("Atlas", "Budget", "Meeting", "Plan"), [("notes", "Atlas")])
    assert [h.doc_id for h in searcher.search("atlas", 3)] == ["Budget", "Meeting", "Plan"]
    gen = T.DataGenerator.__new__(T.DataGenerator)  # no model needed to build tools
    gen.searcher, gen.search_k = Pages("Atlas", "Budget"), 3
    result = T.call_result(gen.tool("Search", page=("notes", "Atlas")), '"atlas"')
    assert result.startswith("(1) Budget:") and "Atlas" not in result


def test_calendar_answers_with_the_documents_own_date() -> None:
    assert T.call_result(T.calendar_on(date(2025, 3, 15)), "") == "Today is Saturday, March 15, 2025."
    assert T.date_in("2025-03-15", "journal/2025-03-15.md") == date(2025, 3, 15)
    assert T.date_in("会議メモ 2025年3月12日") == date(2025, 3, 12)
    assert T.date_in("Mar 5th, 2021") == date(2021, 3, 5)
    assert T.date_in("Project Atlas") is None


def test_calculator_heuristic_wants_a_computed_number() -> None:
    assert T.has_arithmetic(TEXT)  # 34 * 39 = 1326
    assert T.has_arithmetic("We had 1,200 yen and spent 450, leaving 750.")
    assert not T.has_arithmetic("Room 5, 12 people, 9 chairs.")
    assert not T.has_arithmetic("Only two numbers: 5 and 7.")


def test_sampled_text_is_read_as_a_call_of_the_prompted_tool_only() -> None:
    assert T._parse_sampled("Calculator", "[Calculator(34 * 39)] 1326") == "34 * 39"
    assert T._parse_sampled("Calculator", "[Calculator(34 * 39) →") == "34 * 39"
    assert T._parse_sampled("Search", '[Search("Atlas deadline")]') == '"Atlas deadline"'
    assert T._parse_sampled("Calculator", '[Search("x")]') is None
    assert T._parse_sampled("Calculator", "[Calculator(34 * 39") is None  # never closed
    assert T._parse_sampled("Calendar", "[Calendar()]") == ""


def test_note_questions_come_from_key_value_lines_and_titles() -> None:
    class Chunk:
        def __init__(self, title: str, text: str) -> None:
            self.title, self.text, self.doc_id, self.source = title, text, title + ".md", "notes"

    chunks = [Chunk("Project Atlas", "# Project Atlas\nDeadline: 2025-04-30\nOwner: Sato"),
              Chunk("京都旅行の計画", "京都旅行の計画\n3泊4日。宿は早めに予約済み。")]
    items = T.note_qa_items(chunks, random.Random(0), per_chunk=3)
    questions = {i.question: i for i in items}
    assert "What is the Deadline of Project Atlas?" in questions
    assert questions["What is the Deadline of Project Atlas?"].answer == "2025-04-30"
    assert "京都旅行の計画について何を書いた？" in questions
    assert all(i.calls[0].tool == "Search" and i.page for i in items)


def test_schedule_is_fixed_by_the_seed_and_mixes_in_plain_text() -> None:
    s = T.FinetuneSettings(steps=50, batch_size=4, seed=3, base_fraction=0.25)
    a, b = T._schedule(10, 5, s), T._schedule(10, 5, s)
    assert a == b
    slots = [kind for batch in a for kind, _ in batch]
    assert 0.15 < slots.count("base") / len(slots) < 0.35
    assert all(kind == "ex" for batch in T._schedule(10, 0, s) for kind, _ in batch)


# --- with a real (small) model ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_lm(models_dir: Path):
    from kbagent.models import LocalModel

    return LocalModel.load("smollm2-135m", models_dir)


def _direct_loss(lm, prefix: str, text: str, position_char: int) -> float:
    """L_i(z) computed the long way: one forward pass over z + x, weights applied by hand."""
    import torch

    x = T.Scorer(lm).tokenize(text)
    i = x.token_at(position_char)
    z = lm.encode(prefix) if prefix else []
    start = T.Scorer(lm).start
    ids = [*start, *z, *x.ids]
    with torch.inference_mode():
        logp = torch.log_softmax(lm.model(input_ids=torch.tensor([ids])).logits[0].float(), -1)
    offset = len(start) + len(z)
    total = 0.0
    for t, w in enumerate(T.loss_weights()):
        j = i + t
        if j < len(x.ids):
            total -= w * float(logp[offset + j - 1, x.ids[j]])
    return total


@pytest.mark.slow
def test_filter_losses_give_the_call_as_a_prefix(small_lm) -> None:
    scorer = T.Scorer(small_lm)
    x = scorer.tokenize(TEXT)
    pos = TEXT.index(" 1326")
    i = x.token_at(pos)
    (sc,) = T.score_calls(scorer, x, i, [("[Calculator(34 * 39) → 1326]", "[Calculator(34 * 39)]")])
    assert sc.loss_plus == pytest.approx(_direct_loss(small_lm, "[Calculator(34 * 39) → 1326]\n", TEXT, pos), abs=1e-3)
    assert sc.loss_no_result == pytest.approx(_direct_loss(small_lm, "[Calculator(34 * 39)]\n", TEXT, pos), abs=1e-3)
    assert sc.loss_empty == pytest.approx(_direct_loss(small_lm, "", TEXT, pos), abs=1e-3)
    assert sc.loss_minus == min(sc.loss_empty, sc.loss_no_result)
    assert sc.reduction == pytest.approx(sc.loss_minus - sc.loss_plus)


@pytest.mark.slow
def test_the_right_result_helps_more_than_a_wrong_one(small_lm) -> None:
    scorer = T.Scorer(small_lm)
    x = scorer.tokenize(TEXT)
    i = x.token_at(TEXT.index(" 1326"))
    right, wrong = T.score_calls(scorer, x, i, [
        ("[Calculator(34 * 39) → 1326]", "[Calculator(34 * 39)]"),
        ("[Calculator(34 * 39) → 517]", "[Calculator(34 * 39)]"),
    ])
    assert right.loss_plus < wrong.loss_plus
    assert right.reduction > wrong.reduction


@pytest.mark.slow
def test_batched_losses_equal_one_at_a_time(small_lm) -> None:
    scorer = T.Scorer(small_lm, batch_size=8)
    x = scorer.tokenize(TEXT)
    i = x.token_at(TEXT.index(" 39"))
    prefixes = [[], scorer.encode("[Search(\"hall seats\") → 39 chairs per row]\n"), scorer.encode("note\n")]
    batched = scorer.weighted_losses(prefixes, x.ids, i)
    single = [scorer.weighted_losses([p], x.ids, i)[0] for p in prefixes]
    assert batched == pytest.approx(single, abs=1e-4)
    # near the end of the text, only the tokens that exist count
    last = len(x.ids) - 1
    assert math.isfinite(scorer.weighted_losses([[]], x.ids, last)[0])


@pytest.mark.slow
def test_candidate_positions_are_the_most_likely_word_boundaries(small_lm) -> None:
    sampler = T.CallSampler(small_lm, seed=0)
    cands, state = sampler.candidates("Calculator", TEXT, tau_s=0.0, top_k=4)
    assert 0 < len(cands) <= 4
    assert [c.prob for c in cands] == sorted((c.prob for c in cands), reverse=True)
    assert all(T._boundary(TEXT, c.char) for c in cands)
    assert all(c.bracket in small_lm.bracket_ids for c in cands)
    inputs = sampler.sample("Calculator", TEXT, state, cands[0], m=3)
    assert len(inputs) <= 3 and len(set(inputs)) == len(inputs)


@pytest.mark.slow
def test_question_answer_examples_are_filtered_by_the_same_criterion(small_lm) -> None:
    from kbagent.corpora import CallSpec, QAItem

    item = QAItem("Tom had 742 stamps and gave away 617. How many stamps are left?",
                  (CallSpec("Calculator", "742 - 617"),), "125 stamps.", "125", "arithmetic")
    strict = T.DataGenerator(small_lm, qa_tau_f=100.0)
    assert strict.qa(item) is None
    lenient = T.DataGenerator(small_lm, qa_tau_f=-100.0)
    ex = lenient.qa(item)
    assert ex is not None and ex.kind == "qa"
    (call,) = ex.calls
    assert (call.tool, call.input, call.result) == ("Calculator", "742 - 617", "125")
    assert ex.text.endswith("Answer: [Calculator(742 - 617) → 125] 125 stamps.")
    assert strict.stats.qa_reductions["arithmetic"][0] == pytest.approx(call.reduction)


@pytest.mark.slow
def test_kb_train_makes_data_from_notes_trains_and_kb_ask_uses_the_adapter(tmp_path: Path, models_dir, embedder):
    from kbagent.adapters import read_info, resolve_adapter
    from kbagent.agent import build_agent
    from kbagent.config import load_config
    from kbagent.knowledgebase import KnowledgeBase
    from kbagent.models import load_language_model

    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "Project Atlas.md").write_text(
        "# Project Atlas\nDeadline: end of April\nOwner: Sato\n",
        encoding="utf-8")
    (notes / "Banana bread.md").write_text("# Banana bread\nOven: 175 °C for 55 minutes.\n", encoding="utf-8")
    (notes / "Running.md").write_text("# Running\nRan ten km this morning, a new best.\n", encoding="utf-8")
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(f'[models]\ndir = "{models_dir}"\n', encoding="utf-8")
    config = load_config(home)
    kb = KnowledgeBase(config=config, embedder=embedder)
    kb.index_path(notes, remember=False)

    data = T.DataSettings(note_texts=1, note_questions=2, arithmetic_questions=1, date_questions=1,
                          arithmetic_texts=0, dated_texts=0, heldout_texts=1)
    sampling = T.with_sampling(T.PAPER_SAMPLING, top_k=1, samples=2, calc_top_k=1, calc_samples=2)
    dry = T.train_from_notes(config, kb, model="smollm2-135m", data=data, sampling=sampling, qa_tau_f=-100.0,
                             dry_run=True)
    assert dry.report is None and dry.data_file.exists()
    assert dry.summary["qa_tried"]["notes"] == 2 and dry.summary["kept_examples"] >= 4
    assert resolve_adapter("smollm2-135m", config) is None  # a dry run trains nothing
    made = dry.data_file.stat().st_mtime_ns

    class Interrupted(Exception):
        pass

    steps: list[int] = []

    def stop_after_two(p: T.TrainProgress) -> None:
        steps.append(p.step)
        if p.step == 2:
            raise Interrupted

    settings = T.FinetuneSettings(steps=3, batch_size=2, checkpoint_every=1)
    with pytest.raises(Interrupted):
        T.train_from_notes(config, kb, model="smollm2-135m", data=data, sampling=sampling, qa_tau_f=-100.0,
                           settings=settings, train_progress=stop_after_two)
    result = T.train_from_notes(config, kb, model="smollm2-135m", data=data, sampling=sampling, qa_tau_f=-100.0,
                                settings=settings, train_progress=lambda p: steps.append(p.step))
    assert steps == [1, 2, 2, 3]  # the rerun resumed from the checkpoint saved after step 1
    assert result.data_file.stat().st_mtime_ns == made  # ... and reused the data instead of making it again
    report = result.report
    assert report is not None and report.steps == 3 and report.resumed_from == 1
    assert math.isfinite(report.perplexity_before) and math.isfinite(report.perplexity_after)
    adapter = home / "adapters" / "smollm2-135m"
    assert result.adapter == adapter and read_info(adapter).base_model == "smollm2-135m"
    assert (adapter / "adapter_model.safetensors").stat().st_size < 12_000_000  # rank 16, attention + MLP, fp16
    assert not (home / "adapters" / ".smollm2-135m-work" / "checkpoints").exists()

    # kb ask: the trained adapter is found in the data directory and sets the prompt
    assert resolve_adapter("smollm2-135m", config) == adapter
    lm = load_language_model("smollm2-135m", config)
    assert lm.name == "smollm2-135m+smollm2-135m" and lm.prompt_style == "bare"
    agent = build_agent(kb, config=config, model=lm, max_tokens=16)
    assert agent.prompt("When is the Atlas deadline?").text == "Question: When is the Atlas deadline?\nAnswer:"
    answer = agent.ask("When is the Atlas deadline?")
    assert answer.tokens > 0
    kb.close()


def _fake_adapter(folder: Path, base_model: str) -> Path:
    from kbagent.adapters import AdapterInfo, write_info

    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}", encoding="utf-8")
    write_info(folder, AdapterInfo(base_model=base_model))
    return folder


def test_kb_ask_prefers_configured_then_trained_then_shipped_adapter(tmp_path: Path, monkeypatch) -> None:
    from kbagent import adapters
    from kbagent.config import load_config

    shipped = _fake_adapter(tmp_path / "shipped", "gemma3-270m")
    monkeypatch.setattr(adapters, "SHIPPED", shipped)
    config = load_config(tmp_path / "home")
    assert adapters.resolve_adapter("gemma3-270m", config) == shipped
    assert adapters.resolve_adapter("smollm2-135m", config) is None  # made for another base model
    trained = _fake_adapter(tmp_path / "home" / "adapters" / "gemma3-270m", "gemma3-270m")
    assert adapters.resolve_adapter("gemma3-270m", config) == trained
    assert adapters.resolve_adapter("gemma3-270m", config.with_value("model.adapter", "none")) is None
    mine = tmp_path / "mine"
    assert adapters.resolve_adapter("gemma3-270m", config.with_value("model.adapter", str(mine))) == mine
    assert adapters.prompt_style(trained) == "bare" and adapters.prompt_style(None) == "few-shot"
    (trained / "adapter_config.json").unlink()  # half an adapter is never used
    assert adapters.resolve_adapter("gemma3-270m", config) == shipped
