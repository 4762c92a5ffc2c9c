//! Finding input files, decompressing them, and framing their records.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use flate2::read::MultiGzDecoder;

use super::{Adapter, Normalised, Outcome, Quarantined, Stamp};
use crate::error::{Error, Result};
use crate::lake::Location;

/// A file to ingest, with what the manifest remembers of it.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub location: Location,
    pub size: u64,
    /// Bytes once decompressed (a gzip's trailer says it), for batching.
    pub json_bytes: u64,
    /// Seconds since the epoch.
    pub modified: i64,
}

/// How a platform lays records out in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One JSON record per line.
    Lines,
    /// A `{"Records":[...]}` document, a JSON array of records, a single
    /// record, or JSON lines: whichever the file holds.
    Document,
}

/// The longest line or record kept; longer ones are quarantined (audit
/// events carrying whole objects stay far below this).
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// Which delivery days to read: `YYYY/MM/DD` folders (CloudTrail's S3
/// layout, at any depth: `AWSLogs/<account>/CloudTrail/<region>/` or an
/// organisation trail's `AWSLogs/<org>/<account>/...`) outside the range are
/// neither listed nor read. Files outside such folders are always read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Days {
    pub since: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
}

/// Gzip shrinks audit JSON about this much; an S3 object's size times this
/// stands in for its JSON size when batching (reading its trailer would
/// cost a request per file).
const GZIP_RATIO: u64 = 10;

/// What `discover` found.
pub struct Found {
    pub files: Vec<InputFile>,
    /// The latest `YYYY/MM/DD` folder listed, for the next ingest's start.
    pub latest_day: Option<NaiveDate>,
}

/// Every regular file under `inputs` (folders recursively, hidden entries
/// skipped, day folders outside `days` pruned), sorted so a run reads them
/// in a stable order.
pub fn discover(inputs: &[Location], days: Days) -> Result<Found> {
    let mut found = Found {
        files: Vec::new(),
        latest_day: None,
    };
    for input in inputs {
        let before = found.files.len();
        match input {
            Location::Local(path) => {
                let meta = std::fs::metadata(path)
                    .map_err(|_| Error::InputNotFound { path: path.clone() })?;
                if meta.is_dir() {
                    walk(input, days, Level::Any, &mut found)?;
                } else {
                    found.files.push(local_file(path.clone(), &meta));
                }
            }
            Location::S3 { store, bucket, key } => {
                walk(input, days, Level::Any, &mut found)?;
                // A folder with nothing in the days asked is not an error.
                if found.files.len() > before || input.is_dir()? {
                    continue;
                }
                // The key may name one object rather than a folder.
                let Some(head) = store.block_on(store.head(bucket, key))? else {
                    return Err(Error::InputNotFound {
                        path: input.as_path(),
                    });
                };
                found
                    .files
                    .push(remote_file(input.clone(), head.size, head.modified));
            }
        }
    }
    let key = |f: &InputFile| f.location.to_string();
    found.files.sort_by_key(key);
    found.files.dedup_by(|a, b| a.location == b.location);
    Ok(found)
}

/// Where a walk is in a `YYYY/MM/DD` tree.
#[derive(Debug, Clone, Copy)]
enum Level {
    Any,
    Year(i32),
    Month(i32, u32),
}

