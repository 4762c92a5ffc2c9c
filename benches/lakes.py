#!/usr/bin/env python3
"""A lake without group context, for benches/run.sh (issue 11): a copy of a
lake `lakehound sample` wrote whose Parquet files lack the `groups` column,
and no identities.csv. Nothing else changes: the same rows in the same order
and row groups, zstd level 3 (the sampler's level) and, per column,
dictionary encoding only where the source file used it. Strings are written
as classic Arrow strings (the sampler's files declare string_view).

  python benches/lakes.py strip SRC DST

DST gets events/dt=*/part-00000.parquet, labels.csv and SRC's sample.json
with a `derived` note, written last: its presence means the lake is complete.
"""

import argparse
import glob
import json
import os
import shutil
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq

ZSTD_LEVEL = 3


def classic(t):
    """string for string_view/large_string, list<...> for any list type."""
    if pa.types.is_string_view(t) or pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t) \
            or pa.types.is_large_list_view(t):
        return pa.list_(classic(t.value_type))
    return t


def strip(src_file, dst_file):
    pf = pq.ParquetFile(src_file)
    md = pf.metadata
    dict_cols = {md.row_group(i).column(j).path_in_schema.split(".")[0]
                 for i in range(md.num_row_groups) for j in range(md.num_columns)
                 if "RLE_DICTIONARY" in md.row_group(i).column(j).encodings
                 or "PLAIN_DICTIONARY" in md.row_group(i).column(j).encodings}
    cols = [n for n in pf.schema_arrow.names if n != "groups"]
    schema = pa.schema([pa.field(f.name, classic(f.type), f.nullable)
                        for f in pf.schema_arrow if f.name in cols])
    os.makedirs(os.path.dirname(dst_file), exist_ok=True)
    tmp = os.path.join(os.path.dirname(dst_file), "." + os.path.basename(dst_file) + ".tmp")
    rows = 0
    with pq.ParquetWriter(tmp, schema, compression="zstd", compression_level=ZSTD_LEVEL,
                          use_dictionary=[c for c in cols if c in dict_cols]) as w:
        for i in range(md.num_row_groups):  # one source row group, one row group
            t = pf.read_row_group(i, columns=cols).cast(schema)
            w.write_table(t, row_group_size=max(t.num_rows, 1))
            rows += t.num_rows
    os.replace(tmp, dst_file)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("strip", help="copy SRC to DST without groups and identities.csv")
    p.add_argument("src")
    p.add_argument("dst")
    args = ap.parse_args()
    if os.path.abspath(args.src) == os.path.abspath(args.dst):
        sys.exit("lakes: SRC and DST must differ")
    if os.path.exists(os.path.join(args.dst, "sample.json")):
        sys.exit(f"lakes: {args.dst} already holds a lake (sample.json); remove it first")
    started = time.perf_counter()
    events = 0
    dirs = sorted(glob.glob(os.path.join(args.src, "events", "dt=*")))
    if not dirs:
        sys.exit(f"lakes: no partitions under {args.src}/events")
    for d in dirs:
        for f in sorted(glob.glob(os.path.join(d, "*.parquet"))):
            events += strip(f, os.path.join(args.dst, "events", os.path.basename(d),
                                            os.path.basename(f)))
    for name in ("labels.csv",):
        if os.path.exists(os.path.join(args.src, name)):
            shutil.copyfile(os.path.join(args.src, name), os.path.join(args.dst, name))
    manifest_path = os.path.join(args.src, "sample.json")
    manifest = json.load(open(manifest_path)) if os.path.exists(manifest_path) else {}
    manifest.setdefault("summary", {})["events"] = events
    manifest["derived"] = {"from": os.path.abspath(args.src), "by": "benches/lakes.py strip",
                           "how": "groups column dropped; identities.csv not copied",
                           "pyarrow": pa.__version__}
    tmp = os.path.join(args.dst, ".sample.json.tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=2)
    os.replace(tmp, os.path.join(args.dst, "sample.json"))
    print(f"lakes strip: {events} events, {len(dirs)} partitions into {args.dst} "
          f"in {time.perf_counter() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
