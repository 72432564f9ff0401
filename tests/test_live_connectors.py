"""Live connectors (Scrapbox, Readwise, kintone, Confluence) against their APIs served on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_services import (
    FakeServices,
    confluence_page,
    kintone_record,
    readwise_book,
    scrapbox_page,
)
from kbagent.connectors import Failure, ScanItem, Unchanged
from kbagent.connectors.confluence import ConfluenceSpace
from kbagent.connectors.htmltext import html_to_text
from kbagent.connectors.http import RetryPolicy
from kbagent.connectors.kintone import KintoneApp
from kbagent.connectors.readwise_api import ReadwiseApi
from kbagent.connectors.scrapbox_api import ScrapboxApi

from kbagent import Document, KnowledgeBase
from kbagent.credentials import Secret


class Sleeps(list[float]):
    """Records the waits a connector asks for instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def retry(sleeps: Sleeps | None = None) -> RetryPolicy:
    return RetryPolicy(attempts=3, backoff=0.5, sleep=sleeps if sleeps is not None else Sleeps())


def docs(items: Iterable[ScanItem]) -> dict[str, Document]:
    return {i.id: i for i in items if isinstance(i, Document)}


def unchanged(items: Iterable[ScanItem]) -> set[str]:
    return {i.doc_id for i in items if isinstance(i, Unchanged)}


def failures(items: Iterable[ScanItem]) -> list[Failure]:
    return [i for i in items if isinstance(i, Failure)]


def versions(items: Iterable[ScanItem]) -> dict[str, str]:
    return {d.id: d.version for d in docs(items).values()}


@pytest.fixture
def fake() -> Iterator[FakeServices]:
    with FakeServices(titles_per_call=2, export_page_size=2) as f:
        yield f


# Scrapbox -------------------------------------------------------------------------------------
SCRAPBOX_PAGES = [
    ("p1", "東京旅行", ["来週は[浅草寺]へ行く。", " 夜は寿司"]),
    ("p2", "Sourdough bread", ["Bake at [* 230 °C] for 40 minutes. #baking"]),
    ("p3", "Page 3", ["third page"]),
    ("p4", "中文笔记", ["今天学习了十个新的汉字。"]),
    ("p5", "Old meeting", ["budget is cut by 15%"]),
]


@pytest.fixture
def scrapbox_fake(fake: FakeServices) -> FakeServices:
    fake.scrapbox["notes"] = {
        pid: scrapbox_page(pid, title, body, 1_700_000_000 + n) for n, (pid, title, body) in enumerate(SCRAPBOX_PAGES)
    }
    return fake


def scrapbox(fake: FakeServices, **kw: Any) -> ScrapboxApi:
    return ScrapboxApi("notes", site=fake.url, retry=retry(), **kw)


def test_scrapbox_first_sync_lists_titles_page_by_page_and_reads_every_page(scrapbox_fake: FakeServices) -> None:
    items = list(scrapbox(scrapbox_fake).scan({}))
    got = docs(items)
    assert list(got) == ["p1", "p2", "p3", "p4", "p5"] and failures(items) == []
    assert got["p1"].title == "東京旅行"
    assert got["p1"].text == "来週は浅草寺へ行く。\n\t- 夜は寿司"
    assert got["p1"].url == "https://scrapbox.io/notes/%E6%9D%B1%E4%BA%AC%E6%97%85%E8%A1%8C"
    assert got["p2"].metadata["tags"] == "baking" and got["p2"].version == "1700000001"
    listing = scrapbox_fake.requests_to("/search/titles")
    assert [s.query.get("followingId") for s in listing] == [None, ["p2"], ["p4"]]


def test_scrapbox_resync_fetches_only_new_and_changed_pages(scrapbox_fake: FakeServices) -> None:
    known = versions(scrapbox(scrapbox_fake).scan({}))
    pages = scrapbox_fake.scrapbox["notes"]
    pages["p2"] = scrapbox_page("p2", "Sourdough bread", ["Bake at 250 °C now."], 1_800_000_000)
    pages["p6"] = scrapbox_page("p6", "New page", ["fresh"], 1_800_000_001)
    scrapbox_fake.seen.clear()
    items = list(scrapbox(scrapbox_fake).scan(known))
    assert unchanged(items) == {"p1", "p3", "p4", "p5"}
    assert docs(items)["p2"].text == "Bake at 250 °C now." and "p6" in docs(items)
    fetched = [s.path for s in scrapbox_fake.seen if "/search/titles" not in s.path]
    assert sorted(fetched) == ["/api/pages/notes/New page", "/api/pages/notes/Sourdough bread"]


