//! Stage 7: findings to Parquet and the run manifest to `run.json`, under
//! `<out>/window=<start>_<end>/`. Each file is written to a temporary name
//! and renamed, so an interrupted run never leaves a half-written file and a
//! rerun of the same window replaces its results.

use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::Serialize;

use super::rank::Finding;
use crate::error::{Error, Result};
use crate::window::Window;

pub const FINDINGS_FILE: &str = "findings.parquet";
pub const MANIFEST_FILE: &str = "run.json";

/// The folder a window's results go to.
pub fn window_dir(out: &Path, window: &Window) -> PathBuf {
    let stamp = |t: i64| {
        chrono::DateTime::from_timestamp_micros(t)
            .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
            .unwrap_or_else(|| t.to_string())
    };
    out.join(format!(
        "window={}_{}",
        stamp(window.start),
        stamp(window.end)
    ))
}

pub fn findings_frame(findings: &[Finding], run_id: &str) -> PolarsResult<DataFrame> {
    let strings =
        |f: &dyn Fn(&Finding) -> String| -> Vec<String> { findings.iter().map(f).collect() };
    let lists = |name: &str, f: &dyn Fn(&Finding) -> &Vec<String>| -> Series {
        let items: Vec<Series> = findings
            .iter()
            .map(|x| Series::new("".into(), f(x).as_slice()))
            .collect();
        if items.is_empty() {
            Series::new_empty(name.into(), &DataType::List(Box::new(DataType::String)))
        } else {
            Series::new(name.into(), items)
        }
    };
    let time = |name: &str, f: &dyn Fn(&Finding) -> i64| -> PolarsResult<Column> {
        Ok(
            Int64Chunked::from_vec(name.into(), findings.iter().map(f).collect())
                .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
                .into_series()
                .into(),
        )
    };
    DataFrame::new(
        findings.len(),
        vec![
            Column::new("finding_id".into(), strings(&|f| f.finding_id.clone())),
            Column::new(
                "rank".into(),
                findings.iter().map(|f| f.rank).collect::<Vec<u32>>(),
            ),
            Column::new(
                "score".into(),
                findings.iter().map(|f| f.score).collect::<Vec<f64>>(),
            ),
            Column::new(
                "p_value".into(),
                findings.iter().map(|f| f.p_value).collect::<Vec<f64>>(),
            ),
            Column::new("user".into(), strings(&|f| f.user.clone())),
            time("window_start", &|f| f.window_start)?,
            time("window_end", &|f| f.window_end)?,
            lists("detectors", &|f| &f.detectors).into(),
            lists("reasons", &|f| &f.reasons).into(),
            Column::new(
                "observed".into(),
                findings.iter().map(|f| f.observed).collect::<Vec<f64>>(),
            ),
            Column::new(
                "expected".into(),
                findings.iter().map(|f| f.expected).collect::<Vec<f64>>(),
            ),
            lists("top_actions", &|f| &f.top_actions).into(),
            lists("evidence_event_ids", &|f| &f.evidence_event_ids).into(),
            Column::new("peer_group".into(), strings(&|f| f.peer_group.clone())),
            Column::new("run_id".into(), vec![run_id.to_owned(); findings.len()]),
        ],
    )
}

/// Writes `path` through a hidden temporary sibling and a rename (creating
/// its folder), so readers and crashes never see half a file. Shared by
/// every writer of the lake and the results.
pub(crate) fn atomic_write(path: &Path, write: impl FnOnce(&mut File) -> Result<()>) -> Result<()> {
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let io = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut file = File::create(&tmp).map_err(io)?;
    let written = write(&mut file).and_then(|()| file.sync_all().map_err(io));
    if let Err(err) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err);
    }
    std::fs::rename(&tmp, path).map_err(io)
}

/// Writes a frame as zstd-compressed Parquet, atomically.
pub(crate) fn write_parquet(path: &Path, df: &mut DataFrame) -> Result<()> {
    atomic_write(path, |file| {
        ParquetWriter::new(file)
            .with_compression(ParquetCompression::Zstd(None))
            .finish(df)
            .map(|_| ())
            .map_err(|source| Error::WriteParquet {
                path: path.to_path_buf(),
                source,
            })
    })
}

/// Writes the findings and then the manifest (last, so a `run.json` always
/// describes the findings beside it).
pub fn results(
    dir: &Path,
    findings: &[Finding],
    run_id: &str,
    manifest: &impl Serialize,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let findings_path = dir.join(FINDINGS_FILE);
    let mut df = findings_frame(findings, run_id).map_err(|source| Error::WriteParquet {
        path: findings_path.clone(),
        source,
    })?;
    write_parquet(&findings_path, &mut df)?;
    let manifest_path = dir.join(MANIFEST_FILE);
    let json = serde_json::to_vec_pretty(manifest).expect("the manifest is plain data");
    atomic_write(&manifest_path, |file| {
        use std::io::Write;
        file.write_all(&json).map_err(|source| Error::Write {
            path: manifest_path.clone(),
            source,
        })
    })
}
