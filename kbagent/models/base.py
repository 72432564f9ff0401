"""What every language model offers: prompts, generations, the model and provider protocols, stop strings."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from kbagent.config import Config

StopReason = Literal["stop", "eos", "length"]


class ModelError(RuntimeError):
    """A model cannot be prepared, loaded or reached; the message says what to do."""


@dataclass(frozen=True)
class Message:
    """One chat message (for chat endpoints)."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Prompt:
    """A prompt as plain text (completion models) and, optionally, as chat messages.

    ``messages`` ends with the user's turn; the generated text is the assistant's reply.
    ``shared_prefix`` is how many leading characters of ``text`` are the same for every
    question (instructions and examples): a local model keeps their key/value cache.
    """

    text: str
    messages: tuple[Message, ...] = ()
    shared_prefix: int = 0


class Generation(Protocol):
    """One answer being written: stream text, feed text back, stream on."""

    stop_reason: StopReason | None
    stopped_on: str | None
    tokens: int

    def stream(self, max_tokens: int, stop: Sequence[str] = (), call_top_k: int = 0) -> Iterator[str]:
        """Yield generated text until a stop string, the end of text or ``max_tokens`` tokens.

        A stop string is not yielded but stays part of the text the model has written;
        ``stop_reason`` and ``stopped_on`` say why the stream ended. With ``call_top_k`` > 1, a
        ``[`` is written whenever it is among the k most likely next tokens (Toolformer's trick
        to make calls more likely); backends that cannot do this ignore it.
        """
        ...

    def feed(self, text: str) -> None:
        """Append text that the model did not write (a tool result) to what it has read."""
        ...


class LanguageModel(Protocol):
    """A language model that can start generations."""

    name: str

    def start(self, prompt: Prompt | str) -> Generation:
        """Read the prompt and return a generation that continues it."""
        ...


class StopScanner:
    """Finds stop strings in streamed text, holding back what might be the start of one."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.buffer = ""
        self.overflow = ""

    def push(self, text: str) -> tuple[str, str | None]:
        """Text that is safe to show now, and the stop string if one has been completed."""
        self.buffer += text
        found: tuple[int, str] | None = None
        for s in self.stops:
            i = self.buffer.find(s)
            if i >= 0 and (found is None or i < found[0]):
                found = (i, s)
        if found is not None:
            i, s = found
            out, self.overflow, self.buffer = self.buffer[:i], self.buffer[i + len(s) :], ""
            return out, s
        hold = 0
        for s in self.stops:
            for n in range(min(len(s) - 1, len(self.buffer)), 0, -1):
                if self.buffer.endswith(s[:n]):
                    hold = max(hold, n)
                    break
        out = self.buffer[: len(self.buffer) - hold]
        self.buffer = self.buffer[len(self.buffer) - hold :]
        return out, None

    def flush(self) -> str:
        """Whatever is held back, at the end of the stream."""
        out, self.buffer = self.buffer, ""
        return out


def as_prompt(prompt: Prompt | str) -> Prompt:
    """A :class:`Prompt` from a plain string (one user message)."""
    if isinstance(prompt, Prompt):
        return prompt
    return Prompt(prompt, (Message("user", prompt),))

@runtime_checkable
class ModelProvider(Protocol):
    """A kind of language model, registered under a ``kbagent.models`` entry point (see :mod:`.registry`).

    A name ``PROVIDER:MODEL`` (``openai:llama3``) or the provider's entry-point name alone goes to
    that provider; any other name to the provider that lists it in :meth:`models`.
    """

    def models(self) -> Mapping[str, str]:
        """The model names it offers on their own (``gemma3-270m``), each with a one-line description."""
        ...

    def naming(self) -> str:
        """How its models are named, for the message about an unknown name (``openai:MODEL``)."""
        ...

    def load(self, model: str | None, config: Config, **options: Any) -> LanguageModel:
        """Load a model: ``model`` is what follows ``PROVIDER:``, or a listed name; None for the bare name."""
        ...
