//! Stage 1: find the partitions a run needs, check every file against the
//! lake contract, and aggregate the events into per-identity activity tables:
//! Polars reads one UTC day at a time and Rust folds its rows identity by
//! identity (the raw events of the whole range never sit in memory).
//!
//! Input: `<lake>/events/dt=YYYY-MM-DD/*.parquet`. Output: [`Activity`].

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Error, Result};
use crate::intern::Interner;
use crate::schema::{self, *};
use crate::window::{day_start, Bucket, Window, MICROS_PER_DAY};

/// A file or partition the run could not use, with the reason.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub path: String,
    pub reason: String,
}

/// The files of the lake the run will read, and what was wrong with the rest.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LakeFiles {
    pub files: Vec<PartitionFile>,
    pub partitions_read: Vec<NaiveDate>,
    /// Dates the run needs that have no `dt=` folder at all.
    pub missing_partitions: Vec<NaiveDate>,
    /// `dt=` folders with no Parquet file in them.
    pub empty_partitions: Vec<NaiveDate>,
    /// Files skipped because they are unreadable or break the contract.
    pub failed_files: Vec<Problem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PartitionFile {
    pub date: NaiveDate,
    pub path: PathBuf,
    pub rows: usize,
    /// Optional columns present in this file.
    #[serde(skip)]
    pub present: BTreeSet<String>,
}

/// Lists the partitions the window needs and checks each file's footer.
/// Partitions outside the window are never opened.
pub fn discover(lake: &Path, window: &Window) -> Result<LakeFiles> {
    if !lake.is_dir() {
        return Err(Error::LakeNotFound {
            path: lake.to_path_buf(),
        });
    }
    let events = lake.join(EVENTS_DIR);
    let mut out = LakeFiles::default();
    for date in window.partition_dates() {
        let dir = events.join(format!("{PARTITION_KEY}={date}"));
        if !dir.is_dir() {
            out.missing_partitions.push(date);
            continue;
        }
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|source| Error::ListPartitions {
                path: dir.clone(),
                source,
            })?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().is_some_and(|e| e == "parquet")
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        paths.sort();
        if paths.is_empty() {
            out.empty_partitions.push(date);
            continue;
        }
        let mut any = false;
        for path in paths {
            match check_file(&path) {
                Ok((rows, present)) => {
                    any = true;
                    out.files.push(PartitionFile {
                        date,
                        path,
                        rows,
                        present,
                    })
                }
                Err(reason) => out.failed_files.push(Problem {
                    path: path.display().to_string(),
                    reason,
                }),
            }
        }
        if any {
            out.partitions_read.push(date);
        }
    }
    Ok(out)
}

/// Reads one footer: row count and which contract columns are present.
/// Returns a sentence naming the column when the file breaks the contract.
fn check_file(path: &Path) -> std::result::Result<(usize, BTreeSet<String>), String> {
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut reader = ParquetReader::new(file);
    let arrow_schema = reader
        .schema()
        .map_err(|e| format!("not a readable Parquet file: {e}"))?;
    let rows = reader
        .num_rows()
        .map_err(|e| format!("not a readable Parquet file: {e}"))?;
    let mut present = BTreeSet::new();
    for field in arrow_schema.iter_values() {
        let name = field.name.as_str();
        let Some(expected) = schema::expected_type(name) else {
            continue;
        };
        let actual = DataType::from_arrow_field(field);
        if actual != expected {
            return Err(format!(
                "column `{name}` has type {actual}, the lake contract says {expected}"
            ));
        }
        present.insert(name.to_owned());
    }
    for required in [EVENT_TIME].iter().chain(REQUIRED_STRINGS.iter()) {
        if !present.contains(*required) {
            return Err(format!("required column `{required}` is missing"));
        }
    }
    Ok((rows, present))
}

/// An attribute whose first appearance for an identity is evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Attr {
    Action,
    Namespace,
    Target,
    SrcIp,
    UserAgent,
}

impl Attr {
    pub const ALL: [Attr; 5] = [
        Attr::Action,
        Attr::Namespace,
        Attr::Target,
        Attr::SrcIp,
        Attr::UserAgent,
    ];
    pub fn column(self) -> &'static str {
        match self {
            Attr::Action => ACTION,
            Attr::Namespace => NAMESPACE,
            Attr::Target => TARGET,
            Attr::SrcIp => SRC_IP,
            Attr::UserAgent => USER_AGENT,
        }
    }
    /// How a reason sentence names it.
    pub fn noun(self) -> &'static str {
        match self {
            Attr::Action => "action",
            Attr::Namespace => "namespace",
            Attr::Target => "target",
            Attr::SrcIp => "source IP",
            Attr::UserAgent => "user agent",
        }
    }
}

