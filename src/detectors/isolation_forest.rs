//! Isolation forest over identity-days: the multivariate detector. It finds
//! the day that is a little odd on several axes at once (a bit more volume,
//! a few more namespaces, a shifted action mix, a later hour) where every
//! single-axis detector stays under its threshold.
//!
//! **Rows.** One per (identity, UTC day) with activity. A day, not a bucket,
//! because breadth and first-seen values exist per day and an hour holds too
//! few events to have a mix. Features are relative to the identity's own
//! baseline, shrunk toward its peers with `PRIOR_DAYS` days of weight (a new
//! identity is held to its peers), so one forest serves the whole org:
//! see [`Feature`].
//!
//! **Fit.** The forest is grown on the identity-days of the second half of
//! the baseline (where "first seen" means what it means in the window) and
//! scores the window's identity-days.
//!
//! **Calibration.** A window day's p-value is the share of baseline days
//! that score at least as high, `(k + 1) / (n + 1)` (interpolated between
//! two baseline days' scores). Past the top
//! `tail_share` of baseline scores, where few days remain to count, the
//! excess over that threshold is modelled as exponential (peaks over
//! threshold; a generalised Pareto with shape 0). Isolation scores are
//! bounded, so the true tail is lighter and the exponential overstates p:
//! the forest stays conservative far out. Its p-value then joins the other
//! detectors' in Fisher's method (`pipeline::rank`), so it lifts findings
//! that are weak on several axes and adds little to one that is already loud.

use std::collections::HashMap;

use ndarray::{Array2, ArrayView1};
use serde::Deserialize;

use super::time_of_week::{default_floor_weight, default_prior_weight, hour_mass};
use super::{probability, Detector, DetectorError, Evidence, Fitted, ParamsError};
use crate::activity::baseline::{Baselines, DayActivity, WindowActivity};
use crate::activity::peers::PeerSource;
use crate::activity::{Attr, BreadthKind, Kind};
use crate::forest::{IsolationForest, IsolationForestParams, IsolationForestValidParams};
use crate::stats::{fisher, fmt_amount, fmt_p, TailCalibration};
use crate::window::{fmt_date, hour_of_week, rfc3339, HOURS_PER_WEEK, MICROS_PER_DAY};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsolationForestDetectorParams {
    /// The forest: `trees`, `sample`, `max_depth`, `seed`, `extension_level`
    /// (see `crate::forest::IsolationForestParams`; defaults 100, 256,
    /// ceil(log2 sample), 42, 0).
    #[serde(default)]
    pub forest: IsolationForestParams,
    /// Share of the baseline's highest scores the exponential tail is fitted
    /// on. Default 0.05.
    #[serde(default = "default_tail_share")]
    pub tail_share: f64,
    /// Fewer baseline identity-days than this and the detector abstains
    /// (logged): too few to learn what an ordinary day is. Default 400.
    #[serde(default = "default_min_baseline_days")]
    pub min_baseline_days: usize,
    /// Report identity-days with p below this. Default 1e-3.
    #[serde(default = "default_report_p")]
    pub report_p: f64,
}

fn default_tail_share() -> f64 {
    0.05
}
fn default_min_baseline_days() -> usize {
    400
}
fn default_report_p() -> f64 {
    1e-3
}

impl IsolationForestDetectorParams {
    pub fn check(self, name: String) -> Result<IsolationForestDetector, ParamsError> {
        let forest = self
            .forest
            .clone()
            .check()
            .map_err(|e| ParamsError::new(&name, "forest", e.to_string()))?;
        probability(&name, "tail_share", self.tail_share)?;
        probability(&name, "report_p", self.report_p)?;
        if self.min_baseline_days < 2 {
            return Err(ParamsError::new(
                &name,
                "min_baseline_days",
                "must be at least 2",
            ));
        }
        Ok(IsolationForestDetector {
            name,
            params: self,
            forest,
        })
    }
}

pub struct IsolationForestDetector {
    name: String,
    params: IsolationForestDetectorParams,
    forest: IsolationForestValidParams,
}

