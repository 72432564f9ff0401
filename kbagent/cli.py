"""The ``kb`` command: a thin Typer layer over the library."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress as Bar
from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from kbagent.config import Config, load_config
from kbagent.knowledgebase import IndexBusy, IndexStats, KnowledgeBase, Progress

app = typer.Typer(help="Ask your own notes from the terminal.", no_args_is_help=True, add_completion=False)
models_app = typer.Typer(help="Prepare the packaged models.", no_args_is_help=True)
app.add_typer(models_app, name="models")

out = Console()
err = Console(stderr=True)

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
        err.print(f"  [yellow]failed:[/] {f}", highlight=False, markup=False)
    if stats.deletions_skipped:
        err.print("  [yellow]note:[/] the source could not be read completely, so nothing was removed")


def run_index(kb: KnowledgeBase, fn: Any, label: str) -> IndexStats:
    """Run an indexing call with a live progress line."""
    with Bar(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=err, transient=True, disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task(f"indexing {label}")

        def progress(p: Progress) -> None:
            bar.update(task, description=f"{p.source}: {p.pages} pages, {p.chunks_embedded} chunks embedded")

        return fn(progress=progress, lock_timeout=0)


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
            stats = run_index(
                kb, lambda **kw: kb.index_path(path, source=source, format=format, **kw), str(path)
            )
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
    k: Annotated[int, typer.Option("-k", help="How many pages.")] = 5,
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
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Sources, page and chunk counts, last runs and store sizes."""
    with _kb() as kb:
        st = kb.status()
    if as_json:
        print(json.dumps(asdict(st), ensure_ascii=False, indent=2, default=str))
        return
    out.print(f"data directory: {st.home}", highlight=False)
    out.print(f"vector store:   {st.store} ({st.vectors} vectors, {_mib(st.chroma_bytes)})", highlight=False)
    out.print(f"catalogue:      {_mib(st.catalog_bytes)}", highlight=False)
    table = Table("source", "format", "pages", "chunks", "last run", "last result")
    for s in st.sources:
        last = s.last_stats or {}
        result = (
            f"+{last.get('added', 0)} ~{last.get('changed', 0)} -{last.get('removed', 0)} "
            f"!{last.get('failed', 0)}"
            if last
            else ""
        )
        table.add_row(s.name, s.format, str(s.pages), str(s.chunks), s.last_run or "never", result)
    out.print(table)


@app.command()
def forget(
    source: Annotated[str, typer.Argument(help="The source to remove from the index.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Remove a source and everything indexed from it (your files are not touched)."""
    if not yes and sys.stdin.isatty():
        typer.confirm(f"Remove everything indexed from {source!r}?", abort=True)
    with _kb() as kb:
        n = kb.forget(source)
    out.print(f"removed {n} pages of {source}")


@models_app.command("prepare")
def models_prepare(
    language_models: Annotated[
        list[str] | None, typer.Option("--lm", help="Language models to prepare (default: all packaged).")
    ] = None,
) -> None:
    """Turn the packaged weights into the cached form in the data directory (idempotent)."""
    from kbagent.indexes.embedders import prepare_embedder

    paths = _config().paths
    paths.ensure()
    folder = prepare_embedder(paths.models)
    out.print(f"embedding model ready: {folder}", highlight=False)
    try:
        from kbagent.models import PACKAGED_MODELS, prepare_language_model
    except ImportError:
        return
    for name in language_models or list(PACKAGED_MODELS):
        out.print(f"language model ready: {prepare_language_model(name, paths.models)}", highlight=False)


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def main() -> None:
    """Entry point of the ``kb`` console script."""
    app()