def test_scrapbox_private_project_needs_the_connect_sid_cookie(scrapbox_fake: FakeServices) -> None:
    scrapbox_fake.scrapbox_cookie = "s%3Aprivate-session-cookie.sig"
    items = list(scrapbox(scrapbox_fake).scan({"p1": "1700000000"}))
    assert len(items) == 1 and items[0].listing
    assert "401 Unauthorized" in items[0].message and "--cookie-env" in items[0].message
    cookie = Secret("SCRAPBOX_SID", "s%3Aprivate-session-cookie.sig")
    assert len(docs(scrapbox(scrapbox_fake, cookie=cookie).scan({}))) == 5
    assert scrapbox_fake.seen[-1].headers["cookie"] == "connect.sid=s%3Aprivate-session-cookie.sig"


def test_scrapbox_listing_that_fails_half_way_is_reported_so_nothing_is_deleted(scrapbox_fake: FakeServices) -> None:
    known = versions(scrapbox(scrapbox_fake).scan({}))
    scrapbox_fake.fail("followingId=p2", 500, times=10)
    items = list(scrapbox(scrapbox_fake).scan(known))
    assert unchanged(items) == {"p1", "p2"}
    [failure] = failures(items)
    assert failure.listing and "page listing incomplete" in failure.message and "500" in failure.message


def test_scrapbox_malformed_json_on_one_page_fails_that_page_only(scrapbox_fake: FakeServices) -> None:
    scrapbox_fake.fail(r"/api/pages/notes/Page%203$", 200, body=b'{"title": "Page 3", "lines": [')
    items = list(scrapbox(scrapbox_fake).scan({}))
    assert set(docs(items)) == {"p1", "p2", "p4", "p5"}
    [failure] = failures(items)
    assert failure.doc_id == "p3" and not failure.listing
    assert failure.location == "https://scrapbox.io/notes/Page_3" and "not valid JSON" in failure.message


def test_scrapbox_stops_when_pages_time_out_and_deletes_nothing(scrapbox_fake: FakeServices) -> None:
    scrapbox_fake.fail(r"/api/pages/notes/Sourdough", None, delay=0.6, times=3)
    connector = ScrapboxApi("notes", site=scrapbox_fake.url, timeout=0.2, retry=RetryPolicy(attempts=2, sleep=Sleeps()))
    items = list(connector.scan({}))
    assert list(docs(items)) == ["p1"]
    assert [(f.doc_id, f.listing) for f in failures(items)] == [("p2", False), (None, True)]
    assert "no answer within 0.2 s after 2 tries" in failures(items)[0].message
    assert "3 more to fetch next time" in failures(items)[1].message


def test_scrapbox_count(scrapbox_fake: FakeServices) -> None:
    assert scrapbox(scrapbox_fake).count() == 5


# Readwise -------------------------------------------------------------------------------------
@pytest.fixture
def readwise_fake(fake: FakeServices) -> FakeServices:
    fake.readwise = {
        1: readwise_book(1, "Thinking, Fast and Slow", [(11, "System 1 is fast.", "2024-01-01T10:00:00Z"),
                                                        (12, "System 2 is slow.", "2024-01-02T10:00:00Z")], "Kahneman"),
        2: readwise_book(2, "禅とオートバイ修理技術", [(21, "質とは何か。", "2024-02-01T10:00:00Z")]),
        3: readwise_book(3, "Deep Work", [(31, "Focus is rare.", "2024-03-01T10:00:00Z")]),
    }
    return fake


def readwise(fake: FakeServices, state: Path | None, sleeps: Sleeps | None = None, **kw: Any) -> ReadwiseApi:
    token = Secret("READWISE_TOKEN", fake.readwise_token)
    return ReadwiseApi(token=token, base_url=fake.url, state_path=state, retry=retry(sleeps), **kw)


