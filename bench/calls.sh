#!/usr/bin/env bash
# The calls benchmark with Janus's VideoRoom measured in the same run (docs/benchmarks.md):
# installs Janus and its loopback shim, starts it on 127.0.0.1, builds and runs
# examples/calls_bench against both servers, and stops Janus. Arguments go to the benchmark,
# e.g. `bench/calls.sh --moves 100 --rooms 10 --seconds 60`.
set -euo pipefail
cd "$(dirname "$0")/.."
bench/janus/setup.sh
export JANUS_EVENT_LOOPS="${JANUS_EVENT_LOOPS:-2}" # one media thread per core, as the helper measured best here
eval "$(bench/janus/start.sh 18088 17088)"
trap 'kill "$JANUS_PID" 2>/dev/null || true' EXIT
cargo build --release --bin huddle --example calls_bench
target/release/examples/calls_bench --janus "$JANUS_URL" --janus-pid "$JANUS_PID" "$@"
