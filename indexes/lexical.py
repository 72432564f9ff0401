"""The lexical (Ctrl+F) index: SQLite FTS5 that works for CJK text, including 1–2 character terms.

Text is tokenised here, not by FTS5, because FTS5's own tokenizers fail on CJK: ``unicode61``
makes a whole unspaced sentence one token, and ``trigram`` silently finds nothing for the
1–2 character words that are everyday Japanese (猫, 東京, 会議). After NFKC and lowercasing,
a text becomes a stream of terms:

- a run of Latin/other letters and digits is one word (``Kintone`` → ``kintone``); English
  plurals lose their ``s`` (Harman's S-stemmer), so ``properties`` finds ``property``;
- a run of CJK characters (kanji/hanzi, hiragana, katakana, hangul) becomes its overlapping
  character bigrams (``東京タワー`` → ``東京 京タ タワ ワー``); a one-character run stays a
  unigram;
- every CJK character is also stored as a unigram in a second column, so that a one-character
  query term (``猫``) finds it inside longer runs (``黒猫``).

FTS5's ``ascii`` tokenizer then only splits the stored terms at spaces. A query is tokenised the
same way and sent as an OR of quoted terms (user text never reaches the FTS5 query parser, so
``"``, ``*``, ``AND`` or ``(`` cannot raise; a pasted page keeps its first 128 distinct
terms), ranked by BM25. Chunks that contain the query's
whole term stream consecutively (what Ctrl+F would find, ignoring case and punctuation) get the
best BM25 of the result added to their score, so they come first. Each hit also carries its
``coverage``: the fraction of the query's distinct terms it contains, each term weighted by its
BM25 IDF — the evidence hybrid fusion uses to decide how far to trust the lexical ranking. The
weighting matters: unweighted, an English question "covers" half of any English page through
"what", "the", "of", "is" alone, even when the answer is in a Japanese page.
"""

from __future__ import annotations

import math
import re
import sqlite3
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# Han (with extensions and compatibility ideographs), kana, hangul, and the CJK marks 々〆〇.
_CJK_RANGES = (
    "\u1100-\u11ff\u3005-\u3007\u3041-\u309f\u30a0-\u30ff\u3130-\u318f\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff\uf900-\ufaff"
    "\U00020000-\U0003134f"
)
_SEGMENT = re.compile(f"(?P<cjk>[{_CJK_RANGES}]+)|(?P<word>[^\\W_{_CJK_RANGES}]+)")

_CHUNKS = "lexical_chunks"
_FTS = "lexical_fts"
_VOCAB = "temp.lexical_vocab"  # per connection: document frequencies, for the IDF weights
_BATCH = 500  # stays under SQLite's bound-parameter limit
# A pasted page as a query would make an OR of thousands of terms (seconds per search); its
# first terms are plenty to find where it came from.
_MAX_QUERY_TERMS = 128


@dataclass(frozen=True)
class LexicalHit:
    """A chunk found by words, with its BM25-style score and how much of the query it matched."""

    chunk_id: str
    score: float
    coverage: float  # fraction of the query's terms found in this chunk, 0..1


@dataclass(frozen=True)
class Terms:
    """A text as the index sees it: the term stream and the CJK unigrams."""

    stream: tuple[str, ...]
    chars: tuple[str, ...]


def _singular(word: str) -> str:
    """Harman's S-stemmer: English plurals meet their singular ("properties" finds "property")."""
    if len(word) <= 3 or not word.isascii() or not word.endswith("s"):
        return word
    if word.endswith("ies") and not word.endswith(("eies", "aies")):
        return word[:-3] + "y"
    if word.endswith("es") and not word.endswith(("aes", "ees", "oes")):
        return word[:-1]
    if not word.endswith(("us", "ss")):
        return word[:-1]
    return word


def analyze(text: str) -> Terms:
    """Tokenise a text into words and CJK bigrams (a lone CJK character stays), plus unigrams."""
    stream: list[str] = []
    chars: list[str] = []
    for m in _SEGMENT.finditer(unicodedata.normalize("NFKC", text).lower()):
        run = m.group("cjk")
        if run is None:
            stream.append(_singular(m.group("word")))
        elif len(run) == 1:
            stream.append(run)
            chars.append(run)
        else:
            stream.extend(run[i : i + 2] for i in range(len(run) - 1))
            chars.extend(run)
    return Terms(tuple(stream), tuple(chars))


@dataclass(frozen=True)
class _Query:
    """The distinct terms of a query, split by the column each is looked up in."""

    stream: tuple[str, ...]  # the whole query in order, for the verbatim (phrase) match
    terms: tuple[str, ...]  # distinct words and bigrams, looked up in the ``terms`` column
    chars: tuple[str, ...]  # distinct lone CJK characters, looked up in the ``chars`` column

    @classmethod
    def parse(cls, text: str) -> _Query:
        """Split a query into distinct terms; a lone CJK character is searched among unigrams."""
        analysed = analyze(text)
        cjk = set(analysed.chars)
        stream = analysed.stream
        seen: set[str] = set()
        for i, t in enumerate(stream):  # keep the longest prefix with few enough distinct terms
            seen.add(t)
            if len(seen) > _MAX_QUERY_TERMS:
                stream = stream[:i]
                break
        lone = {t for t in stream if len(t) == 1 and t in cjk}
        terms = tuple(dict.fromkeys(t for t in stream if t not in lone))
        chars = tuple(dict.fromkeys(t for t in stream if t in lone))
        return cls(stream, terms, chars)

    @property
    def size(self) -> int:
        """Number of distinct terms."""
        return len(self.terms) + len(self.chars)

    def match(self) -> str:
        """FTS5 query for any of the terms (terms are only letters and digits: quoting is safe)."""
        parts = [f'terms : "{t}"' for t in self.terms] + [f'chars : "{c}"' for c in self.chars]
        return " OR ".join(parts)

    def phrase(self) -> str | None:
        """An FTS5 query for the whole term stream in order, or None when it is a single term."""
        if not 2 <= len(self.stream) <= _MAX_QUERY_TERMS:
            return None
        return f'terms : "{" ".join(self.stream)}"'

    def coverage(self, weights: dict[tuple[str, str], float], terms: str, chars: str) -> float:
        """IDF-weighted fraction of the distinct query terms found in a chunk's stored columns."""
        total = sum(weights.values())
        # Substring tests on the space-padded columns: several times faster than building sets.
        terms, chars = f" {terms} ", f" {chars} "
        found = sum(weights["terms", t] for t in self.terms if f" {t} " in terms) + sum(
            weights["chars", c] for c in self.chars if f" {c} " in chars
        )
        return found / total if total > 0 else 0.0


