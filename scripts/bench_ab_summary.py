#!/usr/bin/env python3
"""Median and range per (backend, build) of the lines scripts/bench_ab.sh printed (stdin)."""
import statistics
import sys

rows = {}
for line in sys.stdin:
    parts = line.split()
    if len(parts) < 4:
        continue
    key = (parts[0], parts[2])
    rows.setdefault(key, []).append(parts[3:])
for (backend, which), runs in sorted(rows.items()):
    cols = []
    for i in range(max(len(r) for r in runs)):
        values = [float(r[i]) for r in runs if i < len(r) and r[i].replace(".", "", 1).isdigit()]
        if values:
            cols.append(f"{statistics.median(values):g} ({min(values):g}-{max(values):g})")
    print(backend, which, f"n={len(runs)}", " | ".join(cols))
