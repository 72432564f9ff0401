"""The Calculator tool: arithmetic parsed and evaluated exactly by this module, never as code."""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction

from kbagent.microformat import unquote

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