def test_readwise_first_sync_reads_the_whole_export(readwise_fake: FakeServices, tmp_path: Path) -> None:
    items = list(readwise(readwise_fake, tmp_path / "rw.json").scan({}))
    got = docs(items)
    assert list(got) == ["1", "2", "3"] and failures(items) == []
    assert got["1"].text == "Kahneman · books\n\nSystem 1 is fast.\n\nSystem 2 is slow."
    assert got["1"].url == "https://readwise.io/bookreview/1"
    assert got["1"].version == "2024-01-02T10:00:00+00:00/2"
    exports = readwise_fake.requests_to("/api/v2/export/")
    assert [s.query for s in exports] == [{}, {"pageCursor": ["2"]}]
    assert readwise_fake.seen[0].headers["authorization"] == "Token rw-token"


def test_readwise_incremental_sync_refetches_changed_books_whole(readwise_fake: FakeServices, tmp_path: Path) -> None:
    state = tmp_path / "rw.json"
    known = versions(readwise(readwise_fake, state).scan({}))
    readwise_fake.readwise[2]["highlights"].append(
        {"id": 22, "text": "美しさとは。", "location": 5, "note": "大事", "updated_at": "2024-05-01T00:00:00Z",
         "is_deleted": False}
    )
    readwise_fake.seen.clear()
    items = list(readwise(readwise_fake, state).scan(known))
    assert unchanged(items) == {"1", "3"}
    assert docs(items)["2"].text == "books\n\n質とは何か。\n\n美しさとは。\n\tNote: 大事"
    assert [s.query for s in readwise_fake.seen] == [{"updatedAfter": ["2024-03-01T10:00:00+00:00"]}, {"ids": ["2"]}]


def test_readwise_deletions_are_found_only_by_the_periodic_full_export(
    readwise_fake: FakeServices, tmp_path: Path
) -> None:
    state = tmp_path / "rw.json"
    known = versions(readwise(readwise_fake, state).scan({}))
    del readwise_fake.readwise[3]
    incremental = list(readwise(readwise_fake, state).scan(known))
    assert unchanged(incremental) == {"1", "2", "3"}  # an incremental listing cannot tell
    full = list(readwise(readwise_fake, state, full_sync_days=0).scan(known))
    assert unchanged(full) == {"1", "2"} and failures(full) == []  # book 3 is not seen: the index drops it


def test_readwise_429_is_retried_after_the_time_the_service_asks(readwise_fake: FakeServices, tmp_path: Path) -> None:
    sleeps = Sleeps()
    readwise_fake.fail("/api/v2/export/", 429, headers={"Retry-After": "12"}, body=b'{"detail": "throttled"}')
    assert len(docs(readwise(readwise_fake, tmp_path / "rw.json", sleeps).scan({}))) == 3
    assert sleeps == [12]


def test_readwise_failed_export_makes_the_next_run_a_full_one(readwise_fake: FakeServices, tmp_path: Path) -> None:
    state = tmp_path / "rw.json"
    known = versions(readwise(readwise_fake, state).scan({}))
    readwise_fake.fail("ids=", 500, times=10)
    readwise_fake.readwise[1]["highlights"][0]["updated_at"] = "2025-01-01T00:00:00Z"
    items = list(readwise(readwise_fake, state).scan(known))
    assert [(f.doc_id, f.listing) for f in failures(items)] == [("1", False)]
    readwise_fake.seen.clear()
    items = list(readwise(readwise_fake, state).scan(known))
    assert "updatedAfter" not in readwise_fake.seen[0].query  # a full export again
    assert set(docs(items)) == {"1"} and unchanged(items) == {"2", "3"}


def test_readwise_wrong_token_is_a_listing_failure_without_the_token(readwise_fake: FakeServices) -> None:
    connector = ReadwiseApi(token=Secret("READWISE_TOKEN", "wrong-token-42"), base_url=readwise_fake.url, retry=retry())
    [failure] = list(connector.scan({"1": "2024-01-02T10:00:00+00:00/2"}))
    assert failure.listing
    assert "401 Unauthorized" in str(failure) and "READWISE_TOKEN" in str(failure)
    assert "wrong-token-42" not in str(failure)


# kintone --------------------------------------------------------------------------------------
@pytest.fixture
def kintone_fake(fake: FakeServices) -> FakeServices:
    fake.kintone["12"] = {
        i: kintone_record(i, f"問い合わせ {i}", f"内容 {i} 行目\n二行目", f"2024-04-0{i}T09:00:00Z")
        for i in range(1, 6)
    }
    return fake


