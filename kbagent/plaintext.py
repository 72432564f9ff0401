"""Notes as a person reads them: markup, link targets and tool noise taken out for display.

The index keeps a page's text as its connector wrote it (Markdown bullets and headings, Logseq
properties, an odd Scrapbox bracket or hiccup form), because structure helps chunking and words in
markup still deserve to be found. What people and the model *read* — search snippets, the lines of
a Search result — should say only what the note says: ``**Query Tips**`` reads ``Query Tips``,
``[https://example.org/x Our map]`` reads ``Our map``, and ``[:div [:img {:src "…"}]]`` or a
Readwise "View Highlight" link reads nothing. Words, numbers and CJK text are never changed.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Logseq writes these properties on blocks for its own bookkeeping; they are not what the note says.
LOGSEQ_NOISE_PROPERTIES = frozenset(
    {
        "id", "collapsed", "heading", "background-color", "created-at", "updated-at",
        "query-table", "query-properties", "query-sort-by", "query-sort-desc", "ls-type",
        "hl-type", "hl-page", "hl-color", "hl-stamp", "template-including-parent",
        "card-repeats", "card-next-schedule", "card-last-score", "card-last-reviewed",
        "card-last-interval", "card-ease-factor",
    }
)  # fmt: skip

# A URL longer than this is shown as its host: the path of a long link is noise to a reader.
LONG_URL = 40

_NOISE_LINE = re.compile(
    r"^(?:#\+(?:BEGIN|END)_\w+.*|:LOGBOOK:|:END:|CLOCK:.*|```.*|~~~.*|\{:[^{}]*\}|\|?[\s:|-]*-{3,}[\s:|-]*\|?"
    r"|[-*_]{3,})$",
    re.I,
)
_LINE_HEAD = re.compile(r"^(?:[-*+•]\s+|#{1,6}\s+|>\s*|\[![\w-]+\][+-]?\s*|\[[ xX]\]\s+)")
_PROPERTY = re.compile(r"^([A-Za-z0-9_][\w\-.]*)::(?:\s+(.*))?$")
_CODE = re.compile(r"(`+)(.+?)\1")
_HICCUP = re.compile(r"\[:[\w.#-]+")
_MD_LINK = re.compile(r"(!?)\[([^\[\]\n]*)\]\(\s*<?([^()\s<>]*(?:\([^()\s]*\)[^()\s<>]*)*)>?(?:\s+\"[^\"]*\")?\s*\)")
_SLUG = re.compile(r"[A-Za-z0-9]+(?:[-_.][A-Za-z0-9]+)+")
_WIKI_ALIAS = re.compile(r"\[\[([^\[\]|]*)\|([^\[\]]*)\]\]")
_BRACKET = re.compile(r"(?<![A-Za-z0-9_\]])\[([^\[\]\n]*)\]")  # not an index such as a[0]
_DECORATION = re.compile(r"^[-*/_!\"#%&'~<>+]+\s+(.*)$", re.S)
_ICON = re.compile(r"^(.+?)\.icon(?:\*\d+)?$")
_URL = re.compile(r"https?://[^\s\[\]()<>\"']+")
_IMAGE = re.compile(r"\.(?:png|jpe?g|gif|svg|webp|heic|bmp)(?:[?#].*)?$|^https?://(?:i\.)?gyazo\.com/", re.I)
_EMPHASIS = (
    re.compile(r"(\*\*|__|~~|==|\^\^)(?=\S)(.+?)(?<=\S)\1"),
    re.compile(r"(?<![\w*])(\*)(?=[^\s*])([^*\n]+?)(?<=[^\s*])\*(?![\w*])"),
    re.compile(r"(?<![\w_])(_)(?=[^\s_])([^_\n]+?)(?<=[^\s_])_(?![\w_])"),
)
_HTML_TAG = re.compile(r"</?[A-Za-z][\w-]*(?:\s[^<>]*)?/?>")
_BLOCK_REF = re.compile(r"\(\([0-9a-fA-F-]{36}\)\)")
_MACRO = re.compile(r"\{\{[^{}]*\}\}")
_READWISE_LINK = re.compile(r"\(?\s*\b(?:View (?:Highlight|Tweet)|Open in Readwise)\b\s*\)?")


def plain_text(text: str) -> str:
    """A page's text as plain lines: every line through `plain_line`, empty ones left out."""
    return "\n".join(line for line in map(plain_line, text.splitlines()) if line)


