"""Toolformer self-supervised training: sample calls, keep the ones that help, fine-tune a LoRA adapter.

Data generation follows Schick et al. (2023), section 2:

1. For a text x and a tool, the tool's few-shot prompt P(x) asks the model to copy x with calls
   inserted. A position i is a candidate when p(``[`` | P(x), x₁…xᵢ₋₁) > τs; the k most likely
   candidates are kept.
2. At each candidate, m calls are sampled from the model (it continues ``… [``), then run.
3. A call is kept when it makes the next tokens easier to predict: with the weighted loss
   L_i(z) = −Σ_t w_t log p(x_{i+t} | z, x₁…x_{i+t−1}), w̃_t = max(0, 1 − 0.2·t) normalised,
   L⁺ = L_i(call with result) and L⁻ = min(L_i(nothing), L_i(call without result)), keep when
   L⁻ − L⁺ ≥ τf. The call is given as a prefix z in front of x, as in the paper.

Question-answer examples (``Question: … Answer: [Tool(…) → …] …``) are made from the notes and the
built-in corpora and kept by the same criterion, with the answer as the text after the call.
Fine-tuning trains a LoRA adapter on the kept examples mixed with plain text.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import random
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kbagent.agent import MAX_RESULT_CHARS, bare_prompt
from kbagent.microformat import ARROW, format_call, neutralize, parse_calls
from kbagent.tools import MONTH_NUMBERS, Calculator, Calendar, Search, Searcher, Tool, run_tool

if TYPE_CHECKING:
    import torch

    from kbagent.corpora import QAItem
    from kbagent.hits import Hit
    from kbagent.models import LocalModel

HORIZON = 5  # tokens after the call with a non-zero weight: w̃_t = max(0, 1 - 0.2 t)


def loss_weights(horizon: int = HORIZON) -> list[float]:
    """The paper's weights w_t for t = 0, 1, …: max(0, 1 − 0.2·t), normalised to sum to 1."""
    raw = [max(0.0, 1.0 - 0.2 * t) for t in range(horizon)]
    total = sum(raw)
    return [w / total for w in raw]


# --- settings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolSampling:
    """Thresholds for one tool: τs (position), k (positions per text), m (calls per position), τf."""

    tau_s: float = 0.05
    top_k: int = 5
    samples: int = 5
    tau_f: float = 1.0


# The paper's defaults (section 4.1): τs = 0.05, k = 5, m = 5, τf = 1.0; calculator τs = 0, k = 20,
# m = 10, τf = 0.5.
PAPER_SAMPLING: dict[str, ToolSampling] = {
    "Search": ToolSampling(),
    "Calendar": ToolSampling(),
    "Calculator": ToolSampling(tau_s=0.0, top_k=20, samples=10, tau_f=0.5),
}


def sampling_for(settings: dict[str, ToolSampling], tool: str) -> ToolSampling:
    """The settings for a tool (plugins take the Search defaults)."""
    return settings.get(tool, settings.get("Search", ToolSampling()))


# --- the per-tool sampling prompts (the paper's appendix A.2, adapted to personal notes) --------

SAMPLING_PROMPTS: dict[str, str] = {
    "Search": (
        "Your task is to add calls to a Search API to a piece of text. The calls should help you get "
        "information required to complete the text. You can call the API by writing \"[Search(query)]\" "
        "where \"query\" is what you want to look up in the notes. Here are some examples of API calls:\n"
        "Input: The Atlas kickoff meeting is on March 12 in Room 3A.\n"
        "Output: The Atlas kickoff meeting is on [Search(\"Atlas kickoff meeting date\")] March 12 in "
        "[Search(\"Atlas kickoff room\")] Room 3A.\n"
        "Input: Coca-Cola, or Coke, is a carbonated soft drink manufactured by the Coca-Cola Company.\n"
        "Output: Coca-Cola, or [Search(\"Coca-Cola other name\")] Coke, is a carbonated soft drink "
        "manufactured by [Search(\"who makes Coca-Cola\")] the Coca-Cola Company.\n"
        "Input: Ken's new phone number is 080-1234-5678.\n"
        "Output: Ken's new phone number is [Search(\"Ken phone number\")] 080-1234-5678.\n"
    ),
    "Calculator": (
        "Your task is to add calls to a Calculator API to a piece of text. The calls should help you get "
        "information required to complete the text. You can call the API by writing "
        "\"[Calculator(expression)]\" where \"expression\" is the expression to be computed. Here are some "
        "examples of API calls:\n"
        "Input: The number in the next term is 18 + 12 x 3 = 54.\n"
        "Output: The number in the next term is 18 + 12 x 3 = [Calculator(18 + 12 * 3)] 54.\n"
        "Input: A total of 252 matches were played, and 723 goals were scored (an average of 2.87 per "
        "match).\n"
        "Output: A total of 252 matches were played, and 723 goals were scored (an average of "
        "[Calculator(723 / 252)] 2.87 per match).\n"
        "Input: I went to Paris in 1994 and stayed there until 2011, so in total, it was 17 years.\n"
        "Output: I went to Paris in 1994 and stayed there until 2011, so in total, it was "
        "[Calculator(2011 - 1994)] 17 years.\n"
        "Input: From this, we have 4 * 30 minutes = 120 minutes.\n"
        "Output: From this, we have 4 * 30 minutes = [Calculator(4 * 30)] 120 minutes.\n"
    ),
    "Calendar": (
        "Your task is to add calls to a Calendar API to a piece of text. The API calls should help you get "
        "information required to complete the text. You can call the API by writing \"[Calendar()]\". "
        "Here are some examples of API calls:\n"
        "Input: Today is the first Friday of the year.\n"
        "Output: Today is the first [Calendar()] Friday of the year.\n"
        "Input: The current day of the week is Wednesday.\n"
        "Output: The current day of the week is [Calendar()] Wednesday.\n"
        "Input: The number of days from now until Christmas is 30.\n"
        "Output: The number of days from now until Christmas is [Calendar()] 30.\n"
        "Input: The store is never open on the weekend, so today it is closed.\n"
        "Output: The store is never open on the weekend, so today [Calendar()] it is closed.\n"
    ),
}


# --- examples and their JSONL form -------------------------------------------------------------------


@dataclass(frozen=True)
class KeptCall:
    """A call that passed the filter: where it goes, what it returned, and how much it helped."""

    tool: str
    input: str
    result: str
    position: int  # character offset in the original text where the call is inserted
    loss_plus: float
    loss_minus: float

    @property
    def reduction(self) -> float:
        """L⁻ − L⁺: how much the call (with its result) lowered the weighted loss."""
        return self.loss_minus - self.loss_plus

    @property
    def text(self) -> str:
        """The call as written in the training text."""
        return format_call(self.tool, self.input, self.result)


