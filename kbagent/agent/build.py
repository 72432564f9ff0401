"""Building an agent from the configuration: the model, the tools, and the Search and Find sized for that model."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kbagent.agent.loop import CHAT_END_STOPS, END_STOPS, Agent
from kbagent.config import load_config
from kbagent.models import LanguageModel, load_language_model
from kbagent.reading import LineSelector, tokenizer_counter
from kbagent.tools import Find, Search, Searcher, Tool, ToolContext, load_tools

if TYPE_CHECKING:
    from kbagent.config import Config


def build_agent(
    searcher: Searcher | None,
    *,
    config: Config | None = None,
    model: LanguageModel | str | None = None,
    tools: bool = True,
    only_tools: Sequence[str] | None = None,
    plugins: bool = True,
    clock: Any = None,
    timezone: str | None = None,
    max_calls: int = 5,
    max_tokens: int = 256,
    call_top_k: int = 0,
    search_k: int = 3,
) -> Agent:
    """An agent over a knowledge base (or any searcher), with the configured model and tools.

    ``model`` is a loaded model or a name for :func:`kbagent.models.load_language_model`
    (``gemma3-270m``, ``smollm2-135m``, ``openai:MODEL``); ``tools=False`` answers without
    tools. The Calendar's time zone is ``timezone``, else ``[calendar] timezone``, else the
    system's. ``clock`` (a function returning a datetime) replaces the real clock.
    """
    config = config or getattr(searcher, "config", None) or load_config()
    lm = model if model is not None and not isinstance(model, str) else load_language_model(model, config)
    toolset: dict[str, Tool] = {}
    if tools:
        tz = timezone or config.get("calendar.timezone")
        context = ToolContext(searcher=searcher, clock=clock or _now, tz=tz, settings=config.raw)
        toolset = load_tools(context, plugins=plugins, only=only_tools)
        # the result texts are counted in the answering model's own tokens, lines chosen with the
        # knowledge base's embedder where there is one (it carries cross-language questions)
        selector = LineSelector(tokenizer_counter(lm), getattr(searcher, "query_embedder", None))
        if searcher is not None and "Search" in toolset:
            toolset["Search"] = Search(searcher, k=search_k, selector=selector)
        if searcher is not None and "Find" in toolset:
            toolset["Find"] = Find(searcher, selector=selector)
    chat = getattr(getattr(lm, "settings", None), "chat", False)
    return Agent(lm, toolset, max_calls=max_calls, max_tokens=max_tokens, call_top_k=call_top_k,
                 end_stops=CHAT_END_STOPS if chat else END_STOPS,
                 prompt_style=getattr(lm, "prompt_style", "few-shot"))


def _now() -> datetime:
    return datetime.now().astimezone()
