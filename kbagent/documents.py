"""Pages as values (`Document`), their pieces (`Chunk`), and the structure-aware chunker."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Document:
    """One page of a source: a note, a highlight file, a record.

    ``id`` is stable within its source (a Scrapbox page id, a vault-relative path, a record id)
    so that re-indexing recognises the same page; ``version`` is whatever the source uses to say
    a page changed (an update time, a revision number) and may be empty.
    """

    id: str
    source: str
    title: str
    text: str
    url: str = ""
    updated: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    version: str = ""

    @property
    def key(self) -> str:
        """The id that is unique across all sources."""
        return f"{self.source}\x1f{self.id}"

    @property
    def content_hash(self) -> str:
        """A hash of everything that would change what is indexed for this page."""
        h = hashlib.sha256()
        for part in (self.title, self.text, self.url, *sorted(f"{k}={v}" for k, v in self.metadata.items())):
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\x00")
        return h.hexdigest()


@dataclass(frozen=True)
class Chunk:
    """A piece of a page small enough for the embedding model, with its page's title and link."""

    id: str
    doc_key: str
    source: str
    doc_id: str
    ordinal: int
    title: str
    text: str
    url: str

    @property
    def embed_text(self) -> str:
        """What the embedding model sees: the page title as context, then the chunk."""
        return embed_text(self.title, self.text)


def embed_text(title: str, text: str) -> str:
    """The text a chunk is embedded and lexically indexed as: its page title, then the chunk."""
    return f"{title}\n{text}" if title else text


# List, heading and quote marks at the start of a line, and a lone Logseq bullet: layout, not words.
_LINE_MARKS = re.compile(r"^\s*(?:(?:[-*+>•]|#{1,6}|\d+[.)])(?=\s|$)\s*)*")
_WORD = re.compile(r"[^\W_]")


def has_content(title: str, text: str) -> bool:
    """True when ``text`` says something beyond ``title``: a letter or digit outside list marks.

    An empty note, an image-only page (its image dropped by the connector) or a page that is only
    its own heading or properties holds its title alone, and a short text's embedding lands near
    every short query: such a chunk is "hollow", and search trusts it only when words match.
    """
    name = " ".join(title.split()).casefold()
    for line in text.split("\n"):
        line = " ".join(_LINE_MARKS.sub("", line).split())
        if _WORD.search(line) and line.casefold() != name:
            return True
    return False


class TokenCounter(Protocol):
    """Counts tokens the way the embedding model does."""

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Number of tokens of each text, without special tokens."""
        ...


_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*")


def _chunk_id(doc: Document, ordinal: int, text: str) -> str:
    # content-addressed: the same page, position, title and text always give the same id, so an
    # unchanged chunk is never embedded again and a replayed write is harmless
    raw = f"{doc.key}\x1f{ordinal}\x1f{doc.title}\x1f{text}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(raw).hexdigest()[:32]


# C0/C1 control characters except tab and newline, and lone surrogates (from bad decoding);
# format characters such as ZWJ stay, or emoji sequences would break
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def normalize_text(text: str) -> str:
    """NFC-normalise, unify newlines and drop control characters other than tab/newline."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _CONTROL.sub("", text)


def _indent(line: str) -> int:
    stripped = line.lstrip(" \t\u3000")
    return len(line) - len(stripped)


def blocks(text: str) -> list[str]:
    """Split a page into structural blocks.

    A block starts at a Markdown heading, at a top-level (unindented) line after a blank line,
    or at a top-level bullet; indented lines stay with the block above them (an outline's
    children belong to their parent).
    """
    out: list[list[str]] = []
    prev_blank = True
    for line in text.split("\n"):
        if not line.strip():
            prev_blank = True
            if out:
                out[-1].append("")
            continue
        top = _indent(line) == 0
        starts = (
            not out
            or _HEADING.match(line) is not None
            or (top and (prev_blank or line.lstrip().startswith(("- ", "* ", "+ "))))
        )
        if starts:
            out.append([line])
        else:
            out[-1].append(line)
        prev_blank = False
    return ["\n".join(b).strip("\n") for b in out if any(s.strip() for s in b)]


@dataclass(frozen=True)
class Chunker:
    """Packs a page's blocks into chunks of at most ``max_tokens`` embedding-model tokens.

    Counting is done by the embedding model's own tokenizer, so CJK text (no spaces) is measured
    correctly; an over-long line is cut at sentence ends, then at token-exact character offsets.
    """

    counter: TokenCounter
    max_tokens: int = 256
    overlap_lines: int = 0

    def chunk(self, doc: Document) -> list[Chunk]:
        """Split one document into chunks with stable ids."""
        budget = max(16, self.max_tokens - self._title_cost(doc.title))
        pieces: list[str] = []
        for block in blocks(doc.text):
            pieces.extend(self._split(block, budget))
        packed = self._pack(pieces, budget)
        if not packed and doc.title.strip():
            # A page with only a title is still findable by its title; search keeps such a chunk
            # below the pages with something in them unless the query names it (see `has_content`).
            packed = [""]
        return [
            Chunk(
                id=_chunk_id(doc, i, text),
                doc_key=doc.key,
                source=doc.source,
                doc_id=doc.id,
                ordinal=i,
                title=doc.title,
                text=text,
                url=doc.url,
            )
            for i, text in enumerate(packed)
        ]

    def _title_cost(self, title: str) -> int:
        return self.counter.count_tokens([title])[0] + 1 if title else 0

    def _pack(self, pieces: list[str], budget: int) -> list[str]:
        if not pieces:
            return []
        sizes = self.counter.count_tokens(pieces)
        out: list[str] = []
        cur: list[str] = []
        cur_size = 0
        for piece, size in zip(pieces, sizes, strict=True):
            # +1 for the newline that joins pieces
            if cur and cur_size + size + 1 > budget:
                out.append("\n".join(cur))
                cur, cur_size = [], 0
            cur.append(piece)
            cur_size += size + (1 if len(cur) > 1 else 0)
        if cur:
            out.append("\n".join(cur))
        return out

    def _split(self, block: str, budget: int) -> Iterator[str]:
        """Yield parts of a block that each fit the budget."""
        if self.counter.count_tokens([block])[0] <= budget:
            yield block
            return
        lines = block.split("\n")
        if len(lines) > 1:
            for line in lines:
                if line.strip():
                    yield from self._split(line, budget)
            return
        sentences = [s for s in _SENTENCE_END.split(block) if s]
        if len(sentences) > 1:
            for s in sentences:
                yield from self._split(s, budget)
            return
        yield from self._cut(block, budget)

    def _cut(self, text: str, budget: int) -> Iterator[str]:
        """Cut a text with no sentence breaks at character offsets that fit the budget."""
        while text:
            if self.counter.count_tokens([text])[0] <= budget:
                yield text
                return
            lo, hi = 1, len(text)
            while lo < hi:  # largest prefix that fits
                mid = (lo + hi + 1) // 2
                if self.counter.count_tokens([text[:mid]])[0] <= budget:
                    lo = mid
                else:
                    hi = mid - 1
            cut = lo
            # prefer to cut at a space if one is near the end (keeps Latin words whole)
            space = text.rfind(" ", max(0, cut - 40), cut)
            if space > 0:
                cut = space
            yield text[:cut]
            text = text[cut:].lstrip()
