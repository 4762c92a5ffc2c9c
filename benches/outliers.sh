#!/usr/bin/env bash
# `lakehound outliers` as a whole process (read the table, fit, score, rank,
# explain the 1,000 strangest, write) against scikit-learn's in-process fit
# and score alone, on the ADBench http and cover sets, alternating, REPS
# times each. Prints the medians and their ratio.
#
#   LAKEHOUND_BIN=target/release/lakehound benches/outliers.sh [REPS]
#
# Needs ../shared/datasets/adbench and a venv with numpy, polars and
# scikit-learn (LAKEHOUND_BENCH_VENV, default ~/.cache/lakehound-bench-venv;
# benches/requirements.txt plus `pip install scikit-learn`).
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
bin=${LAKEHOUND_BIN:?set LAKEHOUND_BIN to a release lakehound binary}
py=${LAKEHOUND_BENCH_VENV:-$HOME/.cache/lakehound-bench-venv}/bin/python
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
for set in http cover; do
  npz=$(ls ../shared/datasets/adbench/*_"$set".npz)
  "$py" benches/outliers.py table "$npz" "$work/$set.parquet"
  features=$("$py" -c "import polars as pl; print(','.join(c for c in pl.read_parquet_schema('$work/$set.parquet') if c != 'id'))")
  ours=(); theirs=()
  for i in $(seq "$reps"); do
    s=$( { /usr/bin/time -f '%e' "$bin" outliers --input "$work/$set.parquet" --features "$features" \
          --id-cols id --out "$work/$set-scores.parquet" >/dev/null; } 2>&1 | tail -1)
    ours+=("$s")
    theirs+=("$("$py" benches/outliers.py sklearn "$npz" "$i")")
  done
  mo=$(median "${ours[@]}"); mt=$(median "${theirs[@]}")
  echo "$set: lakehound outliers (whole process) median $mo s, scikit-learn fit+score median $mt s, $(awk "BEGIN {printf \"%.1f\", $mt / $mo}")x"
done
