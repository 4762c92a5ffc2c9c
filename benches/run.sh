#!/usr/bin/env bash
# Speed benchmark for `lakehound run` (issues 2 and 11): score the last 7 days
# of a 35-day lake (2026-10-05..2026-11-08) against a 28-day baseline, beside
# the Polars floor (benches/floor.py: one lazy Python Polars scan of the same
# partitions and columns building, in one query run, events per (user,
# action, hour) and distinct target/namespace/src_ip/user_agent per (user,
# day)), alternating, REPS times each. Prints medians, their ratio and the
# peak RSS of `run`.
#
#   benches/run.sh [LAKES] [REPS]
#
# LAKES is a comma-separated list of lake names or directories (default all):
#   groups     20 M events, 5,000 users, with groups and identities.csv
#              (`lakehound sample --users 5000 --events 20000000 --seed 1`)
#   nogroups   the same lake without group context: `groups` dropped from
#              every file, no identities.csv (benches/lakes.py strip)
#   users100k  20 M events, 100,000 users, no groups: `lakehound sample
#              --users 100000` (users100k-groups, also a name here) stripped
#              like nogroups
#   events100m 100 M events, 5,000 users, with groups (`sample --events
#              100000000`)
#   all        groups,nogroups,users100k      growth  all four
#   DIR        an existing lake (its events/ must cover 2026-10-05..2026-11-08)
# Named lakes live under $LAKEHOUND_LAKES (default ${TMPDIR:-/tmp}) as
# lakehound-bench-lake[-nogroups|-users100k|-users100k-groups|-events100m]
# and are generated on first use (on the 2-core machine: 1.5-2 min, 1.2-2.1
# GB of memory and about 250 MB of disk for each 20 M-event lake, 15 s for a
# stripped copy; 8.5 min, 5.4 GB and 1.3 GB for events100m); a lake is
# complete when its sample.json exists.
#
# Environment:
#   LAKEHOUND_BIN  prebuilt lakehound binary to time; without it the script
#                  builds one (cargo build --release, 12-20 min on a clean
#                  2-core machine).
#   MEM_LIMIT      address-space cap (bytes, prlimit --as) for every timed
#                  process and the generators; default 16000000000 so a run
#                  that outgrows the machine fails instead of taking it down.
#                  A failed run is reported and the next lake is measured.
#   LAKEHOUND_BENCH_VENV  Python venv (default ~/.cache/lakehound-bench-venv),
#                  created from benches/requirements.txt when missing.
set -euo pipefail
here=$PWD  # relative DIRs and LAKEHOUND_BIN are taken from where it was called
cd "$(dirname "$0")/.."
lakes_arg=${1:-all}
reps=${2:-3}
lake_root=${LAKEHOUND_LAKES:-${TMPDIR:-/tmp}}
mem_limit=${MEM_LIMIT:-16000000000}
first=2026-10-05 last=2026-11-08 from=2026-11-02

