#!/usr/bin/env bash
# The main job on the bundled sample notes: set up, index them, search them.
set -euo pipefail
cd "$(dirname "$0")/.."
export KBAGENT_HOME=${KBAGENT_HOME:-$PWD/.kbhome}
bash scripts/setup.sh
. .venv/bin/activate
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
kb index samples/notes --source samples
kb index samples/notes/scrapbox/kbagent-sample.json --source samples-scrapbox
kb status
for q in "東京" "読書メモ" "how much flour for the bread" "学习计划" "meeting decisions about the budget"; do
    echo; echo "\$ kb search \"$q\" -k 3"
    kb search "$q" -k 3
done
for q in "京都旅行の新幹線代は2人でいくら？" "How many days are left until April 3, 2027?"; do
    echo; echo "\$ kb ask \"$q\""
    kb ask "$q"
done
