//! The folded days merged into one [`Activity`]: each day's local string
//! ids re-labelled with global ones, then every id renumbered in name order
//! and every table sorted, so the result depends on the events alone, not
//! on the order days finished or files were listed.

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use super::day::DayAggregate;
use crate::activity::{Activity, BreadthRow, CountRow, Quality, SeenRow};
use crate::intern::Interner;

/// All days folded together.
#[derive(Default)]
pub struct Merged {
    users: Interner,
    values: Interner,
    counts: Vec<CountRow>,
    /// One row per day a value was touched; merged in `finish`.
    seen: Vec<SeenRow>,
    breadth: Vec<BreadthRow>,
    groups: FxHashMap<u32, (i64, Vec<String>)>,
    quality: Quality,
}

impl Merged {
    /// Re-labels a day's local ids with global ones and keeps its rows.
    pub fn add(&mut self, day: DayAggregate) {
        // Local ids map to user or value ids on first use.
        let mut as_user: Vec<Option<u32>> = vec![None; day.names.len()];
        let mut as_value: Vec<Option<u32>> = vec![None; day.names.len()];
        let (users, values) = (&mut self.users, &mut self.values);
        let mut user = |id: u32| {
            *as_user[id as usize].get_or_insert_with(|| users.id(&day.names[id as usize]))
        };
        let mut value = |id: u32| {
            *as_value[id as usize].get_or_insert_with(|| values.id(&day.names[id as usize]))
        };
        for ((u, bucket, tool, action), n) in day.counts {
            self.counts.push(CountRow {
                user: user(u),
                bucket,
                tool: value(tool),
                action: value(action),
                n,
            });
        }
        for ((u, attr, v), acc) in day.seen {
            self.seen.push(SeenRow {
                user: user(u),
                attr,
                value: value(v),
                first: acc.first,
                n_baseline: acc.n_baseline,
                n_window: acc.n_window,
            });
        }
        for (u, distinct) in day.breadth {
            self.breadth.push(BreadthRow {
                user: user(u),
                day: day.day0,
                distinct,
            });
        }
        for (u, t, groups) in day.groups {
            // The latest wins; a tie (never across days) goes to the
            // smaller list, so arrival order never decides.
            let slot = self.groups.entry(user(u)).or_insert((t, groups.clone()));
            if t > slot.0 || (t == slot.0 && groups < slot.1) {
                *slot = (t, groups);
            }
        }
        self.quality.add(&day.quality);
    }

    pub fn finish(self) -> Activity {
        let mut activity = Activity {
            users: self.users,
            values: self.values,
            counts: self.counts,
            seen: self.seen,
            breadth: self.breadth,
            asserted_groups: self.groups.into_iter().map(|(u, (_, g))| (u, g)).collect(),
            quality: self.quality,
        };
        // Hash maps and parallel days return rows in no fixed order: renumber
        // ids by name and sort, so every later stage is deterministic.
        renumber(&mut activity);
        activity
            .counts
            .par_sort_unstable_by_key(|r| (r.user, r.bucket, r.tool, r.action));
        activity
            .seen
            .par_sort_unstable_by_key(|r| (r.user, r.attr, r.value, r.first));
        activity.seen.dedup_by(|later, kept| {
            let same = (later.user, later.attr, later.value) == (kept.user, kept.attr, kept.value);
            if same {
                kept.n_baseline += later.n_baseline;
                kept.n_window += later.n_window;
            }
            same
        });
        activity
            .breadth
            .par_sort_unstable_by_key(|r| (r.user, r.day));
        activity
    }
}

/// Ids in name order (see `Interner::sorted`), everywhere they appear.
fn renumber(a: &mut Activity) {
    let (users, user_map) = a.users.sorted();
    let (values, value_map) = a.values.sorted();
    let u = |id: &mut u32| *id = user_map[*id as usize];
    let v = |id: &mut u32| *id = value_map[*id as usize];
    for r in &mut a.counts {
        u(&mut r.user);
        v(&mut r.tool);
        v(&mut r.action);
    }
    for r in &mut a.seen {
        u(&mut r.user);
        v(&mut r.value);
    }
    for r in &mut a.breadth {
        u(&mut r.user);
    }
    for (user, _) in &mut a.asserted_groups {
        u(user);
    }
    a.asserted_groups.sort();
    a.users = users;
    a.values = values;
}
