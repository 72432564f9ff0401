"""The ``kb`` command: a thin Typer layer over the library."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress as Bar
from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from kbagent.clihelp import plain_help
from kbagent.config import Config, load_config
from kbagent.knowledgebase import IndexBusy, IndexStats, KnowledgeBase, Progress, Status

app = typer.Typer(help="Ask your own notes from the terminal.", no_args_is_help=True, add_completion=False)
models_app = typer.Typer(help="Prepare the packaged models.", no_args_is_help=True)
app.add_typer(models_app, name="models")
cron_app = typer.Typer(help="Scheduled re-indexing through cron.", no_args_is_help=True)
app.add_typer(cron_app, name="cron")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

HomeOpt = Annotated[
    Path | None, typer.Option("--home", help="Data directory (default: $KBAGENT_HOME or the platform's).")
]


class State:
    """Options shared by every command."""

    home: Path | None = None


state = State()


@app.callback()
def _root(home: HomeOpt = None) -> None:
    state.home = home


def _config() -> Config:
    return load_config(state.home)


def _kb(**kw: Any) -> KnowledgeBase:
    return KnowledgeBase(config=_config(), **kw)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def print_stats(stats: IndexStats) -> None:
    """The summary line(s) of an indexing run, and every failure on stderr."""
    out.print(
        f"[bold]{stats.source}[/]: {stats.added} added, {stats.changed} changed, "
        f"{stats.unchanged} unchanged, {stats.removed} removed, {stats.failed} failed "
        f"({stats.chunks_embedded} chunks embedded, {stats.seconds:.1f}s)",
        highlight=False,
    )
    for f in stats.failures:
        err.print("  [yellow]failed:[/]", escape(f), highlight=False)
    if stats.deletions_skipped:
        err.print("  [yellow]note:[/] the source could not be read completely, so nothing was removed")


def run_index(fn: Any, label: str, lock_timeout: float = 0) -> Any:
    """Run an indexing call with progress on stderr: a live bar, or a line now and then when redirected."""
    from kbagent.indexprogress import ProgressView

    with ProgressView(err, label) as view:
        return fn(progress=view, lock_timeout=lock_timeout)


@app.command()
def index(
    path: Annotated[Path, typer.Argument(help="A Scrapbox export, a notes folder, a Readwise export…")],
    source: Annotated[str | None, typer.Option(help="Name of the source (default: the folder/file name).")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="Connector format, or auto.")] = "auto",
) -> None:
    """Index (or re-index) a file or folder of notes."""
    from kbagent.connectors import UnknownFormat

    with _kb() as kb:
        try:
            stats = run_index(lambda **kw: kb.index_path(path, source=source, format=format, **kw), str(path))
        except (FileNotFoundError, UnknownFormat) as exc:
            raise _fail(str(exc), 2) from None
        except IndexBusy as exc:
            raise _fail(str(exc), 3) from None
    print_stats(stats)
    if not stats.ok:
        raise typer.Exit(1)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for: words, a phrase, or a question.")],
    k: Annotated[int, typer.Option("-k", metavar="N", help="How many pages.")] = 5,
    source: Annotated[list[str] | None, typer.Option("--source", "-s", help="Only these sources.")] = None,
    mode: Annotated[str, typer.Option(help="hybrid, vector or lexical.")] = "hybrid",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search the indexed notes by meaning and by exact words."""
    with _kb() as kb:
        try:
            hits = kb.search(query, k=k, sources=source, mode=mode)
        except ValueError as exc:
            raise _fail(str(exc), 2) from None
    if as_json:
        print(json.dumps([asdict(h) for h in hits], ensure_ascii=False, indent=2))
        return
    if not hits:
        out.print("no results")
        return
    for i, h in enumerate(hits, 1):
        out.print(f"[bold]{i}. {h.title}[/]  [dim]({h.source}, {h.score:.3f})[/]", highlight=False)
        if h.url:
            out.print(f"   [link={h.url}]{h.url}[/link]", highlight=False, soft_wrap=True)
        out.print(f"   {h.snippet}", highlight=False, markup=False)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question, in any language.")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="gemma3-270m (default), smollm2-135m or openai:MODEL.")
    ] = None,
    no_tools: Annotated[bool, typer.Option("--no-tools", help="Answer without Search/Calculator/Calendar.")] = False,
    max_tokens: Annotated[int, typer.Option(help="Most tokens the model may write.")] = 256,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object when done.")] = False,
) -> None:
    """Ask your notes: the answer streams, with the model's tool calls visible as they happen."""
    from kbagent.agent import Done, TextDelta, ToolCallFinished
    from kbagent.models import ModelError

    with _kb() as kb:
        empty = not kb.catalog.sources()
        try:
            agent = kb.agent(model=model, tools=not no_tools, max_tokens=max_tokens)
        except (ModelError, OSError, ValueError) as exc:
            raise _fail(f"{exc}\nrun `kb models prepare`, or pick another --model", 2) from None
        answer = None
        for event in agent.events(question):
            if as_json:
                if isinstance(event, Done):
                    answer = event.answer
                continue
            if isinstance(event, TextDelta):
                out.print(event.text, end="", markup=False, highlight=False)
            elif isinstance(event, ToolCallFinished):
                style = "cyan" if event.call.ok else "red"
                out.print(f"[{style}]{escape(event.text)}[/]", end="", highlight=False)
                if err.is_terminal:  # timings are for a person watching, not for a redirected log
                    err.print(f" [dim]({event.call.tool} {event.call.seconds * 1000:.0f} ms)[/]", end="")
            elif isinstance(event, Done):
                answer = event.answer
    assert answer is not None
    if as_json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return
    out.print()
    if answer.sources:
        out.print("\n[bold]Sources[/]")
        for h in answer.sources:
            out.print(f"  - {escape(h.title)}  [link={h.url}]{escape(h.url)}[/link]", highlight=False)
    if empty and not no_tools:
        err.print("[yellow]note:[/] the index is empty; add notes with `kb index PATH`")


