//! Count spike: more of one action than the identity's rate allows.
//!
//! The rate per active bucket is a Gamma posterior: the identity's baseline
//! count, shrunk toward its peers' pooled rate with the weight of
//! `prior_buckets` buckets (empirical Bayes), so a thin history neither
//! explodes nor hides and a new identity is judged by its peers. The
//! predictive count is negative binomial; its shape is capped because real
//! activity comes in sessions (bursty, overdispersed). The expected count is
//! scaled up when the identity's peers surge on the same action in the same
//! span (an incident or a release day moves the whole team).
//!
//! Tested at three scales: one bucket, one UTC day, the whole window (for
//! slow-and-low). A wider scale is reported only when it is stronger than
//! the narrower ones, so spans stay tight.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::{
    peer_sum, positive, probability, Detector, DetectorError, Evidence, Fitted, ParamsError,
};
use crate::pipeline::baseline::{Baselines, Unit, WindowActivity};
use crate::stats::{count_tail, fmt_amount, fmt_p};
use crate::window::{fmt_time, rfc3339, MICROS_PER_DAY, MICROS_PER_HOUR};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountSpikeParams {
    /// Weight of the peer rate, in active buckets of evidence. Default: 24.
    #[serde(default = "default_prior_buckets")]
    pub prior_buckets: f64,
    /// Cap on the negative-binomial shape (smaller = burstier). Default: 2.
    #[serde(default = "default_max_shape")]
    pub max_shape: f64,
    /// Counts below this are never a spike. Default: 3.
    #[serde(default = "default_min_count")]
    pub min_count: u32,
    /// Report evidence with p below this. Default: 1e-4.
    #[serde(default = "default_report_p")]
    pub report_p: f64,
}

fn default_prior_buckets() -> f64 {
    24.0
}
fn default_max_shape() -> f64 {
    2.0
}
fn default_min_count() -> u32 {
    3
}
fn default_report_p() -> f64 {
    1e-4
}

impl CountSpikeParams {
    pub fn check(self, name: String) -> Result<CountSpike, ParamsError> {
        positive(&name, "prior_buckets", self.prior_buckets)?;
        positive(&name, "max_shape", self.max_shape)?;
        probability(&name, "report_p", self.report_p)?;
        if self.min_count == 0 {
            return Err(ParamsError::new(&name, "min_count", "must be at least 1"));
        }
        Ok(CountSpike { name, params: self })
    }
}

pub struct CountSpike {
    name: String,
    params: CountSpikeParams,
}

impl Detector for CountSpike {
    fn name(&self) -> &str {
        &self.name
    }
    fn fit<'a>(&self, baselines: &'a Baselines) -> Result<Box<dyn Fitted + 'a>, DetectorError> {
        let org: Vec<u32> = (0..baselines.users.len() as u32).collect();
        let org_buckets = peer_sum(&org, |v| {
            f64::from(baselines.users[v as usize].active_buckets)
        });
        Ok(Box::new(FittedCountSpike {
            params: self.params.clone(),
            b: baselines,
            // Half an event in the whole org's history: the rate of an action
            // nobody has ever done.
            floor_rate: 0.5 / org_buckets.max(1.0),
        }))
    }
}

struct FittedCountSpike<'a> {
    params: CountSpikeParams,
    b: &'a Baselines,
    floor_rate: f64,
}

/// Counts of one identity in one span, per action.
#[derive(Default)]
struct Span {
    start: i64,
    end: i64,
    active: u32,
    per_action: BTreeMap<u32, u64>,
}

