"""Render ``kb eval`` JSON reports as Markdown tables, one per split the runs were made on (rows: sets with
their split; columns: reports).

    python scripts/render_eval.py docs/eval/*.json                     # print the table
    python scripts/render_eval.py docs/eval/*.json --readme README.md  # rewrite the README's table

The README section is what lies between ``<!-- eval-table:start -->`` and ``<!-- eval-table:end -->``.
A column is named after its report's file name; a report run without tools too gets a second
column, "…, calls disabled".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kbagent.evaluation.report import load_reports, render_markdown, replace_section


def main(argv: list[str] | None = None) -> int:
    """Print the table, or write it into the README's eval-table section."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("reports", nargs="+", type=Path, help="kb eval JSON reports, one column each")
    parser.add_argument("--readme", type=Path, help="rewrite this file's eval-table section instead of printing")
    args = parser.parse_args(argv)
    skipped: list[Path] = []
    try:
        reports = load_reports(args.reports, skipped)
        for path in skipped:
            print(f"{path}: not a kb eval report (no sets); left out", file=sys.stderr)
        if not reports:
            raise ValueError("no kb eval reports among the files given")
        table = render_markdown(reports)
        if args.readme is None:
            sys.stdout.write(table)
            return 0
        text = args.readme.read_text(encoding="utf-8")
        args.readme.write_text(replace_section(text, table), encoding="utf-8")
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.readme}: table of {len(reports)} report(s) written", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
