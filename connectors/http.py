"""The HTTP layer shared by the web-service connectors (Scrapbox, Readwise, kintone, Confluence).

One `HttpClient` per source: a requests Session with kbagent's User-Agent, timeouts, retries with
exponential backoff on 429/5xx and network errors (honouring ``Retry-After``, capped), and errors
that name the URL's host and path — never its query, never a credential. Secret headers are
built only when the first request is sent, and redirects are followed only within the
configured origin so that a credential header never travels to another host.
"""

from __future__ import annotations

import base64
import logging
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
from kbagent.connectors import Failure, ScanItem

from kbagent.credentials import CredentialError, RedactingFilter, SecretSource, redact, register_secret
from kbagent.version import __version__

USER_AGENT = f"kbagent/{__version__}"
log = logging.getLogger(__name__)
log.addFilter(RedactingFilter())  # whatever handler the application installs

T = TypeVar("T")
C = TypeVar("C", bound=Hashable)
P = TypeVar("P")


class HttpError(Exception):
    """A request failed for good (after any retries). ``fatal``: later requests would fail too."""

    fatal = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(redact(message))
        self.status = status


class AuthError(HttpError):
    """The service refused the credential (401/403), or the credential is missing."""

    fatal = True


class NotFound(HttpError):
    """The service says the resource does not exist (404)."""


class NetworkError(HttpError):
    """The service could not be reached or did not answer in time, even after retries."""

    fatal = True