impl FittedCountSpike<'_> {
    fn baseline_count(&self, user: u32, action: u32) -> f64 {
        self.b.users[user as usize]
            .action_counts
            .get(&action)
            .copied()
            .unwrap_or(0) as f64
    }

    /// Posterior (shape, rate) of the identity's per-bucket rate of `action`.
    fn posterior(&self, user: u32, action: u32) -> (f64, f64, f64) {
        let peers = self.b.peers_of(user);
        let peer_buckets = peers.active_buckets();
        let peer_count = peers.action_count(action);
        let prior = if peer_buckets > 0.0 {
            (peer_count / peer_buckets).max(self.floor_rate)
        } else {
            self.floor_rate
        };
        let own = &self.b.users[user as usize];
        let m = self.params.prior_buckets;
        (
            self.baseline_count(user, action) + m * prior,
            f64::from(own.active_buckets) + m,
            prior,
        )
    }

    /// How much harder than usual the identity's peers did `action` in the
    /// same bucket, day or window: max(1, (observed + 1) / (expected + 1)).
    fn peer_surge(
        &self,
        user: u32,
        action: u32,
        scale: Scale,
        unit: i64,
        w: &WindowActivity,
    ) -> f64 {
        let unit = match scale {
            Scale::Bucket => Unit::Bucket(unit),
            Scale::Day => Unit::Day(unit),
            Scale::Window => Unit::Window,
        };
        let own_events = |u: u32| -> u32 {
            match unit {
                Unit::Bucket(b) => w.by_bucket.get(&(u, b, action)),
                Unit::Day(d) => w.by_day.get(&(u, d, action)),
                Unit::Window => w.by_window.get(&(u, action)),
            }
            .copied()
            .unwrap_or(0)
        };
        let own_active = |u: u32| -> u32 {
            match unit {
                Unit::Bucket(b) => u32::from(w.active[u as usize].contains(&b)),
                Unit::Day(d) => w.active_per_day[u as usize].get(&d).copied().unwrap_or(0),
                Unit::Window => w.active[u as usize].len() as u32,
            }
        };
        let (observed, expected) = match self.b.shared_pool(user) {
            // A team or the org: its total minus this identity, at the
            // team's pooled rate.
            Some(pool) => {
                let peers = self.b.peers_of(user);
                let rate = (peers.action_count(action) + 0.5) / (peers.active_buckets() + 1.0);
                let events = w
                    .pools
                    .events
                    .get(&(pool, unit, action))
                    .copied()
                    .unwrap_or(0);
                let active = w.pools.active.get(&(pool, unit)).copied().unwrap_or(0);
                (
                    f64::from(events.saturating_sub(own_events(user))),
                    rate * f64::from(active.saturating_sub(own_active(user))),
                )
            }
            // A handful of learned neighbours: each at its own rate.
            None => self.b.peers.members[user as usize]
                .iter()
                .fold((0.0, 0.0), |(o, e), &v| {
                    let vb = &self.b.users[v as usize];
                    let rate = (self.baseline_count(v, action) + 0.5)
                        / (f64::from(vb.active_buckets) + 1.0);
                    (
                        o + f64::from(own_events(v)),
                        e + rate * f64::from(own_active(v)),
                    )
                }),
        };
        ((observed + 1.0) / (expected + 1.0)).max(1.0)
    }

    #[allow(clippy::too_many_arguments)]
    fn test(
        &self,
        user: u32,
        action: u32,
        posterior: (f64, f64, f64),
        unsurged: &mut HashMap<(u32, u32, u64), f64>,
        span: &Span,
        unit: i64,
        x: u64,
        w: &WindowActivity,
        scale: Scale,
    ) -> Option<Evidence> {
        if x < u64::from(self.params.min_count) {
            return None;
        }
        let (shape, rate, prior) = posterior;
        let k = f64::from(span.active.max(1));
        let r = shape.min(k * self.params.max_shape);
        // The peer surge only raises the expectation: skip it when the
        // count is unremarkable anyway. Many buckets repeat the same count of
        // the same action, so the tail is computed once per (action, k, x).
        let p0 = *unsurged
            .entry((action, span.active.max(1), x))
            .or_insert_with(|| count_tail(x, k * shape / rate, r));
        if p0 >= self.params.report_p {
            return None;
        }
        let surge = self.peer_surge(user, action, scale, unit, w);
        let mean = k * shape / rate * surge;
        let p = count_tail(x, mean, r);
        if p >= self.params.report_p {
            return None;
        }
        let name = self.b_action(action);
        let own = &self.b.users[user as usize];
        let per_week = |c: f64| c / f64::from(self.b.window.baseline_days) * 7.0;
        let history = match per_week(self.baseline_count(user, action)) {
            _ if !own.has_history() => format!(
                "no history; peers {} per active hour",
                fmt_amount(prior * MICROS_PER_HOUR as f64 / self.b.bucket.micros as f64)
            ),
            0.0 => "never in the baseline".to_owned(),
            rate => format!("baseline {}/week", fmt_amount(rate)),
        };
        let when = match scale {
            Scale::Bucket => format!("in {} from {}", self.b.bucket, fmt_time(span.start)),
            Scale::Day => format!("on {}", &rfc3339(span.start)[..10]),
            Scale::Window => "over the scoring window".to_owned(),
        };
        let surge_note = if surge >= 1.5 {
            format!("; peers did {surge:.1}× their usual at the same time")
        } else {
            String::new()
        };
        Some(Evidence {
            user,
            start: span.start,
            end: span.end,
            p_value: p,
            reason: format!(
                "{x} × {name} {when}; {history}, expected {}{surge_note} (p = {})",
                fmt_amount(mean),
                fmt_p(p)
            ),
            observed: x as f64,
            expected: mean,
            actions: vec![action],
        })
    }

    fn b_action(&self, action: u32) -> String {
        self.b.values.name(action).to_owned()
    }
}

#[derive(Clone, Copy)]
enum Scale {
    Bucket,
    Day,
    Window,
}

