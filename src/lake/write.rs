//! Writing files readers never see half of: each goes to a hidden temporary
//! sibling and is renamed into place. Parquet is written with the classic
//! Arrow types (`large_string`, `large_list`), which every reader takes;
//! Polars' newest types (`string_view`) are refused by pandas with pyarrow.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use polars::prelude::*;

use crate::error::{Error, Result};

/// The hidden sibling `path` is written through; listings skip it.
fn temporary(path: &Path) -> PathBuf {
    path.with_file_name(format!(
        ".{}.tmp-{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ))
}

/// Writes `path` through a hidden temporary sibling and a rename (creating
/// its folder): `write` fills the temporary file at the path it is given.
fn atomic_commit(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let io = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = temporary(path);
    let written =
        write(&tmp).and_then(|()| File::open(&tmp).and_then(|f| f.sync_all()).map_err(io));
    if let Err(err) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err);
    }
    std::fs::rename(&tmp, path).map_err(io)
}

/// Writes `path` atomically from an open file (see [`atomic_commit`]).
pub fn atomic_write(path: &Path, write: impl FnOnce(&mut File) -> Result<()>) -> Result<()> {
    atomic_commit(path, |tmp| {
        let mut file = File::create(tmp).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?;
        write(&mut file)
    })
}

/// Writes a frame as zstd-compressed Parquet with the classic Arrow types,
/// atomically.
pub fn write_parquet(path: &Path, df: &DataFrame) -> Result<()> {
    let failed = |source| Error::WriteParquet {
        path: path.to_path_buf(),
        source,
    };
    atomic_commit(path, |tmp| {
        let options = ParquetWriteOptions {
            compression: ParquetCompression::Zstd(None),
            compat_level: Some(CompatLevel::oldest()),
            ..Default::default()
        };
        let target = SinkTarget::Path(PlRefPath::new(tmp.to_string_lossy().as_ref()));
        df.clone()
            .lazy()
            .sink(
                SinkDestination::File { target },
                FileWriteFormat::Parquet(Arc::new(options)),
                UnifiedSinkArgs::default(),
            )
            .and_then(|lf| lf.collect_with_engine(Engine::Streaming))
            .map(|_| ())
            .map_err(failed)
    })
}
