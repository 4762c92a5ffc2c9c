//! Which files a run reads: the `dt=` partitions of its date range, each
//! file's footer checked against the lake contract. Partitions outside the
//! range are never opened; files are listed in name order.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDate;
use polars::prelude::*;
use serde::Serialize;

use super::location::{Entry, Location};
use super::remote::RemoteParquet;
use crate::error::{io_fault, polars_fault, Error, Fault, Result};
use crate::schema::{self, EVENTS_DIR, EVENT_TIME, PARTITION_KEY, REQUIRED_STRINGS};

/// The folder of one UTC day's events.
pub fn partition_dir(lake: &Path, date: NaiveDate) -> PathBuf {
    lake.join(EVENTS_DIR)
        .join(format!("{PARTITION_KEY}={date}"))
}

/// The folder of one UTC day's events, wherever the lake is.
pub fn partition(lake: &Location, date: NaiveDate) -> Location {
    lake.join(&format!("{EVENTS_DIR}/{PARTITION_KEY}={date}"))
}

/// The Parquet files of one partition folder, hidden (temporary) files
/// left out, sorted by name; `None` when the folder does not exist.
pub fn list_partition(dir: &Location) -> Result<Option<Vec<Entry>>> {
    Ok(dir.list_files()?.map(parquet_only))
}

fn parquet_only(files: Vec<Entry>) -> Vec<Entry> {
    files
        .into_iter()
        .filter(|e| e.location.file_name().ends_with(".parquet"))
        .collect()
}

/// A file or partition the run could not use, with the reason.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub path: String,
    pub reason: String,
}

/// The files of the lake the run will read, and what was wrong with the rest.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LakeFiles {
    pub files: Vec<PartitionFile>,
    pub partitions_read: Vec<NaiveDate>,
    /// Dates the run needs that have no `dt=` folder at all.
    pub missing_partitions: Vec<NaiveDate>,
    /// `dt=` folders with no Parquet file in them.
    pub empty_partitions: Vec<NaiveDate>,
    /// Files skipped because they are unreadable or break the contract.
    pub failed_files: Vec<Problem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartitionFile {
    pub date: NaiveDate,
    #[serde(rename = "path")]
    pub location: Location,
    pub rows: usize,
    /// Optional columns present in this file.
    #[serde(skip)]
    pub present: BTreeSet<String>,
    /// On S3: the footer, read once, and where each column's chunks are.
    #[serde(skip)]
    pub remote: Option<Arc<RemoteParquet>>,
}

/// A file's footer, checked: rows, contract columns present, and on S3 the
/// handle that reads its chunks. The inner error says why it is unusable.
type Checked = std::result::Result<(usize, BTreeSet<String>, Option<Arc<RemoteParquet>>), String>;

impl LakeFiles {
    /// Whether any file is read from S3.
    pub fn remote(&self) -> bool {
        self.files.iter().any(|f| f.remote.is_some())
    }

    /// Files of `from` on are read again later (the window, for evidence):
    /// on S3, what their first scan fetches is kept for the next.
    pub fn keep_from(&self, from: NaiveDate) {
        for remote in self
            .files
            .iter()
            .filter(|f| f.date >= from)
            .filter_map(|f| f.remote.as_ref())
        {
            remote.keep();
        }
    }
}

/// Lists the partitions of `dates` and checks each file's footer.
/// Partitions outside `dates` are never listed or opened.
pub fn discover(lake: &Location, dates: &[NaiveDate]) -> Result<LakeFiles> {
    if !lake.is_dir()? {
        return Err(Error::LakeNotFound {
            path: lake.as_path(),
        });
    }
    let mut out = LakeFiles::default();
    let mut found: Vec<(NaiveDate, Entry)> = Vec::new();
    let dirs: Vec<Location> = dates.iter().map(|d| partition(lake, *d)).collect();
    let listed = Location::list_files_of(&dirs)?;
    for (&date, files) in dates.iter().zip(listed) {
        match files.map(parquet_only) {
            None => out.missing_partitions.push(date),
            Some(files) if files.is_empty() => out.empty_partitions.push(date),
            Some(files) => found.extend(files.into_iter().map(|f| (date, f))),
        }
    }
    open(found, &mut out)?;
    Ok(out)
}

