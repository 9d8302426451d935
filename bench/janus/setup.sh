#!/usr/bin/env bash
# Idempotent setup of the Janus peer baseline:
#   - installs Debian's `janus` package if it is missing,
#   - builds the getifaddrs LD_PRELOAD shim into bench/janus/build/,
#   - optionally (WITH_CLIENT=1) makes a Python venv with aiortc for check.py.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD="$HERE/build"
mkdir -p "$BUILD"

if ! command -v janus >/dev/null 2>&1; then
    # Try with the current lists first; refresh them once if that fails.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq janus >/dev/null 2>&1 || {
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq janus
    }
fi
# The package's systemd unit (if systemd runs at all) would start a Janus on
# the default ports with the /etc config; the benchmark never uses that one.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet janus 2>/dev/null; then
    systemctl stop janus || true
    systemctl disable janus >/dev/null 2>&1 || true
fi

SHIM="$BUILD/lo_ifaddrs.so"
if [ ! -f "$SHIM" ] || [ "$HERE/lo_ifaddrs.c" -nt "$SHIM" ]; then
    gcc -O2 -Wall -shared -fPIC -o "$SHIM" "$HERE/lo_ifaddrs.c" -ldl
fi

if [ "${WITH_CLIENT:-0}" = "1" ]; then
    VENV="${JANUS_BENCH_VENV:-/tmp/janus-bench-venv}"
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV"
    fi
    if ! "$VENV/bin/python" -c "import aiortc, aiohttp" 2>/dev/null; then
        "$VENV/bin/pip" install -q aiortc aiohttp
    fi
    echo "client venv: $VENV"
fi

echo "janus: $(command -v janus) ($(janus --version 2>/dev/null | head -1 || true))"
echo "shim:  $SHIM"
