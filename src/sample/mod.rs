//! `lakehound sample`: a synthetic org's lake with labelled scenarios.
//!
//! Teams with their own namespaces, buckets and habits; people in several
//! time zones with working hours, sessions, rare weekend work and
//! heavy-tailed activity; on-call rotations and release days; CI identities,
//! control-plane noise and an SDK bot. The last `scoring_days` days hold
//! labelled living-off-the-land attacks and benign look-alikes
//! (`scenarios.rs`). Output follows the lake contract, one partition per UTC
//! day, generated and written one day at a time so memory stays flat.

mod library;
mod org;
pub mod raw;
mod scenarios;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use polars::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::schema::Event;

use org::{Org, TEAMS};

pub const MICROS_PER_HOUR: i64 = 3_600_000_000;
pub const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("invalid sample option {option}: {reason}")]
    InvalidOptions {
        option: &'static str,
        reason: String,
    },
    #[error("cannot write {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write partition {path}")]
    Parquet { path: PathBuf, source: PolarsError },
    #[error("cannot write partition {path}")]
    Lake {
        path: PathBuf,
        source: crate::error::Error,
    },
    #[error(
        "cannot read the sample manifest {path}; regenerate it with `lakehound sample --out {dir}`"
    )]
    Manifest {
        path: PathBuf,
        dir: PathBuf,
        reason: String,
    },
}

/// Which attacks a sample lake holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum AttackLibrary {
    /// The scenarios in `scenarios.rs`, written beside the detectors.
    #[default]
    Standard,
    /// Ten attacks drawn per seed by `library.rs`: random techniques,
    /// clouds, actors, volumes, times and durations.
    Randomised,
}