@dataclass(frozen=True)
class Example:
    """One training sequence as pieces; the model learns the pieces marked ``learn``.

    Tool results (what the agent feeds in after ``→``) and question prompts are not learned.
    """

    kind: str  # "text" (a note or corpus text with calls), "qa", or "base" (plain text)
    pieces: tuple[tuple[str, bool], ...]
    calls: tuple[KeptCall, ...] = ()
    origin: str = ""

    @property
    def text(self) -> str:
        """The whole sequence as one string."""
        return "".join(p for p, _ in self.pieces)

    def to_json(self) -> dict[str, Any]:
        """The JSONL record: the text, the pieces, and per kept call tool/input/result/position/loss."""
        return {
            "kind": self.kind,
            "origin": self.origin,
            "text": self.text,
            "pieces": [[p, learn] for p, learn in self.pieces],
            "calls": [
                {
                    "tool": c.tool, "input": c.input, "result": c.result, "position": c.position,
                    "loss_reduction": round(c.reduction, 4), "loss_plus": round(c.loss_plus, 4),
                    "loss_minus": round(c.loss_minus, 4),
                }
                for c in self.calls
            ],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Example:
        """Read an example back from its JSONL record."""
        calls = tuple(
            KeptCall(c["tool"], c["input"], c["result"], int(c["position"]), float(c["loss_plus"]),
                     float(c["loss_minus"]))
            for c in raw.get("calls", ())
        )
        pieces = tuple((str(p), bool(learn)) for p, learn in raw["pieces"])
        return cls(str(raw["kind"]), pieces, calls, str(raw.get("origin", "")))


def write_jsonl(path: Path, examples: Iterable[Example]) -> int:
    """Write examples as JSON lines; return how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps(ex.to_json(), ensure_ascii=False) + "\n")
            n += 1
    return n


def read_jsonl(path: Path) -> list[Example]:
    """Read examples written by :func:`write_jsonl`."""
    with path.open(encoding="utf-8") as f:
        return [Example.from_json(json.loads(line)) for line in f if line.strip()]


def qa_prompt(question: str) -> str:
    """The prompt an adapter trained here answers: the agent's "bare" ``Question: …\nAnswer:``."""
    return bare_prompt(question).text


def text_with_calls(text: str, calls: Sequence[KeptCall]) -> tuple[tuple[str, bool], ...]:
    """The text with calls inserted at their positions, as pieces (results are not learned)."""
    pieces: list[tuple[str, bool]] = []
    pos = 0
    for c in sorted(calls, key=lambda c: c.position):
        head = text[pos : c.position]
        pad = "" if c.position == 0 or text[c.position - 1].isspace() else " "
        pieces.append((head + pad + f"[{c.tool}({c.input}) {ARROW}", True))
        pieces.append((f" {c.result}]", False))
        pos = c.position
    pieces.append((text[pos:], True))
    return tuple((p, learn) for p, learn in pieces if p)


def answer_pieces(question: str, calls: Sequence[KeptCall], answer: str) -> tuple[tuple[str, bool], ...]:
    """A question-answer example: the prompt, each call (result not learned), then the answer."""
    pieces: list[tuple[str, bool]] = [(qa_prompt(question), False)]
    for c in calls:
        pieces.append((f" [{c.tool}({c.input}) {ARROW}", True))
        pieces.append((f" {c.result}]", False))
    pieces.append((" " + answer, True))
    return tuple(pieces)


# --- scoring with the language model ----------------------------------------------------------------


@dataclass(frozen=True)
class TokenizedText:
    """A text's token ids and where each token starts in the text."""

    text: str
    ids: tuple[int, ...]
    starts: tuple[int, ...]

    def token_at(self, char: int) -> int | None:
        """Index of the token that starts exactly at ``char``, if any."""
        for i, s in enumerate(self.starts):
            if s == char and (i == 0 or self.starts[i - 1] < s):
                return i
            if s > char:
                return None
        return None


class Scorer:
    """Token log-probabilities from a causal LM, in padded batches, with only the needed logits."""

    def __init__(self, lm: LocalModel, batch_size: int = 8) -> None:
        self.lm = lm
        self.batch_size = batch_size
        bos = lm.tokenizer.bos_token_id
        self.start: list[int] = [bos] if lm.bos and bos is not None else []

    def tokenize(self, text: str) -> TokenizedText:
        """Token ids of ``text`` (no special tokens) with their start offsets."""
        enc = self.lm.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return TokenizedText(text, tuple(enc["input_ids"]), tuple(int(o[0]) for o in enc["offset_mapping"]))

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no special tokens)."""
        return list(self.lm.encode(text))

    def weighted_losses(
        self, prefixes: Sequence[Sequence[int]], text: Sequence[int], position: int, horizon: int = HORIZON
    ) -> list[float]:
        """L_i(z) for each prefix z: −Σ_t w_t log p(x_{i+t} | start, z, x_{<i+t}), t < horizon.

        ``text`` holds the ids of x and ``position`` is i. Tokens past the end of x contribute
        nothing (the weights are not renormalised, as in the paper's sum over j ≤ n).
        """
        weights = loss_weights(horizon)
        end = min(len(text), position + horizon)
        n = end - position
        if n <= 0:
            raise ValueError("position is at or past the end of the text")
        seqs = [[*self.start, *z, *text[:end]] for z in prefixes]
        if any(len(s) - n < 1 for s in seqs):
            raise ValueError("nothing precedes the scored tokens: give a prefix or a BOS token")
        out: list[float] = []
        for b in range(0, len(seqs), self.batch_size):
            out.extend(self._tail_losses(seqs[b : b + self.batch_size], n, weights[:n]))
        return out

    def _tail_losses(self, seqs: list[list[int]], n: int, weights: list[float]) -> list[float]:
        """Weighted −log p of the last ``n`` tokens of each sequence (left-padded batch)."""
        import torch

        width = max(len(s) for s in seqs)
        pad = self.lm.tokenizer.pad_token_id or 0
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, s in enumerate(seqs):
            ids[r, width - len(s) :] = torch.tensor(s)
            mask[r, width - len(s) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            logits = self.lm.model(
                input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=n + 1
            ).logits[:, :-1].float()
        logp = torch.log_softmax(logits, dim=-1)
        target = ids[:, width - n :]
        token_lp = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)  # (batch, n)
        w = torch.tensor(weights, dtype=token_lp.dtype)
        return [float(v) for v in -(token_lp * w).sum(-1)]


@dataclass(frozen=True)
class CallScore:
    """The filter's numbers for one call at one position."""

    loss_plus: float  # L_i(call with result)
    loss_empty: float  # L_i(no call)
    loss_no_result: float  # L_i(call without result)

    @property
    def loss_minus(self) -> float:
        """L⁻ = min(L_i(no call), L_i(call without result))."""
        return min(self.loss_empty, self.loss_no_result)

    @property
    def reduction(self) -> float:
        """L⁻ − L⁺."""
        return self.loss_minus - self.loss_plus


def score_calls(
    scorer: Scorer,
    text: TokenizedText,
    position: int,
    calls: Sequence[tuple[str, str]],
) -> list[CallScore]:
    """Score calls at token ``position`` of ``text``; each call is (text with result, text without).

    Each call text is given as a prefix in front of the whole text, separated by a newline.
    """
    prefixes: list[list[int]] = [[]]
    for with_result, without in calls:
        prefixes.append(scorer.encode(with_result + "\n"))
        prefixes.append(scorer.encode(without + "\n"))
    losses = scorer.weighted_losses(prefixes, text.ids, position)
    empty = losses[0]
    return [CallScore(losses[1 + 2 * k], empty, losses[2 + 2 * k]) for k in range(len(calls))]


# --- sampling positions and calls -------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A position where the model would open a call: its character offset and p(``[``)."""

    char: int
    token: int
    prob: float
    bracket: int


class CallSampler:
    """Finds candidate positions and samples calls with the paper's per-tool few-shot prompts."""

    def __init__(self, lm: LocalModel, *, temperature: float = 1.0, max_call_tokens: int = 24, seed: int = 0) -> None:
        import torch

        self.lm = lm
        self.temperature = temperature
        self.max_call_tokens = max_call_tokens
        self.generator = torch.Generator().manual_seed(seed)
        self._prompt_cache: dict[str, tuple[Any, Any]] = {}

    def _prefix_state(self, tool: str) -> tuple[Any, Any]:
        """The key/value cache and last logits after the tool's prompt (computed once per tool)."""
        if tool not in self._prompt_cache:
            import torch
            from transformers import DynamicCache

            ids = self.lm.encode(SAMPLING_PROMPTS[tool] + "Input:", first=True)
            cache = DynamicCache(config=self.lm.model.config)
            with torch.inference_mode():
                out = self.lm.model(input_ids=torch.tensor([ids]), cache=cache, use_cache=True, logits_to_keep=1)
            self._prompt_cache[tool] = (cache, out.logits[0, -1])
        return self._prompt_cache[tool]

    def _forward(self, cache: Any, ids: Sequence[int], keep: int = 1) -> torch.Tensor:
        import torch

        with torch.inference_mode():
            out = self.lm.model(input_ids=torch.tensor([list(ids)]), cache=cache, use_cache=True,
                                logits_to_keep=keep)
        return out.logits[0].float()

    def candidates(self, tool: str, text: str, tau_s: float, top_k: int) -> tuple[list[Candidate], Any]:
        """The top-k positions with p(``[``) > τs, and the cache after ``Input: x\\nOutput:``."""
        import torch

        base_cache, _ = self._prefix_state(tool)
        cache = copy.deepcopy(base_cache)
        first = self._forward(cache, self.lm.encode(" " + text + "\nOutput:"))[-1]
        after_input = copy.deepcopy(cache)
        enc = self.lm.tokenizer(" " + text, add_special_tokens=False, return_offsets_mapping=True)
        out_ids: list[int] = enc["input_ids"]
        starts = [max(0, int(o[0]) - 1) for o in enc["offset_mapping"]]
        if not out_ids:
            return [], after_input
        # row j of `stacked` predicts out_ids[j]: the first from the state after "Output:"
        logits = self._forward(cache, out_ids, keep=len(out_ids))
        stacked = torch.cat([first.unsqueeze(0), logits[:-1]], dim=0)
        probs = torch.softmax(stacked, dim=-1)
        brackets = self.lm.bracket_ids
        bprobs = probs[:, brackets]
        found: list[Candidate] = []
        for j in range(len(out_ids)):
            if j > 0 and starts[j] <= starts[j - 1]:
                continue  # a byte piece inside one character
            if not _boundary(text, starts[j]):
                continue
            p = float(bprobs[j].sum())
            if p > tau_s:
                found.append(Candidate(starts[j], j, p, brackets[int(bprobs[j].argmax())]))
        found.sort(key=lambda c: -c.prob)
        return found[:top_k], after_input

    def sample(self, tool: str, text: str, after_input: Any, cand: Candidate, m: int) -> list[str]:
        """Up to ``m`` distinct call inputs the model writes at the candidate position."""
        import torch

        cache = copy.deepcopy(after_input)
        enc = self.lm.tokenizer(" " + text, add_special_tokens=False)["input_ids"]
        prefix = [*enc[: cand.token], cand.bracket]
        logits = self._forward(cache, prefix)[-1]
        cache.batch_repeat_interleave(m)
        logits = logits.unsqueeze(0).repeat(m, 1)
        written: list[list[int]] = [[] for _ in range(m)]
        done = [False] * m
        for _ in range(self.max_call_tokens):
            probs = torch.softmax(logits / max(self.temperature, 1e-4), dim=-1)
            nxt = torch.multinomial(probs, 1, generator=self.generator).squeeze(-1)
            for r in range(m):
                if not done[r]:
                    written[r].append(int(nxt[r]))
                    piece = self.lm.decode(written[r])
                    if "]" in piece or ARROW in piece or "->" in piece or "\n" in piece:
                        done[r] = True
            if all(done):
                break
            with torch.inference_mode():
                out = self.lm.model(input_ids=nxt.unsqueeze(-1), cache=cache, use_cache=True)
            logits = out.logits[:, -1].float()
        inputs: list[str] = []
        for r in range(m):
            inp = _parse_sampled(tool, "[" + self.lm.decode(written[r]).lstrip())
            if inp is not None and inp not in inputs:
                inputs.append(inp)
        return inputs


def _boundary(text: str, c: int) -> bool:
    """Whether a call may go before character ``c``: not inside a word of a spaced language."""
    if c <= 0 or c >= len(text):
        return c == 0
    before, at = text[c - 1], text[c]
    if at.isspace() or before.isspace():
        return True
    word = re.compile(r"[A-Za-z0-9]")
    return not (word.match(before) and word.match(at))


def _parse_sampled(tool: str, written: str) -> str | None:
    """The input of the call the model wrote after ``[`` (None if it is not a call of ``tool``)."""
    calls = parse_calls(written.split("\n")[0])
    if not calls or calls[0].start != 0 or calls[0].tool != tool:
        return None
    return calls[0].input.strip()


# --- running tools for training data ----------------------------------------------------------------


class ExcludingSearcher:
    """A searcher that never returns the given pages (the page a training text comes from)."""

    def __init__(self, searcher: Searcher, exclude: Iterable[tuple[str, str]] = ()) -> None:
        self.searcher = searcher
        self.exclude = set(exclude)

    def search(self, query: str, k: int) -> list[Hit]:
        """The best ``k`` hits that are not from an excluded page."""
        hits = self.searcher.search(query, k + len(self.exclude) + 2)
        return [h for h in hits if (h.source, h.doc_id) not in self.exclude][:k]


def call_result(tool: Tool, input: str) -> str:
    """The text the agent would splice in for this call (one line, neutralised, truncated)."""
    from kbagent.microformat import unquote

    try:
        text = run_tool(tool, unquote(input)).text
    except Exception as exc:  # a failing tool gives an error result, as in the agent
        text = f"Error: {exc.__class__.__name__}"
    text = neutralize(" ".join(text.split()))
    if len(text) > MAX_RESULT_CHARS:
        text = text[: MAX_RESULT_CHARS - 1].rstrip() + "…"
    return text


def calendar_on(day: date) -> Calendar:
    """A Calendar tool that answers with a fixed day (a document's own date)."""
    moment = datetime(day.year, day.month, day.day, 12)
    return Calendar(clock=lambda: moment)


_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")


def has_arithmetic(text: str) -> bool:
    """The paper's calculator heuristic: three numbers, one the sum/difference/product/quotient of two others."""
    nums = []
    for m in _NUMBER.finditer(text):
        try:
            nums.append(float(m.group().replace(",", "")))
        except ValueError:
            continue
    if len(nums) < 3:
        return False
    values = set(nums)
    for i, a in enumerate(nums):
        for b in nums[i + 1 :]:
            for r in (a + b, a - b, b - a, a * b, a / b if b else None, b / a if a else None):
                if r is not None and r not in (a, b) and any(abs(r - v) < 1e-6 * max(1.0, abs(v)) for v in values):
                    return True
    return False


_DATE_PATTERNS = (
    re.compile(r"(?P<y>\d{4})[-/_.](?P<m>\d{1,2})[-/_.](?P<d>\d{1,2})"),
    re.compile(r"(?P<y>\d{4})年(?P<m>\d{1,2})月(?P<d>\d{1,2})日"),
)
_NAMED_DATE = re.compile(r"(?P<mon>[A-Z][a-z]{2,8})\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,\s*(?P<y>\d{4})")


def date_in(*texts: str) -> date | None:
    """A date written in a page title or id (journal pages), like the paper's dates in URLs."""
    for text in texts:
        for pat in _DATE_PATTERNS:
            m = pat.search(text)
            if m:
                try:
                    return date(int(m["y"]), int(m["m"]), int(m["d"]))
                except ValueError:
                    continue
        m = _NAMED_DATE.search(text)
        if m and m["mon"][:3].lower() in MONTH_NUMBERS:
            try:
                return date(int(m["y"]), MONTH_NUMBERS[m["mon"][:3].lower()], int(m["d"]))
            except ValueError:
                continue
    return None


# --- data generation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceText:
    """A text to augment, the tools that may be sampled for it, and what they need."""

    text: str
    tools: tuple[str, ...]
    origin: str = ""
    page: tuple[str, str] | None = None  # (source, doc_id): Search must not return this page
    written: date | None = None


@dataclass
class GenerationStats:
    """What data generation saw and kept, per tool."""

    texts: int = 0
    candidates: Counter[str] = field(default_factory=Counter)
    sampled: Counter[str] = field(default_factory=Counter)
    kept: Counter[str] = field(default_factory=Counter)
    qa_tried: Counter[str] = field(default_factory=Counter)
    qa_kept: Counter[str] = field(default_factory=Counter)
    reductions: dict[str, list[float]] = field(default_factory=dict)
    qa_reductions: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    def add_reduction(self, tool: str, value: float) -> None:
        """Remember a kept call's loss reduction."""
        self.reductions.setdefault(tool, []).append(value)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "texts": self.texts,
            "candidates": dict(self.candidates),
            "sampled_calls": dict(self.sampled),
            "kept_calls": dict(self.kept),
            "qa_tried": dict(self.qa_tried),
            "qa_kept": dict(self.qa_kept),
            "mean_reduction": {t: round(sum(v) / len(v), 3) for t, v in self.reductions.items() if v},
            # every question-answer example's L⁻ − L⁺, kept or not: how many pass at other τf
            "qa_pass_rate": {
                kind: {str(tau): round(sum(r >= tau for r in v) / len(v), 3) for tau in (0.0, 0.25, 0.5, 1.0)}
                for kind, v in self.qa_reductions.items() if v
            },
            "seconds": round(self.seconds, 1),
        }


