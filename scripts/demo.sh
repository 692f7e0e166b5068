#!/usr/bin/env bash
# The README's run command: record runs of the bundled examples, then replay them.
#
# 1. `theater run` runs fixtures/manifests/bank.toml (one bank actor, a committed
#    WebAssembly component) with the inputs in bank-inputs.jsonl, recording
#    target/demo/bank.trace. The last transfer triggers the bank's deliberate fee bug.
# 2. `theater-replay` shows the trace, checks its integrity, re-executes it against the
#    recorded component (same chain head), lists the events, and bisects to the transfer
#    that overdrew Alice's account (a deposit afterwards hides it: she ends at 2).
# 3. The kv example serves HTTP (`theater run --http` on a free loopback port), curl
#    talks to it, SIGTERM ends the run, and the trace replays with the HTTP requests and
#    responses shown.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/demo
mkdir -p "$out"
cargo build -q -p theater -p theater-replay
theater() { target/debug/theater "$@"; }
replay() { target/debug/theater-replay "$@"; }
theater run fixtures/manifests/bank.toml \
    --inputs fixtures/manifests/bank-inputs.jsonl \
    --record "$out/bank.trace" --force
replay info "$out/bank.trace"
replay verify "$out/bank.trace"
replay dump "$out/bank.trace" --count 40
replay bisect "$out/bank.trace" --until 'bank:/accounts/alice < 0'

echo
echo "== the kv service over HTTP"
target/debug/theater run fixtures/manifests/kv.toml --http 127.0.0.1:0 \
    --record "$out/kv.trace" --force >"$out/kv.out" 2>"$out/kv.err" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 600); do
    grep -q 'serving http://' "$out/kv.err" && break
    kill -0 "$server" || { cat "$out/kv.err"; exit 1; }
    sleep 0.1
done
addr=$(sed -n 's|.*serving http://\([^ ]*\).*|\1|p' "$out/kv.err")
echo "serving on $addr"
request() { echo "\$ curl -X $1 ${3:+--data $3 }http://$addr$2"; curl -sS -X "$1" ${3:+--data "$3"} -w ' [%{http_code}]\n' "http://$addr$2"; }
request PUT /kv/greeting hello
request GET /kv/greeting
request GET /kv
request POST /kv/_crash
request GET /kv/greeting
request GET /nowhere
kill -TERM "$server"
wait "$server"
trap - EXIT
cat "$out/kv.out"
replay verify "$out/kv.trace"
replay dump "$out/kv.trace" | grep -E '^ +http |dropped'
