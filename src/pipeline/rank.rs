//! Stage 5: evidence into findings. A finding says when: its span is the
//! buckets that carry its evidence (see [`episodes`]). Per identity, evidence
//! about one bucket merges with evidence in touching buckets into an episode;
//! evidence about a day or the whole window joins the strongest episode it
//! happened in without stretching it, and makes an episode of its own where
//! it happened in none. Per finding each detector contributes
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
    /// MITRE ATT&CK techniques of the sensitive actions, targets and
    /// identities acted as behind the evidence.
    pub attack_techniques: Vec<String>,
    pub peer_group: String,
    /// Start of the first run's finding this one continues (its own start
    /// when new); see `continuity`.
    pub first_seen: i64,
    pub last_seen: i64,
    pub status: super::continuity::Status,
}

#[derive(Debug, Clone, Copy)]
pub struct RankOptions {
    pub min_score: f64,
    pub max_findings: usize,
}

/// How many reasons a finding lists at least (each contributing detector's
/// strongest is always listed, first).
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
        let counts = &window.counts[user as usize];
        let calibrated = |d: usize, p: f64| calibration.p_value(d, p);
        for episode in episodes(evidence, counts, width, calibrated) {
            candidates.push(finding(
                user,
                &episode,
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
    // By p-value: the score is the same order but is exactly 100.0 in f64
    // below about p = 1e-165, where several findings would tie.
    candidates.sort_by(|a, b| {
        a.p_value
            .total_cmp(&b.p_value)
            .then(a.user.cmp(&b.user))
            .then(a.window_start.cmp(&b.window_start))
    });
    candidates.truncate(options.max_findings);
    for (i, f) in candidates.iter_mut().enumerate() {
        f.rank = i as u32 + 1;
    }
    (candidates, total)
}

/// One piece of evidence and the buckets that carry it.
struct Piece<'a> {
    detector: usize,
    evidence: &'a Evidence,
    /// Bucket starts, ascending, never empty.
    at: Vec<i64>,
}

impl Piece<'_> {
    fn first(&self) -> i64 {
        self.at[0]
    }
    fn last(&self) -> i64 {
        self.at[self.at.len() - 1]
    }
}

/// A finding before scoring: its span and its evidence.
pub struct Episode<'a> {
    pub start: i64,
    pub end: i64,
    evidence: Vec<(usize, &'a Evidence)>,
}

/// Where `e` happened: the buckets its detector named, else the buckets of
/// its span where the identity did one of its actions (any action when it
/// names none), else the bucket it starts in.
pub(super) fn carriers(e: &Evidence, counts: &[CountRow], width: i64) -> Vec<i64> {
    let mut at = if e.at.is_empty() {
        counts
            .iter()
            .filter(|r| r.bucket >= e.start && r.bucket < e.end)
            .filter(|r| e.actions.is_empty() || e.actions.contains(&r.action))
            .map(|r| r.bucket)
            .collect()
    } else {
        e.at.clone()
    };
    at.sort_unstable();
    at.dedup();
    if at.is_empty() {
        at.push(e.start.div_euclid(width) * width);
    }
    at
}

/// One identity's evidence as episodes. Evidence about a single bucket
/// merges with evidence in buckets that touch it (a gap of at most one
/// bucket). Wider evidence (a day, the window, several days running) that
/// falls in no such episode makes episodes of its own, spanning its first
/// to last carrying bucket. The rest joins the strongest episode one of its
/// carrying buckets falls in, and does not widen it: once, so one day's
/// count does not raise three episodes of one identity to the same score.
fn episodes<'a>(
    evidence: Vec<(usize, &'a Evidence)>,
    counts: &[CountRow],
    width: i64,
    calibrated: impl Fn(usize, f64) -> f64,
) -> Vec<Episode<'a>> {
    let pieces: Vec<Piece> = evidence
        .into_iter()
        .map(|(detector, e)| Piece {
            detector,
            evidence: e,
            at: carriers(e, counts, width),
        })
        .collect();
    let (local, wide): (Vec<Piece>, Vec<Piece>) = pieces
        .into_iter()
        .partition(|p| p.evidence.end - p.evidence.start <= width);
    let mut out = touching(local, width);
    let carries = |piece: &Piece, e: &Episode| piece.at.iter().any(|b| *b >= e.start && *b < e.end);
    // What falls in no local episode makes episodes of its own first, so
    // the rest can join those too.
    let (joining, alone): (Vec<Piece>, Vec<Piece>) = wide
        .into_iter()
        .partition(|piece| out.iter().any(|e| carries(piece, e)));
    out.extend(touching(alone, width));
    // Calibrated: raw p-values of different detectors do not compare.
    let strength: Vec<f64> = out
        .iter()
        .map(|e| {
            e.evidence
                .iter()
                .map(|(d, e)| calibrated(*d, e.p_value))
                .fold(1.0, f64::min)
        })
        .collect();
    for piece in joining {
        // The strongest episode it falls in, the earliest of equals.
        let best = (0..out.len())
            .filter(|&i| carries(&piece, &out[i]))
            .min_by(|&a, &b| {
                strength[a]
                    .total_cmp(&strength[b])
                    .then(out[a].start.cmp(&out[b].start))
            });
        if let Some(i) = best {
            out[i].evidence.push((piece.detector, piece.evidence));
        }
    }
    out.sort_by_key(|e| (e.start, e.end));
    out
}

