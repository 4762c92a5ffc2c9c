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
use crate::activity::baseline::{Baselines, WindowActivity};
use crate::stats::fmt_p;
use crate::window::{hour_of_week, rfc3339, HOURS_PER_WEEK};

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
        Ok(Box::new(FittedTimeOfWeek {
            params: self.params.clone(),
            b: baselines,
            exposure: baselines.hour_exposure(),
        }))
    }
}

/// The p-value of each hour: the total mass of the hours at most as likely
/// as it (ties share one value).
fn tails(mass: &[f64; HOURS_PER_WEEK]) -> [f64; HOURS_PER_WEEK] {
    let mut order: Vec<usize> = (0..HOURS_PER_WEEK).collect();
    order.sort_by(|a, b| mass[*a].total_cmp(&mass[*b]));
    let mut tail = [0.0; HOURS_PER_WEEK];
    let mut running = 0.0;
    for tied in order.chunk_by(|a, b| mass[*a] == mass[*b]) {
        running += tied.iter().map(|h| mass[*h]).sum::<f64>();
        for h in tied {
            tail[*h] = f64::min(running, 1.0);
        }
    }
    tail
}

/// Probability of each hour of the week for `user`: its own active hours,
/// shrunk toward its peers' profile with `prior_weight` hours and floored
/// with `floor_weight` hours spread evenly. Sums to 1 over the hours the
/// lake's baseline holds (`exposure`, `Baselines::hour_exposure`); counts are per
/// occurrence of the hour, so a baseline of ten days does not make the
/// three days it holds twice as likely, and an hour it never held has no
/// mass (and says nothing).
pub(crate) fn hour_mass(
    b: &Baselines,
    user: u32,
    exposure: &[u32; HOURS_PER_WEEK],
    prior_weight: f64,
    floor_weight: f64,
) -> [f64; HOURS_PER_WEEK] {
    let own = &b.users[user as usize];
    let view = b.peers_of(user);
    let exposed = exposure.iter().filter(|e| **e > 0).count().max(1) as f64;
    let mean_exposure = f64::from(exposure.iter().sum::<u32>()) / exposed;
    // Per occurrence, in units of the mean occurrence (1 when even).
    let per = |count: f64, h: usize| match exposure[h] {
        0 => 0.0,
        e => count * mean_exposure / f64::from(e),
    };
    let peer: [f64; HOURS_PER_WEEK] = std::array::from_fn(|h| per(view.hour(h), h));
    let peer_total: f64 = peer.iter().sum();
    let own_hours: [f64; HOURS_PER_WEEK] =
        std::array::from_fn(|h| per(f64::from(own.hour_profile[h]), h));
    let own_total: f64 = own_hours.iter().sum();
    let uniform = |h: usize| f64::from(u8::from(exposure[h] > 0)) / exposed;
    std::array::from_fn(|h| {
        let peer_share = if peer_total > 0.0 {
            peer[h] / peer_total
        } else {
            uniform(h)
        };
        (own_hours[h] + prior_weight * peer_share + floor_weight * uniform(h))
            / (own_total + prior_weight + floor_weight)
    })
}

struct FittedTimeOfWeek<'a> {
    params: TimeOfWeekParams,
    b: &'a Baselines,
    exposure: [u32; HOURS_PER_WEEK],
}

impl Fitted for FittedTimeOfWeek<'_> {
    fn score(&self, w: &WindowActivity) -> Result<Vec<Evidence>, DetectorError> {
        let width = self.b.bucket.micros;
        let mut out = Vec::new();
        let p = &self.params;
        for user in 0..w.users() as u32 {
            if w.counts[user as usize].is_empty() {
                continue;
            }
            // Only identities active in the window need their profile.
            let tails = tails(&hour_mass(
                self.b,
                user,
                &self.exposure,
                p.prior_weight,
                p.floor_weight,
            ));
            // Rows are sorted by bucket: one run of rows per active bucket.
            for rows in w.counts[user as usize].chunk_by(|a, b| a.bucket == b.bucket) {
                let bucket = rows[0].bucket;
                let how = hour_of_week(bucket);
                let p = tails[how];
                // An hour the baseline never held is unknown, not unusual.
                if self.exposure[how] == 0 || p >= self.params.report_p {
                    continue;
                }
                let events: u32 = rows.iter().map(|x| x.n).sum();
                let own = &self.b.users[user as usize];
                out.push(Evidence {
                    user,
                    start: bucket,
                    end: bucket + width,
                    p_value: p,
                    reason: format!(
                        "{events} events at {} ({} UTC), an hour of the week where this identity has {} of {} active hours in the baseline (p = {})",
                        rfc3339(bucket),
                        weekday_hour(how),
                        own.hour_profile[how],
                        own.active_buckets,
                        fmt_p(p)
                    ),
                    observed: f64::from(events),
                    expected: 0.0,
                    actions: Vec::new(),
                    at: Vec::new(),
                    techniques: Vec::new(),
                });
            }
        }
        Ok(out)
    }
}

