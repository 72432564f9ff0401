"""``kb chat``: a full-screen terminal chat with your notes, built with Textual.

The app is handed a knowledge base and an agent factory, so tests (and other front ends) can
inject their own. Everything slow runs in worker threads: loading the model, answering,
reading the index status, re-indexing. Workers talk to the UI only by posting messages, so the
screen keeps redrawing while the model writes; Esc sets the answer's cancel event, which the
agent checks after every token.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote

import numpy as np
from rich.table import Table
from rich.text import Text
from textual import events, on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Collapsible, Footer, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from kbagent.agent import Agent, Answer, CallRecord, Done, Event, TextDelta, ToolCallFinished, ToolCallStarted
from kbagent.conversations import Conversation, ConversationStore, Turn
from kbagent.humantime import ago
from kbagent.microformat import parse_calls, pending_call
from kbagent.models import DEFAULT_MODEL, PACKAGED_MODELS, ModelError, converted_language_model

if TYPE_CHECKING:
    from kbagent.config import Config
    from kbagent.hits import Hit as SearchHit
    from kbagent.indexes.embedders import Embedder
    from kbagent.knowledgebase import IndexStats, KnowledgeBase, Progress, Status
    from kbagent.tools import Searcher

AgentFactory = Callable[["Searcher | None", "str | None"], Agent]
"""Builds the agent for a model name (``None``: the configured one) over a searcher (``None``: no index)."""

Clock = Callable[[], datetime]

# A call the model is still writing: `[Tool(` with no closing bracket yet.
_OPEN_CALL = re.compile(r"\[\s*[A-Za-z_][\w.]*\s*\([^\]]*$")


# --- small pure helpers ------------------------------------------------------------------------


def format_seconds(seconds: float) -> str:
    """A duration as people read it: ``<1 ms``, ``35 ms``, ``2.4 s``."""
    ms = seconds * 1000
    if ms < 1:
        return "<1 ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{seconds:.1f} s"


def display_url(url: str) -> str:
    """A link as people read it: percent-escapes decoded (``file=home/Plant care 植物の世話``)."""
    try:
        return unquote(url, errors="strict")
    except UnicodeDecodeError:
        return url


def _clip(text: str, chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= chars else text[: chars - 1].rstrip() + "…"


def advice(exc: BaseException) -> tuple[str, str]:
    """What went wrong, in one line, and what the user can do about it."""
    message = " ".join(str(exc).split()) or exc.__class__.__name__
    switch = "or switch model: ctrl+p → Model."
    if isinstance(exc, ModelError):
        if "cannot reach" in message or "connection lost" in message:
            return message, (
                "Start the model server, or point kbagent at it (KBAGENT_OPENAI_BASE_URL or [openai] base_url "
                f"in config.toml); {switch}"
            )
        if "HTTP 401" in message or "HTTP 403" in message:
            return message, f"The server refused the key: set KBAGENT_OPENAI_API_KEY; {switch}"
        if "HTTP" in message:
            return message, f"The server refused the request: check the model name (KBAGENT_OPENAI_MODEL); {switch}"
        if "no model name" in message:
            return message, f"Name the server's model with KBAGENT_OPENAI_MODEL or [openai] model; {switch}"
        if "not installed" in message or "missing" in message or "unknown language model" in message:
            return message, f"Install the model's package (see above), then run `kb models prepare`; {switch}"
        return message, f"Check the model settings; {switch}"
    if isinstance(exc, MemoryError):
        return "out of memory while answering", "Close other programs or switch to a smaller model: ctrl+p → Model."
    if isinstance(exc, OSError):
        return message, "A file or connection failed; check the path or server named above and ask again."
    return f"{exc.__class__.__name__}: {message}", (
        "This looks like a bug in kbagent. The conversation is saved; please report the message above."
    )


def configured_model(config: Config | None, model: str | None = None) -> str:
    """The model name ``kb chat`` will load: the given one, ``$KBAGENT_MODEL``, ``[model] name``, the default."""
    configured = config.get("model.name") if config is not None else None
    return model or os.environ.get("KBAGENT_MODEL") or configured or DEFAULT_MODEL


def default_agent_factory(config: Config) -> AgentFactory:
    """The agent of :func:`kbagent.agent.build_agent` with the user's settings."""

    def make(searcher: Searcher | None, model: str | None) -> Agent:
        from kbagent.agent import build_agent

        return build_agent(searcher, config=config, model=model)

    return make