def kintone(fake: FakeServices, token: str = "kt-token", **kw: Any) -> KintoneApp:
    return KintoneApp(fake.url, 12, token=Secret("KINTONE_API_TOKEN", token), page_size=2, retry=retry(), **kw)


def test_kintone_pages_records_by_id_and_renders_fields(kintone_fake: FakeServices) -> None:
    items = list(kintone(kintone_fake).scan({}))
    got = docs(items)
    assert list(got) == ["1", "2", "3", "4", "5"] and failures(items) == []
    one = got["1"]
    assert one.title == "問い合わせ 1"
    assert one.text == "詳細:\n\t内容 1 行目\n\t二行目\nメモ: 問い合わせ 1 のメモ\n担当者: 佐藤"
    assert one.url == f"{kintone_fake.url}/k/12/show#record=1"
    assert one.version == "2024-04-01T09:00:00Z"
    queries = [s.query["query"][0] for s in kintone_fake.requests_to("records.json")]
    assert queries == [f"$id > {n} order by $id asc limit 2" for n in (0, 2, 4)]
    assert kintone_fake.seen[0].headers["x-cybozu-api-token"] == "kt-token"


def test_kintone_resync_reports_unchanged_records(kintone_fake: FakeServices) -> None:
    known = versions(kintone(kintone_fake).scan({}))
    kintone_fake.kintone["12"][3]["詳細"]["value"] = "更新された内容"
    kintone_fake.kintone["12"][3]["更新日時"]["value"] = "2024-06-01T00:00:00Z"
    items = list(kintone(kintone_fake).scan(known))
    assert unchanged(items) == {"1", "2", "4", "5"} and docs(items)["3"].text.startswith("詳細: 更新された内容")


def test_kintone_chosen_fields_only(kintone_fake: FakeServices) -> None:
    one = docs(kintone(kintone_fake, fields=["詳細"], title_field="件名").scan({}))["1"]
    assert (one.title, one.text) == ("問い合わせ 1", "詳細:\n\t内容 1 行目\n\t二行目")


def test_kintone_wrong_token_says_what_the_service_said(kintone_fake: FakeServices) -> None:
    [failure] = list(kintone(kintone_fake, token="bad-token-x").scan({}))
    assert failure.listing
    assert "401 Unauthorized — the service says: 指定したAPIトークンが正しくありません。" in str(failure)
    assert "KINTONE_API_TOKEN" in str(failure) and "bad-token-x" not in str(failure)


def test_kintone_malformed_second_page_keeps_the_first(kintone_fake: FakeServices) -> None:
    kintone_fake.fail(r"%24id\+%3E\+2", 200, body=b"<html>maintenance</html>")
    items = list(kintone(kintone_fake).scan({}))
    assert list(docs(items)) == ["1", "2"]
    [failure] = failures(items)
    assert failure.listing and "not valid JSON" in failure.message


def test_kintone_count(kintone_fake: FakeServices) -> None:
    assert kintone(kintone_fake).count() == 5


# Confluence -----------------------------------------------------------------------------------
@pytest.fixture
def confluence_fake(fake: FakeServices) -> FakeServices:
    html = "<h2>Goals</h2><p>Ship the <strong>new</strong> API.</p><ul><li>auth<ul><li>tokens</li></ul></li></ul>"
    fake.confluence["ENG"] = {
        str(i): confluence_page(str(i), "ENG", f"Page {i}", html if i == 1 else f"<p>body {i}</p>",
                                f"2024-05-0{i}T08:00:00.000Z")
        for i in range(1, 6)
    }
    return fake


def confluence(fake: FakeServices, **kw: Any) -> ConfluenceSpace:
    token = Secret("CONFLUENCE_TOKEN", fake.confluence_token)
    return ConfluenceSpace(f"{fake.url}/wiki", "ENG", token=token, page_size=2, retry=retry(), **kw)


