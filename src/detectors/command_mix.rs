//! Command mix: whether one bucket's actions look like the identity's own
//! work or like someone else's. Someone else at the keyboard (a stolen
//! session, a shared account) runs an ordinary number of commands, at
//! ordinary hours, but not this person's commands.
//!
//! Per active bucket of the window the detector weighs the bucket's
//! multiset of actions under two multinomials: the identity's own action
//! distribution (its baseline counts smoothed toward its peers' with
//! `prior_events` events of weight, the peers' toward the org's) and the
//! org's. The log-likelihood ratio `Σ n_a ln(org(a) / own(a))` is how much
//! better "anyone in the org" explains the bucket than "this identity".
//! Under the identity's own distribution that sum over `n` events has mean
//! `n μ` and variance `n σ² (1 + (n - 1) ρ)` (μ, σ² of one event's log
//! ratio; ρ, `within_bucket`, the correlation of events in one bucket), so
//! its p-value is the tail of the standardised sum, taken as Laplace
//! (exponential) rather than normal: buckets are burstier than independent
//! draws. The model is crude
//! in the far tail; the run's calibration on ordinary practice days maps
//! it to how often such buckets really occur. Buckets with fewer than
//! `min_events` events say little about a mix and are skipped. The reason
//! names the actions that weigh most.

use std::collections::HashMap;

use serde::Deserialize;

use super::{positive, probability, Detector, DetectorError, Evidence, Fitted, ParamsError};
use crate::activity::baseline::{Baselines, PeerView, UserBaseline, WindowActivity};
use crate::activity::CountRow;
use crate::stats::{fmt_p, P_FLOOR};
use crate::window::fmt_time;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandMixParams {
    /// Weight of the peers' mix in the identity's own, in events. Default: 50.
    #[serde(default = "default_prior_events")]
    pub prior_events: f64,
    /// Buckets with fewer events are not scored. Default: 8.
    #[serde(default = "default_min_events")]
    pub min_events: u32,
    /// Correlation of two events' log ratios in one bucket: work comes in
    /// runs of alike commands, so a bucket of n events weighs as
    /// `n / (1 + (n - 1) ρ)` independent ones. Default: 0.2.
    #[serde(default = "default_within_bucket")]
    pub within_bucket: f64,
    /// Report evidence with p below this. Default: 1e-4.
    #[serde(default = "default_report_p")]
    pub report_p: f64,
}

fn default_within_bucket() -> f64 {
    0.2
}

fn default_prior_events() -> f64 {
    50.0
}
fn default_min_events() -> u32 {
    8
}
fn default_report_p() -> f64 {
    1e-4
}

impl CommandMixParams {
    pub fn check(self, name: String) -> Result<CommandMix, ParamsError> {
        positive(&name, "prior_events", self.prior_events)?;
        if self.min_events < 2 {
            return Err(ParamsError::new(
                &name,
                "min_events",
                format!("must be at least 2, got {}", self.min_events),
            ));
        }
        probability(&name, "within_bucket", self.within_bucket)?;
        probability(&name, "report_p", self.report_p)?;
        Ok(CommandMix { name, params: self })
    }
}

pub struct CommandMix {
    name: String,
    params: CommandMixParams,
}

impl Detector for CommandMix {
    fn name(&self) -> &str {
        &self.name
    }
    fn fit<'a>(&self, baselines: &'a Baselines) -> Result<Box<dyn Fitted + 'a>, DetectorError> {
        let mut org: HashMap<u32, f64> = HashMap::new();
        for u in &baselines.users {
            for (a, c) in &u.action_counts {
                *org.entry(*a).or_default() += *c as f64;
            }
        }
        let total = org.values().sum();
        Ok(Box::new(FittedMix {
            params: self.params.clone(),
            b: baselines,
            org,
            total,
        }))
    }
}

struct FittedMix<'a> {
    params: CommandMixParams,
    b: &'a Baselines,
    /// Baseline events per action over every identity, and their sum.
    org: HashMap<u32, f64>,
    total: f64,
}

/// The org's share of an action nobody did in the baseline is as if half an
/// event had been seen.
const UNSEEN_EVENTS: f64 = 0.5;
/// Actions a reason names.
const SHOWN_ACTIONS: usize = 3;

