//! Stage 1: the lake's events in the run's range folded into per-identity
//! aggregates ([`Activity`]). Polars reads one UTC day at a time (through
//! `crate::lake`) and Rust folds its rows (`day`), dropping duplicates
//! (`dedup`); the days are then merged (`merge`). The raw events of the
//! whole range never sit in memory.

mod day;
mod dedup;
mod merge;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::NaiveDate;

use crate::activity::Activity;
use crate::error::{Error, Result};
use crate::lake::{read::read_files, LakeFiles, PartitionFile, Problem};
use crate::schema::*;
use crate::window::{Bucket, Window};

/// Days in flight per core when the lake is on S3.
const REMOTE_DAYS_PER_CORE: usize = 2;

/// Columns the aggregation reads.
const SCAN_COLUMNS: [&str; 13] = [
    USER, TOOL, ACTION, SOURCE, EVENT_ID, NAMESPACE, TARGET, SRC_IP, USER_AGENT, POD, ACCOUNT_ID,
    ACTING_AS, GROUPS,
];

/// What loading found: the activity, and the files whose data could not be
/// decoded (left out, named in `run.json`).
pub struct Loaded {
    pub activity: Activity,
    pub unreadable: Vec<Problem>,
}

/// Reads the files one UTC day at a time and folds every usable event into
/// the aggregates the detectors need. Rows that are not usable are counted:
/// null users and times, rows outside their partition's date, and second
/// copies of a `(source, event_id)` (a copy of an event is filed under the
/// same date and names the same identity, so duplicates are found within a
/// partition and user; two identities' events never cancel out on a reused
/// id).
///
/// One worker per core (two on S3; `RAYON_NUM_THREADS` caps them) takes the next day,
/// reads it (Polars decodes on its own pool) and folds it; this thread
/// merges the folded days as they come. Memory holds only the days in
/// flight, and no core waits for a slow day.
pub fn scan(files: &LakeFiles, window: &Window, bucket: Bucket) -> Result<Loaded> {
    let mut days: BTreeMap<NaiveDate, Vec<PartitionFile>> = BTreeMap::new();
    for f in &files.files {
        days.entry(f.date).or_default().push(f.clone());
    }
    let days: Vec<(NaiveDate, Vec<PartitionFile>)> = days.into_iter().collect();
    // On S3 a worker waits for its day's chunks before it decodes them:
    // twice the workers keep the cores busy meanwhile.
    let per_core = if files.remote() {
        REMOTE_DAYS_PER_CORE
    } else {
        1
    };
    let workers = (rayon::current_num_threads() * per_core)
        .min(days.len())
        .max(1);
    let next_day = AtomicUsize::new(0);
    let (sender, folded) = std::sync::mpsc::sync_channel::<Result<DayRead>>(workers);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (sender, next_day, days) = (sender.clone(), &next_day, &days);
            scope.spawn(move || {
                while let Some((date, files)) = days.get(next_day.fetch_add(1, Ordering::Relaxed)) {
                    let day = aggregate_day(*date, files, window, bucket);
                    let failed = day.is_err();
                    // A closed channel means the merge gave up on an error.
                    if sender.send(day).is_err() || failed {
                        break;
                    }
                }
            });
        }
        drop(sender);
        let mut merged = merge::Merged::default();
        let mut unreadable = Vec::new();
        for day in folded {
            let day = day?;
            merged.add(day.aggregate);
            unreadable.extend(day.unreadable);
        }
        // Days finish in any order; the report lists files by path.
        unreadable.sort_by(|a: &Problem, b| a.path.cmp(&b.path));
        Ok(Loaded {
            activity: merged.finish(),
            unreadable,
        })
    })
}

/// One day read and folded.
struct DayRead {
    aggregate: day::DayAggregate,
    unreadable: Vec<Problem>,
}

fn aggregate_day(
    date: NaiveDate,
    files: &[PartitionFile],
    window: &Window,
    bucket: Bucket,
) -> Result<DayRead> {
    let doing = format!("reading partition dt={date}");
    let started = std::time::Instant::now();
    let read = read_files(files, &SCAN_COLUMNS, &doing)?;
    let read_ms = started.elapsed().as_millis();
    let aggregate = match &read.frame {
        Some(df) => day::fold_day(date, df, window, bucket).map_err(Error::query(doing))?,
        None => day::DayAggregate::default(),
    };
    tracing::debug!(%date, rows = aggregate.quality.rows_read, read_ms, fold_ms = started.elapsed().as_millis() - read_ms, "Aggregated a partition.");
    Ok(DayRead {
        aggregate,
        unreadable: read.unreadable,
    })
}