ProgressFn = Callable[[str, int, int], None]


class DataGenerator:
    """Makes Toolformer training data with one language model and a set of tools."""

    def __init__(
        self,
        lm: LocalModel,
        *,
        searcher: Searcher | None = None,
        sampling: dict[str, ToolSampling] | None = None,
        seed: int = 0,
        max_text_tokens: int = 160,
        search_k: int = 3,
        max_calls_per_text: int = 3,
        qa_tau_f: float | None = None,
        max_call_tokens: int = 24,
    ) -> None:
        self.lm = lm
        self.qa_tau_f = qa_tau_f
        self.scorer = Scorer(lm)
        self.sampler = CallSampler(lm, seed=seed, max_call_tokens=max_call_tokens)
        self.searcher = searcher
        self.sampling = dict(PAPER_SAMPLING if sampling is None else sampling)
        self.max_text_tokens = max_text_tokens
        self.search_k = search_k
        self.max_calls_per_text = max_calls_per_text
        self.stats = GenerationStats()

    def tool(self, name: str, page: tuple[str, str] | None = None, day: date | None = None) -> Tool:
        """The tool as it runs for one text: Search without the text's own page, Calendar on its date."""
        if name == "Calculator":
            return Calculator()
        if name == "Calendar":
            if day is None:
                raise ValueError("Calendar needs the document's date")
            return calendar_on(day)
        if name == "Search":
            if self.searcher is None:
                raise ValueError("Search needs a searcher")
            searcher = ExcludingSearcher(self.searcher, [page] if page else [])
            return Search(searcher, k=self.search_k)
        raise ValueError(f"no such tool for training: {name}")

    def clip(self, text: str) -> str:
        """The text cut to at most ``max_text_tokens`` tokens (at a token boundary)."""
        tok = self.scorer.tokenize(text)
        if len(tok.ids) <= self.max_text_tokens:
            return text
        return text[: tok.starts[self.max_text_tokens]].rstrip()

    # paper-style augmentation of a text ---------------------------------------------------------
    def augment(self, src: SourceText) -> Example | None:
        """Sample, run and filter calls for one text; the text with its kept calls, or None."""
        t0 = time.perf_counter()
        text = self.clip(src.text)
        tokens = self.scorer.tokenize(text)
        self.stats.texts += 1
        best: dict[int, KeptCall] = {}
        for name in src.tools:
            if name == "Calendar" and src.written is None:
                continue
            if name == "Search" and self.searcher is None:
                continue
            cfg = sampling_for(self.sampling, name)
            tool = self.tool(name, src.page, src.written)
            cands, after_input = self.sampler.candidates(name, text, cfg.tau_s, cfg.top_k)
            self.stats.candidates[name] += len(cands)
            for cand in cands:
                i = tokens.token_at(cand.char)
                if i is None or (i == 0 and not self.scorer.start):
                    continue
                inputs = self.sampler.sample(name, text, after_input, cand, cfg.samples)
                self.stats.sampled[name] += len(inputs)
                if not inputs:
                    continue
                results = [call_result(tool, inp) for inp in inputs]
                pairs = [(format_call(name, inp, r), format_call(name, inp))
                         for inp, r in zip(inputs, results, strict=True)]
                scores = score_calls(self.scorer, tokens, i, pairs)
                for inp, res, sc in zip(inputs, results, scores, strict=True):
                    if res.startswith("Error") or sc.reduction < cfg.tau_f:
                        continue
                    kept = KeptCall(name, inp, res, cand.char, sc.loss_plus, sc.loss_minus)
                    if cand.char not in best or kept.reduction > best[cand.char].reduction:
                        best[cand.char] = kept
        self.stats.seconds += time.perf_counter() - t0
        if not best:
            return None
        chosen = sorted(best.values(), key=lambda c: -c.reduction)[: self.max_calls_per_text]
        for c in chosen:
            self.stats.kept[c.tool] += 1
            self.stats.add_reduction(c.tool, c.reduction)
        return Example("text", text_with_calls(text, chosen), tuple(sorted(chosen, key=lambda c: c.position)),
                       src.origin)

    # question-answer examples ------------------------------------------------------------------
    def qa(self, item: QAItem, searcher: Searcher | None = None, origin: str = "") -> Example | None:
        """Run an item's calls and keep the example if they pass the same loss criterion.

        The text is ``Question: …\\nAnswer: <answer>`` and i is the answer's first token; the calls
        (all of them, with results) are the prefix. The threshold is ``qa_tau_f`` if set, else the
        strictest τf of the tools called.
        """
        t0 = time.perf_counter()
        kind = item.kind
        self.stats.qa_tried[kind] += 1
        calls: list[tuple[str, str, str]] = []
        for spec in item.calls:
            if spec.tool == "Search":
                tool: Tool = Search(searcher or self.searcher, k=self.search_k)  # type: ignore[arg-type]
            elif spec.tool == "Calendar":
                if item.today is None:
                    return None
                tool = calendar_on(item.today)
            else:
                tool = self.tool(spec.tool)
            result = call_result(tool, spec.input)
            if result.startswith("Error"):
                return None
            calls.append((spec.tool, spec.input, result))
        head = qa_prompt(item.question)
        tokens = self.scorer.tokenize(head + " " + item.answer)
        i = tokens.token_at(len(head))
        if i is None:
            return None
        with_results = " ".join(format_call(t, a, r) for t, a, r in calls)
        without = " ".join(format_call(t, a) for t, a, _ in calls)
        (sc,) = score_calls(self.scorer, tokens, i, [(with_results, without)])
        tau_f: float | None = self.qa_tau_f
        if tau_f is None:
            tau_f = max(sampling_for(self.sampling, t).tau_f for t, _, _ in calls)
        self.stats.seconds += time.perf_counter() - t0
        self.stats.qa_reductions.setdefault(kind, []).append(sc.reduction)
        if sc.reduction < tau_f:
            return None
        self.stats.qa_kept[kind] += 1
        self.stats.add_reduction(f"qa:{kind}", sc.reduction)
        kept = tuple(KeptCall(t, a, r, len(head), sc.loss_plus, sc.loss_minus) for t, a, r in calls)
        return Example("qa", answer_pieces(item.question, kept, item.answer), kept, origin or item.kind)


