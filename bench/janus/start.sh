#!/usr/bin/env bash
# Start a loopback-only Janus (VideoRoom + HTTP transport) for the benchmark.
#
#   bench/janus/start.sh PORT_HTTP [PORT_ADMIN]
#
# Prints "JANUS_PID=<pid>" (and the run dir / log path) once Janus answers on
# http://127.0.0.1:PORT_HTTP/janus, then returns; Janus keeps running in the
# background until `kill <pid>`. With JANUS_FOREGROUND=1 it execs Janus in
# the foreground instead (log to stdout, PID printed first).
#
# Environment knobs:
#   JANUS_EVENT_LOOPS   fixed number of media event loops (default: unset =
#                       one loop thread per handle, Janus's default)
#   JANUS_DEBUG_LEVEL   0-7 (default 4; 5+ is very chatty)
#   JANUS_RTP_PORT_RANGE  e.g. "20000-40000" (default)
#   JANUS_RUN_DIR       where to write the generated config + log (default: mktemp)
#   JANUS_ADMIN_SECRET  admin API secret (default "bench")
#   JANUS_NO_SHIM=1     run without the getifaddrs shim (diagnostics only:
#                       Janus then has no 127.0.0.1 candidate and ICE fails)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

PORT_HTTP="${1:?usage: start.sh PORT_HTTP [PORT_ADMIN]}"
PORT_ADMIN="${2:-$((PORT_HTTP + 1))}"
SHIM="$HERE/build/lo_ifaddrs.so"
if [ ! -f "$SHIM" ] || ! command -v janus >/dev/null 2>&1; then
    "$HERE/setup.sh" >/dev/null
fi

LIB_DIR=""
for d in /usr/lib/x86_64-linux-gnu/janus /usr/lib/aarch64-linux-gnu/janus /usr/lib/janus /usr/local/lib/janus; do
    if [ -d "$d/plugins" ]; then LIB_DIR="$d"; break; fi
done
[ -n "$LIB_DIR" ] || { echo "janus plugin folder not found" >&2; exit 1; }

RUN_DIR="${JANUS_RUN_DIR:-$(mktemp -d /tmp/janus-bench.XXXXXX)}"
CONF_DIR="$RUN_DIR/conf"
mkdir -p "$CONF_DIR"
LOG="$RUN_DIR/janus.log"

render() {
    sed -e "s#@CONF_DIR@#$CONF_DIR#g" \
        -e "s#@LIB_DIR@#$LIB_DIR#g" \
        -e "s#@PORT_HTTP@#$PORT_HTTP#g" \
        -e "s#@PORT_ADMIN@#$PORT_ADMIN#g" \
        -e "s#@DEBUG_LEVEL@#${JANUS_DEBUG_LEVEL:-4}#g" \
        -e "s#@ADMIN_SECRET@#${JANUS_ADMIN_SECRET:-bench}#g" \
        -e "s#@RTP_PORT_RANGE@#${JANUS_RTP_PORT_RANGE:-20000-40000}#g" \
        -e "s#@EVENT_LOOPS@#${JANUS_EVENT_LOOPS:-0}#g" \
        "$1"
}
render "$HERE/templates/janus.jcfg.in" > "$CONF_DIR/janus.jcfg"
render "$HERE/templates/janus.transport.http.jcfg.in" > "$CONF_DIR/janus.transport.http.jcfg"
render "$HERE/templates/janus.plugin.videoroom.jcfg.in" > "$CONF_DIR/janus.plugin.videoroom.jcfg"
if [ -z "${JANUS_EVENT_LOOPS:-}" ] || [ "${JANUS_EVENT_LOOPS}" = "0" ]; then
    # No fixed loops: drop the line so Janus keeps one loop per handle.
    sed -i '/^\s*event_loops = /d' "$CONF_DIR/janus.jcfg"
fi

if [ "${JANUS_NO_SHIM:-0}" != "1" ]; then   # JANUS_NO_SHIM=1 only to show the problem
    export LD_PRELOAD="$SHIM${LD_PRELOAD:+:$LD_PRELOAD}"
    export LO_IFADDRS_ONLY=1
fi
JANUS_ARGS=(-C "$CONF_DIR/janus.jcfg" -F "$CONF_DIR" -o -D)

if [ "${JANUS_FOREGROUND:-0}" = "1" ]; then
    echo "JANUS_PID=$$"
    echo "JANUS_RUN_DIR=$RUN_DIR"
    exec janus "${JANUS_ARGS[@]}"
fi

# Background: own session so a Ctrl-C in the caller's terminal does not hit it.
setsid janus "${JANUS_ARGS[@]}" > "$LOG" 2>&1 < /dev/null &
PID=$!
echo "$PID" > "$RUN_DIR/janus.pid"

# Wait (bounded, ~10 s) until the HTTP API answers.
for _ in $(seq 1 100); do
    if ! kill -0 "$PID" 2>/dev/null; then
        echo "janus exited during start-up; log follows:" >&2
        tail -40 "$LOG" >&2
        exit 1
    fi
    if curl -sf -m 1 -X POST -d '{"janus":"info","transaction":"startup"}' \
        "http://127.0.0.1:$PORT_HTTP/janus" >/dev/null 2>&1; then
        break
    fi
    sleep 0.1
done
if ! curl -sf -m 1 -X POST -d '{"janus":"info","transaction":"startup"}' \
    "http://127.0.0.1:$PORT_HTTP/janus" >/dev/null 2>&1; then
    echo "janus did not answer on 127.0.0.1:$PORT_HTTP within 10 s; log: $LOG" >&2
    exit 1
fi
echo "JANUS_PID=$PID"
echo "JANUS_RUN_DIR=$RUN_DIR"
echo "JANUS_LOG=$LOG"
echo "JANUS_URL=http://127.0.0.1:$PORT_HTTP/janus"
echo "JANUS_ADMIN_URL=http://127.0.0.1:$PORT_ADMIN/admin"
