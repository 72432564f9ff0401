"""The hand-written real-note questions (kbagent/data/eval/real-notes-questions.jsonl) keep their rules."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pytest

from kbagent.splits import split_of

QUESTIONS = Path(__file__).resolve().parents[1] / "kbagent" / "data" / "eval" / "real-notes-questions.jsonl"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
KINDS = ("fact", "cross-language", "number", "arithmetic", "exact-term", "unanswerable")
_PROPERTY = re.compile(r"^(?:- )?\s*([A-Za-z][\w.-]*)::\s*(.*)$")

needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"needs the shared data folder {DATA}")


def records() -> list[dict]:
    with QUESTIONS.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def logseq_title(path: Path, text: str) -> str:
    """``title:`` front matter or a leading ``title::`` property, else the file name (``___`` is ``/``)."""
    front = re.match(r"---\n(.*?)\n---\n", text, re.S)
    if front and (m := re.search(r"^title:\s*(.+)$", front.group(1), re.M)):
        return m.group(1).strip()
    for line in text.lstrip("\n").split("\n"):
        m = _PROPERTY.match(line)
        if not m:
            break
        if m.group(1).lower() == "title":
            return m.group(2).strip()
    return unquote(path.stem.replace("___", "/"))


def pages(source: str) -> dict[str, str]:
    """Page title -> page text of one corpus."""
    if source == "logseq-docs":
        files = sorted((DATA / "logseq-docs" / "pages").glob("*.md"))
        return {logseq_title(p, t): t for p in files for t in [p.read_text(encoding="utf-8")]}
    out = {}
    for p in sorted((DATA / "scrapbox-villagepump-pages" / "pages").glob("*.json")):
        page = json.loads(p.read_text(encoding="utf-8"))
        out[page["title"]] = "\n".join(line["text"] for line in page["lines"])
    return out


def test_counts_ids_and_kinds():
    rs = records()
    assert len(rs) >= 150
    assert len({r["id"] for r in rs}) == len(rs)
    kinds = Counter(r["kind"] for r in rs)
    assert set(kinds) <= set(KINDS) and all(kinds[k] >= 15 for k in KINDS), kinds
    assert kinds["unanswerable"] >= 25
    assert {r["lang"] for r in rs} == {"en", "ja", "zh"}
    assert {r["split"] for r in rs} == {"dev", "test"}


def test_unanswerable_and_splits():
    for r in records():
        if r["kind"] == "unanswerable":
            assert r["answers"] == [] and r["page"] == "", r["id"]
            assert r["split"] == ("dev" if int(r["id"].split("-")[1]) % 2 == 0 else "test"), r["id"]
        else:
            assert r["answers"] and all(a.strip() for a in r["answers"]), r["id"]
            assert r["split"] == split_of(r["source"], r["page"]) != "train", r["id"]


@needs_data
def test_pages_exist_and_hold_the_answers():
    corpora = {s: pages(s) for s in ("logseq-docs", "villagepump")}
    for r in records():
        if r["kind"] == "unanswerable":
            continue
        text = corpora[r["source"]].get(r["page"])
        assert text is not None, f"{r['id']}: no page {r['page']!r} in {r['source']}"
        found = [fold(a) in fold(text) for a in r["answers"]]
        if r["kind"] == "cross-language":
            assert any(found), r["id"]
        elif r["kind"] != "arithmetic":
            assert found[0], f"{r['id']}: {r['answers'][0]!r} not on {r['page']!r}"
