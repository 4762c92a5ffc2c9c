//! Stage 7: findings to Parquet and the run manifest to `run.json`, under
//! `<out>/window=<start>_<end>/`. Each file is written through the lake's
//! atomic writer (a temporary name and a rename), so an interrupted run
//! never leaves a half-written file and a rerun of the same window replaces
//! its results.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::Serialize;

use super::rank::Finding;
use crate::error::{Error, Result};
use crate::lake::{atomic_write, write_parquet};
use crate::window::Window;

pub use crate::lake::{FINDINGS_FILE, MANIFEST_FILE};

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
    let df = findings_frame(findings, run_id).map_err(|source| Error::WriteParquet {
        path: findings_path.clone(),
        source,
    })?;
    write_parquet(&findings_path, &df)?;
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