class LockedSearcher:
    """The knowledge base's search, page reads and query embedder, one thread at a time.

    The answer, the status line and a re-index run in threads of their own and share the catalogue's
    connection and the embedding model. The chat's Search must read what ``kb ask`` reads — whole
    pages, lines chosen with the embedder — so those go through the lock as well.
    """

    def __init__(self, searcher: Searcher, lock: threading.RLock) -> None:
        self.searcher = searcher
        self.lock = lock
        self._embedder: LockedEmbedder | None = None

    def search(self, query: str, k: int) -> list[SearchHit]:
        """Search, under the lock."""
        with self.lock:
            return self.searcher.search(query, k)

    def page_text(self, source: str, doc_id: str) -> str:
        """A page's whole text, under the lock; empty when the searcher cannot read pages."""
        read = getattr(self.searcher, "page_text", None)
        if not callable(read):
            return ""
        with self.lock:
            text = read(source, doc_id)
        return text if isinstance(text, str) else ""

    @property
    def query_embedder(self) -> LockedEmbedder | None:
        """The searcher's query embedder behind the lock (the Search tool chooses lines with it)."""
        if self._embedder is None:
            with self.lock:
                inner = getattr(self.searcher, "query_embedder", None)
            if inner is not None:
                self._embedder = LockedEmbedder(inner, self.lock)
        return self._embedder


class LockedEmbedder:
    """An embedder shared between threads: one call at a time (torch and tokenizers are not reentrant)."""

    def __init__(self, embedder: Embedder, lock: threading.RLock) -> None:
        self.inner = embedder
        self.lock = lock
        self.name = embedder.name
        self.dim = embedder.dim

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Passage vectors, under the lock."""
        with self.lock:
            return self.inner.embed_passages(texts)

    def embed_query(self, text: str) -> np.ndarray:
        """A query vector, under the lock."""
        with self.lock:
            return self.inner.embed_query(text)

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Token counts, under the lock."""
        with self.lock:
            return self.inner.count_tokens(texts)


# --- conversation widgets ----------------------------------------------------------------------


class Prose(Static):
    """Text the model wrote between its tool calls."""

    def __init__(self, text: str = "", *, writing: bool = False) -> None:
        self.text = text
        self.writing = writing
        super().__init__(self._render_text(), markup=False)

    def _render_text(self) -> Text:
        m = _OPEN_CALL.search(self.text) if self.writing else None
        if m is None:
            return Text(self.text)
        return Text.assemble(self.text[: m.start()], (self.text[m.start() :], "dim"))

    def show(self, text: str) -> None:
        """Show ``text``; while writing, a call still being written is dimmed."""
        self.text = text
        self.update(self._render_text())


def _call_summary(tool: str, input: str, call: CallRecord | None) -> Text:
    """One line: ``Search "query" · 35 ms → Page, Page`` (or ``… running`` while it runs)."""
    line = Text()
    line.append(tool, "bold")
    if input:
        line.append(f" {input}" if tool != "Search" else f' "{input}"')
    if call is None:
        line.append(" · running…", "italic")
        return line
    line.append(f" · {format_seconds(call.seconds)}", "dim")
    line.append(" → ")
    if call.hits and tool == "Search":  # other tools (Find) say in their result what they found
        line.append(", ".join(h.title or h.doc_id for h in call.hits))
    else:
        line.append(" ".join(call.result.split()), "" if call.ok else "bold red")
    return line


class ToolCallBlock(Vertical):
    """A tool call inline in the answer: what was asked, what came back, how long it took.

    Search blocks expand (Enter or click) to list the hits with their links and snippets.
    """

    def __init__(self, tool: str, input: str, call: CallRecord | None = None) -> None:
        super().__init__(classes="tool-call")
        self.tool = tool
        self.input = input
        self.call = call
        self.set_class(call is None, "-running")
        self.set_class(call is not None and not call.ok, "-failed")

    def compose(self) -> ComposeResult:
        """A collapsible for Search, a single line for the other tools."""
        summary = _call_summary(self.tool, self.input, self.call)
        if self.tool == "Search":
            # the title is shown as Content (styled, never parsed as markup) though typed as str
            title: Any = Content.from_rich_text(summary)
            with Collapsible(title=title, collapsed=True, collapsed_symbol="▸", expanded_symbol="▾"):
                yield Static(self._hits_text(), classes="hits", markup=False)
        else:
            yield Static(Text.assemble("  ", summary), classes="summary", markup=False)

    def _hits_text(self) -> Text | Table:
        if self.call is None:
            return Text("searching…", "italic")
        if not self.call.hits:
            return Text(self.call.result)
        # a grid, so that wrapped lines stay indented under their hit
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(ratio=1)
        for i, h in enumerate(self.call.hits, 1):
            text = Text.assemble((h.title or h.doc_id, "bold"))
            if h.source:
                text.append(f"  ({h.source})", "dim")
            if h.url:
                text.append("\n")
                text.append(display_url(h.url), f"underline link {h.url}")
            if h.preview:
                text.append("\n" + _clip(h.preview, 200), "dim")
            grid.add_row(f"{i}.", text)
        return grid

    def finish(self, call: CallRecord) -> None:
        """The call is done: show its result."""
        self.call = call
        self.set_class(False, "-running")
        self.set_class(not call.ok, "-failed")
        summary = _call_summary(self.tool, self.input, call)
        if self.tool == "Search":
            self.query_one(Collapsible).title = Content.from_rich_text(summary)  # type: ignore[assignment]
            self.query_one(".hits", Static).update(self._hits_text())
        else:
            self.query_one(".summary", Static).update(Text.assemble("  ", summary))


