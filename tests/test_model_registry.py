"""Which model a name means: providers from the ``kbagent.models`` entry points, kbagent's own included."""

from __future__ import annotations

import importlib.metadata
import logging
import tomllib
from collections.abc import Mapping
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from scripted_model import ScriptedModel

from kbagent.config import Config
from kbagent.models import (
    BUILTIN_PROVIDERS,
    ENTRY_POINT_GROUP,
    LanguageModel,
    LocalProvider,
    ModelError,
    ModelProvider,
    OpenAIBackend,
    OpenAIProvider,
    find_provider,
    load_language_model,
    load_providers,
)

ROOT = Path(__file__).resolve().parent.parent


class EchoProvider:
    """A plugin's provider: ``echo:TEXT`` writes TEXT; ``echo-small`` is listed on its own."""

    def models(self) -> Mapping[str, str]:
        return {"echo-small": "writes 'small'"}

    def naming(self) -> str:
        return "echo:TEXT"

    def load(self, model: str | None, config: Config, **options: Any) -> LanguageModel:
        lm = ScriptedModel(model or "small")
        lm.name = f"echo:{model}"
        return lm


def make_nothing() -> object:
    return object()


PLUGINS = [
    EntryPoint("echo", f"{__name__}:EchoProvider", ENTRY_POINT_GROUP),
    EntryPoint("missing", "no_such_module_xyz:Provider", ENTRY_POINT_GROUP),
    EntryPoint("nothing", f"{__name__}:make_nothing", ENTRY_POINT_GROUP),
    EntryPoint("openai", f"{__name__}:EchoProvider", ENTRY_POINT_GROUP),  # may not replace the built-in
    *BUILTIN_PROVIDERS,  # kbagent's own declarations, as the installed metadata lists them
]


def test_the_built_in_providers_are_the_entry_points_pyproject_declares() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["entry-points"]
    assert declared[ENTRY_POINT_GROUP] == {ep.name: ep.value for ep in BUILTIN_PROVIDERS}
    providers = load_providers([])
    assert list(providers) == ["local", "openai"]
    assert isinstance(providers["local"], LocalProvider) and isinstance(providers["openai"], OpenAIProvider)
    assert all(isinstance(p, ModelProvider) for p in providers.values())


def test_names_mean_what_they_meant_before_the_registry() -> None:
    providers = load_providers([])
    local, openai = providers["local"], providers["openai"]
    assert find_provider("gemma3-270m", providers) == (local, "gemma3-270m")
    assert find_provider("smollm2-135m", providers) == (local, "smollm2-135m")
    assert find_provider("openai", providers) == (openai, None)  # the configured server model
    assert find_provider("openai:llama3.2:3b", providers) == (openai, "llama3.2:3b")
    for unknown in ("gpt-17", "foo:bar"):
        with pytest.raises(ModelError) as err:
            find_provider(unknown, providers)
        assert str(err.value) == (
            f"unknown language model {unknown!r} (packaged: gemma3-270m, smollm2-135m; or openai:MODEL)")


def test_openai_names_load_a_client_for_the_configured_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("KBAGENT_MODEL", "KBAGENT_OPENAI_BASE_URL", "KBAGENT_OPENAI_MODEL", "KBAGENT_OPENAI_CHAT"):
        monkeypatch.delenv(var, raising=False)
    config = Config(tmp_path, {"openai": {"base_url": "http://127.0.0.1:9/v1/", "model": "qwen"}})
    configured = load_language_model("openai", config)
    assert isinstance(configured, OpenAIBackend) and configured.name == "openai:qwen"
    assert configured.settings.base_url == "http://127.0.0.1:9/v1"
    assert load_language_model("openai:llama3", config).name == "openai:llama3"
    monkeypatch.setenv("KBAGENT_MODEL", "openai:phi")
    assert load_language_model(None, config).name == "openai:phi"


def test_a_plugin_adds_models_and_a_broken_one_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        providers = load_providers(PLUGINS)
    assert list(providers) == ["local", "openai", "echo"]
    assert isinstance(providers["openai"], OpenAIProvider)
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 3 and all(("missing" in w) or ("nothing" in w) or ("twice" in w) for w in warned)
    with pytest.raises(ModelError, match=r"; or echo:TEXT\)$"):
        find_provider("gpt-17", providers)

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [p for p in PLUGINS if p.group == group])
    config = Config(tmp_path)
    assert load_language_model("echo:hello", config).name == "echo:hello"
    assert load_language_model("echo-small", config).name == "echo:echo-small"
