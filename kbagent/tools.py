"""The tools a model may call: Search over the knowledge base, Calculator, Calendar; plugins.

A tool is a small object with a ``name``, a one-line ``description`` and ``__call__(input) -> str``.
Tools that can cite pages also offer ``run(input) -> ToolOutput`` with the hits behind the text.
Plugin packages add tools through the ``kbagent.tools`` entry-point group: each entry point names
a callable that takes a :class:`ToolContext` and returns a tool.
"""

from __future__ import annotations

import importlib.metadata
import logging
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kbagent.knowledgebase import Hit
from kbagent.microformat import neutralize, unquote

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "kbagent.tools"


@runtime_checkable
class Tool(Protocol):
    """Something the model can call as ``[name(input) → result]``."""

    name: str
    description: str

    def __call__(self, input: str) -> str:
        """Run the tool on the call's input (quotes already removed) and return the result text."""
        ...


@dataclass(frozen=True)
class ToolOutput:
    """A tool's result text and the pages it came from (for citations)."""

    text: str
    sources: tuple[Hit, ...] = ()


class Searcher(Protocol):
    """Anything that finds pages for a query: the knowledge base, or a fixed list in tests."""

    def search(self, query: str, k: int) -> list[Hit]:
        """The ``k`` best hits for ``query``, best first."""
        ...


def run_tool(tool: Tool, input: str) -> ToolOutput:
    """Call a tool, with its sources if it can cite them."""
    run = getattr(tool, "run", None)
    if callable(run):
        out = run(input)
        if isinstance(out, ToolOutput):
            return out
        return ToolOutput(str(out))
    return ToolOutput(str(tool(input)))


# --- Search ------------------------------------------------------------------------------------


class Search:
    """``Search(query)``: the top snippets of the knowledge base, with their page titles."""

    name = "Search"
    description = "Search(query) finds passages in your notes; returns the best snippets with page titles."

    def __init__(self, searcher: Searcher, k: int = 3, snippet_chars: int = 160) -> None:
        self.searcher = searcher
        self.k = k
        self.snippet_chars = snippet_chars

    def __call__(self, input: str) -> str:
        """The compact result text for a query."""
        return self.run(input).text

    def run(self, input: str) -> ToolOutput:
        """Search and keep the hits, so that the answer can link the pages it used."""
        query = unquote(input)
        if not query:
            return ToolOutput("Error: empty search query")
        hits = self.searcher.search(query, self.k)
        if not hits:
            return ToolOutput(f"No results for {query!r}.")
        parts = [f"({i}) {_one_line(h.title) or h.doc_id}: {self._snippet(h)}" for i, h in enumerate(hits, 1)]
        return ToolOutput(neutralize(" ".join(parts)), tuple(hits))

    def _snippet(self, hit: Hit) -> str:
        text = _one_line(hit.snippet or hit.text)
        if len(text) > self.snippet_chars:
            text = text[: self.snippet_chars - 1].rstrip() + "…"
        return text


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- Calculator --------------------------------------------------------------------------------

MAX_EXPRESSION_CHARS = 500
MAX_NESTING = 60
# Results beyond this many digits (numerator or denominator) are refused: they would take long
# to compute and mean nothing in an answer.
MAX_DIGITS = 1000
_MAX_BITS = int(MAX_DIGITS * math.log2(10)) + 1

Number = Fraction | float


class CalculatorError(ValueError):
    """The expression cannot be evaluated; the message says why, for the model to read."""


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:,\d{3})*(?:\.\d*)?|\.\d+)"
    r"|(?P<op>\*\*|[-+*/^%()×÷−–x]|(?:of|times|plus|minus|divided\s+by|multiplied\s+by)\b)"
    r"|(?P<skip>[$€£¥円]))",
    re.IGNORECASE,
)
# Small models write operators as words ("23 times 19"); accept the common ones.
_OP_ALIASES = {
    "×": "*", "x": "*", "÷": "/", "−": "-", "–": "-", "**": "^", "of": "*",
    "times": "*", "plus": "+", "minus": "-", "divided by": "/", "multiplied by": "*",
}
# Binding powers: (left, right). `^` is right-associative and binds tighter than unary minus on
# its left (-2^2 = -4), as in written maths.
_INFIX = {"+": (10, 11), "-": (10, 11), "*": (20, 21), "/": (20, 21), "^": (41, 40)}
_PREFIX_POWER = 30
_POSTFIX_POWER = 50


