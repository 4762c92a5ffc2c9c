//! Parquet files on S3, read by range: the footer once (at discovery), then
//! only the column chunks a scan projects. The fetched ranges are laid into
//! an anonymous memory map the size of the file, which Polars reads as an
//! in-memory Parquet file; the bytes never fetched are untouched zero pages
//! and cost no memory, and nothing goes to disk.
//!
//! One HTTP client (aws-sdk-s3) serves listing, reading and writing, so one
//! credential chain, one endpoint setting and one retry policy hold for all
//! of them; Polars' own object-store reader would be a second of each.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use polars::prelude::*;
use polars_buffer::Buffer;

use super::s3::S3;
use crate::error::{Error, Fault, Result};

/// Bytes fetched from a file's end at discovery: its footer, usually whole
/// (lakehound's own are 3-5 kB; a larger one costs a second request).
const TAIL_GUESS: u64 = 16 << 10;
/// Parquet's trailer: the footer's length (4 bytes) and `PAR1`.
const TRAILER: u64 = 8;
const MAGIC: &[u8; 4] = b"PAR1";
/// Column chunks closer than this are fetched in one request: a request
/// costs more than a few hundred kilobytes of transfer.
const MERGE_GAP: u64 = 256 << 10;

/// A Parquet object whose footer has been read.
#[derive(Debug)]
pub struct RemoteParquet {
    store: Arc<S3>,
    bucket: String,
    key: String,
    size: u64,
    /// The version listed: every read asks for it.
    etag: Option<String>,
    /// The file's last bytes, the whole footer among them.
    tail: Vec<u8>,
    /// Each top-level column's chunks, in every row group.
    chunks: BTreeMap<String, Vec<Range<u64>>>,
    /// With [`keep`](Self::keep): the last fetch and its columns, which a
    /// later scan of some of those columns reuses.
    kept: std::sync::Mutex<Option<(Vec<String>, Buffer<u8>)>>,
    keep: std::sync::atomic::AtomicBool,
}