# --- questions from the user's notes ---------------------------------------------------------------

_KEY_VALUE = re.compile(r"^\s*(?:[-*•]\s*)?([^:\n：]{2,30})[:：]\s*(.{2,80}?)\s*$", re.M)


def note_qa_items(chunks: Iterable[Any], rng: random.Random, per_chunk: int = 1) -> list[QAItem]:
    """Questions answered by one chunk of the user's notes, with a Search call for its topic.

    Two kinds: "Key: value" lines (``What is the <key> of <title>?`` → value) and the page itself
    (``What do my notes say about <title>?`` → its first line). Japanese and Chinese pages get
    questions in their language.
    """
    from kbagent.corpora import CallSpec, QAItem
    from kbagent.microformat import quote

    items: list[QAItem] = []
    for ch in chunks:
        title = " ".join(str(ch.title).split())[:60]
        body = [ln.strip(" -*•\t#") for ln in str(ch.text).splitlines() if ln.strip(" -*•\t#")]
        body = [ln for ln in body if ln != title]
        if not title or not body:
            continue
        lang = _language(title + " ".join(body[:3]))
        options: list[QAItem] = []
        for m in _KEY_VALUE.finditer(str(ch.text)):
            key, value = m.group(1).strip(), m.group(2).strip()
            if key.lower() in ("http", "https") or len(value) < 2:
                continue
            q = {"ja": f"{title}の{key}は？", "zh": f"{title}的{key}是什么？"}.get(
                lang, f"What is the {key} of {title}?")
            options.append(QAItem(q, (CallSpec("Search", quote(f"{title} {key}")),), value, value, "notes",
                                  page=ch.doc_id))
        first = body[0][:120]
        q = {"ja": f"{title}について何を書いた？", "zh": f"关于{title}我写了什么？"}.get(
            lang, f"What do my notes say about {title}?")
        options.append(QAItem(q, (CallSpec("Search", quote(title)),), first, first, "notes", page=ch.doc_id))
        items.extend(rng.sample(options, min(per_chunk, len(options))))
    return items