@app.command()
def chat(
    resume: Annotated[bool, typer.Option("--continue", "-c", help="Reopen the last conversation.")] = False,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="gemma3-270m (default), smollm2-135m or openai:MODEL.")
    ] = None,
) -> None:
    """Talk to your notes in a full-screen terminal chat (F1 lists the keys)."""
    from kbagent.conversations import ConversationError
    from kbagent.tui import run_chat

    try:
        run_chat(_config(), model=model, resume=resume)
    except ConversationError as exc:
        raise _fail(f"{exc}\nstart a new conversation with `kb chat`", 2) from None


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Sources, page and chunk counts, last runs and store sizes."""
    with _kb() as kb:
        st = kb.status()
    if as_json:
        print(json.dumps(asdict(st), ensure_ascii=False, indent=2, default=str))
        return
    _print_status(st)


def _print_status(st: Status) -> None:
    """`kb status` for a person: a short header and one table row per source, within 80 columns."""
    from rich import box

    from kbagent.humantime import ago

    now = datetime.now(UTC)
    head = Table.grid(padding=(0, 2))
    head.add_column(no_wrap=True, style="bold")
    head.add_column(overflow="fold")
    head.add_row("data directory", _tilde(st.home))
    head.add_row("vector store", f"{_tilde(st.store)} ({st.vectors} vectors, {_mib(st.chroma_bytes)})")
    head.add_row("catalogue", _mib(st.catalog_bytes))
    if st.running is not None:
        r = st.running
        pages = f"{r.pages}/{r.total}" if r.total else str(r.pages)
        since = ago(datetime.fromisoformat(r.started), now)
        head.add_row("indexing now", f"{r.source}: {pages} pages, started {since} (process {r.pid})")
    out.print(head, highlight=False)
    out.print()
    if not st.sources:
        out.print("no sources yet: `kb index PATH` adds one", highlight=False, markup=False)
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 1, 0, 0))
    table.add_column("source", overflow="fold", min_width=12)
    table.add_column("format", no_wrap=True)
    for name in ("pages", "chunks"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("last run", no_wrap=True)
    table.add_column("last result", overflow="fold")
    for s in st.sources:
        last = s.last_stats or {}
        result = (
            f"+{last.get('added', 0)} ~{last.get('changed', 0)} -{last.get('removed', 0)} !{last.get('failed', 0)}"
            if last
            else ""
        )
        when = ago(datetime.fromisoformat(s.last_run), now) if s.last_run else "never"
        table.add_row(s.name, s.format, str(s.pages), str(s.chunks), when, result)
    out.print(table, highlight=False)
    if any(s.last_stats for s in st.sources):
        out.print("last result: +added ~changed -removed !failed pages", style="dim", highlight=False)


def _tilde(text: str) -> str:
    """Paths under the home folder written with ``~``: shorter, and the same for everyone."""
    home = str(Path.home())
    return text.replace(home, "~", 1) if home not in ("", "/") else text


@app.command()
def forget(
    source: Annotated[str, typer.Argument(help="The source to remove from the index and the configuration.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Remove a source from the index and from config.toml (your files are not touched)."""
    with _kb() as kb:
        known = kb.source_names()
        if source not in known:
            raise _fail(f"no such source: {source}; known sources: {', '.join(known) or 'none'}", 2)
        if not yes and sys.stdin.isatty():
            typer.confirm(f"Remove {source!r} from the index and the configuration?", abort=True)
        n = kb.forget(source)
    out.print(f"removed {n} pages of {source}; it is no longer configured", highlight=False)


