"""The shared HTTP layer and credentials: retries, Retry-After, clear errors, no secrets shown."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
from fake_services import FakeServices
from kbagent.connectors import Failure, Unchanged
from kbagent.connectors.http import (
    USER_AGENT,
    AuthError,
    BadResponse,
    HttpClient,
    HttpError,
    NetworkError,
    NotFound,
    RetryPolicy,
    SecretHeader,
    fetch_each,
    paginate,
    retry_after_seconds,
)

from kbagent import __version__
from kbagent.config import load_config
from kbagent.credentials import (
    CredentialError,
    Credentials,
    RedactingFilter,
    Secret,
    credentials_for,
    redact,
)


@pytest.fixture
def fake() -> Iterator[FakeServices]:
    with FakeServices() as f:
        yield f


class Sleeps(list[float]):
    """Records the waits a client asks for instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(fake: FakeServices, sleeps: Sleeps | None = None, **kw: object) -> HttpClient:
    policy = RetryPolicy(attempts=4, backoff=0.5, max_wait=30, sleep=sleeps if sleeps is not None else Sleeps())
    return HttpClient(fake.url, retry=policy, **kw)


# Retry-After and backoff ----------------------------------------------------------------------
def test_retry_after_is_seconds_or_an_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("7") == 7
    assert retry_after_seconds(format_datetime(datetime(2026, 1, 1, 12, 0, 42, tzinfo=UTC), usegmt=True), now) == 42
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now) == 0  # in the past: go now
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_waits_double_and_are_capped() -> None:
    policy = RetryPolicy(backoff=1, max_wait=5)
    assert [policy.wait(n, None) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]
    assert policy.wait(1, 3) == 3
    assert policy.wait(1, 3600) == 5


# requests and retries -------------------------------------------------------------------------
def test_sends_kbagent_user_agent(fake: FakeServices) -> None:
    client(fake).get_json("/test/echo")
    assert fake.seen[-1].headers["user-agent"] == USER_AGENT == f"kbagent/{__version__}"


def test_429_waits_as_long_as_retry_after_says(fake: FakeServices) -> None:
    sleeps = Sleeps()
    fake.fail("/test/echo", 429, headers={"Retry-After": "7"})
    assert client(fake, sleeps).get_json("/test/echo")["path"] == "/test/echo"
    assert sleeps == [7]


def test_429_with_an_http_date_and_a_cap_on_the_wait(fake: FakeServices) -> None:
    sleeps = Sleeps()
    fake.fail("/test/echo", 429, headers={"Retry-After": "Fri, 31 Dec 2100 23:59:59 GMT"})
    client(fake, sleeps).get_json("/test/echo")
    assert sleeps == [30]


def test_500_then_success_backs_off(fake: FakeServices) -> None:
    sleeps = Sleeps()
    fake.fail("/test/echo", 500, times=2)
    client(fake, sleeps).get_json("/test/echo")
    assert sleeps == [0.5, 1.0]
    assert len(fake.requests_to("/test/echo")) == 3


def test_gives_up_after_the_last_try_naming_the_path_not_the_query(fake: FakeServices) -> None:
    fake.fail("/test/echo", 503, times=10)
    with pytest.raises(HttpError) as err:
        client(fake).get_json("/test/echo", {"q": "private words"})
    assert str(err.value) == f"GET {fake.url}/test/echo: 503 Service Unavailable after 4 tries"
    assert err.value.status == 503


def test_a_slow_answer_times_out_and_is_retried(fake: FakeServices) -> None:
    sleeps = Sleeps()
    fake.fail("/test/echo", None, delay=1.0)
    assert client(fake, sleeps, timeout=0.2).get_json("/test/echo")["path"] == "/test/echo"
    assert sleeps == [0.5]


def test_an_unreachable_service_is_a_fatal_network_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    policy = RetryPolicy(attempts=2, sleep=Sleeps())
    with pytest.raises(NetworkError) as err:
        HttpClient(f"http://127.0.0.1:{port}", retry=policy).get("/api/x")
    assert err.value.fatal
    assert f"127.0.0.1:{port}/api/x: could not connect after 2 tries" in str(err.value)


def test_401_names_the_path_and_the_credential_but_not_its_value(fake: FakeServices) -> None:
    secret = Secret("MY_TOKEN", "tok-very-secret-123")
    c = client(fake, secret_headers=[SecretHeader("Authorization", secret, "Token {}")],
               auth_hint="check the token in MY_TOKEN")
    with pytest.raises(AuthError) as err:
        c.get_json("/api/v2/export/", {"updatedAfter": "2020"})
    message = str(err.value)
    assert message.startswith(f"GET {fake.url}/api/v2/export/: 401 Unauthorized")
    assert "Invalid token." in message and "MY_TOKEN" in message
    assert "tok-very-secret-123" not in message and "updatedAfter" not in message
    assert err.value.fatal


def test_404_and_malformed_json(fake: FakeServices) -> None:
    with pytest.raises(NotFound, match="/nowhere: 404 Not Found"):
        client(fake).get("/nowhere")
    fake.fail("/test/echo", 200, body=b'{"results": [1, 2')
    with pytest.raises(BadResponse, match="/test/echo: the response is not valid JSON"):
        client(fake).get_json("/test/echo")


