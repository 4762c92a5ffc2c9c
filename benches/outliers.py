"""One ADBench set: writes it as a Parquet feature table for `lakehound
outliers` (once), or times scikit-learn's in-process fit and score on it.

    python outliers.py table NPZ OUT.parquet     # features f0.., id column `id`
    python outliers.py sklearn NPZ SEED           # prints fit+score seconds
"""
import sys
import time

import numpy as np


def table(npz, out):
    import polars as pl

    x = np.load(npz)["X"]
    columns = {f"f{i}": x[:, i].astype("float64") for i in range(x.shape[1])}
    pl.DataFrame(columns).with_row_index("id").write_parquet(out)


def sklearn(npz, seed):
    from sklearn.ensemble import IsolationForest

    x = np.load(npz)["X"]
    started = time.perf_counter()
    forest = IsolationForest(n_estimators=100, max_samples=256, random_state=seed).fit(x)
    forest.score_samples(x)
    print(f"{time.perf_counter() - started:.3f}")


if __name__ == "__main__":
    if sys.argv[1] == "table":
        table(sys.argv[2], sys.argv[3])
    else:
        sklearn(sys.argv[2], int(sys.argv[3]))
