//! Stage 5: evidence into findings. Per identity, evidence whose spans touch
//! or overlap merges into one finding. Per finding each detector contributes
//! its strongest p-value, calibrated on the baseline (`calibrate`), and
//! [`combine`] makes one p-value of them: Fisher's method over the detectors
//! that reported, times the number of such subsets. That p maps to the 0-100
//! score (`stats::score`). Findings below the threshold are dropped; the rest
//! are ranked by score, ties broken by user and start time.

use std::collections::BTreeMap;

use super::calibrate::Calibration;
use super::score::Scored;
use crate::activity::baseline::{Baselines, WindowActivity};
use crate::activity::CountRow;
use crate::detectors::Evidence;
use crate::stats::{fisher, score, P_FLOOR};

#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub finding_id: String,
    pub rank: u32,
    pub score: f64,
    pub p_value: f64,
    pub user: String,
    pub window_start: i64,
    pub window_end: i64,
    pub detectors: Vec<String>,
    pub reasons: Vec<String>,
    pub observed: f64,
    pub expected: f64,
    pub top_actions: Vec<String>,
    /// Action names whose events are the evidence (for `evidence_event_ids`).
    pub evidence_actions: Vec<String>,
    pub evidence_event_ids: Vec<String>,
    pub peer_group: String,
}

#[derive(Debug, Clone, Copy)]
pub struct RankOptions {
    pub min_score: f64,
    pub max_findings: usize,
}

/// How many reasons a finding lists; the strongest come first.
const MAX_REASONS: usize = 6;
const MAX_TOP_ACTIONS: usize = 5;

/// Returns the ranked findings and how many candidates there were before the
/// threshold and cap.
pub fn top_findings(
    scored: &Scored,
    calibration: &Calibration,
    baselines: &Baselines,
    window: &WindowActivity,
    options: RankOptions,
) -> (Vec<Finding>, usize) {
    let width = baselines.bucket.micros;
    let n_detectors = scored.detectors.len();
    let mut by_user: BTreeMap<u32, Vec<(usize, &Evidence)>> = BTreeMap::new();
    for (d, e) in &scored.evidence {
        by_user.entry(e.user).or_default().push((*d, e));
    }
    let mut candidates = Vec::new();
    for (user, evidence) in by_user {
        for cluster in touching(evidence, width) {
            candidates.push(finding(
                user,
                &cluster,
                n_detectors,
                scored,
                calibration,
                baselines,
                window,
            ));
        }
    }
    let total = candidates.len();
    candidates.retain(|f| f.score >= options.min_score);
    candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.user.cmp(&b.user))
            .then(a.window_start.cmp(&b.window_start))
    });
    candidates.truncate(options.max_findings);
    for (i, f) in candidates.iter_mut().enumerate() {
        f.rank = i as u32 + 1;
    }
    (candidates, total)
}

/// Groups one identity's evidence into runs whose spans overlap or touch
/// (a gap of at most one bucket).
fn touching(mut evidence: Vec<(usize, &Evidence)>, width: i64) -> Vec<Vec<(usize, &Evidence)>> {
    evidence.sort_by(|a, b| {
        (a.1.start, a.1.end, a.0)
            .cmp(&(b.1.start, b.1.end, b.0))
            .then(a.1.p_value.total_cmp(&b.1.p_value))
    });
    let mut clusters: Vec<Vec<(usize, &Evidence)>> = Vec::new();
    let mut end = i64::MIN;
    for item in evidence {
        match clusters.last_mut() {
            Some(cluster) if item.1.start <= end + width => {
                end = end.max(item.1.end);
                cluster.push(item);
            }
            _ => {
                end = item.1.end;
                clusters.push(vec![item]);
            }
        }
    }
    clusters
}

fn finding(
    user: u32,
    cluster: &[(usize, &Evidence)],
    n_detectors: usize,
    scored: &Scored,
    calibration: &Calibration,
    baselines: &Baselines,
    window: &WindowActivity,
) -> Finding {
    let start = cluster.iter().map(|(_, e)| e.start).min().unwrap_or(0);
    let end = cluster.iter().map(|(_, e)| e.end).max().unwrap_or(0);
    // Strongest evidence per detector.
    let mut best: BTreeMap<usize, &Evidence> = BTreeMap::new();
    for (d, e) in cluster {
        let slot = best.entry(*d).or_insert(e);
        if e.p_value < slot.p_value {
            *slot = e;
        }
    }
    let ps: Vec<f64> = best
        .iter()
        .map(|(d, e)| calibration.p_value(*d, e.p_value))
        .collect();
    let p = combine(&ps, n_detectors);
    let strongest = best
        .values()
        .min_by(|a, b| a.p_value.total_cmp(&b.p_value))
        .copied()
        .expect("a cluster holds evidence");

    let mut sorted: Vec<&Evidence> = cluster.iter().map(|(_, e)| *e).collect();
    sorted.sort_by(|a, b| {
        a.p_value
            .total_cmp(&b.p_value)
            .then(a.reason.cmp(&b.reason))
    });
    let reasons = reasons(&sorted);
    let (evidence_actions, top, volume) =
        actions(&sorted, &window.counts[user as usize], start, end);
    let name = |a: u32| baselines.values.name(a).to_owned();
    let user_name = baselines.user_names.name(user).to_owned();
    Finding {
        finding_id: finding_id(&user_name, start, end),
        rank: 0,
        score: score(p),
        p_value: p,
        user: user_name,
        window_start: start,
        window_end: end,
        detectors: best
            .keys()
            .map(|d| scored.detectors[*d].name.clone())
            .collect(),
        reasons,
        observed: strongest.observed,
        expected: strongest.expected,
        top_actions: top
            .iter()
            .map(|a| format!("{} ×{}", name(*a), volume.get(a).copied().unwrap_or(0)))
            .collect(),
        evidence_actions: evidence_actions.iter().map(|a| name(*a)).collect(),
        evidence_event_ids: Vec::new(),
        peer_group: baselines.peers.label(user),
    }
}