def calculate(expression: str) -> Number:
    """Evaluate an arithmetic expression exactly where possible (fractions, not floats).

    Supports ``+ - × ÷ * / ^ **`` (and ``times``, ``plus``, ``minus``, ``divided by``),
    parentheses, ``%`` (``15%`` is 0.15, ``15% of 80`` is 12), decimals, thousands separators,
    unary minus; currency signs are ignored. Never evaluates code: the text is tokenised
    and parsed by this module alone. Raises :class:`CalculatorError` with a reason.
    """
    text = unicodedata.normalize("NFKC", expression).strip().rstrip("=?").strip()
    if len(text) > MAX_EXPRESSION_CHARS:
        raise CalculatorError(f"expression too long (over {MAX_EXPRESSION_CHARS} characters)")
    if not text:
        raise CalculatorError("empty expression")
    parser = _Parser(_tokenize(text))
    value = parser.expression(0, 0)
    if parser.pos != len(parser.tokens):
        raise CalculatorError(f"unexpected {parser.tokens[parser.pos]!r}")
    return value


def format_number(value: Number) -> str:
    """A number as a person writes it: ``12``, ``0.5``, ``0.3333333333``."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.10g}"
    if value.denominator == 1:
        return str(value.numerator)
    with localcontext() as ctx:
        ctx.prec = 10
        d = Decimal(value.numerator) / Decimal(value.denominator)
        if Decimal("1e-6") <= abs(d) < Decimal("1e15"):
            text = format(d.normalize(), "f")
            return text.rstrip("0").rstrip(".") if "." in text else text
        return format(d, ".10g")


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            rest = text[pos:].strip()
            if not rest:
                break
            raise CalculatorError(f"cannot read {rest[:20]!r}")
        if m.group("num") is not None:
            tokens.append(m.group("num").replace(",", ""))
        elif m.group("op") is not None:
            op = " ".join(m.group("op").lower().split())
            tokens.append(_OP_ALIASES.get(op, op))
        pos = m.end()
    return tokens


@dataclass
class _Parser:
    """A Pratt parser that evaluates as it parses (no tree, no code)."""

    tokens: list[str]
    pos: int = 0

    def _next(self) -> str | None:
        tok = self.tokens[self.pos] if self.pos < len(self.tokens) else None
        self.pos += 1
        return tok

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def expression(self, min_power: int, depth: int) -> Number:
        if depth > MAX_NESTING:
            raise CalculatorError("expression nested too deeply")
        tok = self._next()
        if tok is None:
            raise CalculatorError("expression ends too early")
        left: Number
        if tok == "(":
            left = self.expression(0, depth + 1)
            if self._next() != ")":
                raise CalculatorError("missing ')'")
        elif tok in ("-", "+"):
            operand = self.expression(_PREFIX_POWER, depth + 1)
            left = -operand if tok == "-" else operand
        elif tok[0].isdigit() or tok[0] == ".":
            left = Fraction(tok)
        else:
            raise CalculatorError(f"unexpected {tok!r}")
        while True:
            op = self._peek()
            if op is None or op == ")":
                return left
            if op == "%":
                if min_power > _POSTFIX_POWER:
                    return left
                self.pos += 1
                left = _checked(left / 100)
                continue
            if op not in _INFIX:
                raise CalculatorError(f"unexpected {op!r}")
            lp, rp = _INFIX[op]
            if lp < min_power:
                return left
            self.pos += 1
            right = self.expression(rp, depth + 1)
            left = _apply(op, left, right)


def _apply(op: str, a: Number, b: Number) -> Number:
    if op == "+":
        return _checked(a + b)
    if op == "-":
        return _checked(a - b)
    if op == "*":
        return _checked(a * b)
    if op == "/":
        if b == 0:
            raise CalculatorError("division by zero")
        return _checked(a / b)
    return _power(a, b)


def _power(a: Number, b: Number) -> Number:
    if a == 0 and b < 0:
        raise CalculatorError("division by zero")
    if isinstance(b, Fraction) and b.denominator == 1 and isinstance(a, Fraction):
        # Estimate the size before computing: 10^(10^9) would otherwise run for hours.
        if a not in (0, 1, -1):
            bits = abs(b.numerator) * max(a.numerator.bit_length(), a.denominator.bit_length())
            if bits > _MAX_BITS * 2:
                raise CalculatorError("result too large")
        return _checked(a**b.numerator)
    base, exp = float(a), float(b)
    if base < 0:
        raise CalculatorError("a negative number to a fractional power is not a real number")
    try:
        value = math.pow(base, exp)
    except OverflowError as exc:
        raise CalculatorError("result too large") from exc
    return _checked(value)


def _checked(value: Number) -> Number:
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            raise CalculatorError("result too large")
        return value
    if value.numerator.bit_length() > _MAX_BITS or value.denominator.bit_length() > _MAX_BITS:
        raise CalculatorError("result too large")
    return value


class Calculator:
    """``Calculator(expression)``: arithmetic, evaluated safely."""

    name = "Calculator"
    description = "Calculator(expression) computes arithmetic: + - * / ^ ( ) and %; returns the number."

    def __call__(self, input: str) -> str:
        """The value as text, or ``Error: …`` saying why the expression cannot be computed."""
        try:
            return format_number(calculate(unquote(input)))
        except CalculatorError as exc:
            return f"Error: {exc}"
        except (ArithmeticError, ValueError) as exc:  # e.g. Fraction of an odd literal
            return f"Error: cannot compute ({exc.__class__.__name__})"


# --- Calendar ----------------------------------------------------------------------------------

# English names whatever the locale: the model reads and writes them in English
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)


def describe_date(moment: date) -> str:
    """``Today is Saturday, November 21, 2026.`` (English names, whatever the locale)."""
    return (
        f"Today is {WEEKDAYS[moment.weekday()]}, {MONTHS[moment.month - 1]} "
        f"{moment.day}, {moment.year}."
    )


def resolve_timezone(name: str | tzinfo | None) -> tzinfo | None:
    """A time zone from an IANA name (``Asia/Tokyo``); None means the system's local zone."""
    if name is None or isinstance(name, tzinfo):
        return name
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


