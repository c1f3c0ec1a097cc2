#!/usr/bin/env bash
# Instructions per authorize decision, by function: the hub under callgrind while
# `tokenhub-bench --authorize-only` drives it (instruction counts do not depend on the machine's
# load, unlike timings). The window measured is the middle of the phase: counters are zeroed
# after WARMUP seconds, dumped WINDOW seconds later; the hub stays up until the bench stops it.
# Usage: scripts/profile_callgrind.sh BIN_DIR [BACKEND] [TOKENS]
#   BIN_DIR: a release build's directory holding tokenhub and tokenhub-bench
#   (`cargo build --release -p tokenhub -p tokenhub-bench`); build with
#   CARGO_PROFILE_RELEASE_DEBUG=line-tables-only for function names with line info.
# Prints the top functions (exclusive and inclusive) and the number of decisions in the window.
# Bounded: the phase lasts 40 s, and the script stops only the processes it started (by PID).
set -eu
bin=$(cd "$1" && pwd) backend=${2:-sqlite} tokens=${3:-100000}
warmup=${WARMUP:-12} window=${WINDOW:-15}
out=$(mktemp -d /tmp/callgrind.XXXXXX)
wrapper=$out/tokenhub
cat > "$wrapper" <<WRAP
#!/bin/sh
echo \$\$ > $out/pid
exec valgrind --tool=callgrind --callgrind-out-file=$out/callgrind.out.%p $bin/tokenhub "\$@"
WRAP
chmod +x "$wrapper"
extra=""
[ "$backend" = postgres ] && extra="--backend postgres --database-url ${TOKENHUB_BENCH_PG:-postgres://postgres@127.0.0.1:5432/postgres}"
timeout 300 "$bin/tokenhub-bench" --authorize-only --tokens "$tokens" --duration-secs 40 \
  --connections 8 --hub-binary "$wrapper" $extra > "$out/bench.log" 2>&1 &
bench=$!
# Wait for the hub (under valgrind) to be started by the bench.
for _ in $(seq 1 600); do [ -s "$out/pid" ] && break; sleep 0.5; done
pid=$(cat "$out/pid")
# The phase starts once the hub listens; the seed comes before it.
for _ in $(seq 1 600); do grep -q "listening" "$out/bench.log" 2>/dev/null && break
  ss -ltnp 2>/dev/null | grep -q "pid=$pid," && break; sleep 0.5; done
sleep "$warmup"
callgrind_control -z "$pid" > /dev/null
sleep "$window"
callgrind_control -d "$pid" > /dev/null
wait "$bench" || true
dump=$(ls -t "$out"/callgrind.out.* | head -1)
echo "bench: $(grep -E 'req/s|latency' "$out/bench.log" | head -3 | tr '\n' ' ')"
echo "profile: $dump"
callgrind_annotate --threshold=99 "$dump" 2>/dev/null | head -60
