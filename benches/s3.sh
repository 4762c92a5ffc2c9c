#!/usr/bin/env bash
# S3 against local (issue 13): `lakehound run` on a benchmark lake read from
# a loopback S3-compatible server (s3s-fs) beside the same run on the local
# folder, alternating, REPS times each, 7-day window against a 28-day
# baseline (2026-10-05..2026-11-08). Prints medians, their ratio, peak RSS,
# and what the S3 runs fetched (requests, objects, bytes) against the
# lake's total.
#
#   benches/s3.sh [LAKES] [REPS]
#
# LAKES: the names of benches/run.sh (groups, nogroups, users100k, all), whose
# lakes must exist (benches/run.sh generates them). Each lake is uploaded with
# boto3 (PUTs, so the server stores each object's ETag: s3s-fs computes the
# MD5 of a whole object on every read of one it did not receive by PUT). The
# server runs on the same two cores as lakehound: its CPU counts against the
# S3 run.
#
# Environment: LAKEHOUND_BIN (default: a release build in
# ~/.cache/lakehound-lto), LAKEHOUND_LAKES (as benches/run.sh), S3S_FS (the
# server binary; default ~/.cache/lakehound-s3s/bin/s3s-fs, installed by
# .ci/run).
set -euo pipefail
here=$PWD
cd "$(dirname "$0")/.."
lakes_arg=${1:-all}
reps=${2:-3}
[ "$lakes_arg" = all ] && lakes_arg=groups,nogroups,users100k
lake_root=${LAKEHOUND_LAKES:-${TMPDIR:-/tmp}}
bin=${LAKEHOUND_BIN:-$HOME/.cache/lakehound-lto/release/lakehound}
[[ $bin == /* ]] || bin=$here/$bin
s3s=${S3S_FS:-$HOME/.cache/lakehound-s3s/bin/s3s-fs}
py=${LAKEHOUND_BENCH_VENV:-$HOME/.cache/lakehound-bench-venv}/bin/python
"$py" -c "import boto3" 2>/dev/null || { echo "no boto3 in $py: pip install -r benches/requirements.txt" >&2; exit 2; }
from=2026-11-02 last=2026-11-08 first=2026-10-05

work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/root/bench" "$work/out"
"$s3s" --host 127.0.0.1 --port "$port" --access-key bench --secret-key bench-secret \
  "$work/root" >"$work/s3s.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=bench \
  AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true

lake_dir() {
  case $1 in
    groups) echo "$lake_root/lakehound-bench-lake" ;;
    *) echo "$lake_root/lakehound-bench-lake-$1" ;;
  esac
}
measure() { # prints "seconds max_rss_kb"
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/stdout" 2>"$work/stderr" || {
    echo "failed: $*" >&2; tail -3 "$work/stderr" >&2; return 1; }
  cat "$work/time"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

IFS=, read -r -a lakes <<<"$lakes_arg"
summary=()
for name in "${lakes[@]}"; do
  lake=$(lake_dir "$name")
  [ -f "$lake/sample.json" ] || { echo "no $name lake at $lake: run benches/run.sh $name first" >&2; exit 2; }
  t0=$SECONDS
  "$py" benches/upload.py "$lake/events" bench "$name/events"
  echo "uploaded in $((SECONDS - t0)) s"
  read -r objects bytes in_objects in_bytes < <(python3 - "$lake" "$first" "$last" <<'EOF'
import os, sys
lake, first, last = sys.argv[1:]
total = [0, 0, 0, 0]
for day in os.listdir(os.path.join(lake, "events")):
    d = day.removeprefix("dt=")
    for f in os.listdir(os.path.join(lake, "events", day)):
        size = os.path.getsize(os.path.join(lake, "events", day, f))
        total[0] += 1; total[1] += size
        if first <= d <= last:
            total[2] += 1; total[3] += size
print(*total)
EOF
)
  echo "== $name: $objects event objects, $((bytes / 1048576)) MiB ($in_objects objects, $((in_bytes / 1048576)) MiB in the run's 35 days)"
  local_s=(); s3_s=(); local_rss=(); s3_rss=()
  for i in $(seq "$reps"); do
    read -r s rss < <(measure "$bin" run --lake "$lake" --from "$from" --to "$last" --out "$work/out/local")
    local_s+=("$s"); local_rss+=("$rss")
    read -r s rss < <(measure "$bin" run --lake "s3://bench/$name" --from "$from" --to "$last" --out "s3://bench/out-$name")
    s3_s+=("$s"); s3_rss+=("$rss")
    echo "rep $i: local ${local_s[-1]} s ($((local_rss[-1] / 1024)) MiB), S3 ${s3_s[-1]} s ($((s3_rss[-1] / 1024)) MiB)"
  done
  usage=$(python3 - "$work/root/bench/out-$name" <<'EOF'
import json, glob, os, sys
runs = sorted(glob.glob(os.path.join(sys.argv[1], "window=*", "runs", "*", "run.json")), key=os.path.getmtime)
u = json.load(open(runs[-1]))["s3"]
print(f"{u['requests']} requests ({u['lists']} listings, {u['gets']} range reads, {u['retries']} retries), "
      f"{u['bytes_fetched'] / 1048576:.1f} MiB fetched")
EOF
)
  ml=$(median "${local_s[@]}"); ms=$(median "${s3_s[@]}")
  line="$name: median local ${ml} s, S3 ${ms} s, ratio $(awk "BEGIN {printf \"%.2f\", $ms / $ml}"), peak RSS local $(( $(median "${local_rss[@]}") / 1024 )) MiB, S3 $(( $(median "${s3_rss[@]}") / 1024 )) MiB; S3 run: $usage of $((in_bytes / 1048576)) MiB in range ($in_objects objects)"
  echo "$line"
  summary+=("$line")
done
echo "== summary ($reps reps, $bin)"
printf '%s\n' "${summary[@]}"
