//! What the report needs of the reviewed identities from the lake, reduced
//! by Polars before it reaches Rust: busy identities (a service account
//! with a million events a month) would otherwise be a million rows of
//! strings. Per identity: its events per bucket over the baseline and the
//! window, the actions its baseline knows, the distinct (bucket, action,
//! target) of its window, and its findings' evidence events in full.

use std::collections::{HashMap, HashSet};

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::lake::{Location, T};
use crate::review::{events as events_of, identity_scan, Event, Finding, RunBounds};
use crate::schema::{ACTION, EVENT_ID, TARGET, USER};

/// The start of the event's bucket, in microseconds.
const BUCKET: &str = "bucket";
const EVENTS: &str = "events";

/// One identity's activity, as the report charts it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// (bucket start, events) of every bucket with events, baseline and
    /// window, in time order.
    pub buckets: Vec<(i64, u64)>,
    /// The actions of the identity's baseline.
    pub known: HashSet<String>,
    /// The window's distinct (bucket start, action, target).
    pub window: Vec<(i64, String, String)>,
    /// Its findings' evidence events in the window, in time order.
    pub evidence: Vec<Event>,
}

/// Per identity of `findings`, what it did from the baseline's start to the
/// window's end.
pub fn read(
    lake: &Location,
    bounds: &RunBounds,
    findings: &[Finding],
) -> Result<HashMap<String, Observed>> {
    let users: Vec<&str> = findings.iter().map(|f| f.user.as_str()).collect();
    let (from, to) = (bounds.baseline_start, bounds.window_end);
    let Some(scan) = identity_scan(lake, &users, from, to)? else {
        return Ok(HashMap::new());
    };
    let ids: Vec<&str> = findings
        .iter()
        .flat_map(|f| f.evidence.iter().map(String::as_str))
        .collect();
    let doing = || format!("reading the reviewed identities' activity from {lake}");
    let query = |lf: LazyFrame| lf.collect().map_err(Error::query(doing()));
    // The lake is read once; the four reductions run on its rows in memory.
    let scan = query(scan)?.lazy();
    // Every event is at or after the baseline's start, on the buckets' grid.
    let since = col(T) - lit(bounds.baseline_start);
    let bucket = (col(T) - since % lit(bounds.bucket_micros)).alias(BUCKET);
    let in_window = col(T).gt_eq(lit(bounds.window_start));
    let counts = query(
        scan.clone()
            .group_by([col(USER), bucket.clone()])
            .agg([len().alias(EVENTS)])
            .sort([USER, BUCKET], Default::default()),
    )?;
    let known = query(
        scan.clone()
            .filter(in_window.clone().not())
            .select([col(USER), col(ACTION)])
            .unique_stable(None, UniqueKeepStrategy::Any),
    )?;
    let window = query(
        scan.clone()
            .filter(in_window.clone())
            .select([
                col(USER),
                bucket,
                col(ACTION),
                col(TARGET).fill_null(lit("")),
            ])
            .unique_stable(None, UniqueKeepStrategy::Any),
    )?;
    let evidence =
        query(
            scan.filter(in_window.and(
                col(EVENT_ID).is_in(lit(Series::new("ids".into(), ids)).implode(false), false),
            ))
            .sort([USER, T], Default::default()),
        )?;
    let frames = Frames {
        counts,
        known,
        window,
        evidence,
    };
    frames.gather().map_err(Error::query(doing()))
}

/// The reduced frames of [`read`].
struct Frames {
    /// user, bucket, events.
    counts: DataFrame,
    /// user, action: the baseline's.
    known: DataFrame,
    /// user, bucket, action, target: the window's, distinct.
    window: DataFrame,
    /// The evidence events, whole.
    evidence: DataFrame,
}

