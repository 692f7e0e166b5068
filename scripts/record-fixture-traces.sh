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
for name in bank ping-pong supervisor hidden-state docs; do
    trace="$out/$name.bin"
    [ "$name" = bank ] && trace="$out/bank-bug.bin"
    theater run "fixtures/manifests/$name.toml" \
        --inputs "fixtures/manifests/$name-inputs.jsonl" --record "$trace" --force
done
replay minimize "$out/bank-bug.bin" --until 'bank:/accounts/alice < 0' \
    -o "$out/bank-bug-min.bin" --force
# The kv service over HTTP, recorded live: a few requests with curl, then SIGTERM.
cargo build -q -p theater
target/debug/theater run fixtures/manifests/kv.toml --http 127.0.0.1:0 \
    --record "$out/kv-http.bin" --force >/dev/null 2>"$out/kv-http.err" &
server=$!
until grep -q 'serving http://' "$out/kv-http.err"; do sleep 0.1; done
addr=$(sed -n 's|.*serving http://\([^ ]*\).*|\1|p' "$out/kv-http.err")
rm "$out/kv-http.err"
curl -sS -o /dev/null -X PUT --data hello "http://$addr/kv/greeting"
curl -sS -o /dev/null -X PUT --data world "http://$addr/kv/planet"
curl -sS -o /dev/null "http://$addr/kv/greeting"
curl -sS -o /dev/null -X POST "http://$addr/kv/_crash"
curl -sS -o /dev/null "http://$addr/kv"
curl -sS -o /dev/null -X DELETE "http://$addr/kv/planet"
curl -sS -o /dev/null "http://$addr/kv/planet"
curl -sS -o /dev/null "http://$addr/elsewhere"
kill -TERM "$server"
wait "$server"