/// What one identity did with one tool and action in one bucket.
#[derive(Debug, Clone, Copy)]
pub struct CountRow {
    pub user: u32,
    pub bucket: i64,
    pub tool: u32,
    pub action: u32,
    pub n: u32,
}

/// One value of an attribute one identity touched during the loaded range.
#[derive(Debug, Clone, Copy)]
pub struct SeenRow {
    pub user: u32,
    pub attr: Attr,
    pub value: u32,
    pub first: i64,
    pub n_baseline: u32,
    pub n_window: u32,
}

/// Distinct things one identity touched in one UTC day.
#[derive(Debug, Clone, Copy)]
pub struct BreadthRow {
    pub user: u32,
    pub day: i64,
    pub distinct: [u32; BREADTH_KINDS.len()],
}

pub const BREADTH_KINDS: [&str; 4] = [NAMESPACE, POD, TARGET, ACCOUNT_ID];

/// Counted, documented skips: rows the run did not use, and why.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Quality {
    /// Rows in the files read (baseline and window, whole partitions).
    pub rows_read: u64,
    /// Rows with a null `user`: nobody to attribute them to.
    pub skipped_null_user: u64,
    /// Rows whose `event_time` falls outside their partition's UTC date.
    pub skipped_outside_partition: u64,
    /// Second and later copies of one `(source, event_id)` of one identity.
    pub skipped_duplicates: u64,
    /// Events used: baseline plus scoring window.
    pub events: u64,
    pub window_events: u64,
}

/// The lake, aggregated for the run.
#[derive(Debug, Default)]
pub struct Activity {
    pub users: Interner,
    /// Tools, actions and attribute values share one interner.
    pub values: Interner,
    /// Sorted by (user, bucket, tool, action).
    pub counts: Vec<CountRow>,
    pub seen: Vec<SeenRow>,
    pub breadth: Vec<BreadthRow>,
    /// Groups the sources asserted for each identity (latest seen).
    pub asserted_groups: Vec<(u32, Vec<String>)>,
    pub quality: Quality,
}

const T: &str = "t";
pub const MISPLACED: &str = "misplaced";

/// Every event in `files`, one lazy frame: projected to `columns` (missing
/// optional columns become nulls), `event_time` as `t` in microseconds, and a
/// `misplaced` flag for rows outside their partition's date.
pub fn events_frame(files: &[PartitionFile], columns: &[&str]) -> Result<LazyFrame> {
    let mut frames = Vec::with_capacity(files.len());
    for file in files {
        let day0 = day_start(file.date);
        let path = PlRefPath::new(file.path.to_string_lossy().as_ref());
        let lf = LazyFrame::scan_parquet(path, ScanArgsParquet::default())
            .map_err(Error::query(format!("scanning {}", file.path.display())))?;
        let mut exprs = vec![col(EVENT_TIME).cast(DataType::Int64).alias(T)];
        for &c in columns {
            let expr = if schema::is_required(c) || file.present.contains(c) {
                col(c)
            } else {
                let ty = schema::expected_type(c).unwrap_or(DataType::String);
                lit(NULL).cast(ty).alias(c)
            };
            exprs.push(expr);
        }
        let misplaced = col(T)
            .lt(lit(day0))
            .or(col(T).gt_eq(lit(day0 + MICROS_PER_DAY)))
            .alias(MISPLACED);
        frames.push(lf.select(exprs).with_column(misplaced));
    }
    if frames.is_empty() {
        return Err(Error::Query {
            doing: "scanning the lake".into(),
            source: PolarsError::NoData("no readable partition in range".into()),
        });
    }
    concat(frames, UnionArgs::default()).map_err(Error::query("combining partitions"))
}

/// Columns the aggregation reads.
const SCAN_COLUMNS: [&str; 12] = [
    USER, TOOL, ACTION, SOURCE, EVENT_ID, NAMESPACE, TARGET, SRC_IP, USER_AGENT, POD, ACCOUNT_ID,
    GROUPS,
];

