#!/usr/bin/env bash
# Capture a real `kb chat` session in tmux for the docs, as a user sees it in a 100x30 terminal:
# docs/chat-session.txt (the pane as text) and docs/chat-session.svg (Textual's own screenshot).
#
#   [EXPAND=1] scripts/capture_chat.sh ["question"] [kb chat options, e.g. --model smollm2-135m]
#
# Uses the data directory in $KBAGENT_HOME (index some notes first: `kb index samples/notes`).
set -euo pipefail
cd "$(dirname "$0")/.."
question=${1:-"What did the Atlas meeting decide?"}
shift || true
command -v tmux >/dev/null || { echo "tmux is needed: apt-get install -y tmux" >&2; exit 2; }
[ -f .venv/bin/activate ] && . .venv/bin/activate
session="kbchat-docs-$$"
shots=$(mktemp -d)
trap 'tmux kill-session -t "$session" 2>/dev/null || true; rm -rf "$shots"' EXIT

pane() { tmux capture-pane -p -t "$session"; }
wait_for() {  # wait_for SECONDS COMMAND...: until the command succeeds
    local until=$((SECONDS + $1)); shift
    until "$@"; do
        [ "$SECONDS" -lt "$until" ] || { echo "timed out; the screen was:" >&2; pane >&2; exit 1; }
        sleep 1
    done
}
loaded() { pane | grep -q "model " && ! pane | grep -q "loading "; }
# a finished turn ends with its facts line: "model · 1 tool call · 10 tokens · 9.4 s"
answered() { pane | grep -qE "· [0-9.]+ m?s( · [a-z ]+)? *$"; }

# Textual writes its screenshots into the folder it was started in
# a tmux server started earlier keeps its own environment: hand this one's over explicitly
tmux new-session -d -s "$session" -x 100 -y 30 -c "$shots" \
    "env PATH='$PATH' KBAGENT_HOME='${KBAGENT_HOME:-}' TERM=xterm-256color kb chat $*"
wait_for 600 loaded
tmux send-keys -t "$session" "$question" Enter
wait_for 600 answered
sleep 1
# EXPAND=1 opens the Search block: Shift+Tab twice from the input reaches it (the links come first)
if [ "${EXPAND:-0}" = 1 ] && pane | grep -q "▸ Search"; then
    tmux send-keys -t "$session" BTab
    sleep 0.5
    tmux send-keys -t "$session" BTab
    sleep 0.5
    tmux send-keys -t "$session" Enter
    sleep 1
fi
mkdir -p docs
pane > docs/chat-session.txt
tmux send-keys -t "$session" C-p
sleep 1
tmux send-keys -t "$session" "Screenshot"
sleep 1
tmux send-keys -t "$session" Enter
wait_for 20 compgen -G "$shots/*.svg" >/dev/null
cp "$(ls -t "$shots"/*.svg | head -1)" docs/chat-session.svg
tmux send-keys -t "$session" C-q
echo "wrote docs/chat-session.txt and docs/chat-session.svg"