def _language(text: str) -> str:
    if re.search(r"[\u3040-\u30ff]", text):
        return "ja"
    if re.search(r"[\u4e00-\u9fff]", text):
        return "zh"
    return "en"


# --- fine-tuning -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FinetuneSettings:
    """LoRA fine-tuning options (defaults sized for a 2-core CPU)."""

    steps: int = 200
    batch_size: int = 4
    learning_rate: float = 5e-4
    warmup_steps: int = 10
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    # the MLP too: attention alone learns the call format but not which operation a problem needs
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    max_tokens: int = 256
    seed: int = 0
    checkpoint_every: int = 25
    base_fraction: float = 0.15
    # an adapter folder (same rank and modules) to start from: new skills are added to a trained
    # adapter without paying again for the steps that taught the old ones
    init_adapter: str = ""


@dataclass(frozen=True)
class TrainProgress:
    """Where fine-tuning is: optimizer step, loss, seconds per step."""

    step: int
    steps: int
    loss: float
    seconds_per_step: float


@dataclass(frozen=True)
class TrainReport:
    """What fine-tuning did."""

    adapter: str
    steps: int
    examples: int
    base_texts: int
    perplexity_before: float
    perplexity_after: float
    seconds: float
    seconds_per_step: float
    examples_per_second: float
    final_loss: float
    resumed_from: int = 0
    truncated: int = 0  # examples longer than max_tokens, cut at the end

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def encode_example(lm: LocalModel, ex: Example, max_tokens: int) -> tuple[list[int], list[int]]:
    """Token ids and labels (−100 where nothing is learned) for one example, ending with EOS."""
    ids: list[int] = []
    labels: list[int] = []
    bos = lm.tokenizer.bos_token_id
    if lm.bos and bos is not None:
        ids.append(bos)
        labels.append(-100)
    for text, learn in ex.pieces:
        piece = lm.encode(text)
        ids.extend(piece)
        labels.extend(piece if learn else [-100] * len(piece))
    eos = lm.tokenizer.eos_token_id
    if eos is not None:
        ids.append(eos)
        labels.append(eos)
    return ids[:max_tokens], labels[:max_tokens]