impl Fitted for FittedCountSpike<'_> {
    fn score(&self, w: &WindowActivity) -> Result<Vec<Evidence>, DetectorError> {
        let width = self.b.bucket.micros;
        let mut out = Vec::new();
        for user in 0..w.users() as u32 {
            let rows = &w.counts[user as usize];
            if rows.is_empty() {
                continue;
            }
            // Spans: each bucket, each day, the window.
            let mut buckets: BTreeMap<i64, Span> = BTreeMap::new();
            let mut days: BTreeMap<i64, Span> = BTreeMap::new();
            let mut whole = Span {
                start: i64::MAX,
                end: i64::MIN,
                ..Default::default()
            };
            for r in rows {
                let day = r.bucket - r.bucket.rem_euclid(MICROS_PER_DAY);
                for (span, key_start) in [
                    (buckets.entry(r.bucket).or_default(), r.bucket),
                    (days.entry(day).or_default(), day),
                ] {
                    if span.per_action.is_empty() {
                        span.start = key_start;
                    }
                    *span.per_action.entry(r.action).or_default() += u64::from(r.n);
                }
                *whole.per_action.entry(r.action).or_default() += u64::from(r.n);
                whole.start = whole.start.min(r.bucket);
                whole.end = whole.end.max(r.bucket + width);
            }
            for (start, span) in buckets.iter_mut() {
                span.end = start + width;
                span.active = 1;
            }
            for (start, span) in days.iter_mut() {
                span.active = buckets
                    .keys()
                    .filter(|b| **b >= *start && **b < start + MICROS_PER_DAY)
                    .count() as u32;
                span.end = buckets
                    .keys()
                    .filter(|b| **b < start + MICROS_PER_DAY)
                    .max()
                    .map_or(start + MICROS_PER_DAY, |b| b + width);
                span.start = *buckets.keys().find(|b| **b >= *start).unwrap_or(start);
            }
            whole.active = buckets.len() as u32;

            // Strongest p per (action) at each scale, to report a wider
            // scale only when it adds something.
            let mut best_narrow: HashMap<(u32, i64), f64> = HashMap::new();
            let mut best_any: HashMap<u32, f64> = HashMap::new();
            let mut posteriors: HashMap<u32, (f64, f64, f64)> = HashMap::new();
            let mut unsurged: HashMap<(u32, u32, u64), f64> = HashMap::new();
            let mut posterior = |action: u32| {
                *posteriors
                    .entry(action)
                    .or_insert_with(|| self.posterior(user, action))
            };
            for span in buckets.values() {
                for (&action, &x) in &span.per_action {
                    if let Some(e) = self.test(
                        user,
                        action,
                        posterior(action),
                        &mut unsurged,
                        span,
                        span.start,
                        x,
                        w,
                        Scale::Bucket,
                    ) {
                        let day = span.start - span.start.rem_euclid(MICROS_PER_DAY);
                        let slot = best_narrow.entry((action, day)).or_insert(1.0);
                        *slot = slot.min(e.p_value);
                        let slot = best_any.entry(action).or_insert(1.0);
                        *slot = slot.min(e.p_value);
                        out.push(e);
                    }
                }
            }
            for (day, span) in &days {
                for (&action, &x) in &span.per_action {
                    if let Some(e) = self.test(
                        user,
                        action,
                        posterior(action),
                        &mut unsurged,
                        span,
                        *day,
                        x,
                        w,
                        Scale::Day,
                    ) {
                        let narrow = best_narrow.get(&(action, *day)).copied().unwrap_or(1.0);
                        if e.p_value < narrow * 1e-2 {
                            let slot = best_any.entry(action).or_insert(1.0);
                            *slot = slot.min(e.p_value);
                            out.push(e);
                        }
                    }
                }
            }
            for (&action, &x) in &whole.per_action {
                let mut span = Span {
                    start: whole.start,
                    end: whole.end,
                    active: whole.active,
                    per_action: BTreeMap::new(),
                };
                // The window span covers only the buckets where the action occurs.
                let occurs: Vec<i64> = rows
                    .iter()
                    .filter(|r| r.action == action)
                    .map(|r| r.bucket)
                    .collect();
                if let (Some(first), Some(last)) = (occurs.iter().min(), occurs.iter().max()) {
                    span.start = *first;
                    span.end = last + width;
                }
                if let Some(e) = self.test(
                    user,
                    action,
                    posterior(action),
                    &mut unsurged,
                    &span,
                    0,
                    x,
                    w,
                    Scale::Window,
                ) {
                    let narrow = best_any.get(&action).copied().unwrap_or(1.0);
                    if e.p_value < narrow * 1e-2 {
                        out.push(e);
                    }
                }
            }
        }
        Ok(out)
    }
}
