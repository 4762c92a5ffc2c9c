"""Reads Parquet files the way an analyst's tools do: pandas (pyarrow) and
DuckDB. Prints one line per file, `<path> <rows> <columns>`, and exits 1
naming the file and the reader when either refuses it.

    python read_parquet.py FILE...
"""
import sys

import duckdb
import pandas as pd


def main(paths):
    failed = False
    for path in paths:
        try:
            frame = pd.read_parquet(path)
        except Exception as err:  # report every file, then fail
            print(f"pandas cannot read {path}: {err}", file=sys.stderr)
            failed = True
            continue
        try:
            rows = duckdb.sql(f"select count(*) from read_parquet('{path}')").fetchall()[0][0]
            duckdb.sql(f"select * from read_parquet('{path}')").fetchall()
        except Exception as err:
            print(f"duckdb cannot read {path}: {err}", file=sys.stderr)
            failed = True
            continue
        if rows != len(frame):
            print(f"{path}: pandas read {len(frame)} rows, duckdb {rows}", file=sys.stderr)
            failed = True
            continue
        print(f"{path} {rows} {len(frame.columns)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
