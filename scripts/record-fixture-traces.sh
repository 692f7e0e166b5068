#!/usr/bin/env bash
# Re-records the example traces in fixtures/traces/ from the manifests and inputs in
# fixtures/manifests/, and the minimized bank trace from the full one. Run it after a
# change to the trace format or the runtime's events; the regression suite
# (crates/theater-debugger/tests/session.rs) replays every trace there.
set -euo pipefail
cd "$(dirname "$0")/.."
out=fixtures/traces
mkdir -p "$out"
theater() { cargo run -q -p theater -- "$@"; }
replay() { cargo run -q -p theater-replay -- "$@"; }
for name in bank ping-pong supervisor hidden-state; do
    trace="$out/$name.bin"
    [ "$name" = bank ] && trace="$out/bank-bug.bin"
    theater run "fixtures/manifests/$name.toml" \
        --inputs "fixtures/manifests/$name-inputs.jsonl" --record "$trace" --force
done
replay minimize "$out/bank-bug.bin" --until 'bank:/accounts/alice < 0' \
    -o "$out/bank-bug-min.bin" --force
