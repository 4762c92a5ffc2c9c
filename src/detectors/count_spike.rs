//! Count spike: more of one action than the identity's rate allows.
//!
//! The rate per active bucket is a Gamma posterior: the identity's baseline
//! count, shrunk toward its peers' pooled rate with the weight of
//! `prior_buckets` buckets (empirical Bayes), so a thin history neither
//! explodes nor hides and a new identity is judged by its peers. The
//! predictive count is negative binomial; its shape is capped because real
//! activity comes in sessions (bursty, overdispersed). The expected count is
//! scaled up when the identity's peers surge on the same action in the same
//! span (an incident moves the whole team); an hour takes its day's surge
//! when that is larger (a release day moves it at different hours).
//!
//! Tested at three scales: one bucket, one UTC day, the whole window (for
//! slow-and-low). A wider scale is reported only when it is stronger than
//! the narrower ones, so spans stay tight.

use std::collections::{BTreeMap, HashMap};

use crate::activity::CountRow;

use serde::Deserialize;

use super::{positive, probability, Detector, DetectorError, Evidence, Fitted, ParamsError};
use crate::activity::baseline::{Baselines, Unit, WindowActivity};
use crate::stats::{count_tail, fmt_amount, fmt_p, TailError};
use crate::window::{day_floor, fmt_date, fmt_time, MICROS_PER_DAY, MICROS_PER_HOUR};

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
        let org_buckets: f64 = baselines
            .users
            .iter()
            .map(|b| f64::from(b.active_buckets))
            .sum();
        Ok(Box::new(FittedCountSpike {
            name: self.name.clone(),
            params: self.params.clone(),
            b: baselines,
            // Half an event in the whole org's history: the rate of an action
            // nobody has ever done.
            floor_rate: 0.5 / org_buckets.max(1.0),
        }))
    }
}

struct FittedCountSpike<'a> {
    name: String,
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

/// The three scales one identity's window is tested at.
struct Spans {
    buckets: BTreeMap<i64, Span>,
    days: BTreeMap<i64, Span>,
    whole: Span,
}

impl Spans {
    fn of(rows: &[CountRow], width: i64) -> Spans {
        let mut buckets: BTreeMap<i64, Span> = BTreeMap::new();
        let mut days: BTreeMap<i64, Span> = BTreeMap::new();
        let mut whole = Span {
            start: i64::MAX,
            end: i64::MIN,
            ..Default::default()
        };
        for r in rows {
            let day = day_floor(r.bucket);
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
        // A day's span runs from its first to its last active bucket.
        for (start, span) in days.iter_mut() {
            let active: Vec<i64> = buckets
                .range(*start..start + MICROS_PER_DAY)
                .map(|(b, _)| *b)
                .collect();
            span.active = active.len() as u32;
            span.start = active.first().copied().unwrap_or(*start);
            span.end = active.last().map_or(start + MICROS_PER_DAY, |b| b + width);
        }
        whole.active = buckets.len() as u32;
        Spans {
            buckets,
            days,
            whole,
        }
    }
}

/// One count to test: `x` events of `action` in `span`, at `scale`.
struct Test<'s> {
    user: u32,
    action: u32,
    scale: Scale,
    span: &'s Span,
    x: u64,
    /// A bucket's UTC day, whose peer surge it shares.
    day: Option<&'s Span>,
}

/// Per identity: posteriors per action, and tails before the peer surge per
/// (action, active buckets, count), which many buckets repeat.
#[derive(Default)]
struct UserCache {
    posteriors: HashMap<u32, Posterior>,
    unsurged: HashMap<(u32, u32, u64), Result<f64, TailError>>,
}

/// The Gamma posterior of an identity's per-bucket rate of one action.
#[derive(Debug, Clone, Copy)]
struct Posterior {
    shape: f64,
    rate: f64,
    /// The peers' rate it was shrunk toward.
    prior: f64,
}

/// A wider scale is reported only when its p is this much below the
/// narrower scales' best for the same action: otherwise the bucket or day
/// already says it, with a tighter span.
const WIDER_GAIN: f64 = 1e-2;