MONTH_NUMBERS = {name.lower()[:3]: i + 1 for i, name in enumerate(MONTHS)}  # "apr" -> 4
_ISO_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_EAST_ASIAN_DAY = re.compile(r"(?:(\d{4})\s*年\s*)?(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]")
_MONTH_FIRST = re.compile(r"([A-Za-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(\d{4}))?\b")
_DAY_FIRST = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?([A-Za-z]{3,9})\.?(?:,?\s+(\d{4}))?\b")


def parse_day(text: str, today: date) -> date | None:
    """The date ``text`` names (``2027-04-03``, ``April 3, 2027``, ``3 April``, ``2027年4月3日``, ``4月3日``).

    Without a year it is the next such day from ``today`` on; None when no date can be read.
    """
    text = unicodedata.normalize("NFKC", text).strip()
    found: tuple[int | None, int, int] | None = None
    if m := _ISO_DATE.search(text):
        found = (int(m[1]), int(m[2]), int(m[3]))
    elif m := _EAST_ASIAN_DAY.search(text):
        found = (int(m[1]) if m[1] else None, int(m[2]), int(m[3]))
    else:
        for pattern, month_group, day_group in ((_MONTH_FIRST, 1, 2), (_DAY_FIRST, 2, 1)):
            m = pattern.search(text)
            month = MONTH_NUMBERS.get(m[month_group].lower()[:3]) if m else None
            if m and month and m[month_group].lower() in MONTHS[month - 1].lower():
                found = (int(m[3]) if m[3] else None, month, int(m[day_group]))
                break
    if found is None:
        return None
    year, month, day = found
    try:
        if year is not None:
            return date(year, month, day)
        this_year = date(today.year, month, day)
        return this_year if this_year >= today else date(today.year + 1, month, day)
    except ValueError:
        return None