def perplexity(lm: LocalModel, texts: Sequence[str], max_tokens: int = 256, model: Any = None) -> float:
    """exp(mean token negative log-likelihood) of the texts."""
    import torch

    net = model if model is not None else lm.model
    total, count = 0.0, 0
    for text in texts:
        ids = lm.encode(text, first=True)[:max_tokens]
        if len(ids) < 2:
            continue
        with torch.inference_mode():
            out = net(input_ids=torch.tensor([ids]), labels=torch.tensor([ids]))
        total += float(out.loss) * (len(ids) - 1)
        count += len(ids) - 1
    return math.exp(total / count) if count else float("nan")


def data_fingerprint(examples: Sequence[Example], base: Sequence[str], settings: FinetuneSettings) -> str:
    """A hash of the training data and settings: a checkpoint only resumes the same run."""
    h = hashlib.sha256()
    for ex in examples:
        h.update(json.dumps(ex.to_json(), ensure_ascii=False, sort_keys=True).encode())
    for t in base:
        h.update(t.encode())
    h.update(json.dumps(asdict(settings), sort_keys=True).encode())
    return h.hexdigest()[:16]


def finetune(
    lm: LocalModel,
    examples: Sequence[Example],
    base_texts: Sequence[str],
    heldout_texts: Sequence[str],
    out_dir: Path,
    work_dir: Path,
    settings: FinetuneSettings = FinetuneSettings(),
    progress: Callable[[TrainProgress], None] | None = None,
    info: dict[str, Any] | None = None,
) -> TrainReport:
    """Train a LoRA adapter on the examples mixed with plain text; save it to ``out_dir``.

    Checkpoints go to ``work_dir`` every ``checkpoint_every`` steps; a run with the same data and
    settings resumes from the last one. The adapter is written beside ``out_dir`` and renamed into
    place, so ``kb ask`` never sees half an adapter.
    """
    import torch
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from safetensors.torch import load_file

    from kbagent.adapters import AdapterInfo

    if not examples:
        raise ValueError("no training examples (nothing passed the filter)")
    started = time.perf_counter()
    random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    fingerprint = data_fingerprint(examples, base_texts, settings)
    before = perplexity(lm, heldout_texts, settings.max_tokens)
    config = LoraConfig(
        r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules), task_type="CAUSAL_LM",
    )
    model = get_peft_model(lm.model, config)
    if settings.init_adapter:
        start = load_file(str(Path(settings.init_adapter) / "adapter_model.safetensors"))
        set_peft_model_state_dict(model, {k: v.float() for k, v in start.items()})
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=0.0)

    def lr_at(step: int) -> float:
        if step < settings.warmup_steps:
            return (step + 1) / settings.warmup_steps
        span = max(1, settings.steps - settings.warmup_steps)
        return max(0.05, 1.0 - (step - settings.warmup_steps) / span)

    sched = torch.optim.lr_scheduler.LambdaLR(optim, lr_at)
    order = _schedule(len(examples), len(base_texts), settings)
    start_step = 0
    ckpt = _latest_checkpoint(work_dir, fingerprint)
    if ckpt is not None:
        set_peft_model_state_dict(model, load_file(str(ckpt / "adapter_model.safetensors")))
        state = torch.load(ckpt / "trainer.pt", weights_only=False)
        optim.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        start_step = int(state["step"])
    # encoded whole, then cut: a cut example loses its answer (and EOS) after a long Search result, so count them
    whole = [encode_example(lm, ex, 1 << 30) for ex in examples]
    truncated = sum(len(ids) > settings.max_tokens for ids, _ in whole)
    encoded_examples = [(ids[: settings.max_tokens], labels[: settings.max_tokens]) for ids, labels in whole]
    encoded_base = [encode_example(lm, Example("base", ((t, True),)), settings.max_tokens) for t in base_texts]
    step_times: list[float] = []
    loss_value = float("nan")
    for step in range(start_step, settings.steps):
        t0 = time.perf_counter()
        batch = [encoded_examples[i] if kind == "ex" else encoded_base[i] for kind, i in order[step]]
        # one sequence at a time, gradients accumulated: no compute spent on padding
        learned = sum(sum(1 for t in lab[1:] if t != -100) for _, lab in batch)
        total = 0.0
        for seq, lab in batch:
            ids, labels, mask = _pad([(seq, lab)], lm.tokenizer.pad_token_id or 0)
            n = sum(1 for t in lab[1:] if t != -100)
            if n == 0:
                continue
            loss = learned_token_loss(model, ids, labels, mask) * (n / learned)
            loss.backward()
            total += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        sched.step()
        optim.zero_grad(set_to_none=True)
        loss_value = total
        step_times.append(time.perf_counter() - t0)
        if progress is not None:
            progress(TrainProgress(step + 1, settings.steps, loss_value, sum(step_times) / len(step_times)))
        if (step + 1) % settings.checkpoint_every == 0 and step + 1 < settings.steps:
            _save_checkpoint(model, optim, sched, work_dir, step + 1, fingerprint)
    model.eval()
    after = perplexity(lm, heldout_texts, settings.max_tokens, model=model)
    seconds = time.perf_counter() - started
    sps = sum(step_times) / len(step_times) if step_times else 0.0
    report = TrainReport(
        adapter=str(out_dir), steps=settings.steps, examples=len(examples), base_texts=len(base_texts),
        perplexity_before=round(before, 3), perplexity_after=round(after, 3), seconds=round(seconds, 1),
        seconds_per_step=round(sps, 3), examples_per_second=round(settings.batch_size / sps, 3) if sps else 0.0,
        final_loss=round(loss_value, 4), resumed_from=start_step, truncated=truncated,
    )
    _save_adapter(model, out_dir, AdapterInfo(
        base_model=str(lm.name).split("+")[0], prompt="bare",
        created=datetime.now().astimezone().isoformat(timespec="seconds"),
        origin=(info or {}).get("origin", "kb train"),
        stats={"train": report.to_dict(), **{k: v for k, v in (info or {}).items() if k != "origin"}},
    ))
    model.unload()  # give the caller its base model back, without LoRA layers
    shutil.rmtree(work_dir, ignore_errors=True)
    return report