/// Reads the files one UTC day at a time and folds every usable event into
/// the aggregates the detectors need. Rows that are not usable are counted:
/// null users, rows outside their partition's date, and second copies of a
/// `(source, event_id)` (a copy of an event is filed under the same date and
/// names the same identity, so duplicates are found within a partition and
/// user; two identities' events never cancel out on a reused id).
///
/// One worker per core (`RAYON_NUM_THREADS` caps them) takes the next day,
/// reads it (Polars decodes on its own pool) and folds it; this thread
/// merges the folded days as they come. Memory holds only the days in
/// flight, and no core waits for a slow day.
pub fn scan(files: &LakeFiles, window: &Window, bucket: Bucket) -> Result<Activity> {
    let mut days: BTreeMap<NaiveDate, Vec<PartitionFile>> = BTreeMap::new();
    for f in &files.files {
        days.entry(f.date).or_default().push(f.clone());
    }
    let days: Vec<(NaiveDate, Vec<PartitionFile>)> = days.into_iter().collect();
    let workers = rayon::current_num_threads().min(days.len()).max(1);
    let next_day = AtomicUsize::new(0);
    let (sender, folded) = std::sync::mpsc::sync_channel::<Result<DayAggregate>>(workers);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (sender, next_day, days) = (sender.clone(), &next_day, &days);
            scope.spawn(move || {
                while let Some((date, files)) = days.get(next_day.fetch_add(1, Ordering::Relaxed)) {
                    let day = aggregate_day(*date, files, window, bucket);
                    let failed = day.is_err();
                    // A closed channel means the merge gave up on an error.
                    if sender.send(day).is_err() || failed {
                        break;
                    }
                }
            });
        }
        drop(sender);
        let mut merged = Merged::default();
        for day in folded {
            merged.add(day?);
        }
        Ok(merged.finish())
    })
}

/// What one row says besides its user, as ids into the day's string table
/// (`NONE` = null): tool, action, namespace, target, source IP, user agent,
/// pod, account.
type Signature = [u32; 8];
const NONE: u32 = u32::MAX;

/// Events of one signature in the day.
#[derive(Debug, Clone, Copy)]
struct SignatureAcc {
    n: u32,
    n_window: u32,
    first: i64,
}

/// One day's aggregates, in local ids of its own string table.
#[derive(Default)]
struct DayAggregate {
    day0: i64,
    names: Vec<String>,
    /// (user, bucket, tool, action) -> events.
    counts: Vec<((u32, i64, u32, u32), u32)>,
    seen: Vec<((u32, Attr, u32), SeenAcc)>,
    /// Per user: distinct namespaces, pods, targets, accounts.
    breadth: Vec<(u32, [u32; BREADTH_KINDS.len()])>,
    groups: Vec<(u32, i64, Vec<String>)>,
    quality: Quality,
}

#[derive(Debug, Clone, Copy)]
struct SeenAcc {
    first: i64,
    n_baseline: u32,
    n_window: u32,
}

/// Borrowed-string interning for one day's rows.
#[derive(Default)]
struct LocalNames<'a> {
    ids: FxHashMap<&'a str, u32>,
    names: Vec<&'a str>,
}

impl<'a> LocalNames<'a> {
    fn id(&mut self, s: Option<&'a str>) -> u32 {
        let Some(s) = s else { return NONE };
        let next = self.names.len() as u32;
        *self.ids.entry(s).or_insert_with(|| {
            self.names.push(s);
            next
        })
    }
}

fn aggregate_day(
    date: NaiveDate,
    files: &[PartitionFile],
    window: &Window,
    bucket: Bucket,
) -> Result<DayAggregate> {
    let doing = || format!("reading partition dt={date}");
    let started = std::time::Instant::now();
    let df = events_frame(files, &SCAN_COLUMNS)?
        .collect()
        .map_err(Error::query(doing()))?;
    let read_ms = started.elapsed().as_millis();
    let day = fold_day(date, &df, window, bucket).map_err(Error::query(doing()))?;
    tracing::debug!(%date, rows = df.height(), read_ms, fold_ms = started.elapsed().as_millis() - read_ms, "Aggregated a partition.");
    Ok(day)
}

