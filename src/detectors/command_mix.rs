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

use super::{
    positive, probability, Detector, DetectorError, Evidence, Fitted, ParamsError, SHELL_TOOL,
};
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
    /// How buckets of API calls (Kubernetes, CloudTrail, GCP audit) are
    /// weighed: a command fans out into a burst of alike calls. Keys left
    /// out keep the defaults of `Weighing::api`.
    #[serde(default = "Weighing::api", deserialize_with = "api_weighing")]
    pub api: Weighing,
    /// How buckets of command lines (tool `shell`: shell histories,
    /// Falco/eBPF processes) are weighed: one event per command typed, a
    /// hundred to a busy hour, nearly independent draws from the person's
    /// habits, who picks up new commands now and then. A bucket is weighed
    /// as shell when at least half its events are. Keys left out keep the
    /// defaults of `Weighing::shell`.
    #[serde(default = "Weighing::shell", deserialize_with = "shell_weighing")]
    pub shell: Weighing,
    /// Model files from before the API/shell split set these at the top:
    /// they are the API buckets' `within_bucket` and `report_p`.
    #[serde(default)]
    pub within_bucket: Option<f64>,
    #[serde(default)]
    pub report_p: Option<f64>,
}

/// A `[api]` or `[shell]` table as written: any of its keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartialWeighing {
    within_bucket: Option<f64>,
    uniform_events: Option<f64>,
    report_p: Option<f64>,
}

impl PartialWeighing {
    fn over(self, defaults: Weighing) -> Weighing {
        Weighing {
            within_bucket: self.within_bucket.unwrap_or(defaults.within_bucket),
            uniform_events: self.uniform_events.unwrap_or(defaults.uniform_events),
            report_p: self.report_p.unwrap_or(defaults.report_p),
        }
    }
}

fn api_weighing<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Weighing, D::Error> {
    PartialWeighing::deserialize(d).map(|p| p.over(Weighing::api()))
}

fn shell_weighing<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Weighing, D::Error> {
    PartialWeighing::deserialize(d).map(|p| p.over(Weighing::shell()))
}

/// How one kind of bucket is weighed.
#[derive(Debug, Clone, Copy)]
pub struct Weighing {
    /// Correlation of two events' log ratios in one bucket: work comes in
    /// runs of alike commands, so a bucket of n events weighs as
    /// `n / (1 + (n - 1) ρ)` independent ones.
    pub within_bucket: f64,
    /// Events of prior spread evenly over the actions the org knows (and
    /// one unknown), in the identity's mix and the org's alike. 0 leaves an
    /// action the identity never did weighing as much as the org's share
    /// of it makes it foreign, however rare it is there; above 0 an action
    /// few or none in the org did weighs little either way, as a person's
    /// own new commands are like that, while one the org does often and
    /// the identity never still weighs much.
    pub uniform_events: f64,
    /// Report evidence with p below this.
    pub report_p: f64,
}

impl Weighing {
    /// API buckets: events correlated at 0.2, no even prior, p < 1e-4.
    fn api() -> Weighing {
        Weighing {
            within_bucket: 0.2,
            uniform_events: 0.0,
            report_p: 1e-4,
        }
    }

    /// Shell buckets: events correlated at 0.02, 0.1 events of even prior
    /// per action, p < 0.01 (measured on SEA-like command histories:
    /// benches/masquerade.sh).
    fn shell() -> Weighing {
        Weighing {
            within_bucket: 0.02,
            uniform_events: 0.1,
            report_p: 0.01,
        }
    }

