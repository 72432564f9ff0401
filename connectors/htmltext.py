"""HTML (and Confluence storage format) to plain text that keeps the page's structure.

Headings become ``#`` lines, list items ``-`` / ``1.`` bullets indented by nesting depth, table rows
``a | b`` lines, code blocks keep their lines, and paragraphs are separated by blank lines, so
the chunker can split the text where the page has its sections. Confluence's ``ac:``/``ri:``
elements are understood: macro parameters are dropped, code bodies kept, and a link to a page
without its own text shows the page's title.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_HEADINGS = {f"h{i}": i for i in range(1, 7)}
_BLOCKS = {
    "p", "div", "section", "article", "blockquote", "pre", "table", "tr", "hr", "dl", "dt", "dd",
    "ac:layout-section", "ac:layout-cell", "ac:rich-text-body", "ac:task", "ac:structured-macro",
    "ac:plain-text-body", "figure", "figcaption", "header", "footer", "main", "aside",
}
_PARAGRAPHS = {"p", "blockquote", "pre", "table", "ac:structured-macro", "figure"}
_SKIP = {"script", "style", "head", "title", "ac:parameter", "ac:emoticon", "ac:placeholder", "template"}
_VERBATIM = {"pre", "ac:plain-text-body"}
_SPACE = re.compile(r"\s+")


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.cur: list[str] = []
        self.marker = ""  # bullet or heading mark for the next line written
        self.lists: list[list[int | str]] = []  # [tag, items so far] per open list
        self.skip = 0
        self.verbatim = 0
        self.cells = 0
        self.link_title: list[str | None] = []  # per open ac:link: a linked page's title
        self.link_text: list[int] = []  # text length when each ac:link opened

    # line handling ---------------------------------------------------------------------------
    def _indent(self) -> str:
        return "  " * len(self.lists)

    def _break(self) -> None:
        text = "".join(self.cur).strip()
        if text:
            prefix = self.marker or self._indent()
            self.lines.append(prefix + text)
            self.marker = ""
        self.cur = []
        self.cells = 0

    def _blank(self) -> None:
        self._break()
        if self.lines and self.lines[-1] != "" and not self.lists:
            self.lines.append("")

    def _block_edge(self, tag: str) -> None:
        """Start or end of a block: paragraphs get a blank line around them, other blocks a new line."""
        if tag in _PARAGRAPHS:
            self._blank()
        else:
            self._break()

    def _written(self) -> int:
        return sum(len(s) for s in self.cur) + sum(len(s) for s in self.lines)

    # parser callbacks ------------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
            return
        if self.skip:
            return
        if tag in _HEADINGS:
            self._blank()
            self.marker = "#" * _HEADINGS[tag] + " "
        elif tag in ("ul", "ol"):
            self._break()
            self.lists.append([tag, 0])
        elif tag == "li":
            self._break()
            if not self.lists:
                self.lists.append(["ul", 0])
            kind = self.lists[-1]
            kind[1] = int(kind[1]) + 1
            mark = f"{kind[1]}." if kind[0] == "ol" else "-"
            self.marker = "  " * (len(self.lists) - 1) + mark + " "
        elif tag in ("td", "th"):
            if self.cells:
                self.cur.append(" | ")
            self.cells += 1
        elif tag == "br":
            self._break()
        elif tag in _BLOCKS:
            self._block_edge(tag)
        if tag in _VERBATIM:
            self.verbatim += 1
        if tag == "ac:link":
            self.link_title.append(None)
            self.link_text.append(self._written())
        elif tag == "ri:page" and self.link_title:
            self.link_title[-1] = dict(attrs).get("ri:content-title")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "ri:page" and self.link_title:
            self.link_title[-1] = dict(attrs).get("ri:content-title")
            return
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "hr", "ri:page"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if self.skip:
            return
        if tag in _VERBATIM:
            self.verbatim = max(0, self.verbatim - 1)
            line = "".join(self.cur).rstrip()  # keep the code's own indentation
            if line:
                self.lines.append(self._indent() + line)
            self.cur = []
        if tag == "ac:link" and self.link_title:
            title = self.link_title.pop()
            start = self.link_text.pop()
            if title and self._written() == start:
                self.cur.append(title)
            return
        if tag in ("ul", "ol"):
            self._break()
            if self.lists:
                self.lists.pop()
            if not self.lists:
                self._blank()
        elif tag in _HEADINGS:
            self._blank()
        elif tag == "li":
            self._break()
        elif tag in _BLOCKS:
            self._block_edge(tag)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.verbatim:
            self._verbatim(data)
            return
        text = _SPACE.sub(" ", data)
        if not "".join(self.cur).strip():
            text = text.lstrip()
        if text:
            self.cur.append(text)

    def _verbatim(self, data: str) -> None:
        parts = data.replace("\r\n", "\n").split("\n")
        for i, part in enumerate(parts):
            if i:
                line = "".join(self.cur).rstrip()
                self.lines.append(self._indent() + line if line else "")
                self.cur = []
            self.cur.append(part)

    def unknown_decl(self, data: str) -> None:
        if data.startswith("CDATA["):  # Confluence puts code and link text in CDATA sections
            self.handle_data(data[len("CDATA[") :])

    def handle_comment(self, data: str) -> None:
        if data.startswith("[CDATA[") and data.endswith("]]"):  # how newer Pythons report CDATA
            self.handle_data(data[len("[CDATA[") : -2])

    def result(self) -> str:
        self._break()
        out: list[str] = []
        for line in self.lines:
            if line == "" and (not out or out[-1] == ""):
                continue
            out.append(line.rstrip())
        while out and out[-1] == "":
            out.pop()
        return "\n".join(out)


def html_to_text(html: str) -> str:
    """Readable text from HTML or Confluence storage format, keeping headings, lists and tables."""
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.result()