/// Checks each found file's footer and files it under `out` as readable or
/// failed.
pub fn open(found: Vec<(NaiveDate, Entry)>, out: &mut LakeFiles) -> Result<()> {
    let checked = check_files(&found)?;
    for ((date, entry), checked) in found.into_iter().zip(checked) {
        match checked {
            Ok((rows, present, remote)) => {
                if out.partitions_read.last() != Some(&date) {
                    out.partitions_read.push(date);
                }
                out.files.push(PartitionFile {
                    date,
                    location: entry.location,
                    rows,
                    present,
                    remote,
                })
            }
            Err(reason) => out.failed_files.push(Problem {
                path: entry.location.to_string(),
                reason,
            }),
        }
    }
    Ok(())
}

/// Each file's footer checked, in order: local files one by one, S3
/// objects all at once (a request each, or two for a large footer).
fn check_files(found: &[(NaiveDate, Entry)]) -> Result<Vec<Checked>> {
    let mut checked: Vec<Option<Checked>> = found.iter().map(|_| None).collect();
    let mut remote = Vec::new();
    for (i, (_, entry)) in found.iter().enumerate() {
        match &entry.location {
            Location::Local(path) => {
                checked[i] = Some(check_file(path)?.map(|(rows, present)| (rows, present, None)))
            }
            Location::S3 { store, bucket, key } => remote.push((
                i,
                Arc::clone(store),
                bucket.clone(),
                key.clone(),
                entry.size,
                entry.etag.clone(),
            )),
        }
    }
    if let Some((_, store, ..)) = remote.first() {
        let store = Arc::clone(store);
        let tasks = remote
            .into_iter()
            .map(|(i, store, bucket, key, size, etag)| async move {
                (i, RemoteParquet::open(store, bucket, key, size, etag).await)
            })
            .collect();
        for (i, result) in store.all("reading footers", tasks)? {
            checked[i] = Some(result?.and_then(|(file, schema, rows)| {
                contract(&schema, rows).map(|(rows, present)| (rows, present, Some(Arc::new(file))))
            }));
        }
    }
    Ok(checked
        .into_iter()
        .map(|c| c.expect("every file checked"))
        .collect())
}

/// Reads one footer: row count and which contract columns are present.
/// Returns a sentence naming the column when the file breaks the contract.
///
/// An I/O error that may pass (a flaky disk or mount) is an error, so the
/// run exits "retry" instead of quietly leaving the file out.
fn check_file(path: &Path) -> Result<std::result::Result<(usize, BTreeSet<String>), String>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(source) if io_fault(&source) == Fault::Transient => {
            return Err(Error::Read {
                path: path.to_path_buf(),
                source,
            })
        }
        Err(e) => return Ok(Err(format!("cannot open: {e}"))),
    };
    let mut reader = ParquetReader::new(file);
    let footer = reader
        .schema()
        .and_then(|schema| reader.num_rows().map(|rows| (schema, rows)));
    let (arrow_schema, rows) = match footer {
        Ok(footer) => footer,
        Err(source) if polars_fault(&source) == Fault::Transient => {
            return Err(Error::Query {
                doing: format!("reading the footer of {}", path.display()),
                source,
            })
        }
        Err(e) => return Ok(Err(format!("not a readable Parquet file: {e}"))),
    };
    Ok(contract(&arrow_schema, rows))
}

/// Which contract columns a file's schema has, or the column that breaks
/// the contract.
fn contract(
    arrow_schema: &ArrowSchema,
    rows: usize,
) -> std::result::Result<(usize, BTreeSet<String>), String> {
    let mut present = BTreeSet::new();
    for field in arrow_schema.iter_values() {
        let name = field.name.as_str();
        let Some(expected) = schema::expected_type(name) else {
            continue;
        };
        let actual = DataType::from_arrow_field(field);
        if actual != expected {
            return Err(format!(
                "column `{name}` has type {actual}, the lake contract says {expected}"
            ));
        }
        present.insert(name.to_owned());
    }
    for required in [EVENT_TIME].iter().chain(REQUIRED_STRINGS.iter()) {
        if !present.contains(*required) {
            return Err(format!("required column `{required}` is missing"));
        }
    }
    Ok((rows, present))
}