fn fold_day(
    date: NaiveDate,
    df: &DataFrame,
    window: &Window,
    bucket: Bucket,
) -> PolarsResult<DayAggregate> {
    let day0 = day_start(date);
    let strings = |name: &str| -> PolarsResult<&StringChunked> { df.column(name)?.str() };
    let mut names = LocalNames::default();
    let users = column_ids(strings(USER)?, &mut names);
    // Column by column: local string ids per row, in `Signature` order.
    let mut columns: Vec<Vec<u32>> = Vec::with_capacity(8);
    for c in [
        TOOL, ACTION, NAMESPACE, TARGET, SRC_IP, USER_AGENT, POD, ACCOUNT_ID,
    ] {
        columns.push(column_ids(strings(c)?, &mut names));
    }
    let sources = column_ids(strings(SOURCE)?, &mut names);
    let event_ids = strings(EVENT_ID)?;
    let event_hashes = event_id_hashes(event_ids);
    let times = df.column(T)?.i64()?;
    let groups = df.column(GROUPS)?.list()?;

    // Usable rows, split into partitions of a few dozen identities each (a
    // radix scatter: one write stream per partition), so each partition is
    // folded with small maps that stay in cache.
    let mut quality = Quality {
        rows_read: users.len() as u64,
        ..Default::default()
    };
    let mut partitions: Vec<Vec<Row>> = (0..PARTITIONS)
        .map(|_| Vec::with_capacity(users.len() / PARTITIONS * 5 / 4))
        .collect();
    for (row, (&user, t)) in users.iter().zip(times.iter()).enumerate() {
        let Some(t) = t else { continue };
        if user == NONE {
            quality.skipped_null_user += 1;
            continue;
        }
        if t < day0 || t >= day0 + MICROS_PER_DAY {
            quality.skipped_outside_partition += 1;
            continue;
        }
        if t < window.baseline_start || t >= window.end {
            continue;
        }
        partitions[partition_of(user)].push(Row {
            t,
            event: event_hashes[row],
            row: row as u32,
            user,
            source: sources[row],
            signature: std::array::from_fn(|i| columns[i][row]),
        });
    }
    drop(columns);

    let mut out = DayAggregate {
        day0,
        ..Default::default()
    };
    let mut fold = PartitionFold::new(event_ids);
    for rows in &partitions {
        fold.clear();
        for r in rows {
            if fold.is_duplicate(r) {
                quality.skipped_duplicates += 1;
                continue;
            }
            let in_window = r.t >= window.start;
            quality.events += 1;
            quality.window_events += u64::from(in_window);
            fold.add(r, bucket.floor(r.t), in_window);
        }
        fold.drain_into(&mut out, groups);
    }
    out.quality = quality;
    out.names = names.names.iter().map(|s| (*s).to_owned()).collect();
    Ok(out)
}

/// Partitions a day's rows are folded in: enough that each holds a few
/// dozen identities at 5,000 a day, few enough that every write stream of
/// the scatter stays in cache.
const PARTITIONS: usize = 256;

fn partition_of(user: u32) -> usize {
    // Fibonacci hashing spreads consecutive ids over all partitions.
    (u64::from(user).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - PARTITIONS.trailing_zeros()))
        as usize
}

/// One usable row of a day.
struct Row {
    t: i64,
    /// Hash of the `event_id` (`NO_EVENT_ID` when null), for duplicates.
    event: u64,
    row: u32,
    user: u32,
    source: u32,
    signature: Signature,
}

/// One partition's rows, folded; the maps are reused across partitions.
struct PartitionFold<'a> {
    event_ids: &'a StringChunked,
    /// (user, source, event id hash) -> first row with it.
    first_row: FxHashMap<(u32, u32, u64), u32>,
    /// Ids compared as text after two different ids shared a hash.
    collided: FxHashSet<(u32, u32, &'a str)>,
    /// (user, bucket, tool, action) -> events.
    counts: FxHashMap<(u32, i64, u32, u32), u32>,
    signatures: FxHashMap<(u32, Signature), SignatureAcc>,
    /// Per user: time and row of the latest event.
    latest: FxHashMap<u32, (i64, u32)>,
    seen: FxHashMap<(u32, Attr, u32), SeenAcc>,
    distinct: FxHashSet<(u32, usize, u32)>,
    breadth: FxHashMap<u32, [u32; BREADTH_KINDS.len()]>,
}

