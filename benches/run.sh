#!/usr/bin/env bash
# Speed benchmark for `lakehound run` (issue 2): 20 M events, 5,000 users,
# 35 days; score the last 7 days against a 28-day baseline, beside the bare
# Polars floor (scan + group-by count of the same partitions), alternating,
# REPS times each. Prints medians, the ratio and peak RSS.
#
#   benches/run.sh [LAKE_DIR] [REPS]
#
# The first call builds release binaries (about 20 min on a clean 2-core
# machine) and generates the lake (about 2 GB under LAKE_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
lake=${1:-${TMPDIR:-/tmp}/lakehound-bench-lake}
reps=${2:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/lakehound-target}
cargo build --release --locked --bin lakehound --bench floor 2>&1 | tail -1
bin=$CARGO_TARGET_DIR/release/lakehound
floor=$(ls -t "$CARGO_TARGET_DIR"/release/deps/floor-* | grep -v '\.d$' | head -1)

if [ ! -f "$lake/sample.json" ]; then
  "$bin" sample --out "$lake" --users 5000 --days 35 --events 20000000 --seed 1 --end 2026-11-08
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

measure() { # prints "seconds max_rss_kb"
  /usr/bin/time -f '%e %M' -o "$out/time" "$@" >"$out/stdout" 2>"$out/stderr" || {
    cat "$out/stderr" >&2; return 1; }
  cat "$out/time"
}
floor_s=(); run_s=(); run_rss=()
for i in $(seq "$reps"); do
  read -r s _ < <(measure "$floor" "$lake" 2026-10-05 2026-11-08)
  floor_s+=("$s")
  read -r s rss < <(measure "$bin" run --lake "$lake" --from 2026-11-02 --to 2026-11-08 --out "$out/findings")
  run_s+=("$s"); run_rss+=("$rss")
  echo "rep $i: floor ${floor_s[-1]} s, run ${run_s[-1]} s, run peak RSS $((rss / 1024)) MiB"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mf=$(median "${floor_s[@]}"); mr=$(median "${run_s[@]}"); mrss=$(median "${run_rss[@]}")
echo "events: $(python3 -c "import json;print(json.load(open('$lake/sample.json'))['summary']['events'])" 2>/dev/null || echo '?')"
echo "median floor ${mf} s, median run ${mr} s, ratio $(awk "BEGIN {printf \"%.2f\", $mr / $mf}"), median peak RSS $((mrss / 1024)) MiB"