/// Weight of the peers' per-day figures in an identity's usual day, in days.
const PRIOR_DAYS: f64 = 2.0;
/// Weight of the peers' action mix in an identity's own mix, in events.
const PRIOR_EVENTS: f64 = 20.0;
/// Events of the identity's usual mix a day's mix is shrunk toward.
const MIX_PRIOR: f64 = 20.0;
/// Features a reason sentence names.
const REASON_FEATURES: usize = 3;
/// Actions a piece of evidence names.
const EVIDENCE_ACTIONS: usize = 5;

/// The features of an identity-day. Pods, targets and active hours were
/// tried and dropped: pod names churn weekly and active hours follow
/// volume, so they added noise the forest split on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// ln((events + 1) / (usual events per active day + 1))
    Volume,
    /// KL divergence of the day's action mix (shrunk toward the reference
    /// with MIX_PRIOR events) from the identity's own mix
    MixVsOwn,
    /// ... and from its peers' pooled mix
    MixVsPeers,
    /// mean -ln(share of identities doing the action), minus the usual
    OrgRare,
    /// ln((distinct namespaces + 1) / (usual + 1))
    Namespaces,
    /// ln((first-seen values + 1) / (usual per day + 1))
    FirstSeen,
    /// the oddest active hour's ln(1 / (HOURS_PER_WEEK * P(hour))): hours
    /// it rarely works
    HourOfWeek,
}

impl Kind for Feature {
    const ALL: &'static [Feature] = &[
        Feature::Volume,
        Feature::MixVsOwn,
        Feature::MixVsPeers,
        Feature::OrgRare,
        Feature::Namespaces,
        Feature::FirstSeen,
        Feature::HourOfWeek,
    ];
    fn index(self) -> usize {
        self as usize
    }
}

impl Feature {
    /// As a reason sentence names it.
    pub fn name(self) -> &'static str {
        match self {
            Feature::Volume => "volume",
            Feature::MixVsOwn => "action mix vs own",
            Feature::MixVsPeers => "action mix vs peers",
            Feature::OrgRare => "org-rare actions",
            Feature::Namespaces => "namespaces",
            Feature::FirstSeen => "first-seen values",
            Feature::HourOfWeek => "hour of week",
        }
    }
}

/// One value per [`Feature`]: a row of the forest's matrix.
type Features = crate::activity::kinds::PerKind<Feature, f64, 7>;

impl Detector for IsolationForestDetector {
    fn name(&self) -> &str {
        &self.name
    }

    fn fit<'a>(&self, baselines: &'a Baselines) -> Result<Box<dyn Fitted + 'a>, DetectorError> {
        let n = baselines.late_days.len();
        if n < self.params.min_baseline_days {
            tracing::warn!(
                detector = %self.name,
                baseline_days = n,
                needed = self.params.min_baseline_days,
                "Too few identity-days in the second half of the baseline to fit the forest; it abstains. Lengthen --baseline-days or score a larger org."
            );
            return Ok(Box::new(Abstain));
        }
        let reach = action_reach(baselines);
        let usual = Usual::of_everyone(baselines, &reach);
        let raw = feature_rows(&baselines.late_days, &usual, &reach, baselines);
        let standard = Standardiser::fit(&baselines.late_days, &raw, baselines.users.len());
        let training = net_of_peers(
            &baselines.late_days,
            standard.apply(&baselines.late_days, raw),
            baselines,
        );
        let failed = |e: crate::forest::ForestError| DetectorError {
            detector: self.name.clone(),
            reason: e.to_string(),
        };
        let forest = self.forest.fit(training.view()).map_err(failed)?;
        let mut scores = forest
            .scores(calibration_rows(&training).view())
            .map_err(failed)?;
        scores.sort_by(f64::total_cmp);
        Ok(Box::new(FittedForest {
            name: self.name.clone(),
            report_p: self.params.report_p,
            calibration: TailCalibration::new(scores, self.params.tail_share),
            forest,
            usual,
            reach,
            standard,
            b: baselines,
        }))
    }
}

/// Baseline identity-days the scores are calibrated on, at most: p-values
/// down to 1 in 50,000 are counted (the exponential tail goes on from
/// there), and scoring a million days with every tree would cost a second.
const CALIBRATION_ROWS: usize = 50_000;