@models_app.command("prepare")
def models_prepare(
    language_models: Annotated[
        list[str] | None, typer.Option("--lm", help="Language models to prepare (default: all packaged).")
    ] = None,
) -> None:
    """Turn the packaged weights into the cached form in the data directory (idempotent)."""
    from kbagent.indexes.embedders import prepare_embedder

    config = _config()
    config.paths.ensure()
    models_dir = config.models_dir
    folder = prepare_embedder(models_dir)
    out.print(f"embedding model ready: {folder}", highlight=False)
    try:
        from kbagent.models import PACKAGED_MODELS, prepare_language_model
    except ImportError:
        return
    for name in language_models or list(PACKAGED_MODELS):
        out.print(f"language model ready: {prepare_language_model(name, models_dir)}", highlight=False)


@app.command()
def reindex(
    names: Annotated[list[str] | None, typer.Argument(help="Sources to re-index (default: all).")] = None,
    cron: Annotated[bool, typer.Option("--cron", help="Run as the scheduled job: log to the data directory.")] = False,
    wait: Annotated[bool, typer.Option(help="Wait for a running re-index instead of exiting.")] = False,
) -> None:
    """Re-index every configured source (or the named ones), fetching only what changed."""
    from kbagent import schedule

    config = _config()
    if not config.sources:
        raise _fail("no sources configured: index a folder with `kb index PATH` or add one with `kb sources add`", 2)
    try:
        with KnowledgeBase(config=config) as kb:
            if cron:  # the log file gets the progress and results; a skipped run exits 0, cron need not mail
                if not schedule.scheduled_reindex(kb, names, wait=wait).ok:
                    raise typer.Exit(1)
                return
            results = run_index(lambda **kw: kb.reindex(names, **kw), "sources", -1 if wait else 0)
    except IndexBusy as exc:
        raise _fail(str(exc), 3) from None
    except KeyError as exc:
        raise _fail(str(exc.args[0]), 2) from None
    for r in results:
        print_stats(r)
    if any(r.failures for r in results):
        raise typer.Exit(1)


TabOpt = Annotated[Path | None, typer.Option("--tabfile", help="Use this crontab file instead of the user's crontab.")]