def test_a_missing_credential_is_an_auth_error_saying_where_to_put_it(fake: FakeServices) -> None:
    ref = Credentials(environ={}).ref("NOT_SET_ANYWHERE")
    with pytest.raises(AuthError, match="credential NOT_SET_ANYWHERE not found: set the environment variable"):
        client(fake, secret_headers=[SecretHeader("X-Key", ref)]).get("/test/echo")
    assert fake.seen == []


def test_redirects_stay_on_the_same_site(fake: FakeServices) -> None:
    c = client(fake, secret_headers=[SecretHeader("X-Key", Secret("K", "key-value-1"))])
    assert c.get_json("/test/redirect", {"to": "/test/echo"})["path"] == "/test/echo"
    with pytest.raises(BadResponse, match="refusing to follow a link to another site"):
        c.get("/test/redirect", {"to": "http://example.invalid/steal"})
    with pytest.raises(BadResponse, match="another site"):
        c.get("https://example.invalid/rest/api/content?start=50")


# pagination and fetching ----------------------------------------------------------------------
def test_paginate_follows_cursors_and_stops_on_a_loop() -> None:
    pages = {None: ([1, 2], "b"), "b": ([3], "c"), "c": ([4], None)}
    assert list(paginate(lambda cursor: pages[cursor])) == [1, 2, 3, 4]
    looping = {None: ([1], "a"), "a": ([2], "a")}
    with pytest.raises(BadResponse, match="pagination went in a circle"):
        list(paginate(lambda cursor: looping[cursor]))


def test_fetch_each_turns_errors_into_failures_and_stops_on_a_fatal_one() -> None:
    def fetch(n: int) -> list[Failure]:
        if n == 2:
            raise NotFound("page 2 is gone")
        if n == 3:
            raise AuthError("401")
        return []

    items = list(fetch_each([1, 2, 3, 4, 5], fetch, lambda n: (f"page {n}", [str(n)]), source="svc"))
    assert items == [
        Failure("page 2", "page 2 is gone", doc_id="2"),
        Failure("page 3", "401", doc_id="3"),
        Failure("svc", "stopped after the error above; 2 more to fetch next time", listing=True),
    ]


def test_fetch_each_with_several_workers_keeps_the_listing_order() -> None:
    def fetch(n: int) -> list[Unchanged]:
        time.sleep(0.02 * (n % 3))  # later pages finish first
        return [Unchanged(str(n))]

    items = fetch_each(range(10), fetch, lambda n: ("", [str(n)]), source="svc", workers=4)
    assert [i.doc_id for i in items if isinstance(i, Unchanged)] == [str(n) for n in range(10)]


# credentials ----------------------------------------------------------------------------------
def test_credentials_come_from_the_environment_first_then_the_private_file(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('KINTONE_API_TOKEN = "from-file-token"\nOTHER = "other-value"\n')
    secrets.chmod(0o600)
    store = Credentials(file=secrets, environ={"KINTONE_API_TOKEN": "from-env-token"})
    assert store.require("KINTONE_API_TOKEN").reveal() == "from-env-token"
    assert store.require("OTHER").reveal() == "other-value"
    with pytest.raises(CredentialError, match=f"set the environment variable MISSING or the key MISSING in {secrets}"):
        store.require("MISSING")


def test_a_secrets_file_others_can_read_is_refused(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('TOKEN = "abcdefgh"\n')
    secrets.chmod(0o644)
    with pytest.raises(CredentialError, match=r"accessible to other users \(mode 0644\); run `chmod 600"):
        Credentials(file=secrets, environ={}).get("TOKEN")


def test_the_secrets_file_is_named_in_config_relative_to_home(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[credentials]\nfile = "secrets.toml"\n')
    assert credentials_for(load_config(tmp_path)).file == tmp_path / "secrets.toml"
    assert credentials_for(load_config(tmp_path / "elsewhere")).file is None


def test_secrets_print_masked_and_are_redacted_from_logs(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret("SCRAPBOX_SID", "s:abc/def+ghi=")
    assert repr(secret) == str(secret) == "Secret(SCRAPBOX_SID=***)"
    assert redact("cookie s%3Aabc%2Fdef%2Bghi%3D and s:abc/def+ghi=") == "cookie *** and ***"
    log = logging.getLogger("test.redaction")
    handler_filter = RedactingFilter()
    caplog.handler.addFilter(handler_filter)
    try:
        log.warning("sending %s", "s:abc/def+ghi=")
    finally:
        caplog.handler.removeFilter(handler_filter)
    assert caplog.messages == ["sending ***"]


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_secrets_file_errors_never_quote_its_lines(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("TOKEN = unquoted-secret-value\n")
    secrets.chmod(0o600)
    with pytest.raises(CredentialError) as err:
        Credentials(file=secrets, environ={}).get("TOKEN")
    assert "unquoted-secret-value" not in str(err.value)
