#!/usr/bin/env python3
"""The speed floor `lakehound run` is compared with (issue 11): what a user
gets from Python Polars (PyPI) on the same partitions, no checks, baselines or
detectors.

Lazy scans of LAKE/events/dt=FIRST..LAST/*.parquet, reading the columns the
job reads (event_time, user, tool, action, source, event_id, namespace,
target, src_ip, user_agent, pod, account_id, and groups when the lake has it),
and in ONE query run (one collect_all of two lazy plans on the streaming
engine):

  (a) events per (user, action, hour);
  (b) distinct target, namespace, src_ip and user_agent per (user, day),
      beside the non-null count of each column the job reads and (a)/(b) do
      not otherwise need (tool, source, event_id, pod, account_id) and the
      number of group names, so that Polars cannot prune them and the floor
      decodes the same columns as the job.

By default the two plans scan the files separately (common-subplan
elimination off): on the 20 M-event lake with groups that took 5.1-9.6 s and
2.0 GB against 5.6-11.2 s and 5.8 GB for one shared scan (--cse), whose cache
holds every row read, so its memory grows with the lake (5.8 GB for 20 M
events extrapolates to about 28 GB for 100 M; not tried). The fastest is the
floor.

Run by benches/run.sh:
  python benches/floor.py LAKE FIRST_DATE LAST_DATE [--cse] [--engine E] [--explain]
"""

import argparse
import datetime as dt
import glob
import os
import sys
import time

import polars as pl
import pyarrow.parquet as pq

READ = ["event_time", "user", "tool", "action", "source", "event_id",
        "namespace", "target", "src_ip", "user_agent", "pod", "account_id"]
DISTINCT = ["target", "namespace", "src_ip", "user_agent"]
TOUCHED = ["tool", "source", "event_id", "pod", "account_id"]


def partition_files(lake, first, last):
    files = []
    day = first
    while day <= last:
        files += sorted(glob.glob(os.path.join(lake, "events", f"dt={day}", "*.parquet")))
        day += dt.timedelta(days=1)
    return files


def plans(files):
    # The job reads `groups` only when the lake has it; a lake where only
    # some files have it gets nulls for the others.
    with_groups = [f for f in files if "groups" in pq.read_schema(f).names]
    cols = READ + (["groups"] if with_groups else [])
    missing = "insert" if 0 < len(with_groups) < len(files) else "raise"
    scan = pl.scan_parquet(files, hive_partitioning=False, missing_columns=missing,
                           extra_columns="ignore").select(cols)
    per_hour = scan.group_by(
        "user", "action", pl.col("event_time").dt.truncate("1h").alias("hour")
    ).agg(pl.len().alias("events"))
    touched = [pl.col(c).is_not_null().sum().alias(f"{c}_present") for c in TOUCHED]
    if with_groups:
        touched.append(pl.col("groups").list.len().sum().alias("group_names"))
    per_day = scan.group_by(
        "user", pl.col("event_time").dt.date().alias("day")
    ).agg([pl.col(c).drop_nulls().n_unique().alias(f"{c}s") for c in DISTINCT] + touched)
    return cols, per_hour, per_day


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("lake")
    ap.add_argument("first", type=dt.date.fromisoformat)
    ap.add_argument("last", type=dt.date.fromisoformat)
    ap.add_argument("--engine", default="streaming",
                    help="Polars engine (auto picks streaming; in-memory took 27 s and 9 GB "
                         "with --cse on the 20 M-event lake)")
    ap.add_argument("--cse", action="store_true",
                    help="one scan shared by both plans (common-subplan elimination)")
    ap.add_argument("--explain", action="store_true", help="print the optimised plan and exit")
    args = ap.parse_args()
    started = time.perf_counter()
    files = partition_files(args.lake, args.first, args.last)
    if not files:
        sys.exit(f"floor: no parquet files under {args.lake}/events for {args.first}..{args.last}")
    cols, per_hour, per_day = plans(files)
    opts = pl.QueryOptFlags(comm_subplan_elim=args.cse)
    if args.explain:
        print(pl.explain_all([per_hour, per_day], optimizations=opts))
        return
    hours, days = pl.collect_all([per_hour, per_day], engine=args.engine, optimizations=opts)
    events = hours["events"].sum()
    print(f"floor (polars {pl.__version__}, {args.engine} engine, {'one shared scan' if args.cse else 'a scan per plan'}, "
          f"{pl.thread_pool_size()} threads): "
          f"{len(files)} files, {events} events, columns {','.join(cols)}; "
          f"{hours.height} (user, action, hour) groups, {days.height} (user, day) groups "
          f"in {time.perf_counter() - started:.3f} s")


if __name__ == "__main__":
    main()
