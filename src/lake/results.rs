//! A window's results (findings, scores, run.json), written so that no
//! reader ever sees half a run, and found again by eval, continuity and
//! the notebook.
//!
//! - **Local folder:** the files sit in the window folder, each written to
//!   a hidden temporary name and renamed into place, `run.json` last.
//! - **S3** (no rename there): a run's objects go under
//!   `window=.../runs/<started>-<run id>/`, and only then is the small
//!   pointer `window=.../_latest.json` written, naming that folder. Readers
//!   follow the pointer, so they see the previous run until the new one is
//!   complete, and a run killed at any moment leaves it readable. Two runs
//!   racing on a window: the one that finishes last wins.
//!
//! **Pruning (S3).** After writing its pointer, a run deletes run folders
//! that are neither the pointer's run, nor the run the pointer named before
//! (a reader that read the pointer a moment ago can finish), nor younger
//! than [`PRUNE_AFTER`] (a run still writing, or one that lost a race a
//! moment ago). A killed run's partial folder goes at the next run a day on.

use chrono::{DateTime, Utc};
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};

use super::location::Location;
use crate::error::{Error, Result};

/// A run's findings, in its window's result folder.
pub const FINDINGS_FILE: &str = "findings.parquet";
/// A run's per-(identity, bucket) scores, beside the findings.
pub const SCORES_FILE: &str = "scores.parquet";
/// A run's manifest, written last beside the findings.
pub const MANIFEST_FILE: &str = "run.json";
/// On S3, the window folder's pointer to its latest complete run.
pub const POINTER_FILE: &str = "_latest.json";
/// On S3, where a window's runs are kept.
pub const RUNS_DIR: &str = "runs";
/// Run folders younger than this are never pruned.
pub const PRUNE_AFTER: chrono::Duration = chrono::Duration::hours(24);
const STAMP: &str = "%Y%m%dT%H%M%SZ";

/// What `_latest.json` says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pointer {
    /// The run's folder, relative to the window folder.
    pub run: String,
    pub run_id: String,
    pub published: String,
    /// The run the pointer named before this one, kept from pruning.
    #[serde(default)]
    pub previous: Option<String>,
}

/// Where one window's latest complete run is.
#[derive(Debug, Clone)]
pub struct RunFiles {
    pub findings: Location,
    pub scores: Location,
    pub manifest: Location,
}

impl RunFiles {
    fn in_folder(dir: &Location) -> RunFiles {
        RunFiles {
            findings: dir.join(FINDINGS_FILE),
            scores: dir.join(SCORES_FILE),
            manifest: dir.join(MANIFEST_FILE),
        }
    }
}

/// The run's files to write; the manifest goes last.
pub struct Outputs<'a> {
    pub findings: &'a DataFrame,
    pub scores: &'a DataFrame,
    pub manifest: Vec<u8>,
}

/// Writes a run's results for the window folder `window`; returns where
/// they are. `started` names the run's folder on S3.
pub fn publish(
    window: &Location,
    run_id: &str,
    started: DateTime<Utc>,
    outputs: Outputs<'_>,
) -> Result<Location> {
    let dir = match window {
        Location::Local(_) => window.clone(),
        Location::S3 { .. } => window.join(&run_folder(started, run_id)),
    };
    let files = RunFiles::in_folder(&dir);
    files.findings.write_parquet(outputs.findings)?;
    files.scores.write_parquet(outputs.scores)?;
    files.manifest.write(outputs.manifest)?;
    if let Location::S3 { .. } = window {
        // An unreadable pointer is replaced, not a reason to fail.
        let previous = match read_pointer(window) {
            Ok(pointer) => pointer.map(|p| p.run),
            Err(Error::NoFindings { path, reason }) => {
                tracing::warn!(path = %path.display(), %reason, "Replacing an unreadable pointer.");
                None
            }
            Err(e) => return Err(e),
        };
        let pointer = Pointer {
            run: run_folder(started, run_id),
            run_id: run_id.to_owned(),
            published: Utc::now().to_rfc3339(),
            previous,
        };
        let json = serde_json::to_vec_pretty(&pointer).expect("the pointer is plain data");
        window.join(POINTER_FILE).write(json)?;
        // The run is published: a failed clean-up is for the next run.
        if let Err(e) = prune(window, Utc::now()) {
            tracing::warn!(window = %window, error = %e, "Could not prune superseded runs; the next run tries again.");
        }
    }
    Ok(dir)
}

