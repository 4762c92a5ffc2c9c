//! Storage: where a lake's partitions are, which files in them are usable,
//! how their columns are read, and how files are written so that no reader
//! ever sees half of one. Ingest, the pipeline and eval reach the lake only
//! through this module (an object store plugs in here).
//!
//! Layout: `<lake>/events/dt=YYYY-MM-DD/*.parquet` (see `crate::schema`),
//! in a local folder or under an S3 prefix ([`Location`]).

pub mod location;
pub mod partitions;
pub mod read;
mod remote;
pub mod results;
pub mod s3;
pub mod write;

pub use location::{Entry, Location, Storage};
pub use partitions::{discover, partition, partition_dir, LakeFiles, PartitionFile, Problem};
pub use read::{events_frame, MISPLACED, T};
pub use s3::{S3Settings, S3Usage};
pub use write::{atomic_write, write_parquet};

pub use results::{FINDINGS_FILE, MANIFEST_FILE, POINTER_FILE, SCORES_FILE};