/// One identity's action distribution, smoothed, beside the org's; event
/// totals and the log ratio's moments over its own actions are worked out
/// once per identity, not per bucket.
struct Mix<'a> {
    f: &'a FittedMix<'a>,
    own: &'a UserBaseline,
    peers: PeerView<'a>,
    own_events: f64,
    peer_events: f64,
    /// Σ p, Σ p x, Σ p x² over the identity's baseline actions.
    moments: [f64; 3],
}

impl<'a> Mix<'a> {
    fn new(f: &'a FittedMix<'a>, user: u32) -> Mix<'a> {
        let peers = f.b.peers_of(user);
        let own = &f.b.users[user as usize];
        let mut mix = Mix {
            f,
            own,
            own_events: own.events(),
            peer_events: peers.events(),
            peers,
            moments: [0.0; 3],
        };
        // Sorted, so the sums are the same on every run.
        let mut own_actions: Vec<u32> = own.action_counts.keys().copied().collect();
        own_actions.sort_unstable();
        mix.moments = mix.moments_of(own_actions);
        mix
    }

    fn moments_of(&self, actions: impl IntoIterator<Item = u32>) -> [f64; 3] {
        let mut m = [0.0; 3];
        for a in actions {
            let (p, x) = (self.own(a), self.ratio(a));
            m[0] += p;
            m[1] += p * x;
            m[2] += p * x * x;
        }
        m
    }

    /// One event's log ratio `ln(org(a) / own(a))`.
    fn ratio(&self, a: u32) -> f64 {
        (self.org(a) / self.own(a)).ln()
    }

    fn org(&self, a: u32) -> f64 {
        (self.f.org.get(&a).copied().unwrap_or(0.0) + UNSEEN_EVENTS)
            / (self.f.total + UNSEEN_EVENTS)
    }

    fn peers(&self, a: u32) -> f64 {
        let m = self.f.params.prior_events;
        (self.peers.action_count(a) + m * self.org(a)) / (self.peer_events + m)
    }

    fn own(&self, a: u32) -> f64 {
        let m = self.f.params.prior_events;
        (self.own.action_count(a) as f64 + m * self.peers(a)) / (self.own_events + m)
    }

    /// One event's log ratio: its mean and variance when the event is drawn
    /// from the identity's own mix, over the actions the identity or the
    /// bucket holds (the rest of the mass, spread thin over what peers do,
    /// is left out: it moves neither much).
    fn null(&self, bucket_actions: &[u32]) -> (f64, f64) {
        let extra = bucket_actions
            .iter()
            .copied()
            .filter(|a| !self.own.action_counts.contains_key(a));
        let more = self.moments_of(extra);
        let [mass, sum, sq] = [0, 1, 2].map(|k| self.moments[k] + more[k]);
        if mass <= 0.0 {
            return (0.0, 0.0);
        }
        let mean = sum / mass;
        (mean, (sq / mass - mean * mean).max(0.0))
    }
}

impl<'a> FittedMix<'a> {
    /// One bucket of `n` events (at least `min_events`).
    fn score_bucket(
        &self,
        mix: &Mix,
        (user, bucket, n): (u32, i64, u32),
        rows: &[CountRow],
    ) -> Option<Evidence> {
        let mut weigh: Vec<(u32, u32, f64)> = rows
            .iter()
            .map(|r| (r.action, r.n, f64::from(r.n) * mix.ratio(r.action)))
            .collect();
        let llr: f64 = weigh.iter().map(|w| w.2).sum();
        let actions: Vec<u32> = weigh.iter().map(|w| w.0).collect();
        let (mean, var) = mix.null(&actions);
        let n = f64::from(n);
        if var <= 0.0 {
            return None;
        }
        let independent = n / (1.0 + (n - 1.0) * self.params.within_bucket);
        let z = (llr / n - mean) * (independent / var).sqrt();
        let p = laplace_tail(z).clamp(P_FLOOR, 1.0);
        if p >= self.params.report_p {
            return None;
        }
        weigh.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
        weigh.truncate(SHOWN_ACTIONS);
        let shown: Vec<String> = weigh
            .iter()
            .map(|(a, k, _)| {
                format!(
                    "{} ×{k} (own share {}, org {})",
                    self.b.values.name(*a),
                    pct(mix.own(*a)),
                    pct(mix.org(*a))
                )
            })
            .collect();
        Some(Evidence {
            user,
            start: bucket,
            end: bucket + self.b.bucket.micros,
            p_value: p,
            reason: format!(
                "{} events in {} from {} in a mix unlike this identity's own, {:.1} nats per event more like the org's; most: {} (p = {})",
                n,
                self.b.bucket,
                fmt_time(bucket),
                llr / n - mean,
                shown.join(", "),
                fmt_p(p)
            ),
            observed: llr / n,
            expected: mean,
            actions: weigh.iter().map(|w| w.0).collect(),
            at: Vec::new(),
            techniques: Vec::new(),
        })
    }
}

