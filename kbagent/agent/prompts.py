"""The prompts the model reads: the few-shot prompt that teaches the call format, and the bare one of tuned models."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kbagent.models import Message, Prompt
from kbagent.tools import Tool


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
