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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kbagent.hits import Hit
from kbagent.microformat import neutralize, unquote
from kbagent.plaintext import plain_text
from kbagent.reading import GAP, LineSelector, page_units, shares

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


@dataclass(frozen=True)
class CallContext:
    """What a tool may know about the answer it is called in: the user's question, pages found so far.

    ``pages`` are the hits of this answer's earlier Searches, the latest Search's first; Find looks
    inside them. Only the agent builds this; note text never reaches it except as page content.
    """

    question: str = ""
    pages: tuple[Hit, ...] = ()


def run_tool(tool: Tool, input: str, context: CallContext | None = None) -> ToolOutput:
    """Call a tool, with its sources if it can cite them (and the answer's context if it reads it)."""
    run_in = getattr(tool, "run_in", None)
    if context is not None and callable(run_in):
        out = run_in(input, context)
        return out if isinstance(out, ToolOutput) else ToolOutput(str(out))
    run = getattr(tool, "run", None)
    if callable(run):
        out = run(input)
        if isinstance(out, ToolOutput):
            return out
        return ToolOutput(str(out))
    return ToolOutput(str(tool(input)))


class PageReader(Protocol):
    """A searcher that can also give a page's whole text (the knowledge base)."""

    def page_text(self, source: str, doc_id: str) -> str:
        """The page's text (its chunks in order); empty when the page is unknown."""
        ...


def page_text(searcher: object, hit: Hit) -> str:
    """A hit's whole page when the searcher can read pages, else the hit's own chunk."""
    read = getattr(searcher, "page_text", None)
    if callable(read):
        text = read(hit.source, hit.doc_id)
        if isinstance(text, str) and text.strip():
            return text
    return hit.text


def fuse_rankings(*rankings: Sequence[Hit], k: int, c: int = 60) -> list[Hit]:
    """Reciprocal rank fusion of several hit lists (by page); the first list wins ties."""
    scores: dict[tuple[str, str], float] = {}
    first: dict[tuple[str, str], Hit] = {}
    for ranking in rankings:
        for rank, h in enumerate(ranking):
            key = (h.source, h.doc_id)
            scores[key] = scores.get(key, 0.0) + 1.0 / (c + rank + 1)
            first.setdefault(key, h)
    order = sorted(scores, key=lambda key: -scores[key])
    return [first[key] for key in order[:k]]


# --- Search ------------------------------------------------------------------------------------

SEARCH_BUDGET = 200  # tokens of the answering model for all hits of one Search result


class Search:
    """``Search(query)``: the best pages for a query and, from each, the lines that answer the question."""

    name = "Search"
    description = "Search(query) finds passages in your notes; returns the best snippets with page titles."

    def __init__(
        self,
        searcher: Searcher,
        k: int = 3,
        snippet_chars: int = 160,
        *,
        selector: LineSelector | None = None,
        budget: int = SEARCH_BUDGET,
        with_question: bool = True,
    ) -> None:
        self.searcher = searcher
        self.k = k
        self.snippet_chars = snippet_chars
        self.selector = selector or LineSelector()
        self.budget = budget
        self.with_question = with_question

    def __call__(self, input: str) -> str:
        """The result text for a query."""
        return self.run(input).text

    def run(self, input: str) -> ToolOutput:
        """Search and keep the hits, so that the answer can link the pages it used."""
        return self.run_in(input, CallContext())

    def run_in(self, input: str, context: CallContext) -> ToolOutput:
        """Search with the model's query (fused with the user's question) and show the lines that matter."""
        query = unquote(input)
        if not query:
            return ToolOutput("Error: empty search query")
        hits = self.searcher.search(query, self.k)
        question = " ".join(context.question.split())
        if self.with_question and question and question != query:
            hits = fuse_rankings(hits, self.searcher.search(question, self.k), k=self.k)
        if not hits:
            return ToolOutput(f"No results for {query!r}.")
        return ToolOutput(neutralize(self.render(hits, question or query, query)), tuple(hits))

    def render(self, hits: Sequence[Hit], question: str, query: str) -> str:
        """``(1) Title: lines … (2) Title: lines``: the best page gets the most room."""
        parts: list[str] = []
        spare = 0.0
        for i, (h, share) in enumerate(zip(hits, shares(len(hits)), strict=True), 1):
            title = _one_line(h.title) or h.doc_id
            room = int(self.budget * share + spare)
            # only the best page's lines may be embedded: it gets the most room and the cost is per line
            view = self.selector.view(title, page_text(self.searcher, h), question, query, room, embed=i == 1)
            shown = view.text or self._snippet(h)
            spare = max(0.0, room - self.selector.count_tokens(f"({i}) {title}: {shown}"))
            parts.append(f"({i}) {title}: {shown}")
        return " ".join(parts)

    def _snippet(self, hit: Hit) -> str:
        text = _one_line(hit.snippet or plain_text(hit.text))
        if len(text) > self.snippet_chars:
            text = text[: self.snippet_chars - 1].rstrip() + "…"
        return text


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- Find --------------------------------------------------------------------------------------

