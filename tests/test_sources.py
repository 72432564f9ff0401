"""Configured sources (`kb sources …`) and the promise that no credential is ever shown or stored."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from fake_services import FakeServices, confluence_page, kintone_record, readwise_book, scrapbox_page
from kbagent.connectors.kintone import KintoneApp
from kbagent.connectors.readwise_api import ReadwiseApi
from typer.testing import CliRunner

from kbagent.cli import app
from kbagent.config import load_config
from kbagent.sources import SourceError, add_source, check_source, list_sources, open_source, remove_source


@pytest.fixture
def fake() -> Iterator[FakeServices]:
    with FakeServices(kintone_token="kt-secret-7f3a9c") as f:
        f.kintone["12"] = {1: kintone_record(1, "見積もり依頼", "納期は来月末", "2024-04-01T09:00:00Z")}
        yield f


def test_add_list_open_and_remove_a_source(tmp_path: Path, fake: FakeServices) -> None:
    config = add_source(load_config(tmp_path), "crm", "kintone", url=fake.url, app=12, fields=["詳細"])
    assert [(s.name, s.format) for s in list_sources(config)] == [("crm", "kintone")]
    assert load_config(tmp_path).sources["crm"] == {"format": "kintone", "url": fake.url, "app": 12, "fields": ["詳細"]}
    assert oct((tmp_path / "config.toml").stat().st_mode & 0o777) == "0o600"
    connector = open_source(config, "crm")
    assert isinstance(connector, KintoneApp) and connector.source == "crm"
    assert remove_source(config, "crm").sources == {}


def test_settings_are_checked_and_secrets_refused(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    with pytest.raises(SourceError, match=r"secrets do not go into config\.toml"):
        add_source(config, "rw", "readwise", token="abc123")
    with pytest.raises(SourceError, match=r"unknown setting.*colour.*known: .*space"):
        add_source(config, "wiki", "confluence", url="https://x.atlassian.net/wiki", space="ENG", colour="red")
    with pytest.raises(SourceError, match="format kintone needs app"):
        add_source(config, "crm", "kintone", url="https://x.cybozu.com")
    with pytest.raises(SourceError, match="unknown format 'notion'"):
        add_source(config, "n", "notion")
    assert not (tmp_path / "config.toml").exists()


def test_readwise_keeps_its_run_state_in_the_data_directory(tmp_path: Path) -> None:
    connector = open_source(add_source(load_config(tmp_path), "rw", "readwise"), "rw")
    assert isinstance(connector, ReadwiseApi) and connector.state_path == tmp_path / "sources" / "rw.json"


def test_check_counts_pages_or_says_what_is_wrong(
    tmp_path: Path, fake: FakeServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = add_source(load_config(tmp_path), "crm", "kintone", url=fake.url, app=12)
    monkeypatch.delenv("KINTONE_API_TOKEN", raising=False)
    missing = check_source(config, "crm")
    assert not missing.ok and "credential KINTONE_API_TOKEN not found" in missing.message
    monkeypatch.setenv("KINTONE_API_TOKEN", "kt-secret-7f3a9c")
    assert check_source(config, "crm").message == "1 pages"
    monkeypatch.setenv("KINTONE_API_TOKEN", "kt-wrong-0000")
    wrong = check_source(config, "crm")
    assert not wrong.ok and "401 Unauthorized" in wrong.message and "kt-wrong-0000" not in wrong.message


# the credential never appears anywhere -------------------------------------------------------
SECRETS = {
    "SCRAPBOX_SID": "s%3AsessionSecret.QmFzZTY0U2ln",
    "READWISE_TOKEN": "rw-secret-5d2b8e",
    "KINTONE_API_TOKEN": "kt-secret-7f3a9c",
    "CONFLUENCE_TOKEN": "cf-wrong-secret-91aa",  # a wrong token: its 401 goes through every error path
}


def _forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret), secret.replace("%3A", ":")}


def test_credentials_never_appear_in_output_logs_config_or_index(
    tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(f'[models]\ndir = "{models_dir}"\n[credentials]\nfile = "secrets.toml"\n')
    secrets = home / "secrets.toml"
    secrets.write_text(f'KINTONE_API_TOKEN = "{SECRETS["KINTONE_API_TOKEN"]}"\n'
                       f'CONFLUENCE_TOKEN = "{SECRETS["CONFLUENCE_TOKEN"]}"\n')
    secrets.chmod(0o600)
    for name in ("KINTONE_API_TOKEN", "CONFLUENCE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SCRAPBOX_SID", SECRETS["SCRAPBOX_SID"])
    monkeypatch.setenv("READWISE_TOKEN", SECRETS["READWISE_TOKEN"])

    with FakeServices(scrapbox_cookie=SECRETS["SCRAPBOX_SID"], readwise_token=SECRETS["READWISE_TOKEN"],
                      kintone_token=SECRETS["KINTONE_API_TOKEN"], confluence_token="the-right-one") as fake:
        fake.scrapbox["notes"] = {"p1": scrapbox_page("p1", "寿司の店", ["駅前の寿司屋は火曜休み"], 1_700_000_000)}
        fake.readwise = {7: readwise_book(7, "Deep Work", [(1, "Focus is rare.", "2024-03-01T10:00:00Z")])}
        fake.kintone["12"] = {1: kintone_record(1, "見積もり依頼", "納期は来月末", "2024-04-01T09:00:00Z")}
        fake.confluence["ENG"] = {"9": confluence_page("9", "ENG", "Runbook", "<p>restart</p>", "2024-05-01T00:00:00Z")}
        runner = CliRunner()
        outputs: list[str] = []

        def kb(*args: str) -> int:
            result = runner.invoke(app, ["--home", str(home), *args])
            outputs.append(result.output + (result.stderr if result.stderr_bytes is not None else ""))
            return result.exit_code

        assert kb("sources", "add", "scrapbox", "--project", "notes", "--cookie-env", "SCRAPBOX_SID",
                  "--site", fake.url) == 0
        assert kb("sources", "add", "readwise", "--url", fake.url) == 0
        assert kb("sources", "add", "kintone", "--url", fake.url, "--app", "12") == 0
        assert kb("sources", "add", "confluence", "--url", f"{fake.url}/wiki", "--space", "ENG") == 0
        kb("sources", "list")
        assert kb("sources", "test") == 1  # confluence refuses its token
        assert kb("reindex", "--cron") == 1
        assert kb("reindex") == 1
        kb("status", "--json")
        sent = {h for s in fake.seen for h in (s.headers.get("cookie"), s.headers.get("x-cybozu-api-token"))}

    everything = "\n".join(outputs)
    assert "ok notes: 1 pages" in everything and "failed confluence-ENG" in everything
    assert "401 Unauthorized" in everything and "CONFLUENCE_TOKEN" in everything
    assert '"pages": 1' in everything  # the pages were indexed
    assert {f"connect.sid={SECRETS['SCRAPBOX_SID']}", SECRETS["KINTONE_API_TOKEN"]} <= sent  # they were used
    files = [p for p in home.rglob("*") if p.is_file() and p != secrets]
    assert any(p.suffix == ".log" or "log" in p.parent.name for p in files)
    for name, secret in SECRETS.items():
        for form in _forms(secret):
            assert form not in everything, f"{name} in command output"
            assert form not in caplog.text, f"{name} in a log record"
            for p in files:
                assert form.encode() not in p.read_bytes(), f"{name} in {p.relative_to(home)}"
    assert os.stat(secrets).st_mode & 0o077 == 0
