//! Stage 5b: per-bucket scores, written as `scores.parquet` beside the
//! findings. Every identity's every active bucket in the window gets the
//! score of the evidence that bucket carries (where each piece happened, as
//! `rank` places it), combined the way a finding's is: per detector its
//! strongest calibrated p-value, then `rank::combine`. A bucket no evidence
//! falls in scores 0. It is what a timeline or an operating curve needs:
//! the quiet hours too, not just the findings.

use std::collections::HashMap;

use super::calibrate::Calibration;
use super::rank::{carriers, combine};
use super::score::Scored;
use crate::activity::baseline::{Baselines, WindowActivity};
use crate::detectors::Evidence;
use crate::stats::score;

/// One identity's one bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketScore {
    pub user: String,
    pub bucket_start: i64,
    pub bucket_end: i64,
    /// 0-100, on the findings' scale.
    pub score: f64,
    /// The detector with the strongest calibrated evidence here (none
    /// where no evidence fell).
    pub top_detector: Option<String>,
    /// That evidence's reason.
    pub top_reason: Option<String>,
    pub events: u64,
}

/// Per (user, bucket): per detector, its strongest calibrated evidence.
type Carried<'a> = HashMap<(u32, i64), HashMap<usize, (f64, &'a Evidence)>>;

/// Scores of every active (identity, bucket) of the window, by user name
/// then time.
pub fn bucket_scores(
    scored: &Scored,
    calibration: &Calibration,
    baselines: &Baselines,
    window: &WindowActivity,
) -> Vec<BucketScore> {
    let width = baselines.bucket.micros;
    let mut carried: Carried = HashMap::new();
    for (d, e) in &scored.evidence {
        let p = calibration.p_value(*d, e.p_value);
        for bucket in carriers(e, &window.counts[e.user as usize], width) {
            let slot = carried.entry((e.user, bucket)).or_default();
            let best = slot.entry(*d).or_insert((p, e));
            if p < best.0 {
                *best = (p, e);
            }
        }
    }
    let n_detectors = scored.detectors.len();
    let mut out = Vec::new();
    for (user, rows) in window.counts.iter().enumerate() {
        let name = baselines.user_names.name(user as u32);
        let mut events: Vec<(i64, u64)> = Vec::new();
        for r in rows {
            match events.last_mut() {
                Some((b, n)) if *b == r.bucket => *n += u64::from(r.n),
                _ => events.push((r.bucket, u64::from(r.n))),
            }
        }
        for (bucket, n) in events {
            let here = carried.get(&(user as u32, bucket));
            // In detector order, so the combined p is the same on every run.
            let mut ps: Vec<(usize, f64)> =
                here.map_or(Vec::new(), |h| h.iter().map(|(d, x)| (*d, x.0)).collect());
            ps.sort_by_key(|(d, _)| *d);
            let ps: Vec<f64> = ps.into_iter().map(|(_, p)| p).collect();
            let top = here
                .and_then(|h| {
                    h.iter()
                        .min_by(|a, b| a.1 .0.total_cmp(&b.1 .0).then(a.0.cmp(b.0)))
                })
                .map(|(d, (_, e))| (scored.detectors[*d].name.clone(), e.reason.clone()));
            let (top_detector, top_reason) = top.unzip();
            out.push(BucketScore {
                user: name.to_owned(),
                bucket_start: bucket,
                bucket_end: bucket + width,
                score: if ps.is_empty() {
                    0.0
                } else {
                    score(combine(&ps, n_detectors))
                },
                top_detector,
                top_reason,
                events: n,
            });
        }
    }
    out.sort_by(|a, b| {
        a.user
            .cmp(&b.user)
            .then(a.bucket_start.cmp(&b.bucket_start))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::testing::{at, habit, Lake, WINDOW_DAY};
    use crate::pipeline::score::DetectorReport;

    fn report(name: &str) -> DetectorReport {
        DetectorReport {
            name: name.into(),
            evidence: 0,
            error: None,
            elapsed_ms: 0,
        }
    }

    #[test]
    fn every_active_bucket_is_scored_and_quiet_ones_score_zero() {
        let (morning, night) = (at(WINDOW_DAY, 9), at(WINDOW_DAY, 23));
        let lake = habit(Lake::new(), "ana", "get pods", 2)
            .count("ana", morning, "get pods", 2)
            .count("ana", night, "create pods/exec", 5)
            .count("ana", night, "get pods", 1);
        let (b, w) = lake.build();
        let ana = b.user_names.get("ana").unwrap();
        let exec = b.values.get("create pods/exec").unwrap();
        let width = b.bucket.micros;
        let evidence = Evidence {
            user: ana,
            start: night,
            end: night + width,
            p_value: 1e-6,
            reason: "5 × create pods/exec".into(),
            observed: 5.0,
            expected: 0.1,
            actions: vec![exec],
            at: Vec::new(),
            techniques: Vec::new(),
        };
        let scored = Scored {
            evidence: vec![(1, evidence)],
            detectors: vec![report("breadth"), report("count_spike")],
        };
        let rows = bucket_scores(&scored, &Calibration::default(), &b, &w);
        let summary: Vec<(i64, u64, Option<&str>)> = rows
            .iter()
            .map(|r| (r.bucket_start, r.events, r.top_detector.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [(morning, 2, None), (night, 6, Some("count_spike"))]
        );
        assert_eq!(rows[0].score, 0.0);
        // One detector of two: it pays for the other, as a finding would.
        assert!((rows[1].score - score(2e-6)).abs() < 1e-9);
        assert_eq!(rows[1].bucket_end, night + width);
    }
}
