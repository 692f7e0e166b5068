#!/usr/bin/env bash
# The README's run command. Until the runtime records real actor runs, this records a
# *synthetic* run (a seeded stream of every kind of event, written by the real trace
# writer), then opens it with theater-replay: summary, integrity check, the first events,
# and a JSON export.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/demo
mkdir -p "$out"
rm -f "$out/demo.trace"
cargo run --release -q -p theater-trace --example synthetic_run -- "$out/demo.trace" 500 42
replay() { cargo run --release -q -p theater-replay -- "$@"; }
replay info "$out/demo.trace"
replay verify "$out/demo.trace"
replay dump "$out/demo.trace" --count 12
replay export "$out/demo.trace" --format json -o "$out/demo.jsonl"
echo "JSON export: $out/demo.jsonl"