/// The training rows, or an evenly spaced [`CALIBRATION_ROWS`] of them.
fn calibration_rows(training: &Array2<f64>) -> Array2<f64> {
    let n = training.nrows();
    if n <= CALIBRATION_ROWS {
        return training.clone();
    }
    let rows: Vec<usize> = (0..CALIBRATION_ROWS)
        .map(|i| i * n / CALIBRATION_ROWS)
        .collect();
    training.select(ndarray::Axis(0), &rows)
}

/// Fewer co-active peers than this cannot explain a day away.
const TEAM_DAY_MIN_PEERS: f64 = 2.0;

/// The identities a day is netted against: those compared with the same
/// declared group, or with the org. A learned cluster's handful of
/// unaffiliated identities and newcomers are no team working together.
fn team(b: &Baselines, user: u32) -> Option<usize> {
    (b.peers.source(user) != PeerSource::Learned).then(|| b.pool_of(user))
}

/// Subtracts, feature by feature, what the identity's team (see [`team`])
/// active the same day
/// did beyond their own norms: `max(0, mean over the others)`, when at least
/// `TEAM_DAY_MIN_PEERS` others were active.
/// A team working an incident together is not each member's anomaly; one
/// member doing it alone still is (as in the count spike detector).
fn net_of_peers(days: &[DayActivity], mut rows: Array2<f64>, b: &Baselines) -> Array2<f64> {
    let mut totals: HashMap<(usize, i64), (Vec<f64>, f64)> = HashMap::new();
    for (d, row) in days.iter().zip(rows.rows()) {
        let Some(team) = team(b, d.user) else {
            continue;
        };
        let entry = totals
            .entry((team, d.day))
            .or_insert_with(|| (vec![0.0; row.len()], 0.0));
        for (t, x) in entry.0.iter_mut().zip(row) {
            *t += x;
        }
        entry.1 += 1.0;
    }
    for (d, mut row) in days.iter().zip(rows.rows_mut()) {
        let Some((sum, n)) = team(b, d.user).and_then(|team| totals.get(&(team, d.day))) else {
            continue;
        };
        let others = n - 1.0;
        if others < TEAM_DAY_MIN_PEERS {
            continue;
        }
        for (x, t) in row.iter_mut().zip(sum) {
            let shared = (t - *x) / others;
            *x -= shared.max(0.0);
        }
    }
    rows
}

/// Each identity's features measured against its own ordinary days: `(x -
/// mean) / sd` over its late-baseline days, both shrunk toward the whole
/// org's with `STANDARD_PRIOR_DAYS` days of weight (a newcomer gets the
/// org's). An identity that always works at night is then not odd at night.
#[derive(Debug, Clone)]
struct Standardiser {
    /// Per user: per feature (mean, sd).
    per_user: Vec<Vec<(f64, f64)>>,
}

/// Weight of the org's feature mean and spread in an identity's, in days.
const STANDARD_PRIOR_DAYS: f64 = 5.0;

impl Standardiser {
    fn fit(days: &[DayActivity], rows: &Array2<f64>, users: usize) -> Standardiser {
        let features = rows.ncols();
        let n = rows.nrows().max(1) as f64;
        let pooled: Vec<(f64, f64)> = (0..features)
            .map(|j| {
                let column = rows.column(j);
                let mean = column.sum() / n;
                let var = column.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
                (mean, var)
            })
            .collect();
        let mut sums = vec![vec![0.0; features]; users];
        let mut counts = vec![0.0; users];
        for (d, row) in days.iter().zip(rows.rows()) {
            counts[d.user as usize] += 1.0;
            for (s, x) in sums[d.user as usize].iter_mut().zip(row) {
                *s += x;
            }
        }
        let k = STANDARD_PRIOR_DAYS;
        let means: Vec<Vec<f64>> = (0..users)
            .map(|u| {
                (0..features)
                    .map(|j| (sums[u][j] + k * pooled[j].0) / (counts[u] + k))
                    .collect()
            })
            .collect();
        let mut squares = vec![vec![0.0; features]; users];
        for (d, row) in days.iter().zip(rows.rows()) {
            let u = d.user as usize;
            for (j, x) in row.iter().enumerate() {
                squares[u][j] += (x - means[u][j]).powi(2);
            }
        }
        let per_user = (0..users)
            .map(|u| {
                (0..features)
                    .map(|j| {
                        let var = (squares[u][j] + k * pooled[j].1) / (counts[u] + k);
                        (
                            means[u][j],
                            var.sqrt().max(0.1 * pooled[j].1.sqrt()).max(1e-9),
                        )
                    })
                    .collect()
            })
            .collect();
        Standardiser { per_user }
    }

