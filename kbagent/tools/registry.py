"""Which tools an agent gets: the built-ins, and plugins from the ``kbagent.tools`` entry-point group.

Each entry point names a callable that takes a :class:`ToolContext` and returns a tool.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from kbagent.tools.base import Searcher, Tool
from kbagent.tools.calculator import Calculator
from kbagent.tools.calendar import Calendar
from kbagent.tools.find import Find
from kbagent.tools.search import Search

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "kbagent.tools"


@dataclass(frozen=True)
class ToolContext:
    """What a tool factory may use: the knowledge base, the clock, the user's time zone, settings."""

    searcher: Searcher | None = None
    clock: Callable[[], datetime] | None = None
    tz: str | None = None
    settings: Mapping[str, object] = field(default_factory=dict)


ToolFactory = Callable[[ToolContext], Tool]


def builtin_tools(context: ToolContext) -> list[Tool]:
    """Search and Find (when there is something to search), Calculator and Calendar."""
    tools: list[Tool] = []
    if context.searcher is not None:
        tools.append(Search(context.searcher))
        tools.append(Find(context.searcher))
    tools.append(Calculator())
    tools.append(Calendar(context.clock, context.tz))
    return tools


def plugin_tools(
    context: ToolContext, entry_points: Iterable[importlib.metadata.EntryPoint] | None = None
) -> list[Tool]:
    """Tools from installed plugins (``kbagent.tools`` entry points); a broken one is skipped."""
    found: list[Tool] = []
    eps = entry_points if entry_points is not None else importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    for ep in eps:
        try:
            tool = ep.load()(context)
            if not isinstance(tool, Tool):
                raise TypeError("the factory did not return a tool (name, description, __call__)")
        except Exception as exc:  # a plugin must never stop `kb ask`
            log.warning("tool plugin %s (%s) not loaded: %s", ep.name, ep.value, exc)
            continue
        found.append(tool)
    return found


def load_tools(context: ToolContext, *, plugins: bool = True, only: Iterable[str] | None = None) -> dict[str, Tool]:
    """The tools by name: built-ins, then plugins (a plugin cannot replace a built-in)."""
    tools: dict[str, Tool] = {}
    for tool in builtin_tools(context) + (plugin_tools(context) if plugins else []):
        if tool.name in tools:
            log.warning("tool %s defined twice; keeping the first", tool.name)
            continue
        tools[tool.name] = tool
    if only is not None:
        wanted = set(only)
        tools = {n: t for n, t in tools.items() if n in wanted}
    return tools
