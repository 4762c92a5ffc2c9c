//! Every kind of Parquet file lakehound writes is read by pandas (pyarrow)
//! and DuckDB: findings, lake partitions from `ingest` and `sample`, and
//! `outliers` output. The Python tools come from `tests/python/requirements.txt`,
//! installed by `.ci/run` into `~/.cache/lakehound-py` (or `LAKEHOUND_PYTHON`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{code, lakehound, python, run_on, stderr, window_dir};

fn parquet_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "parquet") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn pandas_and_duckdb_read_every_kind_of_parquet_lakehound_writes() {
    let python = python();
    let tmp = tempfile::tempdir().unwrap();
    let org = tmp.path().join("org");
    let raw = tmp.path().join("raw");
    let args = ["--users", "20", "--events", "20000", "--days", "21"];
    let mut sample = vec!["sample", "--out", org.to_str().unwrap()];
    sample.extend(args);
    assert_eq!(code(&lakehound(&sample)), 0);
    let mut sample_raw = vec!["sample", "--raw", "--out", raw.to_str().unwrap()];
    sample_raw.extend(args);
    assert_eq!(code(&lakehound(&sample_raw)), 0);
    let ingested = tmp.path().join("ingested");
    let o = lakehound(&[
        "ingest",
        "--format",
        "k8s-audit",
        "--input",
        raw.join("raw/k8s-audit").to_str().unwrap(),
        "--lake",
        ingested.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = tmp.path().join("findings");
    let o = run_on(&org, &out, &[]);
    assert!(code(&o) <= 1, "{}", stderr(&o));
    let scored = tmp.path().join("outliers.parquet");
    let findings = window_dir(&out).join("findings.parquet");
    let bucket_scores = window_dir(&out).join("scores.parquet");
    let table = tmp.path().join("features.parquet");
    crate::outliers::feature_table(&table, false);
    let o = lakehound(&[
        "outliers",
        "--input",
        table.to_str().unwrap(),
        "--id-cols",
        "user",
        "--features",
        "logins,hosts,bytes",
        "--out",
        scored.to_str().unwrap(),
        "--explain",
        "5",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    let mut files = vec![findings, bucket_scores, scored];
    files.extend(parquet_under(&ingested).into_iter().take(3));
    files.extend(parquet_under(&org).into_iter().take(3));
    assert_eq!(
        files.len(),
        9,
        "findings, bucket scores, outlier scores, 3 ingested and 3 sample partitions"
    );
    let read = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/read_parquet.py"))
        .args(&files)
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let lines = String::from_utf8_lossy(&read.stdout).lines().count();
    assert_eq!(lines, files.len(), "one line per file read");
}
