//! A run's results read back for review (`explain`, `report`, `export`):
//! its findings as rows and its bounds from `run.json`.

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::lake::results::RunFiles;
use crate::lake::{discover, events_frame, Location, MISPLACED, T};
use crate::schema::{ACTION, EVENT_ID, SOURCE, SRC_IP, TARGET, USER, USER_AGENT};
use crate::window::date_of;

/// A finding's row, as `findings.parquet` holds it. Times in microseconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Finding {
    pub id: String,
    pub rank: u32,
    pub user: String,
    /// The finding's span.
    pub start: i64,
    pub end: i64,
    /// 0-100.
    pub score: f64,
    pub p_value: f64,
    /// The strongest evidence's observed count against its baseline's
    /// expectation.
    pub observed: f64,
    pub expected: f64,
    pub detectors: Vec<String>,
    pub reasons: Vec<String>,
    pub top_actions: Vec<String>,
    pub evidence: Vec<String>,
    pub techniques: Vec<String>,
    pub peer_group: String,
    /// When this incident was first and last seen, across continued runs.
    pub first_seen: i64,
    pub last_seen: i64,
    /// new, continuing or resurfaced.
    pub status: String,
    pub run_id: String,
}

/// A run's bounds and identity, from its `run.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunBounds {
    pub run_id: String,
    pub baseline_start: i64,
    pub window_start: i64,
    pub window_end: i64,
    pub bucket_micros: i64,
}

/// Every finding of one `findings.parquet`, in rank order.
pub fn read_findings(findings: &Location) -> Result<Vec<Finding>> {
    let df = findings.read_parquet()?;
    let mut rows = rows(&df).map_err(|source| Error::ReadFindings {
        path: findings.as_path(),
        source,
    })?;
    rows.sort_by_key(|f| f.rank);
    Ok(rows)
}

fn rows(df: &DataFrame) -> PolarsResult<Vec<Finding>> {
    let column = Columns { df };
    (0..df.height())
        .map(|i| {
            Ok(Finding {
                id: column.text("finding_id", i)?,
                rank: column.number("rank", i)? as u32,
                user: column.required_text("user", i)?,
                start: column.time("window_start", i)?,
                end: column.time("window_end", i)?,
                score: column.number("score", i)?,
                p_value: column.number("p_value", i)?,
                observed: column.optional_number("observed", i)?,
                expected: column.optional_number("expected", i)?,
                detectors: column.list("detectors", i)?,
                reasons: column.list("reasons", i)?,
                top_actions: column.list("top_actions", i)?,
                evidence: column.list("evidence_event_ids", i)?,
                techniques: column.list("attack_techniques", i)?,
                peer_group: column.text("peer_group", i)?,
                first_seen: column.time_or("first_seen", "window_start", i)?,
                last_seen: column.time_or("last_seen", "window_end", i)?,
                status: column.text("status", i)?,
                run_id: column.text("run_id", i)?,
            })
        })
        .collect()
}

/// Typed cells of a findings frame. What ranks a finding (rank, user,
/// span, score, p-value) is required; columns a finding may lack (older
/// runs, hand-made files) read as empty, NaN, or the span's times.
struct Columns<'a> {
    df: &'a DataFrame,
}

impl Columns<'_> {
    fn text(&self, name: &str, i: usize) -> PolarsResult<String> {
        let Ok(column) = self.df.column(name) else {
            return Ok(String::new());
        };
        Ok(column.str()?.get(i).unwrap_or("").to_owned())
    }

    fn required_text(&self, name: &str, i: usize) -> PolarsResult<String> {
        Ok(self.df.column(name)?.str()?.get(i).unwrap_or("").to_owned())
    }

    fn time(&self, name: &str, i: usize) -> PolarsResult<i64> {
        let column = self.df.column(name)?.cast(&DataType::Int64)?;
        Ok(column.i64()?.get(i).unwrap_or(0))
    }

    /// The time in `name`, or in `fallback` where the frame lacks `name`.
    fn time_or(&self, name: &str, fallback: &str, i: usize) -> PolarsResult<i64> {
        match self.df.column(name) {
            Ok(_) => self.time(name, i),
            Err(_) => self.time(fallback, i),
        }
    }

    fn optional_number(&self, name: &str, i: usize) -> PolarsResult<f64> {
        match self.df.column(name) {
            Ok(_) => self.number(name, i),
            Err(_) => Ok(f64::NAN),
        }
    }

    fn number(&self, name: &str, i: usize) -> PolarsResult<f64> {
        let column = self.df.column(name)?.cast(&DataType::Float64)?;
        Ok(column.f64()?.get(i).unwrap_or(f64::NAN))
    }

    fn list(&self, name: &str, i: usize) -> PolarsResult<Vec<String>> {
        let Ok(column) = self.df.column(name) else {
            return Ok(Vec::new());
        };
        Ok(match column.list()?.get_as_series(i) {
            Some(s) => s.str()?.iter().flatten().map(str::to_owned).collect(),
            None => Vec::new(),
        })
    }
}

