"""Counts of the hand-written real-note questions per split, language and kind, as Markdown tables.

    python scripts/count_real_note_questions.py [path/to/real-notes-questions.jsonl]

Prints one table of kind x (split, language) with totals; paste it into
kbagent/data/eval/real-notes-questions.md when the set changes.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[1] / "kbagent" / "data" / "eval" / "real-notes-questions.jsonl"
SPLITS = ("dev", "test")
LANGS = ("en", "ja", "zh")
KINDS = ("fact", "cross-language", "number", "arithmetic", "exact-term", "unanswerable")


def load(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def table(records: list[dict]) -> str:
    """Kind rows, (split, language) columns plus per-split and overall totals."""
    c = Counter((r["kind"], r["split"], r["lang"]) for r in records)
    cols = [(s, lang) for s in SPLITS for lang in LANGS]
    head = ["kind"] + [f"{s} {lang}" for s, lang in cols] + [f"{s} all" for s in SPLITS] + ["all"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def row(name: str, kinds: tuple[str, ...]) -> str:
        cells = [sum(c[k, s, lang] for k in kinds) for s, lang in cols]
        per_split = [sum(c[k, s, lang] for k in kinds for lang in LANGS) for s in SPLITS]
        return "| " + " | ".join([name] + [str(x) for x in cells + per_split + [sum(per_split)]]) + " |"

    lines += [row(k, (k,)) for k in KINDS]
    lines.append(row("**all**", KINDS))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else DEFAULT
    records = load(path)
    print(table(records))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
