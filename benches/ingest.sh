#!/usr/bin/env bash
# Ingest throughput benchmark (issue 3): `sample --raw` writes a raw org of
# about 1.5 GB of uncompressed JSON (2.5 M events, 1,500 people, 35 days:
# Kubernetes audit and CloudTrail gzipped, GCP audit and Falco plain), then
# each format is ingested into a fresh lake, REPS times, and the median MB/s
# of uncompressed JSON is printed per format and overall (gunzip included).
#
#   benches/ingest.sh [RAW_ORG_DIR] [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
org=${1:-${TMPDIR:-/tmp}/lakehound-raw-bench}
reps=${2:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/lakehound-target}
cargo build --release --locked --bin lakehound 2>&1 | tail -1
bin=$CARGO_TARGET_DIR/release/lakehound
if [ ! -d "$org/raw" ]; then
  "$bin" sample --raw --out "$org" --events 2500000 --users 1500 >/dev/null
fi
lake=$(mktemp -d)
trap 'rm -rf "$lake"' EXIT
json_bytes() { # uncompressed bytes under a folder
  find "$1" -type f -name '*.gz' -exec zcat {} + | wc -c | awk -v plain="$(find "$1" -type f ! -name '*.gz' -printf '%s\n' | awk '{s+=$1} END {print s+0}')" '{print $1 + plain}'
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
formats=(k8s-audit cloudtrail gcp-audit falco)
declare -A bytes times
total_bytes=0
for format in "${formats[@]}"; do
  bytes[$format]=$(json_bytes "$org/raw/$format")
  total_bytes=$((total_bytes + bytes[$format]))
done
# Repetitions outside, formats inside: the host's speed drifts over minutes,
# and this way every format's median samples the same stretches of it.
total_times=()
for rep in $(seq "$reps"); do
  total=0
  for format in "${formats[@]}"; do
    rm -rf "$lake"/*
    [ "$format" = falco ] && "$bin" ingest --format k8s-audit --input "$org/raw/k8s-audit" --lake "$lake" --cluster-id prod-eu-1 >/dev/null
    start=$(date +%s.%N)
    /usr/bin/time -f '%M' -o "$lake.rss" "$bin" ingest --format "$format" --input "$org/raw/$format" --lake "$lake" --cluster-id prod-eu-1 >/dev/null
    end=$(date +%s.%N)
    t=$(awk "BEGIN {print $end - $start}")
    times[$format]="${times[$format]:-} $t"
    total=$(awk "BEGIN {print $total + $t}")
    echo "$format rep $rep: $t s, peak RSS $(( $(cat "$lake.rss") / 1024 )) MiB"
  done
  total_times+=("$total")
done
for format in "${formats[@]}"; do
  # shellcheck disable=SC2086 # the times are a list of words
  m=$(median ${times[$format]})
  echo "$format: $(awk "BEGIN {printf \"%.0f\", ${bytes[$format]} / 1e6}") MB of JSON, median $m s, $(awk "BEGIN {printf \"%.0f\", ${bytes[$format]} / 1e6 / $m}") MB/s"
done
m=$(median "${total_times[@]}")
echo "all formats: $(awk "BEGIN {printf \"%.0f\", $total_bytes / 1e6}") MB of JSON, median $m s, $(awk "BEGIN {printf \"%.0f\", $total_bytes / 1e6 / $m}") MB/s"
rm -f "$lake.rss"
