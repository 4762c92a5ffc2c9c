//! Breadth: more distinct namespaces, pods, targets (buckets, secrets) or
//! accounts in one UTC day than the identity's norm.
//!
//! The daily distinct count per active day is a Gamma-Poisson posterior
//! shrunk toward the peers' pooled mean with `prior_days` days of weight, as
//! in the count spike detector, so a new identity is held to its peers.

use serde::Deserialize;

use super::{positive, probability, Detector, DetectorError, Evidence, Fitted, ParamsError};
use crate::activity::baseline::{Baselines, WindowActivity};
use crate::activity::BreadthKind;
use crate::stats::{count_tail, fmt_amount, fmt_p};
use crate::window::{fmt_date, MICROS_PER_DAY};

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
            name: self.name.clone(),
            params: self.params.clone(),
            b: baselines,
        }))
    }
}

struct FittedBreadth<'a> {
    name: String,
    params: BreadthParams,
    b: &'a Baselines,
}

/// A peer mean below this is taken as this: a peer group that never
/// touched more than one namespace a day still allows an occasional second.
const MIN_PRIOR_MEAN: f64 = 0.1;
/// The prior mean of an identity with neither history nor peers.
const NO_PEERS_MEAN: f64 = 1.0;

impl FittedBreadth<'_> {
    /// Evidence for one identity's day: each breadth kind whose distinct
    /// count its (peer-shrunk) norm makes unlikely.
    fn score_day(
        &self,
        user: u32,
        day: i64,
        distinct: &crate::activity::PerBreadth<u32>,
        w: &WindowActivity,
        abstained: &mut usize,
    ) -> Vec<Evidence> {
        let width = self.b.bucket.micros;
        let own = &self.b.users[user as usize];
        let peers = self.b.peers_of(user);
        let peer_days = peers.active_days();
        let buckets = w.counts[user as usize]
            .iter()
            .map(|r| r.bucket)
            .filter(|b| *b >= day && *b < day + MICROS_PER_DAY);
        let (first, last) =
            buckets.fold((i64::MAX, i64::MIN), |(lo, hi), b| (lo.min(b), hi.max(b)));
        if first > last {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (kind, &x) in distinct.iter() {
            if x < self.params.min_distinct {
                continue;
            }
            let prior = if peer_days > 0.0 {
                (peers.breadth_sum(kind) / peer_days).max(MIN_PRIOR_MEAN)
            } else {
                NO_PEERS_MEAN
            };
            let m = self.params.prior_days;
            let shape = own.breadth_sum[kind] as f64 + m * prior;
            let mean = shape / (f64::from(own.active_days) + m);
            let p = match count_tail(u64::from(x), mean, shape.min(self.params.max_shape)) {
                Ok(p) => p,
                Err(_) => {
                    *abstained += 1;
                    continue;
                }
            };
            if p >= self.params.report_p {
                continue;
            }
            out.push(Evidence {
                user,
                start: first,
                end: last + width,
                p_value: p,
                reason: self.reason(user, kind, x, day, prior, mean, p),
                observed: f64::from(x),
                expected: mean,
                actions: Vec::new(),
                at: Vec::new(),
                techniques: Vec::new(),
            });
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn reason(
        &self,
        user: u32,
        kind: BreadthKind,
        x: u32,
        day: i64,
        prior: f64,
        mean: f64,
        p: f64,
    ) -> String {
        let own = &self.b.users[user as usize];
        let usual = if own.active_days > 0 {
            format!(
                "usually {} per active day",
                fmt_amount(own.breadth_sum[kind] as f64 / f64::from(own.active_days))
            )
        } else {
            format!("no history; peers {} per active day", fmt_amount(prior))
        };
        format!(
            "touched {x} distinct {} on {}; {usual}, expected {} (p = {})",
            kind.plural(),
            fmt_date(day),
            fmt_amount(mean),
            fmt_p(p)
        )
    }
}

impl Fitted for FittedBreadth<'_> {
    fn score(&self, w: &WindowActivity) -> Result<Vec<Evidence>, DetectorError> {
        let mut out = Vec::new();
        let mut abstained = 0;
        for user in 0..w.users() as u32 {
            for (day, distinct) in &w.breadth[user as usize] {
                out.extend(self.score_day(user, *day, distinct, w, &mut abstained));
            }
        }
        if abstained > 0 {
            tracing::warn!(
                detector = %self.name,
                tests = abstained,
                "Some days had a norm no distribution takes (a NaN or non-positive mean); no evidence taken from them."
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::testing::{at, Lake, WINDOW_DAY};
    use crate::activity::PerBreadth;

    fn detector() -> Breadth {
        toml::from_str::<BreadthParams>("")
            .unwrap()
            .check("breadth".into())
            .unwrap()
    }

    fn namespaces(n: u32) -> PerBreadth<u32> {
        let mut d = PerBreadth::default();
        d[BreadthKind::Namespace] = n;
        d[BreadthKind::Pod] = n;
        d
    }

    /// Two people in one namespace and one pod a day.
    fn team() -> Lake {
        let mut lake = Lake::new();
        for d in (0..WINDOW_DAY).filter(|d| d % 7 < 5) {
            for u in ["ana", "bo"] {
                lake = lake
                    .count(u, at(d, 10), "get pods", 3)
                    .breadth(u, at(d, 0), namespaces(1));
            }
        }
        lake
    }

    #[test]
    fn twelve_namespaces_in_a_day_against_one_is_evidence_spanning_its_hours() {
        let day = WINDOW_DAY + 2;
        let lake = team()
            .count("ana", at(day, 9), "get secrets", 6)
            .count("ana", at(day, 12), "get secrets", 6)
            .breadth("ana", at(day, 0), namespaces(12));
        let (b, w) = lake.build();
        let found = detector().fit(&b).unwrap().score(&w).unwrap();
        let ns = found
            .iter()
            .find(|e| e.reason.contains("namespaces"))
            .expect("namespaces evidence");
        assert!(ns.p_value < 1e-3, "{}", ns.p_value);
        assert!(
            ns.reason.starts_with(
                "touched 12 distinct namespaces on 2026-11-04; usually 1.0 per active day"
            ),
            "{}",
            ns.reason
        );
        assert_eq!((ns.start, ns.end), (at(day, 9), at(day, 13)));
    }

    #[test]
    fn a_usual_day_is_not() {
        let day = WINDOW_DAY + 2;
        let lake = team().count("ana", at(day, 10), "get pods", 3).breadth(
            "ana",
            at(day, 0),
            namespaces(1),
        );
        let (b, w) = lake.build();
        assert!(detector().fit(&b).unwrap().score(&w).unwrap().is_empty());
    }
}