    fn apply(&self, days: &[DayActivity], mut rows: Array2<f64>) -> Array2<f64> {
        for (d, mut row) in days.iter().zip(rows.rows_mut()) {
            for (x, (mean, sd)) in row.iter_mut().zip(&self.per_user[d.user as usize]) {
                *x = (*x - mean) / sd;
            }
        }
        rows
    }
}

/// A fitted detector that reports nothing (too little baseline).
struct Abstain;

impl Fitted for Abstain {
    fn score(&self, _: &WindowActivity) -> Result<Vec<Evidence>, DetectorError> {
        Ok(Vec::new())
    }
}

struct FittedForest<'a> {
    name: String,
    report_p: f64,
    calibration: TailCalibration,
    forest: IsolationForest,
    usual: Vec<Usual>,
    /// Share of identities doing each action.
    reach: HashMap<u32, f64>,
    standard: Standardiser,
    b: &'a Baselines,
}

impl Fitted for FittedForest<'_> {
    fn score(&self, w: &WindowActivity) -> Result<Vec<Evidence>, DetectorError> {
        let raw = feature_rows(&w.days, &self.usual, &self.reach, self.b);
        let rows = net_of_peers(&w.days, self.standard.apply(&w.days, raw.clone()), self.b);
        let scores = self.forest.scores(rows.view()).map_err(|e| DetectorError {
            detector: self.name.clone(),
            reason: e.to_string(),
        })?;
        let ps: Vec<f64> = scores
            .iter()
            .map(|s| self.calibration.p_value(*s))
            .collect();
        let mut out = Vec::new();
        for (i, (day, score)) in w.days.iter().zip(scores).enumerate() {
            if ps[i] < self.report_p {
                out.push(self.day_evidence(day, score, ps[i], rows.row(i), raw.row(i)));
            }
        }
        out.extend(self.days_running(&w.days, &ps));
        Ok(out)
    }
}

impl FittedForest<'_> {
    /// One unusual identity-day, its reason naming the features that
    /// isolated it with their numbers.
    fn day_evidence(
        &self,
        day: &DayActivity,
        score: f64,
        p: f64,
        row: ArrayView1<f64>,
        raw: ArrayView1<f64>,
    ) -> Evidence {
        let usual = &self.usual[day.user as usize];
        let attribution = self.forest.attribution(&row.to_vec());
        let drivers: Vec<String> = crate::forest::top_features(&attribution, REASON_FEATURES)
            .into_iter()
            .map(|f| {
                let feature = Feature::ALL[f];
                format!(
                    "{} {:.0}% ({})",
                    feature.name(),
                    attribution[f] * 100.0,
                    explain(feature, day, usual, raw[f], self.b)
                )
            })
            .collect();
        let width = self.b.bucket.micros;
        let start = day.buckets.first().copied().unwrap_or(day.day);
        let end = day
            .buckets
            .last()
            .map_or(day.day + MICROS_PER_DAY, |b| b + width);
        Evidence {
            user: day.user,
            start,
            end,
            p_value: p,
            reason: format!(
                "unusual day in combination on {} (isolation score {score:.2}, higher than {} of {} baseline identity-days; p = {}): {}",
                fmt_date(day.day),
                self.calibration.below(score),
                self.calibration.len(),
                fmt_p(p),
                drivers.join("; ")
            ),
            observed: day.events() as f64,
            expected: usual.events,
            actions: departing_actions(day, usual, self.b),
            at: Vec::new(),
            techniques: Vec::new(),
        }
    }
}

/// Days an identity must be active in the window before its days are
/// combined.
const MIN_DAYS_RUNNING: usize = 3;
/// The combined p must be this much below the oddest day's: otherwise that
/// day says it all, and a week-long span would only blur when it happened.
const RUNNING_GAIN: f64 = 0.1;