@cron_app.command("install")
def cron_install(
    every: Annotated[str, typer.Option("--every", help="Interval: 15m, 1h, 6h, 1d…")] = "1h",
    tabfile: TabOpt = None,
) -> None:
    """Put one line into the crontab that re-indexes every configured source."""
    from kbagent import schedule

    config = _config()
    try:
        entry = schedule.install(every, config.paths.home, tabfile=tabfile)
    except schedule.ScheduleError as exc:
        raise _fail(str(exc), 2) from None
    out.print(f"installed: {entry}", highlight=False, markup=False)


@cron_app.command("remove")
def cron_remove(tabfile: TabOpt = None) -> None:
    """Take kbagent's line out of the crontab."""
    from kbagent import schedule

    try:
        n = schedule.remove(tabfile=tabfile)
    except schedule.ScheduleError as exc:
        raise _fail(str(exc), 2) from None
    out.print("removed the kbagent crontab line" if n else "no kbagent crontab line was installed")


@cron_app.command("status")
def cron_status(tabfile: TabOpt = None) -> None:
    """When the scheduled re-index last ran, what changed, and any errors."""
    from kbagent import schedule

    config = _config()
    try:
        entry = schedule.installed(tabfile=tabfile)
        out.print(f"crontab: {entry}" if entry else "crontab: not installed", highlight=False, markup=False)
    except schedule.ScheduleError as exc:  # the last run's record is still worth showing
        err.print(f"crontab: {exc}", highlight=False, markup=False)
    run = schedule.last_run(config.paths.logs)
    if run is None:
        out.print("last run: never")
        return
    if run.skipped:
        out.print(f"last run: {run.started} skipped ({run.skipped})", highlight=False)
        return
    out.print(f"last run: {run.started} → {run.finished}, {'ok' if run.ok else 'FAILED'}", highlight=False)
    for s in run.sources:
        out.print(
            f"  {s['source']}: +{s['added']} ~{s['changed']} ={s['unchanged']} -{s['removed']} !{s['failed']}",
            highlight=False,
        )
    for e in run.errors:
        err.print(f"  error: {e}", highlight=False, markup=False)
    out.print(f"log: {config.paths.logs / schedule.LOG_FILE}", highlight=False)


# kb sources: web services and folders that `kb reindex` keeps current ---------------------------
sources_app = typer.Typer(help="Configured sources: list, add, remove, test.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")
add_app = typer.Typer(help="Add a web service as a source (secrets stay in env vars or the secrets file).",
                      no_args_is_help=True)
sources_app.add_typer(add_app, name="add")
NameOpt = Annotated[str | None, typer.Option("--name", help="Source name (default: from the project/app/space).")]
TimeoutOpt = Annotated[float | None, typer.Option("--timeout", help="Seconds to wait for each answer.")]


def _add_source(name: str, kind: str, **settings: Any) -> None:
    from kbagent.sources import SourceError, add_source

    try:
        add_source(_config(), name, kind, **settings)
    except SourceError as exc:
        raise _fail(str(exc), 2) from None
    secrets = [v for k, v in settings.items() if k.endswith("_env") and v]
    out.print(f"added source {name}", highlight=False)
    if secrets:
        out.print(f"credentials are read from: {', '.join(secrets)} (environment, or the [credentials] file)",
                  highlight=False, markup=False)
    out.print(f"next: `kb sources test {name}`, then `kb reindex {name}`", highlight=False, markup=False)


@add_app.command("scrapbox")
def sources_add_scrapbox(
    project: Annotated[str, typer.Option("--project", help="Project name (scrapbox.io/PROJECT).")],
    cookie_env: Annotated[
        str | None, typer.Option("--cookie-env", help="Variable holding the connect.sid cookie (private projects).")
    ] = None,
    token_env: Annotated[
        str | None, typer.Option("--token-env", help="Variable holding a service-account key.")
    ] = None,
    site: Annotated[str | None, typer.Option("--site", help="Site root (default https://scrapbox.io).")] = None,
    name: NameOpt = None,
    timeout: TimeoutOpt = None,
) -> None:
    """A Scrapbox/Cosense project, read through its API."""
    _add_source(name or project, "scrapbox", project=project, cookie_env=cookie_env, token_env=token_env,
                site=site, timeout=timeout)


