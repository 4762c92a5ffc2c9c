//! Stage 3: per-identity baselines from the days before the scoring window,
//! and the scoring window's activity indexed for the detectors.
//!
//! Rates are per *active* bucket or day (one with any event by that
//! identity), so weekends, leave and part-time schedules do not dilute them:
//! someone back from two weeks off is compared with their working days.

use std::collections::{HashMap, HashSet};

use super::context::{PeerSource, Peers};
use super::load::{Activity, Attr, CountRow, SeenRow, BREADTH_KINDS};
use crate::intern::Interner;
use crate::window::{hour_of_week, Bucket, Window, MICROS_PER_DAY};

/// One identity's behaviour in the baseline period.
#[derive(Debug, Clone, Default)]
pub struct UserBaseline {
    pub active_buckets: u32,
    pub active_days: u32,
    /// Baseline events per action id.
    pub action_counts: HashMap<u32, u64>,
    /// Active buckets per hour of the week (UTC).
    pub hour_profile: Vec<u32>,
    /// Sum over active days of distinct namespaces, pods, targets, accounts.
    pub breadth_sum: [u64; BREADTH_KINDS.len()],
    /// Values first touched in the second half of the baseline, per attribute:
    /// how often this identity meets something new in ordinary weeks.
    pub late_novel: [u32; Attr::ALL.len()],
    pub late_active_days: u32,
}

impl UserBaseline {
    pub fn events(&self) -> f64 {
        self.action_counts.values().map(|c| *c as f64).sum()
    }

    pub fn has_history(&self) -> bool {
        self.active_buckets > 0
    }

    /// New values per active day in the second half of the baseline.
    pub fn novelty_rates(&self) -> Option<[f64; Attr::ALL.len()]> {
        (self.late_active_days > 0).then(|| {
            self.late_novel
                .map(|n| f64::from(n) / f64::from(self.late_active_days))
        })
    }
}

/// One identity's activity in one UTC day: the unit the isolation forest
/// scores (a day is also the unit breadth is aggregated at in the lake).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DayActivity {
    pub user: u32,
    /// UTC day start.
    pub day: i64,
    /// Events per action id, sorted by action.
    pub actions: Vec<(u32, u32)>,
    /// Active buckets, ascending.
    pub buckets: Vec<i64>,
    /// Distinct namespaces, pods, targets, accounts.
    pub breadth: [u32; BREADTH_KINDS.len()],
    /// Values (any attribute) the identity touched for the first time.
    pub new_values: u32,
}

impl DayActivity {
    pub fn events(&self) -> u64 {
        self.actions.iter().map(|(_, n)| u64::from(*n)).sum()
    }
}

/// Baseline totals over a set of identities, so that "this identity's peers"
/// is one subtraction instead of a sum over hundreds of teammates.
#[derive(Debug, Clone, Default)]
pub struct Pool {
    pub members: usize,
    pub active_buckets: f64,
    pub active_days: f64,
    pub events: f64,
    pub action_counts: HashMap<u32, f64>,
    pub hour_profile: Vec<f64>,
    pub breadth_sum: [f64; BREADTH_KINDS.len()],
    /// Sum over members with a late baseline of their novelty rates, and how many.
    pub novelty_rate_sum: [f64; Attr::ALL.len()],
    pub novelty_rated: usize,
}

impl Pool {
    fn add(&mut self, b: &UserBaseline) {
        if self.hour_profile.is_empty() {
            self.hour_profile = vec![0.0; 168];
        }
        self.active_buckets += f64::from(b.active_buckets);
        self.active_days += f64::from(b.active_days);
        for (a, c) in &b.action_counts {
            *self.action_counts.entry(*a).or_default() += *c as f64;
            self.events += *c as f64;
        }
        for (h, c) in self.hour_profile.iter_mut().zip(&b.hour_profile) {
            *h += f64::from(*c);
        }
        for (s, c) in self.breadth_sum.iter_mut().zip(b.breadth_sum) {
            *s += c as f64;
        }
        if let Some(rates) = b.novelty_rates() {
            for (s, r) in self.novelty_rate_sum.iter_mut().zip(rates) {
                *s += r;
            }
            self.novelty_rated += 1;
        }
    }
}

/// An identity's peers, seen through their pool (minus the identity itself).
pub struct PeerView<'a> {
    pool: &'a Pool,
    own: Option<&'a UserBaseline>,
}

