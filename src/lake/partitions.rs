//! Which files a run reads: the `dt=` partitions of its date range, each
//! file's footer checked against the lake contract. Partitions outside the
//! range are never opened; files are listed in name order.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;
use serde::Serialize;

use crate::error::{io_fault, polars_fault, Error, Fault, Result};
use crate::schema::{self, EVENTS_DIR, EVENT_TIME, PARTITION_KEY, REQUIRED_STRINGS};

/// The folder of one UTC day's events.
pub fn partition_dir(lake: &Path, date: NaiveDate) -> PathBuf {
    lake.join(EVENTS_DIR)
        .join(format!("{PARTITION_KEY}={date}"))
}

/// The Parquet files of one partition folder, hidden (temporary) files
/// left out, sorted by name; `None` when the folder does not exist.
pub fn list_partition(dir: &Path) -> Result<Option<Vec<PathBuf>>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| Error::ListPartitions {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| e == "parquet")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    Ok(Some(paths))
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
    pub path: PathBuf,
    pub rows: usize,
    /// Optional columns present in this file.
    #[serde(skip)]
    pub present: BTreeSet<String>,
}

/// Lists the partitions of `dates` and checks each file's footer.
/// Partitions outside `dates` are never opened.
pub fn discover(lake: &Path, dates: &[NaiveDate]) -> Result<LakeFiles> {
    if !lake.is_dir() {
        return Err(Error::LakeNotFound {
            path: lake.to_path_buf(),
        });
    }
    let mut out = LakeFiles::default();
    for &date in dates {
        let Some(paths) = list_partition(&partition_dir(lake, date))? else {
            out.missing_partitions.push(date);
            continue;
        };
        if paths.is_empty() {
            out.empty_partitions.push(date);
            continue;
        }
        let mut any = false;
        for path in paths {
            match check_file(&path)? {
                Ok((rows, present)) => {
                    any = true;
                    out.files.push(PartitionFile {
                        date,
                        path,
                        rows,
                        present,
                    })
                }
                Err(reason) => out.failed_files.push(Problem {
                    path: path.display().to_string(),
                    reason,
                }),
            }
        }
        if any {
            out.partitions_read.push(date);
        }
    }
    Ok(out)
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
