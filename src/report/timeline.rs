//! One identity's activity over a run's window, bucket by bucket, against
//! what its baseline makes of the same time of day: the count expected
//! (the baseline days' mean) and the band of ordinary days (their 10th to
//! 90th percentile). With the bucket scores the run gave, the actions the
//! identity had never used before, the sensitive ones, and the finding's
//! evidence events.

use std::collections::BTreeSet;

use super::activity::Observed;
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
/// bucket scores; `observed` what the lake holds of the identity. Without
/// it the counts come from the bucket scores.
pub fn build(
    bounds: &RunBounds,
    finding: &Finding,
    scores: &[ScoredBucket],
    observed: Option<&Observed>,
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
    if let Some(observed) = observed {
        timeline.counts = vec![0; n];
        for (start, events) in &observed.buckets {
            if let Some(i) = index(*start) {
                timeline.counts[i] = *events;
            }
        }
        timeline.band = Some(band(bounds, &observed.buckets, n));
        mark(&mut timeline, observed, sensitivity, index);
    }
    timeline
}

/// Per window bucket: the expectation and band of its time of day over the
/// baseline's days, from the (bucket start, events) of the identity.
fn band(bounds: &RunBounds, buckets: &[(i64, u64)], n: usize) -> Vec<Band> {
    let width = bounds.bucket_micros;
    let slots = (MICROS_PER_DAY / width).max(1) as usize;
    let slot = |t: i64| (t.rem_euclid(MICROS_PER_DAY) / width) as usize % slots;
    let days = ((bounds.window_start - bounds.baseline_start) / MICROS_PER_DAY).max(1) as usize;
    let mut per_day = vec![vec![0u64; slots]; days];
    for (start, events) in buckets.iter().filter(|(t, _)| *t < bounds.window_start) {
        let day = (start - bounds.baseline_start).div_euclid(MICROS_PER_DAY);
        if let Some(row) = usize::try_from(day).ok().and_then(|d| per_day.get_mut(d)) {
            row[slot(*start)] += events;
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

/// The window's first-seen and sensitive marks, and the evidence.
fn mark(
    timeline: &mut Timeline,
    observed: &Observed,
    sensitivity: &Sensitivity,
    index: impl Fn(i64) -> Option<usize>,
) {
    for (start, action, target) in &observed.window {
        let Some(i) = index(*start) else { continue };
        if !observed.known.contains(action) {
            timeline.first_seen[i] = true;
            timeline.first_seen_actions.insert(action.clone());
        }
        let sensitive = sensitivity.action(action).is_some()
            || (!target.is_empty() && sensitivity.target(target).is_some());
        if sensitive {
            timeline.sensitive[i] = true;
            timeline.sensitive_actions.insert(action.clone());
        }
    }
    timeline.evidence = observed.evidence.clone();
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
    use crate::review::Finding;
    use crate::window::{MICROS_PER_HOUR, MICROS_PER_MINUTE};

    const DAY: i64 = MICROS_PER_DAY;

    fn finding(at: i64) -> Finding {
        Finding {
            user: "ana".into(),
            start: at,
            end: at + MICROS_PER_HOUR,
            ..Finding::default()
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

    fn item(start: i64, action: &str) -> (i64, String, String) {
        (start, action.into(), String::new())
    }

    #[test]
    fn the_band_is_the_same_hour_over_the_baseline_days_and_marks_what_is_new() {
        let bounds = bounds(0, (10 * DAY, 11 * DAY), MICROS_PER_HOUR);
        let at = 10 * DAY + 3 * MICROS_PER_HOUR;
        let observed = Observed {
            // 9:00 on each of the ten baseline days: 1, 2, ..., 10 events.
            buckets: (0..10)
                .map(|d| (d * DAY + 9 * MICROS_PER_HOUR, d as u64 + 1))
                .chain([(at, 2)])
                .collect(),
            known: ["get pods".to_owned()].into(),
            window: vec![item(at, "create pods/exec"), item(at, "get pods")],
            evidence: Vec::new(),
        };
        let t = build(
            &bounds,
            &finding(at),
            &[],
            Some(&observed),
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
        let late = start + DAY;
        let observed = Observed {
            // 10:30-11:00 on each baseline day: 4 events.
            buckets: (0..7)
                .map(|d| (d * DAY + 21 * half, 4))
                .chain([(late, 1)])
                .collect(),
            known: ["get pods".to_owned()].into(),
            window: vec![item(late, "get pods")],
            evidence: Vec::new(),
        };
        let scores = [ScoredBucket {
            user: "ana".into(),
            start: late,
            end: late + half,
            score: 40.0,
            events: 1,
        }];
        let t = build(
            &bounds,
            &finding(late),
            &scores,
            Some(&observed),
            &exec_is_sensitive(),
        );
        assert_eq!(t.counts.len(), 49);
        assert_eq!(t.counts[48], 1, "the part bucket holds its event");
        assert_eq!(t.scores[48], 40.0);
        let band = t.band.unwrap();
        assert_eq!(band.len(), 49);
        // Bucket 3 of the window is 10:30.
        assert_eq!(band[3].expected, 4.0);
        assert_eq!(band.iter().filter(|b| b.expected > 0.0).count(), 1);
        assert!(t.first_seen.iter().all(|m| !m));
    }

    #[test]
    fn without_the_lake_the_counts_are_the_bucket_scores_and_there_is_no_band() {
        let bounds = bounds(0, (7 * DAY, 8 * DAY), MICROS_PER_HOUR);
        let at = 7 * DAY + 5 * MICROS_PER_HOUR;
        let scores = [ScoredBucket {
            user: "ana".into(),
            start: at,
            end: at + MICROS_PER_HOUR,
            score: 80.0,
            events: 12,
        }];
        let t = build(&bounds, &finding(at), &scores, None, &exec_is_sensitive());
        assert_eq!((t.counts[5], t.scores[5]), (12, 80.0));
        assert_eq!(t.counts.iter().sum::<u64>(), 12);
        assert!(t.band.is_none());
    }
}