impl Frames {
    fn gather(&self) -> PolarsResult<HashMap<String, Observed>> {
        let mut out: HashMap<String, Observed> = HashMap::new();
        let c = &self.counts;
        let events = c.column(EVENTS)?.cast(&DataType::UInt64)?;
        let rows = c
            .column(USER)?
            .str()?
            .iter()
            .zip(c.column(BUCKET)?.i64()?.iter());
        for ((u, i), n) in rows.zip(events.u64()?.iter()) {
            if let (Some(u), Some(i), Some(n)) = (u, i, n) {
                out.entry(u.to_owned()).or_default().buckets.push((i, n));
            }
        }
        let k = &self.known;
        for (u, a) in k
            .column(USER)?
            .str()?
            .iter()
            .zip(k.column(ACTION)?.str()?.iter())
        {
            if let (Some(u), Some(a)) = (u, a) {
                out.entry(u.to_owned())
                    .or_default()
                    .known
                    .insert(a.to_owned());
            }
        }
        let w = &self.window;
        let rows = w
            .column(USER)?
            .str()?
            .iter()
            .zip(w.column(BUCKET)?.i64()?.iter());
        let items = w
            .column(ACTION)?
            .str()?
            .iter()
            .zip(w.column(TARGET)?.str()?.iter());
        for ((u, i), (a, t)) in rows.zip(items) {
            if let (Some(u), Some(i), Some(a)) = (u, i, a) {
                let item = (i, a.to_owned(), t.unwrap_or("").to_owned());
                out.entry(u.to_owned()).or_default().window.push(item);
            }
        }
        for e in events_of(&self.evidence)? {
            out.entry(e.user.clone()).or_default().evidence.push(e);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::identity_events;
    use crate::window::{day_start, MICROS_PER_HOUR};

    /// The same activity folded in Rust from every event, one by one.
    fn folded(events: &[Event], bounds: &RunBounds, evidence: &HashSet<&str>) -> Observed {
        let mut o = Observed::default();
        let width = bounds.bucket_micros;
        let mut counts: std::collections::BTreeMap<i64, u64> = Default::default();
        let mut window = std::collections::BTreeSet::new();
        for e in events {
            let start = e.t - (e.t - bounds.window_start).rem_euclid(width);
            *counts.entry(start).or_default() += 1;
            if e.t < bounds.window_start {
                o.known.insert(e.action.clone());
            } else {
                window.insert((start, e.action.clone(), e.target.clone()));
                if evidence.contains(e.event_id.as_str()) {
                    o.evidence.push(e.clone());
                }
            }
        }
        o.buckets = counts.into_iter().collect();
        o.window = window.into_iter().collect();
        o
    }

    #[test]
    fn the_reduced_activity_is_what_folding_every_event_gives() {
        let lake =
            Location::Local(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data"));
        let day = |d: u32| day_start(chrono::NaiveDate::from_ymd_opt(2026, 11, d).unwrap());
        let bounds = RunBounds {
            run_id: "r".into(),
            baseline_start: day(1) - 14 * crate::window::MICROS_PER_DAY,
            window_start: day(4) + 9 * MICROS_PER_HOUR,
            window_end: day(7) + 9 * MICROS_PER_HOUR + 30 * crate::window::MICROS_PER_MINUTE,
            bucket_micros: MICROS_PER_HOUR,
        };
        let users = ["raj.sharma@example.com", "maria.brown@example.com"];
        let all = identity_events(&lake, &users, bounds.baseline_start, bounds.window_end).unwrap();
        // Evidence: every third event of the window, of both identities.
        let picked: Vec<&Event> = all
            .iter()
            .filter(|e| e.t >= bounds.window_start)
            .step_by(3)
            .collect();
        let finding = |user: &str| Finding {
            user: user.into(),
            evidence: picked
                .iter()
                .filter(|e| e.user == user)
                .map(|e| e.event_id.clone())
                .collect(),
            ..Finding::default()
        };
        let findings: Vec<Finding> = users.iter().map(|u| finding(u)).collect();
        let read = read(&lake, &bounds, &findings).unwrap();
        assert_eq!(read.len(), 2);
        let evidence: HashSet<&str> = picked.iter().map(|e| e.event_id.as_str()).collect();
        for user in users {
            let mine: Vec<Event> = all.iter().filter(|e| e.user == user).cloned().collect();
            let mut got = read[user].clone();
            got.window.sort();
            assert!(got.buckets.len() > 24 && !got.evidence.is_empty(), "{user}");
            assert_eq!(got, folded(&mine, &bounds, &evidence), "{user}");
        }
    }
}
