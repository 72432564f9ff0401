"""Benchmark the answering loop on the CPU: time to first token, tokens/s, cost of a tool call.

For each local model it measures
  * answers with tools (the few-shot Toolformer prompt): time to first token, decode tokens/s,
    and the time each tool call adds (tool run + reading its result until the next token);
  * the same questions without tools, same token budget as the answer with tools took;
  * decoding with the key/value cache, without it, and re-reading the whole text after a call.

    python scripts/bench_agent.py --threads 2 [--models smollm2-135m gemma3-270m] [--models-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import torch

from kbagent.agent import Agent, Done, TextDelta, ToolCallFinished, ToolCallStarted
from kbagent.config import load_config
from kbagent.hits import Hit
from kbagent.models import LocalGeneration, LocalModel, Prompt, as_prompt
from kbagent.tools import Calculator, Calendar, Search, Tool

QUESTIONS = (
    "What is 23 times 19?",
    "How many days until my trip on the 14th?",
    "When is my dentist appointment?",
    "How much is 15% of 80 euros?",
)

NOTES = (
    Hit("d#0", "d", "notes", "Dentist", "https://example.org/d", "Appointment on Thursday, December 3 at 10:00.", 1.0),
    Hit("t#0", "t", "notes", "Trip to Kyoto", "https://example.org/t", "Train to Kyoto on December 14.", 0.8),
)


# Wall-clock time by default; `--clock cpu` counts this process's CPU time instead, which is
# what the figures would be on an idle machine when other jobs share the cores (use 1 thread).
clock = time.perf_counter


class Notes:
    """A fixed searcher, so that the figures measure the model, not the index."""

    def search(self, query: str, k: int) -> list[Hit]:
        return list(NOTES[:k])


@dataclass
class Run:
    ttft: float = 0.0
    seconds: float = 0.0
    tokens: int = 0
    call_seconds: list[float] = field(default_factory=list)
    text: str = ""


def run_agent(agent: Agent, question: str) -> Run:
    run = Run()
    t0 = clock()
    call_t: float | None = None
    for event in agent.events(question):
        now = clock()
        if isinstance(event, TextDelta):
            if not run.ttft:
                run.ttft = now - t0
            if call_t is not None:  # first token after a result: the call's full cost
                run.call_seconds.append(now - call_t)
                call_t = None
        elif isinstance(event, ToolCallStarted):
            call_t = now
        elif isinstance(event, ToolCallFinished):
            pass
        elif isinstance(event, Done):
            run.seconds = now - t0
            run.tokens = event.answer.tokens
            run.text = event.answer.text
    return run


class RereadGeneration(LocalGeneration):
    """Throws the cache away at every feed: what the loop would cost without cache reuse."""

    def feed(self, text: str) -> None:
        super().feed(text)
        self.pending = self.ids + self.pending
        self.ids, self.cache, self.logits = [], None, None


class RereadModel(LocalModel):
    def start(self, prompt: Prompt | str) -> LocalGeneration:
        return RereadGeneration(self, self.encode(as_prompt(prompt).text, first=True))


def decode_speed(lm: LocalModel, prompt: str, tokens: int) -> float:
    gen = lm.start(prompt)
    gen.read_pending()  # the prompt is read before timing: this measures decoding alone
    t0 = clock()
    n = sum(1 for _ in gen.stream(tokens))
    del n
    return gen.tokens / (clock() - t0)


def bench_model(name: str, models_dir: Path, questions: tuple[str, ...], max_tokens: int) -> dict[str, float]:
    t0 = clock()
    lm = LocalModel.load(name, models_dir)
    load = clock() - t0
    tools: list[Tool] = [Search(Notes()), Calculator(), Calendar(lambda: datetime(2026, 11, 21, 9, 0))]
    with_tools = Agent(lm, tools, max_tokens=max_tokens)
    prompt_tokens = len(lm.encode(with_tools.prompt(questions[0]).text, first=True))
    cold = run_agent(with_tools, questions[0])  # the few-shot prefix is read here, then kept
    runs, plain, reread = [], [], []
    for q in questions:
        r = run_agent(with_tools, q)
        runs.append(r)
        print(f"  [{name}] {q!r} -> {r.text!r}", flush=True)
        # the same question without tools, allowed as many tokens as the answer with tools took
        plain.append(run_agent(Agent(lm, [], max_tokens=max(r.tokens, 1)), q))
        if r.call_seconds:
            rr = RereadModel(lm.model, lm.tokenizer, name, bos=lm.bos)
            reread.append(run_agent(Agent(rr, tools, max_tokens=max_tokens), q))
    few_shot = with_tools.prompt(questions[0]).text
    cached = decode_speed(lm, few_shot, 32)
    uncached = decode_speed(LocalModel(lm.model, lm.tokenizer, name, bos=lm.bos, kv_cache=False), few_shot, 16)

    def tps(rs: list[Run]) -> float:
        return sum(r.tokens for r in rs) / max(1e-9, sum(r.seconds - r.ttft - sum(r.call_seconds) for r in rs))

    calls = [c for r in runs for c in r.call_seconds]
    calls_reread = [c for r in reread for c in r.call_seconds]
    return {
        "load_s": load,
        "prompt_tokens_tools": prompt_tokens,
        "ttft_cold_s": cold.ttft,
        "ttft_tools_s": statistics.mean(r.ttft for r in runs),
        "ttft_plain_s": statistics.mean(r.ttft for r in plain),
        "answer_tools_s": statistics.mean(r.seconds for r in runs),
        "answer_plain_s": statistics.mean(r.seconds for r in plain),
        "tokens_tools": statistics.mean(r.tokens for r in runs),
        "tokens_plain": statistics.mean(r.tokens for r in plain),
        "tok_s_tools": tps(runs),
        "tok_s_plain": tps(plain),
        "calls": len(calls),
        "call_s": statistics.mean(calls) if calls else float("nan"),
        "call_reread_s": statistics.mean(calls_reread) if calls_reread else float("nan"),
        "decode_tok_s_kv": cached,
        "decode_tok_s_no_kv": uncached,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["smollm2-135m", "gemma3-270m"])
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--questions", type=int, default=len(QUESTIONS))
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = parser.parse_args()
    global clock
    if args.clock == "cpu":
        clock = time.process_time
    torch.set_num_threads(args.threads)
    models_dir = args.models_dir or load_config().models_dir
    results = {m: bench_model(m, models_dir, QUESTIONS[: args.questions], args.max_tokens) for m in args.models}

    rows = [
        ("load from cache (s)", "load_s", "{:.1f}"),
        ("few-shot prompt (tokens)", "prompt_tokens_tools", "{:.0f}"),
        ("first token, prompt not yet read (s)", "ttft_cold_s", "{:.2f}"),
        ("time to first token, tools (s)", "ttft_tools_s", "{:.2f}"),
        ("time to first token, no tools (s)", "ttft_plain_s", "{:.2f}"),
        ("answer, tools (s)", "answer_tools_s", "{:.2f}"),
        ("same length, no tools (s)", "answer_plain_s", "{:.2f}"),
        ("tokens/s, tools (decode)", "tok_s_tools", "{:.1f}"),
        ("tokens/s, no tools (decode)", "tok_s_plain", "{:.1f}"),
        ("tool calls made", "calls", "{:.0f}"),
        ("time per tool call, cache kept (s)", "call_s", "{:.2f}"),
        ("time per tool call, re-read all (s)", "call_reread_s", "{:.2f}"),
        ("decode tokens/s with KV cache", "decode_tok_s_kv", "{:.1f}"),
        ("decode tokens/s without KV cache", "decode_tok_s_no_kv", "{:.2f}"),
    ]
    n = len(QUESTIONS[: args.questions])
    print(f"\n{args.threads} threads, {args.clock} clock, {n} questions, max {args.max_tokens} tokens")
    print(f"{'':38}" + "".join(f"{m:>15}" for m in results))
    for label, key, fmt in rows:
        print(f"{label:38}" + "".join(f"{fmt.format(r[key]):>15}" for r in results.values()))
    print("ratios")
    for label, num, den in (
        ("answer time, tools / no tools", "answer_tools_s", "answer_plain_s"),
        ("time to first token, tools / no tools", "ttft_tools_s", "ttft_plain_s"),
        ("tool call, re-read / cache kept", "call_reread_s", "call_s"),
        ("decode speed, KV cache / none", "decode_tok_s_kv", "decode_tok_s_no_kv"),
    ):
        print(f"{label:38}" + "".join(f"{r[num] / r[den]:>14.1f}×" for r in results.values()))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