/// The bounds `run.json` records.
pub fn run_bounds(run: &RunFiles) -> Result<RunBounds> {
    let manifest = &run.manifest;
    let bad = |reason: String| Error::RunManifest {
        path: manifest.as_path(),
        reason,
        source: None,
    };
    let bytes = manifest
        .read()?
        .ok_or_else(|| bad("it is missing".into()))?;
    let json: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|source| Error::RunManifest {
            path: manifest.as_path(),
            reason: "it is not JSON".into(),
            source: Some(source),
        })?;
    let time = |key: &str| {
        json[key]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.timestamp_micros())
            .ok_or_else(|| bad(format!("no {key} in it")))
    };
    let bucket_micros = json["arguments"]["bucket_micros"]
        .as_str()
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|b| *b > 0)
        .ok_or_else(|| bad("no arguments.bucket_micros in it".into()))?;
    Ok(RunBounds {
        run_id: json["run_id"].as_str().unwrap_or("").to_owned(),
        baseline_start: time("baseline_start")?,
        window_start: time("window_start")?,
        window_end: time("window_end")?,
        bucket_micros,
    })
}

/// One event of an identity, as a review shows it. Times in microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub user: String,
    pub t: i64,
    pub action: String,
    pub event_id: String,
    pub source: String,
    pub target: String,
    pub src_ip: String,
    pub user_agent: String,
}

/// The lake's events of `users` in `[from, to)` with the columns an
/// [`Event`] has, lazily; `None` where the lake has no partition of those
/// days.
pub fn identity_scan(
    lake: &Location,
    users: &[&str],
    from: i64,
    to: i64,
) -> Result<Option<LazyFrame>> {
    let dates: Vec<chrono::NaiveDate> = date_of(from)
        .iter_days()
        .take_while(|d| *d <= date_of(to - 1))
        .collect();
    let files = discover(lake, &dates)?;
    if files.files.is_empty() || users.is_empty() {
        return Ok(None);
    }
    let columns = [USER, ACTION, EVENT_ID, SOURCE, TARGET, SRC_IP, USER_AGENT];
    let names = Series::new("users".into(), users);
    Ok(Some(
        events_frame(&files.files, &columns)?.filter(
            col(USER)
                .is_in(lit(names).implode(false), false)
                .and(col(MISPLACED).not())
                .and(col(T).gt_eq(lit(from)))
                .and(col(T).lt(lit(to))),
        ),
    ))
}

/// The events of `users` in `[from, to)`, by user then time.
pub fn identity_events(lake: &Location, users: &[&str], from: i64, to: i64) -> Result<Vec<Event>> {
    let Some(scan) = identity_scan(lake, users, from, to)? else {
        return Ok(Vec::new());
    };
    let doing = || format!("reading {} identities' events from {lake}", users.len());
    let df = scan
        .sort([USER, T], Default::default())
        .collect()
        .map_err(Error::query(doing()))?;
    events(&df).map_err(Error::query(doing()))
}

/// The events of a frame with the event columns and [`T`].
pub fn events(df: &DataFrame) -> PolarsResult<Vec<Event>> {
    let t = df.column(T)?.i64()?;
    let text = |name: &str| -> PolarsResult<Vec<String>> {
        Ok(df
            .column(name)?
            .str()?
            .iter()
            .map(|v| v.unwrap_or("").to_owned())
            .collect())
    };
    let mut user = text(USER)?.into_iter();
    let mut action = text(ACTION)?.into_iter();
    let mut event_id = text(EVENT_ID)?.into_iter();
    let mut source = text(SOURCE)?.into_iter();
    let mut target = text(TARGET)?.into_iter();
    let mut src_ip = text(SRC_IP)?.into_iter();
    let mut user_agent = text(USER_AGENT)?.into_iter();
    let mut next = move |t: i64| -> Option<Event> {
        Some(Event {
            user: user.next()?,
            t,
            action: action.next()?,
            event_id: event_id.next()?,
            source: source.next()?,
            target: target.next()?,
            src_ip: src_ip.next()?,
            user_agent: user_agent.next()?,
        })
    };
    Ok(t.iter().filter_map(|t| next(t.unwrap_or(0))).collect())
}
