#!/usr/bin/env bash
# Room moves in real browsers, Huddle against Janus's VideoRoom (web/bench/moves.mjs): the time
# from a move to the first decoded video frame of the new room at the person who moved, with
# Debian's Chromium driven by Playwright: six sender pages (two breakout rooms of three) and one
# mover, moved back and forth N times. Prints p50/p95/p99/max per server as a Markdown table and,
# with --out, writes the raw samples as JSON.
#
#   bench/browser-moves.sh [--moves 50] [--out FILE] [--only huddle|janus]
#
# Other options go to moves.mjs as they are (--pause-ms, --timeout-ms, --janus-signalling
# trickle|gather, --janus-client-dtls active|passive, --debug). Needs the release binary
# (`cargo build --release --bin huddle`; this script never builds). Installs Janus and its
# loopback shim (bench/janus/setup.sh) and Chromium if missing, starts Janus on 127.0.0.1 and
# stops it when done. Set BENCH_JANUS_PORT to move Janus off 18188 (admin API on 17188).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x target/release/huddle ]; then
    echo "no target/release/huddle: run \`cargo build --release --bin huddle\` first" >&2
    exit 1
fi
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
fi
[ -d web/node_modules/playwright-core ] || (cd web && npm ci --no-audit --no-fund)

janus_args=()
only=""
prev=""
for a in "$@"; do
    if [ "$prev" = "--only" ]; then only="$a"; fi
    case "$a" in --only=*) only="${a#--only=}" ;; esac
    prev="$a"
done
if [ "$only" != "huddle" ]; then
    bench/janus/setup.sh
    export JANUS_EVENT_LOOPS="${JANUS_EVENT_LOOPS:-2}" # as bench/calls.sh: one media thread per core
    port="${BENCH_JANUS_PORT:-18188}"
    eval "$(bench/janus/start.sh "$port" "$((port - 1000))")"
    trap 'kill "$JANUS_PID" 2>/dev/null || true' EXIT
    janus_args=(--janus "$JANUS_URL")
fi

export HUDDLE_BIN="${HUDDLE_BIN:-$PWD/target/release/huddle}"
node web/bench/moves.mjs "${janus_args[@]}" "$@"
