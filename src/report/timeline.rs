//! One identity's activity over a run's window, bucket by bucket, against
//! what its baseline makes of the same time of day: the count expected
//! (the baseline days' mean) and the band of ordinary days (their 10th to
//! 90th percentile). With the bucket scores the run gave, the actions the
//! identity had never used before, the sensitive ones, and the finding's
//! evidence events.

use std::collections::{BTreeSet, HashSet};

use crate::eval::ScoredBucket;
use crate::review::{Event, Finding, RunBounds};
use crate::sensitivity::Sensitivity;
use crate::window::MICROS_PER_DAY;

/// The band's quantiles over the baseline's days.
const BAND_LOW: f64 = 0.1;
const BAND_HIGH: f64 = 0.9;

/// What the baseline expects of one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    pub expected: f64,
    pub low: f64,
    pub high: f64,
}

/// One identity over the run's window; every vector has one entry per
/// bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub window_start: i64,
    pub bucket_micros: i64,
    pub counts: Vec<u64>,
    /// The run's score of each bucket (0 where no evidence fell).
    pub scores: Vec<f64>,
    /// None without the lake.
    pub band: Option<Vec<Band>>,
    pub baseline_days: i64,
    /// Buckets with an action the baseline never saw from this identity.
    pub first_seen: Vec<bool>,
    /// Buckets with an action or target the sensitivity table lists.
    pub sensitive: Vec<bool>,
    pub first_seen_actions: BTreeSet<String>,
    pub sensitive_actions: BTreeSet<String>,
    /// The finding's evidence events found in the lake, in time order.
    pub evidence: Vec<Event>,
}

/// `finding`'s identity over the run's window. `scores` are the run's
/// bucket scores; `events` the lake's events of the reviewed identities
/// from the baseline's start (by user, then time). Without events the
/// counts come from the bucket scores.
pub fn build(
    bounds: &RunBounds,
    finding: &Finding,
    scores: &[ScoredBucket],
    events: Option<&[Event]>,
    sensitivity: &Sensitivity,
) -> Timeline {
    let width = bounds.bucket_micros;
    // A window may end inside a bucket (an instant `--to`): that part
    // bucket is drawn too.
    let n =
        ((bounds.window_end - bounds.window_start).max(0) as u64).div_ceil(width as u64) as usize;
    let index = |t: i64| -> Option<usize> {
        let i = (t - bounds.window_start).div_euclid(width);
        (0..n as i64).contains(&i).then_some(i as usize)
    };
    let mut timeline = Timeline {
        window_start: bounds.window_start,
        bucket_micros: width,
        counts: vec![0; n],
        scores: vec![0.0; n],
        band: None,
        baseline_days: ((bounds.window_start - bounds.baseline_start) / MICROS_PER_DAY).max(1),
        first_seen: vec![false; n],
        sensitive: vec![false; n],
        first_seen_actions: BTreeSet::new(),
        sensitive_actions: BTreeSet::new(),
        evidence: Vec::new(),
    };
    for bucket in scores.iter().filter(|b| b.user == finding.user) {
        if let Some(i) = index(bucket.start) {
            timeline.scores[i] = bucket.score;
            timeline.counts[i] = bucket.events;
        }
    }
    if let Some(events) = events {
        let own: Vec<&Event> = events.iter().filter(|e| e.user == finding.user).collect();
        timeline.counts = vec![0; n];
        timeline.band = Some(band(bounds, &own, n));
        mark(
            &mut timeline,
            finding,
            &own,
            bounds.window_start,
            sensitivity,
            index,
        );
    }
    timeline
}

