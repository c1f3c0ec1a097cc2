#!/usr/bin/env bash
# Where the hub's CPU goes under `tokenhub-bench --authorize-only`: perf samples (cpu-clock, works
# in VMs without hardware counters) of the hub process for WINDOW seconds in the middle of the
# phase, reported by symbol (children excluded, so each line is that function's own time).
# Usage: scripts/profile_perf.sh BIN_DIR [BACKEND] [TOKENS] [OUT]
# Bounded: the phase lasts 25 s; only the processes started here are waited for.
set -eu
bin=$(cd "$1" && pwd) backend=${2:-sqlite} tokens=${3:-100000} out=${4:-/tmp/hub-perf.data}
window=${WINDOW:-8}
extra=""
[ "$backend" = postgres ] && extra="--backend postgres --database-url ${TOKENHUB_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}"
log=$(mktemp /tmp/perf-bench.XXXXXX)
timeout 600 "$bin/tokenhub-bench" --authorize-only --tokens "$tokens" --duration-secs 25 $extra > "$log" 2>&1 &
bench=$!
hub=""
# `timeout` runs the bench, which runs the hub: the hub is the bench's child.
for _ in $(seq 1 1200); do
  for b in $(pgrep -P "$bench" || true); do hub=$(pgrep -P "$b" -x tokenhub || true); done
  [ -n "$hub" ] && break; sleep 0.5
done
[ -n "$hub" ] || { echo "no hub started"; cat "$log"; exit 1; }
sleep 8
perf record -e cpu-clock -F 999 -g -p "$hub" -o "$out" -- sleep "$window" > /dev/null 2>&1
wait "$bench" || true
grep -E 'req/s|latency' "$log" | head -2
perf report -i "$out" --no-children --sort dso,symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -${TOP:-45}
