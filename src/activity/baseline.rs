//! Per-identity baselines from the days before the scoring window, each
//! peer group's pooled baseline, and the scoring window's activity indexed
//! for the detectors. Everything here grows linearly with identities:
//! "this identity's peers" is its group's pool minus itself.
//!
//! Rates are per *active* bucket or day (one with any event by that
//! identity), so weekends, leave and part-time schedules do not dilute them:
//! someone back from two weeks off is compared with their working days.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;

use super::peers::Peers;
use super::{Activity, Attr, CountRow, PerAttr, PerBreadth, SeenRow};
use crate::intern::Interner;
use crate::window::{day_floor, hour_exposure, hour_of_week, Bucket, Window, HOURS_PER_WEEK};

/// One identity's behaviour in the baseline period.
#[derive(Debug, Clone)]
pub struct UserBaseline {
    pub active_buckets: u32,
    pub active_days: u32,
    /// Baseline events per action id.
    pub action_counts: HashMap<u32, u64>,
    /// Active buckets per hour of the week (UTC).
    pub hour_profile: [u32; HOURS_PER_WEEK],
    /// Sum over active days of distinct namespaces, pods, targets, accounts.
    pub breadth_sum: PerBreadth<u64>,
    /// Values first touched in the second half of the baseline, per attribute:
    /// how often this identity meets something new in ordinary weeks. Only
    /// for identities active in the first half too: everything is new to a
    /// newcomer, which says nothing about how it works once settled.
    pub late_novel: PerAttr<u32>,
    pub late_active_days: u32,
}

impl Default for UserBaseline {
    fn default() -> Self {
        UserBaseline {
            active_buckets: 0,
            active_days: 0,
            action_counts: HashMap::default(),
            hour_profile: [0; HOURS_PER_WEEK],
            breadth_sum: PerBreadth::default(),
            late_novel: PerAttr::default(),
            late_active_days: 0,
        }
    }
}

impl UserBaseline {
    pub fn events(&self) -> f64 {
        self.action_counts.values().map(|c| *c as f64).sum()
    }

    pub fn action_count(&self, action: u32) -> u64 {
        self.action_counts.get(&action).copied().unwrap_or(0)
    }

    pub fn has_history(&self) -> bool {
        self.active_buckets > 0
    }

