//! Storage: where a lake's partitions are, which files in them are usable,
//! how their columns are read, and how files are written so that no reader
//! ever sees half of one. Ingest, the pipeline and eval reach the lake only
//! through this module (an object store plugs in here).
//!
//! Layout: `<lake>/events/dt=YYYY-MM-DD/*.parquet` (see `crate::schema`).

pub mod partitions;
pub mod read;
pub mod write;

pub use partitions::{discover, partition_dir, LakeFiles, PartitionFile, Problem};
pub use read::{events_frame, read_output, MISPLACED, T};
pub use write::{atomic_write, write_parquet};

/// A run's findings, in its window's result folder.
pub const FINDINGS_FILE: &str = "findings.parquet";
/// A run's per-(identity, bucket) scores, beside the findings.
pub const SCORES_FILE: &str = "scores.parquet";
/// A run's manifest, written last beside the findings.
pub const MANIFEST_FILE: &str = "run.json";
