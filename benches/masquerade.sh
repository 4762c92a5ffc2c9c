#!/usr/bin/env bash
# lakehound against a per-block naive Bayes classifier on SEA-like
# masquerade data (the Schonlau command-history set, which cannot be
# downloaded here; benches/masquerade.py says what it mimics and how).
#
# Why: an issue reports that on the real SEA set lakehound flagged 22% of
# the masquerade hours at 15.7% false alarms, where a simple per-block
# classifier over command frequencies (Maxion & Townsend 2002) does several
# times better. This measures both on the same blocks: one block of 100
# commands is one hour of a user's shell events; lakehound's score of an
# hour comes from scores.parquet (no row = 0), NB's from its log-likelihood
# ratio; both as ROC AUC and the share of masquerade blocks found at 1% and
# 5% false alarms over the pooled clean test blocks.
#
#   benches/masquerade.sh [SEEDS] [LAYOUTS] [PRESETS]
#
# Defaults: SEEDS "1 2 3", LAYOUTS "continuous workday" (150 consecutive
# hours, or 10 working hours a weekday), PRESETS "brief sea" (the
# generator's parameters as first specified, where NB is near perfect, and
# a harder set calibrated to NB's published SEA operating point).
# Environment:
#   LAKEHOUND_BIN   binary to run (default ~/.cache/lakehound-target/debug/lakehound)
#   LAKEHOUND_PY    Python with numpy, pandas and pyarrow (default
#                   ~/.cache/lakehound-py/bin/python, which .ci/run creates)
#   MASQ_DIR        lakes, outputs and logs (default /tmp/masq); a lake is
#                   reused when its sea.json exists
#   LAKEHOUND_RUN_ARGS  extra `run` arguments, e.g. "--models DIR" to measure
#                   a detector's part by leaving its model file out
#   MASQ_TAG        suffix for the outputs' names, so runs with other
#                   LAKEHOUND_RUN_ARGS reuse the lakes without overwriting
# Each run's full comparison (top detectors on masquerade and clean hours,
# findings on masquerades, run.json's calibration) is in
# MASQ_DIR/<lake><tag>.json, lakehound's stderr in <lake><tag>.run.log and
# `lakehound eval` in <lake><tag>.eval.txt.
set -euo pipefail
here=$PWD
cd "$(dirname "$0")/.."
seeds=${1:-1 2 3}
layouts=${2:-continuous workday}
presets=${3:-brief sea}
bin=${LAKEHOUND_BIN:-$HOME/.cache/lakehound-target/debug/lakehound}
case $bin in /*) ;; *) bin=$here/$bin ;; esac
py=${LAKEHOUND_PY:-$HOME/.cache/lakehound-py/bin/python}
root=${MASQ_DIR:-/tmp/masq}
[ -x "$bin" ] || { echo "no lakehound binary at $bin (set LAKEHOUND_BIN)" >&2; exit 2; }
"$py" -c 'import numpy, pandas, pyarrow' || { echo "$py lacks numpy/pandas/pyarrow (set LAKEHOUND_PY)" >&2; exit 2; }
mkdir -p "$root"

start=$(date +%s)
results=()
for preset in $presets; do
  for seed in $seeds; do
    for layout in $layouts; do
      name=sea-$preset-$seed-$layout
      lake=$root/$name
      tag=${MASQ_TAG:-}
      out=$root/$name-out$tag
      if [ ! -f "$lake/sea.json" ]; then
        rm -rf "$lake"
        "$py" benches/masquerade.py gen --seed "$seed" --layout "$layout" --preset "$preset" \
          --out "$lake" >/dev/null
      fi
      # shellcheck disable=SC2046  # sea.json's run arguments, split on purpose
      args=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["args"])' "$lake/sea.json")
      rm -rf "$out"
      rc=0
      # shellcheck disable=SC2086
      "$bin" run --lake "$lake" $args --out "$out" --show 0 ${LAKEHOUND_RUN_ARGS:-} \
        >/dev/null 2>"$root/$name$tag.run.log" || rc=$?
      if [ "$rc" -gt 1 ]; then
        echo "$name: lakehound run exited $rc; see $root/$name$tag.run.log" >&2
        continue
      fi
      warnings=$(grep -c WARN "$root/$name$tag.run.log" || true)
      [ "$rc" -eq 1 ] && echo "$name: lakehound run exited 1 (problems in run.json)" >&2
      "$bin" eval --lake "$lake" --findings "$out" >"$root/$name$tag.eval.txt" 2>&1 || true
      "$py" benches/masquerade.py eval --lake "$lake" --findings "$out" --json "$root/$name$tag.json"
      echo "$name: run $args, exit $rc, $warnings warning(s)" >&2
      results+=("$root/$name$tag.json")
    done
  done
done
echo "${LAKEHOUND_RUN_ARGS:+run arguments: $LAKEHOUND_RUN_ARGS}"
"$py" benches/masquerade.py table "${results[@]}"
echo "($(( $(date +%s) - start )) s)"
