//! Writing what ingest produced: event partitions (atomic, without
//! duplicates), the quarantine and the manifest of ingested files.
//!
//! Layout under the lake: `events/dt=YYYY-MM-DD/part-<source>-<run>-<batch>.parquet`,
//! `_quarantine/<format>/<run>-<batch>.jsonl`, `_ingest/manifest.json`.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, NaiveDate};
use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};

use super::input::{FileRecords, InputFile};
use super::{Format, IngestReport, Normalised};
use crate::error::{Error, Result};
use crate::lake::{events_frame, partition, LakeFiles, Location};
use crate::schema::{self, Event, EVENT_ID, SOURCE};

/// A record that could not become an event, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Quarantined {
    pub file: String,
    /// `line N`, `record N` or `file`.
    pub position: String,
    pub class: &'static str,
    pub detail: String,
    /// The record's first bytes, for a look without opening the file.
    pub excerpt: String,
}

const EXCERPT_BYTES: usize = 240;

impl Quarantined {
    pub fn new(
        file: &str,
        position: String,
        class: &'static str,
        detail: String,
        bytes: &[u8],
    ) -> Self {
        let cut = &bytes[..bytes.len().min(EXCERPT_BYTES)];
        Quarantined {
            file: file.to_owned(),
            position,
            class,
            detail,
            excerpt: String::from_utf8_lossy(cut).into_owned(),
        }
    }
}

pub struct Written {
    pub events: u64,
    pub duplicates: u64,
    pub partitions: Vec<String>,
}

/// Events grouped by their UTC day, as the writer takes them: a day holds
/// the chunks files gave it (a file usually covers one hour), so events are
/// not copied from vector to vector on the way.
pub type ByDay<'a> = BTreeMap<NaiveDate, Vec<Vec<Normalised<'a>>>>;

/// Files one file's events under their days.
pub fn add_by_day<'a>(by_day: &mut ByDay<'a>, events: Vec<Normalised<'a>>) {
    let day = |n: &Normalised| day_of(n.event.event_time);
    let Some(first) = events.first().map(day) else {
        return;
    };
    if events.iter().all(|n| day(n) == first) {
        if let Some(first) = first {
            by_day.entry(first).or_default().push(events);
        }
        return;
    }
    let mut split: BTreeMap<NaiveDate, Vec<Normalised<'a>>> = BTreeMap::new();
    for n in events {
        if let Some(d) = day(&n) {
            split.entry(d).or_default().push(n);
        }
    }
    for (d, chunk) in split {
        by_day.entry(d).or_default().push(chunk);
    }
}

/// The UTC day an event belongs to.
pub fn day_of(event_time: i64) -> Option<NaiveDate> {
    DateTime::from_timestamp_micros(event_time).map(|t| t.date_naive())
}

/// Writes events to their UTC-day partitions. Events whose `(source,
/// event_id)` the partition already holds, or that repeat within the batch,
/// are dropped, so re-ingesting the same inputs adds nothing.
pub fn write_events(
    lake: &Location,
    source: &str,
    by_day: ByDay<'_>,
    run_id: &str,
    batch: usize,
) -> Result<Written> {
    // Days are independent: each is checked and written on its own core.
    let days: Vec<Result<(NaiveDate, u64, u64)>> = by_day
        .into_par_iter()
        .map(|(day, events)| write_day(lake, source, day, &events, run_id, batch))
        .collect();
    let mut written = Written {
        events: 0,
        duplicates: 0,
        partitions: Vec::new(),
    };
    for day in days {
        let (day, events, duplicates) = day?;
        written.events += events;
        written.duplicates += duplicates;
        if events > 0 {
            written.partitions.push(day.to_string());
        }
    }
    Ok(written)
}

/// One day's events: drops those already in its partition, writes the rest
/// as one new file, in (time, id) order. Returns (day, events written,
/// duplicates dropped).
fn write_day(
    lake: &Location,
    source: &str,
    day: NaiveDate,
    chunks: &[Vec<Normalised>],
    run_id: &str,
    batch: usize,
) -> Result<(NaiveDate, u64, u64)> {
    let dir = partition(lake, day);
    let in_lake = existing_ids(&dir, day, source)?;
    let mut order: Vec<&Event> = chunks.iter().flatten().map(|n| &n.event).collect();
    let received = order.len();
    order.sort_by(|a, b| (a.event_time, &a.event_id).cmp(&(b.event_time, &b.event_id)));
    let mut in_batch: FxHashSet<&str> = FxHashSet::default();
    in_batch.reserve(order.len());
    order.retain(|e| !in_lake.contains(e.event_id.as_ref()) && in_batch.insert(&e.event_id));
    let duplicates = (received - order.len()) as u64;
    if order.is_empty() {
        return Ok((day, 0, duplicates));
    }
    let path = dir.join(&format!("part-{source}-{run_id}-{batch:04}.parquet"));
    let df = schema::frame_of(&order).map_err(Error::query(format!("building {path}")))?;
    path.write_parquet(&df)?;
    Ok((day, order.len() as u64, duplicates))
}