    /// New values per active day in the second half of the baseline.
    pub fn novelty_rates(&self) -> Option<PerAttr<f64>> {
        (self.late_active_days > 0).then(|| {
            self.late_novel
                .map(|n| f64::from(*n) / f64::from(self.late_active_days))
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
    pub breadth: PerBreadth<u32>,
    /// Values (any attribute) the identity touched for the first time.
    pub new_values: u32,
}

impl DayActivity {
    pub fn events(&self) -> u64 {
        self.actions.iter().map(|(_, n)| u64::from(*n)).sum()
    }
}

/// Baseline totals over a peer group, so that "this identity's peers" is
/// one subtraction instead of a sum over its teammates.
#[derive(Debug, Clone)]
pub struct Pool {
    pub active_buckets: f64,
    pub active_days: f64,
    pub events: f64,
    pub action_counts: HashMap<u32, f64>,
    pub hour_profile: [f64; HOURS_PER_WEEK],
    pub breadth_sum: PerBreadth<f64>,
    /// Sum over members with a late baseline of their novelty rates, and how many.
    pub novelty_rate_sum: PerAttr<f64>,
    pub novelty_rated: usize,
}

impl Default for Pool {
    fn default() -> Self {
        Pool {
            active_buckets: 0.0,
            active_days: 0.0,
            events: 0.0,
            action_counts: HashMap::default(),
            hour_profile: [0.0; HOURS_PER_WEEK],
            breadth_sum: PerBreadth::default(),
            novelty_rate_sum: PerAttr::default(),
            novelty_rated: 0,
        }
    }
}

impl Pool {
    fn add(&mut self, b: &UserBaseline) {
        self.active_buckets += f64::from(b.active_buckets);
        self.active_days += f64::from(b.active_days);
        for (a, c) in &b.action_counts {
            *self.action_counts.entry(*a).or_default() += *c as f64;
            self.events += *c as f64;
        }
        for (h, c) in self.hour_profile.iter_mut().zip(&b.hour_profile) {
            *h += f64::from(*c);
        }
        for (kind, c) in b.breadth_sum.iter() {
            self.breadth_sum[kind] += *c as f64;
        }
        if let Some(rates) = b.novelty_rates() {
            for (attr, r) in rates.iter() {
                self.novelty_rate_sum[attr] += r;
            }
            self.novelty_rated += 1;
        }
    }
}

/// An identity's peers, seen through their pool minus the identity itself
/// (when it is in the pool).
pub struct PeerView<'a> {
    pool: &'a Pool,
    own: &'a UserBaseline,
    in_pool: bool,
}

impl PeerView<'_> {
    fn minus(&self, total: f64, own: f64) -> f64 {
        if self.in_pool {
            (total - own).max(0.0)
        } else {
            total
        }
    }
    pub fn active_buckets(&self) -> f64 {
        self.minus(self.pool.active_buckets, f64::from(self.own.active_buckets))
    }
    pub fn active_days(&self) -> f64 {
        self.minus(self.pool.active_days, f64::from(self.own.active_days))
    }
    pub fn events(&self) -> f64 {
        self.minus(self.pool.events, self.own.events())
    }
    pub fn action_count(&self, action: u32) -> f64 {
        let total = self.pool.action_counts.get(&action).copied().unwrap_or(0.0);
        self.minus(total, self.own.action_count(action) as f64)
    }
    pub fn hour(&self, h: usize) -> f64 {
        self.minus(
            self.pool.hour_profile[h],
            f64::from(self.own.hour_profile[h]),
        )
    }
    pub fn breadth_sum(&self, kind: super::BreadthKind) -> f64 {
        self.minus(
            self.pool.breadth_sum[kind],
            self.own.breadth_sum[kind] as f64,
        )
    }
    /// Mean novelty rate of the peers that have one.
    pub fn novelty_rate(&self, attr: Attr) -> f64 {
        let own = self.own.novelty_rates().filter(|_| self.in_pool);
        let sum = self.pool.novelty_rate_sum[attr] - own.map_or(0.0, |r| r[attr]);
        let n = self.pool.novelty_rated - usize::from(own.is_some());
        if n == 0 {
            0.0
        } else {
            (sum / n as f64).max(0.0)
        }
    }
}

/// How many identities touched an attribute value (baseline or window).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Reach {
    pub identities: u32,
    pub with_history: u32,
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
    /// The first baseline bucket that holds any event (the window's start
    /// when none does): a lake younger than `--baseline-days`, or retention
    /// shorter, holds less than the baseline's calendar.
    pub held_from: i64,
    pub users: Vec<UserBaseline>,
    pub peers: Peers,
    /// For each attribute value, how many identities touched it at any time
    /// in the loaded range (baseline or window).
    pub reach: HashMap<(Attr, u32), Reach>,
    /// Identity-days of the second half of the baseline, where "first time"
    /// already means what it means in the window, sorted by (user, day).
    pub late_days: Vec<DayActivity>,
    /// One per peer group, in `peers.groups` order.
    pools: Vec<Pool>,
    /// Touchers of each value counted among each (non-org) group's members.
    reach_in_group: HashMap<(Attr, u32, usize), u32>,
}

impl Baselines {
    /// How many times each hour of the week occurs in the part of the
    /// baseline the lake holds (see `window::hour_exposure`).
    pub fn hour_exposure(&self) -> [u32; HOURS_PER_WEEK] {
        hour_exposure(self.held_from, self.window.start)
    }

