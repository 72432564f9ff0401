"""A question with what counts as its answer: the one item type of the corpora, training and evaluation.

The generated corpora write items with the calls that answer them and the answer text (training
fine-tunes on those); the evaluation sets load items with a gold and, for reading sets, the other
acceptable answers. It lives apart from both so that neither imports the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class CallSpec:
    """A tool call an example's answer makes, before it is run: ``Tool(input)``."""

    tool: str
    input: str


@dataclass(frozen=True)
class EvalItem:
    """One question with what counts as right, and for generated items the calls and answer that get there.

    ``calls`` and ``answer`` (generated items) are a worked answer: the answer text starts with
    the answer itself (``26 apples.``) so that the first words after the calls carry what the
    calls found. ``gold`` is what evaluation checks: a number for kind ``arithmetic`` (and numeric
    date answers), else text the answer must contain. ``today`` is the date the Calendar reports for
    this question; ``page`` the title (or id) of the page a note question needs. Kind ``reading``
    (reading sets, real notes) accepts any of ``answers``; with ``unanswerable`` the right answer is
    "not in your notes".
    """

    question: str
    calls: tuple[CallSpec, ...] = ()
    answer: str = ""
    gold: str = ""
    kind: str = ""
    today: date | None = None
    page: str = ""
    category: str = ""
    answers: tuple[str, ...] = ()
    lang: str = ""
    id: str = ""
    unanswerable: bool = False

    @property
    def graded(self) -> bool:
        """Whether the item can be scored (it has a gold, or the right answer is a refusal)."""
        return bool(self.gold) or self.unanswerable

    @property
    def acceptable(self) -> tuple[str, ...]:
        """Every answer that counts as right (the gold first)."""
        return tuple(dict.fromkeys(a for a in (self.gold, *self.answers) if a))