/// The event ids of `source` already in a partition. A file there that
/// cannot be read stops the ingest: its events could not be told from the
/// new ones, and would be written twice.
fn existing_ids(dir: &Location, day: NaiveDate, source: &str) -> Result<FxHashSet<String>> {
    let mut ids = FxHashSet::default();
    let Some(entries) = crate::lake::partitions::list_partition(dir)? else {
        return Ok(ids);
    };
    let mut files = LakeFiles::default();
    crate::lake::partitions::open(entries.into_iter().map(|e| (day, e)).collect(), &mut files)?;
    if let Some(bad) = files.failed_files.first() {
        return Err(Error::Partition {
            path: bad.path.clone(),
            reason: bad.reason.clone(),
        });
    }
    if files.files.is_empty() {
        return Ok(ids);
    }
    let doing = format!("reading the event ids already in {dir}");
    let df = events_frame(&files.files, &[SOURCE, EVENT_ID])?
        .filter(col(SOURCE).eq(lit(source)))
        .select([col(EVENT_ID)])
        .collect()
        .map_err(Error::query(doing.clone()))?;
    let column = df
        .column(EVENT_ID)
        .and_then(|c| c.str().cloned())
        .map_err(Error::query(doing))?;
    ids.extend(column.iter().flatten().map(str::to_owned));
    Ok(ids)
}

/// Writes a batch's quarantined records as JSON lines; `None` when there
/// were none.
pub fn write_quarantine(
    lake: &Location,
    format: Format,
    run_id: &str,
    batch: usize,
    records: &[Quarantined],
) -> Result<Option<Location>> {
    if records.is_empty() {
        return Ok(None);
    }
    let path = lake.join(&format!(
        "_quarantine/{}/{run_id}-{batch:04}.jsonl",
        format.name()
    ));
    let mut out = Vec::new();
    for r in records {
        serde_json::to_writer(&mut out, r).expect("a quarantined record is plain data");
        out.push(b'\n');
    }
    path.write(out)?;
    Ok(Some(path))
}

/// Files ingested so far, and a summary of each run.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Manifest {
    pub files: BTreeMap<String, FileEntry>,
    pub runs: Vec<serde_json::Value>,
    /// Per set of inputs, the latest `YYYY/MM/DD` delivery folder listed:
    /// the next ingest of them lists from the day before it.
    #[serde(default)]
    pub listed_through: BTreeMap<String, NaiveDate>,
    /// Days audit-log ingests wrote sessions to whose Falco processes are
    /// not re-attributed yet (see `sessions::reattribute`).
    #[serde(default)]
    pub reattribute_pending: std::collections::BTreeSet<NaiveDate>,
}

/// The manifest's name for a set of inputs.
pub fn inputs_key(inputs: &[Location]) -> String {
    let mut names: Vec<String> = inputs.iter().map(key).collect();
    names.sort();
    names.join(" ")
}

#[derive(Debug, Serialize, Deserialize)]
pub struct FileEntry {
    pub format: Format,
    pub size: u64,
    pub modified: i64,
    pub records: u64,
    pub events: u64,
    pub quarantined: u64,
}

impl<'de> Deserialize<'de> for Format {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Format::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown format {name:?}")))
    }
}

/// The lake's ingest lock, held until dropped.
pub enum Lock {
    /// An OS lock on `_ingest/lock`, dropped by the OS if we crash.
    Local(#[allow(dead_code)] std::fs::File),
    /// A lease object on S3 (see `super::lease`).
    S3(super::lease::Held),
}

impl Lock {
    /// Keeps a long ingest's S3 lease from running out (between batches).
    pub fn renew(&mut self) -> Result<()> {
        match self {
            Lock::Local(_) => Ok(()),
            Lock::S3(held) => held.renew(),
        }
    }
}

/// Takes the lake's ingest lock.
pub fn lock(lake: &Location, run_id: &str) -> Result<Lock> {
    match lake {
        Location::Local(lake) => lock_local(lake).map(Lock::Local),
        Location::S3 { .. } => super::lease::take(lake, run_id).map(Lock::S3),
    }
}

fn lock_local(lake: &Path) -> Result<std::fs::File> {
    let path = lake.join("_ingest").join("lock");
    let io = |source| Error::Write {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(path.parent().expect("the lock sits in _ingest")).map_err(io)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::IngestBusy {
            lake: lake.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

fn manifest_path(lake: &Location) -> Location {
    lake.join("_ingest/manifest.json")
}

impl Manifest {
    pub fn load(lake: &Location) -> Result<Manifest> {
        let path = manifest_path(lake);
        match path.read()? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Manifest {
                path: path.as_path(),
                reason: e.to_string(),
            }),
            None => Ok(Manifest::default()),
        }
    }

    /// Ingested before: the same path with the same size and modification time.
    pub fn has(&self, file: &InputFile) -> bool {
        self.files
            .get(&key(&file.location))
            .is_some_and(|e| e.size == file.size && e.modified == file.modified)
    }

    pub fn add(&mut self, file: &FileRecords, format: Format) {
        self.files.insert(
            key(&file.file.location),
            FileEntry {
                format,
                size: file.file.size,
                modified: file.file.modified,
                records: file.records,
                events: file.events.len() as u64,
                quarantined: file.quarantined.len() as u64,
            },
        );
    }

    pub fn listed_through(&self, inputs: &str) -> Option<NaiveDate> {
        self.listed_through.get(inputs).copied()
    }

    pub fn listed(&mut self, inputs: &str, day: NaiveDate) {
        let slot = self.listed_through.entry(inputs.to_owned()).or_insert(day);
        *slot = (*slot).max(day);
    }

    pub fn record_run(&mut self, report: &IngestReport) {
        if let Ok(value) = serde_json::to_value(report) {
            self.runs.push(value);
        }
    }

    pub fn save(&self, lake: &Location) -> Result<()> {
        let mut json = serde_json::to_vec_pretty(self).expect("the manifest is plain data");
        json.push(b'\n');
        manifest_path(lake).write(json)
    }
}

/// A file's name in the manifest: its absolute path, or its s3:// URL.
fn key(location: &Location) -> String {
    match location {
        Location::Local(path) => std::fs::canonicalize(path)
            .unwrap_or_else(|_| path.to_path_buf())
            .display()
            .to_string(),
        remote => remote.to_string(),
    }
}
