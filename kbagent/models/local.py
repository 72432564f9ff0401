"""Local transformers models: token-by-token decoding on the CPU with a key/value cache, and their provider.

The cache is kept across a generation's steps, so a tool call costs only the tokens of its result,
not a re-read of the whole prompt; the few-shot prefix of a prompt is read once per model.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kbagent.models.base import ModelError, Prompt, StopReason, StopScanner, as_prompt
from kbagent.models.weights import DEFAULT_MODEL, PACKAGED_MODELS, packaged_model, prepare_language_model, quiet_loading

if TYPE_CHECKING:
    import torch

    from kbagent.config import Config

# Prompt prefixes a local model keeps read (a few prompt styles: with tools, without, …).
_MAX_PREFIXES = 4


class LocalModel:
    """A transformers causal LM on the CPU, generating token by token with a key/value cache."""

    def __init__(
        self, model: Any, tokenizer: Any, name: str = "local", *, bos: bool = True, kv_cache: bool = True
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.bos = bos
        self.kv_cache = kv_cache
        self.eos_ids = _eos_ids(model, tokenizer)
        self._bracket_ids: list[int] | None = None
        self.prefixes: dict[str, _ReadPrefix] = {}  # read prompt prefixes, oldest first
        # the prompt an adapter was trained with (see kbagent.adapters); the agent follows it
        self.prompt_style = "few-shot"

    @classmethod
    def load(
        cls,
        name: str = DEFAULT_MODEL,
        models_dir: Path | None = None,
        *,
        adapter_path: Path | None = None,
        threads: int | None = None,
        kv_cache: bool = True,
    ) -> LocalModel:
        """Load a packaged model (converting it first if needed), optionally with a LoRA adapter.

        ``adapter_path`` is a folder saved by peft (``kb train``); its weights are merged into
        the model so that generation runs at the base model's speed.
        """
        import torch
        from transformers import AutoModelForCausalLM

        spec = packaged_model(name)
        if models_dir is None:
            from kbagent.config import load_config

            models_dir = load_config().models_dir
        folder = prepare_language_model(name, models_dir)
        if threads:
            torch.set_num_threads(threads)
        with quiet_loading():
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
            tokenizer = load_tokenizer(folder)
        if adapter_path is not None:
            model = merge_adapter(model, Path(adapter_path))
        label = name if adapter_path is None else f"{name}+{Path(adapter_path).name}"
        lm = cls(model, tokenizer, label, bos=spec.bos, kv_cache=kv_cache)
        from kbagent.adapters import prompt_style

        lm.prompt_style = prompt_style(None if adapter_path is None else Path(adapter_path))
        return lm

    def encode(self, text: str, *, first: bool = False) -> list[int]:
        """Token ids of ``text``; ``first`` puts the BOS token in front when the model wants one."""
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        bos = self.tokenizer.bos_token_id
        if first and self.bos and bos is not None and (not ids or ids[0] != bos):
            ids = [bos, *ids]
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Text of token ids (special tokens dropped)."""
        text: str = self.tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)
        return text

    def start(self, prompt: Prompt | str) -> LocalGeneration:
        """A generation that has the prompt queued to be read.

        The prompt's shared prefix is read once and its cache copied for later questions, so
        the few-shot examples cost time only at the first question.
        """
        p = as_prompt(prompt)
        if not self.kv_cache or p.shared_prefix <= 0:
            return LocalGeneration(self, self.encode(p.text, first=True))
        head = p.text[: p.shared_prefix]
        prefix = self.prefixes.pop(head, None)
        if prefix is None:
            first = LocalGeneration(self, self.encode(head, first=True))
            first.read_pending()
            prefix = _ReadPrefix(tuple(first.ids), first.cache, first.logits)
        self.prefixes[head] = prefix  # most recently used last
        while len(self.prefixes) > _MAX_PREFIXES:
            del self.prefixes[next(iter(self.prefixes))]
        gen = LocalGeneration(self, self.encode(p.text[p.shared_prefix :]))
        gen.ids = list(prefix.ids)
        gen.cache = copy.deepcopy(prefix.cache)
        gen.logits = prefix.logits
        gen.prompt_tokens += len(gen.ids)
        return gen

    @property
    def bracket_ids(self) -> list[int]:
        """Tokens that are just ``[`` (with or without a leading space): how a call starts."""
        if self._bracket_ids is None:
            found = []
            for token, i in self.tokenizer.get_vocab().items():
                if token.lstrip(" Ġ▁") == "[" and token != "":
                    found.append(i)
            self._bracket_ids = sorted(found)
        return self._bracket_ids


