"""Local language models from the packaged weights: conversion, the tool loop, the KV cache."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from kbagent.agent import Agent
from kbagent.models import (
    MARKER_FILE,
    LocalModel,
    ModelError,
    StopScanner,
    converted_language_model,
    merge_adapter,
    prepare_language_model,
    quiet_gguf_reading,
)
from kbagent.tools import Calculator, Calendar

SMOL = "smollm2-135m"


@pytest.fixture(scope="module")
def smol(models_dir: Path) -> LocalModel:
    return LocalModel.load(SMOL, models_dir)


def test_stop_scanner_holds_back_what_may_start_a_stop_string() -> None:
    scanner = StopScanner(["->", "\n\n"])
    assert scanner.push("a -") == ("a ", None)
    assert scanner.push("-b") == ("--b", None)
    assert scanner.push(" c -") == (" c ", None)
    assert scanner.push(">3") == ("", "->")
    assert scanner.overflow == "3"


def test_unknown_model_name_says_which_exist(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="smollm2-135m"):
        prepare_language_model("gpt-17", tmp_path)


def test_the_gguf_reader_draws_no_progress_bar_while_a_model_converts(capsys: pytest.CaptureFixture[str]) -> None:
    from transformers import modeling_gguf_pytorch_utils as reader

    bar = reader.tqdm
    for _ in reader.tqdm(range(3), desc="Converting"):
        pass
    assert "Converting" in capsys.readouterr().err  # the bar `kb models prepare` used to print
    with quiet_gguf_reading():
        for _ in reader.tqdm(range(3), desc="Converting"):
            pass
    assert "Converting" not in capsys.readouterr().err
    assert reader.tqdm is bar


def test_missing_adapter_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a LoRA adapter"):
        merge_adapter(object(), tmp_path)


@pytest.mark.slow
def test_conversion_is_done_once(models_dir: Path, smol: LocalModel) -> None:
    folder = converted_language_model(SMOL, models_dir)
    assert folder is not None and json.loads((folder / MARKER_FILE).read_text())["model"] == SMOL
    t0 = time.perf_counter()
    assert prepare_language_model(SMOL, models_dir) == folder
    assert time.perf_counter() - t0 < 1.0
    assert not [p for p in models_dir.iterdir() if p.name.startswith(".lm-")]  # no leftovers


@pytest.mark.slow
def test_real_model_stops_at_the_arrow_and_goes_on_after_the_result(smol: LocalModel) -> None:
    answer = Agent(smol, [Calculator(), Calendar()], max_tokens=60).ask("What is 23 times 19?")
    assert [(c.tool, c.result) for c in answer.calls] == [("Calculator", "437")]
    after = answer.text.split("437]", 1)[1]
    assert after.strip(), "the model wrote on after the spliced result"


@pytest.mark.slow
def test_generation_stops_at_the_arrow_and_reads_the_fed_result(smol: LocalModel) -> None:
    prompt = (
        "Question: What is 12 times 7?\nAnswer: [Calculator(12*7) → 84] 84.\n\n"
        "Question: What is 9 times 6?\nAnswer:"
    )
    gen = smol.start(prompt)
    text = "".join(gen.stream(30, stop=["→", "\n\n"]))
    assert (text, gen.stop_reason, gen.stopped_on) == (" [Calculator(9*6) ", "stop", "→")
    gen.feed(" 54]")
    rest = "".join(gen.stream(10, stop=["\n"]))
    assert "54" in rest


@pytest.mark.slow
def test_kv_cache_reuse_reads_only_new_tokens_and_matches_a_full_reread(models_dir: Path, smol: LocalModel) -> None:
    prompt = "The capital of France is"
    cached = smol.start(prompt)
    cached.feed(" Paris. The capital of Japan is")
    first = "".join(cached.stream(8))
    read_before = len(cached.ids)
    cached.feed(" So")
    second = "".join(cached.stream(8))
    assert cached.stop_reason == "length"
    # the cache holds exactly what was read; a feed costs only its own tokens
    assert cached.cache.get_seq_length() == len(cached.ids)
    assert len(cached.ids) - read_before == len(smol.encode(" So")) + 8

    no_cache = LocalModel(smol.model, smol.tokenizer, "nocache", bos=smol.bos, kv_cache=False)
    fresh = no_cache.start(prompt)
    fresh.feed(" Paris. The capital of Japan is")
    assert "".join(fresh.stream(8)) == first
    fresh.feed(" So")
    assert "".join(fresh.stream(8)) == second


@pytest.mark.slow
def test_a_token_that_overshoots_the_stop_string_is_cut(smol: LocalModel) -> None:
    gen = smol.start("The capital of France is")
    assert "".join(gen.stream(5, stop=["ar"])) == " P"
    # the model reads " Par", not the whole " Paris" token it chose
    assert smol.decode(gen.pending) == " Par"


@pytest.mark.slow
def test_call_top_k_starts_a_call_when_a_bracket_is_likely_enough(smol: LocalModel) -> None:
    prompt = "Question: What is 23 times 19?\nAnswer:"
    assert not "".join(smol.start(prompt).stream(1)).strip().startswith("[")
    assert "".join(smol.start(prompt).stream(1, call_top_k=1000)).strip() == "["


@pytest.mark.slow
def test_adapter_hook_merges_a_peft_lora_adapter(tmp_path: Path, models_dir: Path, smol: LocalModel) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(prepare_language_model(SMOL, models_dir))
    # a fresh LoRA adapter is a no-op (B = 0), so generation must not change
    get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj", "v_proj"])).save_pretrained(tmp_path / "adapter")
    tuned = LocalModel.load(SMOL, models_dir, adapter_path=tmp_path / "adapter")
    assert tuned.name == f"{SMOL}+adapter"
    prompt = "The capital of France is"
    assert "".join(tuned.start(prompt).stream(6)) == "".join(smol.start(prompt).stream(6))


@pytest.mark.slow
def test_gemma_starts_with_bos_and_its_sliding_window_cache_matches_a_full_reread(models_dir: Path) -> None:
    gemma = LocalModel.load("gemma3-270m", models_dir)
    # longer than Gemma's 512-token sliding window, so the cache has to drop old positions
    prompt = "The cat sleeps on the windowsill. " * 80 + "The capital of France is"
    gen = gemma.start(prompt)
    assert gen.pending[0] == gemma.tokenizer.bos_token_id
    first = "".join(gen.stream(3))
    gen.feed(" The capital of Japan is")
    second = "".join(gen.stream(3))
    no_cache = LocalModel(gemma.model, gemma.tokenizer, "nocache", kv_cache=False)
    fresh = no_cache.start(prompt)
    assert "".join(fresh.stream(3)) == first
    fresh.feed(" The capital of Japan is")
    assert "".join(fresh.stream(3)) == second
    assert len(gen.ids) > 512


@pytest.mark.slow
def test_the_few_shot_prefix_is_read_once_and_answers_stay_the_same(smol: LocalModel) -> None:
    agent = Agent(smol, [Calculator(), Calendar()])
    prompt = agent.prompt("What is 23 times 19?")
    fresh = LocalModel(smol.model, smol.tokenizer, "fresh", bos=smol.bos)
    expected = "".join(fresh.start(prompt.text).stream(12))  # plain text: read in one go
    smol.prefixes.clear()
    assert "".join(smol.start(prompt).stream(12)) == expected
    other = smol.start(agent.prompt("What is 6 times 7?"))
    assert other.pending == smol.encode("Question: What is 6 times 7?\nAnswer:")  # only this is left to read
    "".join(other.stream(12))
    assert "".join(smol.start(prompt).stream(12)) == expected  # the kept cache was copied, not changed
    assert len(smol.prefixes) == 1


@pytest.mark.slow
def test_the_quickly_built_tokenizer_matches_autotokenizer(models_dir: Path, smol: LocalModel) -> None:
    from transformers import AutoTokenizer

    auto = AutoTokenizer.from_pretrained(prepare_language_model(SMOL, models_dir))
    text = 'Question: 去年の読書メモ?\nAnswer: [Search("x") → 12] ok'
    assert smol.tokenizer(text).input_ids == auto(text).input_ids
    assert (smol.tokenizer.bos_token_id, smol.tokenizer.eos_token_id) == (auto.bos_token_id, auto.eos_token_id)