/// Pieces whose carrying spans overlap or touch (a gap of at most one
/// bucket), as episodes.
fn touching<'a>(mut pieces: Vec<Piece<'a>>, width: i64) -> Vec<Episode<'a>> {
    pieces.sort_by(|a, b| {
        (a.first(), a.last(), a.detector)
            .cmp(&(b.first(), b.last(), b.detector))
            .then(a.evidence.p_value.total_cmp(&b.evidence.p_value))
    });
    let mut out: Vec<Episode> = Vec::new();
    for piece in pieces {
        let end = piece.last() + width;
        match out.last_mut() {
            Some(episode) if piece.first() <= episode.end + width => {
                episode.end = episode.end.max(end);
                episode.evidence.push((piece.detector, piece.evidence));
            }
            _ => out.push(Episode {
                start: piece.first(),
                end,
                evidence: vec![(piece.detector, piece.evidence)],
            }),
        }
    }
    out
}

fn finding(
    user: u32,
    episode: &Episode,
    n_detectors: usize,
    scored: &Scored,
    calibration: &Calibration,
    baselines: &Baselines,
    window: &WindowActivity,
) -> Finding {
    let (start, end, cluster) = (episode.start, episode.end, &episode.evidence);
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
    // Each detector's strongest evidence leads, as it makes the score; one
    // detector's many buckets do not crowd out another's explanation.
    let leading = sorted
        .iter()
        .filter(|e| best.values().any(|b| std::ptr::eq(*b, **e)));
    let reasons = reasons(leading.chain(sorted.iter()), best.len());
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
        attack_techniques: cluster
            .iter()
            .flat_map(|(_, e)| e.techniques.iter().cloned())
            .collect(),
        peer_group: baselines.peers.label(user),
        first_seen: start,
        last_seen: end,
        status: super::continuity::Status::New,
    }
}

/// The distinct reasons of the evidence, in the order given: at most
/// `MAX_REASONS`, or the `leading` ones when there are more.
fn reasons<'a>(ordered: impl Iterator<Item = &'a &'a Evidence>, leading: usize) -> Vec<String> {
    let mut reasons: Vec<String> = Vec::new();
    for e in ordered {
        if reasons.len() == MAX_REASONS.max(leading) {
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
            at: Vec::new(),
            techniques: Vec::new(),
        }
    }

    fn row(bucket: i64, action: u32) -> CountRow {
        CountRow {
            user: 0,
            bucket,
            tool: 0,
            action,
            n: 1,
        }
    }

    fn spans(episodes: &[Episode]) -> Vec<(i64, i64, usize)> {
        episodes
            .iter()
            .map(|e| (e.start, e.end, e.evidence.len()))
            .collect()
    }

    #[test]
    fn evidence_in_adjacent_buckets_merges_and_a_gap_splits() {
        let (a, b, c) = (evidence(0, 10), evidence(10, 20), evidence(40, 50));
        let found = episodes(vec![(0, &c), (1, &a), (0, &b)], &[], 10, |_, p| p);
        assert_eq!(spans(&found), [(0, 20, 2), (40, 50, 1)]);
        // One empty bucket between two pieces of evidence still merges them.
        let d = evidence(30, 40);
        let found = episodes(vec![(0, &a), (0, &b), (0, &d)], &[], 10, |_, p| p);
        assert_eq!(spans(&found), [(0, 40, 3)]);
    }

    #[test]
    fn day_evidence_supports_the_strongest_episode_it_falls_in_without_stretching_it() {
        // Buckets of 10 in a day of 240: exec at 30 and at 200, two episodes
        // of one identity, the evening's the stronger; a day-long count of
        // exec joins the evening only.
        const EXEC: u32 = 7;
        let counts = [row(30, EXEC), row(100, 1), row(200, EXEC)];
        let with_exec = |start, end, p_value| Evidence {
            actions: vec![EXEC],
            p_value,
            ..evidence(start, end)
        };
        let (morning, evening) = (with_exec(30, 40, 1e-3), with_exec(200, 210, 1e-6));
        let day = with_exec(0, 240, 1e-4);
        let found = episodes(
            vec![(0, &morning), (0, &evening), (1, &day)],
            &counts,
            10,
            |_, p| p,
        );
        assert_eq!(spans(&found), [(30, 40, 1), (200, 210, 2)]);
    }

    #[test]
    fn wide_evidence_alone_spans_the_buckets_that_carry_it() {
        const SECRETS: u32 = 3;
        // Reads of secrets on three days of a window, among other work.
        let counts = [
            row(5, 1),
            row(20, SECRETS),
            row(50, 1),
            row(60, SECRETS),
            row(90, 1),
        ];
        let window = Evidence {
            actions: vec![SECRETS],
            ..evidence(0, 100)
        };
        assert_eq!(
            spans(&episodes(vec![(0, &window)], &counts, 10, |_, p| p)),
            [(20, 70, 1)]
        );
        // A detector that knows its buckets names them.
        let novel = Evidence {
            at: vec![50],
            techniques: Vec::new(),
            ..evidence(0, 100)
        };
        assert_eq!(
            spans(&episodes(vec![(0, &novel)], &counts, 10, |_, p| p)),
            [(50, 60, 1)]
        );
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