/// Whether a folder name continues a date path inside `days`: the next
/// level, `None` to prune it, or `Some(Level::Any)` for an ordinary folder.
fn descend(level: Level, name: &str, days: Days, found: &mut Found) -> Option<Level> {
    let number = |digits: usize| {
        (name.len() == digits && name.bytes().all(|b| b.is_ascii_digit()))
            .then(|| name.parse::<u32>().ok())
            .flatten()
    };
    let inside = |first: NaiveDate, last: NaiveDate| {
        days.since.is_none_or(|s| last >= s) && days.until.is_none_or(|u| first <= u)
    };
    // Below a year, two digits that make no month or day are pruned too.
    match (level, number(4), number(2)) {
        (Level::Any, Some(y), _) => {
            let first = NaiveDate::from_ymd_opt(y as i32, 1, 1)?;
            let last = NaiveDate::from_ymd_opt(y as i32, 12, 31)?;
            inside(first, last).then_some(Level::Year(y as i32))
        }
        (Level::Year(y), _, Some(m)) => {
            let first = NaiveDate::from_ymd_opt(y, m, 1)?;
            let last = first
                .checked_add_months(chrono::Months::new(1))?
                .pred_opt()?;
            inside(first, last).then_some(Level::Month(y, m))
        }
        (Level::Month(y, m), _, Some(d)) => {
            let day = NaiveDate::from_ymd_opt(y, m, d).filter(|day| inside(*day, *day))?;
            // Only days read count: a day left out by --until must be read
            // by the next ingest.
            found.latest_day = found.latest_day.max(Some(day));
            Some(Level::Any)
        }
        _ => Some(Level::Any),
    }
}

/// Folders a delivery bucket holds beside the records: CloudTrail's digest
/// files (log-file validation) are not records, and are not read.
const NOT_RECORDS: [&str; 1] = ["CloudTrail-Digest"];

fn walk(dir: &Location, days: Days, level: Level, found: &mut Found) -> Result<()> {
    let Some((files, dirs)) = dir.list_level()? else {
        return Ok(());
    };
    for sub in dirs {
        if NOT_RECORDS.contains(&sub.file_name().as_str()) {
            tracing::debug!(folder = %sub, "Not reading a folder of digest files.");
            continue;
        }
        if let Some(next) = descend(level, &sub.file_name(), days, found) {
            walk(&sub, days, next, found)?;
        }
    }
    for entry in files {
        let file = match entry.location {
            Location::Local(path) => {
                let meta = std::fs::metadata(&path).map_err(|source| Error::ReadInput {
                    path: path.clone(),
                    source,
                })?;
                local_file(path, &meta)
            }
            remote => remote_file(remote, entry.size, entry.modified),
        };
        found.files.push(file);
    }
    Ok(())
}

fn remote_file(location: Location, size: u64, modified: i64) -> InputFile {
    let gzip = location.file_name().ends_with(".gz");
    InputFile {
        json_bytes: if gzip { size * GZIP_RATIO } else { size },
        location,
        size,
        modified,
    }
}

fn local_file(path: PathBuf, meta: &std::fs::Metadata) -> InputFile {
    let modified = crate::lake::location::modified_secs(meta);
    InputFile {
        json_bytes: gzip_size(&path).unwrap_or(meta.len()),
        location: Location::Local(path),
        size: meta.len(),
        modified,
    }
}

/// The uncompressed size a gzip file's trailer records (mod 4 GiB; exact
/// for the single-member files shippers write), or `None` for other files.
fn gzip_size(path: &Path) -> Option<u64> {
    use std::io::{Seek, SeekFrom};
    let mut file = File::open(path).ok()?;
    let mut magic = [0u8; 2];
    file.read_exact(&mut magic).ok()?;
    if magic != [0x1f, 0x8b] {
        return None;
    }
    file.seek(SeekFrom::End(-4)).ok()?;
    let mut size = [0u8; 4];
    file.read_exact(&mut size).ok()?;
    Some(u64::from(u32::from_le_bytes(size)))
}