impl PeerView<'_> {
    fn minus(&self, total: f64, own: impl Fn(&UserBaseline) -> f64) -> f64 {
        (total - self.own.map_or(0.0, own)).max(0.0)
    }
    pub fn active_buckets(&self) -> f64 {
        self.minus(self.pool.active_buckets, |b| f64::from(b.active_buckets))
    }
    pub fn active_days(&self) -> f64 {
        self.minus(self.pool.active_days, |b| f64::from(b.active_days))
    }
    pub fn events(&self) -> f64 {
        self.minus(self.pool.events, UserBaseline::events)
    }
    pub fn action_count(&self, action: u32) -> f64 {
        let total = self.pool.action_counts.get(&action).copied().unwrap_or(0.0);
        self.minus(total, |b| {
            b.action_counts.get(&action).copied().unwrap_or(0) as f64
        })
    }
    pub fn hour(&self, h: usize) -> f64 {
        self.minus(self.pool.hour_profile.get(h).copied().unwrap_or(0.0), |b| {
            f64::from(b.hour_profile[h])
        })
    }
    pub fn breadth_sum(&self, k: usize) -> f64 {
        self.minus(self.pool.breadth_sum[k], |b| b.breadth_sum[k] as f64)
    }
    /// Mean novelty rate of the peers that have one, per attribute index.
    pub fn novelty_rate(&self, attr_index: usize) -> f64 {
        let own = self.own.and_then(UserBaseline::novelty_rates);
        let sum = self.pool.novelty_rate_sum[attr_index] - own.map_or(0.0, |r| r[attr_index]);
        let n = self.pool.novelty_rated - usize::from(own.is_some());
        if n == 0 {
            0.0
        } else {
            (sum / n as f64).max(0.0)
        }
    }
}

/// Everything the detectors learn from.
#[derive(Debug)]
pub struct Baselines {
    /// User names by id.
    pub user_names: Interner,
    /// Tool, action and attribute-value names by id.
    pub values: Interner,
    pub window: Window,
    pub bucket: Bucket,
    pub users: Vec<UserBaseline>,
    pub peers: Peers,
    /// For each attribute value, the identities that touched it at any time
    /// in the loaded range (baseline or window): its rarity among peers.
    pub touched_by: HashMap<(Attr, u32), Vec<u32>>,
    /// Identity-days of the second half of the baseline, where "first time"
    /// already means what it means in the window, sorted by (user, day).
    pub late_days: Vec<DayActivity>,
    pools: Vec<Pool>,
    /// Per user: its peers' pool, and whether the user is in it.
    pool_of: Vec<(usize, bool)>,
}

impl Baselines {
    pub fn peers_of(&self, user: u32) -> PeerView<'_> {
        let (pool, member) = self.pool_of[user as usize];
        PeerView {
            pool: &self.pools[pool],
            own: member.then(|| &self.users[user as usize]),
        }
    }

    /// The pool the identity's peers are summed in, when the identity is a
    /// member of it (declared groups and the org; not learned peer sets).
    pub fn shared_pool(&self, user: u32) -> Option<usize> {
        let (pool, member) = self.pool_of[user as usize];
        member.then_some(pool)
    }

    /// Whether `other` is one of `user`'s peers.
    pub fn is_peer(&self, user: u32, other: u32) -> bool {
        if user == other {
            return false;
        }
        match self.peers.source[user as usize] {
            PeerSource::Learned => self.peers.members[user as usize]
                .binary_search(&other)
                .is_ok(),
            PeerSource::Org => true,
            PeerSource::Context | PeerSource::Asserted => {
                self.pool_of[other as usize] == self.pool_of[user as usize]
            }
        }
    }
}

/// The scoring window, grouped per identity.
#[derive(Debug, Default)]
pub struct WindowActivity {
    /// Per user: count rows in the window, sorted by bucket.
    pub counts: Vec<Vec<CountRow>>,
    /// Per user: values first touched in the window (never in the baseline).
    pub novel: Vec<Vec<SeenRow>>,
    /// Per user: (day start, distinct per breadth kind) in the window.
    pub breadth: Vec<Vec<(i64, [u32; BREADTH_KINDS.len()])>>,
    /// Events per (user, bucket, action), for peers' view of the same hour.
    pub by_bucket: HashMap<(u32, i64, u32), u32>,
    /// Events per (user, UTC day start, action).
    pub by_day: HashMap<(u32, i64, u32), u32>,
    /// Events per (user, action) over the window.
    pub by_window: HashMap<(u32, u32), u32>,
    /// Active buckets per user in the window.
    pub active: Vec<HashSet<i64>>,
    /// Active buckets per user per UTC day start in the window.
    pub active_per_day: Vec<HashMap<i64, u32>>,
    /// Identity-days of the window, sorted by (user, day).
    pub days: Vec<DayActivity>,
    /// The same per peer pool (keyed by pool index), so "my peers in this
    /// hour" is the pool's total minus mine.
    pub pools: PoolWindow,
}