/// Signature positions of the attributes watched for novelty, and of the
/// breadth kinds (`BREADTH_KINDS` order).
const SEEN_AT: [(Attr, usize); 5] = [
    (Attr::Action, 1),
    (Attr::Namespace, 2),
    (Attr::Target, 3),
    (Attr::SrcIp, 4),
    (Attr::UserAgent, 5),
];
const BREADTH_AT: [usize; BREADTH_KINDS.len()] = [2, 6, 3, 7];

impl<'a> PartitionFold<'a> {
    fn new(event_ids: &'a StringChunked) -> Self {
        PartitionFold {
            event_ids,
            first_row: FxHashMap::default(),
            collided: FxHashSet::default(),
            counts: FxHashMap::default(),
            signatures: FxHashMap::default(),
            latest: FxHashMap::default(),
            seen: FxHashMap::default(),
            distinct: FxHashSet::default(),
            breadth: FxHashMap::default(),
        }
    }

    fn clear(&mut self) {
        self.first_row.clear();
        self.collided.clear();
        self.counts.clear();
        self.signatures.clear();
        self.latest.clear();
        self.seen.clear();
        self.distinct.clear();
        self.breadth.clear();
    }

    /// A second copy of an event this identity already has from this source.
    /// Hashes find candidates; the ids themselves decide. A null id cannot
    /// be matched, so it is never a duplicate.
    fn is_duplicate(&mut self, r: &Row) -> bool {
        if r.event == NO_EVENT_ID {
            return false;
        }
        let first = *self
            .first_row
            .entry((r.user, r.source, r.event))
            .or_insert(r.row);
        if first == r.row {
            return false;
        }
        let id = |row: u32| self.event_ids.get(row as usize).unwrap_or_default();
        let (earlier, this) = (id(first), id(r.row));
        if earlier == this {
            return true;
        }
        self.collided.insert((r.user, r.source, earlier));
        !self.collided.insert((r.user, r.source, this))
    }

    fn add(&mut self, r: &Row, bucket: i64, in_window: bool) {
        let sig = r.signature;
        *self
            .counts
            .entry((r.user, bucket, sig[0], sig[1]))
            .or_default() += 1;
        let acc = self
            .signatures
            .entry((r.user, sig))
            .or_insert(SignatureAcc {
                n: 0,
                n_window: 0,
                first: r.t,
            });
        acc.n += 1;
        acc.n_window += u32::from(in_window);
        acc.first = acc.first.min(r.t);
        let latest = self.latest.entry(r.user).or_insert((r.t, r.row));
        if r.t >= latest.0 {
            *latest = (r.t, r.row);
        }
    }

    /// Moves the partition's aggregates into the day's: counts as they are,
    /// signatures expanded into seen values and breadth (rows far outnumber
    /// signatures, so this is done once per signature), and the groups of
    /// each identity's latest event.
    fn drain_into(&mut self, out: &mut DayAggregate, groups: &ListChunked) {
        out.counts.extend(self.counts.drain());
        for ((u, sig), acc) in &self.signatures {
            for (attr, at) in SEEN_AT {
                if sig[at] == NONE {
                    continue;
                }
                let slot = self.seen.entry((*u, attr, sig[at])).or_insert(SeenAcc {
                    first: acc.first,
                    n_baseline: 0,
                    n_window: 0,
                });
                slot.first = slot.first.min(acc.first);
                slot.n_baseline += acc.n - acc.n_window;
                slot.n_window += acc.n_window;
            }
            for (k, at) in BREADTH_AT.iter().enumerate() {
                if sig[*at] != NONE && self.distinct.insert((*u, k, sig[*at])) {
                    self.breadth.entry(*u).or_default()[k] += 1;
                }
            }
        }
        out.seen.extend(self.seen.drain());
        out.breadth.extend(self.breadth.drain());
        for (&u, &(t, row)) in &self.latest {
            let names = strings_at(groups, row as usize);
            if !names.is_empty() {
                out.groups.push((u, t, names));
            }
        }
    }
}

/// Local ids of one string column, row by row. Parquet dictionary pages
/// decode into repeated 16-byte views, so a value is looked up by its view
/// first (cheap, a small table) and by its string only for a view not seen
/// before in this chunk.
fn column_ids<'a>(ca: &'a StringChunked, names: &mut LocalNames<'a>) -> Vec<u32> {
    let mut ids = Vec::with_capacity(ca.len());
    for array in ca.downcast_iter() {
        let mut by_view: FxHashMap<u128, u32> = FxHashMap::default();
        for (view, value) in array.views().iter().zip(array.iter()) {
            ids.push(match value {
                None => NONE,
                Some(s) => *by_view
                    .entry(view.as_u128())
                    .or_insert_with(|| names.id(Some(s))),
            });
        }
    }
    ids
}