/// One file's bytes, decompressed: its events borrow from them, so a
/// batch reads all its files first and keeps them until it is written.
pub struct FileBytes {
    pub file: InputFile,
    bytes: Vec<u8>,
    read_problem: Option<(&'static str, String)>,
}

/// One file's bytes, decoded: `fetched` holds an S3 object's (see
/// [`fetch`]); a local file is read here.
pub fn read_file(file: &InputFile, fetched: Option<Vec<u8>>) -> FileBytes {
    let (bytes, read_problem) = match (fetched, &file.location) {
        (Some(bytes), _) => decode(bytes),
        (None, Location::Local(path)) => read_all(path),
        (None, remote) => (
            Vec::new(),
            Some(("unreadable file", format!("{remote} was not fetched"))),
        ),
    };
    FileBytes {
        file: file.clone(),
        bytes,
        read_problem,
    }
}

/// The S3 objects among `files`, fetched all at once (S3's concurrency
/// limit applies); `None` for local files. A failure here fails the ingest
/// (exit 2 or 3): quarantining the file would mark it ingested.
pub fn fetch(files: &[InputFile]) -> Result<Vec<Option<Vec<u8>>>> {
    let Some(store) = files.iter().find_map(|f| match &f.location {
        Location::S3 { store, .. } => Some(std::sync::Arc::clone(store)),
        Location::Local(_) => None,
    }) else {
        return Ok(files.iter().map(|_| None).collect());
    };
    let mut out: Vec<Option<Vec<u8>>> = files.iter().map(|_| None).collect();
    let tasks = files
        .iter()
        .enumerate()
        .filter_map(|(i, file)| match file.location.clone() {
            Location::S3 { store, bucket, key } => {
                Some(async move { (i, store.get(&bucket, &key, None).await) })
            }
            Location::Local(_) => None,
        })
        .collect();
    let fetched = store.all("reading inputs", tasks)?;
    for (i, bytes) in fetched {
        out[i] = Some(bytes?.ok_or_else(|| Error::InputNotFound {
            path: files[i].location.as_path(),
        })?);
    }
    Ok(out)
}

/// One file's records, normalised.
pub struct FileRecords<'a> {
    pub file: &'a InputFile,
    pub records: u64,
    pub events: Vec<Normalised<'a>>,
    pub skipped: BTreeMap<&'static str, u64>,
    pub quarantined: Vec<Quarantined>,
}

/// Frames one file's records and runs the adapter over them. Never fails:
/// what cannot be read is quarantined.
pub fn parse_file<'a, A: Adapter>(
    adapter: &A,
    file: &'a FileBytes,
    stamp: &'a Stamp,
) -> FileRecords<'a> {
    let mut out = FileRecords {
        file: &file.file,
        records: 0,
        events: Vec::new(),
        skipped: BTreeMap::new(),
        quarantined: Vec::new(),
    };
    let display = file.file.location.to_string();
    let mut quarantine = |position: String, class: &'static str, detail: String, bytes: &[u8]| {
        out.quarantined
            .push(Quarantined::new(&display, position, class, detail, bytes));
    };
    if let Some(problem) = &file.read_problem {
        quarantine("file".into(), problem.0, problem.1.clone(), &[]);
    }
    let records = records(&file.bytes, A::FRAMING, &mut quarantine);
    out.events.reserve(records.len());
    let mut outcomes = Vec::new();
    for (position, record) in records {
        adapter.normalise(record, stamp, &mut outcomes);
        for outcome in outcomes.drain(..) {
            out.records += 1;
            match outcome {
                Outcome::Event(n) => out.events.push(n),
                Outcome::Skip(reason) => *out.skipped.entry(reason).or_default() += 1,
                Outcome::Reject(r) => {
                    quarantine(position.to_string(), r.class, r.detail, record.as_bytes())
                }
            }
        }
    }
    out
}

/// The file's bytes, gunzipped when it is gzip.
fn read_all(path: &Path) -> (Vec<u8>, Option<(&'static str, String)>) {
    let mut bytes = Vec::new();
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return (bytes, Some(("unreadable file", e.to_string()))),
    };
    if let Err(e) = file.read_to_end(&mut bytes) {
        return (bytes, Some(("unreadable file", e.to_string())));
    }
    decode(bytes)
}

