"""OpenAI-compatible servers (Ollama, llama.cpp, vLLM, hosted APIs), streamed over SSE, and their provider."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from kbagent.models.base import ModelError, Prompt, StopReason, StopScanner, as_prompt

if TYPE_CHECKING:
    import requests

    from kbagent.config import Config
    from kbagent.credentials import Secret

DEFAULT_OPENAI_BASE_URL = "http://127.0.0.1:11434/v1"
_KEY_NAMES = ("KBAGENT_OPENAI_API_KEY", "OPENAI_API_KEY")


@dataclass(frozen=True)
class OpenAISettings:
    """Where an OpenAI-compatible server is and how to talk to it.

    ``api_key`` prints as ``***``; it is sent only in the Authorization header.
    """

    base_url: str
    model: str
    api_key: Secret | None = field(default=None, repr=False)
    chat: bool = False
    timeout: float = 120.0
    max_stops: int = 4

    @classmethod
    def from_config(cls, config: Config | None = None, environ: Mapping[str, str] | None = None) -> OpenAISettings:
        """Settings from ``KBAGENT_OPENAI_*`` env vars, else the ``[openai]`` table of config.toml.

        The key is looked up by name (``KBAGENT_OPENAI_API_KEY``, then ``OPENAI_API_KEY``, or
        ``[openai] api_key_env``) in the environment and the credentials file; never in config.
        """
        from kbagent.credentials import Credentials, credentials_for

        env = os.environ if environ is None else environ
        get = config.get if config is not None else (lambda key, default=None: default)
        base = env.get("KBAGENT_OPENAI_BASE_URL") or get("openai.base_url") or DEFAULT_OPENAI_BASE_URL
        model = env.get("KBAGENT_OPENAI_MODEL") or get("openai.model")
        if not model:
            raise ModelError(
                "no model name for the OpenAI-compatible server: set KBAGENT_OPENAI_MODEL or [openai] model"
            )
        store = credentials_for(config) if config is not None else Credentials()
        if environ is not None:
            store = Credentials(file=store.file, environ=environ)
        names = (get("openai.api_key_env"),) if get("openai.api_key_env") else _KEY_NAMES
        key = next((s for s in (store.get(str(n)) for n in names) if s is not None), None)
        chat = str(env.get("KBAGENT_OPENAI_CHAT", get("openai.chat", False))).lower() in ("1", "true", "yes")
        return cls(str(base).rstrip("/"), str(model), key, chat=chat)


class OpenAIBackend:
    """A model behind ``/v1/completions`` (default) or ``/v1/chat/completions``, streamed over SSE.

    There is no cache to keep between calls: after a tool result, the text so far is sent
    again (servers such as llama.cpp and vLLM reuse their own prefix cache for it). In chat
    mode the text so far is sent as the start of the assistant's reply.
    """

    def __init__(self, settings: OpenAISettings, session: requests.Session | None = None) -> None:
        import requests

        self.settings = settings
        self.name = f"openai:{settings.model}"
        self.http = session or requests.Session()

    def start(self, prompt: Prompt | str) -> OpenAIGeneration:
        """A generation that sends the prompt with its first request."""
        return OpenAIGeneration(self, as_prompt(prompt))

    def post_stream(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """POST a streaming request and yield each server-sent JSON event."""
        import requests

        url = f"{self.settings.base_url}/{path}"
        headers = {"Accept": "text/event-stream"}
        if self.settings.api_key is not None:
            headers["Authorization"] = f"Bearer {self.settings.api_key.reveal()}"
        try:
            resp = self.http.post(url, json=body, headers=headers, stream=True, timeout=self.settings.timeout)
        except requests.RequestException as exc:
            raise ModelError(f"{url}: cannot reach the server ({exc.__class__.__name__})") from None
        with resp:
            if resp.status_code >= 400:
                raise ModelError(f"{url}: HTTP {resp.status_code}: {_server_error(resp)}")
            try:
                for raw in resp.iter_lines(decode_unicode=False):
                    line = raw.decode("utf-8", "replace").strip() if raw else ""
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    try:
                        event = json.loads(data)
                    except ValueError:
                        raise ModelError(f"{url}: the server sent a malformed event") from None
                    if isinstance(event, dict) and event.get("error"):
                        raise ModelError(f"{url}: {_redact(str(event['error']))[:300]}")
                    if isinstance(event, dict):
                        yield event
            except requests.RequestException as exc:
                raise ModelError(f"{url}: connection lost ({exc.__class__.__name__})") from None


def _redact(text: str) -> str:
    from kbagent.credentials import redact

    return redact(text)


def _server_error(resp: requests.Response) -> str:
    try:
        body = resp.json()
        err = body.get("error", body) if isinstance(body, dict) else body
        message = err.get("message", err) if isinstance(err, dict) else err
        text = str(message)
    except ValueError:
        text = resp.text
    return _redact(" ".join(text.split()))[:300] or resp.reason


class OpenAIGeneration:
    """A generation against an OpenAI-compatible server (see :class:`OpenAIBackend`)."""

    def __init__(self, backend: OpenAIBackend, prompt: Prompt) -> None:
        self.backend = backend
        self.prompt = prompt
        self.written = ""
        self.stop_reason: StopReason | None = None
        self.stopped_on: str | None = None
        self.tokens = 0

    def feed(self, text: str) -> None:
        """Add text to what the next request sends."""
        self.written += text

    def stream(self, max_tokens: int, stop: Sequence[str] = (), call_top_k: int = 0) -> Iterator[str]:
        """Stream one request's completion (see :meth:`Generation.stream`)."""
        s = self.backend.settings
        self.stop_reason, self.stopped_on = None, None
        body: dict[str, Any] = {"model": s.model, "max_tokens": max_tokens, "stream": True, "temperature": 0}
        stops = [x for x in stop if x][: s.max_stops]
        if stops:
            body["stop"] = stops
        if s.chat:
            path = "chat/completions"
            messages = [{"role": m.role, "content": m.content} for m in self.prompt.messages]
            if self.written:
                messages.append({"role": "assistant", "content": self.written})
            body["messages"] = messages
        else:
            path = "completions"
            body["prompt"] = self.prompt.text + self.written
        # The server applies the stop strings too, but some apply only some of them; checking
        # here as well keeps the behaviour the same everywhere.
        scanner = StopScanner(stop)
        finish: str | None = None
        server_stop: str | None = None
        for event in self.backend.post_stream(path, body):
            choices = event.get("choices") or []
            if not choices:
                continue
            choice = choices[0]
            piece = (choice.get("delta") or {}).get("content") if s.chat else choice.get("text")
            if piece:
                self.tokens += 1
                out, hit = scanner.push(piece)
                if out:
                    self.written += out
                    yield out
                if hit is not None:
                    self.written += hit
                    self.stop_reason, self.stopped_on = "stop", hit
                    return
            finish = choice.get("finish_reason") or finish
            # vLLM says which stop string matched, llama.cpp's server too (under another name)
            server_stop = choice.get("stop_reason") or choice.get("stopping_word") or server_stop
        rest = scanner.flush()
        if rest:
            self.written += rest
            yield rest
        if finish == "length":
            self.stop_reason = "length"
        elif finish == "stop" and stops:
            named = isinstance(server_stop, str) and server_stop in stops
            hit = server_stop if named else _implied_stop(self.written, stops)
            if hit is not None:
                self.written += hit
                self.stop_reason, self.stopped_on = "stop", hit
            else:
                self.stop_reason = "eos"
        else:
            self.stop_reason = "eos"


