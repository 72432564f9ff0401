"""`kb chat`, driven with Textual's Pilot: real knowledge base, real or scripted models."""

from __future__ import annotations

import asyncio
import io
import re
import socket
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Collapsible, Static

from kbagent.agent import EXAMPLES, Agent, Answer, CallRecord, build_agent
from kbagent.conversations import ConversationStore, Turn
from kbagent.hits import Hit
from kbagent.knowledgebase import KnowledgeBase
from kbagent.models import OpenAIBackend, OpenAISettings, Prompt, StopReason, StopScanner
from kbagent.tools import Calculator, Search, Searcher
from kbagent.tui import ChatApp, ChatInput, HelpScreen, Note, SourceList, StatusLine, ToolCallBlock, TurnView

NOTES = {
    "Dentist.md": "# Dentist\n\nNext appointment with Dr. Sato: Tuesday, May 12 at 9:30.\n",
    "Sourdough.md": "# Sourdough\n\nFeed the starter every morning; bake on Saturdays at 230 °C.\n",
    "Kyoto trip.md": "# Kyoto trip\n\nThe train leaves Tokyo at 8:10 on April 3. Hotel near Sanjo.\n",
}


# --- a scripted model: the same LanguageModel protocol as kbagent.models -----------------------


class ScriptedGeneration:
    """Writes a fixed text word by word, stopping at stop strings like a real model."""

    def __init__(self, text: str, delay: float) -> None:
        self.words = re.findall(r"\s*\S+", text)
        self.delay = delay
        self.stop_reason: StopReason | None = None
        self.stopped_on: str | None = None
        self.tokens = 0

    def feed(self, text: str) -> None:
        """A real model reads the tool result; the script already knows what comes next."""

    def stream(self, max_tokens: int, stop: Sequence[str] = (), call_top_k: int = 0) -> Iterator[str]:
        """The next words, up to a stop string."""
        scanner = StopScanner(stop)
        self.stop_reason = self.stopped_on = None
        for _ in range(max_tokens):
            if not self.words:
                break
            time.sleep(self.delay)
            self.tokens += 1
            out, hit = scanner.push(self.words.pop(0))
            if out:
                yield out
            if hit is not None:
                if scanner.overflow:
                    self.words.insert(0, scanner.overflow)
                self.stop_reason, self.stopped_on = "stop", hit
                return
        rest = scanner.flush()
        if rest:
            yield rest
        self.stop_reason = "length" if self.words else "eos"


class ScriptedModel:
    """A language model that always writes the same answer (``delay`` seconds per word)."""

    def __init__(self, text: str, delay: float = 0.0, name: str = "scripted") -> None:
        self.text, self.delay, self.name = text, delay, name

    def start(self, prompt: Prompt | str) -> ScriptedGeneration:
        """Start writing the script."""
        return ScriptedGeneration(self.text, self.delay)


DENTIST = '[Search("dentist appointment") → Your dentist appointment is on Tuesday, May 12 at 9:30.'


def scripted(text: str = DENTIST, delay: float = 0.0) -> Callable[[Searcher | None, str | None], Agent]:
    """An agent factory: Search over the app's knowledge base and a Calculator, with a scripted model."""

    def make(searcher: Searcher | None, model: str | None) -> Agent:
        tools = [Search(searcher)] if searcher is not None else []
        return Agent(ScriptedModel(text, delay, name=model or "scripted"), [*tools, Calculator()])

    return make


# --- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[Path]:
    """A data directory with three small notes indexed (shared by the tests of this module)."""
    root = tmp_path_factory.mktemp("chat")
    vault = root / "notes"
    vault.mkdir()
    for name, text in NOTES.items():
        (vault / name).write_text(text, encoding="utf-8")
    with KnowledgeBase(home=root / "home", embedder=embedder) as kb:
        kb.index_path(vault)
    yield root / "home"


@pytest.fixture
def kb(indexed: Path, embedder) -> Iterator[KnowledgeBase]:
    """The indexed knowledge base."""
    with KnowledgeBase(home=indexed, embedder=embedder) as kb:
        yield kb


@pytest.fixture
def store(tmp_path: Path) -> ConversationStore:
    """A conversations folder of this test's own."""
    return ConversationStore(tmp_path / "conversations")


def drive(app: ChatApp, scenario: Callable[[Pilot[None]], Awaitable[None]], size: tuple[int, int] = (100, 30)) -> None:
    """Run the app headless and play a scenario against it."""

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await scenario(pilot)

    asyncio.run(main())