impl FittedForest<'_> {
    /// The same identity a little odd day after day (a few reads of other
    /// teams' secrets each day for a week): Fisher's method over its daily
    /// p-values. Reported when below `report_p` and ten times stronger than
    /// its oddest day alone, as one piece of evidence over its active days.
    fn days_running(&self, days: &[DayActivity], ps: &[f64]) -> Vec<Evidence> {
        let width = self.b.bucket.micros;
        let mut out = Vec::new();
        // Days are sorted by (user, day): one run of rows per identity.
        for run in days
            .iter()
            .zip(ps)
            .collect::<Vec<_>>()
            .chunk_by(|a, b| a.0.user == b.0.user)
        {
            if run.len() < MIN_DAYS_RUNNING {
                continue;
            }
            let daily: Vec<f64> = run.iter().map(|(_, p)| **p).collect();
            let p = fisher(&daily);
            let oddest = daily.iter().copied().fold(1.0, f64::min);
            if p >= self.report_p || p >= oddest * RUNNING_GAIN {
                continue;
            }
            let (first, last) = (run[0].0, run[run.len() - 1].0);
            let usual = &self.usual[first.user as usize];
            let mut actions: Vec<u32> = Vec::new();
            for (day, _) in run {
                for a in departing_actions(day, usual, self.b) {
                    if !actions.contains(&a) && actions.len() < EVIDENCE_ACTIONS {
                        actions.push(a);
                    }
                }
            }
            let shown: Vec<String> = run
                .iter()
                .map(|(d, p)| format!("{} p = {}", &rfc3339(d.day)[5..10], fmt_p(**p)))
                .collect();
            out.push(Evidence {
                user: first.user,
                start: first.buckets.first().copied().unwrap_or(first.day),
                end: last
                    .buckets
                    .last()
                    .map_or(last.day + MICROS_PER_DAY, |b| b + width),
                p_value: p,
                reason: format!(
                    "unusual {} days running (combined p = {}; its oddest day alone p = {}): {}",
                    run.len(),
                    fmt_p(p),
                    fmt_p(oddest),
                    shown.join(", ")
                ),
                observed: run.len() as f64,
                expected: 0.0,
                actions,
                at: Vec::new(),
                techniques: Vec::new(),
            });
        }
        out
    }
}

/// An identity's ordinary day, from its baseline shrunk toward its peers.
#[derive(Debug, Clone)]
struct Usual {
    events: f64,
    rarity: f64,
    namespaces: f64,
    new_values: f64,
    own_events: f64,
    peer_events: f64,
    hour_mass: [f64; HOURS_PER_WEEK],
}

impl Usual {
    fn of_everyone(b: &Baselines, reach: &HashMap<u32, f64>) -> Vec<Usual> {
        let exposure = b.hour_exposure();
        (0..b.users.len() as u32)
            .map(|u| Usual::of(b, u, reach, &exposure))
            .collect()
    }

    fn of(
        b: &Baselines,
        user: u32,
        reach: &HashMap<u32, f64>,
        exposure: &[u32; HOURS_PER_WEEK],
    ) -> Usual {
        let own = &b.users[user as usize];
        let peers = b.peers_of(user);
        let days = f64::from(own.active_days);
        let peer_days = peers.active_days().max(1.0);
        // (own total + PRIOR_DAYS peer days) / (own days + PRIOR_DAYS)
        let per_day = |own_total: f64, peer_total: f64| {
            (own_total + PRIOR_DAYS * peer_total / peer_days) / (days + PRIOR_DAYS)
        };
        let own_events = own.events();
        let own_rarity: f64 = own
            .action_counts
            .iter()
            .map(|(a, c)| *c as f64 * rarity(*a, reach))
            .sum::<f64>();
        // Peers' typical rarity stands in for an identity without history.
        let rarity = if own_events > 0.0 {
            own_rarity / own_events
        } else {
            0.0
        };
        let late_days = f64::from(own.late_active_days);
        let new_values = (own.late_novel.values().map(|n| f64::from(*n)).sum::<f64>()
            + PRIOR_DAYS
                * Attr::ALL
                    .iter()
                    .map(|a| peers.novelty_rate(*a))
                    .sum::<f64>())
            / (late_days + PRIOR_DAYS);
        Usual {
            events: per_day(own_events, peers.events()),
            rarity,
            namespaces: per_day(
                own.breadth_sum[BreadthKind::Namespace] as f64,
                peers.breadth_sum(BreadthKind::Namespace),
            ),
            new_values,
            own_events,
            peer_events: peers.events(),
            hour_mass: hour_mass(
                b,
                user,
                exposure,
                default_prior_weight(),
                default_floor_weight(),
            ),
        }
    }
}