/// The strings in one row of a list-of-strings column (empty for a null),
/// read from the Arrow arrays: one row per identity and day, so no Series.
fn strings_at(list: &ListChunked, mut row: usize) -> Vec<String> {
    for array in list.downcast_iter() {
        if row >= array.len() {
            row -= array.len();
            continue;
        }
        let values =
            (array.values().as_any()).downcast_ref::<<StringType as PolarsDataType>::Array>();
        let valid = array.validity().is_none_or(|v| v.get_bit(row));
        let (Some(values), true) = (values, valid) else {
            return Vec::new();
        };
        let (start, end) = array.offsets().start_end(row);
        return (start..end)
            .filter_map(|i| values.get(i))
            .map(str::to_owned)
            .collect();
    }
    Vec::new()
}

/// Marks a null `event_id` among the hashes (real hashes are odd).
const NO_EVENT_ID: u64 = 0;

/// A hash of each row's `event_id`, for finding duplicate candidates. Ids of
/// up to 12 bytes are stored inside their view, so the view is hashed.
fn event_id_hashes(ca: &StringChunked) -> Vec<u64> {
    use std::hash::{BuildHasher, Hash, Hasher};
    let build = rustc_hash::FxBuildHasher;
    let mut hashes = Vec::with_capacity(ca.len());
    for array in ca.downcast_iter() {
        for (view, value) in array.views().iter().zip(array.iter()) {
            hashes.push(match value {
                None => NO_EVENT_ID,
                Some(s) => {
                    let mut h = build.build_hasher();
                    if view.length <= 12 {
                        view.as_u128().hash(&mut h);
                    } else {
                        s.hash(&mut h);
                    }
                    h.finish() | 1
                }
            });
        }
    }
    hashes
}

/// All days folded together.
#[derive(Default)]
struct Merged {
    users: Interner,
    values: Interner,
    counts: Vec<CountRow>,
    /// One row per day a value was touched; merged in `finish`.
    seen: Vec<SeenRow>,
    breadth: Vec<BreadthRow>,
    groups: FxHashMap<u32, (i64, Vec<String>)>,
    quality: Quality,
}

impl Merged {
    /// Re-labels a day's local ids with global ones and keeps its rows.
    fn add(&mut self, day: DayAggregate) {
        // Local ids map to user or value ids on first use.
        let mut as_user: Vec<Option<u32>> = vec![None; day.names.len()];
        let mut as_value: Vec<Option<u32>> = vec![None; day.names.len()];
        let (users, values) = (&mut self.users, &mut self.values);
        let mut user = |id: u32| {
            *as_user[id as usize].get_or_insert_with(|| users.id(&day.names[id as usize]))
        };
        let mut value = |id: u32| {
            *as_value[id as usize].get_or_insert_with(|| values.id(&day.names[id as usize]))
        };
        for ((u, bucket, tool, action), n) in day.counts {
            self.counts.push(CountRow {
                user: user(u),
                bucket,
                tool: value(tool),
                action: value(action),
                n,
            });
        }
        for ((u, attr, v), acc) in day.seen {
            self.seen.push(SeenRow {
                user: user(u),
                attr,
                value: value(v),
                first: acc.first,
                n_baseline: acc.n_baseline,
                n_window: acc.n_window,
            });
        }
        for (u, distinct) in day.breadth {
            self.breadth.push(BreadthRow {
                user: user(u),
                day: day.day0,
                distinct,
            });
        }
        for (u, t, groups) in day.groups {
            let slot = self.groups.entry(user(u)).or_insert((t, Vec::new()));
            if t >= slot.0 {
                *slot = (t, groups);
            }
        }
        let (q, d) = (&mut self.quality, &day.quality);
        q.rows_read += d.rows_read;
        q.skipped_null_user += d.skipped_null_user;
        q.skipped_outside_partition += d.skipped_outside_partition;
        q.skipped_duplicates += d.skipped_duplicates;
        q.events += d.events;
        q.window_events += d.window_events;
    }

