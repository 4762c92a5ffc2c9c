//! Where a lake, an input or a result folder lives: a local folder, or a
//! prefix in an S3 bucket (`s3://bucket/prefix`). Below a location, names
//! are `/`-separated keys whatever the platform; ingest, the pipeline and
//! eval reach storage only through these operations.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use polars::prelude::*;

use super::s3::{Condition, S3Settings, S3Usage, S3};
use super::write::{atomic_write, write_parquet};
use crate::error::{io_fault, Error, Fault, Result};

const S3_SCHEME: &str = "s3://";

/// A local path or an S3 prefix.
#[derive(Clone)]
pub enum Location {
    Local(PathBuf),
    S3 {
        store: Arc<S3>,
        bucket: String,
        /// No leading or trailing `/`; empty for the bucket's root.
        key: String,
    },
}

/// A file found by a listing.
#[derive(Debug, Clone)]
pub struct Entry {
    pub location: Location,
    pub size: u64,
    /// On S3, the object's ETag: reads of its parts ask for this version.
    pub etag: Option<String>,
    /// Last modified, seconds since the epoch.
    pub modified: i64,
}

/// Turns command-line paths into locations; builds the S3 client once, on
/// the first `s3://` path.
#[derive(Debug, Default)]
pub struct Storage {
    settings: S3Settings,
    s3: OnceLock<Arc<S3>>,
}

impl Storage {
    pub fn new(settings: S3Settings) -> Storage {
        Storage {
            settings,
            s3: OnceLock::new(),
        }
    }

    /// `s3://bucket/prefix` or a local path; `arg` names the flag in errors.
    pub fn location(&self, path: &Path, arg: &'static str) -> Result<Location> {
        let Some(url) = path.to_str().and_then(|p| p.strip_prefix(S3_SCHEME)) else {
            return Ok(Location::Local(path.to_path_buf()));
        };
        let (bucket, key) = url.split_once('/').unwrap_or((url, ""));
        if bucket.is_empty() || bucket.contains(char::is_whitespace) {
            return Err(Error::InvalidArgument {
                arg,
                reason: format!(
                    "{} has no bucket name; write s3://BUCKET/PREFIX",
                    path.display()
                ),
            });
        }
        let store = self
            .s3
            .get_or_init(|| S3::new(self.settings.clone()))
            .clone();
        Ok(Location::S3 {
            store,
            bucket: bucket.to_owned(),
            key: key.trim_matches('/').to_owned(),
        })
    }

    /// What this process asked of S3, if it used S3.
    pub fn usage(&self) -> Option<S3Usage> {
        self.s3.get().map(|s3| s3.usage())
    }
}

impl From<&Path> for Location {
    fn from(path: &Path) -> Location {
        Location::Local(path.to_path_buf())
    }
}

impl From<PathBuf> for Location {
    fn from(path: PathBuf) -> Location {
        Location::Local(path)
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(path) => write!(f, "{}", path.display()),
            Location::S3 { bucket, key, .. } => write!(f, "{S3_SCHEME}{bucket}/{key}"),
        }
    }
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

impl PartialEq for Location {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl serde::Serialize for Location {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Listings leave out hidden names: temporary files, `_latest.json`'s
/// siblings in the making.
fn hidden(name: &str) -> bool {
    name.starts_with('.')
}

impl Location {
    /// `name` (which may hold `/`) below this location.
    pub fn join(&self, name: &str) -> Location {
        match self {
            Location::Local(path) => Location::Local(path.join(name)),
            Location::S3 { store, bucket, key } => Location::S3 {
                store: Arc::clone(store),
                bucket: bucket.clone(),
                key: if key.is_empty() {
                    name.trim_matches('/').to_owned()
                } else {
                    format!("{key}/{}", name.trim_matches('/'))
                },
            },
        }
    }

    /// The folder holding this file (itself, at a root).
    pub fn parent(&self) -> Location {
        match self {
            Location::Local(path) => Location::Local(
                path.parent()
                    .map_or_else(|| path.clone(), Path::to_path_buf),
            ),
            Location::S3 { key, .. } => {
                let parent = key.rsplit_once('/').map_or("", |(dir, _)| dir);
                self.sibling_key(parent)
            }
        }
    }

