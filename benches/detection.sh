#!/usr/bin/env bash
# Detection quality over fresh seeds (issue 12), as the scheduled job runs it:
# for every seed, a sample lake (`lakehound sample --seed S`, 150 people, 35
# days) with its groups and a copy without them (benches/lakes.py strip), each
# scored once weekly (--from Monday --to Sunday) and as seven daily runs whose
# findings `eval` pools by score. Prints, per seed and mode, average precision,
# recall in the top 20, benign look-alikes in the top 10, the median finding
# span over attack span, and per bucket (scores.parquet) the ROC AUC and the
# share of attack buckets found at 1% false alarms; then means and the worst AP.
#
#   benches/detection.sh [FIRST_SEED] [LAST_SEED] [VARIANTS]
#
# Defaults: seeds 101..110 (never the seeds the detectors were tuned on, 1..7),
# VARIANTS "groups nogroups". Lakes and outputs go under $LAKEHOUND_DET
# (default ${TMPDIR:-/tmp}/lakehound-det); a lake is reused when its
# sample.json exists. LAKEHOUND_BIN as in benches/run.sh (default: build
# release). LAKEHOUND_BENCH_VENV: Python venv with pyarrow for the stripped
# copies (default ~/.cache/lakehound-bench-venv). LAKEHOUND_RUN_ARGS: extra
# `run` arguments, e.g. "--models DIR" to measure a detector's effect by
# leaving its model file out. LAKEHOUND_SAMPLE_ARGS: extra `sample` arguments,
# e.g. "--attacks randomised" for the second attack library (give it its own
# LAKEHOUND_DET: lakes are reused by seed).
set -euo pipefail
here=$PWD
cd "$(dirname "$0")/.."
first_seed=${1:-101}
last_seed=${2:-110}
variants=${3:-groups nogroups}
root=${LAKEHOUND_DET:-${TMPDIR:-/tmp}/lakehound-det}
venv=${LAKEHOUND_BENCH_VENV:-$HOME/.cache/lakehound-bench-venv}
from=2026-11-02
days=(2026-11-02 2026-11-03 2026-11-04 2026-11-05 2026-11-06 2026-11-07 2026-11-08)

if [ -n "${LAKEHOUND_BIN:-}" ]; then
  case $LAKEHOUND_BIN in /*) bin=$LAKEHOUND_BIN ;; *) bin=$here/$LAKEHOUND_BIN ;; esac
else
  cargo build --release --locked --quiet
  bin=${CARGO_TARGET_DIR:-target}/release/lakehound
fi
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet -r benches/requirements.txt
fi
mkdir -p "$root"

lake_for() {  # seed variant -> lake dir, generated on first use
  local seed=$1 variant=$2 base=$root/lake-$1
  if [ ! -f "$base/sample.json" ]; then
    rm -rf "$base"
    # shellcheck disable=SC2086
    "$bin" sample --seed "$seed" --out "$base" ${LAKEHOUND_SAMPLE_ARGS:-} >/dev/null 2>&1
  fi
  if [ "$variant" = groups ]; then echo "$base"; return; fi
  if [ ! -f "$base-nogroups/sample.json" ]; then
    rm -rf "$base-nogroups"
    "$venv/bin/python" benches/lakes.py strip "$base" "$base-nogroups" >/dev/null 2>&1
  fi
  echo "$base-nogroups"
}

measure() {  # lake out -> "ap recall20 benign span auc hits@1%"
  "$bin" eval --labels "$1/labels.csv" --findings "$2" | awk '
    /average precision/ { ap = $NF }
    /^recall@20:/ { r = $2 }
    /benign look-alikes/ { b = $NF }
    /median finding span/ { s = $NF }
    /^per bucket:/ { for (i = 1; i <= NF; i++) { if ($i == "AUC") auc = $(i + 1); if ($i == "1%") h = $(i + 3) }
                     sub(",", "", auc); sub(",", "", h) }
    END { printf "%s %s %s %s %s %s\n", ap, r, b, (s == "" ? "nan" : s), auc, h }'
}

results=$root/results.txt
: >"$results"
printf '%-6s %-9s %-7s %6s %9s %11s %6s %7s %9s\n' seed variant mode AP recall@20 benign@10 span AUC hits@1%
for seed in $(seq "$first_seed" "$last_seed"); do
  for variant in $variants; do
    lake=$(lake_for "$seed" "$variant")
    out=$root/out-$seed-$variant
    rm -rf "$out"
    # shellcheck disable=SC2086  # extra arguments split on purpose
    "$bin" run --lake "$lake" --from "$from" --to "${days[6]}" --out "$out/weekly" ${LAKEHOUND_RUN_ARGS:-} >/dev/null 2>&1 || true
    for d in "${days[@]}"; do
      # shellcheck disable=SC2086
      "$bin" run --lake "$lake" --from "$d" --to "$d" --out "$out/daily" ${LAKEHOUND_RUN_ARGS:-} >/dev/null 2>&1 || true
    done
    for mode in weekly daily; do
      read -r ap r b s auc h < <(measure "$lake" "$out/$mode")
      printf '%-6s %-9s %-7s %6s %9s %11s %6s %7s %9s\n' "$seed" "$variant" "$mode" "$ap" "$r" "$b" "$s" "$auc" "$h"
      echo "$variant $mode $ap $r $b $s $auc $h" >>"$results"
    done
  done
done
echo
awk '{ k = $1 " " $2; n[k]++; ap[k] += $3; if (!(k in w) || $3 < w[k]) w[k] = $3
       if ($4 < 1) miss[k]++; if ($5 > 1) ben[k]++; span[k] += $6; auc[k] += $7; hit[k] += $8 }
     END { printf "%-17s %8s %8s %14s %16s %10s %9s %9s\n", "variant mode", "mean AP", "worst", "seeds missing", "seeds >1 benign", "mean span", "mean AUC", "hits@1%"
           for (k in n) printf "%-17s %8.3f %8.3f %14d %16d %10.1f %9.3f %9.3f\n", k, ap[k]/n[k], w[k], miss[k], ben[k], span[k]/n[k], auc[k]/n[k], hit[k]/n[k] }' "$results" | sort