async def settle(pilot: Pilot[None], timeout: float = 60.0) -> None:
    """Wait until no worker runs and every message they posted has been handled."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        app = pilot.app
        assert isinstance(app, ChatApp)
        if app._answering is None and not any(w.is_running for w in app.workers):
            return
        await pilot.pause(0.05)
    raise AssertionError("the app did not settle")


async def ask(pilot: Pilot[None], question: str, timeout: float = 60.0) -> None:
    """Type a question, send it, and wait for the answer."""
    await pilot.press(*question, "enter")
    await pilot.pause()
    await settle(pilot, timeout)


def shown(widget: Static) -> str:
    """What a widget shows, as plain text."""
    console = Console(width=100, file=io.StringIO(), record=True)
    console.print(widget.content)
    return console.export_text()


def screen_text(app: ChatApp) -> str:
    """Everything the conversation shows, as plain text."""
    return "\n".join(shown(w) for w in app.query("#conversation Static").results(Static))


# --- asking ------------------------------------------------------------------------------------


def test_answer_streams_with_a_search_block_and_sources(kb: KnowledgeBase, store: ConversationStore) -> None:
    app = ChatApp(kb, scripted(), store=store)

    async def scenario(pilot: Pilot[None]) -> None:
        await ask(pilot, "When is my dentist appointment?")
        turn = app.query_one(TurnView)
        block = turn.query_one(ToolCallBlock)
        assert block.tool == "Search" and block.input == "dentist appointment"
        assert block.call is not None and block.call.hits[0].title == "Dentist"
        summary = str(block.query_one(Collapsible).title)
        assert '"dentist appointment"' in summary and "Dentist" in summary
        assert re.search(r"\d+(\.\d+)? m?s\b", summary)  # its time, in ms or s on a busy machine
        assert "Your dentist appointment is on Tuesday, May 12 at 9:30." in screen_text(app)
        sources = turn.query_one(SourceList)
        assert sources.sources[0].title == "Dentist"
        assert sources.sources[0].url
        # the hits are behind the block, one Enter away
        block.query_one("CollapsibleTitle").focus()
        await pilot.press("enter")
        assert not block.query_one(Collapsible).collapsed
        assert "Dr. Sato" in shown(block.query_one(".hits", Static))

    drive(app, scenario)
    saved = store.latest()
    assert saved is not None
    (turn,) = saved.turns
    assert turn.answer.question == "When is my dentist appointment?"
    assert turn.answer.plain == "Your dentist appointment is on Tuesday, May 12 at 9:30."
    assert turn.answer.calls[0].hits[0].title == "Dentist"


@pytest.mark.slow
def test_real_small_model_searches_the_notes(kb: KnowledgeBase, store: ConversationStore, models_dir: Path) -> None:
    from kbagent.models import LocalModel

    model = LocalModel.load("smollm2-135m", models_dir)

    def factory(searcher: Searcher | None, name: str | None) -> Agent:
        # one worked example keeps the 135M model on the Search format
        assert searcher is not None
        return Agent(model, [Search(searcher)], examples=EXAMPLES[:1], max_tokens=40)

    app = ChatApp(kb, factory, store=store)

    async def scenario(pilot: Pilot[None]) -> None:
        await ask(pilot, "When does my train to Kyoto leave?", timeout=600)
        turn = app.query_one(TurnView)
        assert turn.turn is not None and turn.turn.error is None
        block = turn.query_one(ToolCallBlock)
        assert block.tool == "Search" and block.call is not None and block.call.ok
        assert "Kyoto trip" in [s.title for s in turn.query_one(SourceList).sources]
        assert "smollm2-135m" in shown(app.query_one(StatusLine))

    drive(app, scenario)


def test_escape_cancels_the_answer_and_keeps_what_was_written(kb: KnowledgeBase, store: ConversationStore) -> None:
    long = "Let me think about this for quite a while " * 20
    app = ChatApp(kb, scripted(long, delay=0.05), store=store)

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press(*"Tell me everything", "enter")
        while "think" not in screen_text(app):
            await pilot.pause(0.05)
        started = time.monotonic()
        await pilot.press("escape")
        await settle(pilot)
        assert time.monotonic() - started < 5
        turn = app.query_one(TurnView).turn
        assert turn is not None and turn.answer.stop_reason == "cancelled"
        assert turn.answer.text.startswith("Let me think") and len(turn.answer.text) < len(long)
        assert "cancelled" in screen_text(app)
        # the input is free again
        await pilot.press(*"And now?", "enter")
        while app._answering is None:
            await pilot.pause(0.05)
        await pilot.press("escape")
        await settle(pilot)
        assert [t.answer.stop_reason for t in app.conversation.turns] == ["cancelled", "cancelled"]

    drive(app, scenario)


# --- errors ------------------------------------------------------------------------------------


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_server_down_is_shown_with_what_to_do(kb: KnowledgeBase, store: ConversationStore) -> None:
    backend = OpenAIBackend(OpenAISettings(f"http://127.0.0.1:{closed_port()}/v1", "llama", timeout=5))
    app = ChatApp(kb, lambda searcher, name: build_agent(searcher, config=kb.config, model=backend), store=store)

    async def scenario(pilot: Pilot[None]) -> None:
        await ask(pilot, "When is my dentist appointment?")
        (error,) = app.query(".note.-error").results(Note)
        text = shown(error)
        assert "cannot reach the server" in text
        assert "What to do: Start the model server" in text and "KBAGENT_OPENAI_BASE_URL" in text
        assert "openai:llama" in shown(app.query_one(StatusLine))

    drive(app, scenario)
    saved = store.latest()
    assert saved is not None and saved.turns[0].error is not None


def test_missing_model_is_explained_at_start(kb: KnowledgeBase, store: ConversationStore) -> None:
    from kbagent.tui import default_agent_factory

    app = ChatApp(kb, default_agent_factory(kb.config), model="no-such-model", store=store)

    async def scenario(pilot: Pilot[None]) -> None:
        (error,) = app.query(".note.-error").results(Note)
        assert "unknown language model 'no-such-model'" in shown(error)
        assert "ctrl+p → Model" in shown(error)
        assert "no-such-model (not loaded)" in shown(app.query_one(StatusLine))

    drive(app, scenario)


def test_empty_index_says_how_to_fill_it(tmp_path: Path, embedder) -> None:
    with KnowledgeBase(home=tmp_path / "empty", embedder=embedder) as kb:
        app = ChatApp(kb, scripted("I found nothing."))

        async def scenario(pilot: Pilot[None]) -> None:
            text = screen_text(app)
            assert "Your index is empty" in text and "kb index" in text
            assert "index empty" in shown(app.query_one(StatusLine))

        drive(app, scenario)


# --- input, copying, help, palette -------------------------------------------------------------


def test_input_history_and_multiline_questions(kb: KnowledgeBase, store: ConversationStore) -> None:
    app = ChatApp(kb, scripted("Fine."), store=store)

    async def scenario(pilot: Pilot[None]) -> None:
        box = app.query_one(ChatInput)
        await ask(pilot, "first")
        await ask(pilot, "second")
        await pilot.press("up")
        assert box.text == "second"
        await pilot.press("up")
        assert box.text == "first"
        await pilot.press("down", "down")
        assert box.text == ""
        await pilot.press(*"two", "ctrl+j", *"lines")
        assert box.text == "two\nlines"
        await pilot.press("enter")
        await settle(pilot)
        assert app.conversation.turns[-1].answer.question == "two\nlines"
        await pilot.press(*"also\\", "enter", *"this")
        assert box.text == "also\nthis"

    drive(app, scenario)


def test_copy_the_answer_and_a_link(kb: KnowledgeBase, store: ConversationStore) -> None:
    app = ChatApp(kb, scripted(), store=store)

    async def scenario(pilot: Pilot[None]) -> None:
        await ask(pilot, "When is my dentist appointment?")
        await pilot.press("ctrl+o")
        assert app.clipboard == "Your dentist appointment is on Tuesday, May 12 at 9:30."
        links = app.query_one(SourceList)
        links.focus()
        links.highlighted = 0
        await pilot.press("c")
        assert app.clipboard == links.sources[0].url

    drive(app, scenario)


def test_help_screen_lists_the_keys(kb: KnowledgeBase, store: ConversationStore) -> None:
    app = ChatApp(kb, scripted(), store=store)

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        assert "kb chat --continue" in shown(app.screen.query_one("#help .foot", Static))
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)

    drive(app, scenario)


def test_palette_switches_the_model(kb: KnowledgeBase, store: ConversationStore) -> None:
    asked: list[str | None] = []
    make = scripted("Fine.")

    def factory(searcher: Searcher | None, name: str | None) -> Agent:
        asked.append(name)
        return make(searcher, name)

    app = ChatApp(kb, factory, model="big", models=["big", "tiny"], store=store)

    async def scenario(pilot: Pilot[None]) -> None:
        await pilot.press("ctrl+p")
        await pilot.press(*"Model: tiny")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(pilot)
        assert asked == ["big", "tiny"]
        assert "model tiny" in shown(app.query_one(StatusLine))
        await ask(pilot, "Who answers?")
        assert app.conversation.turns[-1].model == "tiny"

    drive(app, scenario)


def test_palette_reindexes_a_source(tmp_path: Path, embedder, store: ConversationStore) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    (vault / "Dentist.md").write_text(NOTES["Dentist.md"], encoding="utf-8")
    with KnowledgeBase(home=tmp_path / "home", embedder=embedder) as kb:
        kb.index_path(vault)
        (vault / "Dentist.md").write_text("# Dentist\n\nMoved to Friday, May 15 at 10:00.\n", encoding="utf-8")
        app = ChatApp(kb, scripted(), store=store)

        async def scenario(pilot: Pilot[None]) -> None:
            await pilot.press("ctrl+p", *"Re-index: vault")
            await pilot.pause(0.3)
            await pilot.press("enter")
            await settle(pilot)
            assert "Re-indexed vault: 0 added, 1 changed" in screen_text(app)
            assert "1 source · 1 pages" in shown(app.query_one(StatusLine))
            await ask(pilot, "When is my dentist appointment?")
            assert "Friday, May 15" in shown(app.query_one(".hits", Static))

        drive(app, scenario)


# --- reopening ---------------------------------------------------------------------------------


def page(title: str, url: str, doc_id: str, snippet: str = "") -> Hit:
    """A hit as a saved conversation keeps it: its page and snippet."""
    return Hit("", doc_id, "notes", title, url, "", 0.0, snippet)


SAVED = Turn(
    Answer(
        question="How many days between my dentist appointment and the Kyoto trip?",
        text=(
            '[Search("dentist appointment") → (1) Dentist: Next appointment with Dr. Sato: Tuesday, May 12 at 9:30.] '
            "The appointment is on May 12 and the train leaves on April 3: [Calculator(31 - 3 + 12) → 40] "
            "the trip comes 39 days before the appointment."
        ),
        calls=(
            CallRecord(
                "Search",
                "dentist appointment",
                "(1) Dentist: Next appointment with Dr. Sato: Tuesday, May 12 at 9:30.",
                0.034,
                hits=(
                    page(
                        "Dentist",
                        "obsidian://open?vault=notes&file=Dentist",
                        "Dentist.md",
                        "Next appointment with Dr. Sato: Tuesday, May 12 at 9:30.",
                    ),
                ),
            ),
            CallRecord("Calculator", "31 - 3 + 12", "40", 0.0002),
        ),
        sources=(page("Dentist", "obsidian://open?vault=notes&file=Dentist", "Dentist.md"),),
        tokens=52,
        seconds=3.4,
    ),
    model="smollm2-135m",
)


def reopened(kb: KnowledgeBase, store: ConversationStore) -> ChatApp:
    """The app as `kb chat --continue` opens it on a saved conversation, with a fixed clock."""
    conversation = store.new(datetime(2026, 3, 1, 9, 0).astimezone())
    conversation.turns.append(SAVED)
    store.save(conversation)
    last_run = max(datetime.fromisoformat(s.last_run) for s in kb.status().sources if s.last_run)
    return ChatApp(
        kb,
        scripted(),
        model="smollm2-135m",
        store=store,
        conversation=store.latest(),
        clock=lambda: last_run + timedelta(minutes=5),
    )


def test_continue_shows_the_saved_conversation(kb: KnowledgeBase, store: ConversationStore) -> None:
    app = reopened(kb, store)

    async def scenario(pilot: Pilot[None]) -> None:
        blocks = app.query(ToolCallBlock)
        assert [b.tool for b in blocks] == ["Search", "Calculator"]
        assert "the trip comes 39 days before" in screen_text(app)
        assert app.query_one(SourceList).sources[0].title == "Dentist"
        await pilot.press("up")
        assert app.query_one(ChatInput).text == SAVED.answer.question
        assert "re-indexed 5 min ago" in shown(app.query_one(StatusLine))

    drive(app, scenario)


def test_snapshot_at_80x24(kb: KnowledgeBase, store: ConversationStore, snap_compare) -> None:
    assert snap_compare(reopened(kb, store), terminal_size=(80, 24), run_before=settle)


def test_help_snapshot_at_80x24(kb: KnowledgeBase, store: ConversationStore, snap_compare) -> None:
    async def open_help(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()

    app = reopened(kb, store)
    app.store = ConversationStore(Path("/home/me/.local/share/kbagent/conversations"))
    assert snap_compare(app, terminal_size=(80, 24), run_before=open_help)


def test_the_chat_search_reads_whole_pages_as_kb_ask_does(kb: KnowledgeBase) -> None:
    import threading

    from kbagent.tui import LockedSearcher

    locked = LockedSearcher(kb, threading.RLock())
    hit = locked.search("dentist", 1)[0]
    assert locked.page_text(hit.source, hit.doc_id) == kb.page_text(hit.source, hit.doc_id)
    assert locked.query_embedder is not None
    assert locked.query_embedder.embed_query("dentist").shape == kb.query_embedder.embed_query("dentist").shape