    /// The last part of the path or key.
    pub fn file_name(&self) -> String {
        match self {
            Location::Local(path) => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Location::S3 { key, .. } => key.rsplit('/').next().unwrap_or_default().to_owned(),
        }
    }

    /// What this process asked of S3 so far, for a location on S3.
    pub fn s3_usage(&self) -> Option<S3Usage> {
        match self {
            Location::Local(_) => None,
            Location::S3 { store, .. } => Some(store.usage()),
        }
    }

    pub fn local_path(&self) -> Option<&Path> {
        match self {
            Location::Local(path) => Some(path),
            Location::S3 { .. } => None,
        }
    }

    /// As a path, for errors that name one.
    pub fn as_path(&self) -> PathBuf {
        PathBuf::from(self.to_string())
    }

    /// The files directly in this folder, hidden ones left out, sorted by
    /// name; `None` when there is no such folder.
    pub fn list_files(&self) -> Result<Option<Vec<Entry>>> {
        Ok(self.list_level()?.map(|(files, _)| files))
    }

    /// The folders directly in this one, sorted by name.
    pub fn list_dirs(&self) -> Result<Vec<Location>> {
        Ok(self.list_level()?.map(|(_, dirs)| dirs).unwrap_or_default())
    }

    /// The files and the folders directly in this folder (one listing on
    /// S3), hidden ones left out, each sorted by name; `None` when there is
    /// no such folder.
    pub fn list_level(&self) -> Result<Option<(Vec<Entry>, Vec<Location>)>> {
        match self {
            Location::Local(dir) => {
                let Some(files) = list_local(dir, false)? else {
                    return Ok(None);
                };
                let dirs = list_local(dir, true)?.unwrap_or_default();
                Ok(Some((
                    files.into_iter().map(Entry::local).collect(),
                    dirs.into_iter()
                        .map(|(path, _)| Location::Local(path))
                        .collect(),
                )))
            }
            Location::S3 { store, bucket, key } => {
                let listing = store.block_on(store.list(bucket, &folder(key), false))?;
                Ok(self.level(listing))
            }
        }
    }

    /// The files of each folder (see [`list_files`](Self::list_files)); on
    /// S3 all folders are listed at once.
    pub fn list_files_of(dirs: &[Location]) -> Result<Vec<Option<Vec<Entry>>>> {
        let Some(Location::S3 { store, .. }) = dirs.iter().find(|d| d.local_path().is_none())
        else {
            return dirs.iter().map(Location::list_files).collect();
        };
        let tasks = dirs
            .iter()
            .enumerate()
            .filter_map(|(i, dir)| match dir.clone() {
                Location::S3 { store, bucket, key } => {
                    Some(async move { (i, store.list(&bucket, &folder(&key), false).await) })
                }
                Location::Local(_) => None,
            })
            .collect();
        let listed = store.all("listing", tasks)?;
        let mut out: Vec<Option<Vec<Entry>>> = dirs.iter().map(|_| None).collect();
        for (i, listing) in listed {
            out[i] = dirs[i].level(listing?).map(|(files, _)| files);
        }
        Ok(out)
    }

    /// One level of an S3 listing as files and folders, hidden ones left
    /// out, each sorted by name; `None` when it is empty.
    fn level(&self, listing: super::s3::Listing) -> Option<(Vec<Entry>, Vec<Location>)> {
        if listing.objects.is_empty() && listing.prefixes.is_empty() {
            return None;
        }
        let mut files: Vec<Entry> = listing
            .objects
            .into_iter()
            .filter(|o| !o.key.ends_with('/'))
            .map(|o| self.entry(o))
            .filter(|e| !hidden(&e.location.file_name()))
            .collect();
        files.sort_by_key(|e| e.location.file_name());
        let mut dirs: Vec<Location> = listing
            .prefixes
            .iter()
            .map(|p| self.sibling_key(p.trim_end_matches('/')))
            .filter(|d| !hidden(&d.file_name()))
            .collect();
        dirs.sort_by_key(|d| d.file_name());
        Some((files, dirs))
    }

