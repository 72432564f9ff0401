"""The ``kb`` command as a person meets it: messages, questions asked, help and tables that fit."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kbagent.cli import app
from kbagent.config import load_config

OBSIDIAN = Path(__file__).parent / "fixtures" / "obsidian"


def kb(home: Path, *args: str, input: str | None = None) -> tuple[int, str]:
    """Run ``kb --home HOME ARGS…``; the exit status and everything it printed (stdout and stderr)."""
    result = CliRunner().invoke(app, ["--home", str(home), *args], input=input)
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A data directory with one configured folder source, ``notes``, not indexed yet."""
    h = tmp_path / "home"
    load_config(h).with_value("sources.notes", {"format": "obsidian", "path": str(OBSIDIAN)}).save()
    return h


def test_forget_removes_the_source_from_the_configuration_too(home: Path) -> None:
    code, said = kb(home, "forget", "notes", "--yes")
    assert code == 0 and "removed 0 pages of notes" in said
    assert "notes" not in load_config(home).sources  # so `kb reindex` does not bring it back


def test_forget_of_an_unknown_name_lists_the_known_ones(home: Path) -> None:
    code, said = kb(home, "forget", "note", "--yes")
    assert code == 2
    assert "no such source: note; known sources: notes" in " ".join(said.split())
    assert "notes" in load_config(home).sources


def test_cron_without_a_crontab_program_says_how_to_get_one(home: Path, monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no `crontab` anywhere
    code, said = kb(home, "cron", "install", "--every", "1h")
    assert code == 2 and "Traceback" not in said
    assert "`crontab` command is not installed: install cron (Debian/Ubuntu: sudo apt install cron" in (
        " ".join(said.split())
    )
    code, said = kb(home, "cron", "status")
    assert code == 0 and "last run: never" in said and "not installed: install cron" in " ".join(said.split())


@pytest.mark.parametrize("command", [[], ["search"], ["reindex"], ["forget"], ["cron", "install"],
                                     ["sources", "add", "scrapbox"]])
def test_help_names_no_python_types(tmp_path: Path, command: list[str]) -> None:
    code, said = kb(tmp_path, *command, "--help")
    assert code == 0 and "Show this message and exit." in said
    assert "<str>" not in said and "<bool>" not in said and "<int>" not in said and "<list" not in said


def test_an_option_with_a_value_shows_a_placeholder_and_a_flag_none(tmp_path: Path) -> None:
    _, said = kb(tmp_path, "search", "--help")
    lines = {line.split()[1]: line for line in said.splitlines() if line.startswith("│ ") and len(line.split()) > 2}
    assert " N " in lines["-k"] and " MODE " in lines["--mode"]
    assert lines["--json"].split()[2] == "Print"


def test_status_fits_80_columns_and_shows_a_run_in_progress(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from kbagent import cli, runstate
    from kbagent.knowledgebase import KnowledgeBase

    monkeypatch.setattr(cli, "out", Console(width=80, soft_wrap=True))  # whatever the test's terminal is
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
    with KnowledgeBase(home) as base, base.catalog.transaction():
        base.catalog.put_source("highlights-from-my-very-long-reading-list", "readwise-logseq",
                                "/home/someone/Documents/Readwise/exports/2026/logseq/pages")
        base.catalog.finish_run("highlights-from-my-very-long-reading-list", an_hour_ago,
                                json.dumps({"added": 12345, "changed": 678, "removed": 9, "failed": 2}))
    started = (datetime.now(UTC) - timedelta(minutes=2)).isoformat(timespec="seconds")
    runstate.write(home, runstate.RunState(os.getpid(), started, "notes", 120, 450, started))
    code, said = kb(home, "status")
    assert code == 0 and max(len(line) for line in said.splitlines()) <= 80
    assert "indexing now    notes: 120/450 pages, started 2 min ago" in said
    assert "1 h ago" in said and "+12345 ~678 -9 !2" in said


def test_status_forgets_a_run_whose_process_is_gone(home: Path) -> None:
    from kbagent import runstate

    runstate.write(home, runstate.RunState(2**22 + 12345, "2026-01-01T00:00:00+00:00", "notes", 1, 2))
    assert runstate.read(home) is None
    assert "indexing now" not in kb(home, "status")[1]
