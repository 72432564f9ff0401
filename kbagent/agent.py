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
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kbagent.hits import Hit
from kbagent.microformat import ARROWS, PendingCall, neutralize, pending_call, strip_calls
from kbagent.models import LanguageModel, Message, Prompt
from kbagent.tools import CallContext, Searcher, Tool, ToolContext, load_tools, run_tool

if TYPE_CHECKING:
    from kbagent.config import Config

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


@dataclass(frozen=True)
class CallRecord:
    """One tool call made while answering: what was asked, what came back, how long it took."""

    tool: str
    input: str
    result: str
    seconds: float
    ok: bool = True


@dataclass(frozen=True)
class Answer:
    """A finished answer: its text (calls included, as written), the calls, and the pages used."""

    question: str
    text: str
    calls: tuple[CallRecord, ...] = ()
    sources: tuple[Hit, ...] = ()
    stop_reason: str = "eos"
    tokens: int = 0
    seconds: float = 0.0

    @property
    def plain(self) -> str:
        """The answer without its tool calls."""
        return strip_calls(self.text)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``kb ask --json``)."""
        return {
            "question": self.question,
            "answer": self.text,
            "plain": self.plain,
            "calls": [
                {"tool": c.tool, "input": c.input, "result": c.result, "seconds": round(c.seconds, 4), "ok": c.ok}
                for c in self.calls
            ],
            "sources": [{"title": h.title, "url": h.url, "source": h.source, "doc_id": h.doc_id} for h in self.sources],
            "stop_reason": self.stop_reason,
            "tokens": self.tokens,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class TextDelta:
    """Text the model wrote (arrows of calls included)."""

    text: str


@dataclass(frozen=True)
class ToolCallStarted:
    """The model asked for a tool; it is running."""

    tool: str
    input: str


@dataclass(frozen=True)
class ToolCallFinished:
    """A tool call is done; ``text`` is what was spliced into the answer (`` result]``)."""

    call: CallRecord
    text: str


@dataclass(frozen=True)
class Done:
    """The answer is complete."""

    answer: Answer


Event = TextDelta | ToolCallStarted | ToolCallFinished | Done


@dataclass(frozen=True)
class Example:
    """One worked example for the few-shot prompt; ``tools`` are those its answer uses."""

    question: str
    answer: str
    without_tools: str
    tools: tuple[str, ...] = ()


INSTRUCTIONS = (
    "Answer questions about the user's notes. To look something up or compute something, write a "
    "tool call [Tool(input) → result]: after the arrow the result is filled in, then continue "
    "the answer using it."
)
INSTRUCTIONS_NO_TOOLS = "Answer questions briefly."

EXAMPLES: tuple[Example, ...] = (
    Example(
        "When is my dentist appointment?",
        '[Search("dentist appointment") → (1) Dentist: Appointment on Tuesday, May 12 at 9:30 with '
        "Dr. Sato.] Your dentist appointment is on Tuesday, May 12 at 9:30.",
        "I don't know your appointments.",
        ("Search",),
    ),
    Example(
        "How many days until my trip on the 14th?",
        "[Calendar() → Today is Saturday, November 21, 2026.] The 14th is next month: "
        "[Calculator(30 - 21 + 14) → 23] 23 days.",
        "I don't know today's date.",
        ("Calendar", "Calculator"),
    ),
    Example(
        "去年の読書メモで一番多く出てきた本は？",
        '[Search("読書メモ 本") → (1) 読書メモ 2025: 『サピエンス全史』を再読。三回目。 (2) 1月の読書: '
        "『サピエンス全史』と『銃・病原菌・鉄』。] 一番多く出てきたのは『サピエンス全史』です。",
        "分かりません。",
        ("Search",),
    ),
    Example(
        "What is 15% of 240 dollars?",
        "[Calculator(15% of 240) → 36] 15% of 240 dollars is 36 dollars.",
        "15% of 240 dollars is 36 dollars.",
        ("Calculator",),
    ),
)


def build_prompt(
    question: str,
    tools: Sequence[Tool],
    examples: Sequence[Example] = EXAMPLES,
    instructions: str | None = None,
) -> Prompt:
    """The few-shot prompt that teaches the call format, as text and as chat messages."""
    names = {t.name for t in tools}
    if names:
        head = instructions or INSTRUCTIONS
        head += "\nTools:\n" + "\n".join(f"- {t.description}" for t in tools)
        shots = [(e.question, e.answer) for e in examples if set(e.tools) <= names]
    else:
        head = instructions or INSTRUCTIONS_NO_TOOLS
        shots = [(e.question, e.without_tools) for e in examples]
    question = " ".join(question.split())
    text = head + "\n\n" + "".join(f"Question: {q}\nAnswer: {a}\n\n" for q, a in shots)
    shared = len(text)
    text += f"Question: {question}\nAnswer:"
    messages = [Message("system", head)]
    for q, a in shots:
        messages += [Message("user", q), Message("assistant", a)]
    messages.append(Message("user", question))
    return Prompt(text, tuple(messages), shared_prefix=shared)


def bare_prompt(question: str) -> Prompt:
    """``Question: …\nAnswer:`` alone: the prompt of models fine-tuned by ``kb train`` (no header, no shots)."""
    question = " ".join(question.split())
    return Prompt(f"Question: {question}\nAnswer:", (Message("user", question),))


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
                record, hits, ran = self._run(pending, CallContext(question, tuple(recent)))
                executed += ran
                if pending.tool == "Search" and hits:
                    recent[:0] = [h for h in hits if h not in recent]
                for h in hits:
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

    def _run(self, call: PendingCall, context: CallContext | None = None) -> tuple[CallRecord, tuple[Hit, ...], bool]:
        """Run one call; every failure becomes a visible ``Error: …`` result. Also: did a tool run?"""
        if call.error is not None:
            return CallRecord(call.tool, call.argument, f"Error: {call.error}", 0.0, ok=False), (), False
        tool = self.tools.get(call.tool)
        if tool is None:
            known = ", ".join(self.tools) or "none"
            result = f"Error: unknown tool {call.tool!r} (tools: {known})"
            return CallRecord(call.tool, call.argument, result, 0.0, ok=False), (), False
        t0 = time.perf_counter()
        try:
            out = run_tool(tool, call.argument, context)
            result, hits, ok = out.text, out.sources, not out.text.startswith("Error:")
        except Exception as exc:  # a failing tool must not end the answer
            from kbagent.credentials import redact

            result, hits, ok = f"Error: {call.tool} failed: {redact(str(exc)) or exc.__class__.__name__}", (), False
        seconds = time.perf_counter() - t0
        result = neutralize(" ".join(result.split()))
        if len(result) > self.max_result_chars:
            result = result[: self.max_result_chars - 1].rstrip() + "…"
        return CallRecord(call.tool, call.argument, result, seconds, ok), tuple(hits), True


def build_agent(
    searcher: Searcher | None,
    *,
    config: Config | None = None,
    model: LanguageModel | str | None = None,
    tools: bool = True,
    only_tools: Sequence[str] | None = None,
    plugins: bool = True,
    clock: Any = None,
    timezone: str | None = None,
    max_calls: int = 5,
    max_tokens: int = 256,
    call_top_k: int = 0,
    search_k: int = 3,
) -> Agent:
    """An agent over a knowledge base (or any searcher), with the configured model and tools.

    ``model`` is a loaded model or a name for :func:`kbagent.models.load_language_model`
    (``gemma3-270m``, ``smollm2-135m``, ``openai:MODEL``); ``tools=False`` answers without
    tools. The Calendar's time zone is ``timezone``, else ``[calendar] timezone``, else the
    system's. ``clock`` (a function returning a datetime) replaces the real clock.
    """
    from kbagent.config import load_config
    from kbagent.models import load_language_model
    from kbagent.reading import LineSelector, tokenizer_counter
    from kbagent.tools import Find, Search

    config = config or getattr(searcher, "config", None) or load_config()
    lm = model if model is not None and not isinstance(model, str) else load_language_model(model, config)
    toolset: dict[str, Tool] = {}
    if tools:
        tz = timezone or config.get("calendar.timezone")
        context = ToolContext(searcher=searcher, clock=clock or _now, tz=tz, settings=config.raw)
        toolset = load_tools(context, plugins=plugins, only=only_tools)
        # the result texts are counted in the answering model's own tokens, lines chosen with the
        # knowledge base's embedder where there is one (it carries cross-language questions)
        selector = LineSelector(tokenizer_counter(lm), getattr(searcher, "query_embedder", None))
        if searcher is not None and "Search" in toolset:
            toolset["Search"] = Search(searcher, k=search_k, selector=selector)
        if searcher is not None and "Find" in toolset:
            toolset["Find"] = Find(searcher, selector=selector)
    chat = getattr(getattr(lm, "settings", None), "chat", False)
    return Agent(lm, toolset, max_calls=max_calls, max_tokens=max_tokens, call_top_k=call_top_k,
                 end_stops=CHAT_END_STOPS if chat else END_STOPS,
                 prompt_style=getattr(lm, "prompt_style", "few-shot"))


def _now() -> datetime:
    return datetime.now().astimezone()