    /// Every file below this folder, at any depth, sorted by key.
    pub fn list_recursive(&self) -> Result<Vec<Entry>> {
        match self {
            Location::Local(dir) => {
                let mut out = Vec::new();
                walk_local(dir, &mut out)?;
                out.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(out.into_iter().map(Entry::local).collect())
            }
            Location::S3 { store, bucket, key } => {
                let listing = store.block_on(store.list(bucket, &folder(key), true))?;
                Ok(listing
                    .objects
                    .into_iter()
                    .filter(|o| !o.key.ends_with('/'))
                    .map(|o| self.entry(o))
                    .collect())
            }
        }
    }

    fn entry(&self, listed: super::s3::Listed) -> Entry {
        Entry {
            location: self.sibling_key(&listed.key),
            size: listed.size,
            etag: listed.etag,
            modified: listed.modified,
        }
    }

    /// A location in the same bucket at the absolute `key`.
    fn sibling_key(&self, key: &str) -> Location {
        match self {
            Location::Local(_) => self.clone(),
            Location::S3 { store, bucket, .. } => Location::S3 {
                store: Arc::clone(store),
                bucket: bucket.clone(),
                key: key.to_owned(),
            },
        }
    }

    /// Whether the folder exists (locally) or holds any object (on S3). A
    /// missing bucket is an error, not `false`.
    pub fn is_dir(&self) -> Result<bool> {
        match self {
            Location::Local(path) => Ok(path.is_dir()),
            Location::S3 { store, bucket, key } => {
                let listing = store.block_on(store.list_one(bucket, &folder(key)))?;
                Ok(listing)
            }
        }
    }

    /// Whether the file exists.
    pub fn exists(&self) -> Result<bool> {
        match self {
            Location::Local(path) => Ok(path.is_file()),
            Location::S3 { store, bucket, key } => {
                Ok(store.block_on(store.head(bucket, key))?.is_some())
            }
        }
    }

    /// The whole file; `None` when there is none.
    pub fn read(&self) -> Result<Option<Vec<u8>>> {
        match self {
            Location::Local(path) => match std::fs::read(path) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(Error::Read {
                    path: path.clone(),
                    source,
                }),
            },
            Location::S3 { store, bucket, key } => store.block_on(store.get(bucket, key, None)),
        }
    }

    /// Writes the file so that no reader sees half of it.
    pub fn write(&self, bytes: Vec<u8>) -> Result<()> {
        match self {
            Location::Local(path) => atomic_write(path, |file| {
                use std::io::Write;
                file.write_all(&bytes).map_err(|source| Error::Write {
                    path: path.clone(),
                    source,
                })
            }),
            Location::S3 { store, bucket, key } => store
                .block_on(store.put(bucket, key, bytes, Condition::Always))
                .map(|_| ()),
        }
    }

    /// Writes a frame as the lake's Parquet (see [`write_parquet`]); on S3
    /// through a local temporary file, so the bytes are the same.
    pub fn write_parquet(&self, df: &DataFrame) -> Result<()> {
        match self {
            Location::Local(path) => write_parquet(path, df),
            Location::S3 { .. } => {
                let tmp = TempFile::new("parquet");
                write_parquet(&tmp.0, df)?;
                let bytes = std::fs::read(&tmp.0).map_err(|source| Error::Read {
                    path: tmp.0.clone(),
                    source,
                })?;
                self.write(bytes)
            }
        }
    }

    /// A whole Parquet file lakehound wrote (findings, scores).
    pub fn read_parquet(&self) -> Result<DataFrame> {
        let failed = |source| Error::ReadFindings {
            path: self.as_path(),
            source,
        };
        match self {
            Location::Local(path) => std::fs::File::open(path)
                .map_err(PolarsError::from)
                .and_then(|f| ParquetReader::new(f).finish())
                .map_err(failed),
            Location::S3 { .. } => {
                let bytes = self.read()?.ok_or_else(|| {
                    failed(PolarsError::IO {
                        error: Arc::new(std::io::Error::from(std::io::ErrorKind::NotFound)),
                        msg: None,
                    })
                })?;
                ParquetReader::new(std::io::Cursor::new(bytes))
                    .finish()
                    .map_err(failed)
            }
        }
    }