    /// `fields`: the names of within_bucket, uniform_events and report_p in
    /// the model file, for errors.
    fn check(&self, name: &str, fields: [&'static str; 3]) -> Result<(), ParamsError> {
        probability(name, fields[0], self.within_bucket)?;
        probability(name, fields[2], self.report_p)?;
        if !(self.uniform_events.is_finite() && self.uniform_events >= 0.0) {
            return Err(ParamsError::new(
                name,
                fields[1],
                format!("must be 0 or more, got {}", self.uniform_events),
            ));
        }
        Ok(())
    }
}

fn default_prior_events() -> f64 {
    50.0
}
fn default_min_events() -> u32 {
    8
}

impl CommandMixParams {
    pub fn check(mut self, name: String) -> Result<CommandMix, ParamsError> {
        if let Some(within_bucket) = self.within_bucket.take() {
            self.api.within_bucket = within_bucket;
        }
        if let Some(report_p) = self.report_p.take() {
            self.api.report_p = report_p;
        }
        positive(&name, "prior_events", self.prior_events)?;
        if self.min_events < 2 {
            return Err(ParamsError::new(
                &name,
                "min_events",
                format!("must be at least 2, got {}", self.min_events),
            ));
        }
        self.api.check(
            &name,
            ["api.within_bucket", "api.uniform_events", "api.report_p"],
        )?;
        self.shell.check(
            &name,
            [
                "shell.within_bucket",
                "shell.uniform_events",
                "shell.report_p",
            ],
        )?;
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
            shell: baselines.values.get(SHELL_TOOL),
        }))
    }
}

struct FittedMix<'a> {
    params: CommandMixParams,
    b: &'a Baselines,
    /// Baseline events per action over every identity, and their sum.
    org: HashMap<u32, f64>,
    total: f64,
    /// The id of the `shell` tool, when the lake has any.
    shell: Option<u32>,
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
    weighing: Weighing,
    own: &'a UserBaseline,
    peers: PeerView<'a>,
    own_events: f64,
    peer_events: f64,
    /// Σ p, Σ p x, Σ p x² over the identity's baseline actions.
    moments: [f64; 3],
}

impl<'a> Mix<'a> {
    fn new(f: &'a FittedMix<'a>, user: u32, weighing: Weighing) -> Mix<'a> {
        let peers = f.b.peers_of(user);
        let own = &f.b.users[user as usize];
        let mut mix = Mix {
            f,
            weighing,
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
        let events = self.f.org.get(&a).copied().unwrap_or(0.0);
        match self.weighing.uniform_events {
            0.0 => (events + UNSEEN_EVENTS) / (self.f.total + UNSEEN_EVENTS),
            even => (events + even) / (self.f.total + even * self.known()),
        }
    }

    /// Actions the org knows, and one it does not.
    fn known(&self) -> f64 {
        self.f.org.len() as f64 + 1.0
    }

    fn peers(&self, a: u32) -> f64 {
        let m = self.f.params.prior_events;
        (self.peers.action_count(a) + m * self.org(a)) / (self.peer_events + m)
    }