def plain_line(line: str) -> str:
    """One line without markup: bullets, headings, quotes, callouts, properties and inline marks."""
    line = line.strip()
    while (head := _LINE_HEAD.match(line)) is not None:  # "- ## Heading", "> [!tip] Title"
        line = line[head.end() :]
    if _NOISE_LINE.match(line):
        return ""
    if m := _PROPERTY.match(line):
        key = m.group(1).lower()
        if key in LOGSEQ_NOISE_PROPERTIES or key.startswith("logseq."):
            return ""
        line = f"{m.group(1)}: {m.group(2) or ''}"
    if line.strip("-* ") == "":
        return ""
    return " ".join(plain_inline(line).split())


def plain_inline(text: str) -> str:
    """Inline markup made plain; code spans keep their text (without backticks) untouched."""
    out: list[str] = []
    pos = 0
    for m in _CODE.finditer(text):
        out.append(_plain_prose(text[pos : m.start()]))
        out.append(m.group(2).strip())
        pos = m.end()
    out.append(_plain_prose(text[pos:]))
    return "".join(out)


def _plain_prose(text: str) -> str:
    text = _BLOCK_REF.sub("", _MACRO.sub("", text))
    text = _drop_hiccup(text)
    text = _MD_LINK.sub(_md_link, text)
    text = _WIKI_ALIAS.sub(lambda m: m.group(2).strip() or m.group(1), text)
    for _ in range(4):  # brackets nest ("[* [link]]", "[[page]]"): the innermost go first
        text, n = _BRACKET.subn(lambda m: _bracket(m.group(1)), text)
        if not n:
            break
    for pattern in _EMPHASIS:
        text = pattern.sub(r"\2", text)
    text = _HTML_TAG.sub(" ", text)
    text = _URL.sub(lambda m: _url(m.group(0)), text)
    return _READWISE_LINK.sub("", text)


def _drop_hiccup(text: str) -> str:
    """Hiccup forms (``[:div [:img {:src "…"}]]``) give up their quoted text; the rest goes."""
    while (m := _HICCUP.search(text)) is not None:
        end = _closing(text, m.start())
        if end < 0:  # a form that goes on past this line: only its tag goes
            text = text[: m.start()] + text[m.end() :]
            continue
        form = re.sub(r"\{[^{}]*\}", " ", text[m.start() : end + 1])
        words = " ".join(s for s in re.findall(r'"([^"]*)"', form) if s.strip() and not _URL.fullmatch(s))
        text = text[: m.start()] + words + text[end + 1 :]
    return text


def _closing(text: str, start: int) -> int:
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "[":
            depth += 1
        elif text[i] == "]":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _md_link(m: re.Match[str]) -> str:
    label = m.group(2).strip()
    if m.group(1):  # an image: its alt text, unless that is only a file name or a slug ("rw-book-cover")
        return "" if _IMAGE.search(label) or _SLUG.fullmatch(label) else label
    return label or _url(m.group(3))


def _bracket(inner: str) -> str:
    """A Scrapbox bracket as its text: ``[* bold]`` → bold, ``[https://… title]`` → title."""
    inner = inner.strip()
    if inner in ("", "x", "X"):
        return ""  # a task's checkbox
    if inner.startswith("$ "):
        return inner[2:]
    if m := _DECORATION.match(inner):
        return m.group(1)
    if m := _ICON.match(inner):
        return m.group(1)
    words = inner.split()
    if len(words) > 1 and _URL.fullmatch(words[0]):
        return " ".join(words[1:])
    if len(words) > 1 and _URL.fullmatch(words[-1]):
        return " ".join(words[:-1])
    return inner


def _url(url: str) -> str:
    """A URL as a reader wants it: nothing for an image, the host for a long one."""
    if _IMAGE.search(url):
        return ""
    if len(url) > LONG_URL:
        return urlsplit(url).netloc
    return url
