//! Exit codes, decided here and only here. Every error variant is matched
//! by name (no catch-all arm), so a new variant does not compile until it
//! is given a code.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | finished cleanly |
//! | 1 | finished, but something was skipped or failed (see the output) |
//! | 2 | usage, configuration or data error: fix it, do not retry |
//! | 3 | the environment failed (I/O, a busy lake): safe to retry |

use crate::error::{Error, Fault};
use crate::models::ModelError;
use crate::sample::SampleError;

/// How a successful command ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Clean,
    /// Finished, but something was skipped or failed (exit code 1).
    Partial,
}

/// Every way a command can fail, as the CLI edge sees it.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Lib(#[from] Error),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Sample(#[from] SampleError),
}

pub const CLEAN: u8 = 0;
pub const PARTIAL: u8 = 1;
pub const PERMANENT: u8 = 2;
pub const TRANSIENT: u8 = 3;

/// The process exit code of a command's result.
pub fn code(result: &Result<Outcome, Failure>) -> u8 {
    match result {
        Ok(Outcome::Clean) => CLEAN,
        Ok(Outcome::Partial) => PARTIAL,
        Err(failure) => match fault(failure) {
            Fault::Permanent => PERMANENT,
            Fault::Transient => TRANSIENT,
        },
    }
}

fn fault(failure: &Failure) -> Fault {
    match failure {
        Failure::Lib(err) => err.fault(),
        Failure::Model(err) => match err {
            ModelError::Dir { source, .. } | ModelError::Read { source, .. } => {
                crate::error::io_fault(source)
            }
            ModelError::Empty { .. }
            | ModelError::Parse { .. }
            | ModelError::Invalid { .. }
            | ModelError::Sensitivity { .. }
            | ModelError::Duplicate { .. } => Fault::Permanent,
        },
        Failure::Sample(err) => match err {
            SampleError::InvalidOptions { .. } | SampleError::Manifest { .. } => Fault::Permanent,
            SampleError::Io { source, .. } => crate::error::io_fault(source),
            SampleError::Parquet { source, .. } => crate::error::polars_fault(source),
            SampleError::Lake { source, .. } => source.fault(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permanent_fault_never_exits_retry() {
        let missing = Failure::Lib(Error::LakeNotFound {
            path: "/nowhere".into(),
        });
        assert_eq!(code(&Err(missing)), PERMANENT);
        let busy = Failure::Lib(Error::IngestBusy {
            lake: "/lake".into(),
        });
        assert_eq!(code(&Err(busy)), TRANSIENT);
        // Files that each read alone but not together: not their bytes.
        let together = Failure::Lib(Error::Unattributed {
            doing: "reading partition dt=2026-11-04".into(),
            source: polars::prelude::PolarsError::ComputeError("out of memory".into()),
        });
        assert_eq!(code(&Err(together)), TRANSIENT);
        let model = Failure::Model(ModelError::Empty {
            path: "models".into(),
        });
        assert_eq!(code(&Err(model)), PERMANENT);
        assert_eq!(code(&Ok(Outcome::Partial)), PARTIAL);
    }
}
