"""The answering loop: the model writes, and its ``[Tool(input) →`` calls are run as it writes.

Decoding stops when the model writes ``→`` (or ``->``); the call at the end of its text is parsed
with :mod:`kbagent.microformat`, the tool runs, `` result]`` is fed back and decoding goes on.
Only the model's own text can start a call: results are neutralised before they are spliced in,
and the call parser looks only at what the model wrote after the last result.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence

from kbagent.agent.answers import Answer, CallRecord, Done, Event, TextDelta, ToolCallFinished, ToolCallStarted
from kbagent.agent.prompts import EXAMPLES, Example, bare_prompt, build_prompt
from kbagent.hits import Hit
from kbagent.microformat import ARROWS, PendingCall, neutralize, pending_call
from kbagent.models import LanguageModel, Prompt
from kbagent.tools import CallContext, Tool, run_tool

# A blank line or the next "Question:" ends an answer in the few-shot format.
END_STOPS = ("\nQuestion:", "\n\n")
# Chat models end their turn themselves and may write paragraphs.
CHAT_END_STOPS = ("\nQuestion:",)
# Results are sized by the tools themselves (Search and Find count tokens); this only bounds plugins.
MAX_RESULT_CHARS = 2000


# A small model that has lost its way repeats itself until the token limit; three copies of the
# same piece of text in a row end the answer (the first copy is kept).
REPEATS = 3
MIN_REPEAT_CHARS = 4
MAX_REPEAT_CHARS = 80


def repetition_end(text: str) -> int | None:
    """Where to cut a text that ends with one piece repeated :data:`REPEATS` times, or None."""
    n = len(text)
    for size in range(MIN_REPEAT_CHARS, min(MAX_REPEAT_CHARS, n // REPEATS) + 1):
        unit = text[n - size :]
        if unit.strip() and all(text[n - (k + 1) * size : n - k * size] == unit for k in range(1, REPEATS)):
            return n - (REPEATS - 1) * size
    return None


class Agent:
    """Answers questions with a language model that calls tools while it writes."""

    def __init__(
        self,
        model: LanguageModel,
        tools: Mapping[str, Tool] | Sequence[Tool] = (),
        *,
        max_calls: int = 5,
        max_tokens: int = 256,
        call_top_k: int = 0,
        examples: Sequence[Example] = EXAMPLES,
        instructions: str | None = None,
        max_result_chars: int = MAX_RESULT_CHARS,
        end_stops: Sequence[str] = END_STOPS,
        prompt_style: str = "few-shot",
    ) -> None:
        self.model = model
        self.prompt_style = prompt_style
        self.tools: dict[str, Tool] = dict(tools) if isinstance(tools, Mapping) else {t.name: t for t in tools}
        self.max_calls = max_calls
        self.max_tokens = max_tokens
        self.call_top_k = call_top_k
        self.examples = tuple(examples)
        self.instructions = instructions
        self.max_result_chars = max_result_chars
        self.end_stops = tuple(end_stops)

    def prompt(self, question: str) -> Prompt:
        """The prompt the model reads for a question ("bare" for a model tuned by ``kb train``)."""
        if self.prompt_style == "bare":
            return bare_prompt(question)
        return build_prompt(question, list(self.tools.values()), self.examples, self.instructions)

    def ask(self, question: str, cancel: threading.Event | None = None) -> Answer:
        """Answer a question (blocking)."""
        for event in self.events(question, cancel):
            if isinstance(event, Done):
                return event.answer
        raise AssertionError("events() always ends with Done")

    def events(self, question: str, cancel: threading.Event | None = None) -> Iterator[Event]:
        """Answer a question as a stream of events, ending with :class:`Done`.

        Setting ``cancel`` stops the answer at the next token; it still ends with ``Done``.
        """
        t0 = time.perf_counter()
        gen = self.model.start(self.prompt(question))
        text = ""
        model_from = 0  # the model's own text starts here (after the last spliced result)
        calls: list[CallRecord] = []
        sources: dict[tuple[str, str], Hit] = {}
        executed = 0
        recent: list[Hit] = []  # pages of this answer's Searches, the latest first (Find looks there)
        reason = "eos"
        stops = (*ARROWS, *self.end_stops) if self.tools else self.end_stops
        while True:
            if cancel is not None and cancel.is_set():
                reason = "cancelled"
                break
            budget = self.max_tokens - gen.tokens
            if budget <= 0:
                reason = "length"
                break
            top_k = self.call_top_k if executed < self.max_calls else 0
            cancelled = looping = False
            for piece in gen.stream(budget, stops, top_k):
                if not text:
                    piece = piece.lstrip()
                    if not piece:
                        continue
                text += piece
                yield TextDelta(piece)
                if cancel is not None and cancel.is_set():
                    cancelled = True
                    break
                cut = repetition_end(text[model_from:])
                if cut is not None:
                    text = text[: model_from + cut]
                    looping = True
                    break
            if cancelled:
                reason = "cancelled"
                break
            if looping:
                reason = "repetition"
                break
            if gen.stop_reason != "stop" or gen.stopped_on not in ARROWS:
                reason = gen.stop_reason or "eos"
                break
            arrow = gen.stopped_on
            text += arrow
            yield TextDelta(arrow)
            pending = pending_call(text, model_from)
            if pending is None:
                continue  # an arrow in prose ("a -> b"), not a call
            yield ToolCallStarted(pending.tool, pending.argument)
            if executed >= self.max_calls:
                refusal = f"Error: no more tool calls (limit {self.max_calls})"
                record = CallRecord(pending.tool, pending.argument, refusal, 0.0, ok=False)
            else:
                record, ran = self._run(pending, CallContext(question, tuple(recent)))
                executed += ran
                if pending.tool == "Search" and record.hits:
                    recent[:0] = [h for h in record.hits if h not in recent]
                for h in record.hits:
                    sources.setdefault((h.source, h.doc_id), h)
            calls.append(record)
            splice = " " + record.result + "]"
            gen.feed(splice)
            text += splice
            model_from = len(text)
            yield ToolCallFinished(record, splice)
        answer = Answer(
            question=question,
            text=text.strip(),
            calls=tuple(calls),
            sources=tuple(sources.values()),
            stop_reason=reason,
            tokens=gen.tokens,
            seconds=time.perf_counter() - t0,
        )
        yield Done(answer)

    def _run(self, call: PendingCall, context: CallContext | None = None) -> tuple[CallRecord, bool]:
        """Run one call; every failure becomes a visible ``Error: …`` result. Also: did a tool run?"""
        if call.error is not None:
            return CallRecord(call.tool, call.argument, f"Error: {call.error}", 0.0, ok=False), False
        tool = self.tools.get(call.tool)
        if tool is None:
            known = ", ".join(self.tools) or "none"
            result = f"Error: unknown tool {call.tool!r} (tools: {known})"
            return CallRecord(call.tool, call.argument, result, 0.0, ok=False), False
        t0 = time.perf_counter()
        hits: tuple[Hit, ...] = ()
        try:
            out = run_tool(tool, call.argument, context)
            result, hits, ok = out.text, tuple(out.sources), not out.text.startswith("Error:")
        except Exception as exc:  # a failing tool must not end the answer
            from kbagent.credentials import redact

            result, ok = f"Error: {call.tool} failed: {redact(str(exc)) or exc.__class__.__name__}", False
        seconds = time.perf_counter() - t0
        result = neutralize(" ".join(result.split()))
        if len(result) > self.max_result_chars:
            result = result[: self.max_result_chars - 1].rstrip() + "…"
        return CallRecord(call.tool, call.argument, result, seconds, ok, hits), True
