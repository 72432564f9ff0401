"""A small reader for EDN, the data notation of Logseq's ``logseq/config.edn``.

Only reading is needed, and only what config files hold: maps, vectors, lists, sets, strings,
characters, keywords, symbols, numbers, booleans and ``nil``; ``;`` comments and ``#_`` discards
are skipped, and a tagged value (``#inst "…"``) is read as its value. Logseq's default config
is mostly comments (``;; :pages-directory "your-directory"``), which is why a regular expression
over the text is not enough. Collections become hashable values where EDN allows them as map
keys or set members: vectors and lists are tuples, sets are frozensets; maps are dicts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


class EdnError(ValueError):
    """The text is not EDN this reader understands; the message says where."""


@dataclass(frozen=True)
class Keyword:
    """An EDN keyword such as ``:pages-directory`` (``name`` is without the colon)."""

    name: str


@dataclass(frozen=True)
class Symbol:
    """An EDN symbol such as ``fn`` or ``?h``."""

    name: str


_DELIMITERS = frozenset("()[]{}\";,")
_CLOSERS = {"(": ")", "[": "]", "{": "}"}
_INT = re.compile(r"[+-]?\d+N?")
_FLOAT = re.compile(r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?M?")
_RATIO = re.compile(r"[+-]?\d+/\d+")
_ESCAPES = {"t": "\t", "r": "\r", "n": "\n", "\\": "\\", '"': '"', "b": "\b", "f": "\f", "'": "'"}
_CHAR_NAMES = {
    "newline": "\n", "space": " ", "tab": "\t", "return": "\r", "formfeed": "\f", "backspace": "\b",
}  # fmt: skip
_END = object()  # what a closing bracket reads as, so collections know where they stop


def loads(text: str) -> Any:
    """The first value in ``text`` (an empty or comment-only text reads as ``None``)."""
    reader = _Reader(text)
    value = reader.read(top=True)
    return None if value is _END else value


def get(data: Any, key: str) -> Any:
    """``data[:key]`` when ``data`` is a map, else ``None`` (``key`` is given without the colon)."""
    return data.get(Keyword(key)) if isinstance(data, dict) else None


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, message: str) -> EdnError:
        line = self.text.count("\n", 0, self.pos) + 1
        return EdnError(f"{message} (line {line})")

    def skip_space(self) -> None:
        text, n = self.text, len(self.text)
        while self.pos < n:
            ch = text[self.pos]
            if ch.isspace() or ch == ",":
                self.pos += 1
            elif ch == ";":
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end + 1
            elif text.startswith("#_", self.pos):
                self.pos += 2
                if self.read() is _END:
                    raise self.fail("#_ with nothing to discard")
            else:
                return

    def read(self, top: bool = False, closer: str = "") -> Any:
        """One value; `_END` at the closing bracket ``closer`` (or at the end of a top-level text)."""
        self.skip_space()
        if self.pos >= len(self.text):
            if top:
                return _END
            raise self.fail("unexpected end of text")
        ch = self.text[self.pos]
        if ch in ")]}":
            if ch != closer:
                raise self.fail(f"unexpected {ch!r}")
            self.pos += 1
            return _END
        if ch in _CLOSERS:
            self.pos += 1
            items = self.items(_CLOSERS[ch])
            return tuple(items) if ch != "{" else self.mapping(items)
        if ch == '"':
            return self.string()
        if ch == "\\":
            return self.char()
        if ch == "#":
            return self.dispatch()
        if ch == "'":  # Clojure's quote, seen in hand-written configs: the quoted form itself
            self.pos += 1
            return self.read()
        return self.atom()

    def items(self, closer: str) -> list[Any]:
        out = []
        while (value := self.read(closer=closer)) is not _END:
            out.append(value)
        return out

    def mapping(self, items: list[Any]) -> dict[Any, Any]:
        if len(items) % 2:
            raise self.fail("a map needs an even number of forms")
        try:
            return dict(zip(items[::2], items[1::2], strict=True))
        except TypeError as exc:  # a map used as a key: valid EDN, never seen in a config
            raise self.fail(f"unsupported map key: {exc}") from None

    def dispatch(self) -> Any:
        nxt = self.text[self.pos + 1 : self.pos + 2]
        if nxt == "{":
            self.pos += 2
            try:
                return frozenset(self.items("}"))
            except TypeError as exc:
                raise self.fail(f"unsupported set member: {exc}") from None
        if nxt == '"':  # a regular expression (Clojure, not EDN): its source text
            self.pos += 1
            return self.string(raw=True)
        if nxt == "#":  # ##Inf, ##-Inf, ##NaN
            self.pos += 2
            name = self.token()
            values = {"Inf": float("inf"), "-Inf": float("-inf"), "NaN": float("nan")}
            if name not in values:
                raise self.fail(f"unknown ##{name}")
            return values[name]
        self.pos += 1
        tag = self.token()
        if not tag:
            raise self.fail("# followed by nothing readable")
        value = self.read()
        if value is _END:
            raise self.fail(f"#{tag} with no value")
        return value  # #inst, #uuid and the like: the value as written is what a config needs

    def string(self, raw: bool = False) -> str:
        text, start = self.text, self.pos + 1
        out: list[str] = []
        i = start
        while i < len(text):
            ch = text[i]
            if ch == '"':
                self.pos = i + 1
                return "".join(out)
            if ch == "\\" and i + 1 < len(text):
                esc = text[i + 1]
                if raw:
                    out.append(ch + esc)
                elif esc == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
                    out.append(chr(int(text[i + 2 : i + 6], 16)))
                    i += 4
                elif esc in _ESCAPES:
                    out.append(_ESCAPES[esc])
                else:
                    self.pos = i
                    raise self.fail(f"unknown escape \\{esc} in a string")
                i += 2
                continue
            out.append(ch)
            i += 1
        self.pos = start
        raise self.fail("unterminated string")

    def char(self) -> str:
        self.pos += 1
        if self.pos >= len(self.text):
            raise self.fail("a lone backslash")
        first = self.text[self.pos]
        name = self.token()
        if len(name) <= 1:
            self.pos += 0 if name else 1  # a delimiter character such as \( or \;
            return name or first
        if name in _CHAR_NAMES:
            return _CHAR_NAMES[name]
        if re.fullmatch(r"u[0-9a-fA-F]{4}", name):
            return chr(int(name[1:], 16))
        raise self.fail(f"unknown character \\{name}")

    def token(self) -> str:
        start = self.pos
        text, n = self.text, len(self.text)
        while self.pos < n and not text[self.pos].isspace() and text[self.pos] not in _DELIMITERS:
            self.pos += 1
        return text[start : self.pos]

    def atom(self) -> Any:
        token = self.token()
        if not token:
            raise self.fail(f"unexpected {self.text[self.pos]!r}")
        if token.startswith(":"):
            return Keyword(token.lstrip(":"))  # ::auto-resolved keywords keep their name
        if token == "nil":
            return None
        if token in ("true", "false"):
            return token == "true"
        if _INT.fullmatch(token):
            return int(token.rstrip("N"))
        if _FLOAT.fullmatch(token):
            return float(token.rstrip("M"))
        if _RATIO.fullmatch(token):
            num, den = token.split("/")
            if int(den) == 0:
                raise self.fail(f"division by zero in {token}")
            return int(num) / int(den)
        if token[0].isdigit():
            raise self.fail(f"not a number: {token}")
        return Symbol(token)
