#!/usr/bin/env bash
# Rebuilds every actor in fixtures/actors/ into fixtures/components/<name>.wasm.
# Needs the wasm target: rustup target add wasm32-unknown-unknown
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run -q -p theater-fixtures -- build