    /// Removes the file; one already gone is not an error.
    pub fn delete(&self) -> Result<()> {
        match self {
            Location::Local(path) => match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Write {
                    path: path.clone(),
                    source: e,
                }),
                _ => Ok(()),
            },
            Location::S3 { store, bucket, key } => store.block_on(store.delete(bucket, key)),
        }
    }
}

/// `key/`, the prefix of the objects inside the folder `key`.
fn folder(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("{key}/")
    }
}

impl Entry {
    fn local((path, meta): (PathBuf, std::fs::Metadata)) -> Entry {
        Entry {
            modified: modified_secs(&meta),
            location: Location::Local(path),
            size: meta.len(),
            etag: None,
        }
    }
}

/// A local file's modification time, seconds since the epoch (0 if unknown).
pub fn modified_secs(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

/// Files (or folders, with `dirs`) directly in `dir`, hidden ones left out.
fn list_local(dir: &Path, dirs: bool) -> Result<Option<Vec<(PathBuf, std::fs::Metadata)>>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    let failed = |source| Error::ListPartitions {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(failed)? {
        let entry = entry.map_err(failed)?;
        let name = entry.file_name();
        if hidden(&name.to_string_lossy()) {
            continue;
        }
        let meta = match entry.metadata() {
            Ok(meta) => meta,
            // Gone between the listing and now (a rename).
            Err(e) if io_fault(&e) == Fault::Permanent => continue,
            Err(source) => return Err(failed(source)),
        };
        if meta.is_dir() == dirs {
            out.push((entry.path(), meta));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(Some(out))
}

fn walk_local(dir: &Path, out: &mut Vec<(PathBuf, std::fs::Metadata)>) -> Result<()> {
    for (path, _) in list_local(dir, true)?.unwrap_or_default() {
        walk_local(&path, out)?;
    }
    out.extend(list_local(dir, false)?.unwrap_or_default());
    Ok(())
}

/// A file in the temporary folder, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(extension: &str) -> TempFile {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        TempFile(
            std::env::temp_dir().join(format!("lakehound-{}-{n}.{extension}", std::process::id())),
        )
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_and_paths_parse_and_join_with_slashes() {
        let storage = Storage::default();
        let lake = storage
            .location(Path::new("s3://sec-lake/prod/lake/"), "--lake")
            .unwrap();
        assert_eq!(lake.to_string(), "s3://sec-lake/prod/lake");
        assert_eq!(
            lake.join("events/dt=2026-11-02").to_string(),
            "s3://sec-lake/prod/lake/events/dt=2026-11-02"
        );
        let root = storage
            .location(Path::new("s3://sec-lake"), "--lake")
            .unwrap();
        assert_eq!(root.join("events").to_string(), "s3://sec-lake/events");
        assert!(storage.location(Path::new("s3:///x"), "--lake").is_err());
        let local = storage.location(Path::new("lake"), "--lake").unwrap();
        assert_eq!(local.local_path(), Some(Path::new("lake")));
        assert!(storage.usage().is_some(), "an s3:// path built the client");
    }

    #[test]
    fn local_listings_leave_out_hidden_files_and_tell_files_from_folders() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("window=a")).unwrap();
        std::fs::write(dir.path().join("b.parquet"), b"x").unwrap();
        std::fs::write(dir.path().join(".b.parquet.tmp-1"), b"x").unwrap();
        let here = Location::Local(dir.path().to_path_buf());
        let files = here.list_files().unwrap().unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].location.file_name(), "b.parquet");
        assert_eq!(files[0].size, 1);
        let dirs = here.list_dirs().unwrap();
        assert_eq!(dirs.len(), 1);
        assert_eq!(dirs[0].file_name(), "window=a");
        assert!(here.join("nothing").list_files().unwrap().is_none());
        assert_eq!(here.join("nothing.json").read().unwrap(), None);
    }
}