def _implied_stop(text: str, stops: Sequence[str]) -> str | None:
    """Which stop string a server most likely cut off, when it does not say.

    OpenAI reports ``finish_reason: stop`` both for the end of text and for a stop string and
    leaves the string out. An open call at the end of the text means the arrow was hit.
    """
    from kbagent.microformat import ARROWS, pending_call

    for arrow in ARROWS:
        if arrow in stops and pending_call(text + arrow) is not None:
            return arrow
    return None


class OpenAIProvider:
    """Models behind an OpenAI-compatible server: ``openai:MODEL``, or ``openai`` for the configured one.

    Registered as the ``openai`` entry point of ``kbagent.models``.
    """

    def models(self) -> Mapping[str, str]:
        """None on their own: the server's models are named ``openai:MODEL``."""
        return {}

    def naming(self) -> str:
        """``openai:MODEL``."""
        return "openai:MODEL"

    def load(self, model: str | None, config: Config, **options: Any) -> OpenAIBackend:
        """A client for the configured server (see :meth:`OpenAISettings.from_config`); ``model`` overrides its model.

        Other options (threads, adapters) are for local models and are ignored here.
        """
        settings = OpenAISettings.from_config(config)
        if model is not None:
            settings = replace(settings, model=model)
        return OpenAIBackend(settings)