impl RemoteParquet {
    /// Fetches and checks the footer. The inner error is a sentence saying
    /// why the object is not a usable Parquet file.
    pub async fn open(
        store: Arc<S3>,
        bucket: String,
        key: String,
        size: u64,
        etag: Option<String>,
    ) -> Result<std::result::Result<(RemoteParquet, Arc<ArrowSchema>, usize), String>> {
        if size < 2 * MAGIC.len() as u64 + TRAILER - MAGIC.len() as u64 {
            return Ok(Err(format!("{size} bytes is too small for a Parquet file")));
        }
        let (mut tail, read) = store
            .get_tail(&bucket, &key, size, TAIL_GUESS.min(size), etag.as_deref())
            .await?;
        // The version read first is the one every later read asks for (a
        // listing may not give ETags).
        let etag = etag.or(read);
        if !tail.ends_with(MAGIC) {
            return Ok(Err("not a Parquet file (no PAR1 at its end)".into()));
        }
        let at = tail.len() - TRAILER as usize;
        let footer_len = u64::from(u32::from_le_bytes(
            tail[at..at + 4].try_into().expect("four bytes"),
        ));
        let needed = footer_len + TRAILER;
        if needed + MAGIC.len() as u64 > size {
            return Ok(Err(format!(
                "its footer claims {footer_len} bytes, more than the file's {size}"
            )));
        }
        if needed > tail.len() as u64 {
            tail = store
                .get_tail(&bucket, &key, size, needed, etag.as_deref())
                .await?
                .0;
        }
        let mut file = RemoteParquet {
            store,
            bucket,
            key,
            size,
            etag,
            tail,
            chunks: BTreeMap::new(),
            kept: Default::default(),
            keep: Default::default(),
        };
        let map = match file.sparse(&[]) {
            Ok(map) => map,
            Err(e) => return Ok(Err(e)),
        };
        let mut reader = ParquetReader::new(std::io::Cursor::new(&map[..]));
        // Polars' metadata code panics on some corrupt footers (negative
        // offsets): such a file is unusable, not a crash.
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let schema = reader.schema()?;
            let rows = reader.num_rows()?;
            let mut chunks: BTreeMap<String, Vec<Range<u64>>> = BTreeMap::new();
            for group in &reader.get_metadata()?.row_groups {
                for name in schema.iter_names() {
                    if let Some(columns) = group.columns_under_root_iter(name) {
                        let ranges = chunks.entry(name.to_string()).or_default();
                        ranges.extend(columns.map(|c| c.byte_range()));
                    }
                }
            }
            PolarsResult::Ok((schema, rows, chunks))
        }));
        match read {
            Ok(Ok((schema, rows, chunks))) => {
                file.chunks = chunks;
                Ok(Ok((file, schema, rows)))
            }
            Ok(Err(e)) => Ok(Err(format!("not a readable Parquet file: {e}"))),
            Err(_) => Ok(Err(
                "not a readable Parquet file: its footer is corrupt".into()
            )),
        }
    }

    pub fn url(&self) -> String {
        super::s3::url(&self.bucket, &self.key)
    }

    /// The byte ranges holding `columns` that the tail does not already
    /// hold (all of a small file's), near ones merged.
    fn ranges(&self, columns: &[&str]) -> Vec<Range<u64>> {
        let held = self.size - self.tail.len() as u64;
        let mut ranges: Vec<Range<u64>> = columns
            .iter()
            .filter_map(|c| self.chunks.get(*c))
            .flatten()
            .filter(|r| r.end <= self.size)
            .map(|r| r.start..r.end.min(held))
            .filter(|r| r.start < r.end)
            .collect();
        ranges.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
        for r in ranges {
            match merged.last_mut() {
                Some(last) if r.start <= last.end + MERGE_GAP => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        merged
    }

    /// Keeps what the next fetch brings, for later scans of the same
    /// columns (the window's files: evidence reads them again).
    pub fn keep(&self) {
        self.keep.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The file as Polars should see it, holding the footer and the chunks
    /// of `columns`, fetched now (or kept from an earlier fetch of them);
    /// every other byte is zero.
    pub fn fetch(&self, columns: &[&str]) -> Result<Buffer<u8>> {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((held, buffer)) = kept.as_ref() {
            if columns.iter().all(|c| held.iter().any(|h| h == c)) {
                return Ok(buffer.clone());
            }
        }
        let buffer = self.fetch_now(columns)?;
        if self.keep.load(std::sync::atomic::Ordering::Relaxed) {
            *kept = Some((
                columns.iter().map(|c| (*c).to_owned()).collect(),
                buffer.clone(),
            ));
        }
        Ok(buffer)
    }

    fn fetch_now(&self, columns: &[&str]) -> Result<Buffer<u8>> {
        let ranges = self.ranges(columns);
        let got = self.store.block_on(self.store.get_ranges(
            &self.bucket,
            &self.key,
            self.etag.as_deref(),
            ranges,
        ))?;
        let map = self.sparse(&got).map_err(|reason| Error::S3 {
            doing: "reading",
            url: self.url(),
            fault: Fault::Transient,
            reason,
        })?;
        Ok(Buffer::from_owner(map))
    }

    /// An anonymous map the size of the file with the tail and `parts` in
    /// place.
    fn sparse(
        &self,
        parts: &[(Range<u64>, Vec<u8>)],
    ) -> std::result::Result<memmap2::Mmap, String> {
        let size = usize::try_from(self.size).map_err(|_| "too large to map".to_owned())?;
        let mut map = memmap2::MmapMut::map_anon(size)
            .map_err(|e| format!("cannot map {size} bytes of memory: {e}"))?;
        let tail_start = size - self.tail.len();
        map[tail_start..].copy_from_slice(&self.tail);
        for (range, bytes) in parts {
            let start = range.start as usize;
            let end = start + bytes.len();
            if end > size || bytes.len() as u64 != range.end - range.start {
                return Err(format!(
                    "asked for bytes {}..{}, got {} bytes",
                    range.start,
                    range.end,
                    bytes.len()
                ));
            }
            map[start..end].copy_from_slice(bytes);
        }
        map.make_read_only()
            .map_err(|e| format!("cannot seal the map: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_chunks_merge_into_one_request_and_far_ones_do_not() {
        let file = RemoteParquet {
            store: S3::new(Default::default()),
            bucket: "b".into(),
            key: "k".into(),
            size: 10 << 20,
            etag: None,
            tail: Vec::new(),
            kept: Default::default(),
            keep: Default::default(),
            chunks: BTreeMap::from([
                ("a".to_owned(), vec![0..100, (4 << 20)..(5 << 20)]),
                ("b".to_owned(), std::iter::once(200..300).collect()),
                ("c".to_owned(), std::iter::once(1000..2000).collect()),
            ]),
        };
        assert_eq!(file.ranges(&["a", "b"]), vec![0..300, (4 << 20)..(5 << 20)]);
        assert_eq!(file.ranges(&["c"]), vec![1000..2000]);
        assert_eq!(file.ranges(&["missing"]), Vec::<Range<u64>>::new());
        // What the footer's fetch brought is not fetched again.
        let tail_from_4_5_mib = RemoteParquet {
            tail: vec![0; (10 << 20) - (9 << 19)],
            ..file
        };
        assert_eq!(
            tail_from_4_5_mib.ranges(&["a"]),
            vec![0..100, (4 << 20)..(9 << 19)]
        );
    }
}