/// Gunzips `bytes` when they are gzip (by the magic number). A truncated or
/// corrupt stream keeps what decoded before the damage and reports it.
pub fn decode(bytes: Vec<u8>) -> (Vec<u8>, Option<(&'static str, String)>) {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return (bytes, None);
    }
    if let Some(plain) = whole_member(&bytes) {
        return (plain, None);
    }
    // The trailer's size field (mod 4 GiB, exact for one member) saves the
    // copies of a growing buffer.
    let trailer = bytes.len().checked_sub(4).map(|at| &bytes[at..]);
    let expected = trailer.map_or(0, |t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize);
    let mut plain = Vec::with_capacity(expected.min(bytes.len().saturating_mul(64)).min(1 << 31));
    let problem = MultiGzDecoder::new(bytes.as_slice())
        .read_to_end(&mut plain)
        .err()
        .map(|e| {
            (
                "truncated or corrupt gzip",
                format!(
                    "gzip stream broke after {} decompressed bytes: {e}",
                    plain.len()
                ),
            )
        });
    (plain, problem)
}

/// The one gzip member shippers write per file, inflated in one call:
/// libdeflate does that about twice as fast as a streaming decoder (0.15 s
/// against 0.33 s for 357 MB here). `None` for anything else (several
/// members, damage, a trailer that cannot be right): the streaming decoder
/// reads those and says what broke.
fn whole_member(bytes: &[u8]) -> Option<Vec<u8>> {
    let trailer = bytes.get(bytes.len().checked_sub(8)?..)?;
    let crc = u32::from_le_bytes(trailer[..4].try_into().ok()?);
    let size = u32::from_le_bytes(trailer[4..].try_into().ok()?) as usize;
    // Deflate expands at most 1032:1; a larger claim is damage.
    if size > bytes.len().saturating_mul(1032) {
        return None;
    }
    let mut plain = vec![0; size];
    let n = libdeflater::Decompressor::new()
        .gzip_decompress(bytes, &mut plain)
        .ok()?;
    // libdeflate reads the first member only: its size and checksum must be
    // the file's last trailer, or there is more than one member.
    (n == size && libdeflater::crc32(&plain) == crc).then_some(plain)
}

/// Where a record sits in its file, for the quarantine.
#[derive(Debug, Clone, Copy)]
pub enum Position {
    Line(usize),
    Record(usize),
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Position::Line(n) => write!(f, "line {n}"),
            Position::Record(n) => write!(f, "record {n}"),
        }
    }
}

type QuarantineFn<'q> = dyn FnMut(String, &'static str, String, &[u8]) + 'q;

/// A file's records as text; framing problems and records that are not
/// UTF-8 go to `quarantine`. The file is checked as a whole once, so the
/// JSON parser need not check every string again.
pub fn records<'b>(
    bytes: &'b [u8],
    framing: Framing,
    quarantine: &mut QuarantineFn<'_>,
) -> Vec<(Position, &'b str)> {
    let whole = std::str::from_utf8(bytes).ok();
    let framed = frame(bytes, framing, quarantine);
    let mut out = Vec::with_capacity(framed.len());
    for (position, record) in framed {
        let start = record.as_ptr() as usize - bytes.as_ptr() as usize;
        let text = whole
            .and_then(|w| w.get(start..start + record.len()))
            .map_or_else(|| std::str::from_utf8(record), Ok);
        match text {
            Ok(text) => out.push((position, text)),
            Err(e) => quarantine(
                position.to_string(),
                "not UTF-8",
                format!("JSON must be UTF-8: {e}"),
                record,
            ),
        }
    }
    out
}