def describe_day(day: date, today: date) -> str:
    """``Today is …. April 3, 2027 is a Saturday, 123 days from today.`` (or ``… days ago``)."""
    days = (day - today).days
    when = ("today" if days == 0 else f"{days} day{'s' * (days != 1)} from today" if days > 0
            else f"{-days} day{'s' * (days != -1)} ago")
    return (f"{describe_date(today)} "
            f"{MONTHS[day.month - 1]} {day.day}, {day.year} is a {WEEKDAYS[day.weekday()]}, {when}.")


class Calendar:
    """``Calendar()``: today's date in the user's time zone; ``Calendar("April 3, 2027")``: that day too."""

    name = "Calendar"
    # the few-shot prompt of a base model shows this line; a longer one that mentions the date
    # argument made SmolLM2 call the Calendar for plain arithmetic, so the date form is taught by
    # training (and documented) rather than advertised here
    description = "Calendar() tells today's date and weekday."

    def __init__(self, clock: Callable[[], datetime] | None = None, tz: str | tzinfo | None = None) -> None:
        self.clock = clock or (lambda: datetime.now().astimezone())
        self.tz = resolve_timezone(tz)

    def today(self) -> date:
        """Today's date in the tool's time zone."""
        now = self.clock()
        if self.tz is not None:
            now = now.astimezone(self.tz) if now.tzinfo else now.replace(tzinfo=self.tz)
        return now.date()

    def __call__(self, input: str = "") -> str:
        """Today's date; with a date as input, also that day's weekday and distance from today.

        An input that names no date is ignored (the paper's Calendar takes none), so a stray word
        still gets today's date rather than an error.
        """
        today = self.today()
        day = parse_day(unquote(input), today) if input.strip() else None
        if day is None:
            return describe_date(today)
        return describe_day(day, today)


# --- registry ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolContext:
    """What a tool factory may use: the knowledge base, the clock, the user's time zone, settings."""

    searcher: Searcher | None = None
    clock: Callable[[], datetime] | None = None
    tz: str | None = None
    settings: Mapping[str, object] = field(default_factory=dict)


ToolFactory = Callable[[ToolContext], Tool]


def builtin_tools(context: ToolContext) -> list[Tool]:
    """Search (when there is something to search), Calculator and Calendar."""
    tools: list[Tool] = []
    if context.searcher is not None:
        tools.append(Search(context.searcher))
    tools.append(Calculator())
    tools.append(Calendar(context.clock, context.tz))
    return tools


def plugin_tools(
    context: ToolContext, entry_points: Iterable[importlib.metadata.EntryPoint] | None = None
) -> list[Tool]:
    """Tools from installed plugins (``kbagent.tools`` entry points); a broken one is skipped."""
    found: list[Tool] = []
    eps = entry_points if entry_points is not None else importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    for ep in eps:
        try:
            tool = ep.load()(context)
            if not isinstance(tool, Tool):
                raise TypeError("the factory did not return a tool (name, description, __call__)")
        except Exception as exc:  # a plugin must never stop `kb ask`
            log.warning("tool plugin %s (%s) not loaded: %s", ep.name, ep.value, exc)
            continue
        found.append(tool)
    return found


def load_tools(context: ToolContext, *, plugins: bool = True, only: Iterable[str] | None = None) -> dict[str, Tool]:
    """The tools by name: built-ins, then plugins (a plugin cannot replace a built-in)."""
    tools: dict[str, Tool] = {}
    for tool in builtin_tools(context) + (plugin_tools(context) if plugins else []):
        if tool.name in tools:
            log.warning("tool %s defined twice; keeping the first", tool.name)
            continue
        tools[tool.name] = tool
    if only is not None:
        wanted = set(only)
        tools = {n: t for n, t in tools.items() if n in wanted}
    return tools