/// Per window bucket: the expectation and band of its time of day over the
/// baseline's days.
fn band(bounds: &RunBounds, events: &[&Event], n: usize) -> Vec<Band> {
    let width = bounds.bucket_micros;
    let slots = (MICROS_PER_DAY / width).max(1) as usize;
    let slot = |t: i64| (t.rem_euclid(MICROS_PER_DAY) / width) as usize % slots;
    let days = ((bounds.window_start - bounds.baseline_start) / MICROS_PER_DAY).max(1) as usize;
    let mut per_day = vec![vec![0u64; slots]; days];
    for e in events.iter().filter(|e| e.t < bounds.window_start) {
        let day = ((e.t - bounds.baseline_start) / MICROS_PER_DAY) as usize;
        if let Some(row) = per_day.get_mut(day) {
            row[slot(e.t)] += 1;
        }
    }
    let by_slot: Vec<Band> = (0..slots)
        .map(|s| {
            let mut counts: Vec<f64> = per_day.iter().map(|d| d[s] as f64).collect();
            counts.sort_by(f64::total_cmp);
            Band {
                expected: counts.iter().sum::<f64>() / counts.len() as f64,
                low: quantile(&counts, BAND_LOW),
                high: quantile(&counts, BAND_HIGH),
            }
        })
        .collect();
    (0..n)
        .map(|i| by_slot[slot(bounds.window_start + i as i64 * width)])
        .collect()
}

/// The window's counts, first-seen and sensitive marks, and evidence.
fn mark(
    timeline: &mut Timeline,
    finding: &Finding,
    events: &[&Event],
    window_start: i64,
    sensitivity: &Sensitivity,
    index: impl Fn(i64) -> Option<usize>,
) {
    let known: HashSet<&str> = events
        .iter()
        .filter(|e| e.t < window_start)
        .map(|e| e.action.as_str())
        .collect();
    let evidence: HashSet<&str> = finding.evidence.iter().map(String::as_str).collect();
    for e in events {
        let Some(i) = index(e.t) else { continue };
        timeline.counts[i] += 1;
        if !known.contains(e.action.as_str()) {
            timeline.first_seen[i] = true;
            timeline.first_seen_actions.insert(e.action.clone());
        }
        let sensitive = sensitivity.action(&e.action).is_some()
            || (!e.target.is_empty() && sensitivity.target(&e.target).is_some());
        if sensitive {
            timeline.sensitive[i] = true;
            timeline.sensitive_actions.insert(e.action.clone());
        }
        if evidence.contains(e.event_id.as_str()) {
            timeline.evidence.push((*e).clone());
        }
    }
}