    pub fn peers_of(&self, user: u32) -> PeerView<'_> {
        PeerView {
            pool: &self.pools[self.peers.group_of[user as usize]],
            own: &self.users[user as usize],
            in_pool: self.peers.in_own_pool(user),
        }
    }

    /// The pool (peer group) the identity's peers are summed in.
    pub fn pool_of(&self, user: u32) -> usize {
        self.peers.group_of[user as usize]
    }

    /// How many of `user`'s peers touched a value `user` touched too.
    /// Compared with the org, every other identity that touched it counts.
    pub fn peer_touches(&self, user: u32, attr: Attr, value: u32) -> usize {
        let group = self.pool_of(user);
        let (touchers, own) = if Some(group) == self.peers.org() {
            (self.reach(attr, value).identities, 1)
        } else {
            let counted = self.reach_in_group.get(&(attr, value, group));
            (
                counted.copied().unwrap_or(0),
                usize::from(self.peers.in_own_pool(user)),
            )
        };
        (touchers as usize).saturating_sub(own)
    }

    pub fn reach(&self, attr: Attr, value: u32) -> Reach {
        self.reach.get(&(attr, value)).copied().unwrap_or_default()
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
    pub breadth: Vec<Vec<(i64, PerBreadth<u32>)>>,
    /// Identity-days of the window, sorted by (user, day).
    pub days: Vec<DayActivity>,
    /// The same per peer pool, so "my peers in this hour" is the pool's
    /// total minus mine.
    pub pools: PoolWindow,
}

/// Window totals per peer pool.
#[derive(Debug, Default)]
pub struct PoolWindow {
    pub events: HashMap<(usize, Unit, u32), u32>,
    pub active: HashMap<(usize, Unit), u32>,
    /// Identities of the pool that did an action on a UTC day (by its start).
    pub doers: HashMap<(usize, i64, u32), u32>,
}

/// A span of the window: one bucket or UTC day (by its start), or all of it.
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

    /// `user`'s active buckets in the window, ascending.
    pub fn active_buckets(&self, user: u32) -> impl Iterator<Item = i64> + '_ {
        let rows = &self.counts[user as usize];
        rows.iter()
            .enumerate()
            .filter(move |(i, r)| *i == 0 || rows[i - 1].bucket != r.bucket)
            .map(|(_, r)| r.bucket)
    }
}

/// Per identity: whether it was active before `late_start` (the baseline's
/// second half), so its new values there are habit, not arrival.
fn settled_by(activity: &Activity, late_start: i64) -> Vec<bool> {
    let mut settled = vec![false; activity.users.len()];
    for r in activity.counts.iter().filter(|r| r.bucket < late_start) {
        settled[r.user as usize] = true;
    }
    settled
}

pub fn build(
    activity: Activity,
    window: &Window,
    bucket: Bucket,
    peers: Peers,
) -> (Baselines, WindowActivity) {
    let n = activity.users.len();
    let midpoint = window.baseline_start + (window.start - window.baseline_start) / 2;
    let late_start = day_floor(midpoint);
    let (late_days, window_days) = identity_days(&activity, window, late_start);
    let mut users = vec![UserBaseline::default(); n];
    let mut current = window_counts(&activity, window, &mut users);
    current.days = window_days;
    let settled = settled_by(&activity, late_start);
    for r in &activity.breadth {
        if r.day >= window.start {
            current.breadth[r.user as usize].push((r.day, r.distinct));
        } else {
            let b = &mut users[r.user as usize];
            b.active_days += 1;
            if r.day >= late_start && settled[r.user as usize] {
                b.late_active_days += 1;
            }
            for (kind, d) in r.distinct.iter() {
                b.breadth_sum[kind] += u64::from(*d);
            }
        }
    }
    for r in &activity.seen {
        if r.n_baseline == 0 && r.n_window > 0 {
            current.novel[r.user as usize].push(*r);
        } else if r.n_baseline > 0 && r.first >= midpoint && settled[r.user as usize] {
            users[r.user as usize].late_novel[r.attr] += 1;
        }
    }
    let (reach, reach_in_group) = reach(&activity.seen, &users, &peers);
    let pools = pools(&users, &peers);
    current.pools = pool_window(&current, &peers);
    let held_from = activity
        .counts
        .iter()
        .map(|r| r.bucket)
        .filter(|b| *b >= window.baseline_start && *b < window.start)
        .min()
        .unwrap_or(window.start);
    (
        Baselines {
            user_names: activity.users,
            values: activity.values,
            window: *window,
            bucket,
            held_from,
            users,
            peers,
            reach,
            late_days,
            pools,
            reach_in_group,
        },
        current,
    )
}

