//! Small lakes built in code with a seeded RNG: a two-team org with ordinary
//! working-hours activity, plus whatever a test adds.

use std::path::{Path, PathBuf};

use chrono::{NaiveDate, TimeZone as _, Utc};
use polars::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone)]
pub struct Ev {
    pub t: i64,
    pub user: Option<String>,
    pub tool: String,
    pub action: String,
    pub source: String,
    pub event_id: String,
    pub namespace: Option<String>,
    pub target: Option<String>,
    pub src_ip: Option<String>,
    pub groups: Option<Vec<String>>,
}

pub fn micros(d: NaiveDate, hour: u32, minute: u32) -> i64 {
    Utc.from_utc_datetime(&d.and_hms_opt(hour, minute, 0).unwrap())
        .timestamp_micros()
}

pub fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// The scoring window every fixture uses: 2026-11-02 .. 2026-11-08.
pub const FROM: &str = "2026-11-02";
pub const TO: &str = "2026-11-08";

pub struct Org {
    pub events: Vec<Ev>,
    next_id: u64,
}

impl Org {
    /// 12 people in two teams, 35 days to 2026-11-08, weekday sessions of
    /// get/list/logs in their own namespaces from their own IP.
    pub fn ordinary(seed: u64) -> Org {
        Org::of(seed, 12, 1..3)
    }

    /// [`Org::ordinary`] with `people` people, half in each team, each
    /// with `sessions` sessions a weekday.
    pub fn of(seed: u64, people: usize, sessions: std::ops::Range<u32>) -> Org {
        let mut org = Org {
            events: Vec::new(),
            next_id: 0,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let first = date("2026-10-05");
        for day in first.iter_days().take(35) {
            use chrono::Datelike;
            if day.weekday().number_from_monday() > 5 {
                continue;
            }
            for u in 0..people {
                let team = if u < people / 2 { "alpha" } else { "beta" };
                let user = format!("user{u:02}@example.com");
                for _session in 0..rng.random_range(sessions.clone()) {
                    let hour = rng.random_range(9..17);
                    for _ in 0..rng.random_range(4..12) {
                        let action = ["get pods", "list pods", "get pods/log", "get deployments"]
                            [rng.random_range(0..4)];
                        let minute = rng.random_range(0..60);
                        org.push(
                            &user,
                            team,
                            micros(day, hour, minute),
                            action,
                            &format!("{team}-app"),
                            &format!("192.0.2.{u}"),
                        );
                    }
                }
            }
        }
        org
    }

    pub fn push(
        &mut self,
        user: &str,
        team: &str,
        t: i64,
        action: &str,
        namespace: &str,
        ip: &str,
    ) {
        self.next_id += 1;
        self.events.push(Ev {
            t,
            user: Some(user.to_owned()),
            tool: "kubectl".into(),
            action: action.into(),
            source: "k8s_audit".into(),
            event_id: format!("e{:08}", self.next_id),
            namespace: Some(namespace.into()),
            target: Some(format!("pods/{namespace}-{}", self.next_id % 7)),
            src_ip: Some(ip.into()),
            groups: Some(vec![format!("team-{team}"), "system:authenticated".into()]),
        });
    }

    /// `user00` runs 50 `create pods/exec` in one hour on 2026-11-05.
    pub fn with_exec_spike(mut self) -> Org {
        let day = date("2026-11-05");
        for i in 0..50 {
            self.push(
                "user00@example.com",
                "alpha",
                micros(day, 14, i % 60),
                "create pods/exec",
                "alpha-app",
                "192.0.2.0",
            );
        }
        self
    }

    /// `user01` on 2026-11-04 at 02:00-03:59 UTC, hours nobody works: 40
    /// reads of secrets and config maps across six other teams' namespaces,
    /// from a new address. Odd on every axis at once.
    pub fn with_odd_night(mut self) -> Org {
        let day = date("2026-11-04");
        for i in 0..40u32 {
            let action = ["get secrets", "list configmaps"][(i % 2) as usize];
            let namespace = format!("team-{}-ns", i % 6);
            self.push(
                "user01@example.com",
                "alpha",
                micros(day, 2 + i / 20, (i * 3) % 60),
                action,
                &namespace,
                "198.51.100.7",
            );
        }
        self
    }

    /// Writes `<dir>/events/dt=.../part-0.parquet`, one file per UTC date.
    pub fn write(&self, dir: &Path) -> PathBuf {
        write_events(dir, &self.events);
        dir.to_path_buf()
    }
}

pub fn frame(events: &[Ev]) -> DataFrame {
    let s =
        |f: &dyn Fn(&Ev) -> Option<String>| events.iter().map(f).collect::<Vec<Option<String>>>();
    let groups: Vec<Series> = events
        .iter()
        .map(|e| Series::new("".into(), e.groups.clone().unwrap_or_default()))
        .collect();
    let times = Int64Chunked::from_vec("event_time".into(), events.iter().map(|e| e.t).collect())
        .into_datetime(TimeUnit::Microseconds, Some(polars::prelude::TimeZone::UTC))
        .into_series();
    DataFrame::new(
        events.len(),
        vec![
            times.into(),
            Column::new("user".into(), s(&|e| e.user.clone())),
            Column::new("tool".into(), s(&|e| Some(e.tool.clone()))),
            Column::new("action".into(), s(&|e| Some(e.action.clone()))),
            Column::new("source".into(), s(&|e| Some(e.source.clone()))),
            Column::new("event_id".into(), s(&|e| Some(e.event_id.clone()))),
            Column::new("namespace".into(), s(&|e| e.namespace.clone())),
            Column::new("target".into(), s(&|e| e.target.clone())),
            Column::new("src_ip".into(), s(&|e| e.src_ip.clone())),
            if groups.is_empty() {
                Series::new_empty("groups".into(), &DataType::List(Box::new(DataType::String)))
                    .into()
            } else {
                Series::new("groups".into(), groups).into()
            },
        ],
    )
    .unwrap()
}

pub fn write_events(dir: &Path, events: &[Ev]) {
    let mut by_day: std::collections::BTreeMap<NaiveDate, Vec<Ev>> = Default::default();
    for e in events {
        let d = chrono::DateTime::from_timestamp_micros(e.t)
            .unwrap()
            .date_naive();
        by_day.entry(d).or_default().push(e.clone());
    }
    for (d, evs) in by_day {
        write_partition(dir, d, "part-0.parquet", &mut frame(&evs));
    }
}

pub fn write_partition(dir: &Path, d: NaiveDate, name: &str, df: &mut DataFrame) -> PathBuf {
    let part = dir.join("events").join(format!("dt={d}"));
    std::fs::create_dir_all(&part).unwrap();
    let path = part.join(name);
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .finish(df)
        .unwrap();
    path
}