/// `runs/<started>-<run id>`: names sort by start.
fn run_folder(started: DateTime<Utc>, run_id: &str) -> String {
    format!("{RUNS_DIR}/{}-{run_id}", started.format(STAMP))
}

fn read_pointer(window: &Location) -> Result<Option<Pointer>> {
    let place = window.join(POINTER_FILE);
    let Some(bytes) = place.read()? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::NoFindings {
            path: place.as_path(),
            reason: format!("the pointer is not readable JSON ({e}); rerun the window"),
        })
}

/// The window folder's latest complete run: the pointer's, or the files in
/// the folder itself (local results); `None` when it has neither.
pub fn latest(window: &Location) -> Result<Option<RunFiles>> {
    if let Some(pointer) = read_pointer(window)? {
        return Ok(Some(RunFiles::in_folder(&window.join(&pointer.run))));
    }
    let here = RunFiles::in_folder(window);
    Ok(here.findings.exists()?.then_some(here))
}

/// Deletes the run folders the pruning rule lets go (see the module).
fn prune(window: &Location, now: DateTime<Utc>) -> Result<()> {
    let keep: Vec<String> = match read_pointer(window)? {
        Some(p) => std::iter::once(p.run).chain(p.previous).collect(),
        None => return Ok(()),
    };
    for run in window.join(RUNS_DIR).list_dirs()? {
        let name = format!("{RUNS_DIR}/{}", run.file_name());
        let started = run
            .file_name()
            .split_once('-')
            .and_then(|(stamp, _)| chrono::NaiveDateTime::parse_from_str(stamp, STAMP).ok())
            .map(|t| t.and_utc());
        let young = started.is_none_or(|t| now - t < PRUNE_AFTER);
        if keep.contains(&name) || young {
            continue;
        }
        tracing::info!(run = %run, "Pruning a superseded run.");
        for file in run.list_recursive()? {
            file.location.delete()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_keeps_the_pointers_runs_and_young_ones_and_deletes_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let window = Location::Local(dir.path().to_path_buf());
        let now: DateTime<Utc> = "2026-11-30T12:00:00Z".parse().unwrap();
        let runs = [
            ("2026-11-27T06:00:00Z", "old"),
            ("2026-11-28T06:00:00Z", "previous"),
            ("2026-11-29T06:00:00Z", "current"),
            ("2026-11-30T11:00:00Z", "racing"),
        ];
        for (at, id) in runs {
            let folder = run_folder(at.parse().unwrap(), id);
            window
                .join(&folder)
                .join(MANIFEST_FILE)
                .write(b"{}".to_vec())
                .unwrap();
        }
        let pointer = Pointer {
            run: run_folder(runs[2].0.parse().unwrap(), "current"),
            run_id: "current".into(),
            published: now.to_rfc3339(),
            previous: Some(run_folder(runs[1].0.parse().unwrap(), "previous")),
        };
        window
            .join(POINTER_FILE)
            .write(serde_json::to_vec(&pointer).unwrap())
            .unwrap();
        prune(&window, now).unwrap();
        let left: Vec<String> = window
            .join(RUNS_DIR)
            .list_dirs()
            .unwrap()
            .into_iter()
            .filter(|d| !d.list_files().unwrap().unwrap_or_default().is_empty())
            .map(|d| d.file_name())
            .collect();
        assert_eq!(
            left,
            [
                "20261128T060000Z-previous",
                "20261129T060000Z-current",
                "20261130T110000Z-racing"
            ]
        );
        let found = latest(&window).unwrap().unwrap();
        assert!(found.manifest.to_string().contains("current"));
    }

    #[test]
    fn run_folders_sort_by_start_and_name_their_run() {
        let a = run_folder("2026-11-02T10:00:00Z".parse().unwrap(), "abc");
        let b = run_folder("2026-11-02T11:00:00Z".parse().unwrap(), "abc");
        assert_eq!(a, "runs/20261102T100000Z-abc");
        assert!(a < b);
    }
}
