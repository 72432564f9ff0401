"""Re-indexing that survives SIGKILL, refuses to interleave, runs from cron, and works on a Chroma server."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kbagent import KnowledgeBase, schedule
from kbagent.config import load_config

pytestmark = pytest.mark.slow

QUERIES = ["東京の会議", "budget review", "学习计划", "猫", "page 42"]
TOPICS = [
    ("会議メモ", "東京で会議。来期の予算と採用計画について話した。"),
    ("Budget review", "The quarterly budget review moved travel costs to the marketing line."),
    ("学习计划", "每天学习一个小时中文，周末复习语法。"),
    ("猫の記録", "猫が窓辺で寝ている。体重は4.2キロ。"),
    ("Reading log", "Finished a novel about a lighthouse keeper; the ending was quiet."),
]


def make_vault(root: Path, pages: int) -> Path:
    """A Markdown folder of generated multilingual pages."""
    root.mkdir(parents=True)
    for i in range(pages):
        title, body = TOPICS[i % len(TOPICS)]
        (root / f"page-{i:03d}.md").write_text(
            f"# {title} {i}\n\n{body}\n\n- page {i}\n- 項目 {i * 7}\n", encoding="utf-8"
        )
    return root


def home_with_shared_models(path: Path, models_dir: Path) -> Path:
    """A data directory that uses the session's already-converted models."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.toml").write_text(f'[models]\ndir = "{models_dir}"\n', encoding="utf-8")
    return path


def kb_cmd(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "kbagent", "--home", str(home), *args]


def snapshot(home: Path) -> tuple:
    """Everything a user could observe: counts, vectors and search results."""
    with KnowledgeBase(home=home) as kb:
        st = kb.status()
        results = tuple(tuple((h.doc_id, h.chunk_id) for h in kb.search(q, k=5)) for q in QUERIES)
        ids = kb.catalog.all_chunk_ids()
        assert set(kb.vectors.iter_ids()) == ids, "Chroma and the catalogue disagree"
        return tuple((s.name, s.pages, s.chunks) for s in st.sources), st.vectors, results


def test_kill_at_random_moments_then_rerun_equals_a_clean_index(tmp_path: Path, models_dir: Path) -> None:
    vault = make_vault(tmp_path / "vault", 300)
    clean = home_with_shared_models(tmp_path / "clean", models_dir)
    started = time.monotonic()
    subprocess.run(kb_cmd(clean, "index", str(vault), "--source", "notes"), check=True, capture_output=True)
    full = time.monotonic() - started
    expected = snapshot(clean)

    crashed = home_with_shared_models(tmp_path / "crashed", models_dir)
    rng = random.Random(7)
    kills = 0
    for _ in range(8):
        proc = subprocess.Popen(kb_cmd(crashed, "index", str(vault), "--source", "notes"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, full))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 4, "the runs finished before they could be killed; the test proves nothing"
    subprocess.run(kb_cmd(crashed, "index", str(vault), "--source", "notes"), check=True, capture_output=True)
    assert snapshot(crashed) == expected


def lock_is_held(home: Path) -> bool:
    from filelock import FileLock, Timeout

    try:
        with FileLock(str(home / "index.lock"), timeout=0):
            return False
    except Timeout:
        return True


