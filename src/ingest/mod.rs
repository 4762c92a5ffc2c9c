//! `lakehound ingest`: raw platform logs into the canonical lake.
//!
//! One adapter per platform turns a record into an [`Event`] (or a counted
//! skip, or a quarantine reason); this module walks the inputs, frames their
//! records, runs the adapter over files in parallel and hands the events to
//! `store`, which writes each UTC day's partition atomically without
//! duplicates. Falco process events are attributed to the humans whose exec
//! sessions they ran in (`sessions`) before they are written.

mod cloudtrail;
mod falco;
mod gcp_audit;
mod identity;
mod input;
mod json;
mod k8s_audit;
mod lease;
mod sessions;
mod store;

use std::collections::BTreeMap;

use chrono::DateTime;
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::schema::Event;
pub use input::{Days, Framing};
pub use store::Quarantined;

/// The platforms `ingest` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    K8sAudit,
    Cloudtrail,
    GcpAudit,
    Falco,
}

impl Format {
    pub const ALL: [Format; 4] = [
        Format::K8sAudit,
        Format::Cloudtrail,
        Format::GcpAudit,
        Format::Falco,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::K8sAudit => "k8s-audit",
            Format::Cloudtrail => "cloudtrail",
            Format::GcpAudit => "gcp-audit",
            Format::Falco => "falco",
        }
    }
}

/// Facts the operator knows about the inputs, stamped on every event.
#[derive(Debug, Clone, Default)]
pub struct Stamp {
    pub cluster_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub format: Format,
    pub inputs: Vec<crate::lake::Location>,
    /// Delivery days to read; `since` defaults to the day before the last
    /// day folder the previous ingest of the same inputs listed.
    pub days: input::Days,
    pub lake: crate::lake::Location,
    pub stamp: Stamp,
}

/// An event from an adapter, with what correlation needs beyond the lake's
/// columns.
#[derive(Debug, Clone)]
pub struct Normalised<'a> {
    pub event: Event<'a>,
}

/// What became of one record.
// Outcomes pass through one reused buffer per file, so the large variant
// costs no allocation; boxing it would cost one per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Outcome<'a> {
    Event(Normalised<'a>),
    /// Not an event by design (e.g. the first stage of a K8s request);
    /// counted by reason, not quarantined.
    Skip(&'static str),
    Reject(Reject),
}

impl Outcome<'_> {
    /// The same outcome owning its event's text.
    pub fn into_owned(self) -> Outcome<'static> {
        match self {
            Outcome::Event(n) => Outcome::Event(Normalised {
                event: n.event.into_owned(),
            }),
            Outcome::Skip(reason) => Outcome::Skip(reason),
            Outcome::Reject(reject) => Outcome::Reject(reject),
        }
    }
}

/// Why a record was quarantined: a class for counting and a detail for the
/// person reading the quarantine file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub class: &'static str,
    pub detail: String,
}

impl Reject {
    pub fn missing(field: &str) -> Reject {
        Reject {
            class: "missing required field",
            detail: format!("missing {field}"),
        }
    }

    pub fn json(e: &serde_json::Error) -> Reject {
        Reject {
            class: if e.is_eof() {
                "truncated JSON"
            } else {
                "wrong type or malformed JSON"
            },
            detail: e.to_string(),
        }
    }
}

/// One platform's records to events.
pub trait Adapter: Sync {
    /// The lake's `source` value for this platform.
    const SOURCE: &'static str;
    /// How records are laid out in a file.
    const FRAMING: Framing = Framing::Lines;
    /// Pushes what became of `record` (usually one outcome; a list document
    /// gives one per item). Events borrow from `record` and `stamp`.
    fn normalise<'a>(&self, record: &'a str, stamp: &'a Stamp, out: &mut Vec<Outcome<'a>>);
}

/// Parses `record` into an adapter's typed view and normalises it; a record
/// that does not parse is quarantined with serde's reason.
pub fn parse_with<'a, T: serde::Deserialize<'a>>(
    record: &'a str,
    normalise: impl FnOnce(T) -> Outcome<'a>,
) -> Outcome<'a> {
    match serde_json::from_str::<T>(record) {
        Ok(parsed) => normalise(parsed),
        Err(e) => Outcome::Reject(Reject::json(&e)),
    }
}

