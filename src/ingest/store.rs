//! Writing what ingest produced: event partitions (atomic, without
//! duplicates), the quarantine and the manifest of ingested files.
//!
//! Layout under the lake: `events/dt=YYYY-MM-DD/part-<source>-<run>-<batch>.parquet`,
//! `_quarantine/<format>/<run>-<batch>.jsonl`, `_ingest/manifest.json`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate};
use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};

use super::input::{FileRecords, InputFile};
use super::{Format, IngestReport, Normalised};
use crate::error::{Error, Result};
use crate::lake::{atomic_write, partition_dir, write_parquet};
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
    lake: &Path,
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
    lake: &Path,
    source: &str,
    day: NaiveDate,
    chunks: &[Vec<Normalised>],
    run_id: &str,
    batch: usize,
) -> Result<(NaiveDate, u64, u64)> {
    let dir = partition_dir(lake, day);
    let in_lake = existing_ids(&dir, source)?;
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
    let path = dir.join(format!("part-{source}-{run_id}-{batch:04}.parquet"));
    let df =
        schema::frame_of(&order).map_err(Error::query(format!("building {}", path.display())))?;
    write_parquet(&path, &df)?;
    Ok((day, order.len() as u64, duplicates))
}

/// The event ids of `source` already in a partition.
fn existing_ids(dir: &Path, source: &str) -> Result<FxHashSet<String>> {
    let mut ids = FxHashSet::default();
    let files = crate::lake::partitions::list_partition(dir)?.unwrap_or_default();
    for path in files {
        let doing = format!("reading the event ids already in {}", path.display());
        let df = LazyFrame::scan_parquet(
            PlRefPath::new(path.to_string_lossy().as_ref()),
            ScanArgsParquet::default(),
        )
        .and_then(|lf| {
            lf.filter(col(SOURCE).eq(lit(source)))
                .select([col(EVENT_ID)])
                .collect()
        })
        .map_err(Error::query(doing.clone()))?;
        let column = df
            .column(EVENT_ID)
            .and_then(|c| c.str().cloned())
            .map_err(Error::query(doing))?;
        ids.extend(column.iter().flatten().map(str::to_owned));
    }
    Ok(ids)
}

/// Writes a batch's quarantined records as JSON lines; `None` when there
/// were none.
pub fn write_quarantine(
    lake: &Path,
    format: Format,
    run_id: &str,
    batch: usize,
    records: &[Quarantined],
) -> Result<Option<PathBuf>> {
    if records.is_empty() {
        return Ok(None);
    }
    let path = lake
        .join("_quarantine")
        .join(format.name())
        .join(format!("{run_id}-{batch:04}.jsonl"));
    atomic_write(&path, |file| {
        let mut out = std::io::BufWriter::new(file);
        let written = records.iter().try_for_each(|r| {
            serde_json::to_writer(&mut out, r)?;
            out.write_all(b"\n")
        });
        written
            .and_then(|()| out.flush())
            .map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })
    })?;
    Ok(Some(path))
}

/// Files ingested so far, and a summary of each run.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Manifest {
    pub files: BTreeMap<String, FileEntry>,
    pub runs: Vec<serde_json::Value>,
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

/// Takes the lake's ingest lock, held until the returned file is dropped.
pub fn lock(lake: &Path) -> Result<std::fs::File> {
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

fn manifest_path(lake: &Path) -> PathBuf {
    lake.join("_ingest").join("manifest.json")
}

impl Manifest {
    pub fn load(lake: &Path) -> Result<Manifest> {
        let path = manifest_path(lake);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Manifest {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(source) => Err(Error::ReadInput { path, source }),
        }
    }

    /// Ingested before: the same path with the same size and modification time.
    pub fn has(&self, file: &InputFile) -> bool {
        self.files
            .get(&key(&file.path))
            .is_some_and(|e| e.size == file.size && e.modified == file.modified)
    }

    pub fn add(&mut self, file: &FileRecords, format: Format) {
        self.files.insert(
            key(&file.file.path),
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

    pub fn record_run(&mut self, report: &IngestReport) {
        if let Ok(value) = serde_json::to_value(report) {
            self.runs.push(value);
        }
    }

    pub fn save(&self, lake: &Path) -> Result<()> {
        let path = manifest_path(lake);
        atomic_write(&path, |file| {
            serde_json::to_writer_pretty(&mut *file, self)
                .map_err(std::io::Error::from)
                .and_then(|()| file.write_all(b"\n"))
                .map_err(|source| Error::Write {
                    path: path.clone(),
                    source,
                })
        })
    }
}

fn key(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}
