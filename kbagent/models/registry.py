"""Which model a name means: providers from the ``kbagent.models`` entry-point group, the built-ins included.

Each entry point names a callable that takes no arguments and returns a :class:`ModelProvider`;
its name is the prefix of ``NAME:MODEL``. kbagent's own providers (``local`` for the packaged
models, ``openai`` for OpenAI-compatible servers) are entry points too, declared in
pyproject.toml; :data:`BUILTIN_PROVIDERS` holds the same entry points so that a source checkout
whose installed metadata predates them still finds them.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from collections.abc import Iterable
from importlib.metadata import EntryPoint
from typing import TYPE_CHECKING, Any

from kbagent.models.base import LanguageModel, ModelError, ModelProvider
from kbagent.models.weights import DEFAULT_MODEL

if TYPE_CHECKING:
    from kbagent.config import Config

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "kbagent.models"
BUILTIN_PROVIDERS = (
    EntryPoint("local", "kbagent.models.local:LocalProvider", ENTRY_POINT_GROUP),
    EntryPoint("openai", "kbagent.models.openai:OpenAIProvider", ENTRY_POINT_GROUP),
)


def load_providers(entry_points: Iterable[EntryPoint] | None = None) -> dict[str, ModelProvider]:
    """The providers by entry-point name: the built-ins, then plugins (a plugin cannot replace a built-in).

    A plugin that fails to load is skipped with a warning: it must never stop ``kb ask`` with
    another model.
    """
    installed = entry_points if entry_points is not None else importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    providers: dict[str, ModelProvider] = {}
    for ep in (*BUILTIN_PROVIDERS, *installed):
        if ep.name in providers:
            if ep not in BUILTIN_PROVIDERS:  # kbagent's own declaration of a built-in is expected
                log.warning("model provider %s (%s) defined twice; keeping the first", ep.name, ep.value)
            continue
        try:
            provider = ep.load()()
            if not isinstance(provider, ModelProvider):
                raise TypeError("the factory did not return a model provider (models, naming, load)")
        except Exception as exc:
            if ep in BUILTIN_PROVIDERS:
                raise  # kbagent's own providers must load: a failure here is a bug, not a bad plugin
            log.warning("model provider %s (%s) not loaded: %s", ep.name, ep.value, exc)
            continue
        providers[ep.name] = provider
    return providers


def find_provider(name: str, providers: dict[str, ModelProvider]) -> tuple[ModelProvider, str | None]:
    """The provider of a model name and what it is asked to load (see :class:`ModelProvider`)."""
    prefix, colon, rest = name.partition(":")
    if prefix in providers:
        return providers[prefix], rest if colon else None
    for provider in providers.values():
        if name in provider.models():
            return provider, name
    hints = "; or ".join(p.naming() for p in providers.values())
    raise ModelError(f"unknown language model {name!r} ({hints})")


def load_language_model(spec: str | None = None, config: Config | None = None, **options: Any) -> LanguageModel:
    """A model by name: a packaged one (``gemma3-270m``, ``smollm2-135m``), ``openai[:MODEL]`` or a plugin's.

    Without a name, ``[model] name`` from config.toml or ``KBAGENT_MODEL`` decides; the default
    is the packaged Gemma 3 270M. For packaged models, ``adapter_path=`` or ``[model] adapter``
    names a LoRA adapter folder to merge (``""``/``"none"``: none); otherwise the adapter from
    ``kb train`` or the one shipped with kbagent is used (see :mod:`kbagent.adapters`).
    """
    from kbagent.config import load_config

    config = config or load_config()
    name = spec or os.environ.get("KBAGENT_MODEL") or config.get("model.name") or DEFAULT_MODEL
    provider, model = find_provider(str(name), load_providers())
    return provider.load(model, config, **options)