class BadResponse(HttpError):
    """The service answered, but not in the shape its API documents (e.g. malformed JSON)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry: ``attempts`` tries in all, waits doubling from ``backoff``.

    A server's ``Retry-After`` replaces the computed wait; no single wait exceeds ``max_wait``.
    ``sleep`` is injectable so that tests need not wait.
    """

    attempts: int = 5
    backoff: float = 1.0
    max_wait: float = 60.0
    sleep: Callable[[float], None] = time.sleep

    def wait(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        wanted = retry_after if retry_after is not None else self.backoff * 2 ** (attempt - 1)
        return max(0.0, min(wanted, self.max_wait))


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` header: delay seconds or an HTTP date; None if absent or garbled."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class SecretHeader:
    """A request header whose value is built from a secret when the first request is sent.

    ``template`` wraps the secret (``"Token {}"``, ``"connect.sid={}"``); with ``basic_user`` the
    value is HTTP Basic credentials for that user and the secret as password.
    """

    name: str
    secret: SecretSource
    template: str = "{}"
    basic_user: str | None = None

    def value(self) -> str:
        """The header value (raises `CredentialError` when the secret is missing)."""
        raw = self.secret.reveal()
        if self.basic_user is not None:
            raw = base64.b64encode(f"{self.basic_user}:{raw}".encode()).decode("ascii")
            register_secret(raw)
        built = self.template.format(raw)
        register_secret(built)
        return built


def describe_url(url: str) -> str:
    """Scheme, host and path of a URL: what error messages may show (no query, no user info)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return (parts.scheme, parts.hostname, parts.port)


class HttpClient:
    """GET requests to one web service, with retries and clear errors.

    ``base_url`` is the service's root (``https://example.cybozu.com``); paths are appended to
    it. Absolute URLs (a ``next`` link) are accepted only on the same origin. ``auth_hint`` ends
    401/403 messages, e.g. "check the API token in KINTONE_API_TOKEN".
    """

    def __init__(
        self,
        base_url: str,
        *,
        secret_headers: Sequence[SecretHeader] = (),
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        auth_hint: str = "",
        max_redirects: int = 5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.auth_hint = auth_hint
        self.max_redirects = max_redirects
        self._secret_headers = tuple(secret_headers)
        self._ready = False
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers["Accept"] = "application/json"
        self.session.headers.update(headers or {})
        # read proxy and CA-bundle settings from the environment once, not on every request (that
        # scan of os.environ cost more than the request itself); .netrc is ignored on purpose:
        # only the credentials configured for the source are ever sent
        env = self.session.merge_environment_settings(self.base_url, {}, None, None, None)
        self.session.proxies.update(env.get("proxies") or {})
        self.session.verify = env.get("verify", True)
        self.session.trust_env = False

    def close(self) -> None:
        """Close the connection pool."""
        self.session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, path_or_url: str) -> str:
        """The absolute URL for a path (or a same-origin absolute URL)."""
        if "://" in path_or_url:
            if _origin(path_or_url) != _origin(self.base_url):
                raise BadResponse(
                    f"{describe_url(self.base_url)}: refusing to follow a link to another site "
                    f"({describe_url(path_or_url)})"
                )
            return path_or_url
        return self.base_url + "/" + path_or_url.lstrip("/")

    def _prepare(self) -> None:
        if self._ready:
            return
        try:
            for h in self._secret_headers:
                self.session.headers[h.name] = h.value()
        except CredentialError as exc:
            raise AuthError(f"{describe_url(self.base_url)}: {exc}") from None
        self._ready = True

    def get(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> requests.Response:
        """GET with retries; the response of a 2xx, or an `HttpError` subclass."""
        self._prepare()
        url = self.url(path_or_url)
        attempts = max(1, self.retry.attempts)
        redirects = 0
        attempt = 1
        while True:
            where = f"GET {describe_url(url)}"
            retry_after: float | None = None
            network = False
            try:
                resp = self.session.get(url, params=params, timeout=(min(10.0, self.timeout), self.timeout),
                                        allow_redirects=False)
            except requests.Timeout:
                problem, network = f"no answer within {self.timeout:g} s", True
            except requests.ConnectionError:
                problem, network = "could not connect", True
            except requests.RequestException as exc:
                raise HttpError(f"{where}: request failed ({type(exc).__name__})") from None
            else:
                if resp.is_redirect and "location" in resp.headers:
                    redirects += 1
                    if redirects > self.max_redirects:
                        raise BadResponse(f"{where}: too many redirects")
                    url, params = self.url(urljoin(url, resp.headers["location"])), None
                    continue
                status = resp.status_code
                if status != 429 and status < 500:
                    self._check(resp, where)
                    return resp
                problem = f"{status} {resp.reason or ''}".strip()
                retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
            if attempt >= attempts:
                tries = f"after {attempts} tries" if attempts > 1 else ""
                if network:
                    raise NetworkError(f"{where}: {problem} {tries}".rstrip())
                raise HttpError(f"{where}: {problem} {tries}".rstrip(), status=resp.status_code)
            wait = self.retry.wait(attempt, retry_after)
            log.warning("%s: %s; retrying in %.1f s (try %d of %d)", where, problem, wait, attempt + 1, attempts)
            self.retry.sleep(wait)
            attempt += 1

    def _check(self, resp: requests.Response, where: str) -> None:
        status = resp.status_code
        if status < 400:
            return
        detail = _server_message(resp)
        said = f" — the service says: {detail}" if detail else ""
        if status in (401, 403):
            word = "401 Unauthorized" if status == 401 else "403 Forbidden"
            hint = f"; {self.auth_hint}" if self.auth_hint else ""
            raise AuthError(f"{where}: {word}{said}{hint}", status=status)
        if status == 404:
            raise NotFound(f"{where}: 404 Not Found{said}", status=status)
        raise HttpError(f"{where}: {status} {resp.reason or ''}{said}".rstrip(), status=status)

    def get_json(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET and decode JSON; `BadResponse` when the body is not JSON."""
        resp = self.get(path_or_url, params)
        try:
            return resp.json()
        except ValueError as exc:
            raise BadResponse(f"GET {describe_url(resp.url or self.url(path_or_url))}: "
                              f"the response is not valid JSON ({exc})") from None


def _server_message(resp: requests.Response) -> str:
    """A short error message from the service's JSON error body, if it sent one."""
    try:
        body = resp.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        for key in ("message", "error", "detail", "errorMessage"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return redact(" ".join(value.split()))[:200]
    return ""


def paginate(fetch: Callable[[C | None], tuple[Iterable[T], C | None]], start: C | None = None) -> Iterator[T]:
    """Yield the items of every page: ``fetch(cursor)`` returns a page's items and the next cursor.

    The first call gets ``start``; paging ends when a page returns no cursor. A cursor that comes
    back a second time would loop forever, so it is a `BadResponse`.
    """
    cursor = start
    seen: set[C] = set()
    while True:
        items, following = fetch(cursor)
        yield from items
        if following is None or following == "":
            return
        if following in seen:
            raise BadResponse(f"pagination went in a circle (cursor {str(following)[:40]!r} came back)")
        seen.add(following)
        cursor = following


def fetch_each(
    units: Iterable[P],
    fetch: Callable[[P], Iterable[ScanItem]],
    describe: Callable[[P], tuple[str, Sequence[str]]],
    *,
    source: str,
    workers: int = 1,
    max_consecutive_failures: int = 5,
) -> Iterator[ScanItem]:
    """Fetch changed pages (or batches of them), turning errors into `Failure`s, in listing order.

    ``describe(unit)`` gives a location for messages and the doc ids in the unit; a unit that fails
    yields a `Failure` for each id, so the index keeps their old copies. A fatal error (credential
    refused, service unreachable) or ``max_consecutive_failures`` failures in a row stops the run
    with a listing `Failure`, so that nothing is deleted on the strength of a half-read source.
    With ``workers`` > 1 that many requests are in flight at once (results still come in order).
    """
    todo = list(units)
    streak = 0
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        window = max(1, workers) * 2
        pending: deque[Future[list[ScanItem]]] = deque()
        submitted = 0
        try:
            for i, unit in enumerate(todo):
                while submitted < len(todo) and len(pending) < window:
                    pending.append(pool.submit(lambda u: list(fetch(u)), todo[submitted]))
                    submitted += 1
                try:
                    items = pending.popleft().result()
                except HttpError as exc:
                    location, ids = describe(unit)
                    for doc_id in ids:
                        yield Failure(location, str(exc), doc_id=doc_id)
                    streak += 1
                    left = len(todo) - i - 1
                    if (exc.fatal or streak >= max_consecutive_failures) and left:
                        why = "the error above" if exc.fatal else f"{streak} failures in a row"
                        yield Failure(source, f"stopped after {why}; {left} more to fetch next time", listing=True)
                        return
                    continue
                streak = 0
                yield from items
        finally:
            for future in pending:  # stopped early (or the caller stopped reading): drop the rest
                future.cancel()