def test_two_reindex_processes_never_interleave(tmp_path: Path, models_dir: Path) -> None:
    vault = make_vault(tmp_path / "vault", 200)
    home = home_with_shared_models(tmp_path / "home", models_dir)
    config = load_config(home).with_value("sources.notes", {"format": "markdown", "path": str(vault)})
    config.save()
    first = subprocess.Popen(kb_cmd(home, "reindex"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not lock_is_held(home) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    refused = subprocess.run(kb_cmd(home, "reindex"), capture_output=True, text=True)
    waited = subprocess.Popen(kb_cmd(home, "reindex", "--wait"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    assert first.wait() == 0
    assert waited.wait() == 0
    assert refused.returncode == 3
    assert "another indexing run is in progress" in refused.stderr
    assert "0 added, 0 changed, 200 unchanged" in waited.communicate()[0]
    with KnowledgeBase(home=home) as kb:
        assert kb.status().sources[0].pages == 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_index_and_search_through_a_chroma_server(tmp_path: Path, models_dir: Path, embedder) -> None:
    chroma = Path(sys.executable).parent / "chroma"
    port = free_port()
    server = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "chroma server did not start"
                assert server.poll() is None, "chroma server exited"
                time.sleep(0.2)
        vault = make_vault(tmp_path / "vault", 20)
        home = home_with_shared_models(tmp_path / "home", models_dir)
        with KnowledgeBase(home=home, chroma_url=url, embedder=embedder) as kb:
            stats = kb.index_path(vault, source="notes")
            assert stats.added == 20
            assert kb.search("学习计划", k=1)[0].title.startswith("学习计划")
            assert "Chroma server at" in kb.status().store
            assert not (home / "chroma").exists()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_cron_install_status_remove_against_a_crontab_file(tmp_path: Path, models_dir: Path) -> None:
    tab = tmp_path / "crontab"
    tab.write_text("MAILTO=me@example.org\n5 4 * * * /usr/bin/backup\n", encoding="utf-8")
    vault = make_vault(tmp_path / "vault", 5)
    home = home_with_shared_models(tmp_path / "home", models_dir)
    subprocess.run(kb_cmd(home, "index", str(vault), "--source", "notes"), check=True, capture_output=True)

    for every in ("6h", "1h"):  # installing twice replaces the line
        subprocess.run(kb_cmd(home, "cron", "install", "--every", every, "--tabfile", str(tab)), check=True)
    lines = tab.read_text(encoding="utf-8").splitlines()
    (ours,) = [line for line in lines if "kbagent-reindex" in line]
    assert ours.startswith(("0 * * * * ", "@hourly ")) and f"KBAGENT_HOME={home}" in ours
    assert "5 4 * * * /usr/bin/backup" in lines

    # run exactly what cron would run
    entry = schedule.installed(tabfile=tab)
    assert entry is not None
    command = entry.command
    (vault / "page-000.md").write_text("# 新しいページ\n\n内容が変わった。\n", encoding="utf-8")
    assert subprocess.run(["bash", "-c", command], env={"PATH": "/usr/bin:/bin"}).returncode == 0

    status = subprocess.run(kb_cmd(home, "cron", "status", "--tabfile", str(tab)), capture_output=True, text=True)
    assert f"crontab: {entry}" in " ".join(status.stdout.split())
    assert "ok" in status.stdout and "notes: +0 ~1 =4 -0 !0" in status.stdout
    log = (home / "logs" / "reindex.log").read_text(encoding="utf-8")
    assert log.count("notes: +") == 1  # one run's result line (progress lines come before it)

    subprocess.run(kb_cmd(home, "cron", "remove", "--tabfile", str(tab)), check=True)
    assert "kbagent" not in tab.read_text(encoding="utf-8")
    assert "/usr/bin/backup" in tab.read_text(encoding="utf-8")


def test_a_failing_source_makes_the_cron_run_exit_non_zero(tmp_path: Path, models_dir: Path) -> None:
    home = home_with_shared_models(tmp_path / "home", models_dir)
    load_config(home).with_value("sources.gone", {"format": "markdown", "path": str(tmp_path / "missing")}).save()
    env = {**os.environ, "KBAGENT_HOME": str(home), "KBAGENT_PYTHON": sys.executable}
    wrapper = Path(__file__).resolve().parent.parent / "scripts" / "kb-cron.sh"
    assert subprocess.run(["bash", str(wrapper)], env=env).returncode == 1
    status = subprocess.run(kb_cmd(home, "cron", "status", "--tabfile", str(tmp_path / "tab")),
                            capture_output=True, text=True)
    assert "FAILED" in status.stdout and "no such file or folder" in status.stderr