impl FittedCountSpike<'_> {
    fn baseline_count(&self, user: u32, action: u32) -> f64 {
        self.b.users[user as usize].action_count(action) as f64
    }

    fn posterior(&self, user: u32, action: u32) -> Posterior {
        let peers = self.b.peers_of(user);
        let peer_buckets = peers.active_buckets();
        let prior = if peer_buckets > 0.0 {
            (peers.action_count(action) / peer_buckets).max(self.floor_rate)
        } else {
            self.floor_rate
        };
        let own = &self.b.users[user as usize];
        let m = self.params.prior_buckets;
        Posterior {
            shape: self.baseline_count(user, action) + m * prior,
            rate: f64::from(own.active_buckets) + m,
            prior,
        }
    }

    /// How much harder than usual the identity's peers did `t.action` in
    /// its span; for a bucket, in the bucket or its day, whichever is more
    /// (a release day moves the team at different hours).
    fn surge(&self, t: &Test, w: &WindowActivity) -> f64 {
        let tested = (t.x, t.span.active);
        match t.scale {
            Scale::Bucket => {
                let bucket = self.peer_surge(t, tested, Unit::Bucket(t.span.start), w);
                let whole_day = t
                    .day
                    .filter(|day| self.team_did(t, day_floor(day.start), w))
                    .map_or(1.0, |day| {
                        let own = day.per_action.get(&t.action).copied().unwrap_or(0);
                        self.peer_surge(t, (own, day.active), Unit::Day(day_floor(day.start)), w)
                    });
                bucket.max(whole_day)
            }
            Scale::Day => self.peer_surge(t, tested, Unit::Day(day_floor(t.span.start)), w),
            Scale::Window => self.peer_surge(t, tested, Unit::Window, w),
        }
    }

    /// Whether at least `DAY_SURGE_PEERS` of the identity's peers did
    /// `t.action` on `day`: one noisy teammate's burst is not a team's
    /// release day, and must not hide its peers' bursts all day.
    fn team_did(&self, t: &Test, day: i64, w: &WindowActivity) -> bool {
        let pool = self.b.pool_of(t.user);
        let doers = w
            .pools
            .doers
            .get(&(pool, day, t.action))
            .copied()
            .unwrap_or(0);
        // The identity itself did it that day, when it is in the pool.
        let own = u32::from(self.b.peers.in_own_pool(t.user));
        doers.saturating_sub(own) >= DAY_SURGE_PEERS
    }

    /// How much harder than usual the identity's peers did `action` in
    /// `unit`: max(1, (observed + 1) / (expected + 1)). `own` is the
    /// identity's own events of it and active buckets there.
    fn peer_surge(&self, t: &Test, own: (u64, u32), unit: Unit, w: &WindowActivity) -> f64 {
        let (user, action) = (t.user, t.action);
        // The group's total minus this identity, at the group's pooled rate.
        let pool = self.b.pool_of(user);
        let peers = self.b.peers_of(user);
        let rate = (peers.action_count(action) + 0.5) / (peers.active_buckets() + 1.0);
        let events = w
            .pools
            .events
            .get(&(pool, unit, action))
            .copied()
            .unwrap_or(0);
        let active = w.pools.active.get(&(pool, unit)).copied().unwrap_or(0);
        // The identity's own share, when its activity is in the pool.
        let (own_events, own_active) = if self.b.peers.in_own_pool(user) {
            own
        } else {
            (0, 0)
        };
        let observed = (u64::from(events).saturating_sub(own_events)) as f64;
        let expected = rate * f64::from(active.saturating_sub(own_active));
        ((observed + 1.0) / (expected + 1.0)).max(1.0)
    }

    /// The tail of one count, or `None` below the thresholds. A tail that
    /// cannot be computed is an abstention, counted in `abstained`.
    fn test(
        &self,
        t: &Test,
        cache: &mut UserCache,
        w: &WindowActivity,
        abstained: &mut usize,
    ) -> Option<Evidence> {
        if t.x < u64::from(self.params.min_count) {
            return None;
        }
        let post = *cache
            .posteriors
            .entry(t.action)
            .or_insert_with(|| self.posterior(t.user, t.action));
        let k = f64::from(t.span.active.max(1));
        let shape = post.shape.min(k * self.params.max_shape);
        // The peer surge only raises the expectation: skip it when the
        // count is unremarkable anyway.
        let unsurged = cache
            .unsurged
            .entry((t.action, t.span.active.max(1), t.x))
            .or_insert_with(|| count_tail(t.x, k * post.shape / post.rate, shape))
            .clone();
        let surged = unsurged.and_then(|p0| {
            if p0 >= self.params.report_p {
                return Ok(None);
            }
            let mean = k * post.shape / post.rate * self.surge(t, w);
            count_tail(t.x, mean, shape).map(|p| Some((p, mean)))
        });
        match surged {
            Ok(Some((p, mean))) if p < self.params.report_p => {
                Some(self.evidence(t, post, p, mean))
            }
            Ok(_) => None,
            Err(_) => {
                *abstained += 1;
                None
            }
        }
    }

    fn evidence(&self, t: &Test, post: Posterior, p: f64, mean: f64) -> Evidence {
        let name = self.b.values.name(t.action);
        let own = &self.b.users[t.user as usize];
        let per_week = |c: f64| c / f64::from(self.b.window.baseline_days) * DAYS_PER_WEEK;
        let history = match per_week(self.baseline_count(t.user, t.action)) {
            _ if !own.has_history() => format!(
                "no history; peers {} per active hour",
                fmt_amount(post.prior * MICROS_PER_HOUR as f64 / self.b.bucket.micros as f64)
            ),
            0.0 => "never in the baseline".to_owned(),
            rate => format!("baseline {}/week", fmt_amount(rate)),
        };
        let when = match t.scale {
            Scale::Bucket => format!("in {} from {}", self.b.bucket, fmt_time(t.span.start)),
            Scale::Day => format!("on {}", fmt_date(t.span.start)),
            Scale::Window => "over the scoring window".to_owned(),
        };
        let unsurged = k_mean(t.span, post);
        let surge = mean / unsurged;
        let surge_note = if surge >= SURGE_NOTE {
            format!("; peers did {surge:.1}× their usual that hour or day")
        } else {
            String::new()
        };
        Evidence {
            user: t.user,
            start: t.span.start,
            end: t.span.end,
            p_value: p,
            reason: format!(
                "{} × {name} {when}; {history}, expected {}{surge_note} (p = {})",
                t.x,
                fmt_amount(mean),
                fmt_p(p)
            ),
            observed: t.x as f64,
            expected: mean,
            actions: vec![t.action],
            at: Vec::new(),
            techniques: Vec::new(),
        }
    }

    /// Every test of one identity: each bucket, then each day and the whole
    /// window where they are much stronger than the narrower scales.
    fn score_user(
        &self,
        user: u32,
        w: &WindowActivity,
        out: &mut Vec<Evidence>,
        abstained: &mut usize,
    ) {
        let rows = &w.counts[user as usize];
        if rows.is_empty() {
            return;
        }
        let spans = Spans::of(rows, self.b.bucket.micros);
        let mut cache = UserCache::default();
        let mut best = Best::default();
        for span in spans.buckets.values() {
            for (&action, &x) in &span.per_action {
                let t = Test {
                    user,
                    action,
                    scale: Scale::Bucket,
                    span,
                    x,
                    day: spans.days.get(&day_floor(span.start)),
                };
                if let Some(e) = self.test(&t, &mut cache, w, abstained) {
                    // A bucket is the narrowest scale: always kept.
                    best.keep(e, f64::INFINITY, Some(day_floor(span.start)), out);
                }
            }
        }
        for (day, span) in &spans.days {
            for (&action, &x) in &span.per_action {
                let t = Test {
                    user,
                    action,
                    scale: Scale::Day,
                    span,
                    x,
                    day: None,
                };
                if let Some(e) = self.test(&t, &mut cache, w, abstained) {
                    let narrow = best.narrow.get(&(action, *day)).copied().unwrap_or(1.0);
                    best.keep(e, narrow, None, out);
                }
            }
        }
        for (&action, &x) in &spans.whole.per_action {
            // The window span covers only the buckets where the action occurs.
            let occurs = rows.iter().filter(|r| r.action == action).map(|r| r.bucket);
            let (first, last) =
                occurs.fold((i64::MAX, i64::MIN), |(lo, hi), b| (lo.min(b), hi.max(b)));
            let span = Span {
                start: first,
                end: last + self.b.bucket.micros,
                active: spans.whole.active,
                per_action: BTreeMap::new(),
            };
            let t = Test {
                user,
                action,
                scale: Scale::Window,
                span: &span,
                x,
                day: None,
            };
            if let Some(e) = self.test(&t, &mut cache, w, abstained) {
                let narrow = best.any.get(&action).copied().unwrap_or(1.0);
                best.keep(e, narrow, None, out);
            }
        }
    }
}

