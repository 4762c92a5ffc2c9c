//! Stage 3, beside the baseline: calibrate every detector on ordinary days,
//! so their p-values mean the same thing before they are combined.
//!
//! The single-axis detectors' p-values come from models (negative binomial,
//! Poisson, smoothed profiles) that real behaviour departs from: an
//! identity's counts are burstier than any fitted tail, so "p = 1e-9" turns
//! up on ordinary days. Left alone, the detector whose model is the most
//! over-confident would rank the findings.
//!
//! So the run first rehearses on its own baseline: the last
//! `min(max(window, 7), baseline / 2)` days of the baseline become a practice window
//! scored against the days before them, with the same detectors and peers.
//! For each detector that gives, per active identity-day of the practice
//! window, its strongest surprise `-ln p` (0 where it reported nothing).
//! A window p-value is then mapped through that distribution
//! ([`TailCalibration::surprise`]): the calibrated p-value is the share of
//! practice identity-days with evidence at least as strong from this
//! detector (interpolated between two practice days' values), and past the strongest few of them (the third, or the top 1%
//! of practice identity-days when that is deeper) the detector's own tail
//! shape takes over (each further nat of surprise divides the chance by e).
//! Calibration only discounts: a calibrated p is never below the
//! detector's own. A detector that reported on fewer than `MIN_TAIL`
//! practice identity-days keeps its own p-values (its model is not
//! contradicted by the data). The isolation forest is calibrated on
//! baseline days already and passes through unchanged in practice.

use std::collections::HashMap;

use tracing::info;

use super::score;
use crate::activity::baseline;
use crate::activity::peers::Peers;
use crate::activity::{Activity, SeenRow};
use crate::detectors::Detector;
use crate::stats::{TailCalibration, P_FLOOR};
use crate::window::{day_floor, Bucket, Window, MICROS_PER_DAY};

/// The shortest practice window: a daily run rehearses on a whole week, or
/// its calibration would learn from one (perhaps quiet) day.
const MIN_PRACTICE_DAYS: i64 = 7;
/// Fewer practice identity-days with evidence than this and a detector's
/// own p-values stand.
const MIN_TAIL: usize = 10;
/// Past the third most surprising practice day, the detector's own tail
/// shape takes over (see `TailCalibration::surprise`).
const ANCHOR: usize = 3;
/// ... or past the top share of practice identity-days, whichever is
/// deeper: a daily run's practice week holds the days before it, and with
/// them whatever was strange then (last Tuesday's attack, an incident), and
/// a handful of such days must not set the bar for today.
const ANCHOR_SHARE: f64 = 0.01;

/// Per detector (in run order): how its p-values map to calibrated ones.
#[derive(Debug, Default)]
pub struct Calibration {
    detectors: Vec<Option<TailCalibration>>,
    pub report: Vec<CalibrationReport>,
}

/// What the rehearsal found, for `run.json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CalibrationReport {
    pub detector: String,
    /// Active identity-days in the practice window.
    pub practice_days: usize,
    /// Of those, days the detector reported evidence on.
    pub days_with_evidence: usize,
    /// Whether its p-values are mapped (false: too few days to learn from).
    pub calibrated: bool,
}

impl Calibration {
    /// The calibrated p-value of detector `d`'s evidence.
    pub fn p_value(&self, d: usize, p: f64) -> f64 {
        let p = p.clamp(P_FLOOR, 1.0);
        match self.detectors.get(d) {
            Some(Some(tail)) => tail.p_value(-p.ln()).max(p),
            _ => p,
        }
    }
}

/// The practice identity-day the calibration counts up to, from the top.
fn anchor(practice_days: usize) -> usize {
    ANCHOR.max((practice_days as f64 * ANCHOR_SHARE).ceil() as usize)
}

/// The practice split of a run's baseline, from [`rehearsal`].
pub struct Rehearsal {
    activity: Activity,
    window: Window,
}

/// Calibrates every detector on the rehearsal (none: too short a baseline;
/// every detector keeps its own p-values).
pub fn fit(
    detectors: &[&dyn Detector],
    rehearsal: Option<Rehearsal>,
    bucket: Bucket,
    peers: Peers,
) -> Calibration {
    let Some(Rehearsal { activity, window }) = rehearsal else {
        return Calibration::default();
    };
    let (baselines, current) = baseline::build(activity, &window, bucket, peers);
    let scored = score::run(detectors, &baselines, &current);
    let active_days = current.days.len();
    let mut strongest: Vec<HashMap<(u32, i64), f64>> = vec![HashMap::new(); detectors.len()];
    for (d, e) in &scored.evidence {
        let surprise = -e.p_value.clamp(P_FLOOR, 1.0).ln();
        // The day the evidence starts in: the unit the forest scores too.
        let day = day_floor(e.start);
        let slot = strongest[*d].entry((e.user, day)).or_insert(0.0);
        *slot = slot.max(surprise);
    }
    let mut out = Calibration::default();
    for (d, detector) in detectors.iter().enumerate() {
        let with_evidence = strongest[d].len().min(active_days);
        let mut values: Vec<f64> = strongest[d].values().copied().collect();
        values.resize(active_days.max(values.len()), 0.0);
        values.sort_by(f64::total_cmp);
        let calibrated = with_evidence >= MIN_TAIL;
        tracing::debug!(
            detector = detector.name(),
            strongest = ?values.iter().rev().take(5).collect::<Vec<_>>(),
            "Strongest practice surprises (-ln p)."
        );
        out.detectors
            .push(calibrated.then(|| TailCalibration::surprise(values, anchor(active_days))));
        out.report.push(CalibrationReport {
            detector: detector.name().to_owned(),
            practice_days: active_days,
            days_with_evidence: with_evidence,
            calibrated,
        });
    }
    info!(
        practice_days = active_days,
        calibrated = out.detectors.iter().filter(|c| c.is_some()).count(),
        "Calibrated the detectors on the baseline."
    );
    out
}