def _batches(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), _BATCH):
        yield items[i : i + _BATCH]


class LexicalIndex:
    """FTS5 tables inside the catalogue's SQLite connection, so updates share its transactions."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def create(self) -> None:
        """Create the tables if missing."""
        self.conn.execute(
            f"CREATE TABLE IF NOT EXISTS {_CHUNKS} ("
            " id INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL UNIQUE, source TEXT NOT NULL)"
        )
        # 'ascii' splits only at ASCII non-alphanumerics: our own spaces between stored terms.
        self.conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {_FTS} USING fts5(terms, chars, tokenize='ascii')")
        self.conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {_VOCAB} USING fts5vocab(main, {_FTS}, 'col')")

    def add(self, items: Iterable[tuple[str, str, str]]) -> None:
        """Index (chunk_id, source, text) triples, replacing any with the same id.

        The caller owns the transaction.
        """
        items = list({chunk_id: (chunk_id, source, text) for chunk_id, source, text in items}.values())
        self.delete([chunk_id for chunk_id, _, _ in items])
        for chunk_id, source, text in items:
            cur = self.conn.execute(f"INSERT INTO {_CHUNKS}(chunk_id, source) VALUES (?, ?)", (chunk_id, source))
            t = analyze(text)
            self.conn.execute(
                f"INSERT INTO {_FTS}(rowid, terms, chars) VALUES (?, ?, ?)",
                (cur.lastrowid, " ".join(t.stream), " ".join(t.chars)),
            )

    def delete(self, chunk_ids: Iterable[str]) -> None:
        """Remove chunks (unknown ids are ignored). The caller owns the transaction."""
        for batch in _batches(list(chunk_ids)):
            marks = ",".join("?" * len(batch))
            rows = self.conn.execute(f"SELECT id FROM {_CHUNKS} WHERE chunk_id IN ({marks})", batch).fetchall()
            self.conn.executemany(f"DELETE FROM {_FTS} WHERE rowid = ?", rows)
            self.conn.executemany(f"DELETE FROM {_CHUNKS} WHERE id = ?", rows)

    def search(self, query: str, k: int = 50, sources: list[str] | None = None) -> list[LexicalHit]:
        """Best chunks for a query, best first; chunks containing the query verbatim come first."""
        q = _Query.parse(query)
        if q.size == 0 or k <= 0 or sources == []:
            return []
        where, params = "", []
        if sources is not None:
            where = f" AND c.source IN ({','.join('?' * len(sources))})"
            params = list(sources)
        select = (
            f"SELECT c.chunk_id, f.rowid, -bm25({_FTS}), f.terms, f.chars"
            f" FROM {_FTS} f JOIN {_CHUNKS} c ON c.id = f.rowid"
            f" WHERE {_FTS} MATCH ?{where}"
        )
        rows = self.conn.execute(f"{select} ORDER BY bm25({_FTS}) LIMIT ?", [q.match(), *params, k]).fetchall()
        verbatim: set[int] = set()
        phrase = q.phrase()
        if phrase is not None:
            verbatim = {r[1] for r in self.conn.execute(f"{select} LIMIT ?", [phrase, *params, 4 * k])}
            missing = verbatim - {r[1] for r in rows}
            if missing:
                # Verbatim matches ranked below the top k by BM25: fetch their BM25 scores too.
                marks = ",".join("?" * len(missing))
                rows += self.conn.execute(
                    f"{select} AND f.rowid IN ({marks})", [q.match(), *params, *missing]
                ).fetchall()
        if not rows:
            return []
        weights = self._idf(q)
        boost = max(r[2] for r in rows)
        hits = [
            LexicalHit(
                chunk_id=chunk_id,
                score=score + (boost if rowid in verbatim else 0.0),
                coverage=q.coverage(weights, terms, chars),
            )
            for chunk_id, rowid, score, terms, chars in rows
        ]
        hits.sort(key=lambda h: -h.score)
        return hits[:k]

    def _idf(self, q: _Query) -> dict[tuple[str, str], float]:
        """BM25's IDF of each query term in its column (a term no chunk holds weighs most)."""
        (n,) = self.conn.execute(f"SELECT count(*) FROM {_CHUNKS}").fetchone()
        wanted = [*(("terms", t) for t in q.terms), *(("chars", c) for c in q.chars)]
        df = dict.fromkeys(wanted, 0)
        words = list({t for _, t in wanted})
        for batch in _batches(words):
            marks = ",".join("?" * len(batch))
            for term, col, docs in self.conn.execute(
                f"SELECT term, col, doc FROM {_VOCAB} WHERE term IN ({marks})", batch
            ):
                if (col, term) in df:
                    df[col, term] = docs
        return {key: math.log(1 + (n - d + 0.5) / (d + 0.5)) for key, d in df.items()}
