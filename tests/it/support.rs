//! Running the real binary and reading what it wrote.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use polars::prelude::*;

pub fn lakehound(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lakehound"))
        .args(args)
        .env_remove("LAKEHOUND_LAKE")
        .env_remove("LAKEHOUND_OUT")
        .env_remove("LAKEHOUND_MODELS")
        .output()
        .expect("the lakehound binary runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The Python with pandas, pyarrow and DuckDB (tests/python/requirements.txt).
/// Missing is a failure, not a skip: the README's test command (`.ci/run`)
/// installs it into `~/.cache/lakehound-py`.
pub fn python() -> PathBuf {
    let path = std::env::var_os("LAKEHOUND_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/lakehound-py/bin/python"))
        })
        .expect("HOME or LAKEHOUND_PYTHON is set");
    assert!(
        path.exists(),
        "{} is missing: run the tests with .ci/run, which installs pandas, pyarrow and \
         DuckDB (tests/python/requirements.txt), or set LAKEHOUND_PYTHON",
        path.display()
    );
    path
}

/// A path that `.ci/run` provides through the environment variable `name`
/// (`what` it installs for it): missing is a failure, not a skip.
pub fn provided(name: &str, what: &str) -> PathBuf {
    let path = std::env::var_os(name)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
                "{name} is not set: run the tests with .ci/run, which installs {what} and sets it"
            )
        });
    assert!(
        path.exists(),
        "{name}={} does not exist: run .ci/run, which installs {what}",
        path.display()
    );
    path
}

/// `lakehound run` on a fixture lake over the fixture window.
pub fn run_on(lake: &Path, out: &Path, extra: &[&str]) -> Output {
    run_between(lake, out, super::fixture::FROM, super::fixture::TO, extra)
}

/// `lakehound run` on a lake over `from` .. `to`.
pub fn run_between(lake: &Path, out: &Path, from: &str, to: &str, extra: &[&str]) -> Output {
    let lake = lake.to_str().unwrap();
    let out = out.to_str().unwrap();
    let mut args = vec![
        "run", "--lake", lake, "--from", from, "--to", to, "--out", out,
    ];
    args.extend_from_slice(extra);
    lakehound(&args)
}

/// The single window folder a run wrote under `out`.
pub fn window_dir(out: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "one window folder in {}", out.display());
    dirs[0].clone()
}

pub fn manifest(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(window_dir(out).join("run.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn findings(out: &Path) -> DataFrame {
    read_parquet(&window_dir(out).join("findings.parquet"))
}

pub fn read_parquet(path: &Path) -> DataFrame {
    let f = std::fs::File::open(path).unwrap();
    ParquetReader::new(f).finish().unwrap()
}

/// The users of a run's findings, in rank order.
pub fn finding_users(out: &Path) -> Vec<String> {
    let df = findings(out);
    let users = df.column("user").unwrap().str().unwrap().clone();
    users.iter().flatten().map(str::to_owned).collect()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

/// ../shared/datasets, or `None` (with a visible note naming `what` did not
/// run) where it is absent.
pub fn shared_datasets(what: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: ../shared/datasets is absent; {what} did not run");
        None
    }
}

/// One row's string cell, e.g. a finding's `user`.
pub fn text(df: &DataFrame, column: &str, row: usize) -> String {
    df.column(column)
        .unwrap()
        .str()
        .unwrap()
        .get(row)
        .unwrap()
        .to_owned()
}

/// One row's list-of-strings cell, e.g. a finding's `reasons`.
pub fn list_strings(df: &DataFrame, column: &str, row: usize) -> Vec<String> {
    let s = df
        .column(column)
        .unwrap()
        .list()
        .unwrap()
        .get_as_series(row)
        .unwrap();
    s.str()
        .unwrap()
        .iter()
        .flatten()
        .map(str::to_owned)
        .collect()
}
