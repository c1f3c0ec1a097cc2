#!/usr/bin/env bash
# Where PostgreSQL's time goes during the authorize phase: per-statement figures from
# pg_stat_statements and a system-wide perf profile, both over 12 s in the middle of a 30 s
# `tokenhub-bench --authorize-only --backend postgres` run.
# Usage: scripts/profile_pg.sh BIN_DIR TOKENS OUT
#   BIN_DIR: the directory of a release tokenhub-bench (beside its tokenhub); writes OUT.txt (the
#   bench's report), OUT.stmts (top statements) and OUT.perf (`perf report -i OUT.perf`).
# Needs pg_stat_statements loaded (`ALTER SYSTEM SET shared_preload_libraries =
# 'pg_stat_statements'`, restart, `CREATE EXTENSION pg_stat_statements` in the admin database) and
# perf. Stops only the bench it started.
set -euo pipefail
bin=$1 tokens=$2 out=$3
admin=${TOKENHUB_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}
psql "$admin" -qc "select pg_stat_statements_reset()" >/dev/null || {
  echo "pg_stat_statements is not available in $admin (see the header of $0)" >&2
  exit 1
}
"$bin/tokenhub-bench" --backend postgres --database-url "$admin" --authorize-only \
  --tokens "$tokens" --duration-secs 30 >"$out.txt" 2>&1 &
bench=$!
for _ in $(seq 1 600); do
  grep -q "RSS after start" "$out.txt" && break
  sleep 0.5
done
sleep 8
psql "$admin" -qc "select pg_stat_statements_reset()" >/dev/null
perf record -F 499 -a -g -o "$out.perf" -- sleep 12 >/dev/null 2>&1
psql "$admin" -c "select calls, round(total_exec_time::numeric, 1) as exec_ms,
  round((total_exec_time / calls * 1000)::numeric, 1) as us_per_call, wal_records,
  left(regexp_replace(query, '\s+', ' ', 'g'), 110) as query
  from pg_stat_statements order by total_exec_time desc limit 14" >"$out.stmts"
wait "$bench"