/// The `q` quantile of sorted `xs`, interpolated linearly (0 when empty).
fn quantile(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let at = q * (xs.len() - 1) as f64;
    let (below, above) = (at.floor() as usize, at.ceil() as usize);
    xs[below] + (xs[above] - xs[below]) * (at - below as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::{MICROS_PER_HOUR, MICROS_PER_MINUTE};

    const DAY: i64 = MICROS_PER_DAY;

    fn event(t: i64, action: &str, id: &str) -> Event {
        Event {
            user: "ana".into(),
            t,
            action: action.into(),
            event_id: id.into(),
            source: "k8s_audit".into(),
            target: String::new(),
            src_ip: String::new(),
            user_agent: String::new(),
        }
    }

    fn finding(at: i64, evidence: &[&str]) -> Finding {
        Finding {
            id: "f".into(),
            rank: 1,
            user: "ana".into(),
            start: at,
            end: at + MICROS_PER_HOUR,
            score: 90.0,
            p_value: 1e-9,
            observed: 1.0,
            expected: 0.0,
            detectors: vec![],
            reasons: vec![],
            top_actions: vec![],
            evidence: evidence.iter().map(|e| e.to_string()).collect(),
            techniques: vec![],
            peer_group: String::new(),
            first_seen: at,
            last_seen: at,
            status: "new".into(),
            run_id: "r".into(),
        }
    }

    fn bounds(baseline_start: i64, window: (i64, i64), bucket_micros: i64) -> RunBounds {
        RunBounds {
            run_id: "r".into(),
            baseline_start,
            window_start: window.0,
            window_end: window.1,
            bucket_micros,
        }
    }

    fn exec_is_sensitive() -> Sensitivity {
        Sensitivity::parse(
            "[[rule]]\nname = \"exec\"\nactions = [\"pods/exec\"]\ntechnique = \"T1609\"\nweight = 2.0\n",
        )
        .unwrap()
    }

    #[test]
    fn the_band_is_the_same_hour_over_the_baseline_days_and_marks_what_is_new() {
        let bounds = bounds(0, (10 * DAY, 11 * DAY), MICROS_PER_HOUR);
        // 9:00 on each of the ten baseline days: 1, 2, ..., 10 events.
        let mut events: Vec<Event> = (0..10)
            .flat_map(|d| {
                (0..=d).map(move |k| event(d * DAY + 9 * MICROS_PER_HOUR + k, "get pods", "b"))
            })
            .collect();
        let at = 10 * DAY + 3 * MICROS_PER_HOUR;
        events.push(event(at, "create pods/exec", "e1"));
        events.push(event(at + 1, "get pods", "e2"));
        let t = build(
            &bounds,
            &finding(at, &["e1"]),
            &[],
            Some(&events),
            &exec_is_sensitive(),
        );
        let band = t.band.as_ref().unwrap();
        assert_eq!(band.len(), 24);
        assert_eq!(band[9].expected, 5.5);
        assert!((band[9].low - 1.9).abs() < 1e-9, "{:?}", band[9]);
        assert!((band[9].high - 9.1).abs() < 1e-9, "{:?}", band[9]);
        let quiet = Band {
            expected: 0.0,
            low: 0.0,
            high: 0.0,
        };
        assert_eq!(band[3], quiet);
        assert_eq!(t.counts[3], 2);
        assert_eq!(t.counts.iter().sum::<u64>(), 2);
        assert!(t.first_seen[3] && t.sensitive[3]);
        assert_eq!(t.first_seen.iter().filter(|m| **m).count(), 1);
        assert_eq!(
            t.first_seen_actions.iter().collect::<Vec<_>>(),
            ["create pods/exec"]
        );
        assert_eq!(t.evidence.len(), 1);
        assert_eq!(t.evidence[0].event_id, "e1");
    }

    #[test]
    fn half_hour_buckets_from_a_morning_keep_their_time_of_day_and_a_part_last_bucket() {
        let half = 30 * MICROS_PER_MINUTE;
        let start = 7 * DAY + 9 * MICROS_PER_HOUR;
        // From 09:00 to 09:20 the next day: 48 whole buckets and a part one.
        let bounds = bounds(
            start - 7 * DAY,
            (start, start + DAY + 20 * MICROS_PER_MINUTE),
            half,
        );
        // 10:30-11:00 on each baseline day: 4 events.
        let mut events: Vec<Event> = (0..7)
            .flat_map(|d| (0..4).map(move |k| event(d * DAY + 21 * half + k, "get pods", "b")))
            .collect();
        let late = start + DAY + 5 * MICROS_PER_MINUTE;
        events.push(event(late, "get pods", "e1"));
        let scores = [ScoredBucket {
            user: "ana".into(),
            start: start + DAY,
            end: start + DAY + half,
            score: 40.0,
            events: 1,
        }];
        let t = build(
            &bounds,
            &finding(late, &["e1"]),
            &scores,
            Some(&events),
            &exec_is_sensitive(),
        );
        assert_eq!(t.counts.len(), 49);
        assert_eq!(t.counts[48], 1, "the part bucket holds its event");
        assert_eq!(t.scores[48], 40.0);
        let band = t.band.unwrap();
        // Bucket 3 of the window is 10:30.
        assert_eq!(band[3].expected, 4.0);
        assert_eq!(band.len(), 49);
        assert_eq!(band.iter().filter(|b| b.expected > 0.0).count(), 1);
        assert!(t.first_seen.iter().all(|m| !m));
        assert_eq!(t.evidence.len(), 1);
    }
}