/// The one outcome of one record, for the adapters' unit tests.
#[cfg(test)]
pub(crate) fn normalise_one<'a, A: Adapter>(adapter: &A, record: &'a str) -> Outcome<'a> {
    static NO_STAMP: Stamp = Stamp { cluster_id: None };
    let mut out = Vec::new();
    adapter.normalise(record, &NO_STAMP, &mut out);
    assert_eq!(out.len(), 1, "one record, one outcome");
    out.pop().unwrap()
}

/// RFC 3339 (any fraction, any offset) to microseconds since the epoch. A
/// timestamp without an offset (`2026-11-03 10:00:00.5`, as Panther exports
/// and some shippers write them) is taken as UTC.
pub fn parse_time(text: &str) -> std::result::Result<i64, Reject> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_micros());
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(text, format).ok())
        .map(|t| t.and_utc().timestamp_micros())
        .ok_or_else(|| Reject {
            class: "bad timestamp",
            detail: format!("timestamp {text:?} is neither RFC 3339 nor YYYY-MM-DD HH:MM:SS"),
        })
}

/// A 128-bit content hash as hex, for records that carry no id of their own.
pub fn content_id(bytes: &[u8]) -> String {
    use crate::hash::{fnv1a, FNV_BASIS};
    // A second, independent basis doubles the id to 128 bits.
    const SECOND_BASIS: u64 = 0x6c62_272e_07bb_0142;
    format!(
        "{:016x}{:016x}",
        fnv1a(FNV_BASIS, bytes.iter().copied()),
        fnv1a(SECOND_BASIS, bytes.iter().copied())
    )
}

/// What an ingest did, for the operator and the manifest.
#[derive(Debug, Default, Serialize)]
pub struct IngestReport {
    pub run_id: String,
    pub format: String,
    pub files_read: usize,
    /// Files the manifest says were ingested before (same path, size, time).
    pub files_already_ingested: usize,
    pub records: u64,
    pub events_written: u64,
    /// Events already in the lake or repeated in the inputs.
    pub duplicates_dropped: u64,
    /// Falco process events attributed to an exec session's user.
    pub attributed_to_sessions: u64,
    /// Falco process events already in the lake given to the exec sessions
    /// this (audit log) ingest brought.
    pub reattributed_earlier_processes: u64,
    pub skipped: BTreeMap<String, u64>,
    pub quarantined: BTreeMap<String, u64>,
    pub partitions_written: Vec<String>,
    pub quarantine_files: Vec<crate::lake::Location>,
}

impl IngestReport {
    pub fn quarantined_total(&self) -> u64 {
        self.quarantined.values().sum()
    }
}

/// Frames and normalises one file's bytes as `format` would, in memory:
/// the entry point of the fuzz harness (`benches/fuzz.rs`). Returns
/// (events, quarantined) and must never panic.
pub fn normalise_bytes(format: Format, bytes: &[u8]) -> (usize, usize) {
    fn with<A: Adapter>(adapter: &A, bytes: &[u8]) -> (usize, usize) {
        let stamp = Stamp::default();
        let mut quarantined = 0;
        let mut events = 0;
        let mut outcomes = Vec::new();
        let (bytes, problem) = input::decode(bytes.to_vec());
        quarantined += usize::from(problem.is_some());
        let mut count = |_: String, _: &'static str, _: String, _: &[u8]| quarantined += 1;
        let records = input::records(&bytes, A::FRAMING, &mut count);
        for (_, record) in records {
            adapter.normalise(record, &stamp, &mut outcomes);
        }
        for outcome in outcomes {
            match outcome {
                Outcome::Event(_) | Outcome::Skip(_) => events += 1,
                Outcome::Reject(_) => quarantined += 1,
            }
        }
        (events, quarantined)
    }
    match format {
        Format::K8sAudit => with(&k8s_audit::K8sAudit, bytes),
        Format::Cloudtrail => with(&cloudtrail::CloudTrail, bytes),
        Format::GcpAudit => with(&gcp_audit::GcpAudit, bytes),
        Format::Falco => with(&falco::Falco, bytes),
    }
}