@add_app.command("readwise")
def sources_add_readwise(
    token_env: Annotated[
        str, typer.Option("--token-env", help="Variable holding the Readwise access token.")
    ] = "READWISE_TOKEN",
    url: Annotated[str | None, typer.Option("--url", help="API root (default https://readwise.io).")] = None,
    full_sync_days: Annotated[
        float | None, typer.Option("--full-sync-days", help="Days between full exports (they find deletions).")
    ] = None,
    name: NameOpt = None,
    timeout: TimeoutOpt = None,
) -> None:
    """Your Readwise highlights, through the export API."""
    _add_source(name or "readwise", "readwise", token_env=token_env, url=url, full_sync_days=full_sync_days,
                timeout=timeout)


@add_app.command("kintone")
def sources_add_kintone(
    url: Annotated[str, typer.Option("--url", help="https://SUBDOMAIN.cybozu.com")],
    app_id: Annotated[int, typer.Option("--app", help="App id (the number in /k/ID/).")],
    token_env: Annotated[
        str, typer.Option("--token-env", help="Variable holding the app's API token.")
    ] = "KINTONE_API_TOKEN",
    field: Annotated[
        list[str] | None, typer.Option("--field", help="Field code to index (repeatable; default: every text field).")
    ] = None,
    title_field: Annotated[str | None, typer.Option("--title-field", help="Field code used as the title.")] = None,
    query: Annotated[str | None, typer.Option("--query", help="Extra kintone query condition.")] = None,
    guest_space: Annotated[
        int | None, typer.Option("--guest-space", help="Guest space id, if the app is in one.")
    ] = None,
    name: NameOpt = None,
    timeout: TimeoutOpt = None,
) -> None:
    """The records of a Cybozu kintone app."""
    _add_source(name or f"kintone-{app_id}", "kintone", url=url, app=app_id, token_env=token_env, fields=field or None,
                title_field=title_field, query=query, guest_space=guest_space, timeout=timeout)


@add_app.command("confluence")
def sources_add_confluence(
    url: Annotated[str, typer.Option("--url", help="Site root, e.g. https://YOURS.atlassian.net/wiki")],
    space: Annotated[str, typer.Option("--space", help="Space key, e.g. ENG.")],
    user: Annotated[
        str | None, typer.Option("--user", help="Account e-mail (Cloud: Basic auth with an API token).")
    ] = None,
    token_env: Annotated[
        str, typer.Option("--token-env", help="Variable holding the API token or personal access token.")
    ] = "CONFLUENCE_TOKEN",
    name: NameOpt = None,
    timeout: TimeoutOpt = None,
) -> None:
    """The pages of a Confluence space."""
    _add_source(name or f"confluence-{space}", "confluence", url=url, space=space, user=user, token_env=token_env,
                timeout=timeout)


@sources_app.command("list")
def sources_list() -> None:
    """The configured sources (credentials are shown by name only)."""
    from kbagent.sources import list_sources

    found = list_sources(_config())
    if not found:
        out.print("no sources configured: `kb index PATH` or `kb sources add …`")
        return
    table = Table("name", "format", "settings")
    for s in found:
        table.add_row(s.name, s.format, s.summary)
    out.print(table)


@sources_app.command("remove")
def sources_remove(name: Annotated[str, typer.Argument(help="The source to remove from config.toml.")]) -> None:
    """Stop syncing a source (its pages stay searchable until `kb forget NAME`)."""
    from kbagent.sources import SourceError, remove_source

    try:
        remove_source(_config(), name)
    except SourceError as exc:
        raise _fail(str(exc), 2) from None
    out.print(f"removed source {name}; `kb forget {name}` also removes its pages from the index",
              highlight=False, markup=False)


