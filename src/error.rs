//! Library errors. Each variant says what was being done and on what; the
//! cause sits in `source` so a chain printer shows it once.

use std::path::PathBuf;

use polars::prelude::PolarsError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- usage and configuration: retrying will not help (exit 2) ----
    #[error("invalid value for {arg}: {reason}")]
    InvalidArgument { arg: &'static str, reason: String },

    #[error("lake {path} does not exist (expected {path}/events/dt=YYYY-MM-DD/*.parquet)")]
    LakeNotFound { path: PathBuf },

    #[error("cannot read models directory {path}")]
    ModelDir {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("models directory {path} holds no *.toml model files")]
    NoModels { path: PathBuf },

    #[error("invalid model file {path}")]
    ParseModel {
        path: PathBuf,
        source: toml::de::Error,
    },

    #[error("invalid model file {path}")]
    InvalidModel {
        path: PathBuf,
        source: crate::detectors::ParamsError,
    },

    #[error("two model files are named {name:?}: {first} and {second}")]
    DuplicateModel {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },

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

    #[error("no findings to evaluate at {path}: {reason}")]
    NoFindings { path: PathBuf, reason: String },

    // ---- runtime: the environment failed; safe to retry (exit 3) ----
    #[error("cannot list partitions under {path}")]
    ListPartitions {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("failed while {doing}")]
    Query { doing: String, source: PolarsError },

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

    #[error("generating the sample lake failed")]
    Sample { source: crate::sample::SampleError },
}

impl Error {
    /// True when the error comes from what the user asked for (arguments,
    /// model files, context), so a scheduler should not retry (exit 2).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::InvalidArgument { .. }
                | Error::LakeNotFound { .. }
                | Error::ModelDir { .. }
                | Error::NoModels { .. }
                | Error::ParseModel { .. }
                | Error::InvalidModel { .. }
                | Error::DuplicateModel { .. }
                | Error::Context { .. }
                | Error::ReadContext { .. }
                | Error::Labels { .. }
                | Error::NoFindings { .. }
                | Error::InputNotFound { .. }
                | Error::Manifest { .. }
                | Error::FeatureTable { .. }
                | Error::Forest { .. }
        ) || matches!(self, Error::Sample { source } if source.is_usage())
    }

    pub fn query(doing: impl Into<String>) -> impl FnOnce(PolarsError) -> Error {
        let doing = doing.into();
        move |source| Error::Query { doing, source }
    }
}
