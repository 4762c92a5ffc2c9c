//! Library errors. Each variant says what was being done and on what; the
//! cause sits in `source` so a chain printer shows it once. Whether a
//! scheduler should retry is decided in one place, `crate::exit`, from
//! [`Fault`]s these errors report.

use std::path::PathBuf;

use polars::prelude::PolarsError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a scheduler should make of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The input or the arguments are wrong: retrying gives the same (exit 2).
    Permanent,
    /// The environment failed (disk, network, a busy lake): a retry may pass (exit 3).
    Transient,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid value for {arg}: {reason}")]
    InvalidArgument { arg: &'static str, reason: String },

    #[error("lake {path} does not exist (expected {path}/events/dt=YYYY-MM-DD/*.parquet)")]
    LakeNotFound { path: PathBuf },

    #[error("invalid identity context {path}, line {line}: {reason}")]
    Context {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    #[error("cannot read identity context {path}")]
    ReadContext {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("invalid labels file {path}, line {line}: {reason}")]
    Labels {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    #[error("no findings at {path}: {reason}")]
    NoFindings { path: PathBuf, reason: String },

    #[error("no finding {id} under {path} (finding ids are in findings.parquet's finding_id)")]
    FindingNotFound { id: String, path: PathBuf },

    #[error("cannot use the run's manifest {path}: {reason}; rerun the window")]
    RunManifest {
        path: PathBuf,
        reason: String,
        #[source]
        source: Option<serde_json::Error>,
    },

    #[error("cannot list partitions under {path}")]
    ListPartitions {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("failed while {doing}")]
    Query { doing: String, source: PolarsError },

    #[error("failed while {doing}, though each file reads on its own")]
    Unattributed { doing: String, source: PolarsError },

    #[error("ingest input {path} does not exist")]
    InputNotFound { path: PathBuf },

    #[error("cannot read {path}")]
    ReadInput {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("ingest manifest {path} is not readable JSON ({reason}); move it aside to re-ingest everything")]
    Manifest { path: PathBuf, reason: String },

    #[error("another `lakehound ingest` is writing to {lake}; retry when it has finished")]
    IngestBusy { lake: PathBuf },

    #[error("cannot read the events already in {path} ({reason}); move the file aside or fix it, then ingest again")]
    Partition { path: String, reason: String },

    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot write {path}")]
    WriteParquet { path: PathBuf, source: PolarsError },

    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot read findings {path}")]
    ReadFindings { path: PathBuf, source: PolarsError },

    #[error("feature table {path}: {reason}")]
    FeatureTable { path: PathBuf, reason: String },

    #[error("isolation forest on {path}: {reason}")]
    Forest { path: PathBuf, reason: String },

    /// An S3 request that failed for good, or kept failing; `reason` never
    /// holds credentials or signatures.
    #[error("S3: {doing} {url} failed: {reason}")]
    S3 {
        doing: &'static str,
        url: String,
        fault: Fault,
        reason: String,
    },
}

impl Error {
    pub fn query(doing: impl Into<String>) -> impl FnOnce(PolarsError) -> Error {
        let doing = doing.into();
        move |source| Error::Query { doing, source }
    }

    /// Whether a retry can help. Every variant is listed: a new one must be
    /// classified here before it compiles.
    pub fn fault(&self) -> Fault {
        use Fault::{Permanent, Transient};
        match self {
            Error::InvalidArgument { .. }
            | Error::LakeNotFound { .. }
            | Error::Context { .. }
            | Error::Labels { .. }
            | Error::NoFindings { .. }
            | Error::FindingNotFound { .. }
            | Error::RunManifest { .. }
            | Error::InputNotFound { .. }
            | Error::Manifest { .. }
            | Error::Partition { .. }
            | Error::FeatureTable { .. }
            | Error::Forest { .. } => Permanent,
            Error::IngestBusy { .. } | Error::Unattributed { .. } => Transient,
            Error::ReadContext { source, .. }
            | Error::ListPartitions { source, .. }
            | Error::ReadInput { source, .. }
            | Error::Write { source, .. }
            | Error::Read { source, .. } => io_fault(source),
            Error::S3 { fault, .. } => *fault,
            Error::Query { source, .. }
            | Error::WriteParquet { source, .. }
            | Error::ReadFindings { source, .. } => polars_fault(source),
        }
    }

    /// A usage or data error: retrying will not help.
    pub fn is_usage(&self) -> bool {
        self.fault() == Fault::Permanent
    }
}

/// I/O errors that say the path or its bytes are wrong are permanent; the
/// rest (disk full, interrupted, timed out, a flaky mount) may pass.
pub fn io_fault(err: &std::io::Error) -> Fault {
    use std::io::ErrorKind::*;
    match err.kind() {
        NotFound | PermissionDenied | InvalidInput | InvalidData | UnexpectedEof
        | ReadOnlyFilesystem | IsADirectory | NotADirectory | InvalidFilename => Fault::Permanent,
        _ => Fault::Transient,
    }
}

/// A Polars error is transient only when it is an I/O error that may pass;
/// bytes that do not decode, or a schema that does not fit, stay so.
pub fn polars_fault(err: &PolarsError) -> Fault {
    match err {
        PolarsError::IO { error, .. } => io_fault(error),
        PolarsError::Context { error, .. } | PolarsError::ExprContext { error, .. } => {
            polars_fault(error)
        }
        _ => Fault::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_worth_a_retry_and_a_missing_file_is_not() {
        let full = std::io::Error::new(std::io::ErrorKind::StorageFull, "no space");
        let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        assert_eq!(io_fault(&full), Fault::Transient);
        assert_eq!(io_fault(&missing), Fault::Permanent);
    }

    #[test]
    fn undecodable_bytes_are_permanent_even_inside_context() {
        let corrupt = PolarsError::ComputeError("decompression failed".into());
        let wrapped = corrupt.context("reading dt=2026-11-02".into());
        assert_eq!(polars_fault(&wrapped), Fault::Permanent);
        let busy = PolarsError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "timed out",
        ));
        assert_eq!(polars_fault(&busy), Fault::Transient);
    }
}
