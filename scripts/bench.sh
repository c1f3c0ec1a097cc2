#!/usr/bin/env sh
# Builds the hub and the benchmark, then runs the benchmark (arguments are passed through).
#   scripts/bench.sh --backend sqlite
#   scripts/bench.sh --backend postgres --database-url postgres://postgres@127.0.0.1:5432/postgres
#   scripts/bench.sh --forward --tokens 100000 --duration-secs 4 --rounds 5
#     (forwarding: latency the hub adds to a forwarded authorize, local throughput beside a dead eMSP)
# `cargo run -p tokenhub-bench` alone does not (re)build the `tokenhub` binary the benchmark
# starts, hence the explicit build of both.
set -eu
cd "$(dirname "$0")/.."
cargo build --release -p tokenhub -p tokenhub-bench --bins
exec ./target/release/tokenhub-bench "$@"