/// Share of identities (with a baseline) that did each action at any time.
fn action_reach(b: &Baselines) -> HashMap<u32, f64> {
    let identities = b.users.iter().filter(|u| u.has_history()).count().max(1) as f64;
    b.reach
        .iter()
        .filter(|((attr, _), _)| *attr == Attr::Action)
        .map(|((_, a), reach)| (*a, f64::from(reach.identities) / identities))
        .collect()
}

/// `-ln(share of identities doing it)`, capped for actions nobody did before.
fn rarity(action: u32, reach: &HashMap<u32, f64>) -> f64 {
    -reach
        .get(&action)
        .copied()
        .unwrap_or(0.0)
        .clamp(1e-3, 1.0)
        .ln()
}

/// The feature matrix of `days`, one row each. A feature that is not a
/// finite number is left at 0 (as usual) and counted in the log: it
/// abstains rather than isolating the day.
fn feature_rows(
    days: &[DayActivity],
    usual: &[Usual],
    reach: &HashMap<u32, f64>,
    b: &Baselines,
) -> Array2<f64> {
    let mut rows = Array2::zeros((days.len(), Feature::ALL.len()));
    let mut not_finite = 0usize;
    for (i, d) in days.iter().enumerate() {
        let values = features(d, &usual[d.user as usize], reach, b);
        for (feature, v) in values.iter() {
            if v.is_finite() {
                rows[[i, feature.index()]] = *v;
            } else {
                not_finite += 1;
            }
        }
    }
    if not_finite > 0 {
        tracing::warn!(
            values = not_finite,
            "Some identity-day features were not finite numbers; they count as usual."
        );
    }
    rows
}

/// One identity-day's features, relative to its usual day.
fn features(d: &DayActivity, u: &Usual, reach: &HashMap<u32, f64>, b: &Baselines) -> Features {
    let ratio = |x: f64, usual: f64| ((x + 1.0) / (usual + 1.0)).ln();
    let events = d.events() as f64;
    let own = &b.users[d.user as usize];
    let peers = b.peers_of(d.user);
    let own_share = |a: u32| {
        let peer_share = peers.action_count(a) / u.peer_events.max(1.0);
        let count = own.action_count(a) as f64;
        ((count + PRIOR_EVENTS * peer_share) / (u.own_events + PRIOR_EVENTS))
            .max(0.5 / (u.own_events + PRIOR_EVENTS))
    };
    let peer_share = |a: u32| ((peers.action_count(a) + 0.5) / (u.peer_events + 1.0)).min(1.0);
    // The day's mix is shrunk toward the reference with MIX_PRIOR events,
    // so a two-event day does not look like a new way of working.
    let kl = |q: &dyn Fn(u32) -> f64| -> f64 {
        d.actions
            .iter()
            .map(|(a, n)| {
                let q = q(*a);
                let p = (f64::from(*n) + MIX_PRIOR * q) / (events + MIX_PRIOR);
                f64::from(*n) / (events + MIX_PRIOR) * (p / q).ln()
            })
            .sum::<f64>()
            .max(0.0)
    };
    let day_rarity = d
        .actions
        .iter()
        .map(|(a, n)| f64::from(*n) * rarity(*a, reach))
        .sum::<f64>()
        / events;
    // Against an even spread over the hours the baseline held (0 for an
    // hour as likely as any); hours it never held (no mass) are unknown,
    // not odd, and a day of only those counts as its likeliest hour.
    let held = u.hour_mass.iter().filter(|m| **m > 0.0).count() as f64;
    let likeliest = u.hour_mass.iter().copied().fold(0.0, f64::max);
    let odd_hours = d
        .buckets
        .iter()
        .map(|t| u.hour_mass[hour_of_week(*t)])
        .filter(|m| *m > 0.0)
        .map(|m| -(held * m).ln())
        .reduce(f64::max)
        .unwrap_or(if likeliest > 0.0 {
            -(held * likeliest).ln()
        } else {
            0.0
        });
    Features::from_fn(|feature| match feature {
        Feature::Volume => ratio(events, u.events),
        Feature::MixVsOwn => kl(&own_share),
        Feature::MixVsPeers => kl(&peer_share),
        Feature::OrgRare => day_rarity - u.rarity,
        Feature::Namespaces => ratio(f64::from(d.breadth[BreadthKind::Namespace]), u.namespaces),
        // Everything is first-seen for a newcomer: novelty judges those by
        // their rarity among peers, the forest leaves them at usual.
        Feature::FirstSeen if own.has_history() => ratio(f64::from(d.new_values), u.new_values),
        Feature::FirstSeen => 0.0,
        Feature::HourOfWeek => odd_hours,
    })
}

