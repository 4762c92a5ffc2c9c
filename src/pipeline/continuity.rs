//! Stage 6b: findings that continue earlier runs' findings keep their id.
//!
//! A scheduled job scores one day at a time, so an incident that runs past
//! midnight, or a slow campaign over several days, is a finding in each run.
//! Before writing, the run reads the findings of the earlier windows under
//! the same `--out` that ended at most [`CONTINUE_GAP`] before this window
//! starts (only their folders are opened, found by name). A finding of an
//! identity whose earlier finding ended at most `CONTINUE_GAP` before this
//! one starts continues it (only the identity's earliest finding of the
//! run; a second episode the same day is new): it takes the earlier
//! `finding_id` and `first_seen`, and its status is `continuing`. Otherwise it is `new`, and
//! `first_seen` is its own start. `last_seen` is always its own end. Reruns
//! are idempotent: a window never links to itself or to a later one.

use std::collections::{HashMap, HashSet};

use polars::prelude::*;
use tracing::warn;

use super::rank::Finding;
use crate::lake::{results, Location};
use crate::window::{Window, MICROS_PER_DAY};

/// How long after an identity's earlier finding a new one still continues it.
pub const CONTINUE_GAP: i64 = MICROS_PER_DAY;

/// Whether a finding is new in this run or continues an earlier run's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    New,
    Continuing,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Continuing => "continuing",
        }
    }
}

/// The latest earlier finding of one identity.
#[derive(Debug, Clone, PartialEq)]
struct Earlier {
    finding_id: String,
    first_seen: i64,
    end: i64,
}

/// Links `findings` to the earlier windows' findings under `out`. Earlier
/// files that cannot be read are logged and passed over: continuity is a
/// convenience, never a reason to fail the run.
pub fn link(findings: &mut [Finding], out: &Location, window: &Window) {
    let earlier = earlier_findings(out, window);
    // Only an identity's earliest finding of this run can continue an
    // earlier one: a second episode today is a finding of its own.
    let mut order: Vec<usize> = (0..findings.len()).collect();
    order.sort_by(|&a, &b| {
        (&findings[a].user, findings[a].window_start)
            .cmp(&(&findings[b].user, findings[b].window_start))
    });
    let mut linked: HashSet<String> = HashSet::new();
    for i in order {
        let f = &mut findings[i];
        let continues = earlier
            .get(&f.user)
            .filter(|e| e.end >= f.window_start - CONTINUE_GAP)
            .filter(|_| !linked.contains(&f.user));
        match continues {
            Some(e) => {
                f.finding_id = e.finding_id.clone();
                f.first_seen = e.first_seen;
                f.status = Status::Continuing;
                linked.insert(f.user.clone());
            }
            None => {
                f.first_seen = f.window_start;
                f.status = Status::New;
            }
        }
        f.last_seen = f.window_end;
    }
}

/// Per identity, its latest finding in the windows under `out` that ended
/// within `CONTINUE_GAP` before `window` starts.
fn earlier_findings(out: &Location, window: &Window) -> HashMap<String, Earlier> {
    let mut latest: HashMap<String, Earlier> = HashMap::new();
    for path in earlier_windows(out, window) {
        match read(&path) {
            Ok(rows) => {
                for (user, e) in rows {
                    let slot = latest.entry(user).or_insert_with(|| e.clone());
                    if e.end > slot.end {
                        *slot = e;
                    }
                }
            }
            Err(err) => {
                warn!(path = %path, error = %err, "Could not read an earlier run's findings; its findings are not linked.")
            }
        }
    }
    latest
}

/// Findings files of the window folders under `out` whose window ends in
/// `[window.start - CONTINUE_GAP, window.start]`, each its latest complete
/// run's. A listing that fails is logged: continuity is a convenience.
fn earlier_windows(out: &Location, window: &Window) -> Vec<Location> {
    let dirs = match out.list_dirs() {
        Ok(dirs) => dirs,
        Err(err) => {
            warn!(path = %out, error = %err, "Could not list earlier runs; findings are not linked to them.");
            return Vec::new();
        }
    };
    dirs.into_iter()
        .filter(|d| {
            window_end(&d.file_name())
                .is_some_and(|end| end <= window.start && end >= window.start - CONTINUE_GAP)
        })
        .filter_map(|d| match results::latest(&d) {
            Ok(run) => run.map(|r| r.findings),
            Err(err) => {
                warn!(path = %d, error = %err, "Could not find an earlier run's findings; they are not linked.");
                None
            }
        })
        .collect()
}