/// The baseline split into a practice baseline and a practice window, with
/// the aggregates cut to match; `None` when the baseline is too short.
pub fn rehearsal(activity: &Activity, window: &Window) -> Option<Rehearsal> {
    let window_days = (window.end - window.start) / MICROS_PER_DAY;
    let practice_days = window_days
        .max(MIN_PRACTICE_DAYS)
        .min(i64::from(window.baseline_days) / 2);
    if practice_days < 1 {
        return None;
    }
    let start = window.start - practice_days * MICROS_PER_DAY;
    let practice_window = Window {
        baseline_start: window.baseline_start,
        start,
        end: window.start,
        baseline_days: window.baseline_days - practice_days as u32,
    };
    let end = window.start;
    // First-seen is relative to the practice split: a value first touched
    // in the practice window is new there.
    let seen: Vec<SeenRow> = activity
        .seen
        .iter()
        .filter(|r| r.first < end)
        .map(|r| SeenRow {
            n_baseline: u32::from(r.first < start),
            n_window: u32::from(r.first >= start),
            ..*r
        })
        .collect();
    let practice = Activity {
        users: activity.users.clone(),
        values: activity.values.clone(),
        counts: activity
            .counts
            .iter()
            .filter(|r| r.bucket < end)
            .copied()
            .collect(),
        seen,
        breadth: activity
            .breadth
            .iter()
            .filter(|r| r.day < end)
            .copied()
            .collect(),
        asserted_groups: Vec::new(),
        quality: Default::default(),
    };
    Some(Rehearsal {
        activity: practice,
        window: practice_window,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::{Attr, CountRow};

    const DAY: i64 = MICROS_PER_DAY;

    #[test]
    fn the_rehearsal_is_the_last_days_of_the_baseline_and_never_sees_the_window() {
        let window = Window {
            baseline_start: 0,
            start: 28 * DAY,
            end: 35 * DAY,
            baseline_days: 28,
        };
        let count = |day: i64| CountRow {
            user: 0,
            bucket: day * DAY,
            tool: 0,
            action: 0,
            n: 1,
        };
        let seen = |first_day: i64| SeenRow {
            user: 0,
            attr: Attr::Namespace,
            value: first_day as u32,
            first: first_day * DAY,
            n_baseline: 1,
            n_window: 1,
        };
        let activity = Activity {
            counts: vec![count(3), count(22), count(30)],
            seen: vec![seen(3), seen(22), seen(30)],
            ..Default::default()
        };
        let Rehearsal {
            activity: practice,
            window: w,
        } = rehearsal(&activity, &window).unwrap();
        assert_eq!((w.baseline_start, w.start, w.end), (0, 21 * DAY, 28 * DAY));
        assert_eq!(w.baseline_days, 21);
        let days: Vec<i64> = practice.counts.iter().map(|r| r.bucket / DAY).collect();
        assert_eq!(days, vec![3, 22]);
        // First seen on day 22 is new in the practice window; day 30 is unseen.
        let flags: Vec<(u32, u32)> = practice
            .seen
            .iter()
            .map(|r| (r.n_baseline, r.n_window))
            .collect();
        assert_eq!(flags, vec![(1, 0), (0, 1)]);
    }

    #[test]
    fn a_daily_run_rehearses_on_a_week_and_a_short_baseline_on_its_half() {
        let day_window = |baseline_days: u32| Window {
            baseline_start: 28 * DAY - i64::from(baseline_days) * DAY,
            start: 28 * DAY,
            end: 29 * DAY,
            baseline_days,
        };
        let practice = |w: &Window| {
            let r = rehearsal(&Activity::default(), w).unwrap();
            (r.window.end - r.window.start) / DAY
        };
        assert_eq!(practice(&day_window(28)), MIN_PRACTICE_DAYS);
        assert_eq!(practice(&day_window(6)), 3);
        assert!(rehearsal(&Activity::default(), &day_window(1)).is_none());
    }

    #[test]
    fn calibration_only_discounts_and_unknown_detectors_pass_through() {
        let mut c = Calibration::default();
        // A detector whose p = e^-30 shows up on 3 of 100 ordinary days.
        let mut values = vec![0.0; 97];
        values.extend([30.0, 30.0, 30.0]);
        c.detectors
            .push(Some(TailCalibration::surprise(values, ANCHOR)));
        c.detectors.push(None);
        let raw = (-30.0_f64).exp();
        assert!(c.p_value(0, raw) > 0.01);
        // Ten nats past the three practice days: their share, divided by e^10.
        let far = c.p_value(0, (-40.0_f64).exp());
        assert!(
            (far - 3.0 / 101.0 * (-10.0_f64).exp()).abs() < 1e-15,
            "{far}"
        );
        // Calibration never makes evidence stronger than the detector said.
        for raw in [0.9, 1e-3, 1e-9] {
            assert!(c.p_value(0, raw) >= raw, "{raw}");
        }
        assert_eq!(c.p_value(1, 1e-7), 1e-7);
        assert_eq!(c.p_value(7, 0.5), 0.5);
    }
}