/// The numbers behind one feature, for the reason sentence; `value` is the
/// day's raw value of the feature.
fn explain(feature: Feature, d: &DayActivity, u: &Usual, value: f64, b: &Baselines) -> String {
    let vs = |x: f64, usual: f64, what: &str| {
        format!("{} {what} vs usual {}", fmt_amount(x), fmt_amount(usual))
    };
    match feature {
        Feature::Volume => vs(d.events() as f64, u.events, "events"),
        Feature::MixVsOwn | Feature::MixVsPeers => {
            let top = d
                .actions
                .iter()
                .max_by_key(|(_, n)| *n)
                .map(|(a, n)| format!("{} ×{n}", b.values.name(*a)))
                .unwrap_or_default();
            format!("divergence {value:.1}; most: {top}")
        }
        Feature::OrgRare => format!("{value:+.1} nats rarer than usual"),
        Feature::Namespaces => vs(
            f64::from(d.breadth[BreadthKind::Namespace]),
            u.namespaces,
            "distinct",
        ),
        Feature::FirstSeen => vs(f64::from(d.new_values), u.new_values, "new"),
        Feature::HourOfWeek => {
            let hours: Vec<String> = d
                .buckets
                .iter()
                .take(3)
                .map(|t| rfc3339(*t)[11..16].to_owned())
                .collect();
            format!("active at {} UTC", hours.join(", "))
        }
    }
}

/// The day's actions that depart most from the identity's usual mix.
fn departing_actions(d: &DayActivity, u: &Usual, b: &Baselines) -> Vec<u32> {
    let own = &b.users[d.user as usize];
    let mut by_lift: Vec<(f64, u32)> = d
        .actions
        .iter()
        .map(|(a, n)| {
            let usual = own.action_count(*a) as f64 / u.own_events.max(1.0) * u.events;
            (f64::from(*n) / (usual + 0.5), *a)
        })
        .collect();
    by_lift.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
    by_lift
        .into_iter()
        .take(EVIDENCE_ACTIONS)
        .map(|(_, a)| a)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feature_that_is_not_a_number_counts_as_usual_not_as_isolation() {
        use crate::activity::testing::{habit, Lake};
        let (b, _) = habit(Lake::new(), "ana", "get pods", 3).build();
        let reach = action_reach(&b);
        let usual = Usual::of_everyone(&b, &reach);
        // A day with no events and no active hour: its mix and hour are 0/0.
        let empty = DayActivity {
            user: 0,
            day: 0,
            ..Default::default()
        };
        let raw = features(&empty, &usual[0], &reach, &b);
        assert!(raw.values().any(|v| !v.is_finite()), "{raw:?}");
        let rows = feature_rows(&[empty], &usual, &reach, &b);
        assert!(rows.iter().all(|v| v.is_finite()), "{rows:?}");
    }

    #[test]
    fn forest_params_are_checked_with_the_model() {
        let params: IsolationForestDetectorParams =
            toml::from_str("report_p = 0.01\n[forest]\ntrees = 0\n").unwrap();
        let err = params.check("iforest".into()).err().unwrap();
        assert!(err.to_string().contains("trees"), "{err}");
    }
}