def learned_token_loss(model: Any, ids: Any, labels: Any, mask: Any) -> Any:
    """Mean cross-entropy over the learned tokens, projecting only their hidden states to the vocabulary.

    Gemma's output layer (262k words) costs as much as the rest of the model per token; prompt
    and tool-result tokens are not learned, so skipping them halves the cost of a step.
    """
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = base.get_decoder()(input_ids=ids, attention_mask=mask).last_hidden_state
    target = labels[:, 1:]
    chosen = target != -100
    logits = base.get_output_embeddings()(hidden[:, :-1][chosen]).float()
    cap = getattr(base.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return torch.nn.functional.cross_entropy(logits, target[chosen])


def _schedule(n_examples: int, n_base: int, s: FinetuneSettings) -> list[list[tuple[str, int]]]:
    """The batches of every step, fixed by the seed: shuffled epochs of examples, each slot plain
    text with probability ``base_fraction``."""
    rng = random.Random(s.seed)
    pools: dict[str, list[int]] = {"ex": [], "base": []}
    sizes = {"ex": n_examples, "base": n_base}
    steps: list[list[tuple[str, int]]] = []
    for _ in range(s.steps):
        batch: list[tuple[str, int]] = []
        for _ in range(s.batch_size):
            kind = "base" if n_base and rng.random() < s.base_fraction else "ex"
            if not pools[kind]:
                pools[kind] = list(range(sizes[kind]))
                rng.shuffle(pools[kind])
            batch.append((kind, pools[kind].pop()))
        steps.append(batch)
    return steps


def _pad(batch: Sequence[tuple[list[int], list[int]]], pad: int) -> tuple[Any, Any, Any]:
    import torch

    width = max(len(ids) for ids, _ in batch)
    ids = torch.full((len(batch), width), pad, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for r, (i, lab) in enumerate(batch):
        ids[r, : len(i)] = torch.tensor(i)
        labels[r, : len(lab)] = torch.tensor(lab)
        mask[r, : len(i)] = 1
    return ids, labels, mask


def _save_checkpoint(model: Any, optim: Any, sched: Any, work_dir: Path, step: int, fingerprint: str) -> None:
    import torch

    folder = work_dir / f"checkpoint-{step:06d}"
    tmp = work_dir / f".tmp-{step:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    torch.save({"optimizer": optim.state_dict(), "scheduler": sched.state_dict(), "step": step,
                "torch_rng": torch.get_rng_state()}, tmp / "trainer.pt")
    (tmp / "fingerprint").write_text(fingerprint, encoding="utf-8")
    tmp.rename(folder)
    for old in sorted(work_dir.glob("checkpoint-*"))[:-2]:
        shutil.rmtree(old, ignore_errors=True)


def _latest_checkpoint(work_dir: Path, fingerprint: str) -> Path | None:
    for folder in sorted(work_dir.glob("checkpoint-*"), reverse=True):
        try:
            if (folder / "fingerprint").read_text(encoding="utf-8") == fingerprint:
                return folder
        except OSError:
            continue
    return None


def _save_adapter(model: Any, out_dir: Path, info: Any) -> None:
    """Save the adapter (float16: half the size, no loss that matters) and its info, atomically."""
    import torch
    from safetensors.torch import load_file, save_file

    from kbagent.adapters import write_info

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    weights = tmp / "adapter_model.safetensors"
    state = {k: v.to(torch.float16).contiguous() for k, v in load_file(str(weights)).items()}
    save_file(state, str(weights))
    write_info(tmp, info)
    tidy_adapter_folder(tmp, info.base_model)
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        out_dir.rename(old)
        tmp.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out_dir)


def tidy_adapter_folder(folder: Path, base_model: str) -> None:
    """Name the base model instead of a local path in ``adapter_config.json``; drop peft's model card."""
    cfg_file = folder / "adapter_config.json"
    cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    cfg["base_model_name_or_path"] = base_model
    cfg_file.write_text(json.dumps(cfg, indent=2, sort_keys=True), encoding="utf-8")
    (folder / "README.md").unlink(missing_ok=True)


# --- the whole pipeline ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSettings:
    """How much data to make: texts from the notes, questions, built-in corpora, plain text."""

    note_texts: int = 30
    note_questions: int = 100
    arithmetic_questions: int = 100
    # share of arithmetic questions drawn from the pronoun stories (on top of their share of all templates)
    story_share: float = 0.25
    date_questions: int = 40
    arithmetic_texts: int = 10
    dated_texts: int = 10
    base_texts: int = 80
    heldout_texts: int = 12
    seed: int = 0


@dataclass
class GeneratedData:
    """The kept examples, the plain texts for mixing and perplexity, and the statistics."""

    examples: list[Example]
    base_texts: list[str]
    heldout_texts: list[str]
    stats: GenerationStats

    def summary(self) -> dict[str, Any]:
        """Counts by kind and the generation statistics."""
        return {"examples": dict(Counter(e.kind for e in self.examples)),
                "base_texts": len(self.base_texts), "heldout_texts": len(self.heldout_texts),
                **self.stats.to_dict()}


def builtin_sources(settings: DataSettings, rng: random.Random) -> tuple[list[QAItem], list[SourceText]]:
    """Questions and texts from the generated arithmetic/date corpora (see :mod:`kbagent.corpora`)."""
    from kbagent import corpora

    qa = corpora.arithmetic_problems(settings.arithmetic_questions, rng, settings.story_share)
    qa += corpora.date_questions(settings.date_questions, rng)
    texts = [SourceText(t.text, ("Calculator",), "corpus:arithmetic") for t in
             corpora.arithmetic_texts(settings.arithmetic_texts, rng)]
    texts += [SourceText(t.text, ("Calendar",), "corpus:dates", written=t.written) for t in
              corpora.dated_texts(settings.dated_texts, rng)]
    return qa, texts