/// The end of a `window=<start>_<end>` folder's window, from its name.
fn window_end(name: &str) -> Option<i64> {
    let (_, end) = name.strip_prefix("window=")?.split_once('_')?;
    let t = chrono::NaiveDateTime::parse_from_str(end, "%Y%m%dT%H%M%SZ").ok()?;
    Some(t.and_utc().timestamp_micros())
}

fn read(path: &Location) -> crate::error::Result<Vec<(String, Earlier)>> {
    let df = path.read_parquet()?;
    rows(&df).map_err(|source| crate::error::Error::ReadFindings {
        path: path.as_path(),
        source,
    })
}

fn rows(df: &DataFrame) -> PolarsResult<Vec<(String, Earlier)>> {
    let user = df.column("user")?.str()?;
    let id = df.column("finding_id")?.str()?;
    let start = df.column("window_start")?.cast(&DataType::Int64)?;
    let end = df.column("window_end")?.cast(&DataType::Int64)?;
    // Files from before continuity have no first_seen: their start is it.
    let first = match df.column("first_seen") {
        Ok(c) => c.cast(&DataType::Int64)?,
        Err(_) => start.clone(),
    };
    let (first, end) = (first.i64()?, end.i64()?);
    Ok((0..df.height())
        .filter_map(|i| {
            Some((
                user.get(i)?.to_owned(),
                Earlier {
                    finding_id: id.get(i)?.to_owned(),
                    first_seen: first.get(i)?,
                    end: end.get(i)?,
                },
            ))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::write::{findings_frame, tests::finding, window_dir};
    use crate::window::{Bound, MICROS_PER_HOUR};

    fn day(d: &str) -> Window {
        let b = Bound::Date(d.parse().unwrap());
        Window::new(b, b, 28).unwrap()
    }

    fn at(window: &Window, user: &str, from_hour: i64, to_hour: i64) -> Finding {
        Finding {
            user: user.into(),
            window_start: window.start + from_hour * MICROS_PER_HOUR,
            window_end: window.start + to_hour * MICROS_PER_HOUR,
            finding_id: format!("{user}-{from_hour}"),
            ..finding()
        }
    }

    /// Runs `findings` as the run of `window` under `out` would: linked, then written.
    fn run(out: &std::path::Path, window: &Window, mut findings: Vec<Finding>) -> Vec<Finding> {
        let out = Location::Local(out.to_path_buf());
        link(&mut findings, &out, window);
        let dir = window_dir(&out, window);
        let df = findings_frame(&findings, "run").unwrap();
        dir.join(crate::lake::FINDINGS_FILE)
            .write_parquet(&df)
            .unwrap();
        findings
    }

    #[test]
    fn a_finding_over_midnight_keeps_its_id_and_first_seen_and_others_are_new() {
        let out = tempfile::tempdir().unwrap();
        let (mon, tue, thu) = (day("2026-11-02"), day("2026-11-03"), day("2026-11-05"));
        let first = run(out.path(), &mon, vec![at(&mon, "ana", 22, 24)]);
        assert_eq!(first[0].status, Status::New);
        assert_eq!(first[0].first_seen, first[0].window_start);
        let second = run(
            out.path(),
            &tue,
            vec![
                at(&tue, "ana", 0, 2),
                at(&tue, "bo", 0, 1),
                at(&tue, "ana", 15, 16),
            ],
        );
        assert_eq!(second[0].status, Status::Continuing);
        assert_eq!(second[0].finding_id, first[0].finding_id);
        assert_eq!(second[0].first_seen, first[0].window_start);
        assert_eq!(second[0].last_seen, second[0].window_end);
        assert_eq!(second[1].status, Status::New);
        // Ana's afternoon is another episode: new, with its own id.
        assert_eq!(second[2].status, Status::New);
        assert_eq!(second[2].finding_id, "ana-15");
        // Thursday is more than a day after Tuesday's finding: new again.
        let fourth = run(out.path(), &thu, vec![at(&thu, "ana", 9, 10)]);
        assert_eq!(fourth[0].status, Status::New);
        assert_eq!(fourth[0].finding_id, "ana-9");
        // A rerun of Tuesday links to Monday as before, never to itself.
        let again = run(out.path(), &tue, vec![at(&tue, "ana", 0, 2)]);
        assert_eq!(again[0].finding_id, first[0].finding_id);
    }

    #[test]
    fn window_folders_are_read_by_name() {
        let w = day("2026-11-02");
        let name = window_dir(&Location::Local("".into()), &w);
        assert_eq!(window_end(&name.file_name()), Some(w.end));
        assert_eq!(window_end("window=garbage"), None);
        assert_eq!(window_end("notes"), None);
    }
}