    fn finish(self) -> Activity {
        let mut activity = Activity {
            users: self.users,
            values: self.values,
            counts: self.counts,
            seen: self.seen,
            breadth: self.breadth,
            asserted_groups: self.groups.into_iter().map(|(u, (_, g))| (u, g)).collect(),
            quality: self.quality,
        };
        // Hash maps and parallel days return rows in no fixed order: renumber
        // ids by name and sort, so every later stage is deterministic.
        renumber(&mut activity);
        activity
            .counts
            .par_sort_unstable_by_key(|r| (r.user, r.bucket, r.tool, r.action));
        activity
            .seen
            .par_sort_unstable_by_key(|r| (r.user, r.attr, r.value, r.first));
        activity.seen.dedup_by(|later, kept| {
            let same = (later.user, later.attr, later.value) == (kept.user, kept.attr, kept.value);
            if same {
                kept.n_baseline += later.n_baseline;
                kept.n_window += later.n_window;
            }
            same
        });
        activity
            .breadth
            .par_sort_unstable_by_key(|r| (r.user, r.day));
        activity
    }
}

fn renumber(a: &mut Activity) {
    let (users, user_map) = a.users.sorted();
    let (values, value_map) = a.values.sorted();
    let u = |id: &mut u32| *id = user_map[*id as usize];
    let v = |id: &mut u32| *id = value_map[*id as usize];
    for r in &mut a.counts {
        u(&mut r.user);
        v(&mut r.tool);
        v(&mut r.action);
    }
    for r in &mut a.seen {
        u(&mut r.user);
        v(&mut r.value);
    }
    for r in &mut a.breadth {
        u(&mut r.user);
    }
    for (user, _) in &mut a.asserted_groups {
        u(user);
    }
    a.asserted_groups.sort();
    a.users = users;
    a.values = values;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(row: u32, user: u32, event: u64) -> Row {
        Row {
            t: 0,
            event,
            row,
            user,
            source: 0,
            signature: [NONE; 8],
        }
    }

    #[test]
    fn a_second_copy_of_an_event_id_is_a_duplicate_for_the_same_identity_only() {
        let ids = StringChunked::from_slice("event_id".into(), &["a", "a", "a"]);
        let mut fold = PartitionFold::new(&ids);
        let hash = event_id_hashes(&ids)[0];
        assert!(!fold.is_duplicate(&row(0, 7, hash)));
        assert!(fold.is_duplicate(&row(1, 7, hash)));
        assert!(!fold.is_duplicate(&row(2, 8, hash)));
    }

    #[test]
    fn different_ids_that_share_a_hash_are_told_apart_by_their_text() {
        let ids = StringChunked::from_slice("event_id".into(), &["a", "b", "b", "a", "c"]);
        let mut fold = PartitionFold::new(&ids);
        let same_hash = 41;
        let verdicts: Vec<bool> = (0..5)
            .map(|i| fold.is_duplicate(&row(i, 7, same_hash)))
            .collect();
        assert_eq!(verdicts, [false, false, true, true, false]);
    }

    #[test]
    fn rows_without_an_event_id_are_never_duplicates() {
        let ids = StringChunked::from_iter([None::<&str>, None]);
        let hashes = event_id_hashes(&ids);
        assert_eq!(hashes, [NO_EVENT_ID, NO_EVENT_ID]);
        let mut fold = PartitionFold::new(&ids);
        assert!(!fold.is_duplicate(&row(0, 7, hashes[0])));
        assert!(!fold.is_duplicate(&row(1, 7, hashes[1])));
    }

    #[test]
    fn long_and_short_event_ids_hash_by_content() {
        let long = "0e5b7f4c-2d1a-4b8e-9c3f-7a6d5e4c3b2a";
        let ids = StringChunked::from_slice("event_id".into(), &["short", long, "short", long]);
        let h = event_id_hashes(&ids);
        assert_eq!((h[0], h[1]), (h[2], h[3]));
        assert_ne!(h[0], h[1]);
        assert!(h.iter().all(|h| h % 2 == 1));
    }

    #[test]
    fn partitions_spread_consecutive_identities() {
        let mut used = vec![0usize; PARTITIONS];
        for user in 0..(PARTITIONS as u32 * 8) {
            used[partition_of(user)] += 1;
        }
        assert!(used.iter().all(|&n| n > 0 && n < 24), "{used:?}");
    }
}