/// Splits a file into records; framing problems go to `quarantine`.
fn frame<'b>(
    bytes: &'b [u8],
    framing: Framing,
    quarantine: &mut QuarantineFn<'_>,
) -> Vec<(Position, &'b [u8])> {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let body = bytes[start..]
        .strip_prefix(b"\xEF\xBB\xBF")
        .unwrap_or(&bytes[start..]);
    if framing == Framing::Document {
        let offset = body.as_ptr() as usize - bytes.as_ptr() as usize;
        let spans = |spans: Vec<Range<usize>>| -> Vec<(Position, &'b [u8])> {
            spans
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    (
                        Position::Record(i + 1),
                        &bytes[offset + r.start..offset + r.end],
                    )
                })
                .collect()
        };
        if body.starts_with(b"[") {
            return match array_elements(body) {
                Some((elements, end)) if body[end..].trim_ascii().is_empty() => spans(elements),
                _ => {
                    quarantine(
                        "file".into(),
                        "malformed JSON",
                        "not a complete JSON array of records".into(),
                        body,
                    );
                    Vec::new()
                }
            };
        }
        match single_object(body) {
            Some(Ok(Some(records))) => return spans(records),
            Some(Ok(None)) => return vec![(Position::Record(1), body)],
            Some(Err(reason)) => {
                quarantine(
                    "file".into(),
                    "wrong type or malformed JSON",
                    reason.into(),
                    body,
                );
                return Vec::new();
            }
            // More than one value: JSON lines.
            None => {}
        }
    }
    lines(bytes, quarantine)
}

/// Walks JSON structure without building values: strings (with escapes)
/// and nesting only. Adapters parse each record and report what is wrong
/// inside it.
struct Scanner<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl Scanner<'_> {
    fn skip_ws(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    /// Moves past one value (the cursor sits on its first byte); `None`
    /// when the input ends inside it.
    fn skip_value(&mut self) -> Option<()> {
        match *self.bytes.get(self.at)? {
            b',' | b':' | b']' | b'}' => None,
            b'"' => {
                self.at += 1;
                self.skip_string_body()
            }
            b'[' | b'{' => self.skip_container(),
            _ => {
                // A scalar runs to the next delimiter or space.
                let rest = &self.bytes[self.at..];
                self.at += rest
                    .iter()
                    .position(|b| matches!(b, b',' | b']' | b'}') || b.is_ascii_whitespace())
                    .unwrap_or(rest.len());
                Some(())
            }
        }
    }

    /// Moves past an array or object, jumping from one quote or bracket to
    /// the next: nothing else changes the nesting.
    fn skip_container(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            let rest = self.bytes.get(self.at..)?;
            let i = rest
                .iter()
                .position(|b| matches!(b, b'"' | b'[' | b'{' | b']' | b'}'))?;
            self.at += i + 1;
            match rest[i] {
                b'"' => self.skip_string_body()?,
                b'[' | b'{' => depth += 1,
                _ => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(());
                    }
                }
            }
        }
    }

    /// After an opening quote: moves past the closing one.
    fn skip_string_body(&mut self) -> Option<()> {
        loop {
            let rest = self.bytes.get(self.at..)?;
            let i = memchr::memchr2(b'"', b'\\', rest)?;
            if rest[i] == b'"' {
                self.at += i + 1;
                return Some(());
            }
            self.at += i + 2;
        }
    }
}

/// The byte ranges of the elements of the array `bytes` starts with, and
/// where the array ends; `None` when it is cut off or malformed.
fn array_elements(bytes: &[u8]) -> Option<(Vec<Range<usize>>, usize)> {
    let mut s = Scanner { bytes, at: 1 };
    let mut elements = Vec::new();
    s.skip_ws();
    if bytes.get(s.at) == Some(&b']') {
        return Some((elements, s.at + 1));
    }
    loop {
        s.skip_ws();
        let start = s.at;
        s.skip_value()?;
        elements.push(start..s.at);
        s.skip_ws();
        match *bytes.get(s.at)? {
            b',' => s.at += 1,
            b']' => return Some((elements, s.at + 1)),
            _ => return None,
        }
    }
}