if [ -n "${LAKEHOUND_BIN:-}" ]; then
  bin=$LAKEHOUND_BIN
  [[ $bin == /* ]] || bin=$here/$bin
else
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/lakehound-target}
  cargo build --release --locked --bin lakehound 2>&1 | tail -1
  bin=$CARGO_TARGET_DIR/release/lakehound
fi
[ -x "$bin" ] || { echo "no lakehound binary at $bin" >&2; exit 2; }

venv=${LAKEHOUND_BENCH_VENV:-$HOME/.cache/lakehound-bench-venv}
py=$venv/bin/python
want_polars=$(sed -n 's/^polars==//p' benches/requirements.txt)
if ! "$py" -c "import polars, pyarrow, sys; sys.exit(polars.__version__ != '$want_polars')" 2>/dev/null; then
  echo "setting up $venv from benches/requirements.txt" >&2
  [ -x "$py" ] || python3 -m venv "$venv"
  "$py" -m pip install --quiet -r benches/requirements.txt
fi

capped() { prlimit --as="$mem_limit" -- "$@"; }

lake_dir() {
  case $1 in
    groups) echo "$lake_root/lakehound-bench-lake" ;;
    nogroups|users100k|users100k-groups|events100m) echo "$lake_root/lakehound-bench-lake-$1" ;;
    /*) echo "$1" ;;
    *) echo "$here/$1" ;;
  esac
}

# Generates a named lake if its sample.json is missing; prints how long it took.
ensure_lake() {
  local name=$1 dir
  dir=$(lake_dir "$name")
  [ -f "$dir/sample.json" ] && return 0
  local t0=$SECONDS
  case $name in
    groups)
      capped "$bin" sample --out "$dir" --users 5000 --days 35 --events 20000000 \
        --seed 1 --end "$last" >/dev/null || return 1 ;;
    nogroups)
      ensure_lake groups || return 1
      capped "$py" benches/lakes.py strip "$(lake_dir groups)" "$dir" 2>/dev/null || return 1 ;;
    users100k-groups)
      capped "$bin" sample --out "$dir" --users 100000 --days 35 --events 20000000 \
        --seed 1 --end "$last" >/dev/null || return 1 ;;
    users100k)
      ensure_lake users100k-groups || return 1
      capped "$py" benches/lakes.py strip "$(lake_dir users100k-groups)" "$dir" 2>/dev/null || return 1 ;;
    events100m)
      capped "$bin" sample --out "$dir" --users 5000 --days 35 --events 100000000 \
        --seed 1 --end "$last" >/dev/null || return 1 ;;
    *) echo "$dir is not a lake (no sample.json) and not a lake name" >&2; return 1 ;;
  esac
  echo "generated $name lake in $dir in $((SECONDS - t0)) s ($(du -sh "$dir" | cut -f1))" >&2
}

case $lakes_arg in
  all) lakes_arg=groups,nogroups,users100k ;;
  growth) lakes_arg=groups,nogroups,users100k,events100m ;;
esac
IFS=, read -r -a lakes <<<"$lakes_arg"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

measure() { # prints "seconds max_rss_kb"; nonzero exit if the command failed
  local rc=0
  /usr/bin/time -f '%e %M' -o "$out/time" prlimit --as="$mem_limit" -- "$@" \
    >"$out/stdout" 2>"$out/stderr" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "  failed (exit $rc, $(tail -1 "$out/time")): $* ; stderr tail:" >&2
    tail -3 "$out/stderr" | sed 's/^/    /' >&2
    return "$rc"
  fi
  cat "$out/time"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
summary=()
for name in "${lakes[@]}"; do
  if ! ensure_lake "$name"; then
    summary+=("$name: could not generate the lake"); continue
  fi
  lake=$(lake_dir "$name")
  info=$("$py" -c "import json; s=json.load(open('$lake/sample.json')).get('summary', {}); print(s.get('events', '?'), s.get('identities', '?'))" 2>/dev/null || echo '? ?')
  echo "== $name: $lake ($info events/identities; groups: $("$py" -c "import pyarrow.parquet as pq, glob; print('groups' in pq.read_schema(sorted(glob.glob('$lake/events/dt=$last/*.parquet'))[0]).names)"))"
  floor_s=(); floor_rss=(); run_s=(); run_rss=(); failed=
  for i in $(seq "$reps"); do
    if ! res=$(measure "$py" benches/floor.py "$lake" "$first" "$last"); then
      failed="floor failed"; break
    fi
    read -r s frss <<<"$res"
    floor_s+=("$s"); floor_rss+=("$frss")
    if ! res=$(measure "$bin" run --lake "$lake" --from "$from" --to "$last" --out "$out/findings"); then
      failed="run failed"; break
    fi
    read -r s rss <<<"$res"
    run_s+=("$s"); run_rss+=("$rss")
    echo "rep $i: floor ${floor_s[-1]} s (peak RSS $((frss / 1024)) MiB), run ${run_s[-1]} s, run peak RSS $((rss / 1024)) MiB"
  done
  if [ -n "$failed" ]; then
    summary+=("$name: $failed (MEM_LIMIT $mem_limit)")
    continue
  fi
  mf=$(median "${floor_s[@]}"); mr=$(median "${run_s[@]}"); mrss=$(median "${run_rss[@]}")
  mfrss=$(median "${floor_rss[@]}")
  line="$name: median floor ${mf} s, median run ${mr} s, ratio $(awk "BEGIN {printf \"%.2f\", $mr / $mf}"), median peak RSS $((mrss / 1024)) MiB (floor $((mfrss / 1024)) MiB)"
  echo "$line"
  summary+=("$line")
done
echo "== summary ($reps reps, $("$py" -c 'import polars; print("polars", polars.__version__)'), $bin)"
printf '%s\n' "${summary[@]}"