/// Strongest p per (action, day) and per action so far, so a wider scale
/// is reported only when it adds something.
#[derive(Default)]
struct Best {
    narrow: HashMap<(u32, i64), f64>,
    any: HashMap<u32, f64>,
}

impl Best {
    /// Keeps `e` when it beats `narrow` by [`WIDER_GAIN`]; a bucket's
    /// evidence (`day` given) is the narrowest and always beats it.
    fn keep(&mut self, e: Evidence, narrow: f64, day: Option<i64>, out: &mut Vec<Evidence>) {
        if e.p_value >= narrow * WIDER_GAIN {
            return;
        }
        let action = e.actions[0];
        if let Some(day) = day {
            let slot = self.narrow.entry((action, day)).or_insert(1.0);
            *slot = slot.min(e.p_value);
        }
        let slot = self.any.entry(action).or_insert(1.0);
        *slot = slot.min(e.p_value);
        out.push(e);
    }
}

/// The expectation before the peer surge.
fn k_mean(span: &Span, post: Posterior) -> f64 {
    f64::from(span.active.max(1)) * post.shape / post.rate
}

/// Peers who must have done an action on a day for its surge to raise an
/// hour's expectation.
const DAY_SURGE_PEERS: u32 = 2;
/// Peers' surge worth naming in the reason.
const SURGE_NOTE: f64 = 1.5;
const DAYS_PER_WEEK: f64 = 7.0;

