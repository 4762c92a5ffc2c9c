//! Reading partition files with Polars: the chosen columns of a list of
//! checked files as one frame, optional columns a file lacks as nulls, and
//! a file whose data pages cannot be decoded left out and reported rather
//! than failing the run.

use std::sync::Arc;

use polars::prelude::*;

use super::location::Location;
use super::partitions::{PartitionFile, Problem};
use crate::error::{polars_fault, Error, Fault, Result};
use crate::schema::{self, EVENT_TIME};
use crate::window::{day_start, MICROS_PER_DAY};

/// `event_time` in microseconds since the epoch, as read.
pub const T: &str = "t";
/// True for a row whose `event_time` is not on its partition's date.
pub const MISPLACED: &str = "misplaced";

/// Every event in `files`, one lazy frame: projected to `columns` (missing
/// optional columns become nulls), `event_time` as [`T`] in microseconds,
/// and the [`MISPLACED`] flag.
pub fn events_frame(files: &[PartitionFile], columns: &[&str]) -> Result<LazyFrame> {
    let mut frames = Vec::with_capacity(files.len());
    for file in files {
        let day0 = day_start(file.date);
        let lf =
            scan(file, columns).map_err(Error::query(format!("scanning {}", file.location)))??;
        let mut exprs = vec![col(EVENT_TIME).cast(DataType::Int64).alias(T)];
        for &c in columns {
            let expr = if schema::is_required(c) || file.present.contains(c) {
                col(c)
            } else {
                let ty = schema::expected_type(c).unwrap_or(DataType::String);
                lit(NULL).cast(ty).alias(c)
            };
            exprs.push(expr);
        }
        let misplaced = col(T)
            .lt(lit(day0))
            .or(col(T).gt_eq(lit(day0 + MICROS_PER_DAY)))
            .alias(MISPLACED);
        frames.push(lf.select(exprs).with_column(misplaced));
    }
    if frames.is_empty() {
        return Err(Error::Query {
            doing: "scanning the lake".into(),
            source: PolarsError::NoData("no readable partition in range".into()),
        });
    }
    concat(frames, UnionArgs::default()).map_err(Error::query("combining partitions"))
}

/// One file as a lazy frame: a local file is scanned in place; an S3 object
/// has its footer and the chunks of `columns` fetched now (see
/// `super::remote`).
fn scan(file: &PartitionFile, columns: &[&str]) -> PolarsResult<Result<LazyFrame>> {
    match (&file.location, &file.remote) {
        (Location::Local(path), _) => {
            let path = PlRefPath::new(path.to_string_lossy().as_ref());
            LazyFrame::scan_parquet(path, ScanArgsParquet::default()).map(Ok)
        }
        (Location::S3 { .. }, Some(remote)) => {
            let mut wanted = vec![EVENT_TIME];
            wanted.extend(
                columns
                    .iter()
                    .filter(|c| schema::is_required(c) || file.present.contains(**c)),
            );
            let buffer = match remote.fetch(&wanted) {
                Ok(buffer) => buffer,
                Err(e) => return Ok(Err(e)),
            };
            let sources = ScanSources::Buffers(Arc::from(vec![buffer]));
            let args = ScanArgsParquet {
                // The date is in the key, and known: nothing to infer.
                hive_options: HiveOptions::new_disabled(),
                ..Default::default()
            };
            LazyFrame::scan_parquet_sources(sources, args).map(Ok)
        }
        (Location::S3 { .. }, None) => Err(PolarsError::ComputeError(
            format!("{} was not opened by discovery", file.location).into(),
        )),
    }
}

/// A day's files read into memory, with the files left out.
pub struct Read {
    /// `None` when no file of the day could be decoded.
    pub frame: Option<DataFrame>,
    /// Files whose footer was fine but whose data could not be decoded.
    pub unreadable: Vec<Problem>,
}

/// Reads `columns` of `files` (see [`events_frame`]). A file whose data
/// cannot be decoded (a corrupt page behind a sound footer) is a permanent
/// fault of that file: it is left out and named in [`Read::unreadable`],
/// and the other files are read. An I/O error is returned as an error, since
/// it may pass on a retry.
pub fn read_files(files: &[PartitionFile], columns: &[&str], doing: &str) -> Result<Read> {
    let collect = |files: &[PartitionFile]| events_frame(files, columns).map(LazyFrame::collect);
    match collect(files)? {
        Ok(frame) => {
            return Ok(Read {
                frame: Some(frame),
                unreadable: Vec::new(),
            })
        }
        Err(source) if is_transient(&source) => {
            return Err(Error::Query {
                doing: doing.to_owned(),
                source,
            })
        }
        Err(_) => {}
    }
    // Some file is corrupt: find which, one file at a time. A file that
    // fails again alone is its own fault; one that reads alone failed
    // with the others for a reason that is not in its bytes.
    let mut good = Vec::new();
    let mut unreadable = Vec::new();
    for file in files {
        match collect(std::slice::from_ref(file))? {
            Ok(_) => good.push(file.clone()),
            Err(source) if is_transient(&source) => {
                return Err(Error::Query {
                    doing: format!("reading {}", file.location),
                    source,
                })
            }
            Err(source) => unreadable.push(Problem {
                path: file.location.to_string(),
                reason: format!("its data cannot be decoded (corrupt page?): {source}"),
            }),
        }
    }
    let frame = if good.is_empty() {
        None
    } else {
        // Every file reads alone but not together (memory ran out, say):
        // nothing here is permanent, so the run may be retried.
        let together = collect(&good)?;
        Some(together.map_err(|source| Error::Unattributed {
            doing: doing.to_owned(),
            source,
        })?)
    };
    Ok(Read { frame, unreadable })
}

fn is_transient(err: &PolarsError) -> bool {
    polars_fault(err) == Fault::Transient
}