/// For a file holding exactly one JSON object: the spans of its `Records`
/// array (`Ok(Some)`), or `Ok(None)` when it has none (the object is one
/// record). `None` when the file is not one object (JSON lines, or cut off).
fn single_object(bytes: &[u8]) -> Option<Result<Option<Vec<Range<usize>>>, &'static str>> {
    if !bytes.starts_with(b"{") {
        return None;
    }
    let mut s = Scanner { bytes, at: 1 };
    let mut records = None;
    loop {
        s.skip_ws();
        match *bytes.get(s.at)? {
            b'}' => {
                s.at += 1;
                break;
            }
            b',' => {
                s.at += 1;
                continue;
            }
            b'"' => {}
            _ => return None,
        }
        let key_start = s.at;
        s.at += 1;
        s.skip_string_body()?;
        let key = &bytes[key_start..s.at];
        s.skip_ws();
        if bytes.get(s.at) != Some(&b':') {
            return None;
        }
        s.at += 1;
        s.skip_ws();
        let value_start = s.at;
        if key == b"\"Records\"" {
            if bytes.get(value_start) != Some(&b'[') {
                return Some(Err("`Records` is not an array"));
            }
            let (elements, end) = array_elements(&bytes[value_start..])?;
            records = Some(
                elements
                    .into_iter()
                    .map(|r| r.start + value_start..r.end + value_start)
                    .collect(),
            );
            s.at = value_start + end;
        } else {
            s.skip_value()?;
        }
    }
    bytes[s.at..].trim_ascii().is_empty().then_some(Ok(records))
}

