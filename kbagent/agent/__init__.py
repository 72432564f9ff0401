"""The agent: a language model that calls tools while it writes its answer.

:mod:`~kbagent.agent.loop` runs the model and its calls, :mod:`~kbagent.agent.prompts` holds what the
model reads, :mod:`~kbagent.agent.answers` what answering produces, and :mod:`~kbagent.agent.build`
assembles an agent from the configuration. The names are re-exported here, where callers import them
from; the call syntax itself is :mod:`kbagent.microformat` (the tools and training share it).
"""

from kbagent.agent.answers import Answer, CallRecord, Done, Event, TextDelta, ToolCallFinished, ToolCallStarted
from kbagent.agent.build import build_agent
from kbagent.agent.loop import (
    CHAT_END_STOPS,
    END_STOPS,
    MAX_REPEAT_CHARS,
    MAX_RESULT_CHARS,
    MIN_REPEAT_CHARS,
    REPEATS,
    Agent,
    repetition_end,
)
from kbagent.agent.prompts import EXAMPLES, INSTRUCTIONS, INSTRUCTIONS_NO_TOOLS, Example, bare_prompt, build_prompt

__all__ = [
    "CHAT_END_STOPS", "END_STOPS", "EXAMPLES", "INSTRUCTIONS", "INSTRUCTIONS_NO_TOOLS", "MAX_REPEAT_CHARS",
    "MAX_RESULT_CHARS", "MIN_REPEAT_CHARS", "REPEATS", "Agent", "Answer", "CallRecord", "Done", "Event",
    "Example", "TextDelta", "ToolCallFinished", "ToolCallStarted", "bare_prompt", "build_agent", "build_prompt",
    "repetition_end",
]