/// `Mon 03:00` for an hour of the week.
fn weekday_hour(how: usize) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    format!("{} {:02}:00", DAYS[how / 24], how % 24)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::testing::{at, Lake, WINDOW_DAY};

    fn detector() -> TimeOfWeek {
        toml::from_str::<TimeOfWeekParams>("")
            .unwrap()
            .check("time_of_week".into())
            .unwrap()
    }

    /// Two people who work 09:00-17:00 every weekday of the baseline.
    fn office() -> Lake {
        let mut lake = Lake::new();
        for d in (0..WINDOW_DAY).filter(|d| d % 7 < 5) {
            for h in 9..17 {
                for u in ["ana", "bo"] {
                    lake = lake.count(u, at(d, h), "get pods", 2);
                }
            }
        }
        lake
    }

    fn evidence(lake: Lake) -> Vec<Evidence> {
        let (b, w) = lake.build();
        let found = detector().fit(&b).unwrap().score(&w).unwrap();
        found
    }

    #[test]
    fn work_at_three_in_the_morning_is_evidence_naming_the_hour() {
        // Day 30 of the run is Wednesday 2026-11-04.
        let found = evidence(office().count("ana", at(WINDOW_DAY + 2, 3), "get pods", 6));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].p_value < 0.01);
        assert!(
            found[0]
                .reason
                .starts_with("6 events at 2026-11-04T03:00:00Z (Wed 03:00 UTC)"),
            "{}",
            found[0].reason
        );
    }

    #[test]
    fn work_in_office_hours_is_not() {
        assert!(evidence(office().count("ana", at(WINDOW_DAY + 2, 11), "get pods", 6)).is_empty());
    }

    #[test]
    fn tied_hours_share_one_tail() {
        let mut mass = [0.0; HOURS_PER_WEEK];
        mass[0] = 0.5;
        mass[1] = 0.25;
        mass[2] = 0.25;
        let t = tails(&mass);
        assert_eq!((t[1], t[2]), (0.5, 0.5));
        assert_eq!(t[0], 1.0);
        assert_eq!(t[3], 0.0);
    }

    /// A three-day baseline (Friday to Sunday) in which ana and bo worked
    /// every hour from 06:00 to midnight.
    fn short_baseline() -> Lake {
        const FRIDAY: i64 = WINDOW_DAY - 3;
        let mut lake = Lake::new().baseline_days(3);
        for d in FRIDAY..WINDOW_DAY {
            for h in 6..24 {
                for u in ["ana", "bo"] {
                    lake = lake.count(u, at(d, h), "get pods", 2);
                }
            }
        }
        lake
    }

    #[test]
    fn an_hour_of_the_week_the_baseline_never_held_is_unknown_not_unusual() {
        // Wednesday 03:00: no Wednesday in the baseline to compare with.
        let wednesday = short_baseline().count("ana", at(WINDOW_DAY + 2, 3), "get pods", 6);
        assert!(evidence(wednesday).is_empty());
        // Saturday 03:00 was in the baseline, and nobody worked then.
        let saturday = short_baseline().count("ana", at(WINDOW_DAY + 5, 3), "get pods", 6);
        assert_eq!(evidence(saturday).len(), 1);
        // Friday 03:00 is in the baseline's calendar, but the lake's events
        // start at 06:00 that day: not held either.
        let friday = short_baseline().count("ana", at(WINDOW_DAY + 4, 3), "get pods", 6);
        assert!(evidence(friday).is_empty());
    }
}
