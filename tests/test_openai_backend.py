"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1 speaking that protocol."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kbagent.agent import Agent, TextDelta
from kbagent.credentials import Secret
from kbagent.models import ModelError, OpenAIBackend, OpenAISettings
from kbagent.tools import Calculator

KEY = "sk-test-0123456789abcdef"


def arithmetic_model(text: str) -> str:
    """The server's "model": asks the calculator once, then answers with what it was given."""
    if "[Calculator(6*7) →" not in text.rsplit("Question:", 1)[-1]:
        return " It is [Calculator(6*7) → 41] wrong guess"
    return " so the answer is 42.\n\nQuestion: something else"


@dataclass
class FakeServer:
    """An OpenAI-compatible server: /v1/completions and /v1/chat/completions, SSE streaming."""

    model: Callable[[str], str] = arithmetic_model
    honour_stops: bool = True
    report_stop: bool = False  # like vLLM: say which stop string matched
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def complete(self, text: str, stops: list[str]) -> tuple[str, str, str | None]:
        out = self.model(text)
        if self.honour_stops:
            found = [(out.find(s), s) for s in stops if s in out]
            if found:
                i, s = min(found)
                return out[:i], "stop", s
        return out, "stop", None


def make_handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
            if self.headers.get("Authorization") != f"Bearer {KEY}":
                self.send_json(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request"}})
                return
            chat = self.path == "/v1/chat/completions"
            if self.path not in ("/v1/completions", "/v1/chat/completions"):
                self.send_json(404, {"error": {"message": "not found"}})
                return
            text = body["prompt"] if not chat else "\n".join(m["content"] for m in body["messages"])
            out, finish, stop = server.complete(text, body.get("stop", []))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            words = [w for w in out.replace(" ", " \x00").split("\x00") if w]
            for w in words:
                choice = {"index": 0, "delta": {"content": w}} if chat else {"index": 0, "text": w}
                self.event({"id": "x", "choices": [{**choice, "finish_reason": None}]})
            last: dict[str, Any] = {"index": 0, "finish_reason": finish}
            last["delta" if chat else "text"] = {} if chat else ""
            if server.report_stop and stop:
                last["stop_reason"] = stop
            self.event({"id": "x", "choices": [last]})
            self.wfile.write(b"data: [DONE]\n\n")

        def event(self, obj: dict[str, Any]) -> None:
            self.wfile.write(f"data: {json.dumps(obj)}\n\n".encode())
            self.wfile.flush()

        def send_json(self, status: int, obj: dict[str, Any]) -> None:
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(fake))
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield fake
    httpd.shutdown()
    httpd.server_close()


def backend(server: FakeServer, chat: bool = False, key: str = KEY) -> OpenAIBackend:
    return OpenAIBackend(OpenAISettings(server.url, "tiny", Secret("KBAGENT_OPENAI_API_KEY", key), chat=chat))


def test_completions_stop_at_the_arrow_and_continue_after_the_result(server: FakeServer) -> None:
    answer = Agent(backend(server), [Calculator()]).ask("What is 6 times 7?")
    assert answer.text == "It is [Calculator(6*7) → 42] so the answer is 42."
    assert [c.result for c in answer.calls] == ["42"]
    first, second = (r["body"] for r in server.requests)
    assert first["stream"] is True and "→" in first["stop"] and first["model"] == "tiny"
    assert first["prompt"].endswith("Question: What is 6 times 7?\nAnswer:")
    assert second["prompt"].endswith("Answer: It is [Calculator(6*7) → 42]")


def test_chat_completions_send_the_answer_so_far_as_the_assistant_turn(server: FakeServer) -> None:
    answer = Agent(backend(server, chat=True), [Calculator()]).ask("What is 6 times 7?")
    assert answer.text == "It is [Calculator(6*7) → 42] so the answer is 42."
    first, second = (r["body"]["messages"] for r in server.requests)
    assert first[0]["role"] == "system" and "Calculator(expression)" in first[0]["content"]
    assert first[-1] == {"role": "user", "content": "What is 6 times 7?"}
    assert second[-1] == {"role": "assistant", "content": " It is [Calculator(6*7) → 42]"}
    assert all(r["path"] == "/v1/chat/completions" for r in server.requests)


def test_text_streams_in_pieces(server: FakeServer) -> None:
    deltas = [e.text for e in Agent(backend(server), [Calculator()]).events("q") if isinstance(e, TextDelta)]
    assert len(deltas) > 4 and "".join(deltas).startswith("It is [Calculator(6*7) →")


def test_stop_strings_are_applied_even_when_the_server_ignores_them(server: FakeServer) -> None:
    server.honour_stops = False
    answer = Agent(backend(server), [Calculator()]).ask("q")
    assert answer.text == "It is [Calculator(6*7) → 42] so the answer is 42."


def test_server_reported_stop_string_is_used(server: FakeServer) -> None:
    server.report_stop = True
    server.model = lambda text: " a -> b" if "->" not in text.rsplit("Answer:", 1)[-1] else " c"
    # the server names "->" as the stop; it is prose, so the answer goes on
    answer = Agent(backend(server), [Calculator()]).ask("q")
    assert answer.text == "a -> c" and answer.calls == ()


def test_bad_key_gives_a_clear_error_without_the_key(server: FakeServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "sk-wrong-key-abcdef123456"
    with pytest.raises(ModelError) as err:
        Agent(backend(server, key=wrong), [Calculator()]).ask("q")
    assert "HTTP 401" in str(err.value) and "Incorrect API key" in str(err.value)
    assert wrong not in str(err.value) and wrong not in caplog.text
    assert server.requests[0]["auth"] == f"Bearer {wrong}"


def test_unreachable_server_is_a_model_error() -> None:
    settings = OpenAISettings("http://127.0.0.1:9/v1", "tiny", timeout=2)
    with pytest.raises(ModelError, match="cannot reach"):
        Agent(OpenAIBackend(settings), []).ask("q")


def test_settings_come_from_env_and_never_show_the_key() -> None:
    env = {"KBAGENT_OPENAI_BASE_URL": "http://localhost:8080/v1/", "KBAGENT_OPENAI_MODEL": "qwen"}
    env["OPENAI_API_KEY"] = KEY
    settings = OpenAISettings.from_config(None, env)
    assert (settings.base_url, settings.model, settings.chat) == ("http://localhost:8080/v1", "qwen", False)
    assert settings.api_key is not None and settings.api_key.reveal() == KEY
    assert KEY not in repr(settings) and KEY not in repr(OpenAIBackend(settings).settings)
    with pytest.raises(ModelError, match="KBAGENT_OPENAI_MODEL"):
        OpenAISettings.from_config(None, {})