@sources_app.command("test")
def sources_test(
    names: Annotated[list[str] | None, typer.Argument(help="Sources to test (default: all).")] = None,
) -> None:
    """Connect to each source and count its pages; say what is wrong (credentials, network…)."""
    from kbagent.sources import check_source

    config = _config()
    wanted = names or sorted(config.sources)
    failed = False
    for name in wanted:
        check = check_source(config, name)
        if check.ok:
            out.print(f"[green]ok[/] {name}: {check.message}", highlight=False)
        else:
            failed = True
            err.print(f"[red]failed[/] {name}: ", end="", highlight=False)
            err.print(check.message, highlight=False, markup=False)
    if failed:
        raise typer.Exit(1)


# kb train / kb eval: Toolformer fine-tuning on your notes, and accuracy with and without tools ----------


@app.command()
def train(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Make the data and show what is kept; do not train.")
    ] = False,
    model: Annotated[str, typer.Option("--model", help="Packaged base model.")] = "gemma3-270m",
    steps: Annotated[int, typer.Option(help="Optimizer steps.")] = 200,
    batch_size: Annotated[int, typer.Option(help="Examples per step.")] = 4,
    max_tokens: Annotated[int, typer.Option(help="Tokens per training sequence (longer ones are cut).")] = 256,
    note_texts: Annotated[int, typer.Option(help="Note chunks to augment with calls.")] = 30,
    note_questions: Annotated[int, typer.Option(help="Questions made from your notes.")] = 100,
    arithmetic: Annotated[int, typer.Option(help="Built-in arithmetic word problems.")] = 100,
    dates: Annotated[int, typer.Option(help="Built-in date questions.")] = 40,
    tau_s: Annotated[float | None, typer.Option(help="τs: p('[') a position needs (paper: 0.05).")] = None,
    top_k: Annotated[int | None, typer.Option(help="k: positions per text (paper: 5).")] = None,
    samples: Annotated[int | None, typer.Option(help="m: calls sampled per position (paper: 5).")] = None,
    tau_f: Annotated[float | None, typer.Option(help="τf: loss reduction a call needs (paper: 1.0).")] = None,
    calc_tau_s: Annotated[float | None, typer.Option(help="Calculator τs (paper: 0).")] = None,
    calc_top_k: Annotated[int | None, typer.Option(help="Calculator k (paper: 20).")] = None,
    calc_samples: Annotated[int | None, typer.Option(help="Calculator m (paper: 10).")] = None,
    calc_tau_f: Annotated[float | None, typer.Option(help="Calculator τf (paper: 0.5).")] = None,
    qa_tau_f: Annotated[
        float | None,
        typer.Option(help="τf for question-answer examples (a 270M model gains less from a call than the paper's "
                          "6.7B one; the shipped adapter used 0.25)."),
    ] = 0.25,
    seed: Annotated[int, typer.Option(help="Random seed (data and training).")] = 0,
    threads: Annotated[int, typer.Option(help="CPU threads for torch (0: its default).")] = 0,
    show: Annotated[int, typer.Option(help="Kept examples to print.")] = 5,
) -> None:
    """Teach the model to call Search, Calculator and Calendar on your notes (Toolformer), then use it in kb ask."""
    from rich.progress import BarColumn, MofNCompleteColumn, TimeRemainingColumn

    from kbagent import training as T

    if threads:
        import torch

        torch.set_num_threads(threads)
    config = _config()
    sampling = T.with_sampling(T.PAPER_SAMPLING, tau_s=tau_s, top_k=top_k, samples=samples, tau_f=tau_f,
                               calc_tau_s=calc_tau_s, calc_top_k=calc_top_k, calc_samples=calc_samples,
                               calc_tau_f=calc_tau_f)
    data = T.DataSettings(note_texts=note_texts, note_questions=note_questions, arithmetic_questions=arithmetic,
                          date_questions=dates, seed=seed)
    settings = T.FinetuneSettings(steps=steps, batch_size=batch_size, seed=seed, max_tokens=max_tokens)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Bar(*columns, console=err, transient=True) as bar, _kb() as kb:
        gen_task = bar.add_task("making data", total=None)
        train_task = bar.add_task("training", total=steps, visible=False)

        def on_data(stage: str, done: int, total: int) -> None:
            bar.update(gen_task, description=f"making data ({stage})", completed=done, total=total)

        def on_step(p: T.TrainProgress) -> None:
            bar.update(gen_task, visible=False)
            bar.update(train_task, visible=True, completed=p.step,
                       description=f"training (loss {p.loss:.3f}, {p.seconds_per_step:.1f}s/step)")

        try:
            result = T.train_from_notes(config, kb, model=model, data=data, sampling=sampling, qa_tau_f=qa_tau_f,
                                        settings=settings, dry_run=dry_run, progress=on_data, train_progress=on_step)
        except ValueError as exc:
            raise _fail(str(exc), 2) from None
    s = result.summary
    table = Table("tool", "candidate positions", "calls sampled", "calls kept", "mean L⁻−L⁺")
    for tool in sorted(set(s["candidates"]) | set(s["kept_calls"])):
        table.add_row(tool, str(s["candidates"].get(tool, 0)), str(s["sampled_calls"].get(tool, 0)),
                      str(s["kept_calls"].get(tool, 0)), str(s["mean_reduction"].get(tool, "")))
    for kind in sorted(s["qa_tried"]):
        table.add_row(f"questions: {kind}", "", str(s["qa_tried"][kind]), str(s["qa_kept"].get(kind, 0)),
                      str(s["mean_reduction"].get(f"qa:{kind}", "")))
    out.print(table)
    out.print(f"{s['kept_examples']} examples kept from {s['items']} texts and questions "
              f"({s['items_per_second']} items/s); data: {result.data_file}", highlight=False)
    for ex in result.examples[:show]:
        out.print(f"  [dim]{ex.kind}[/] {ex.text[:300]}", highlight=False)
    if result.report is not None:
        r = result.report
        out.print(f"adapter saved: {r.adapter} ({r.steps} steps, {r.seconds_per_step}s/step, "
                  f"{r.examples_per_second} examples/s); held-out perplexity {r.perplexity_before} → "
                  f"{r.perplexity_after}. `kb ask` uses it from now on.", highlight=False)
        if r.truncated:
            err.print(f"note: {r.truncated} examples were longer than {settings.max_tokens} tokens and were cut "
                      "(their answers were not learned); raise --max-tokens", highlight=False)


