"""LoRA adapters for the packaged models: where they live, what they were made for, which one is used.

``kb ask`` uses, in this order: an adapter named in config (``[model] adapter = PATH``, or
``"none"`` to use the bare model), the adapter ``kb train`` saved in the data directory for that
model, the default adapter shipped inside kbagent, or none. An adapter is only used with the base
model it was trained on (recorded in its ``kbagent-adapter.json``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kbagent.config import Config

INFO_FILE = "kbagent-adapter.json"
SHIPPED = Path(__file__).resolve().parent / "data" / "adapters" / "default"
# The prompt the adapter was trained with: "bare" is ``Question: …\nAnswer:`` with no header or
# examples (short, so answers start fast); "few-shot" is the agent's full prompt.
PROMPT_STYLES = ("bare", "few-shot")
_OFF = ("none", "off", "false", "no", "")


@dataclass(frozen=True)
class AdapterInfo:
    """What ``kb train`` records beside an adapter."""

    base_model: str
    prompt: str = "bare"
    created: str = ""
    origin: str = ""
    stats: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """The JSON text of the info file."""
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)


def read_info(folder: Path) -> AdapterInfo | None:
    """The adapter's info, or None if the folder is not a complete kbagent adapter."""
    if not (folder / "adapter_config.json").is_file():
        return None
    try:
        raw = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
        return AdapterInfo(
            base_model=str(raw["base_model"]),
            prompt=str(raw.get("prompt", "bare")),
            created=str(raw.get("created", "")),
            origin=str(raw.get("origin", "")),
            stats=dict(raw.get("stats") or {}),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_info(folder: Path, info: AdapterInfo) -> None:
    """Write the info file into an adapter folder."""
    (folder / INFO_FILE).write_text(info.to_json(), encoding="utf-8")


def trained_adapter_dir(home_adapters: Path, model: str) -> Path:
    """Where ``kb train`` keeps the adapter for one base model (inside ``Paths.adapters``)."""
    return home_adapters / model


def resolve_adapter(model: str, config: Config) -> Path | None:
    """The adapter ``kb ask`` should merge into ``model``: configured > trained > shipped > none."""
    configured = config.get("model.adapter")
    if configured is not None:
        text = str(configured).strip()
        return None if text.lower() in _OFF else Path(text).expanduser()
    for folder in (trained_adapter_dir(config.paths.adapters, model), SHIPPED):
        info = read_info(folder)
        if info is not None and info.base_model == model:
            return folder
    return None


def prompt_style(adapter: Path | None) -> str:
    """The prompt style a model with this adapter expects ("few-shot" without an adapter)."""
    if adapter is None:
        return "few-shot"
    info = read_info(adapter)
    return info.prompt if info is not None and info.prompt in PROMPT_STYLES else "few-shot"