def note_sources(chunks: Sequence[Any], n: int, rng: random.Random) -> list[SourceText]:
    """Note chunks as texts to augment: Search always, Calendar when the page has a date, Calculator
    when the text passes the paper's arithmetic heuristic."""
    picked = rng.sample(list(chunks), min(n, len(chunks)))
    out = []
    for ch in picked:
        day = date_in(str(ch.title), str(ch.doc_id))
        tools = ["Search"]
        if day is not None:
            tools.append("Calendar")
        if has_arithmetic(ch.text):
            tools.append("Calculator")
        out.append(SourceText(ch.text, tuple(tools), f"note:{ch.source}", (ch.source, ch.doc_id), day))
    return out


def generate(
    gen: DataGenerator,
    qa_items: Sequence[QAItem],
    texts: Sequence[SourceText],
    *,
    qa_searcher: Searcher | None = None,
    progress: ProgressFn | None = None,
) -> list[Example]:
    """Run the generator over texts and question items; return the kept examples."""
    kept: list[Example] = []
    total = len(texts) + len(qa_items)
    for k, src in enumerate(texts):
        ex = gen.augment(src)
        if ex is not None:
            kept.append(ex)
        if progress:
            progress("texts", k + 1, total)
    for k, item in enumerate(qa_items):
        ex = gen.qa(item, qa_searcher)
        if ex is not None:
            kept.append(ex)
        if progress:
            progress("questions", len(texts) + k + 1, total)
    return kept


def split_plain(texts: Sequence[str], heldout: int, rng: random.Random) -> tuple[list[str], list[str]]:
    """Shuffle plain texts and split off a held-out set for perplexity."""
    pool = [t for t in texts if t.strip()]
    rng.shuffle(pool)
    return pool[heldout:], pool[:heldout]


def with_sampling(base: dict[str, ToolSampling], **overrides: float | int | None) -> dict[str, ToolSampling]:
    """Copy of per-tool settings with options applied: ``tau_s``, ``top_k``, ``samples``, ``tau_f`` set
    every tool except the calculator; ``calc_*`` set the calculator's."""
    out = dict(base)
    plain = {k: v for k, v in overrides.items() if v is not None and not k.startswith("calc_")}
    calc = {k[5:]: v for k, v in overrides.items() if v is not None and k.startswith("calc_")}
    for tool, cfg in out.items():
        out[tool] = replace(cfg, **(calc if tool == "Calculator" else plain))  # type: ignore[arg-type]
    return out


@dataclass(frozen=True)
class TrainResult:
    """What ``kb train`` did: the data it kept (and where it wrote it) and, unless a dry run, the report."""

    data_file: Path
    summary: dict[str, Any]
    examples: tuple[Example, ...]
    report: TrainReport | None = None
    adapter: Path | None = None


def train_from_notes(
    config: Any,
    kb: Any,
    *,
    model: str = "gemma3-270m",
    data: DataSettings = DataSettings(),
    sampling: dict[str, ToolSampling] | None = None,
    qa_tau_f: float | None = None,
    settings: FinetuneSettings = FinetuneSettings(),
    dry_run: bool = False,
    progress: ProgressFn | None = None,
    train_progress: Callable[[TrainProgress], None] | None = None,
) -> TrainResult:
    """``kb train``: make Toolformer data from the indexed notes and the built-in corpora, then train.

    The data is written to ``<data dir>/adapters/.<model>-work/data.jsonl`` and reused by a rerun
    with the same notes and settings (so an interrupted run resumes from its last checkpoint
    without generating again). The adapter goes to ``<data dir>/adapters/<model>``, where
    ``kb ask`` finds it.
    """
    from kbagent.adapters import trained_adapter_dir
    from kbagent.models import LocalModel

    chunks = sorted(kb.chunks(), key=lambda c: c.chunk_id)
    if not chunks:
        raise ValueError("nothing is indexed yet: run `kb index PATH` first")
    sampling = dict(PAPER_SAMPLING if sampling is None else sampling)
    work = config.paths.adapters / f".{model}-work"
    work.mkdir(parents=True, exist_ok=True)
    data_file = work / "data.jsonl"
    key = hashlib.sha256(json.dumps(
        [model, asdict(data), {k: asdict(v) for k, v in sorted(sampling.items())}, qa_tau_f,
         [(c.chunk_id, hashlib.sha256(c.text.encode()).hexdigest()[:12]) for c in chunks]],
        sort_keys=True, default=str).encode()).hexdigest()[:16]
    lm = LocalModel.load(model, config.models_dir)
    rng = random.Random(data.seed)
    plain = [c.text for c in chunks]
    base, heldout = split_plain(plain, min(data.heldout_texts, max(1, len(plain) // 5)), random.Random(data.seed))
    summary_file = work / "data-summary.json"
    if data_file.exists() and (work / "data.key").exists() and (work / "data.key").read_text() == key:
        examples = read_jsonl(data_file)
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
    else:
        gen = DataGenerator(lm, searcher=kb, sampling=sampling, seed=data.seed, qa_tau_f=qa_tau_f)
        texts = note_sources(chunks, data.note_texts, rng)
        qa_items = note_qa_items(rng.sample(chunks, min(data.note_questions, len(chunks))), rng)
        builtin_qa, builtin_texts = builtin_sources(data, rng)
        t0 = time.perf_counter()
        examples = generate(gen, qa_items + builtin_qa, texts + builtin_texts, progress=progress)
        seconds = time.perf_counter() - t0
        n_items = len(qa_items) + len(builtin_qa) + len(texts) + len(builtin_texts)
        summary = {**gen.stats.to_dict(), "items": n_items, "kept_examples": len(examples),
                   "generation_seconds": round(seconds, 1),
                   "items_per_second": round(n_items / seconds, 3) if seconds else 0.0}
        write_jsonl(data_file, examples)
        summary_file.write_text(json.dumps(summary, indent=2), encoding="utf-8")
        (work / "data.key").write_text(key, encoding="utf-8")
    if dry_run:
        return TrainResult(data_file, summary, tuple(examples))
    base = base + [t.text for t in builtin_sources(data, random.Random(data.seed))[1]]
    out = trained_adapter_dir(config.paths.adapters, model)
    report = finetune(lm, examples, base, heldout, out, work / "checkpoints", settings, train_progress,
                      {"origin": "kb train", "data": summary})
    return TrainResult(data_file, summary, tuple(examples), report, out)