/// The upper tail of a unit-variance Laplace distribution at `z`: the sum's
/// standardised value judged with exponential, not Gaussian, tails, since
/// buckets are burstier than independent draws (one odd command pulls its
/// kind along).
fn laplace_tail(z: f64) -> f64 {
    let b = std::f64::consts::FRAC_1_SQRT_2;
    if z >= 0.0 {
        0.5 * (-z / b).exp()
    } else {
        1.0 - 0.5 * (z / b).exp()
    }
}

fn pct(x: f64) -> String {
    if x >= 0.01 {
        format!("{:.0}%", x * 100.0)
    } else {
        format!("{:.1}‰", x * 1000.0)
    }
}

impl Fitted for FittedMix<'_> {
    fn score(&self, w: &WindowActivity) -> Result<Vec<Evidence>, DetectorError> {
        let mut out = Vec::new();
        for (user, rows) in w.counts.iter().enumerate() {
            let user = user as u32;
            // Built on the identity's first bucket big enough to score.
            let mut mix: Option<Mix> = None;
            let mut start = 0;
            while start < rows.len() {
                let bucket = rows[start].bucket;
                let len = rows[start..]
                    .iter()
                    .take_while(|r| r.bucket == bucket)
                    .count();
                let in_bucket = &rows[start..start + len];
                start += len;
                let n: u32 = in_bucket.iter().map(|r| r.n).sum();
                if n < self.params.min_events {
                    continue;
                }
                let mix = mix.get_or_insert_with(|| Mix::new(self, user));
                out.extend(self.score_bucket(mix, (user, bucket, n), in_bucket));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::testing::{at, habit, Lake, WINDOW_DAY};

    /// The test lake's peers are the whole org, most of it in S3, so the
    /// peers' mix weighs little here (in a run they are ana's team).
    fn detector() -> CommandMix {
        toml::from_str::<CommandMixParams>("prior_events = 5.0")
            .unwrap()
            .check("command_mix".into())
            .unwrap()
    }

    /// ana works in the cluster, the rest of the org in S3; in the window
    /// ana has an hour of her own work and an hour of S3 reads.
    fn org() -> Lake {
        let mut lake = habit(
            habit(Lake::new(), "ana", "get pods", 6),
            "ana",
            "get pods/log",
            2,
        );
        for i in 0..10 {
            let user = format!("p{i}");
            lake = habit(
                habit(lake, &user, "s3:GetObject", 6),
                &user,
                "s3:ListBucket",
                2,
            );
        }
        lake.count("ana", at(WINDOW_DAY + 1, 10), "get pods", 12)
            .count("ana", at(WINDOW_DAY + 1, 10), "get pods/log", 4)
            .count("ana", at(WINDOW_DAY + 2, 10), "s3:GetObject", 12)
            .count("ana", at(WINDOW_DAY + 2, 10), "s3:ListBucket", 3)
    }

    #[test]
    fn an_hour_of_someone_elses_commands_is_evidence_naming_them() {
        let found = super::super::evidence_of(&detector(), org(), "ana");
        assert_eq!(found.len(), 1, "{found:?}");
        let e = &found[0];
        assert_eq!(e.start, at(WINDOW_DAY + 2, 10));
        assert!(e.p_value < 1e-4, "{}", e.p_value);
        assert!(
            e.reason.contains("15 events") && e.reason.contains("s3:GetObject ×12"),
            "{}",
            e.reason
        );
    }

    #[test]
    fn a_bucket_too_small_to_have_a_mix_is_not_scored() {
        let lake = org().count("ana", at(WINDOW_DAY + 3, 10), "s3:GetObject", 5);
        let found = super::super::evidence_of(&detector(), lake, "ana");
        assert!(
            found.iter().all(|e| e.start != at(WINDOW_DAY + 3, 10)),
            "{found:?}"
        );
    }
}
