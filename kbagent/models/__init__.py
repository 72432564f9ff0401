"""Language models behind one small interface: packaged local models, OpenAI-compatible servers, plugins.

A model starts a :class:`Generation` from a prompt; the generation streams text until a stop
string, the end of text or a token limit, and takes text fed back in (a tool's result) without
regenerating anything. One module per duty: :mod:`~kbagent.models.base` (the protocols and
values), :mod:`~kbagent.models.weights` (packaged weights and their conversion),
:mod:`~kbagent.models.local` (local decoding), :mod:`~kbagent.models.openai` (the HTTP client),
:mod:`~kbagent.models.registry` (which provider a name means: ``kbagent.models`` entry points).
The names are re-exported here, where callers import them from.
"""

from kbagent.models.base import (
    Generation,
    LanguageModel,
    Message,
    ModelError,
    ModelProvider,
    Prompt,
    StopReason,
    StopScanner,
    as_prompt,
)
from kbagent.models.local import LocalGeneration, LocalModel, LocalProvider, load_tokenizer, merge_adapter
from kbagent.models.openai import (
    DEFAULT_OPENAI_BASE_URL,
    OpenAIBackend,
    OpenAIGeneration,
    OpenAIProvider,
    OpenAISettings,
)
from kbagent.models.registry import (
    BUILTIN_PROVIDERS,
    ENTRY_POINT_GROUP,
    find_provider,
    load_language_model,
    load_providers,
)
from kbagent.models.weights import (
    DEFAULT_MODEL,
    MARKER_FILE,
    PACKAGED_MODELS,
    PackagedModel,
    converted_language_model,
    packaged_model,
    prepare_language_model,
    quiet_gguf_reading,
    quiet_loading,
)

__all__ = [
    "BUILTIN_PROVIDERS", "DEFAULT_MODEL", "DEFAULT_OPENAI_BASE_URL", "ENTRY_POINT_GROUP", "MARKER_FILE",
    "PACKAGED_MODELS", "Generation", "LanguageModel", "LocalGeneration", "LocalModel", "LocalProvider", "Message",
    "ModelError", "ModelProvider", "OpenAIBackend", "OpenAIGeneration", "OpenAIProvider", "OpenAISettings",
    "PackagedModel", "Prompt", "StopReason", "StopScanner", "as_prompt", "converted_language_model",
    "find_provider", "load_language_model", "load_providers", "load_tokenizer", "merge_adapter", "packaged_model",
    "prepare_language_model", "quiet_gguf_reading", "quiet_loading",
]