fn lines<'b>(bytes: &'b [u8], quarantine: &mut QuarantineFn<'_>) -> Vec<(Position, &'b [u8])> {
    let mut out = Vec::new();
    let ends = memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len()));
    let mut start = 0;
    for (i, end) in ends.enumerate() {
        let line = bytes[start..end].trim_ascii();
        start = (end + 1).min(bytes.len());
        if line.is_empty() {
            continue;
        }
        if line.len() > MAX_RECORD_BYTES {
            quarantine(
                Position::Line(i + 1).to_string(),
                "record too large",
                format!(
                    "{} bytes; records over {MAX_RECORD_BYTES} bytes are not read",
                    line.len()
                ),
                line,
            );
            continue;
        }
        out.push((Position::Line(i + 1), line));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The day folders `days` lets a walk into, and the latest it records.
    fn walked(days: Days) -> (Vec<String>, Option<NaiveDate>) {
        let mut found = Found {
            files: Vec::new(),
            latest_day: None,
        };
        let mut entered = Vec::new();
        for year in ["2025", "2026"] {
            let Some(y) = descend(Level::Any, year, days, &mut found) else {
                continue;
            };
            for month in ["01", "10", "11", "12"] {
                let Some(m) = descend(y, month, days, &mut found) else {
                    continue;
                };
                for day in ["01", "09", "10", "11", "30", "31"] {
                    if descend(m, day, days, &mut found).is_some() {
                        entered.push(format!("{year}/{month}/{day}"));
                    }
                }
            }
        }
        (entered, found.latest_day)
    }

    #[test]
    fn day_folders_outside_since_and_until_are_pruned_and_not_remembered() {
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        let (entered, latest) = walked(Days {
            since: Some(day("2026-11-10")),
            until: Some(day("2026-11-30")),
        });
        assert_eq!(entered, ["2026/11/10", "2026/11/11", "2026/11/30"]);
        // Not 2026-12-31, which --until kept out: the next ingest reads it.
        assert_eq!(latest, Some(day("2026-11-30")));
        let (all, latest) = walked(Days::default());
        // Every real day; 31 November is no day.
        assert_eq!(all.len(), 2 * 4 * 6 - 2, "{all:?}");
        assert!(!all.contains(&"2026/11/31".to_owned()));
        assert_eq!(latest, Some(day("2026-12-31")));
        // An ordinary folder name is walked into whatever the days.
        let mut found = Found {
            files: Vec::new(),
            latest_day: None,
        };
        assert!(matches!(
            descend(
                Level::Any,
                "us-east-1",
                Days {
                    since: Some(day("2030-01-01")),
                    until: None
                },
                &mut found
            ),
            Some(Level::Any)
        ));
    }

    fn framed(text: &str) -> (Vec<String>, usize) {
        let mut quarantined = 0;
        let mut count = |_: String, _: &'static str, _: String, _: &[u8]| quarantined += 1;
        let records = frame(text.as_bytes(), Framing::Document, &mut count)
            .into_iter()
            .map(|(_, r)| String::from_utf8(r.to_vec()).unwrap())
            .collect();
        (records, quarantined)
    }

    fn gzip(text: &str) -> Vec<u8> {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn gzip_with_one_member_several_members_or_damage_decodes_to_all_that_is_there() {
        let one = gzip("{\"a\":1}\n");
        assert_eq!(decode(one.clone()), (b"{\"a\":1}\n".to_vec(), None));
        // Two members of the same length: the last trailer alone cannot tell.
        let two = [one.clone(), gzip("{\"a\":2}\n")].concat();
        assert_eq!(decode(two).0, b"{\"a\":1}\n{\"a\":2}\n");
        let (kept, problem) = decode(one[..one.len() - 3].to_vec());
        assert_eq!(kept, b"{\"a\":1}\n");
        assert_eq!(problem.unwrap().0, "truncated or corrupt gzip");
        // A trailer claiming 4 GiB from a few bytes reserves no 4 GiB.
        let mut forged = one.clone();
        let at = forged.len() - 4;
        forged[at..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(forged).1.unwrap().0, "truncated or corrupt gzip");
    }

    #[test]
    fn a_line_that_is_not_utf8_is_quarantined_alone_with_its_line_number() {
        let bytes = b"{\"a\":\"caf\xc3\xa9\"}\n{\"a\":\"\xff\"}\n{\"a\":3}\n";
        let mut problems = Vec::new();
        let mut quarantine = |position: String, class: &'static str, _: String, _: &[u8]| {
            problems.push(format!("{position}: {class}"))
        };
        let kept: Vec<(String, &str)> = records(bytes, Framing::Lines, &mut quarantine)
            .into_iter()
            .map(|(p, r)| (p.to_string(), r))
            .collect();
        assert_eq!(
            kept,
            [
                ("line 1".to_owned(), "{\"a\":\"café\"}"),
                ("line 3".to_owned(), "{\"a\":3}")
            ]
        );
        assert_eq!(problems, ["line 2: not UTF-8"]);
    }

    #[test]
    fn a_delivery_file_frames_into_its_records_untouched() {
        let doc = r#" {"Records": [{"a":"x]\"}"} , {"b":[1,{"c":null}]},7 ],"digest":"[{"} "#;
        assert_eq!(
            framed(doc),
            (
                vec![
                    r#"{"a":"x]\"}"}"#.to_owned(),
                    r#"{"b":[1,{"c":null}]}"#.to_owned(),
                    "7".to_owned()
                ],
                0
            )
        );
    }

    #[test]
    fn arrays_single_objects_and_json_lines_are_all_read() {
        assert_eq!(framed(r#"[{"a":1},{"b":2}]"#).0.len(), 2);
        assert_eq!(framed("[]").0.len(), 0);
        assert_eq!(framed(r#"{"eventName":"x"}"#).0, [r#"{"eventName":"x"}"#]);
        assert_eq!(framed("{\"a\":1}\n{\"a\":2}\n").0.len(), 2);
    }

    #[test]
    fn cut_off_or_malformed_documents_are_quarantined_not_half_read() {
        assert_eq!(framed(r#"[{"a":1},{"b":"#), (vec![], 1));
        assert_eq!(framed(r#"[,{"a":1}]"#), (vec![], 1));
        assert_eq!(framed(r#"{"Records": {"a":1}}"#), (vec![], 1));
        // A cut-off Records document is one unreadable record, not a silent zero.
        let (records, _) = framed(r#"{"Records": [{"a":1},"#);
        assert_eq!(records.len(), 1);
    }
}
