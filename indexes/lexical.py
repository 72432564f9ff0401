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
"what", "the", "of", "is" alone, even when the answer is in a Japanese page. IDF alone is not
enough either: in a mostly-Japanese index those English words are rare, so they weigh most. So
function words (English stop words, Japanese and Chinese particles and question words) are left
out of the match and weigh nothing in the coverage, unless the query has nothing else. A hit also
carries ``rare``: its share of the query's rare words — words (not CJK bigrams) on at most
`RARE_CHUNKS` chunk, what Ctrl+F would find in one place — which fusion ranks above the chunks the
words did not find.
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
_CJK_CHAR = re.compile(f"[{_CJK_RANGES}]")
_SEGMENT = re.compile(f"(?P<cjk>[{_CJK_RANGES}]+)|(?P<word>[^\\W_{_CJK_RANGES}]+)")

_CHUNKS = "lexical_chunks"
_FTS = "lexical_fts"
_VOCAB = "temp.lexical_vocab"  # per connection: document frequencies, for the IDF weights
_BATCH = 500  # stays under SQLite's bound-parameter limit
# A pasted page as a query would make an OR of thousands of terms (seconds per search); its
# first terms are plenty to find where it came from.
_MAX_QUERY_TERMS = 128
# A query word on at most this many chunks is a rare word: the one place Ctrl+F would show. (Three
# chunks cost English Recall@1 on the Logseq docs: descriptions share many a word with one other page.)
RARE_CHUNKS = 1

# Words that say how a question is asked, not what it is about: counted as evidence they make any
# English line "match" a question (and in a mostly-Japanese page they are rare, so IDF inflates them).
FUNCTION_WORDS = frozenset(
    """a an the of in on at to for from by with about into is are was were be been being do does did
    what which who whom whose when where why how many much my your our their his her its it this that
    these those there here and or but not no yes can could should would will shall may might must
    i you we they he she me us them than then so as if any some all each per according notes note page
    say says said tell write wrote written""".split()  # noqa: SIM905 - a word list reads better as prose
)
# Particles and question words of Japanese and Chinese: a bigram made only of them ("は何", "什么")
# says nothing about a topic.
CJK_FUNCTION_CHARS = frozenset("何誰哪几谁吗呢的了はがをにでとのもかへやねよ？")
CJK_QUESTION_WORDS = frozenset(
    {"什么", "多少", "怎么", "いく", "くら", "なに", "なん", "だれ", "どこ", "いつ", "どの", "どう"}
)


@dataclass(frozen=True)
class LexicalHit:
    """A chunk found by words, with its BM25-style score and how much of the query it matched."""

    chunk_id: str
    score: float
    coverage: float  # IDF-weighted fraction of the query's meaningful terms found in this chunk, 0..1
    rare: float = 0.0  # the same for the query's rare words (on at most RARE_CHUNKS chunks); 0 if none


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


# Stop words as the index stores them ("does" is stored as "doe", "this" as "thi").
_FUNCTION_TERMS = FUNCTION_WORDS | {_singular(w) for w in FUNCTION_WORDS}


def _rare_candidate(term: str) -> bool:
    # A CJK bigram on one chunk is often two words' edges ("京タ"), not a rare word: only whole
    # words count (measured: counting bigrams too cost English→Japanese Recall@1 0.26 → 0.18).
    return _CJK_CHAR.search(term) is None


def is_function_term(term: str) -> bool:
    """True for a stored term that carries no topic: a stop word (as stemmed) or a CJK particle run."""
    if term in _FUNCTION_TERMS or term in CJK_QUESTION_WORDS:
        return True
    return not term.isascii() and all(ch in CJK_FUNCTION_CHARS for ch in term)


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
    function: frozenset[str] = frozenset()  # terms that carry no topic (none when all of them would)

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
        function = frozenset(t for t in (*terms, *chars) if is_function_term(t))
        if len(function) == len(terms) + len(chars):
            function = frozenset()  # "what is this": the words asked are all there is to find
        return cls(stream, terms, chars, function)

    @property
    def size(self) -> int:
        """Number of distinct terms."""
        return len(self.terms) + len(self.chars)

    def keys(self) -> list[tuple[str, str]]:
        """(column, term) of every distinct term that carries meaning."""
        return [
            *(("terms", t) for t in self.terms if t not in self.function),
            *(("chars", c) for c in self.chars if c not in self.function),
        ]

    def match(self) -> str:
        """FTS5 query for any meaningful term (terms are only letters and digits: quoting is safe)."""
        return " OR ".join(f'{col} : "{t}"' for col, t in self.keys())

    def phrase(self) -> str | None:
        """An FTS5 query for the whole term stream in order, or None when it is a single term."""
        if not 2 <= len(self.stream) <= _MAX_QUERY_TERMS:
            return None
        return f'terms : "{" ".join(self.stream)}"'

    @staticmethod
    def coverage(weights: dict[tuple[str, str], float], terms: str, chars: str) -> float:
        """Weighted fraction of the (column, term) keys of ``weights`` found in a chunk's columns."""
        total = sum(weights.values())
        if total <= 0:
            return 0.0
        # Substring tests on the space-padded columns: several times faster than building sets.
        columns = {"terms": f" {terms} ", "chars": f" {chars} "}
        return sum(w for (col, t), w in weights.items() if f" {t} " in columns[col]) / total


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
        df = self._df(q)
        n = self._count()
        weights = {key: math.log(1 + (n - d + 0.5) / (d + 0.5)) for key, d in df.items()}
        rare = {key: weights[key] for key, d in df.items() if 0 < d <= RARE_CHUNKS and _rare_candidate(key[1])}
        boost = max(r[2] for r in rows)
        hits = [
            LexicalHit(
                chunk_id=chunk_id,
                score=score + (boost if rowid in verbatim else 0.0),
                coverage=q.coverage(weights, terms, chars),
                rare=q.coverage(rare, terms, chars),
            )
            for chunk_id, rowid, score, terms, chars in rows
        ]
        hits.sort(key=lambda h: -h.score)
        return hits[:k]

    def _count(self) -> int:
        (n,) = self.conn.execute(f"SELECT count(*) FROM {_CHUNKS}").fetchone()
        return int(n)

    def _df(self, q: _Query) -> dict[tuple[str, str], int]:
        """How many chunks hold each meaningful query term, in its column."""
        wanted = q.keys()
        df = dict.fromkeys(wanted, 0)
        words = list({t for _, t in wanted})
        for batch in _batches(words):
            marks = ",".join("?" * len(batch))
            for term, col, docs in self.conn.execute(
                f"SELECT term, col, doc FROM {_VOCAB} WHERE term IN ({marks})", batch
            ):
                if (col, term) in df:
                    df[col, term] = docs
        return df