/// Splits the count rows: the baseline's into each identity's rates and
/// hour profile, the window's indexed per user, bucket, day and window.
fn window_counts(
    activity: &Activity,
    window: &Window,
    users: &mut [UserBaseline],
) -> WindowActivity {
    let n = users.len();
    let mut current = WindowActivity {
        counts: vec![Vec::new(); n],
        novel: vec![Vec::new(); n],
        breadth: vec![Vec::new(); n],
        ..Default::default()
    };
    // Count rows are sorted by (user, bucket): a new active bucket is a
    // change of either.
    let mut previous: Option<(u32, i64)> = None;
    for r in &activity.counts {
        if window.in_window(r.bucket) {
            current.counts[r.user as usize].push(*r);
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
    for list in current.counts.iter_mut() {
        list.sort_by_key(|r| (r.bucket, r.action));
    }
    current
}

/// Identities per value, and per (value, peer group).
type ReachTables = (
    HashMap<(Attr, u32), Reach>,
    HashMap<(Attr, u32, usize), u32>,
);

/// How many identities touched each value, overall and per peer group.
fn reach(seen: &[SeenRow], users: &[UserBaseline], peers: &Peers) -> ReachTables {
    let org = peers.org();
    let mut reach: HashMap<(Attr, u32), Reach> = HashMap::default();
    let mut in_group: HashMap<(Attr, u32, usize), u32> = HashMap::default();
    for r in seen {
        let slot = reach.entry((r.attr, r.value)).or_default();
        slot.identities += 1;
        slot.with_history += u32::from(users[r.user as usize].has_history());
        for group in peers.member_pools(r.user).filter(|g| Some(*g) != org) {
            *in_group.entry((r.attr, r.value, group)).or_default() += 1;
        }
    }
    (reach, in_group)
}

/// Identity-days from `late_start` to the end of the window, split into the
/// late baseline and the window.
fn identity_days(
    activity: &Activity,
    window: &Window,
    late_start: i64,
) -> (Vec<DayActivity>, Vec<DayActivity>) {
    let mut days: BTreeMap<(u32, i64), DayActivity> = BTreeMap::new();
    fn entry(
        days: &mut BTreeMap<(u32, i64), DayActivity>,
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
        let d = entry(&mut days, r.user, day_floor(r.bucket));
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
        entry(&mut days, r.user, day_floor(r.first)).new_values += 1;
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
fn pool_window(w: &WindowActivity, peers: &Peers) -> PoolWindow {
    let mut out = PoolWindow::default();
    for (u, rows) in w.counts.iter().enumerate() {
        let did: std::collections::BTreeSet<(i64, u32)> = rows
            .iter()
            .map(|r| (day_floor(r.bucket), r.action))
            .collect();
        for pool in peers.member_pools(u as u32) {
            for &(day, action) in &did {
                *out.doers.entry((pool, day, action)).or_default() += 1;
            }
            for r in rows {
                let day = day_floor(r.bucket);
                for unit in [Unit::Bucket(r.bucket), Unit::Day(day), Unit::Window] {
                    *out.events.entry((pool, unit, r.action)).or_default() += r.n;
                }
            }
            for b in w.active_buckets(u as u32) {
                for unit in [Unit::Bucket(b), Unit::Day(day_floor(b)), Unit::Window] {
                    *out.active.entry((pool, unit)).or_default() += 1;
                }
            }
        }
    }
    out
}

/// One pool per peer group: its members' baselines summed (each identity is
/// subtracted from its own pool on use); a learned group's pool sums its
/// cluster's identities, and the org's everyone.
fn pools(users: &[UserBaseline], peers: &Peers) -> Vec<Pool> {
    let mut pools = vec![Pool::default(); peers.groups.len()];
    for (u, b) in users.iter().enumerate() {
        for pool in peers.member_pools(u as u32) {
            pools[pool].add(b);
        }
    }
    pools
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::peers::{LearnedGroups, PeerGroup, PeerSource};
    use crate::activity::testing::{at, habit, Lake, WINDOW_DAY};

    #[test]
    fn an_identitys_peers_are_its_pool_minus_itself() {
        let lake = habit(
            habit(
                habit(Lake::new(), "ana", "get pods", 1),
                "bo",
                "get pods",
                2,
            ),
            "cy",
            "get pods",
            3,
        );
        let (b, _) = lake.build();
        let id = |u: &str| b.user_names.get(u).unwrap();
        let get_pods = b.values.get("get pods").unwrap();
        // 20 weekdays: bo 40 and cy 60 are ana's peers' 100.
        assert_eq!(b.peers_of(id("ana")).action_count(get_pods), 100.0);
        assert_eq!(b.peers_of(id("cy")).action_count(get_pods), 60.0);
        assert_eq!(b.peers_of(id("ana")).active_buckets(), 40.0);
        assert_eq!(b.users[id("ana") as usize].action_count(get_pods), 20);
    }

    #[test]
    fn a_newcomer_placed_in_a_cluster_sees_the_whole_cluster() {
        let lake = habit(
            habit(Lake::new(), "ana", "get pods", 1),
            "bo",
            "get pods",
            2,
        )
        .count("new", at(WINDOW_DAY, 9), "get pods", 5);
        let (activity, window, bucket) = lake.activity();
        let cluster = PeerGroup {
            name: "cluster 1 of 1, like ana".into(),
            source: PeerSource::Learned,
            members: 2,
        };
        let peers = Peers {
            groups: vec![cluster],
            group_of: vec![0, 0, 0],
            source_of: vec![PeerSource::Learned; 3],
            org: None,
            cluster_group: vec![Some(0), Some(0), None],
            history: vec![true, true, false],
            learned: LearnedGroups::default(),
        };
        let (b, w) = build(activity, &window, bucket, peers);
        let id = |u: &str| b.user_names.get(u).unwrap();
        let get_pods = b.values.get("get pods").unwrap();
        assert_eq!(
            w.active_buckets(id("new")).collect::<Vec<_>>(),
            [at(WINDOW_DAY, 9)]
        );
        assert_eq!(b.peers_of(id("new")).action_count(get_pods), 60.0);
        assert_eq!(b.peers_of(id("ana")).action_count(get_pods), 40.0);
        assert_eq!(b.peers.count(id("new")), 2);
        // The newcomer's window activity is not in the cluster's pool.
        let pool = b.pool_of(id("new"));
        assert_eq!(w.pools.events.get(&(pool, Unit::Window, get_pods)), None);
    }

    #[test]
    fn a_newcomer_of_the_late_baseline_learns_its_novelty_rate_from_peers() {
        // ana works all baseline; new arrives on day 20 (after the midpoint,
        // day 14) and meets a new namespace each of its days.
        let mut lake = habit(Lake::new(), "ana", "get pods", 1);
        for day in [3, 16, 18] {
            lake = lake
                .seen(
                    "ana",
                    Attr::Namespace,
                    &format!("a{day}"),
                    at(day, 10),
                    (1, 0),
                )
                .breadth("ana", at(day, 0), Default::default());
        }
        for day in 20..24 {
            lake = lake
                .count("new", at(day, 10), "get pods", 1)
                .seen(
                    "new",
                    Attr::Namespace,
                    &format!("n{day}"),
                    at(day, 10),
                    (1, 0),
                )
                .breadth("new", at(day, 0), Default::default());
        }
        let (b, _) = lake.build();
        let id = |u: &str| b.user_names.get(u).unwrap();
        assert_eq!(b.users[id("new") as usize].novelty_rates(), None);
        let ana = b.users[id("ana") as usize].novelty_rates().unwrap();
        assert!(ana[Attr::Namespace] > 0.0);
    }

    #[test]
    fn peer_touches_leave_the_identity_out() {
        let t = at(3, 10);
        let lake = ["ana", "bo", "cy"].iter().fold(Lake::new(), |lake, u| {
            habit(lake, u, "get pods", 1).seen(u, Attr::Namespace, "shared", t, (1, 0))
        });
        let (b, _) = lake.build();
        let shared = b.values.get("shared").unwrap();
        let ana = b.user_names.get("ana").unwrap();
        assert_eq!(b.peer_touches(ana, Attr::Namespace, shared), 2);
        assert_eq!(b.reach(Attr::Namespace, shared).identities, 3);
    }
}
