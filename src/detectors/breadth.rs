//! Breadth: more distinct namespaces, pods, targets (buckets, secrets) or
//! accounts in one UTC day than the identity's norm.
//!
//! The daily distinct count per active day is a Gamma-Poisson posterior
//! shrunk toward the peers' pooled mean with `prior_days` days of weight, as
//! in the count spike detector, so a new identity is held to its peers.

use serde::Deserialize;

use super::{positive, probability, Detector, DetectorError, Evidence, Fitted, ParamsError};
use crate::pipeline::baseline::{Baselines, WindowActivity};
use crate::pipeline::load::BREADTH_KINDS;
use crate::stats::{count_tail, fmt_amount, fmt_p};
use crate::window::{rfc3339, MICROS_PER_DAY};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreadthParams {
    /// Weight of the peers' mean, in active days. Default: 5.
    #[serde(default = "default_prior_days")]
    pub prior_days: f64,
    /// Cap on the negative-binomial shape. Default: 4.
    #[serde(default = "default_max_shape")]
    pub max_shape: f64,
    /// Distinct counts below this are never evidence. Default: 3.
    #[serde(default = "default_min_distinct")]
    pub min_distinct: u32,
    /// Report evidence with p below this. Default: 1e-3.
    #[serde(default = "default_report_p")]
    pub report_p: f64,
}

fn default_prior_days() -> f64 {
    5.0
}
fn default_max_shape() -> f64 {
    4.0
}
fn default_min_distinct() -> u32 {
    3
}
fn default_report_p() -> f64 {
    1e-3
}

impl BreadthParams {
    pub fn check(self, name: String) -> Result<Breadth, ParamsError> {
        positive(&name, "prior_days", self.prior_days)?;
        positive(&name, "max_shape", self.max_shape)?;
        probability(&name, "report_p", self.report_p)?;
        Ok(Breadth { name, params: self })
    }
}

pub struct Breadth {
    name: String,
    params: BreadthParams,
}

impl Detector for Breadth {
    fn name(&self) -> &str {
        &self.name
    }
    fn fit<'a>(&self, baselines: &'a Baselines) -> Result<Box<dyn Fitted + 'a>, DetectorError> {
        Ok(Box::new(FittedBreadth {
            params: self.params.clone(),
            b: baselines,
        }))
    }
}

struct FittedBreadth<'a> {
    params: BreadthParams,
    b: &'a Baselines,
}

const NOUNS: [&str; BREADTH_KINDS.len()] = ["namespaces", "pods", "targets", "accounts"];

impl Fitted for FittedBreadth<'_> {
    fn score(&self, w: &WindowActivity) -> Result<Vec<Evidence>, DetectorError> {
        let width = self.b.bucket.micros;
        let mut out = Vec::new();
        for user in 0..w.users() as u32 {
            let own = &self.b.users[user as usize];
            let peers = self.b.peers_of(user);
            let peer_days = peers.active_days();
            for (day, distinct) in &w.breadth[user as usize] {
                let buckets: Vec<i64> = w.counts[user as usize]
                    .iter()
                    .map(|r| r.bucket)
                    .filter(|b| *b >= *day && *b < day + MICROS_PER_DAY)
                    .collect();
                let (Some(first), Some(last)) = (buckets.iter().min(), buckets.iter().max()) else {
                    continue;
                };
                for (k, &x) in distinct.iter().enumerate() {
                    if x < self.params.min_distinct {
                        continue;
                    }
                    let peer_sum_k = peers.breadth_sum(k);
                    let prior = if peer_days > 0.0 {
                        (peer_sum_k / peer_days).max(0.1)
                    } else {
                        1.0
                    };
                    let m = self.params.prior_days;
                    let shape = own.breadth_sum[k] as f64 + m * prior;
                    let mean = shape / (f64::from(own.active_days) + m);
                    let p = count_tail(u64::from(x), mean, shape.min(self.params.max_shape));
                    if p >= self.params.report_p {
                        continue;
                    }
                    let usual = if own.active_days > 0 {
                        format!(
                            "usually {} per active day",
                            fmt_amount(own.breadth_sum[k] as f64 / f64::from(own.active_days))
                        )
                    } else {
                        format!("no history; peers {} per active day", fmt_amount(prior))
                    };
                    out.push(Evidence {
                        user,
                        start: *first,
                        end: last + width,
                        p_value: p,
                        reason: format!(
                            "touched {x} distinct {} on {}; {usual}, expected {} (p = {})",
                            NOUNS[k],
                            &rfc3339(*day)[..10],
                            fmt_amount(mean),
                            fmt_p(p)
                        ),
                        observed: f64::from(x),
                        expected: mean,
                        actions: Vec::new(),
                    });
                }
            }
        }
        Ok(out)
    }
}
