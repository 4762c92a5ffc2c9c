//! Stage 7: findings to Parquet and the run manifest to `run.json`, under
//! `<out>/window=<start>_<end>/`. The lake's results writer makes sure no
//! reader sees half a run (`crate::lake::results`: temporary names and
//! renames locally, a run folder and a pointer on S3), and a rerun of the
//! same window replaces its results.

use polars::prelude::*;
use serde::Serialize;

use super::rank::Finding;
use super::timeline::BucketScore;
use crate::error::{Error, Result};
use crate::lake::results::{self, Outputs};
use crate::lake::Location;
use crate::window::Window;

pub use crate::lake::{FINDINGS_FILE, MANIFEST_FILE, SCORES_FILE};

/// The folder a window's results go to.
pub fn window_dir(out: &Location, window: &Window) -> Location {
    let stamp = |t: i64| {
        chrono::DateTime::from_timestamp_micros(t)
            .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
            .unwrap_or_else(|| t.to_string())
    };
    out.join(&format!(
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
            lists("attack_techniques", &|f| &f.attack_techniques).into(),
            Column::new("peer_group".into(), strings(&|f| f.peer_group.clone())),
            time("first_seen", &|f| f.first_seen)?,
            time("last_seen", &|f| f.last_seen)?,
            Column::new(
                "status".into(),
                findings.iter().map(|f| f.status.name()).collect::<Vec<_>>(),
            ),
            Column::new("run_id".into(), vec![run_id.to_owned(); findings.len()]),
        ],
    )
}

/// The per-bucket scores as a frame; `top_detector` and `top_reason` are
/// null where no evidence fell.
pub fn scores_frame(scores: &[BucketScore], run_id: &str) -> PolarsResult<DataFrame> {
    let time = |name: &str, f: &dyn Fn(&BucketScore) -> i64| -> Column {
        Int64Chunked::from_vec(name.into(), scores.iter().map(f).collect())
            .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
            .into_series()
            .into()
    };
    let text = |f: &dyn Fn(&BucketScore) -> Option<&str>| -> Vec<Option<&str>> {
        scores.iter().map(f).collect()
    };
    DataFrame::new(
        scores.len(),
        vec![
            Column::new(
                "user".into(),
                scores.iter().map(|s| s.user.as_str()).collect::<Vec<_>>(),
            ),
            time("bucket_start", &|s| s.bucket_start),
            time("bucket_end", &|s| s.bucket_end),
            Column::new(
                "score".into(),
                scores.iter().map(|s| s.score).collect::<Vec<f64>>(),
            ),
            Column::new("top_detector".into(), text(&|s| s.top_detector.as_deref())),
            Column::new("top_reason".into(), text(&|s| s.top_reason.as_deref())),
            Column::new(
                "events".into(),
                scores.iter().map(|s| s.events).collect::<Vec<u64>>(),
            ),
            Column::new("run_id".into(), vec![run_id.to_owned(); scores.len()]),
        ],
    )
}

/// Writes the findings, the per-bucket scores and then the manifest (last,
/// so a `run.json` always describes the files beside it); returns the
/// folder they went to.
pub fn results(
    window: &Location,
    findings: &[Finding],
    scores: &[BucketScore],
    run_id: &str,
    started: chrono::DateTime<chrono::Utc>,
    manifest: &impl Serialize,
) -> Result<Location> {
    let frame_error = |name: &str| {
        let path = window.join(name).as_path();
        move |source| Error::WriteParquet { path, source }
    };
    let findings = findings_frame(findings, run_id).map_err(frame_error(FINDINGS_FILE))?;
    let scores = scores_frame(scores, run_id).map_err(frame_error(SCORES_FILE))?;
    let manifest = serde_json::to_vec_pretty(manifest).expect("the manifest is plain data");
    results::publish(
        window,
        run_id,
        started,
        Outputs {
            findings: &findings,
            scores: &scores,
            manifest,
        },
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn finding() -> Finding {
        Finding {
            finding_id: "f1".into(),
            rank: 1,
            score: 99.0,
            p_value: 1e-20,
            user: "ana@example.com".into(),
            window_start: 0,
            window_end: 3_600_000_000,
            detectors: vec!["count_spike".into()],
            reasons: vec!["40 × create pods/exec".into()],
            observed: 40.0,
            expected: 1.0,
            top_actions: vec!["create pods/exec ×40".into()],
            evidence_actions: vec!["create pods/exec".into()],
            evidence_event_ids: vec!["e1".into(), "e2".into()],
            attack_techniques: Vec::new(),
            peer_group: "team-a".into(),
            first_seen: 0,
            last_seen: 0,
            status: crate::pipeline::continuity::Status::New,
        }
    }

    #[test]
    fn findings_round_trip_and_the_manifest_is_written_beside_them() {
        let dir = tempfile::tempdir().unwrap();
        let quiet = BucketScore {
            user: "ana@example.com".into(),
            bucket_start: 0,
            bucket_end: 3_600_000_000,
            score: 0.0,
            top_detector: None,
            top_reason: None,
            events: 3,
        };
        let written = results(
            &Location::Local(dir.path().to_path_buf()),
            &[finding()],
            &[quiet],
            "run-1",
            chrono::Utc::now(),
            &serde_json::json!({"ok": true}),
        )
        .unwrap();
        assert_eq!(written.local_path(), Some(dir.path()));
        let path = dir.path().join(FINDINGS_FILE);
        // Which Arrow types the file declares is checked with pandas and
        // DuckDB themselves (tests/it/interop.rs).
        let df = ParquetReader::new(std::fs::File::open(&path).unwrap())
            .finish()
            .unwrap();
        assert_eq!(df.height(), 1);
        assert_eq!(
            df.column("run_id").unwrap().str().unwrap().get(0),
            Some("run-1")
        );
        let ids = df
            .column("evidence_event_ids")
            .unwrap()
            .list()
            .unwrap()
            .get_as_series(0)
            .unwrap();
        assert_eq!(ids.len(), 2);
        assert!(dir.path().join(MANIFEST_FILE).exists());
        let scores = ParquetReader::new(std::fs::File::open(dir.path().join(SCORES_FILE)).unwrap())
            .finish()
            .unwrap();
        assert_eq!(scores.height(), 1);
        assert_eq!(scores.column("top_detector").unwrap().null_count(), 1);
        assert_eq!(
            scores.column("events").unwrap().u64().unwrap().get(0),
            Some(3)
        );
        // Nothing temporary is left beside them.
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }
}