def test_confluence_first_sync_follows_next_links_and_converts_bodies(confluence_fake: FakeServices) -> None:
    items = list(confluence(confluence_fake).scan({}))
    got = docs(items)
    assert list(got) == ["1", "2", "3", "4", "5"] and failures(items) == []
    assert got["1"].text == "## Goals\n\nShip the new API.\n\n- auth\n  - tokens"
    assert got["1"].url == f"{confluence_fake.url}/wiki/spaces/ENG/pages/1/Page+1"
    assert got["1"].version == "2024-05-01T08:00:00.000Z"
    listing = confluence_fake.requests_to("/rest/api/content$")
    assert [s.query.get("start") for s in listing] == [None, ["2"], ["4"]]
    assert listing[0].query["expand"] == ["body.storage,version"]
    assert confluence_fake.seen[0].headers["authorization"] == "Bearer cf-token"


def test_confluence_resync_lists_versions_and_fetches_changed_pages(confluence_fake: FakeServices) -> None:
    known = versions(confluence(confluence_fake).scan({}))
    page = confluence_fake.confluence["ENG"]["4"]
    page["version"] = {"number": 2, "when": "2024-07-01T00:00:00.000Z"}
    page["body"]["storage"]["value"] = "<p>rewritten</p>"
    confluence_fake.seen.clear()
    confluence_fake.fail("/rest/api/content/4", 500)  # 500 then success
    items = list(confluence(confluence_fake).scan(known))
    assert unchanged(items) == {"1", "2", "3", "5"} and docs(items)["4"].text == "rewritten"
    assert confluence_fake.requests_to("/rest/api/content$")[0].query["expand"] == ["version"]
    assert len(confluence_fake.requests_to("/rest/api/content/4")) == 2


def test_confluence_cloud_uses_basic_auth_with_the_account_email(confluence_fake: FakeServices) -> None:
    confluence_fake.confluence_user = "me@example.com"
    assert len(docs(confluence(confluence_fake, user="me@example.com").scan({}))) == 5
    assert confluence_fake.seen[0].headers["authorization"].startswith("Basic ")


def test_confluence_next_link_to_another_site_is_not_followed(confluence_fake: FakeServices) -> None:
    confluence_fake.fail(
        r"/rest/api/content\?", 200,
        body=b'{"results": [], "_links": {"base": "https://evil.example", "next": "/rest/api/content?start=2"}}',
    )
    [failure] = list(confluence(confluence_fake).scan({"1": "x"}))
    assert failure.listing and "refusing to follow a link to another site" in failure.message


def test_storage_format_becomes_structured_text() -> None:
    storage = (
        "<h1>Runbook</h1><p>Restart&nbsp;the <em>worker</em>.</p>"
        "<ol><li>drain</li><li>restart<ul><li>check logs</li></ul></li></ol>"
        "<table><tbody><tr><th>Host</th><th>Role</th></tr><tr><td>db1</td><td>primary</td></tr></tbody></table>"
        '<ac:structured-macro ac:name="code"><ac:parameter ac:name="language">bash</ac:parameter>'
        "<ac:plain-text-body><![CDATA[if true; then\n    echo ok\nfi]]></ac:plain-text-body></ac:structured-macro>"
        '<p>See <ac:link><ri:page ri:content-title="On-call" /></ac:link>.</p>'
    )
    assert html_to_text(storage) == (
        "# Runbook\n\nRestart the worker.\n\n1. drain\n2. restart\n  - check logs\n\n"
        "Host | Role\ndb1 | primary\n\nif true; then\n    echo ok\nfi\n\nSee On-call."
    )


# through the knowledge base (real Chroma, real e5) ---------------------------------------------
def test_deleted_pages_are_removed_only_after_a_complete_listing(
    scrapbox_fake: FakeServices, tmp_path: Path, embedder: Any
) -> None:
    with KnowledgeBase(home=tmp_path / "home", embedder=embedder) as kb:
        assert kb.index(scrapbox(scrapbox_fake, source="notes")).added == 5
        del scrapbox_fake.scrapbox["notes"]["p5"]
        scrapbox_fake.fail("followingId=p2", 503, times=10)
        cut_short = kb.index(scrapbox(scrapbox_fake, source="notes"))
        assert (cut_short.removed, cut_short.deletions_skipped) == (0, True)
        assert [h.title for h in kb.search("budget cut", k=1)] == ["Old meeting"]
        scrapbox_fake.faults.clear()
        complete = kb.index(scrapbox(scrapbox_fake, source="notes"))
        assert (complete.removed, complete.unchanged, complete.failed) == (1, 4, 0)
        assert "p5" not in kb.catalog.documents("notes")