/// Window totals per peer pool. Units: `Unit::Bucket(start)`,
/// `Unit::Day(start)`, `Unit::Window`.
#[derive(Debug, Default)]
pub struct PoolWindow {
    pub events: HashMap<(usize, Unit, u32), u32>,
    pub active: HashMap<(usize, Unit), u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    Bucket(i64),
    Day(i64),
    Window,
}

impl WindowActivity {
    pub fn users(&self) -> usize {
        self.counts.len()
    }
}

pub fn build(
    activity: Activity,
    window: &Window,
    bucket: Bucket,
    peers: Peers,
) -> (Baselines, WindowActivity) {
    let n = activity.users.len();
    let mut users = vec![
        UserBaseline {
            hour_profile: vec![0; 168],
            ..Default::default()
        };
        n
    ];
    let mut current = WindowActivity {
        counts: vec![Vec::new(); n],
        novel: vec![Vec::new(); n],
        breadth: vec![Vec::new(); n],
        by_bucket: HashMap::new(),
        by_day: HashMap::new(),
        by_window: HashMap::new(),
        active: vec![HashSet::new(); n],
        active_per_day: vec![HashMap::new(); n],
        days: Vec::new(),
        pools: PoolWindow::default(),
    };
    let midpoint = window.baseline_start + (window.start - window.baseline_start) / 2;
    let late_start = midpoint - midpoint.rem_euclid(MICROS_PER_DAY);
    let (late_days, window_days) = identity_days(&activity, window, late_start);
    current.days = window_days;

    // Count rows are sorted by (user, bucket): a new active bucket is a
    // change of either.
    let mut previous: Option<(u32, i64)> = None;
    for r in &activity.counts {
        if window.in_window(r.bucket) {
            current.counts[r.user as usize].push(*r);
            let day = r.bucket - r.bucket.rem_euclid(MICROS_PER_DAY);
            *current
                .by_bucket
                .entry((r.user, r.bucket, r.action))
                .or_default() += r.n;
            *current.by_day.entry((r.user, day, r.action)).or_default() += r.n;
            *current.by_window.entry((r.user, r.action)).or_default() += r.n;
            if current.active[r.user as usize].insert(r.bucket) {
                *current.active_per_day[r.user as usize]
                    .entry(day)
                    .or_default() += 1;
            }
        } else if r.bucket < window.start {
            let b = &mut users[r.user as usize];
            *b.action_counts.entry(r.action).or_default() += u64::from(r.n);
            if previous != Some((r.user, r.bucket)) {
                previous = Some((r.user, r.bucket));
                b.active_buckets += 1;
                b.hour_profile[hour_of_week(r.bucket)] += 1;
            }
        }
    }
    for r in &activity.breadth {
        if r.day >= window.start {
            current.breadth[r.user as usize].push((r.day, r.distinct));
        } else {
            let b = &mut users[r.user as usize];
            b.active_days += 1;
            if r.day >= late_start {
                b.late_active_days += 1;
            }
            for (s, d) in b.breadth_sum.iter_mut().zip(r.distinct) {
                *s += u64::from(d);
            }
        }
    }
    let mut touched_by: HashMap<(Attr, u32), Vec<u32>> = HashMap::new();
    for r in &activity.seen {
        touched_by
            .entry((r.attr, r.value))
            .or_default()
            .push(r.user);
        let attr_index = Attr::ALL.iter().position(|a| *a == r.attr).unwrap_or(0);
        if r.n_baseline == 0 && r.n_window > 0 {
            current.novel[r.user as usize].push(*r);
        } else if r.n_baseline > 0 && r.first >= midpoint {
            users[r.user as usize].late_novel[attr_index] += 1;
        }
    }
    for list in current.counts.iter_mut() {
        list.sort_by_key(|r| (r.bucket, r.action));
    }
    let (pools, pool_of, org_pool) = pools(&users, &peers);
    current.pools = pool_window(&current, &pool_of, org_pool);
    (
        Baselines {
            user_names: activity.users,
            values: activity.values,
            window: *window,
            bucket,
            users,
            peers,
            touched_by,
            late_days,
            pools,
            pool_of,
        },
        current,
    )
}

