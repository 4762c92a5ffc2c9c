//! Time of week: activity in an hour of the week where the identity's
//! profile has almost no mass.
//!
//! The profile counts the identity's active buckets per hour of the week
//! (UTC, so time zones are learned, not configured), smoothed toward its
//! peers' profile with `prior_weight` buckets of weight (on-call rotations
//! and new hires borrow the team's hours) plus a uniform floor. The p-value
//! of an hour is the total mass of hours at most as likely as it.

use serde::Deserialize;

use super::{positive, probability, Detector, DetectorError, Evidence, Fitted, ParamsError};
use crate::pipeline::baseline::{Baselines, WindowActivity};
use crate::stats::fmt_p;
use crate::window::{hour_of_week, rfc3339};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeOfWeekParams {
    /// Weight of the peers' profile, in active buckets. Default: 20.
    #[serde(default = "default_prior_weight")]
    pub prior_weight: f64,
    /// Weight of a uniform profile, in active buckets. Default: 1.
    #[serde(default = "default_floor_weight")]
    pub floor_weight: f64,
    /// Report evidence with p below this. Default: 0.01.
    #[serde(default = "default_report_p")]
    pub report_p: f64,
}

pub(crate) fn default_prior_weight() -> f64 {
    20.0
}
pub(crate) fn default_floor_weight() -> f64 {
    1.0
}
fn default_report_p() -> f64 {
    0.01
}

impl TimeOfWeekParams {
    pub fn check(self, name: String) -> Result<TimeOfWeek, ParamsError> {
        positive(&name, "prior_weight", self.prior_weight)?;
        positive(&name, "floor_weight", self.floor_weight)?;
        probability(&name, "report_p", self.report_p)?;
        Ok(TimeOfWeek { name, params: self })
    }
}

pub struct TimeOfWeek {
    name: String,
    params: TimeOfWeekParams,
}

impl Detector for TimeOfWeek {
    fn name(&self) -> &str {
        &self.name
    }
    fn fit<'a>(&self, baselines: &'a Baselines) -> Result<Box<dyn Fitted + 'a>, DetectorError> {
        let p = &self.params;
        let tails = (0..baselines.users.len())
            .map(|u| {
                let mass = hour_mass(baselines, u as u32, p.prior_weight, p.floor_weight);
                let mut order: Vec<usize> = (0..168).collect();
                order.sort_by(|a, b| mass[*a].total_cmp(&mass[*b]));
                let mut tail = vec![0.0; 168];
                let mut running = 0.0;
                let mut i = 0;
                while i < order.len() {
                    let mut j = i;
                    while j < order.len() && mass[order[j]] == mass[order[i]] {
                        running += mass[order[j]];
                        j += 1;
                    }
                    for h in &order[i..j] {
                        tail[*h] = f64::min(running, 1.0);
                    }
                    i = j;
                }
                tail
            })
            .collect();
        Ok(Box::new(FittedTimeOfWeek {
            report_p: p.report_p,
            tails,
            b: baselines,
        }))
    }
}

/// Probability of each hour of the week for `user`: its own active hours,
/// shrunk toward its peers' profile with `prior_weight` hours and floored
/// with `floor_weight` hours spread evenly. Sums to 1.
pub(crate) fn hour_mass(
    b: &Baselines,
    user: u32,
    prior_weight: f64,
    floor_weight: f64,
) -> Vec<f64> {
    let own = &b.users[user as usize];
    let view = b.peers_of(user);
    let peer: Vec<f64> = (0..168).map(|h| view.hour(h)).collect();
    let peer_total: f64 = peer.iter().sum();
    let own_total = f64::from(own.active_buckets);
    (0..168)
        .map(|h| {
            let peer_share = if peer_total > 0.0 {
                peer[h] / peer_total
            } else {
                1.0 / 168.0
            };
            (f64::from(own.hour_profile[h]) + prior_weight * peer_share + floor_weight / 168.0)
                / (own_total + prior_weight + floor_weight)
        })
        .collect()
}

struct FittedTimeOfWeek<'a> {
    report_p: f64,
    /// Per user, per hour of week: the p-value of activity then.
    tails: Vec<Vec<f64>>,
    b: &'a Baselines,
}

impl Fitted for FittedTimeOfWeek<'_> {
    fn score(&self, w: &WindowActivity) -> Result<Vec<Evidence>, DetectorError> {
        let width = self.b.bucket.micros;
        let mut out = Vec::new();
        for user in 0..w.users() as u32 {
            let mut last_bucket = None;
            for r in &w.counts[user as usize] {
                if last_bucket == Some(r.bucket) {
                    continue;
                }
                last_bucket = Some(r.bucket);
                let how = hour_of_week(r.bucket);
                let p = self.tails[user as usize][how];
                if p >= self.report_p {
                    continue;
                }
                let events: u32 = w.counts[user as usize]
                    .iter()
                    .filter(|x| x.bucket == r.bucket)
                    .map(|x| x.n)
                    .sum();
                let own = &self.b.users[user as usize];
                out.push(Evidence {
                    user,
                    start: r.bucket,
                    end: r.bucket + width,
                    p_value: p,
                    reason: format!(
                        "{events} events at {} ({} UTC), an hour of the week where this identity has {} of {} active hours in the baseline (p = {})",
                        rfc3339(r.bucket),
                        weekday_hour(how),
                        own.hour_profile[how],
                        own.active_buckets,
                        fmt_p(p)
                    ),
                    observed: f64::from(events),
                    expected: 0.0,
                    actions: Vec::new(),
                });
            }
        }
        Ok(out)
    }
}

fn weekday_hour(how: usize) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    format!("{} {:02}:00", DAYS[how / 24], how % 24)
}
