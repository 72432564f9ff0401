#!/usr/bin/env bash
# Set up, then lint, type-check and run the whole test suite (slow tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
# the model caches `kb models prepare` makes here are shared by the tests (see tests/conftest.py)
export KBAGENT_HOME=${KBAGENT_HOME:-$PWD/.kbhome}
bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
ruff check .
mypy kbagent connectors indexes
python -m pytest -q -p no:cacheprovider "$@"
