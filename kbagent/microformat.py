"""The Toolformer call microformat ``[Tool(input) → result]``: the one parser and formatter.

The loop, training and evaluation all read and write calls through this module. ``->`` is
accepted wherever ``→`` is. Parsing is forgiving (unbalanced brackets, quoted inputs containing
brackets or parentheses, nested brackets in results) because a small model writes imperfect
calls and note text is full of brackets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ARROW = "→"
ARROWS = ("→", "->")

# Look-alikes that a spliced result uses instead of the characters that could start or end a
# call, so that text from notes can never be read back as a call (prompt injection).
_NEUTRAL = str.maketrans({"[": "［", "]": "］", "→": "⇒"})
_ASCII_ARROW = re.compile(r"-\s*>")

_OPEN = re.compile(r"\[\s*([A-Za-z_][A-Za-z0-9_.]*)\s*")
_QUOTES = {'"': '"', "“": "”", "'": "'", "「": "」", "『": "』", "‘": "’"}
_ARROW_AT = re.compile(r"\s*(→|->)")
_CLOSE_PAREN = re.compile(r"\)\s*(?:→|->|\])")
# How far a call's input may reach; bounds the scan over long texts full of stray brackets.
_MAX_CALL_CHARS = 2000


@dataclass(frozen=True)
class Call:
    """One call found in a text: ``[tool(input) → result]``.

    ``input`` is the raw text between the parentheses (see :attr:`argument` for the unquoted
    value); ``result`` is ``None`` for a call written without one (``[Tool(input)]``) and for an
    open call at the end of the text. ``start``/``end`` delimit the call in the text.
    """

    tool: str
    input: str
    result: str | None
    start: int
    end: int
    closed: bool = True

    @property
    def argument(self) -> str:
        """The input with surrounding whitespace and one pair of quotes removed."""
        return unquote(self.input)


@dataclass(frozen=True)
class PendingCall:
    """A call the model has just asked for: ``[Tool(input) →`` at the end of its text.

    ``error`` is set when the model clearly started a call but did not write it in a form that
    can be run; the loop shows the error as the call's result.
    """

    tool: str
    input: str
    start: int
    error: str | None = None

    @property
    def argument(self) -> str:
        """The input with surrounding whitespace and one pair of quotes removed."""
        return unquote(self.input)


def format_call(tool: str, input: str = "", result: str | None = None) -> str:
    """Write a call: ``[Tool(input) → result]``, or ``[Tool(input)]`` without a result."""
    if result is None:
        return f"[{tool}({input})]"
    return f"[{tool}({input}) {ARROW} {result}]"


def quote(text: str) -> str:
    """A search-style quoted input: ``"text"`` (inner double quotes become single ones)."""
    return '"' + text.replace('"', "'") + '"'


def unquote(text: str) -> str:
    """Strip whitespace and one pair of matching quotes around a call input."""
    s = text.strip()
    if len(s) >= 2 and _QUOTES.get(s[0]) == s[-1]:
        return s[1:-1].strip()
    return s


def neutralize(text: str) -> str:
    """Make text unable to start, end or complete a call when spliced into the transcript.

    Brackets become full-width look-alikes and arrows become ``⇒``, so a note that contains
    ``[Calculator(2+2) → 4]`` reads the same to a person but is never executed.
    """
    return _ASCII_ARROW.sub("⇒", text.translate(_NEUTRAL))


def parse_calls(text: str) -> list[Call]:
    """Every call in ``text``, in order, including ones without a result or still open."""
    calls: list[Call] = []
    pos = 0
    while True:
        m = _OPEN.search(text, pos)
        if m is None:
            return calls
        call = _call_at(text, m)
        if call is None:
            pos = m.start() + 1
            continue
        calls.append(call)
        pos = call.end


def strip_calls(text: str) -> str:
    """The text with every call removed (what a reader sees without the tool use)."""
    out: list[str] = []
    pos = 0
    for call in parse_calls(text):
        out.append(text[pos : call.start])
        pos = call.end
    out.append(text[pos:])
    joined = "".join(out)
    # A call usually sits between two spaces; removing it must not leave a double space.
    return re.sub(r"[ \t]{2,}", " ", re.sub(r"[ \t]+([.,;:!?。、])", r"\1", joined)).strip()


def pending_call(text: str, start: int = 0) -> PendingCall | None:
    """The call the text ends with, ``[Tool(input) →`` (trailing whitespace allowed), if any.

    Only ``text[start:]`` is considered, so that the loop looks at what the model itself wrote
    after the last spliced result. Returns ``None`` when the text does not end with an arrow
    or the arrow does not belong to a bracketed call (prose such as ``a -> b``).
    """
    region = text[start:].rstrip()
    arrow = next((a for a in ARROWS if region.endswith(a)), None)
    if arrow is None:
        return None
    body_end = len(region) - len(arrow)
    opens = [m for m in _OPEN.finditer(region, 0, body_end)]
    opens = [m for m in opens if not _closed_before(region, m.end(), body_end)]
    if not opens:
        return _unnamed(region, body_end, start)
    parsed = [(m, _strict_input(region, m, body_end)) for m in opens]
    # Prefer the leftmost call whose input is balanced: `[Search("a [Search(b)") →` is one
    # call about `a [Search(b)`, and `[Note(s) are here. [Search(x) →` is a call about `x`.
    for m, inp in parsed:
        if inp is not None and _balanced(inp):
            return PendingCall(m.group(1), inp, start + m.start())
    for m, inp in reversed(parsed):
        if inp is not None:
            return PendingCall(m.group(1), inp, start + m.start())
    m = opens[-1]
    rest = region[m.end() : body_end].strip()
    if rest.startswith("(") and ")" not in rest:
        # `[Search("x" →`: the closing parenthesis is missing; the intent is clear.
        return PendingCall(m.group(1), rest[1:].strip(), start + m.start())
    if not rest:
        return PendingCall(m.group(1), "", start + m.start())
    return PendingCall(
        m.group(1),
        rest,
        start + m.start(),
        error=f"malformed call; write [{m.group(1)}(input) {ARROW} result]",
    )


def _unnamed(region: str, body_end: int, offset: int) -> PendingCall | None:
    """``[ (x) →`` or ``[123 →``: a bracket opened right before the arrow without a tool name."""
    i = region.rfind("[", 0, body_end)
    if i < 0 or "]" in region[i:body_end]:
        return None
    inner = region[i + 1 : body_end].strip()
    if inner.startswith("(") or not inner:
        return PendingCall("", inner, offset + i, error="malformed call: no tool name")
    return None


def _closed_before(text: str, pos: int, end: int) -> bool:
    """Whether a ``]`` outside quotes closes the bracket opened before ``pos`` ahead of ``end``."""
    quote_close: str | None = None
    for ch in text[pos:end]:
        if quote_close is not None:
            if ch == quote_close:
                quote_close = None
        elif ch == '"' or ch in "“「『":
            quote_close = _QUOTES[ch]
        elif ch == "]":
            return True
    return False


def _strict_input(region: str, m: re.Match[str], body_end: int) -> str | None:
    """The input of ``[Name(input)`` ending right before ``body_end``, or None if not that shape."""
    if m.end() >= body_end or region[m.end()] != "(":
        return None
    tail = region[m.end() + 1 : body_end].rstrip()
    if not tail.endswith(")"):
        return None
    inp = tail[:-1]
    if any(a in inp for a in ARROWS):
        return None
    return inp


def _balanced(inp: str) -> bool:
    """Parentheses balance outside one pair of surrounding quotes."""
    s = inp.strip()
    if len(s) >= 2 and _QUOTES.get(s[0]) == s[-1]:
        return True
    depth = 0
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _call_at(text: str, m: re.Match[str]) -> Call | None:
    """Parse a call whose ``[Name`` was matched by ``m``; None if it is not a call."""
    tool, i = m.group(1), m.end()
    if not text.startswith("(", i):
        return None
    close = _matching_paren(text, i + 1)
    if close is None:
        return None
    inp, j = text[i + 1 : close], close + 1
    after = len(text[j:]) - len(text[j:].lstrip(" \t"))
    j += after
    if text.startswith("]", j):
        return Call(tool, inp, None, m.start(), j + 1)
    arrow = _ARROW_AT.match(text, j)
    if arrow is None:
        return None
    rs = arrow.end()
    close = _matching_bracket(text, rs)
    if close is None:
        return Call(tool, inp, text[rs:].strip(), m.start(), len(text), closed=False)
    return Call(tool, inp, text[rs:close].strip(), m.start(), close + 1)


def _matching_paren(text: str, pos: int) -> int | None:
    """Index of the ``)`` closing a parenthesis opened just before ``pos``.

    A quoted input is skipped as a whole; if the parentheses never balance, the first ``)``
    followed by an arrow or ``]`` is taken (a model that wrote ``Calc((1+2)`` still meant a call).
    """
    i = pos
    while i < len(text) and text[i] in " \t":
        i += 1
    if i < len(text) and text[i] in _QUOTES:
        closing = text.find(_QUOTES[text[i]], i + 1)
        if closing >= 0 and re.match(r"\s*\)", text[closing + 1 :]):
            return text.index(")", closing + 1)
    limit = min(len(text), pos + _MAX_CALL_CHARS)
    depth = 0
    for k in range(pos, limit):
        ch = text[k]
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                return k
            depth -= 1
    fallback = _CLOSE_PAREN.search(text, pos, limit)
    return fallback.start() if fallback else None


def _matching_bracket(text: str, pos: int) -> int | None:
    """Index of the ``]`` that closes a call whose result starts at ``pos``.

    Nested brackets in the result (``[Search(x) → see [link] here]``) are balanced; when they
    never balance, the first ``]`` closes the call.
    """
    depth = 0
    for k in range(pos, len(text)):
        ch = text[k]
        if ch == "[":
            depth += 1
        elif ch == "]":
            if depth == 0:
                return k
            depth -= 1
    first = text.find("]", pos)
    return first if first >= 0 else None