def load_tokenizer(folder: Path) -> Any:
    """The tokenizer saved in a model folder.

    Built straight from ``tokenizer.json``: for Gemma's 262k-token vocabulary this takes half
    the time of ``AutoTokenizer.from_pretrained`` and encodes and decodes the same.
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    folder = Path(folder)
    try:
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = None
    if config is None or not (folder / "tokenizer.json").exists():
        return AutoTokenizer.from_pretrained(folder)
    special = {k: v for k, v in config.items() if k.endswith("_token") and isinstance(v, str)}
    return PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"), **special)


def merge_adapter(model: Any, adapter_path: Path) -> Any:
    """The model with a peft LoRA adapter merged in."""
    if not (adapter_path / "adapter_config.json").exists():
        raise ModelError(f"{adapter_path}: not a LoRA adapter folder (no adapter_config.json)")
    import warnings

    from peft import PeftModel

    with warnings.catch_warnings():
        # peft asks the model for `is_gradient_checkpointing`, which transformers 5 deprecates with a
        # FutureWarning on every `kb ask`; nothing here checkpoints gradients
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return PeftModel.from_pretrained(model, str(adapter_path)).merge_and_unload()


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    ids: set[int] = set()
    cfg = getattr(model, "generation_config", None)
    eos = getattr(cfg, "eos_token_id", None)
    if isinstance(eos, int):
        ids.add(eos)
    elif isinstance(eos, (list, tuple)):
        ids.update(int(i) for i in eos)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    return frozenset(ids)


@dataclass(frozen=True)
class _ReadPrefix:
    """A prompt prefix the model has read: its tokens, key/value cache and next-token logits."""

    ids: tuple[int, ...]
    cache: Any
    logits: Any


class LocalGeneration:
    """A generation on a :class:`LocalModel`: greedy (or sampled) decoding with a reused cache.

    Tokens are read lazily: fed text and each chosen token wait in ``pending`` until the next
    token is needed, so a token that overshoots a stop string (``→3``) can be replaced by the
    text up to the stop before the model reads it.
    """

    def __init__(self, lm: LocalModel, prompt_ids: list[int], temperature: float = 0.0) -> None:
        self.lm = lm
        self.temperature = temperature
        self.pending: list[int] = list(prompt_ids)
        self.ids: list[int] = []
        self.cache: Any = None
        self.logits: torch.Tensor | None = None
        self.stop_reason: StopReason | None = None
        self.stopped_on: str | None = None
        self.tokens = 0
        self.prompt_tokens = len(prompt_ids)
        self.forward_seconds = 0.0
        # token ids never to write (evaluation disables calls this way, as the paper does)
        self.banned: list[int] = []

    def feed(self, text: str) -> None:
        """Queue text for the model to read before it writes on."""
        if text:
            self.pending.extend(self.lm.encode(text))

    def read_pending(self) -> torch.Tensor:
        """Run the queued tokens through the model; the logits of the next token."""
        import torch

        if not self.pending:
            if self.logits is None:
                raise ModelError("nothing to read: the prompt is empty")
            return self.logits
        model = self.lm.model
        t0 = time.perf_counter()
        with torch.inference_mode():
            if self.lm.kv_cache:
                if self.cache is None:
                    from transformers import DynamicCache

                    self.cache = DynamicCache(config=model.config)
                out = model(input_ids=torch.tensor([self.pending]), cache=self.cache, use_cache=True,
                            logits_to_keep=1)  # only the next token's logits: the vocabulary is 262k words
            else:
                out = model(input_ids=torch.tensor([self.ids + self.pending]), use_cache=False, logits_to_keep=1)
        self.forward_seconds += time.perf_counter() - t0
        self.ids.extend(self.pending)
        self.pending = []
        self.logits = out.logits[0, -1].float()
        return self.logits

    def _choose(self, logits: torch.Tensor, call_top_k: int) -> int:
        import torch

        if self.banned:
            logits = logits.clone()
            logits[self.banned] = float("-inf")
        if call_top_k > 1 and self.lm.bracket_ids:
            top = torch.topk(logits, call_top_k).indices.tolist()
            brackets = set(self.lm.bracket_ids)
            for tok in top:
                if tok in brackets:
                    return int(tok)
        if self.temperature > 0:
            probs = torch.softmax(logits / self.temperature, dim=-1)
            return int(torch.multinomial(probs, 1).item())
        return int(torch.argmax(logits).item())

    def stream(self, max_tokens: int, stop: Sequence[str] = (), call_top_k: int = 0) -> Iterator[str]:
        """Yield text as it is decoded (see :meth:`Generation.stream`)."""
        self.stop_reason, self.stopped_on = None, None
        scanner = StopScanner(stop)
        written: list[int] = []
        shown = 0  # characters of decode(written) already passed to the scanner
        whole_chars = True  # decode(written) ended on a whole character before this token
        text = ""
        for _ in range(max_tokens):
            # Toolformer's trick may open a call, but not inside one the model is writing.
            in_call = text.rfind("[") > text.rfind("]")
            tok = self._choose(self.read_pending(), 0 if in_call else call_top_k)
            if tok in self.lm.eos_ids:
                self.pending.append(tok)
                self.stop_reason = "eos"
                break
            self.tokens += 1
            written.append(tok)
            text = self.lm.decode(written)
            if text.endswith("\ufffd"):  # part of a multi-byte character: wait for the rest
                self.pending.append(tok)
                whole_chars = False
                continue
            new = text[shown:]
            shown = len(text)
            out, hit = scanner.push(new)
            if out:
                yield out
            if hit is not None:
                if scanner.overflow and whole_chars and new.endswith(scanner.overflow):
                    # the token ran past the stop string: let the model read only up to it
                    self.pending.extend(self.lm.encode(new[: len(new) - len(scanner.overflow)]))
                else:
                    self.pending.append(tok)
                self.stop_reason, self.stopped_on = "stop", hit
                return
            self.pending.append(tok)
            whole_chars = True
        else:
            self.stop_reason = "length"
        rest = scanner.flush()
        if rest:
            yield rest


class LocalProvider:
    """The packaged models, decoded locally (the ``local`` entry point of ``kbagent.models``)."""

    def models(self) -> Mapping[str, str]:
        """The packaged models and their descriptions."""
        return {name: spec.description for name, spec in PACKAGED_MODELS.items()}

    def naming(self) -> str:
        """The packaged names."""
        return f"packaged: {', '.join(PACKAGED_MODELS)}"

    def load(self, model: str | None, config: Config, **options: Any) -> LocalModel:
        """A packaged model with an adapter: ``adapter_path=``, else ``[model] adapter``, else a trained or shipped one.

        ``""`` or ``"none"`` as the adapter means none (see :mod:`kbagent.adapters`); other options
        go to :meth:`LocalModel.load`.
        """
        name = model or DEFAULT_MODEL
        adapter = options.pop("adapter_path", None)
        if adapter is None:
            from kbagent.adapters import resolve_adapter

            # [model] adapter, else the adapter `kb train` made, else the one shipped with kbagent
            adapter_path = resolve_adapter(name, config)
        else:
            adapter_path = Path(adapter).expanduser() if adapter else None  # "" or False: no adapter
        return LocalModel.load(name, config.models_dir, adapter_path=adapter_path, **options)