FIND_BUDGET = 160


class Find:
    """``Find("term")``: the lines around each occurrence of a term in the pages just searched.

    ``Find("term", "Page title")`` looks in that page instead. Matching ignores case and character
    width; for CJK terms with no exact occurrence, lines sharing most of the term's character
    pairs count as near matches. This is the Ctrl+F the model presses inside a page.
    """

    name = "Find"
    description = 'Find("term") shows the lines around each occurrence of a term in the pages just searched.'

    def __init__(self, searcher: Searcher, *, selector: LineSelector | None = None, budget: int = FIND_BUDGET,
                 context_lines: int = 1) -> None:
        self.searcher = searcher
        self.selector = selector or LineSelector()
        self.budget = budget
        self.context_lines = context_lines

    def __call__(self, input: str) -> str:
        """The result text for a term (no earlier Search: the term is searched first)."""
        return self.run_in(input, CallContext()).text

    def run_in(self, input: str, context: CallContext) -> ToolOutput:
        """Find the term in the named page, else in the pages of this answer's Searches."""
        term, page = _find_arguments(input)
        if not term:
            return ToolOutput("Error: Find needs a term, e.g. Find(\"fare\")")
        if page:
            pages = [h for h in self.searcher.search(page, 5) if _same(h.title, page)][:1]
            if not pages:
                return ToolOutput(f"No page titled {page!r}.")
        else:
            pages = list(context.pages[:3]) or self.searcher.search(term, 3)
        if not pages:
            return ToolOutput(f"No results for {term!r}.")
        parts: list[str] = []
        used = 0
        found: list[Hit] = []
        for i, h in enumerate(pages, 1):
            units = page_units(page_text(self.searcher, h), h.title)
            rows = occurrences(units, term)
            if not rows:
                continue
            keep: set[int] = set()
            for r in rows:
                keep.update(range(max(0, r - self.context_lines), min(len(units), r + self.context_lines + 1)))
            lines = [units[j] if j == 0 or j - 1 in keep else GAP.strip() + " " + units[j] for j in sorted(keep)]
            text = f"({i}) {_one_line(h.title)}: " + " ".join(lines)
            cost = self.selector.count_tokens(text)
            if used and used + cost > self.budget:
                break
            if cost > self.budget:
                text = text[: max(40, len(text) * self.budget // cost)].rstrip() + "…"
                cost = self.budget
            parts.append(text)
            used += cost
            found.append(h)
        if not parts:
            titles = ", ".join(_one_line(h.title) for h in pages)
            return ToolOutput(neutralize(f"No line contains {term!r} in {titles}."))
        return ToolOutput(neutralize(" ".join(parts)), tuple(found))


def _find_arguments(input: str) -> tuple[str, str]:
    """``"term"`` or ``"term", "Page"`` (quotes optional for a single term)."""
    quoted = re.findall(r'"([^"]*)"|「([^」]*)」|“([^”]*)”', input)
    values = [next(v for v in q if v) for q in quoted if any(q)]
    if len(values) >= 2:
        return values[0].strip(), values[1].strip()
    if values:
        return values[0].strip(), ""
    return unquote(input).strip(), ""


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _same(a: str, b: str) -> bool:
    return " ".join(_fold(a).split()) == " ".join(_fold(b).split())


def occurrences(units: Sequence[str], term: str) -> list[int]:
    """The units holding the term: exactly (case/width folded), else every word, else most CJK pairs."""
    t = " ".join(_fold(term).split())
    if not t:
        return []
    folded = [_fold(u) for u in units]
    exact = [i for i, u in enumerate(folded) if t in u]
    if exact:
        return exact
    words = t.split()
    if len(words) > 1:
        every = [i for i, u in enumerate(folded) if all(w in u for w in words)]
        if every:
            return every
    compact = t.replace(" ", "")
    pairs = {compact[i : i + 2] for i in range(len(compact) - 1)}
    if len(pairs) < 2:
        return []
    need = max(2, math.ceil(0.6 * len(pairs)))
    return [i for i, u in enumerate(folded) if sum(p in u for p in pairs) >= need]


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
    # thousands may be grouped by commas or by (narrow) spaces, as in "350 000": two numbers side by
    # side mean nothing else in an expression
    r"\s*(?:(?P<num>\d{1,3}(?:[ \u202f\u00a0]\d{3})+(?![\d,])(?:\.\d*)?|\d+(?:,\d{3})*(?:\.\d*)?|\.\d+)"
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
            tokens.append(re.sub(r"[,\s\u202f\u00a0]", "", m.group("num")))
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
_US_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b")  # 3/20/2020: month first, as written in the US
_COUNT_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
_UNITS = {"day": "day", "week": "week", "month": "month", "year": "year", "日": "day", "天": "day",
          "週間": "week", "周": "week", "か月": "month", "ヶ月": "month", "カ月": "month", "个月": "month",
          "月": "month", "年": "year"}
_OFFSET_EN = re.compile(
    r"(?P<n>\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\s+"
    r"(?P<unit>day|week|month|year)s?\s+(?P<dir>after|from|later than|before|earlier than|prior to)\s+(?P<rest>.+)",
    re.IGNORECASE,
)
_CJK_UNIT = "日|天|週間|周|か月|ヶ月|カ月|个月|年"
_OFFSET_CJK = (  # 2020年3月20日の176日後 / 2020年3月20日后176天
    re.compile(rf"(?P<rest>.+?)の?(?:之)?(?P<n>\d+)\s*(?P<unit>{_CJK_UNIT})(?P<dir>後|后|前|以后|之后|以前|之前)"),
    re.compile(rf"(?P<rest>.+?)(?:之)?(?P<dir>後|后|前)(?P<n>\d+)\s*(?P<unit>{_CJK_UNIT})"),
)


def parse_day(text: str, today: date) -> date | None:
    """The date ``text`` names (``2027-04-03``, ``April 3, 2027``, ``3 April``, ``2027年4月3日``, ``4月3日``).

    Without a year it is the next such day from ``today`` on; None when no date can be read.
    """
    text = unicodedata.normalize("NFKC", text).strip()
    found: tuple[int | None, int, int] | None = None
    if m := _ISO_DATE.search(text):
        found = (int(m[1]), int(m[2]), int(m[3]))
    elif m := _US_DATE.search(text):
        found = (int(m[3]), int(m[1]), int(m[2]))
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


def shift(day: date, amount: int, unit: str) -> date:
    """A day moved by ``amount`` days, weeks, months or years (a month end stays in its month)."""
    if unit == "day":
        return day + timedelta(days=amount)
    if unit == "week":
        return day + timedelta(weeks=amount)
    months = amount * (12 if unit == "year" else 1)
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    last = (date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


def parse_offset(text: str, today: date) -> tuple[date, int, str, date] | None:
    """``176 days after March 20, 2020`` / ``2020年3月20日の176日後``: (start, amount, unit, result)."""
    text = unicodedata.normalize("NFKC", text).strip()
    readings: list[tuple[str, str, str, bool]] = []
    if m := _OFFSET_EN.search(text):
        back = m["dir"].lower() in ("before", "earlier than", "prior to")
        readings.append((m["n"].lower(), m["unit"].lower(), m["rest"], back))
    for pattern in _OFFSET_CJK:
        if m := pattern.search(text):
            readings.append((m["n"], _UNITS[m["unit"]], m["rest"], m["dir"] in ("前", "以前", "之前")))
    for n_text, unit, rest, backwards in readings:
        amount = _COUNT_WORDS[n_text] if n_text in _COUNT_WORDS else int(n_text)
        start = parse_day(rest, today)
        if start is None:
            continue
        try:
            return start, amount, unit, shift(start, -amount if backwards else amount, unit)
        except (ValueError, OverflowError):
            return None
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
        written = unquote(input)
        offset = parse_offset(written, today) if written.strip() else None
        if offset is not None:
            start, amount, unit, moved = offset
            return (f"{_long_date(start)} {'-' if moved < start else '+'} {amount} {unit}{'s' * (amount != 1)} = "
                    f"{WEEKDAYS[moved.weekday()]}, {_long_date(moved)} ({moved.isoformat()}).")
        day = parse_day(written, today) if written.strip() else None
        if day is None:
            return describe_date(today)
        return describe_day(day, today)


def _long_date(day: date) -> str:
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"


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
    """Search and Find (when there is something to search), Calculator and Calendar."""
    tools: list[Tool] = []
    if context.searcher is not None:
        tools.append(Search(context.searcher))
        tools.append(Find(context.searcher))
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
