//! Stage 3: per-identity baselines from the days before the scoring window,
//! and the scoring window's activity indexed for the detectors.
//!
//! Rates are per *active* bucket or day (one with any event by that
//! identity), so weekends, leave and part-time schedules do not dilute them:
//! someone back from two weeks off is compared with their working days.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::context::Peers;
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
    pub fn has_history(&self) -> bool {
        self.active_buckets > 0
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
    };
    let midpoint = window.baseline_start + (window.start - window.baseline_start) / 2;

    let mut buckets: BTreeSet<(u32, i64)> = BTreeSet::new();
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
            buckets.insert((r.user, r.bucket));
        }
    }
    for (user, t) in &buckets {
        let b = &mut users[*user as usize];
        b.active_buckets += 1;
        b.hour_profile[hour_of_week(*t)] += 1;
    }
    for r in &activity.breadth {
        if r.day >= window.start {
            current.breadth[r.user as usize].push((r.day, r.distinct));
        } else {
            let b = &mut users[r.user as usize];
            b.active_days += 1;
            if r.day >= midpoint - midpoint.rem_euclid(MICROS_PER_DAY) {
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
    (
        Baselines {
            user_names: activity.users,
            values: activity.values,
            window: *window,
            bucket,
            users,
            peers,
            touched_by,
        },
        current,
    )
}
