"""A language model that writes a fixed script: the real `LanguageModel` protocol, no weights.

Each part of the script is text, or a function of everything the model has read so far
(prompt, its own text, fed results) that returns the text to write next. Text is written one
character per token, so stop strings are found exactly as with a real model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from kbagent.models import Prompt, StopScanner, as_prompt

Part = str | Callable[[str], str]


class ScriptedModel:
    """Plays the same script for every generation it starts."""

    name = "scripted"

    def __init__(self, *script: Part) -> None:
        self.script = script
        self.generations: list[ScriptedGeneration] = []

    def start(self, prompt: Prompt | str) -> ScriptedGeneration:
        gen = ScriptedGeneration(as_prompt(prompt).text, self.script)
        self.generations.append(gen)
        return gen


class ScriptedGeneration:
    """One run of the script; ``read`` is the whole text the model has seen."""

    def __init__(self, prompt: str, script: Sequence[Part]) -> None:
        self.read = prompt
        self.fed: list[str] = []
        self.parts = list(script)
        self.queue = ""
        self.stop_reason: str | None = None
        self.stopped_on: str | None = None
        self.tokens = 0

    def feed(self, text: str) -> None:
        self.read += text
        self.fed.append(text)

    def stream(self, max_tokens: int, stop: Sequence[str] = (), call_top_k: int = 0) -> Iterator[str]:
        self.stop_reason, self.stopped_on = None, None
        scanner = StopScanner(stop)
        written = 0
        while True:
            if not self.queue:
                if not self.parts:
                    self.stop_reason = "eos"
                    break
                part = self.parts.pop(0)
                self.queue = part(self.read) if callable(part) else part
                continue
            if written >= max_tokens:
                self.stop_reason = "length"
                break
            ch, self.queue = self.queue[0], self.queue[1:]
            written += 1
            self.tokens += 1
            self.read += ch
            out, hit = scanner.push(ch)
            if out:
                yield out
            if hit is not None:
                self.stop_reason, self.stopped_on = "stop", hit
                return
        rest = scanner.flush()
        if rest:
            yield rest