/// The distinct reasons of the evidence (strongest first), at most
/// `MAX_REASONS`.
fn reasons(sorted: &[&Evidence]) -> Vec<String> {
    let mut reasons: Vec<String> = Vec::new();
    for e in sorted {
        if reasons.len() == MAX_REASONS {
            break;
        }
        if !reasons.contains(&e.reason) {
            reasons.push(e.reason.clone());
        }
    }
    reasons
}

/// The actions the evidence names (strongest first); the top actions: those,
/// then the busiest in the span; and each action's events in the span.
fn actions(
    sorted: &[&Evidence],
    counts: &[CountRow],
    start: i64,
    end: i64,
) -> (Vec<u32>, Vec<u32>, BTreeMap<u32, u64>) {
    let mut volume: BTreeMap<u32, u64> = BTreeMap::new();
    for r in counts
        .iter()
        .filter(|r| r.bucket >= start && r.bucket < end)
    {
        *volume.entry(r.action).or_default() += u64::from(r.n);
    }
    let mut evidence_actions: Vec<u32> = Vec::new();
    for a in sorted.iter().flat_map(|e| &e.actions) {
        if !evidence_actions.contains(a) {
            evidence_actions.push(*a);
        }
    }
    let mut by_volume: Vec<(u32, u64)> = volume.iter().map(|(a, n)| (*a, *n)).collect();
    by_volume.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut top: Vec<u32> = evidence_actions
        .iter()
        .copied()
        .take(MAX_TOP_ACTIONS)
        .collect();
    for (a, _) in by_volume {
        if top.len() == MAX_TOP_ACTIONS {
            break;
        }
        if !top.contains(&a) {
            top.push(a);
        }
    }
    (evidence_actions, top, volume)
}

/// One p-value for a finding from the calibrated p-values of the `k`
/// detectors that reported: Fisher's method over them (agreeing detectors
/// reinforce), times the number of ways to pick `k` of the `n` configured
/// detectors (a union bound: with more detectors, some subset agrees by
/// chance more often). One detector alone gets `n × p`; detectors that saw
/// nothing neither dilute nor add.
pub fn combine(ps: &[f64], n_detectors: usize) -> f64 {
    let k = ps.len();
    let n = n_detectors.max(k);
    let subsets: f64 = (0..k).map(|i| (n - i) as f64 / (i + 1) as f64).product();
    (subsets * fisher(ps)).clamp(P_FLOOR, 1.0)
}

/// A stable id: FNV-1a of user and span, so reruns name findings alike.
pub fn finding_id(user: &str, start: i64, end: i64) -> String {
    let bytes = user
        .bytes()
        .chain(start.to_le_bytes())
        .chain(end.to_le_bytes());
    format!("{:016x}", crate::hash::fnv1a(crate::hash::FNV_BASIS, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence(start: i64, end: i64) -> Evidence {
        Evidence {
            user: 0,
            start,
            end,
            p_value: 0.01,
            reason: String::new(),
            observed: 0.0,
            expected: 0.0,
            actions: Vec::new(),
        }
    }

    #[test]
    fn evidence_in_adjacent_buckets_merges_and_a_gap_splits() {
        let (a, b, c) = (evidence(0, 10), evidence(10, 20), evidence(35, 40));
        let clusters = touching(vec![(0, &c), (1, &a), (0, &b)], 10);
        let sizes: Vec<usize> = clusters.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![2, 1]);
        // One empty bucket between two pieces of evidence still merges them.
        let d = evidence(30, 40);
        assert_eq!(touching(vec![(0, &a), (0, &b), (0, &d)], 10).len(), 1);
    }

    #[test]
    fn one_detector_pays_for_the_others_and_agreement_reinforces() {
        assert!((combine(&[1e-4], 5) - 5e-4).abs() < 1e-12);
        // Two detectors at 1e-3 each beat either alone, after paying for
        // the ten pairs five detectors make.
        let two = combine(&[1e-3, 1e-3], 5);
        assert!(two < 1e-3 && two > 1e-5, "{two}");
        assert_eq!(combine(&[], 5), 1.0);
    }

    #[test]
    fn finding_ids_are_sixteen_hex_digits_that_distinguish_users_and_spans() {
        let id = finding_id("a", 1, 2);
        assert!(
            id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "{id}"
        );
        assert_ne!(id, finding_id("a", 1, 3));
        assert_ne!(id, finding_id("a", 0, 2));
        assert_ne!(id, finding_id("b", 1, 2));
    }
}
