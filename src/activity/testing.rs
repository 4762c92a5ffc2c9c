//! Hand-built activity for unit tests of the detectors and stages: a
//! 28-day baseline from 2026-10-05 and a 7-day window from 2026-11-02, the
//! rows added one by one.

use chrono::NaiveDate;

use super::baseline::{self, Baselines, WindowActivity};
use super::peers::{LearnedGroups, PeerGroup, PeerSource, Peers};
use super::{Activity, Attr, BreadthRow, CountRow, PerBreadth, SeenRow};
use crate::window::{day_start, Bound, Bucket, Window, MICROS_PER_HOUR};

pub struct Lake {
    pub activity: Activity,
    pub window: Window,
    pub bucket: Bucket,
}

/// The start of `hour` (UTC) on `day` days after 2026-10-05 (a Monday);
/// the window starts on day 28.
pub fn at(day: i64, hour: i64) -> i64 {
    day_start(NaiveDate::from_ymd_opt(2026, 10, 5).unwrap()) + (day * 24 + hour) * MICROS_PER_HOUR
}

/// The first day of the scoring window.
pub const WINDOW_DAY: i64 = 28;

impl Lake {
    pub fn new() -> Lake {
        let d = |s: &str| Bound::Date(s.parse().unwrap());
        Lake {
            activity: Activity::default(),
            window: Window::new(d("2026-11-02"), d("2026-11-08"), 28).unwrap(),
            bucket: "1h".parse().unwrap(),
        }
    }

    /// The same lake scored with a baseline of `days` days.
    pub fn baseline_days(mut self, days: u32) -> Lake {
        let d = |s: &str| Bound::Date(s.parse().unwrap());
        self.window = Window::new(d("2026-11-02"), d("2026-11-08"), days).unwrap();
        self
    }

    /// `n` events of `action` by `user` in the hour starting at `t`.
    pub fn count(self, user: &str, t: i64, action: &str, n: u32) -> Lake {
        self.count_with("kubectl", user, t, action, n)
    }

    /// `n` runs of the command `command` typed by `user` (tool `shell`) in
    /// the hour starting at `t`.
    pub fn shell(self, user: &str, t: i64, command: &str, n: u32) -> Lake {
        self.count_with("shell", user, t, command, n)
    }

    /// `n` events of `action` with `tool` by `user` in the hour starting at `t`.
    pub fn count_with(mut self, tool: &str, user: &str, t: i64, action: &str, n: u32) -> Lake {
        let user = self.activity.users.id(user);
        let tool = self.activity.values.id(tool);
        let action = self.activity.values.id(action);
        self.activity.counts.push(CountRow {
            user,
            bucket: t,
            tool,
            action,
            n,
        });
        self
    }

    /// `user` first touched `value` at `first`, `n_baseline` times before
    /// the window and `n_window` times in it.
    pub fn seen(
        mut self,
        user: &str,
        attr: Attr,
        value: &str,
        first: i64,
        (n_baseline, n_window): (u32, u32),
    ) -> Lake {
        let user = self.activity.users.id(user);
        let value = self.activity.values.id(value);
        self.activity.seen.push(SeenRow {
            user,
            attr,
            value,
            first,
            n_baseline,
            n_window,
        });
        self
    }

    /// `user`'s distinct counts on the day starting at `day`.
    pub fn breadth(mut self, user: &str, day: i64, distinct: PerBreadth<u32>) -> Lake {
        let user = self.activity.users.id(user);
        self.activity.breadth.push(BreadthRow {
            user,
            day,
            distinct,
        });
        self
    }

    /// The activity as the load stage would leave it: sorted by user and time.
    pub fn activity(mut self) -> (Activity, Window, Bucket) {
        let a = &mut self.activity;
        a.counts
            .sort_by_key(|r| (r.user, r.bucket, r.tool, r.action));
        a.seen.sort_by_key(|r| (r.user, r.attr, r.value));
        a.breadth.sort_by_key(|r| (r.user, r.day));
        (self.activity, self.window, self.bucket)
    }

    /// Baselines with everyone compared with its declared team:
    /// `team(user)` names it (from `--context`).
    pub fn build_in_teams(self, team: impl Fn(&str) -> String) -> (Baselines, WindowActivity) {
        let (activity, window, bucket) = self.activity();
        let n = activity.users.len();
        let mut history = vec![false; n];
        for r in activity.counts.iter().filter(|r| r.bucket < window.start) {
            history[r.user as usize] = true;
        }
        let mut groups: Vec<PeerGroup> = Vec::new();
        let mut group_of = Vec::with_capacity(n);
        for user in 0..n as u32 {
            let name = team(activity.users.name(user));
            let g = match groups.iter().position(|g| g.name == name) {
                Some(g) => g,
                None => {
                    groups.push(PeerGroup {
                        name,
                        source: PeerSource::Context,
                        members: 0,
                    });
                    groups.len() - 1
                }
            };
            groups[g].members += 1;
            group_of.push(g);
        }
        let peers = Peers {
            groups,
            group_of,
            source_of: vec![PeerSource::Context; n],
            org: None,
            cluster_group: vec![None; n],
            history,
            learned: LearnedGroups::default(),
        };
        baseline::build(activity, &window, bucket, peers)
    }

    /// Baselines with everyone compared with the whole org.
    pub fn build(self) -> (Baselines, WindowActivity) {
        let (activity, window, bucket) = self.activity();
        let mut history = vec![false; activity.users.len()];
        for r in activity.counts.iter().filter(|r| r.bucket < window.start) {
            history[r.user as usize] = true;
        }
        baseline::build(activity, &window, bucket, Peers::org_only(history))
    }
}

impl Default for Lake {
    fn default() -> Self {
        Lake::new()
    }
}

/// Every weekday of the baseline, `user` runs `n` of `action` at 10:00.
pub fn habit(lake: Lake, user: &str, action: &str, n: u32) -> Lake {
    (0..WINDOW_DAY)
        .filter(|d| d % 7 < 5)
        .fold(lake, |lake, d| lake.count(user, at(d, 10), action, n))
}