@app.command("eval")
def eval_(
    sets: Annotated[
        str | None, typer.Option(help="Sets, comma-separated: mawps, gsm8k, svamp, dates, tram, generated, notes, "
                                 "reading-ja, reading-zh, notes-real ('arithmetic': MAWPS if found, else generated). "
                                 "Default: arithmetic,svamp,dates,notes, and tram if found.")
    ] = None,
    split: Annotated[str, typer.Option(help="dev or test: which split of the split data sets (never both).")] = "dev",
    limit: Annotated[int, typer.Option(help="Questions per set.")] = 50,
    seed: Annotated[int, typer.Option(help="Which seeded sample of each set.")] = 0,
    data: Annotated[
        Path | None, typer.Option(help="The data folder (default: $KBAGENT_SHARED_DATA, else ../shared/data).")
    ] = None,
    work: Annotated[
        Path | None, typer.Option(help="Where the reading sets' corpora are indexed and kept (default: <home>/eval).")
    ] = None,
    mawps: Annotated[Path | None, typer.Option(help="MAWPS.json (default: from the data folder).")] = None,
    tram: Annotated[Path | None, typer.Option(help="TRAM arithmetic_saq.csv (default: from the data folder).")] = None,
    notes: Annotated[
        Path | None, typer.Option(help="A notes folder to index into a scratch index for the notes set.")
    ] = None,
    questions: Annotated[
        Path | None, typer.Option(help="JSONL of note questions {question, page, answer?} for the notes set.")
    ] = None,
    problems: Annotated[
        Path | None, typer.Option(help="JSONL word problems {question, answer} (default: the bundled SVAMP-style set).")
    ] = None,
    real_questions: Annotated[
        Path | None, typer.Option(help="JSONL of notes-real questions (default: the bundled file).")
    ] = None,
    no_tools: Annotated[bool, typer.Option("--no-tools", help="Only without tools.")] = False,
    tools_only: Annotated[bool, typer.Option("--tools-only", help="Only with tools.")] = False,
    model: Annotated[str, typer.Option("--model", help="Packaged base model.")] = "gemma3-270m",
    adapter: Annotated[
        str | None, typer.Option(help="LoRA adapter folder, or 'none' for the base model (default: as kb ask).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--report", "--output", "-o", help="Where to write the JSON report.")
    ] = None,
    threads: Annotated[int, typer.Option(help="CPU threads for torch (0: its default).")] = 0,
) -> None:
    """Accuracy with tools vs without, per set, each set labelled train, dev or test."""
    from kbagent import evaluation as E
    from kbagent.adapters import resolve_adapter

    if threads:
        import torch

        torch.set_num_threads(threads)
    if split not in ("dev", "test"):
        raise _fail(f"--split must be dev or test, not {split!r}", 2)
    config = _config()
    if adapter is None:
        adapter_path = resolve_adapter(model, config)
    else:
        adapter_path = None if adapter.lower() in ("none", "off", "") else Path(adapter).expanduser()
    try:
        request = E.PlanRequest(
            sets=E.parse_sets(sets), split="dev" if split == "dev" else "test", limit=limit, seed=seed,
            data_dir=E.locate_data(data), mawps=mawps, tram=tram, problems=problems or E.SVAMP_STYLE,
            real_questions=real_questions or E.REAL_NOTE_QUESTIONS, with_tools=not no_tools,
            without_tools=not tools_only)
    except (ValueError, OSError) as exc:
        raise _fail(str(exc), 2) from None
    with Bar(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err, transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("evaluating")

        def indexing(name: str, p: Progress) -> None:
            bar.update(task, description=f"indexing {name}: {p.pages} pages, {p.chunks_embedded} chunks embedded")

        def progress(name: str, with_tools: bool, done: int, total: int) -> None:
            mode = "tools" if with_tools else "no tools"
            bar.update(task, description=f"{name} ({mode}): {done}/{total}")

        try:
            run = E.run_eval(request, config, model, adapter=adapter_path, notes=notes, questions=questions,
                             work_dir=work, report=output, threads=threads, on_notes_indexed=print_stats,
                             on_index=indexing, progress=progress)
        except E.EvalSetupError as exc:
            raise _fail(str(exc), 2) from None
    table = Table(*E.TABLE_HEADER)
    for row in E.report_rows(run.results):
        table.add_row(*row)
    setup = f" (adapter {adapter_path}, prompt {run.prompt_style})" if adapter_path else " (no adapter, few-shot)"
    out.print(f"model: {run.model}{setup}; split data sets: {run.split}", highlight=False)
    out.print(table)
    for line in E.detail_lines(run.results):
        out.print(line, highlight=False, markup=False)
    out.print("paper (zero-shot): " + "; ".join(
        f"{k}: " + ", ".join(f"{s} {v}%" for s, v in vals.items()) for k, vals in E.PAPER_RESULTS.items()),
        highlight=False)
    out.print(f"report: {run.report}", highlight=False)


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


plain_help(app)  # last, once every command is registered


def main() -> None:
    """Entry point of the ``kb`` console script."""
    app()
