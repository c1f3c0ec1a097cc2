#!/usr/bin/env bash
# Compares two builds of the hub in one invocation, alternating the old and the new build round
# by round, on SQLite and PostgreSQL. Prints one line per run:
#   backend round old|new authorize_req/s p50_ms p99_ms [put_req/s list_first_ms list_deep_ms] hub_cores
# Usage: scripts/bench_ab.sh OLD_BENCH NEW_BENCH [ROUNDS]
#   OLD_BENCH, NEW_BENCH: tokenhub-bench executables, each beside the tokenhub it starts
#   (e.g. build an older commit with `git worktree add` and `cargo build --release`).
# Environment: TOKENS (100000), SECS (8, per phase), BACKENDS ("sqlite postgres"),
#   FULL=1 for the full run (authorize, PUT of new tokens, list pages) instead of authorize only,
#   TOKENHUB_BENCH_PG (default postgres://postgres@127.0.0.1:5432/postgres).
# Each run is bounded by `timeout`; the median and spread per column are for the reader (or
# `scripts/bench_ab_summary.py`).
set -u
old=$1 new=$2 rounds=${3:-5}
pg=${TOKENHUB_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}
tokens=${TOKENS:-100000} secs=${SECS:-8}
common="--tokens $tokens --duration-secs $secs"
[ "${FULL:-0}" = 1 ] || common="--authorize-only $common"
for backend in ${BACKENDS:-sqlite postgres}; do
  extra=""
  [ "$backend" = postgres ] && extra="--backend postgres --database-url $pg"
  for round in $(seq 1 "$rounds"); do
    for which in old new; do
      bin=$old
      [ "$which" = new ] && bin=$new
      out=$(timeout 900 "$bin" $common $extra 2>&1)
      rps=$(echo "$out" | grep -o '= [0-9]* req/s' | head -1 | grep -o '[0-9]*')
      lat=$(echo "$out" | grep 'latency ms' | head -1 | sed 's/.*p50 \([0-9.]*\).*p99 \([0-9.]*\).*/\1 \2/')
      cpu=$(echo "$out" | grep 'CPU: hub' | head -1 | sed 's/.*hub \([0-9.]*\) cores.*/\1/')
      full=""
      if [ "${FULL:-0}" = 1 ]; then
        put=$(echo "$out" | grep -o '= [0-9]* req/s' | sed -n 2p | grep -o '[0-9]*')
        first=$(echo "$out" | grep 'offset 0 ' | head -1 | sed 's/.*median \([0-9.]*\) ms.*/\1/')
        deep=$(echo "$out" | grep -E 'offset [1-9][0-9]* ' | head -1 | sed 's/.*median \([0-9.]*\) ms.*/\1/')
        full=" $put $first $deep"
      fi
      echo "$backend $round $which $rps $lat$full $cpu"
    done
  done
done
