#!/usr/bin/env bash
# Compares two builds of the hub in one invocation: authorize-only rounds, alternating the old
# and the new build, on SQLite and PostgreSQL. Prints one line per run:
#   backend round old|new req/s p50_ms p99_ms
# Usage: scripts/bench_ab.sh OLD_BENCH NEW_BENCH [ROUNDS]
#   OLD_BENCH, NEW_BENCH: tokenhub-bench executables, each beside the tokenhub it starts
#   (e.g. build an older commit with `git worktree add` and `cargo build --release`).
# PostgreSQL: TOKENHUB_BENCH_PG (default postgres://postgres@127.0.0.1:5432/postgres).
set -u
old=$1 new=$2 rounds=${3:-5}
pg=${TOKENHUB_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}
common="--authorize-only --tokens 100000 --duration-secs 8"
for backend in sqlite postgres; do
  extra=""
  [ "$backend" = postgres ] && extra="--backend postgres --database-url $pg"
  for round in $(seq 1 "$rounds"); do
    for which in old new; do
      bin=$old
      [ "$which" = new ] && bin=$new
      out=$(timeout 180 "$bin" $common $extra 2>&1)
      rps=$(echo "$out" | grep -o '= [0-9]* req/s' | head -1 | grep -o '[0-9]*')
      lat=$(echo "$out" | grep 'latency ms' | head -1 | sed 's/.*p50 \([0-9.]*\).*p99 \([0-9.]*\).*/\1 \2/')
      echo "$backend $round $which $rps $lat"
    done
  done
done
