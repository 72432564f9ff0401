#!/usr/bin/env bash
# Set up, then lint, type-check and run the whole test suite (slow tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
ruff check .
mypy kbagent connectors indexes
python -m pytest -q -p no:cacheprovider "$@"