    fn own(&self, a: u32) -> f64 {
        let m = self.f.params.prior_events;
        let even = self.weighing.uniform_events;
        (self.own.action_count(a) as f64 + m * self.peers(a) + even)
            / (self.own_events + m + even * self.known())
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
        let independent = n / (1.0 + (n - 1.0) * mix.weighing.within_bucket);
        let z = (llr / n - mean) * (independent / var).sqrt();
        let p = laplace_tail(z).clamp(P_FLOOR, 1.0);
        if p >= mix.weighing.report_p {
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
            // Built on the identity's first bucket of each kind big enough
            // to score: [API, shell].
            let mut mixes: [Option<Mix>; 2] = [None, None];
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
                let shell: u32 = in_bucket
                    .iter()
                    .filter(|r| Some(r.tool) == self.shell)
                    .map(|r| r.n)
                    .sum();
                let is_shell = 2 * shell >= n;
                let weighing = if is_shell {
                    self.params.shell
                } else {
                    self.params.api
                };
                let mix = mixes[usize::from(is_shell)]
                    .get_or_insert_with(|| Mix::new(self, user, weighing));
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

    /// Ten people at their terminals every weekday of the baseline: ana
    /// edits and builds, the others browse files; each has a command nobody
    /// else types. Shell buckets are many nearly independent commands.
    fn terminals() -> Lake {
        const OTHERS: [(&str, u32); 4] = [("ls", 30), ("cat", 20), ("grep", 15), ("less", 5)];
        let mut lake = Lake::new();
        for d in (0..WINDOW_DAY).filter(|d| d % 7 < 5) {
            for (command, n) in [("vim", 30), ("make", 25), ("gcc", 10), ("ls", 5)] {
                lake = lake.shell("ana", at(d, 10), command, n);
            }
            for i in 0..9 {
                let user = format!("p{i}");
                for (command, n) in OTHERS {
                    lake = lake.shell(&user, at(d, 10), command, n);
                }
                lake = lake.shell(&user, at(d, 10), &format!("tool{i}"), 2);
            }
        }
        lake
    }

    fn shell_detector(uniform_events: f64) -> CommandMix {
        toml::from_str::<CommandMixParams>(&format!(
            "[shell]\nwithin_bucket = 0.02\nreport_p = 0.01\nuniform_events = {uniform_events}"
        ))
        .unwrap()
        .check("command_mix".into())
        .unwrap()
    }

    /// `terminals()` and ana's hour of `commands` in the window, as events of
    /// `tool`.
    fn ana_hour(tool: &str, commands: &[(&str, u32)]) -> Lake {
        let hour = at(WINDOW_DAY + 1, 10);
        commands.iter().fold(terminals(), |lake, (command, n)| {
            lake.count_with(tool, "ana", hour, command, *n)
        })
    }

    #[test]
    fn a_shell_hour_of_the_orgs_commands_the_person_never_types_is_evidence() {
        let others = [("ls", 35), ("cat", 25), ("grep", 20), ("vim", 5)];
        let found =
            super::super::evidence_of(&shell_detector(0.1), ana_hour("shell", &others), "ana");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].reason.contains("cat ×25"), "{}", found[0].reason);
        // The same hour weighed as API calls (events correlated at 0.2)
        // says far less: 85 commands are not 4 bursts.
        let api =
            super::super::evidence_of(&shell_detector(0.1), ana_hour("kubectl", &others), "ana");
        assert!(api.iter().all(|e| e.p_value > found[0].p_value), "{api:?}");
    }

    #[test]
    fn new_commands_nobody_in_the_org_types_are_not_someone_elses_work() {
        // ana's own hour, with commands she picked up that nobody in the
        // org ever typed.
        let own = [
            ("vim", 30),
            ("make", 25),
            ("gcc", 10),
            ("rustc", 6),
            ("cargo", 6),
            ("gdb", 6),
            ("perf", 6),
        ];
        let even = super::super::evidence_of(&shell_detector(0.1), ana_hour("shell", &own), "ana");
        assert!(even.is_empty(), "{even:?}");
        // Without the even prior, a command she never typed weighs as the
        // org's share of it makes foreign, however rare: the hour would be
        // someone else's.
        let none = super::super::evidence_of(&shell_detector(0.0), ana_hour("shell", &own), "ana");
        assert!(!none.is_empty());
    }

    #[test]
    fn a_negative_even_prior_is_refused_naming_its_field() {
        let err = toml::from_str::<CommandMixParams>(
            "[shell]\nwithin_bucket = 0.02\nreport_p = 0.01\nuniform_events = -1",
        )
        .unwrap()
        .check("command_mix".into())
        .err()
        .expect("refused");
        assert!(err.to_string().contains("shell.uniform_events"), "{err}");
    }

    #[test]
    fn a_partial_table_keeps_its_kinds_defaults_and_old_files_still_load() {
        let d = toml::from_str::<CommandMixParams>("[shell]\nreport_p = 0.001")
            .unwrap()
            .check("command_mix".into())
            .unwrap();
        let (shell, default) = (d.params.shell, Weighing::shell());
        assert_eq!(shell.report_p, 0.001);
        assert_eq!(
            (shell.within_bucket, shell.uniform_events),
            (default.within_bucket, default.uniform_events)
        );
        // Before the split, the API buckets' keys sat at the top.
        let old = toml::from_str::<CommandMixParams>("within_bucket = 0.3\nreport_p = 1e-5")
            .unwrap()
            .check("command_mix".into())
            .unwrap();
        assert_eq!(
            (old.params.api.within_bucket, old.params.api.report_p),
            (0.3, 1e-5)
        );
        assert_eq!(old.params.shell.report_p, Weighing::shell().report_p);
    }
}