/// Inputs read per batch (uncompressed JSON): the events of one batch are
/// written before the next is read, so memory stays flat however many files
/// go in.
const BATCH_BYTES: u64 = 256 << 20;
const BATCH_FILES: usize = 256;
/// How much work a crash may make a rerun read again.
const MANIFEST_SAVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

pub fn run(options: &IngestOptions) -> Result<IngestReport> {
    match options.format {
        Format::K8sAudit => run_with(&k8s_audit::K8sAudit, options),
        Format::Cloudtrail => run_with(&cloudtrail::CloudTrail, options),
        Format::GcpAudit => run_with(&gcp_audit::GcpAudit, options),
        Format::Falco => run_with(&falco::Falco, options),
    }
}

fn run_with<A: Adapter>(adapter: &A, options: &IngestOptions) -> Result<IngestReport> {
    let lake = &options.lake;
    if let Some(dir) = lake.local_path() {
        std::fs::create_dir_all(dir).map_err(|source| Error::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let run_id = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ").to_string();
    // One ingest per lake at a time: two would both miss each other's
    // events in the duplicate check (see `store::Lock`).
    let mut lock = store::lock(lake, &run_id)?;
    let mut manifest = store::Manifest::load(lake)?;
    let inputs_key = store::inputs_key(&options.inputs);
    let days = input::Days {
        since: options.days.since.or_else(|| {
            manifest
                .listed_through(&inputs_key)
                .and_then(|d| d.pred_opt())
        }),
        ..options.days
    };
    if let Some(since) = days.since {
        tracing::info!(%since, "Listing delivery day folders from this day on.");
    }
    let found = input::discover(&options.inputs, days)?;
    let (todo, done): (Vec<_>, Vec<_>) = found.files.into_iter().partition(|f| !manifest.has(f));
    let mut report = IngestReport {
        run_id: run_id.clone(),
        format: options.format.name().to_owned(),
        files_already_ingested: done.len(),
        ..Default::default()
    };
    let mut last_save = std::time::Instant::now();
    for (batch_no, batch) in batches(&todo).into_iter().enumerate() {
        lock.renew()?;
        let started = std::time::Instant::now();
        // Each file is parsed right after it is read, while its bytes are
        // still in cache; its events borrow them from its slot until the
        // batch is written.
        let mut contents: Vec<Option<input::FileBytes>> = batch.iter().map(|_| None).collect();
        let fetched = input::fetch(batch)?;
        let parsed: Vec<input::FileRecords> = contents
            .par_iter_mut()
            .zip(batch)
            .zip(fetched)
            .map(|((slot, file), fetched)| {
                let bytes: &input::FileBytes = slot.insert(input::read_file(file, fetched));
                input::parse_file(adapter, bytes, &options.stamp)
            })
            .collect();
        let (mut by_day, falco_events, quarantined) =
            tally(parsed, options.format, &mut report, &mut manifest);
        if let Some(mut falco_events) = falco_events {
            report.attributed_to_sessions += sessions::attribute(lake, &mut falco_events)?;
            store::add_by_day(&mut by_day, falco_events);
        }
        let parsed_ms = started.elapsed().as_millis();
        let written = store::write_events(lake, A::SOURCE, by_day, &run_id, batch_no)?;
        tracing::debug!(
            batch = batch_no,
            files = batch.len(),
            parsed_ms,
            written_ms = started.elapsed().as_millis() - parsed_ms,
            "Ingested a batch."
        );
        report.events_written += written.events;
        report.duplicates_dropped += written.duplicates;
        if options.format == Format::K8sAudit {
            let days = written
                .partitions
                .iter()
                .filter_map(|d| d.parse::<chrono::NaiveDate>().ok());
            manifest.reattribute_pending.extend(days);
        }
        report.partitions_written.extend(written.partitions);
        if let Some(path) =
            store::write_quarantine(lake, options.format, &run_id, batch_no, &quarantined)?
        {
            report.quarantine_files.push(path);
        }
        // After the partitions: a crash before a save re-reads the batches
        // since the last one next time, and the duplicate check keeps the
        // lake as it was. The save is a shortcut for reruns, not what keeps
        // the lake right, so a long backfill pays for it (a rewrite and an
        // fsync) only now and then.
        if last_save.elapsed() >= MANIFEST_SAVE_INTERVAL {
            manifest.save(lake)?;
            last_save = std::time::Instant::now();
        }
    }
    report.partitions_written.sort();
    report.partitions_written.dedup();
    if options.format == Format::K8sAudit {
        // Days recorded as pending before any manifest save, so a run that
        // dies before this pass leaves it to the next ingest of audit logs.
        let days: Vec<chrono::NaiveDate> = manifest.reattribute_pending.iter().copied().collect();
        report.reattributed_earlier_processes = sessions::reattribute(lake, &days)?;
        manifest.reattribute_pending.clear();
    }
    if let Some(day) = found.latest_day {
        manifest.listed(&inputs_key, day);
    }
    manifest.record_run(&report);
    manifest.save(lake)?;
    Ok(report)
}

/// A batch's parsed files counted into the report and the manifest, their
/// events filed by day (Falco's kept apart until their exec sessions are
/// looked up) and their quarantined records gathered.
fn tally<'a>(
    parsed: Vec<input::FileRecords<'a>>,
    format: Format,
    report: &mut IngestReport,
    manifest: &mut store::Manifest,
) -> (
    store::ByDay<'a>,
    Option<Vec<Normalised<'a>>>,
    Vec<store::Quarantined>,
) {
    let mut by_day = store::ByDay::new();
    let mut falco_events = (format == Format::Falco).then(Vec::new);
    let mut quarantined = Vec::new();
    for file in parsed {
        report.files_read += 1;
        report.records += file.records;
        for (reason, n) in &file.skipped {
            *report.skipped.entry((*reason).to_owned()).or_default() += n;
        }
        for q in &file.quarantined {
            *report.quarantined.entry(q.class.to_owned()).or_default() += 1;
        }
        manifest.add(&file, format);
        quarantined.extend(file.quarantined);
        match &mut falco_events {
            Some(falco) => falco.extend(file.events),
            None => store::add_by_day(&mut by_day, file.events),
        }
    }
    (by_day, falco_events, quarantined)
}

fn batches(files: &[input::InputFile]) -> Vec<&[input::InputFile]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (i, f) in files.iter().enumerate() {
        if i > start && (bytes + f.json_bytes > BATCH_BYTES || i - start >= BATCH_FILES) {
            out.push(&files[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += f.json_bytes;
    }
    if start < files.len() {
        out.push(&files[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The fuzz harness (`benches/fuzz.rs`) runs this for minutes; here
        /// a few hundred cases per format keep it honest in every test run.
        #[test]
        fn arbitrary_bytes_never_panic_and_every_record_is_accounted_for(
            bytes in proptest::collection::vec(any::<u8>(), 0..2048),
            lines in proptest::collection::vec("[ -~]{0,80}", 0..8),
        ) {
            for format in Format::ALL {
                normalise_bytes(format, &bytes);
                let text = lines.join("\n");
                let (events, quarantined) = normalise_bytes(format, text.as_bytes());
                let non_blank = lines.iter().filter(|l| !l.trim().is_empty()).count();
                let accounted = events + quarantined;
                match format {
                    // One record a line: each becomes an event, a counted
                    // skip or a quarantine entry (an EventList line, more).
                    Format::Falco | Format::K8sAudit => prop_assert!(
                        accounted >= non_blank,
                        "{:?}: {} of {} lines accounted for", format, accounted, non_blank
                    ),
                    // One document: unless it is valid JSON holding no
                    // records, something is written or quarantined.
                    Format::Cloudtrail | Format::GcpAudit => {
                        let empty_json = serde_json::from_str::<serde_json::Value>(&text).is_ok();
                        prop_assert!(
                            non_blank == 0 || empty_json || accounted >= 1,
                            "{:?}: nothing accounted for in {:?}", format, text
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn content_ids_are_two_independent_fnv_hashes_and_tell_records_apart() {
        // The first half is the standard FNV-1a of the bytes.
        assert!(content_id(b"a").starts_with("af63dc4c8601ec8c"));
        assert_ne!(content_id(b"a"), content_id(b"b"));
        assert_ne!(&content_id(b"a")[..16], &content_id(b"a")[16..]);
        assert_eq!(content_id(b"").len(), 32);
    }
}