#[derive(Clone, Copy)]
enum Scale {
    Bucket,
    Day,
    Window,
}

impl Fitted for FittedCountSpike<'_> {
    fn score(&self, w: &WindowActivity) -> Result<Vec<Evidence>, DetectorError> {
        let mut out = Vec::new();
        let mut abstained = 0;
        for user in 0..w.users() as u32 {
            self.score_user(user, w, &mut out, &mut abstained);
        }
        if abstained > 0 {
            tracing::warn!(
                detector = %self.name,
                tests = abstained,
                "Some counts had a model no distribution takes (a NaN or non-positive mean); no evidence taken from them."
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::testing::{at, habit, Lake, WINDOW_DAY};

    const EXEC: &str = "create pods/exec";
    const TEAM: [&str; 4] = ["ana", "bo", "cy", "di"];

    fn detector() -> CountSpike {
        toml::from_str::<CountSpikeParams>("")
            .unwrap()
            .check("count_spike".into())
            .unwrap()
    }

    /// Four people who each run one exec every weekday at 10:00.
    fn team() -> Lake {
        TEAM.iter()
            .fold(Lake::new(), |lake, u| habit(lake, u, EXEC, 1))
    }

    fn evidence_of(lake: Lake, user: &str) -> Vec<Evidence> {
        super::super::evidence_of(&detector(), lake, user)
    }

    #[test]
    fn forty_execs_in_an_hour_against_one_a_day_is_a_spike_with_its_numbers() {
        let hour = at(WINDOW_DAY + 2, 14);
        let found = evidence_of(team().count("ana", hour, EXEC, 40), "ana");
        let spike = found
            .iter()
            .find(|e| e.start == hour)
            .expect("a bucket spike");
        assert_eq!(spike.end, hour + MICROS_PER_HOUR);
        assert_eq!(spike.observed, 40.0);
        assert!(spike.p_value < 1e-10, "{}", spike.p_value);
        assert!(
            spike.reason.starts_with(
                "40 × create pods/exec in 1 h from 2026-11-04 14:00 UTC; baseline 5.0/week"
            ),
            "{}",
            spike.reason
        );
    }

    #[test]
    fn the_usual_count_is_not_evidence() {
        let lake = team().count("ana", at(WINDOW_DAY + 2, 10), EXEC, 1);
        assert!(evidence_of(lake, "ana").is_empty());
    }

    /// The strongest evidence about one hour (not its day or the window).
    fn hourly_p(found: &[Evidence]) -> f64 {
        found
            .iter()
            .filter(|e| e.reason.contains(" in 1 h from "))
            .map(|e| e.p_value)
            .fold(1.0, f64::min)
    }

    #[test]
    fn one_noisy_teammate_that_day_does_not_raise_the_hours_expectation() {
        let (day, ana_hour) = (WINDOW_DAY + 2, 14);
        let alone = evidence_of(team().count("ana", at(day, ana_hour), EXEC, 12), "ana");
        let noisy =
            team()
                .count("bo", at(day, 3), EXEC, 40)
                .count("ana", at(day, ana_hour), EXEC, 12);
        let noisy = evidence_of(noisy, "ana");
        assert!(hourly_p(&alone) < 1e-4, "{}", hourly_p(&alone));
        assert_eq!(hourly_p(&noisy), hourly_p(&alone));
    }

    #[test]
    fn a_team_surging_the_same_day_at_other_hours_raises_the_hours_expectation() {
        let (day, ana_hour) = (WINDOW_DAY + 2, 14);
        let alone = evidence_of(team().count("ana", at(day, ana_hour), EXEC, 12), "ana");
        // Each teammate does the same at an hour of its own that day.
        let release = TEAM
            .iter()
            .enumerate()
            .filter(|(_, u)| **u != "ana")
            .fold(team(), |lake, (i, u)| {
                lake.count(u, at(day, 2 + i as i64), EXEC, 12)
            })
            .count("ana", at(day, ana_hour), EXEC, 12);
        let release = evidence_of(release, "ana");
        assert!(hourly_p(&alone) < 1e-4, "{}", hourly_p(&alone));
        assert!(
            hourly_p(&release) > hourly_p(&alone) * 1e3,
            "{} vs {}",
            hourly_p(&release),
            hourly_p(&alone)
        );
    }

    #[test]
    fn when_the_whole_team_surges_in_the_same_hour_the_expectation_rises() {
        let hour = at(WINDOW_DAY + 2, 14);
        let alone = evidence_of(team().count("ana", hour, EXEC, 12), "ana");
        let together = TEAM
            .iter()
            .fold(team(), |lake, u| lake.count(u, hour, EXEC, 12));
        let together = evidence_of(together, "ana");
        let p = |found: &[Evidence]| found.iter().map(|e| e.p_value).fold(1.0, f64::min);
        assert!(p(&alone) < 1e-4, "{}", p(&alone));
        assert!(
            p(&together) > p(&alone) * 1e3,
            "{} vs {}",
            p(&together),
            p(&alone)
        );
    }

    #[test]
    fn a_wider_scale_is_reported_only_when_much_stronger() {
        // Four execs in each of five hours of one day: no hour is a spike,
        // the day is.
        let lake = (9..14).fold(team(), |lake, h| {
            lake.count("ana", at(WINDOW_DAY + 1, h), EXEC, 4)
        });
        let found = evidence_of(lake, "ana");
        assert!(
            found.iter().any(|e| e.reason.contains("on 2026-11-03")),
            "{found:?}"
        );
    }
}
