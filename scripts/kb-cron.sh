#!/usr/bin/env bash
# Run by cron (see `kb cron install`): re-index every configured source.
# Cron gives a bare environment, so this sets what kbagent needs; the Python side logs to
# $KBAGENT_HOME/logs/reindex.log (rotated) and exits non-zero when a source failed.
set -uo pipefail
: "${KBAGENT_HOME:?KBAGENT_HOME must be set by the crontab line}"
PYTHON=${KBAGENT_PYTHON:-python3}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ANONYMIZED_TELEMETRY=False
export PATH="$(dirname "$PYTHON"):/usr/local/bin:/usr/bin:/bin:${PATH:-}"
export LANG=${LANG:-C.UTF-8}
mkdir -p "$KBAGENT_HOME/logs"
exec "$PYTHON" -m kbagent reindex --cron
