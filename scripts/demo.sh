#!/usr/bin/env bash
# The README's run command: record a run of the bundled bank example, then replay it.
#
# 1. `theater run` runs fixtures/manifests/bank.toml (one bank actor, a committed
#    WebAssembly component) with the inputs in bank-inputs.jsonl, recording
#    target/demo/bank.trace. The last transfer triggers the bank's deliberate fee bug.
# 2. `theater-replay` shows the trace, checks its integrity, re-executes it against the
#    recorded component (same chain head), lists the events, and bisects to the transfer
#    that overdrew Alice's account (a deposit afterwards hides it: she ends at 2).
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/demo
mkdir -p "$out"
theater() { cargo run -q -p theater -- "$@"; }
replay() { cargo run -q -p theater-replay -- "$@"; }
theater run fixtures/manifests/bank.toml \
    --inputs fixtures/manifests/bank-inputs.jsonl \
    --record "$out/bank.trace" --force
replay info "$out/bank.trace"
replay verify "$out/bank.trace"
replay dump "$out/bank.trace" --count 40
replay bisect "$out/bank.trace" --until 'bank:/accounts/alice < 0'