impl AttackLibrary {
    fn is_standard(&self) -> bool {
        *self == AttackLibrary::Standard
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SampleOptions {
    /// Human identities; service and control-plane identities come on top.
    pub users: usize,
    /// Days of history ending at `end`, inclusive.
    pub days: u32,
    /// Approximate total events (scenarios are absolute, not scaled).
    pub events: u64,
    pub seed: u64,
    pub end: NaiveDate,
    /// The last days, holding the labelled scenarios.
    pub scoring_days: u32,
    #[serde(skip_serializing_if = "AttackLibrary::is_standard")]
    pub attacks: AttackLibrary,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            users: 150,
            days: 35,
            events: 250_000,
            seed: 7,
            end: NaiveDate::from_ymd_opt(2026, 11, 8).expect("valid date"),
            scoring_days: 7,
            attacks: AttackLibrary::Standard,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SampleSummary {
    pub events: u64,
    pub partitions: usize,
    pub identities: usize,
    pub labels: usize,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub scoring_from: NaiveDate,
    pub scoring_to: NaiveDate,
}

/// One event before ids are assigned.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    t: i64,
    user: String,
    tool: &'static str,
    action: String,
    source: &'static str,
    target: Option<String>,
    src_ip: Option<String>,
    user_agent: Option<String>,
    cluster_id: Option<&'static str>,
    account_id: Option<String>,
    namespace: Option<String>,
    pod: Option<String>,
    node: Option<String>,
    image_digest: Option<String>,
    groups: Option<Vec<String>>,
    /// Index of the scenario label this event belongs to.
    label: Option<u16>,
}

/// Collects one day's events.
#[derive(Default)]
pub(crate) struct Emit {
    rows: Vec<Row>,
}

impl Emit {
    fn base(t: i64, user: &str, tool: &'static str, action: &str, source: &'static str) -> Row {
        Row {
            t,
            user: user.to_owned(),
            tool,
            action: action.to_owned(),
            source,
            target: None,
            src_ip: None,
            user_agent: None,
            cluster_id: None,
            account_id: None,
            namespace: None,
            pod: None,
            node: None,
            image_digest: None,
            groups: None,
            label: None,
        }
    }

    /// A Kubernetes audit event; returns the pod it touched, if any.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn k8s(
        &mut self,
        t: i64,
        user: &str,
        tool: &'static str,
        action: &str,
        namespace: &str,
        k: u64,
        day_index: i64,
        ip: &str,
        ua: &str,
        groups: Option<&[String]>,
    ) -> Option<String> {
        let mut row = Self::base(t, user, tool, action, "k8s_audit");
        let (verb, resource) = action.split_once(' ').unwrap_or((action, ""));
        let kind = resource.split('/').next().unwrap_or("");
        let pod =
            (kind == "pods" && verb != "list").then(|| org::pod_name(namespace, day_index, k));
        row.target = match kind {
            _ if verb == "list" || verb == "watch" => None,
            "pods" => pod.as_ref().map(|p| format!("pods/{p}")),
            "secrets" => Some(format!(
                "secrets/{}",
                ["db-credentials", "api-token", "tls-cert", "registry-pull"][(k % 4) as usize]
            )),
            "nodes" => Some(format!("nodes/node-{}", k % 12)),
            "" => None,
            other => Some(format!(
                "{other}/{namespace}-{}",
                ["app", "worker"][(k % 2) as usize]
            )),
        };
        row.src_ip = Some(ip.to_owned());
        row.user_agent = Some(ua.to_owned());
        row.cluster_id = Some("prod-eu-1");
        row.namespace = (kind != "namespaces" && kind != "nodes" && kind != "clusterroles")
            .then(|| namespace.to_owned());
        row.pod = pod.clone();
        row.node = pod.as_ref().map(|_| format!("node-{}", k % 12));
        row.groups = groups.map(|g| g.to_vec());
        self.rows.push(row);
        pod
    }

    /// A person's own kubectl call, from their usual address and client.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn kubectl(
        &mut self,
        person: &org::Person,
        groups: &[String],
        t: i64,
        action: &str,
        namespace: &str,
        k: u64,
        day_index: i64,
    ) -> Option<String> {
        let (ip, agent) = (&person.ips[0], &person.kubectl_ua);
        self.k8s(
            t,
            &person.email,
            "kubectl",
            action,
            namespace,
            k,
            day_index,
            ip,
            agent,
            Some(groups),
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn aws(
        &mut self,
        t: i64,
        user: &str,
        tool: &'static str,
        action: &str,
        target: &str,
        ip: &str,
        ua: &str,
    ) {
        let mut row = Self::base(t, user, tool, action, "cloudtrail");
        row.target = Some(target.to_owned());
        row.src_ip = Some(ip.to_owned());
        row.user_agent = Some(ua.to_owned());
        row.account_id = Some(org::ACCOUNT.to_owned());
        self.rows.push(row);
    }

    /// A person's own aws-cli call on an S3 bucket, from `ip`.
    pub(crate) fn person_s3(
        &mut self,
        person: &org::Person,
        t: i64,
        action: &str,
        bucket: &str,
        ip: &str,
    ) {
        let target = format!("arn:aws:s3:::{bucket}");
        self.aws(t, &person.email, "aws", action, &target, ip, &person.aws_ua);
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn gcp(
        &mut self,
        t: i64,
        user: &str,
        action: &str,
        target: &str,
        project: &str,
        ip: &str,
        ua: &str,
    ) {
        let mut row = Self::base(t, user, "gcloud", action, "gcp_audit");
        row.target = Some(target.to_owned());
        row.src_ip = Some(ip.to_owned());
        // As real gcloud does: a fresh invocation id on every command (from
        // the call itself, so no random draw moves).
        let key = |salt: u64| {
            let bytes = user.bytes().chain(t.to_le_bytes()).chain(action.bytes());
            crate::hash::fnv1a(crate::hash::FNV_BASIS ^ salt, bytes)
        };
        row.user_agent = Some(format!("{ua} invocation-id/{:016x}{:016x}", key(0), key(1)));
        row.account_id = Some(project.to_owned());
        self.rows.push(row);
    }

    /// Marks every event emitted since `mark` as part of scenario `label`.
    pub(crate) fn tag_since(&mut self, mark: usize, label: u16) {
        for r in &mut self.rows[mark..] {
            r.label = Some(label);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Process events Falco saw inside pod `k` during an exec session into
    /// it, attributed to the person who opened it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn falco_after_exec(
        &mut self,
        rng: &mut ChaCha8Rng,
        t: i64,
        user: &str,
        namespace: &str,
        k: u64,
        day_index: i64,
        commands: &[&str],
    ) {
        let pod = org::pod_name(namespace, day_index, k);
        let mut at = t;
        for _ in 0..rng.random_range(2..5) {
            at += rng.random_range(2_000_000..40_000_000);
            let mut row = Self::base(
                at,
                user,
                "shell",
                commands[rng.random_range(0..commands.len())],
                "falco",
            );
            row.cluster_id = Some("prod-eu-1");
            row.namespace = Some(namespace.to_owned());
            row.pod = Some(pod.clone());
            row.node = Some("node-0".to_owned());
            row.image_digest = Some(format!(
                "sha256:{:016x}",
                (namespace.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ));
            self.rows.push(row);
        }
    }
}

/// Per-source counters so event ids are unique within a source across the lake.
#[derive(Default)]
struct Ids(BTreeMap<&'static str, u64>);

impl Ids {
    fn next(&mut self, source: &'static str) -> String {
        let n = self.0.entry(source).or_default();
        *n += 1;
        let prefix = match source {
            "k8s_audit" => "k",
            "cloudtrail" => "c",
            "gcp_audit" => "g",
            _ => "f",
        };
        format!("{prefix}{n:07x}")
    }
}

/// What `generate` writes the events as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// The canonical lake: `events/dt=YYYY-MM-DD/*.parquet`.
    Lake,
    /// Raw platform logs under `raw/`, for `lakehound ingest`.
    Raw,
}

pub fn generate(opts: &SampleOptions, out: &Path) -> Result<SampleSummary, SampleError> {
    generate_as(opts, out, Output::Lake)
}

/// How much the people of the org do: events per workday for all of them,
/// shared by activity level.
#[derive(Clone, Copy)]
struct Volume {
    human_per_workday: f64,
    level_sum: f64,
}

/// Every person present on one day: sessions of commands in their working
/// hours (weekends rarely), as many as their activity level gives.
fn people_day(
    emit: &mut Emit,
    rng: &mut ChaCha8Rng,
    org: &Org,
    plan: &scenarios::Plan,
    volume: Volume,
    day0: i64,
    day_index: i64,
) {
    let date = chrono::DateTime::from_timestamp_micros(day0)
        .expect("a sample day")
        .date_naive();
    let weekday = date.weekday().num_days_from_monday();
    let Volume {
        human_per_workday,
        level_sum,
    } = volume;
    for (i, person) in org.people.iter().enumerate() {
        if !plan.present(i, day_index) {
            continue;
        }
        let works = weekday < 5 || rng.random::<f64>() < 0.04;
        if !works {
            continue;
        }
        let expected_events = human_per_workday * person.level / level_sum;
        let sessions = expected_events / 15.0 * (0.5 + rng.random::<f64>());
        let sessions =
            sessions.floor() as usize + usize::from(rng.random::<f64>() < sessions.fract());
        let groups = plan.groups(org, i, day_index);
        let namespaces = plan.namespaces(org, i, day_index);
        let team = &TEAMS[person.team];
        for _ in 0..sessions {
            let local = person.start_hour + rng.random::<f64>() * person.day_hours;
            let start = day0 + ((local - person.tz as f64) * MICROS_PER_HOUR as f64) as i64;
            let tool = org::pick_tool(rng, team.tools);
            let commands = rng.random_range(5..26);
            org::session(
                emit,
                rng,
                person,
                &groups,
                start,
                commands,
                tool,
                &namespaces,
                day_index,
            );
        }
    }
}

pub fn generate_as(
    opts: &SampleOptions,
    out: &Path,
    output: Output,
) -> Result<SampleSummary, SampleError> {
    validate(opts)?;
    let org = Org::new(opts.users, opts.seed);
    let first_day = opts.end - chrono::Days::new(u64::from(opts.days) - 1);
    let scoring_from = opts.end - chrono::Days::new(u64::from(opts.scoring_days) - 1);
    let mut plan = scenarios::Plan::new(&org, opts);
    let randomised = match opts.attacks {
        AttackLibrary::Standard => Vec::new(),
        AttackLibrary::Randomised => {
            let scoring_start = plan.scoring_start();
            library::draw(&org, &mut plan, opts.seed, scoring_start)
        }
    };
    let whole_window_people = plan.whole_window_people(&org);
    let mut labels = scenarios::Labels::default();
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut ids = Ids::default();
    let mut total = 0u64;
    let mut partitions = 0usize;

    // Volume: humans 68%, control plane 25%, CI and bots 7% of `events`.
    let per_day = opts.events as f64 / f64::from(opts.days);
    let level_sum: f64 = org.people.iter().map(|p| p.level).sum();
    let human_per_workday = 0.68 * per_day * 7.0 / 5.2;

    for day_index in 0..i64::from(opts.days) {
        let date = first_day + chrono::Days::new(day_index as u64);
        let day0 = date
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_micros();
        let mut emit = Emit::default();
        let volume = Volume {
            human_per_workday,
            level_sum,
        };
        people_day(&mut emit, &mut rng, &org, &plan, volume, day0, day_index);
        scenarios::routine(
            &mut emit, &mut rng, &org, &mut plan, opts, day0, day_index, per_day,
        );
        scenarios::emit_day(&mut emit, &mut rng, &org, &mut plan, day0, day_index);
        library::emit_day(&mut emit, &org, &randomised, day0, day_index);

        // Only events of this UTC date belong in this partition; a session
        // that runs past midnight is cut there.
        emit.rows
            .retain(|r| r.t >= day0 && r.t < day0 + MICROS_PER_DAY);
        emit.rows.sort_by(|a, b| {
            a.t.cmp(&b.t)
                .then(a.user.cmp(&b.user))
                .then(a.action.cmp(&b.action))
        });
        total += emit.rows.len() as u64;
        if day_index >= plan.scoring_start() {
            plan.tag_adoption(&mut emit.rows);
            labels.observe_people(&emit.rows, &whole_window_people, day0);
        }
        labels.observe(&emit.rows);
        match output {
            Output::Lake => write_partition(out, date, &emit.rows, &mut ids)?,
            Output::Raw => raw::write_day(out, date, &emit.rows, &mut ids)?,
        }
        partitions += 1;
    }

    finish(
        out,
        opts,
        &org,
        &plan,
        labels,
        total,
        partitions,
        first_day,
        scoring_from,
    )
}

/// Labels, the identity table and the manifest, after the partitions.
#[allow(clippy::too_many_arguments)]
fn finish(
    out: &Path,
    opts: &SampleOptions,
    org: &Org,
    plan: &scenarios::Plan,
    mut labels: scenarios::Labels,
    total: u64,
    partitions: usize,
    first_day: NaiveDate,
    scoring_from: NaiveDate,
) -> Result<SampleSummary, SampleError> {
    let label_rows = labels.finish(plan);
    write_text(&out.join("labels.csv"), &scenarios::labels_csv(&label_rows))?;
    write_text(
        &out.join("identities.csv"),
        &plan.identities_csv(org, first_day),
    )?;
    let summary = SampleSummary {
        events: total,
        partitions,
        identities: org.people.len() + scenarios::SERVICE_IDENTITIES.len() + 1,
        labels: label_rows.len(),
        first_day,
        last_day: opts.end,
        scoring_from,
        scoring_to: opts.end,
    };
    let manifest = serde_json::json!({
        "options": opts,
        "summary": summary,
        "scenario_events": labels.events_per_scenario(),
    });
    write_text(
        &out.join("sample.json"),
        &serde_json::to_string_pretty(&manifest).expect("plain data"),
    )?;
    Ok(summary)
}

fn validate(opts: &SampleOptions) -> Result<(), SampleError> {
    let bad = |option, reason: &str| {
        Err(SampleError::InvalidOptions {
            option,
            reason: reason.to_owned(),
        })
    };
    if opts.users < 20 {
        return bad(
            "--users",
            "must be at least 20 (the scenarios need people in every team)",
        );
    }
    if opts.days < 14 {
        return bad(
            "--days",
            "must be at least 14 (a baseline before the scoring window)",
        );
    }
    if opts.scoring_days < 7 || opts.scoring_days + 14 > opts.days {
        return bad(
            "scoring_days",
            "must be at least 7 and leave 14 days of history before it",
        );
    }
    if opts.events < 10_000 {
        return bad("--events", "must be at least 10000");
    }
    Ok(())
}

/// The scoring window of a generated lake, from its `sample.json`.
pub fn scoring_window(lake: &Path) -> Result<(NaiveDate, NaiveDate), SampleError> {
    let path = lake.join("sample.json");
    let err = |reason: String| SampleError::Manifest {
        path: path.clone(),
        dir: lake.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    let date = |key: &str| {
        v["summary"][key]
            .as_str()
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            .ok_or_else(|| err(format!("summary.{key} is missing")))
    };
    Ok((date("scoring_from")?, date("scoring_to")?))
}

fn write_text(path: &Path, text: &str) -> Result<(), SampleError> {
    write_bytes(path, text.as_bytes())
}

/// Writes through a temporary sibling and a rename, creating the folder.
fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), SampleError> {
    let io = |source| SampleError::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).map_err(io)?;
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

fn write_partition(
    out: &Path,
    date: NaiveDate,
    rows: &[Row],
    ids: &mut Ids,
) -> Result<(), SampleError> {
    let path = crate::lake::partition_dir(out, date).join("part-00000.parquet");
    let df = frame(rows, ids).map_err(|source| SampleError::Parquet {
        path: path.clone(),
        source,
    })?;
    crate::lake::write_parquet(&path, &df).map_err(|source| SampleError::Lake { path, source })
}

fn frame(rows: &[Row], ids: &mut Ids) -> PolarsResult<DataFrame> {
    fn text(s: &Option<String>) -> Option<std::borrow::Cow<'_, str>> {
        s.as_deref().map(Into::into)
    }
    let events: Vec<Event> = rows
        .iter()
        .map(|r| Event {
            event_time: r.t,
            user: r.user.as_str().into(),
            tool: r.tool.into(),
            action: r.action.as_str().into(),
            source: r.source.into(),
            event_id: ids.next(r.source).into(),
            target: text(&r.target),
            src_ip: text(&r.src_ip),
            user_agent: text(&r.user_agent),
            cluster_id: r.cluster_id.map(Into::into),
            account_id: text(&r.account_id),
            namespace: text(&r.namespace),
            pod: text(&r.pod),
            node: text(&r.node),
            image_digest: text(&r.image_digest),
            groups: r
                .groups
                .as_ref()
                .map(|g| g.iter().map(|s| s.as_str().into()).collect()),
            acting_as: None,
            process_session: None,
        })
        .collect();
    crate::schema::frame(&events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema;
    use std::collections::BTreeSet;

    fn small(seed: u64) -> SampleOptions {
        SampleOptions {
            users: 30,
            days: 21,
            events: 60_000,
            seed,
            ..Default::default()
        }
    }

    fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push((
                        p.strip_prefix(dir).unwrap().to_path_buf(),
                        std::fs::read(&p).unwrap(),
                    ));
                }
            }
        }
        out.sort();
        out
    }

    fn read(path: &Path) -> DataFrame {
        ParquetReader::new(File::open(path).unwrap())
            .finish()
            .unwrap()
    }

    #[test]
    fn the_same_seed_gives_byte_identical_lakes_and_another_seed_does_not() {
        let (a, b, c) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        generate(&small(1), a.path()).unwrap();
        generate(&small(1), b.path()).unwrap();
        generate(&small(2), c.path()).unwrap();
        assert_eq!(files(a.path()), files(b.path()));
        assert_ne!(files(a.path()), files(c.path()));
    }

    #[test]
    fn partitions_follow_the_lake_contract() {
        let dir = tempfile::tempdir().unwrap();
        let summary = generate(&small(3), dir.path()).unwrap();
        assert_eq!(summary.partitions, 21);
        let mut ids = std::collections::HashSet::new();
        let mut total = 0;
        for day in summary.first_day.iter_days().take(21) {
            let df = read(
                &dir.path()
                    .join(format!("events/dt={day}/part-00000.parquet")),
            );
            for (name, dtype) in df.schema().iter() {
                assert_eq!(
                    Some(dtype.clone()),
                    schema::expected_type(name),
                    "column {name}"
                );
            }
            for c in ["event_time", "user", "tool", "action", "source", "event_id"] {
                assert_eq!(df.column(c).unwrap().null_count(), 0, "{c} has nulls");
            }
            let t = df
                .column("event_time")
                .unwrap()
                .cast(&DataType::Int64)
                .unwrap();
            let day0 = day
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_micros();
            for v in t.i64().unwrap().iter().flatten() {
                assert!(
                    v >= day0 && v < day0 + MICROS_PER_DAY,
                    "event outside dt={day}"
                );
            }
            let src = df.column("source").unwrap().str().unwrap().clone();
            let id = df.column("event_id").unwrap().str().unwrap().clone();
            for (s, i) in src.iter().zip(id.iter()) {
                assert!(
                    ids.insert((s.unwrap().to_owned(), i.unwrap().to_owned())),
                    "duplicate event id"
                );
            }
            total += df.height();
        }
        assert_eq!(total as u64, summary.events);
        let ratio = summary.events as f64 / 60_000.0;
        assert!(
            (0.85..=1.15).contains(&ratio),
            "{} events for 60000 asked",
            summary.events
        );
    }

    #[test]
    fn every_scenario_is_labelled_inside_the_scoring_window() {
        // Several seeds: scenario people land in different time zones, and a
        // 03:00-local scenario must not fall off its UTC partition.
        for seed in 4..8 {
            every_scenario_is_labelled(seed);
        }
    }

    #[test]
    fn the_randomised_library_plants_ten_labelled_attacks_and_no_standard_one() {
        for seed in [1, 2, 3] {
            let dir = tempfile::tempdir().unwrap();
            let opts = SampleOptions {
                attacks: AttackLibrary::Randomised,
                ..small(seed)
            };
            generate(&opts, dir.path()).unwrap();
            let labels = crate::eval::read_labels(&dir.path().join("labels.csv").into()).unwrap();
            let attacks: Vec<_> = labels.iter().filter(|l| l.kind == "attack").collect();
            let distinct: std::collections::BTreeSet<_> =
                attacks.iter().map(|l| (&l.scenario, &l.user)).collect();
            assert_eq!(distinct.len(), 10, "seed {seed}: {attacks:?}");
            // An attack on several days is a row per day, each within it
            // (seeds 1-3 each draw one).
            assert!(attacks.len() > distinct.len(), "seed {seed}: {attacks:?}");
            for l in &attacks {
                let day = l.start.div_euclid(MICROS_PER_DAY);
                assert!(
                    l.end <= (day + 1) * MICROS_PER_DAY + MICROS_PER_HOUR,
                    "{l:?}"
                );
            }
            let standard = [
                "volume_spike",
                "secret_sweep",
                "session_takeover",
                "quiet_newcomer",
            ];
            assert!(attacks
                .iter()
                .all(|l| !standard.contains(&l.scenario.as_str())));
            // Benign look-alikes are still there to be confused with.
            assert!(labels.iter().any(|l| l.scenario == "team_incident_surge"));
            let json = std::fs::read_to_string(dir.path().join("sample.json")).unwrap();
            assert!(json.contains("\"attacks\": \"randomised\""), "{json}");
        }
    }

    fn every_scenario_is_labelled(seed: u64) {
        let dir = tempfile::tempdir().unwrap();
        let summary = generate(&small(seed), dir.path()).unwrap();
        let labels = crate::eval::read_labels(&dir.path().join("labels.csv").into()).unwrap();
        let from = summary
            .scoring_from
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_micros();
        let to = from + 7 * MICROS_PER_DAY;
        for l in &labels {
            assert!(
                l.start >= from && l.end <= to + MICROS_PER_HOUR && l.start < l.end,
                "{} outside the window",
                l.scenario
            );
        }
        let kinds: BTreeSet<&str> = labels.iter().map(|l| l.scenario.as_str()).collect();
        for s in [
            "volume_spike",
            "secret_sweep",
            "iam_persistence",
            "exfil_volume",
            "stolen_ci_token",
            "offhours_recon",
            "slow_and_low",
            "new_account_sweep",
            "quiet_newcomer",
            "contractor_exfil",
            "session_takeover",
            "contractor_onboarding",
            "team_incident_surge",
            "oncall_week",
            "release_day",
            "new_hire",
            "back_from_leave",
            "namespace_adoption",
        ] {
            assert!(kinds.contains(s), "no label for {s}");
        }
        assert_eq!(labels.iter().filter(|l| l.kind == "attack").count(), 11);
        let identities = std::fs::read_to_string(dir.path().join("identities.csv")).unwrap();
        assert!(
            !identities.contains("svc-backup@example.com"),
            "the new account is not in the IdP"
        );
        let (f, t) = scoring_window(dir.path()).unwrap();
        assert_eq!((f, t), (summary.scoring_from, summary.scoring_to));
    }

    #[test]
    fn too_few_users_is_an_option_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let err = generate(
            &SampleOptions {
                users: 3,
                ..small(5)
            },
            dir.path(),
        )
        .unwrap_err();
        assert!(matches!(err, SampleError::InvalidOptions { .. }), "{err}");
        let err = generate(
            &SampleOptions {
                days: 10,
                ..small(5)
            },
            dir.path(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("--days"), "{err}");
    }
}
