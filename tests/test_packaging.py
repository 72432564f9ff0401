"""The wheel installs `connectors/` and `indexes/` as `kbagent.connectors` and `kbagent.indexes`."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_maps_connectors_and_indexes_under_kbagent(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path)],
        check=True,
    )
    (wheel,) = tmp_path.glob("kbagent-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "kbagent/connectors/__init__.py" in names
    assert "kbagent/indexes/vector.py" in names
    assert "kbagent/indexes/language_directions.json" in names  # data search reads at run time
    # kbagent's subpackages are listed too
    assert {"kbagent/tools/search.py", "kbagent/agent/loop.py", "kbagent/models/registry.py"} <= set(names)
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    declared = zipfile.ZipFile(wheel).read(entry_points).decode()
    # the built-in model providers are plugins like any other (kbagent/models/registry.py)
    assert ("[kbagent.models]\nlocal = kbagent.models.local:LocalProvider\n"
            "openai = kbagent.models.openai:OpenAIProvider") in declared
    assert not any(n.startswith(("connectors/", "indexes/")) for n in names)

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = "import kbagent.connectors, kbagent.indexes.vector, kbagent; print(kbagent.connectors.__file__)"
    done = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {code}"],
        capture_output=True, text=True, check=True,
    )
    assert done.stdout.strip().startswith(str(site))