class SourceList(OptionList):
    """The pages behind an answer: Enter opens a link, c copies it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy_link", "Copy link"),
    ]

    def __init__(self, sources: Sequence[SearchHit]) -> None:
        self.sources = tuple(sources)
        options = []
        for i, s in enumerate(self.sources, 1):
            grid = Table.grid(padding=(0, 1))
            grid.add_column(no_wrap=True)
            grid.add_column(ratio=1)
            text = Text.assemble((s.title or s.doc_id, "bold"))
            if s.source:
                text.append(f"  ({s.source})", "dim")
            if s.url:
                text.append("\n" + display_url(s.url), "dim")
            grid.add_row(f"{i}.", text)
            options.append(Option(grid))
        super().__init__(*options, compact=True, classes="sources")

    def action_copy_link(self) -> None:
        """Copy the highlighted page's link."""
        if self.highlighted is None:
            return
        link = self.sources[self.highlighted]
        self.app.copy_to_clipboard(link.url or link.title)
        self.app.notify(f"Copied {link.url or link.title}", timeout=3)

    @on(OptionList.OptionSelected)
    def _open(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        link = self.sources[event.option_index]
        if link.url:
            self.app.open_url(link.url)


class Note(Static):
    """A message from kbagent itself in the conversation (a hint, an error and what to do)."""

    def __init__(self, text: str | Text, *, error: bool = False) -> None:
        super().__init__(text if isinstance(text, Text) else Text(text), markup=False)
        self.add_class("note")
        self.set_class(error, "-error")


def _error_text(message: str, hint: str) -> Text:
    return Text.assemble(("✗ ", "bold red"), (message, "bold"), "\n", ("What to do: ", "italic"), hint)


class TurnView(Vertical, can_focus=True):
    """A question and its answer: streamed prose, tool-call blocks, sources, and a line of facts."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("c", "copy_answer", "Copy")]

    class Streamed(Message):
        """An agent event for this turn, from the answer's worker thread."""

        bubble = False

        def __init__(self, event: Event) -> None:
            super().__init__()
            self.event = event

    class Failed(Message):
        """The answer stopped with an error."""

        bubble = False

        def __init__(self, error: BaseException) -> None:
            super().__init__()
            self.error = error

    class Finished(Message):
        """The turn is complete (answered, cancelled or failed); the app saves it."""

        def __init__(self, view: TurnView, turn: Turn) -> None:
            super().__init__()
            self.view = view
            self.turn = turn

    def __init__(self, question: str, turn: Turn | None = None, *, model: str = "", asked_at: str = "") -> None:
        super().__init__(classes="turn")
        self.question = question
        self.turn = turn
        self.model = model
        self.asked_at = asked_at
        self._prose: Prose | None = None
        self._block: ToolCallBlock | None = None
        self._calls_done = 0
        self._started = time.monotonic()
        self.cancelling = False

    def compose(self) -> ComposeResult:
        """The question, then the answer so far."""
        yield Static(Text.assemble(("› ", "bold"), self.question), classes="question", markup=False)
        if self.turn is not None:
            yield from self._final_widgets(self.turn)
        else:
            yield Static(Text("thinking… (Esc cancels)", "italic"), classes="meta", markup=False)

    def on_mount(self) -> None:
        """Tick the elapsed time while the answer is being written."""
        if self.turn is None:
            self._ticker = self.set_interval(0.5, self._tick)

    def _tick(self) -> None:
        if self.turn is None:
            self._set_meta(self._live_meta())

    def _live_meta(self) -> Text:
        elapsed = time.monotonic() - self._started
        if self.cancelling:
            doing = "cancelling…"
        elif self._block is not None:
            doing = f"running {self._block.tool}…"
        elif self._prose is None and not self._calls_done:
            doing = "thinking…"
        else:
            doing = "writing…"
        return Text(f"{doing} {elapsed:.0f} s (Esc cancels)", "italic")

    def _set_meta(self, text: Text) -> None:
        if self.turn is None:
            for meta in self.query(".meta").results(Static):
                meta.update(text)

    # streaming --------------------------------------------------------------------------------
    def _mount_part(self, widget: Static | Vertical) -> None:
        self.mount(widget, before=self.query_one(".meta"))

    async def on_turn_view_streamed(self, message: TurnView.Streamed) -> None:
        """Show one event of the answer as it happens."""
        event = message.event
        if isinstance(event, TextDelta):
            if self._prose is None:
                text = event.text.lstrip()
                if not text:
                    return
                self._prose = Prose(text, writing=True)
                self._mount_part(self._prose)
            else:
                self._prose.show(self._prose.text + event.text)
        elif isinstance(event, ToolCallStarted):
            if self._prose is not None:
                pending = pending_call(self._prose.text)
                before = self._prose.text[: pending.start].rstrip() if pending else self._prose.text
                if before:
                    self._prose.writing = False
                    self._prose.show(before)
                else:
                    await self._prose.remove()
                self._prose = None
            self._block = ToolCallBlock(event.tool, event.input)
            self._mount_part(self._block)
        elif isinstance(event, ToolCallFinished):
            self._calls_done += 1
            if self._block is not None:
                self._block.finish(event.call)
            self._block = None
        elif isinstance(event, Done):
            turn = Turn(event.answer, model=self.model, asked_at=self.asked_at)
            await self.show_turn(turn)
        self._set_meta(self._live_meta())

    async def on_turn_view_failed(self, message: TurnView.Failed) -> None:
        """Show the error, with what to do, where the answer would have been."""
        text = self._prose.text if self._prose is not None else ""
        what, hint = advice(message.error)
        answer = Answer(self.question, text, stop_reason="error", seconds=time.monotonic() - self._started)
        turn = Turn(answer, error=what, hint=hint, model=self.model, asked_at=self.asked_at)
        await self.show_turn(turn)

    async def show_turn(self, turn: Turn) -> None:
        """Replace the live parts by the finished turn (laid out as a reopened one would be)."""
        self.turn = turn
        if getattr(self, "_ticker", None) is not None:
            self._ticker.stop()
        self._prose = self._block = None
        await self.remove_children([c for c in self.children if not c.has_class("question")])
        await self.mount_all(self._final_widgets(turn))
        self.post_message(TurnView.Finished(self, turn))

    def _final_widgets(self, turn: Turn) -> Iterator[Widget]:
        answer = turn.answer
        records = list(answer.calls)
        used = 0
        pos = 0
        for c in parse_calls(answer.text):
            if c.result is None:
                continue  # written without an arrow: the model's prose, not a call that ran
            prose = answer.text[pos : c.start].strip()
            if prose:
                yield Prose(prose)
            call = records[used] if used < len(records) else CallRecord(c.tool, c.argument, c.result)
            used += 1
            yield ToolCallBlock(call.tool, call.input, call)
            pos = c.end
        tail = answer.text[pos:].strip()
        if tail:
            yield Prose(tail)
        for call in records[used:]:
            yield ToolCallBlock(call.tool, call.input, call)
        if not answer.plain and turn.error is None and answer.stop_reason != "cancelled":
            looked = " after its tool calls (open a Search block to see what it found)" if answer.calls else ""
            yield Note(f"The model wrote no answer{looked}. Try asking in other words, or another model: ctrl+p.")
        if turn.error is not None:
            yield Note(_error_text(turn.error, turn.hint or ""), error=True)
        if answer.sources:
            yield Static(Text("Sources", "bold"), classes="sources-label", markup=False)
            yield SourceList(answer.sources)
        yield Static(_turn_facts(turn), classes="meta -done", markup=False)

    def action_copy_answer(self) -> None:
        """Copy this answer (without its tool calls)."""
        if self.turn is not None:
            self.app.copy_to_clipboard(self.turn.answer.plain)
            self.app.notify("Copied the answer", timeout=3)


def _turn_facts(turn: Turn) -> Text:
    answer = turn.answer
    parts = [p for p in (turn.model,) if p]
    if answer.calls:
        parts.append(f"{len(answer.calls)} tool call{'s' if len(answer.calls) != 1 else ''}")
    if answer.tokens:
        parts.append(f"{answer.tokens} tokens")
    parts.append(format_seconds(answer.seconds))
    ending = {"cancelled": "cancelled", "length": "stopped at the length limit", "error": "failed"}
    if answer.stop_reason in ending:
        parts.append(ending[answer.stop_reason])
    return Text(" · ".join(parts), "dim")


# --- input, status, help -----------------------------------------------------------------------


class ChatInput(TextArea):
    """The question box: Enter sends, Ctrl+J (or Shift+Enter, or ``\\`` then Enter) starts a new line,
    ↑/↓ on the first/last line walk through earlier questions."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "Previous question", show=False),
        Binding("down", "history(1)", "Next question", show=False),
        Binding("ctrl+j,shift+enter,alt+enter", "newline", "New line", show=False),
    ]

    class Submitted(Message):
        """The user sent a question."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, history: Iterable[str] = (), **kw: Any) -> None:
        super().__init__(soft_wrap=True, show_line_numbers=False, compact=True, highlight_cursor_line=False, **kw)
        self.questions: list[str] = list(history)
        self._pos = len(self.questions)
        self._draft = ""

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            row, col = self.cursor_location
            line = self.document.get_line(row)
            if col > 0 and line[:col].endswith("\\"):
                self.replace("\n", (row, col - 1), (row, col))
                return
            self.submit()
            return
        await super()._on_key(event)

    def submit(self) -> None:
        """Send the text (if any) and remember it."""
        text = self.text.strip()
        if not text:
            return
        if not self.questions or self.questions[-1] != text:
            self.questions.append(text)
        self._pos = len(self.questions)
        self._draft = ""
        self.clear()
        self.post_message(self.Submitted(text))

    def action_newline(self) -> None:
        """Insert a line break."""
        self.insert("\n")

    def action_history(self, step: int) -> None:
        """Move through earlier questions, or move the cursor when not on the first/last line."""
        row, _ = self.cursor_location
        at_edge = row == 0 if step < 0 else row == self.document.line_count - 1
        if not at_edge or not self.questions:
            self.action_cursor_up() if step < 0 else self.action_cursor_down()
            return
        if self._pos == len(self.questions):
            self._draft = self.text
        pos = min(max(self._pos + step, 0), len(self.questions))
        if pos == self._pos:
            return
        self._pos = pos
        self.text = self.questions[pos] if pos < len(self.questions) else self._draft
        self.move_cursor(self.document.end)


HELP = [
    ("Enter", "send the question"),
    ("Ctrl+J, Shift+Enter", "new line (or end the line with \\ and press Enter)"),
    ("↑ / ↓", "earlier / later questions (on the first / last line)"),
    ("Esc", "cancel the answer being written"),
    ("Shift+Tab", "go to the last answer's links (Tab: forwards)"),
    ("c", "copy the focused answer or link"),
    ("Enter on a link", "open it; on a Search block: show the hits"),
    ("Ctrl+O", "copy the last answer"),
    ("Ctrl+N", "new conversation (the old one stays saved)"),
    ("Ctrl+R", "re-index all sources"),
    ("Ctrl+P", "commands: switch model, re-index a source, copy a link"),
    ("F1", "this help"),
    ("Ctrl+Q", "quit"),
]


class HelpScreen(ModalScreen[None]):
    """The key bindings."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,f1,q", "dismiss", "Close"),
    ]

    def __init__(self, saved_in: str = "") -> None:
        super().__init__()
        self.saved_in = saved_in

    def compose(self) -> ComposeResult:
        """A table of keys, and where conversations are kept."""
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True, style="bold")
        grid.add_column()
        for key, what in HELP:
            grid.add_row(key, what)
        saved = f"Conversations are saved in {self.saved_in}" if self.saved_in else "Conversations are saved"
        foot = Text(f"{saved}; `kb chat --continue` reopens the last one. Esc closes this help.", "dim")
        with Vertical(id="help"):
            yield Static(Text("kb chat — keys", "bold"), markup=False)
            yield Static(grid, classes="keys")
            yield Static(foot, classes="foot", markup=False)


class StatusLine(Static):
    """Model, index (sources, pages, last re-index) and what is running."""


# --- the command palette -----------------------------------------------------------------------


class ChatCommands(Provider):
    """Palette entries: switch model, re-index a source, copy the last answer or one of its links."""

    def _commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        app = self.app
        assert isinstance(app, ChatApp)
        return app.palette_commands()

    async def discover(self) -> Hits:
        """Every entry, before anything is typed."""
        for name, run, help in self._commands():
            yield DiscoveryHit(name, run, help=help)

    async def search(self, query: str) -> Hits:
        """Entries that match what was typed."""
        matcher = self.matcher(query)
        for name, run, help in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), run, help=help)


# --- the app -----------------------------------------------------------------------------------


class ChatApp(App[None]):
    """Talk to your notes: ask, watch the tool calls, follow the sources."""

    CSS_PATH = "tui.tcss"
    TITLE = "kb chat"
    COMMANDS: ClassVar[set[type[Provider] | Callable[[], type[Provider]]]] = App.COMMANDS | {ChatCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+o", "copy_last", "Copy last"),
        Binding("ctrl+n", "new_conversation", "New"),
        Binding("ctrl+r", "reindex", "Re-index"),
        Binding("f1", "help", "Help"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    class StatusRead(Message):
        """The knowledge base's status, read in a worker."""

        def __init__(self, status: Status | None, error: str | None = None) -> None:
            super().__init__()
            self.status = status
            self.error = error

    class ModelLoaded(Message):
        """The agent is ready (or could not be built)."""

        def __init__(self, name: str | None, error: BaseException | None = None, generation: int = 0) -> None:
            super().__init__()
            self.name = name
            self.error = error
            self.generation = generation

    class ReindexEvent(Message):
        """Progress or the end of a re-index."""

        def __init__(
            self, progress: str | None = None, stats: list[IndexStats] | None = None, error: str | None = None
        ) -> None:
            super().__init__()
            self.progress = progress
            self.stats = stats
            self.error = error

    def __init__(
        self,
        kb: KnowledgeBase | None,
        agent_factory: AgentFactory,
        *,
        model: str | None = None,
        store: ConversationStore | None = None,
        conversation: Conversation | None = None,
        clock: Clock | None = None,
        models: Sequence[str] | None = None,
        preload: bool = True,
        notice: str | None = None,
    ) -> None:
        super().__init__()
        self.kb = kb
        self.agent_factory = agent_factory
        self.model_name = configured_model(kb.config if kb is not None else None, model)
        self.clock: Clock = clock or (lambda: datetime.now().astimezone())
        self.store = store or (ConversationStore(kb.paths.conversations) if kb is not None else None)
        self.conversation = conversation or self._new_conversation()
        self.models = tuple(models) if models is not None else (*PACKAGED_MODELS, "openai")
        self.preload = preload
        self.notice = notice
        self.status: Status | None = None
        self.status_error: str | None = None
        self.model_label = f"loading {self.model_name}…"
        self.reindexing: str | None = None
        self._kb_lock = threading.RLock()
        self._agent: Agent | None = None
        self._agent_lock = threading.Lock()
        self._agent_generation = 0
        self._searcher = LockedSearcher(kb, self._kb_lock) if kb is not None else None
        self._cancel: threading.Event | None = None
        self._answering: TurnView | None = None
        self._warned_empty = False

    def _new_conversation(self) -> Conversation:
        if self.store is not None:
            return self.store.new(self.clock())
        now = self.clock()
        return Conversation(f"{now:%Y%m%d-%H%M%S}", now.isoformat(timespec="seconds"))

    # layout -----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        """Conversation, input, status line, key hints."""
        yield VerticalScroll(id="conversation")
        history = [t.answer.question for t in self.conversation.turns]
        yield ChatInput(history, id="input", placeholder="Ask your notes…  (Enter sends · Ctrl+J new line · F1 help)")
        yield StatusLine(id="status", markup=False)
        yield Footer()

    async def on_mount(self) -> None:
        """Show the reopened conversation, then start loading the model and reading the index."""
        conversation = self.query_one("#conversation", VerticalScroll)
        conversation.anchor()
        widgets: list[Static | Vertical] = []
        if self.notice:
            widgets.append(Note(self.notice))
        for turn in self.conversation.turns:
            widgets.append(TurnView(turn.answer.question, turn, model=turn.model))
        if widgets:
            await conversation.mount_all(widgets)
        self.query_one(ChatInput).focus()
        self._render_status()
        self.set_interval(30, self._render_status)
        self.refresh_status()
        if self.preload:
            self._load_agent()

    # the model --------------------------------------------------------------------------------
    def _load_agent(self) -> None:
        self.model_label = f"loading {self.model_name}…"
        packaged = self.kb is not None and self.model_name in PACKAGED_MODELS
        if (
            packaged
            and self.kb is not None
            and converted_language_model(self.model_name, self.kb.config.models_dir) is None
        ):
            # the first start converts the packaged weights: say why it takes a while
            self.model_label = f"preparing {self.model_name} (first start only: 1–3 min)…"
        self._render_status()
        generation = self._agent_generation
        self.run_worker(lambda: self._preload(generation), thread=True, group="model", exit_on_error=False)

    def _preload(self, generation: int) -> None:
        try:
            agent = self.agent_for()
            if self.kb is not None:
                # load the embedder and open the stores now rather than at the first question
                with self._kb_lock:
                    self.kb.search("warm up", 1)
            self.post_message(self.ModelLoaded(agent.model.name, generation=generation))
        except Exception as exc:
            self.post_message(self.ModelLoaded(None, exc, generation=generation))

    def agent_for(self) -> Agent:
        """The agent, built on first use (in a worker thread: loading a model takes seconds)."""
        with self._agent_lock:
            if self._agent is None:
                self._agent = self.agent_factory(self._searcher, self.model_name)
            return self._agent

    def on_chat_app_model_loaded(self, message: ChatApp.ModelLoaded) -> None:
        """Show which model answers, or why none can."""
        if message.generation != self._agent_generation:
            return  # a model switched away from while it loaded
        if message.error is None:
            self.model_label = message.name or self.model_name
        else:
            self.model_label = f"{self.model_name} (not loaded)"
            what, hint = advice(message.error)
            self._note(_error_text(what, hint), error=True)
        self._render_status()

    def switch_model(self, name: str) -> None:
        """Answer with another model from now on."""
        if self._answering is not None:
            self.notify("Wait for the answer (or Esc) before switching models", severity="warning")
            return
        with self._agent_lock:
            self._agent = None
            self._agent_generation += 1
        self.model_name = name
        self._note(f"Switched to {name}.")
        self._load_agent()

    # asking -----------------------------------------------------------------------------------
    @on(ChatInput.Submitted)
    async def ask(self, message: ChatInput.Submitted) -> None:
        """Start answering a question in a worker."""
        if self._answering is not None:
            self.notify("Still answering: wait, or press Esc to cancel", severity="warning")
            return
        question = message.text
        now = self.clock()
        view = TurnView(question, model=self.model_name, asked_at=now.isoformat(timespec="seconds"))
        await self.query_one("#conversation", VerticalScroll).mount(view)
        cancel = threading.Event()
        self._cancel, self._answering = cancel, view
        self.run_worker(lambda: self._answer(question, view, cancel), thread=True, group="answer", exit_on_error=False)

    def _answer(self, question: str, view: TurnView, cancel: threading.Event) -> None:
        """Run the agent (worker thread) and post its events to the turn's view."""
        try:
            generation = self._agent_generation
            agent = self.agent_for()
            view.model = agent.model.name
            self.post_message(self.ModelLoaded(agent.model.name, generation=generation))
            for event in agent.events(question, cancel):
                view.post_message(TurnView.Streamed(event))
        except BaseException as exc:
            view.post_message(TurnView.Failed(exc))

    def on_turn_view_finished(self, message: TurnView.Finished) -> None:
        """Save the finished turn; the input is free again."""
        if message.view is self._answering:
            self._answering, self._cancel = None, None
        self.conversation.turns.append(message.turn)
        self._save()
        if self.status is not None and not self._pages(self.status) and not self._warned_empty:
            self._warn_empty()

    def _save(self) -> None:
        if self.store is None:
            return
        try:
            self.store.save(self.conversation)
        except OSError as exc:
            self.notify(f"Could not save the conversation: {exc}", severity="error")

    def action_cancel(self) -> None:
        """Stop the answer being written (what was written so far stays)."""
        if self._cancel is not None and self._answering is not None:
            self._cancel.set()
            self._answering.cancelling = True

    # copying ----------------------------------------------------------------------------------
    def last_turn(self) -> Turn | None:
        """The last finished turn."""
        return self.conversation.turns[-1] if self.conversation.turns else None

    def action_copy_last(self) -> None:
        """Copy the last answer (without its tool calls)."""
        turn = self.last_turn()
        if turn is None:
            self.notify("No answer to copy yet", severity="warning")
            return
        self.copy_to_clipboard(turn.answer.plain)
        self.notify("Copied the answer", timeout=3)

    def copy_link(self, page: SearchHit) -> None:
        """Copy a page's link."""
        self.copy_to_clipboard(page.url or page.title)
        self.notify(f"Copied {page.url or page.title}", timeout=3)

    # conversation -----------------------------------------------------------------------------
    async def action_new_conversation(self) -> None:
        """Start over on a clean screen; the old conversation stays saved."""
        if self._answering is not None:
            self.notify("Wait for the answer (or Esc) first", severity="warning")
            return
        await self.query_one("#conversation", VerticalScroll).remove_children()
        had_turns = bool(self.conversation.turns)
        self.conversation = self._new_conversation()
        if had_turns:
            self._note("New conversation. The previous one is saved: `kb chat --continue` reopens the latest.")

    def action_help(self) -> None:
        """Show the key bindings."""
        folder = str(self.store.folder) if self.store is not None else ""
        self.push_screen(HelpScreen(folder))

    def _note(self, text: str | Text, *, error: bool = False) -> None:
        self.query_one("#conversation", VerticalScroll).mount(Note(text, error=error))

    # the index --------------------------------------------------------------------------------
    def refresh_status(self) -> None:
        """Read the index status again (in a worker)."""
        if self.kb is None:
            return
        self.run_worker(self._read_status, thread=True, group="status", exit_on_error=False)

    def _read_status(self) -> None:
        assert self.kb is not None
        try:
            with self._kb_lock:
                status = self.kb.status()
            self.post_message(self.StatusRead(status))
        except Exception as exc:
            self.post_message(self.StatusRead(None, advice(exc)[0]))

    def on_chat_app_status_read(self, message: ChatApp.StatusRead) -> None:
        """Show the index in the status line; say so when it is empty."""
        self.status, self.status_error = message.status, message.error
        self._render_status()
        if message.status is not None and not self._pages(message.status) and not self._warned_empty:
            self._warn_empty()

    def _warn_empty(self) -> None:
        self._warned_empty = True
        self._note(
            _error_text(
                "Your index is empty: there are no notes to search yet.",
                "Quit (ctrl+q) and index a folder of notes, e.g. `kb index ~/notes` "
                "(or try the bundled `kb index samples/notes`), then ask again. "
                "Calculator and Calendar work without notes.",
            ),
            error=True,
        )

    @staticmethod
    def _pages(status: Status) -> int:
        return sum(s.pages for s in status.sources)

    def action_reindex(self) -> None:
        """Re-index every configured source."""
        self.reindex(None)

    def reindex(self, names: Sequence[str] | None) -> None:
        """Re-index the named sources (all when None) in a worker; the chat stays usable."""
        if self.kb is None:
            self.notify("No knowledge base to re-index", severity="warning")
            return
        if self.reindexing is not None:
            self.notify("A re-index is already running", severity="warning")
            return
        if not self.kb.config.sources:
            self._note("No sources to re-index yet: add one with `kb index PATH` or `kb sources add …`.")
            return
        label = ", ".join(names) if names else "all sources"
        self.reindexing = f"re-indexing {label}…"
        self._render_status()
        self.run_worker(lambda: self._reindex(names), thread=True, group="reindex", exit_on_error=False)

    def _reindex(self, names: Sequence[str] | None) -> None:
        from kbagent.knowledgebase import IndexBusy, KnowledgeBase

        assert self.kb is not None
        try:
            with self._kb_lock:
                shared = LockedEmbedder(self.kb.embedder, self._kb_lock)
            # its own catalogue connection: searches go on while it writes
            kb = KnowledgeBase(config=self.kb.config, embedder=shared)
        except Exception as exc:
            self.post_message(self.ReindexEvent(error=advice(exc)[0]))
            return

        def progress(p: Progress) -> None:
            self.post_message(self.ReindexEvent(progress=f"re-indexing {p.source}: {p.pages} pages…"))

        try:
            stats = kb.reindex(names, progress=progress, lock_timeout=0)
            self.post_message(self.ReindexEvent(stats=stats))
        except IndexBusy as exc:
            self.post_message(self.ReindexEvent(error=str(exc)))
        except Exception as exc:
            self.post_message(self.ReindexEvent(error=advice(exc)[0]))
        finally:
            kb.close()

    def on_chat_app_reindex_event(self, message: ChatApp.ReindexEvent) -> None:
        """Show re-index progress in the status line and its result in the conversation."""
        if message.progress is not None:
            self.reindexing = message.progress
            self._render_status()
            return
        self.reindexing = None
        if message.error is not None:
            self._note(
                _error_text(
                    f"Re-index failed: {message.error}",
                    "Fix the source named above and re-index again (ctrl+r), or run `kb reindex` to see the details.",
                ),
                error=True,
            )
        for s in message.stats or []:
            line = (
                f"Re-indexed {s.source}: {s.added} added, {s.changed} changed, {s.unchanged} unchanged, "
                f"{s.removed} removed, {s.failed} failed ({s.seconds:.1f} s)."
            )
            if s.failures:
                line += "\n" + "\n".join(f"  failed: {f}" for f in s.failures[:5])
            self._note(line, error=not s.ok)
        self._render_status()
        self.refresh_status()

    # the status line --------------------------------------------------------------------------
    def status_text(self) -> Text:
        """``model │ index │ activity`` for the status line."""
        out = Text()
        out.append("model ", "dim")
        out.append(self.model_label, "bold")
        out.append("  │  ", "dim")
        if self.kb is None:
            out.append("no knowledge base")
        elif self.status_error is not None:
            out.append(f"index unreadable: {self.status_error}", "red")
        elif self.status is None:
            out.append("reading the index…", "italic")
        else:
            pages = self._pages(self.status)
            n = len(self.status.sources)
            if not pages:
                out.append("index empty: kb index PATH", "bold yellow")
            else:
                out.append(f"{n} source{'s' if n != 1 else ''} · {pages} pages")
                runs = [s.last_run for s in self.status.sources if s.last_run]
                if runs:
                    with contextlib.suppress(ValueError):
                        out.append(f" · re-indexed {ago(datetime.fromisoformat(max(runs)), self.clock())}")
        if self.reindexing:
            out.append("  │  ", "dim")
            out.append(self.reindexing, "bold")
        return out

    def _render_status(self) -> None:
        self.query_one(StatusLine).update(self.status_text())

    # the palette ------------------------------------------------------------------------------
    def palette_commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        """The chat's own command palette entries: (name, what it does, help)."""
        cmds: list[tuple[str, Callable[[], Any], str]] = []
        for name in self.models:
            about = (
                PACKAGED_MODELS[name].description
                if name in PACKAGED_MODELS
                else ("an OpenAI-compatible server (KBAGENT_OPENAI_BASE_URL, KBAGENT_OPENAI_MODEL)")
            )
            mark = " (in use)" if name == self.model_name else ""
            cmds.append((f"Model: {name}{mark}", partial(self.switch_model, name), about))
        if self.kb is not None:
            cmds.append(("Re-index: all sources", partial(self.reindex, None), "bring every source up to date"))
            for source in sorted(self.kb.config.sources):
                cmds.append((f"Re-index: {source}", partial(self.reindex, [source]), f"bring {source} up to date"))
        turn = self.last_turn()
        if turn is not None:
            cmds.append(("Copy answer", self.action_copy_last, "the last answer, without its tool calls"))
            for s in turn.answer.sources:
                cmds.append((f"Copy link: {s.title}", partial(self.copy_link, s), s.url))
        cmds.append(("New conversation", self.action_new_conversation, "the current one stays saved"))
        return cmds

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Textual's own entries, plus the key help."""
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help: keys", "the key bindings of kb chat", self.action_help)

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """Save an SVG of the screen (palette → Screenshot) into the current folder.

        Textual's default is ~/Downloads, which often does not exist in a terminal-only setup
        and made the command fail.
        """
        return super().deliver_screenshot(filename, path or os.getcwd(), time_format)

    # leaving ----------------------------------------------------------------------------------
    async def action_quit(self) -> None:
        """Stop a running answer at its next token, then quit."""
        if self._cancel is not None:
            self._cancel.set()
        self.exit()


def run_chat(
    config: Config,
    *,
    model: str | None = None,
    resume: bool = False,
) -> None:
    """Open ``kb chat`` on the user's knowledge base (``resume``: reopen the last conversation)."""
    from kbagent.knowledgebase import KnowledgeBase

    kb = KnowledgeBase(config=config)
    store = ConversationStore(kb.paths.conversations)
    conversation = None
    notice = None
    if resume:
        conversation = store.latest()
        if conversation is None:
            notice = "No saved conversation to continue: this is a new one."
    try:
        ChatApp(
            kb, default_agent_factory(config), model=model, store=store, conversation=conversation, notice=notice
        ).run()
    finally:
        kb.close()
