"""The scheduled re-index as a library call: what it logs, records and returns (no CLI, no cron)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from filelock import FileLock

from kbagent import schedule
from kbagent.knowledgebase import KnowledgeBase


@pytest.fixture
def kb(tmp_path: Path, embedder) -> Iterator[KnowledgeBase]:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "Dentist.md").write_text("# Dentist\n\nNext appointment: Tuesday, May 12 at 9:30.\n", encoding="utf-8")
    (notes / "Bread.md").write_text("# Bread\n\nBake at 230 °C for 40 minutes.\n", encoding="utf-8")
    with KnowledgeBase(home=tmp_path / "home", embedder=embedder) as k:
        k.index_path(notes, source="notes")
        yield k


def recorded(kb: KnowledgeBase) -> tuple[str, str, bool, tuple[str, ...], str]:
    """The last run as `kb cron status` reads it back (the per-source figures aside)."""
    r = schedule.last_run(kb.config.paths.logs)
    assert r is not None
    return r.started, r.finished, r.ok, r.errors, r.skipped


def log_text(kb: KnowledgeBase) -> str:
    return (kb.config.paths.logs / schedule.LOG_FILE).read_text(encoding="utf-8")


def test_a_run_logs_its_results_and_is_recorded(kb: KnowledgeBase, tmp_path: Path) -> None:
    (tmp_path / "notes" / "Bread.md").write_text("# Bread\n\nBake at 220 °C.\n", encoding="utf-8")

    record = schedule.scheduled_reindex(kb)

    assert record.ok and not record.errors and not record.skipped
    (notes,) = record.sources
    assert (notes["source"], notes["changed"], notes["unchanged"]) == ("notes", 1, 1)
    assert recorded(kb) == (record.started, record.finished, True, (), "")
    assert log_text(kb).count("notes: +0 ~1 =1 -0 !0") == 1

    schedule.scheduled_reindex(kb)  # a second run in the same process logs its own line, once
    assert log_text(kb).count("notes: +0 ~0 =2 -0 !0") == 1


def test_a_run_while_another_holds_the_index_is_skipped_not_failed(kb: KnowledgeBase) -> None:
    with FileLock(str(kb.paths.lock), timeout=0):
        record = schedule.scheduled_reindex(kb)

    assert record.ok and record.skipped and record.sources == ()
    assert recorded(kb) == (record.started, record.finished, True, (), record.skipped)
    assert "skipped:" in log_text(kb)


def test_a_failing_source_fails_the_run_and_names_it(kb: KnowledgeBase, tmp_path: Path, embedder) -> None:
    kb.config.with_value("sources.gone", {"format": "markdown", "path": str(tmp_path / "missing")}).save()

    with KnowledgeBase(home=kb.paths.home, embedder=embedder) as reopened:
        record = schedule.scheduled_reindex(reopened)

    assert not record.ok and record.errors and record.errors[0].startswith("gone: ")
    assert [s["source"] for s in record.sources] == ["gone", "notes"]
    assert "ERROR gone: " in log_text(kb)


def test_an_unknown_source_name_raises(kb: KnowledgeBase) -> None:
    with pytest.raises(KeyError, match="no such source: nope"):
        schedule.scheduled_reindex(kb, ["nope"])