/// Identity-days from `late_start` to the end of the window, split into the
/// late baseline and the window.
fn identity_days(
    activity: &Activity,
    window: &Window,
    late_start: i64,
) -> (Vec<DayActivity>, Vec<DayActivity>) {
    let day_of = |t: i64| t - t.rem_euclid(MICROS_PER_DAY);
    let mut days: std::collections::BTreeMap<(u32, i64), DayActivity> = Default::default();
    fn entry(
        days: &mut std::collections::BTreeMap<(u32, i64), DayActivity>,
        user: u32,
        day: i64,
    ) -> &mut DayActivity {
        days.entry((user, day)).or_insert_with(|| DayActivity {
            user,
            day,
            ..Default::default()
        })
    }
    for r in activity.counts.iter().filter(|r| r.bucket >= late_start) {
        let d = entry(&mut days, r.user, day_of(r.bucket));
        match d.actions.iter_mut().find(|(a, _)| *a == r.action) {
            Some((_, n)) => *n += r.n,
            None => d.actions.push((r.action, r.n)),
        }
        if d.buckets.last() != Some(&r.bucket) {
            d.buckets.push(r.bucket);
        }
    }
    for r in activity.breadth.iter().filter(|r| r.day >= late_start) {
        entry(&mut days, r.user, r.day).breadth = r.distinct;
    }
    for r in activity.seen.iter().filter(|r| r.first >= late_start) {
        entry(&mut days, r.user, day_of(r.first)).new_values += 1;
    }
    let (mut late, mut current) = (Vec::new(), Vec::new());
    for (_, mut d) in days {
        if d.actions.is_empty() {
            continue;
        }
        d.actions.sort_unstable();
        d.buckets.sort_unstable();
        d.buckets.dedup();
        if d.day >= window.start {
            current.push(d);
        } else {
            late.push(d);
        }
    }
    (late, current)
}

/// Sums each pool's members' window activity per bucket, day and window.
fn pool_window(w: &WindowActivity, pool_of: &[(usize, bool)], org: Option<usize>) -> PoolWindow {
    let mut out = PoolWindow::default();
    for (u, rows) in w.counts.iter().enumerate() {
        let declared = pool_of[u]
            .1
            .then_some(pool_of[u].0)
            .filter(|p| Some(*p) != org);
        for pool in declared.into_iter().chain(org) {
            for r in rows {
                let day = r.bucket - r.bucket.rem_euclid(MICROS_PER_DAY);
                for unit in [Unit::Bucket(r.bucket), Unit::Day(day), Unit::Window] {
                    *out.events.entry((pool, unit, r.action)).or_default() += r.n;
                }
            }
            for b in &w.active[u] {
                *out.active.entry((pool, Unit::Bucket(*b))).or_default() += 1;
            }
            for (day, n) in &w.active_per_day[u] {
                *out.active.entry((pool, Unit::Day(*day))).or_default() += n;
            }
            *out.active.entry((pool, Unit::Window)).or_default() += w.active[u].len() as u32;
        }
    }
    out
}

/// One pool per declared group (members include the identity, subtracted
/// on use), one per learned peer set, and one for the whole org.
fn pools(users: &[UserBaseline], peers: &Peers) -> (Vec<Pool>, Vec<(usize, bool)>, Option<usize>) {
    let mut pools: Vec<Pool> = Vec::new();
    let mut by_label: HashMap<&str, usize> = HashMap::new();
    let mut org = None;
    let mut pool_of = Vec::with_capacity(users.len());
    for u in 0..users.len() {
        let entry = match peers.source[u] {
            PeerSource::Context | PeerSource::Asserted => {
                let i = *by_label.entry(peers.label[u].as_str()).or_insert_with(|| {
                    pools.push(Pool::default());
                    pools.len() - 1
                });
                (i, true)
            }
            PeerSource::Org => {
                let i = *org.get_or_insert_with(|| {
                    let mut pool = Pool::default();
                    for b in users {
                        pool.add(b);
                    }
                    pool.members = users.len();
                    pools.push(pool);
                    pools.len() - 1
                });
                (i, true)
            }
            PeerSource::Learned => {
                let mut pool = Pool::default();
                for v in &peers.members[u] {
                    pool.add(&users[*v as usize]);
                }
                pool.members = peers.members[u].len();
                pools.push(pool);
                (pools.len() - 1, false)
            }
        };
        pool_of.push(entry);
    }
    for (u, (i, member)) in pool_of.iter().enumerate() {
        if *member && Some(*i) != org {
            pools[*i].add(&users[u]);
            pools[*i].members += 1;
        }
    }
    (pools, pool_of, org)
}
