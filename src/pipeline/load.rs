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
const MISPLACED: &str = "misplaced";

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

/// Days aggregated at once: each reads its partition with Polars and folds
/// its rows in Rust; four keep two cores busy while one day waits on I/O,
/// and memory holds only the days in flight (about 1.4 GB at 570 k events a
/// day).
const DAYS_IN_FLIGHT: usize = 4;

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
pub fn scan(files: &LakeFiles, window: &Window, bucket: Bucket) -> Result<Activity> {
    let mut days: BTreeMap<NaiveDate, Vec<PartitionFile>> = BTreeMap::new();
    for f in &files.files {
        days.entry(f.date).or_default().push(f.clone());
    }
    let days: Vec<(NaiveDate, Vec<PartitionFile>)> = days.into_iter().collect();
    let mut merged = Merged::default();
    for batch in days.chunks(DAYS_IN_FLIGHT) {
        let results: Vec<Result<DayAggregate>> = batch
            .par_iter()
            .map(|(date, files)| aggregate_day(*date, files, window, bucket))
            .collect();
        for day in results {
            merged.add(day?);
        }
    }
    Ok(merged.finish())
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
    let mut out = DayAggregate {
        day0,
        ..Default::default()
    };
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
    let event_ids = event_keys(strings(EVENT_ID)?);
    let times = df.column(T)?.i64()?;
    let groups = df.column(GROUPS)?.list()?;

    // Rows regrouped by user (a counting sort, file order kept within a
    // user), so each identity is folded with small maps that stay in cache
    // instead of day-sized ones.
    let null_user = names.names.len();
    let slot = |u: u32| if u == NONE { null_user } else { u as usize };
    let mut starts = vec![0usize; null_user + 2];
    for &u in &users {
        starts[slot(u) + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut next = starts.clone();
    let mut rows = vec![Row::default(); users.len()];
    for (row, (&u, t)) in users.iter().zip(times.iter()).enumerate() {
        let at = &mut next[slot(u)];
        rows[*at] = Row {
            row: row as u32,
            t: t.unwrap_or(NULL_TIME),
            source: sources[row],
            event: event_ids[row],
            signature: std::array::from_fn(|i| columns[i][row]),
        };
        *at += 1;
    }
    drop(columns);

    let mut q = Quality {
        rows_read: users.len() as u64,
        ..Default::default()
    };
    let mut fold = UserFold::default();
    for (u, range) in starts.windows(2).enumerate() {
        let user_rows = &rows[range[0]..range[1]];
        if user_rows.is_empty() {
            continue;
        }
        if u == null_user {
            q.skipped_null_user += user_rows.iter().filter(|r| r.t != NULL_TIME).count() as u64;
            continue;
        }
        let u = u as u32;
        fold.clear();
        let mut latest: Option<(i64, u32)> = None;
        for r in user_rows {
            let t = r.t;
            if t == NULL_TIME {
                continue;
            }
            if t < day0 || t >= day0 + MICROS_PER_DAY {
                q.skipped_outside_partition += 1;
                continue;
            }
            if t < window.baseline_start || t >= window.end {
                continue;
            }
            if !fold.events_seen.insert((r.source, r.event)) {
                q.skipped_duplicates += 1;
                continue;
            }
            let in_window = t >= window.start;
            q.events += 1;
            q.window_events += u64::from(in_window);
            let sig = r.signature;
            *fold.counts.entry((bucket.floor(t), sig[0], sig[1])).or_default() += 1;
            let acc = fold.signatures.entry(sig).or_insert(SignatureAcc {
                n: 0,
                n_window: 0,
                first: t,
            });
            acc.n += 1;
            acc.n_window += u32::from(in_window);
            acc.first = acc.first.min(t);
            if latest.is_none_or(|(latest_t, _)| t >= latest_t) {
                latest = Some((t, r.row));
            }
        }
        out.counts.extend(
            fold.counts
                .drain()
                .map(|((bucket, tool, action), n)| ((u, bucket, tool, action), n)),
        );
        fold.expand(u, &mut out);
        if let Some((t, row)) = latest {
            if let Some(list) = groups.get_as_series(row as usize) {
                let names: Vec<String> = list.str()?.iter().flatten().map(str::to_owned).collect();
                if !names.is_empty() {
                    out.groups.push((u, t, names));
                }
            }
        }
    }
    out.quality = q;
    out.names = names.names.iter().map(|s| (*s).to_owned()).collect();
    Ok(out)
}

/// A null `event_time` (the contract forbids it; such rows are not used).
const NULL_TIME: i64 = i64::MIN;

/// One row of a day, regrouped by user.
#[derive(Clone, Copy)]
struct Row<'a> {
    row: u32,
    t: i64,
    source: u32,
    event: EventKey<'a>,
    signature: Signature,
}

impl Default for Row<'_> {
    fn default() -> Self {
        Row {
            row: 0,
            t: NULL_TIME,
            source: NONE,
            event: EventKey::Null,
            signature: [NONE; 8],
        }
    }
}

/// One identity's day, folded; the maps are reused from user to user.
#[derive(Default)]
struct UserFold<'a> {
    events_seen: FxHashSet<(u32, EventKey<'a>)>,
    /// (bucket, tool, action) -> events.
    counts: FxHashMap<(i64, u32, u32), u32>,
    signatures: FxHashMap<Signature, SignatureAcc>,
    seen: FxHashMap<(Attr, u32), SeenAcc>,
    distinct: FxHashSet<(usize, u32)>,
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

impl UserFold<'_> {
    fn clear(&mut self) {
        self.events_seen.clear();
        self.counts.clear();
        self.signatures.clear();
        self.seen.clear();
        self.distinct.clear();
    }

    /// From the user's signatures to seen values and breadth (rows far
    /// outnumber signatures, so these are expanded once per signature).
    fn expand(&mut self, u: u32, out: &mut DayAggregate) {
        let mut breadth = [0u32; BREADTH_KINDS.len()];
        for (sig, acc) in &self.signatures {
            for (attr, at) in SEEN_AT {
                if sig[at] == NONE {
                    continue;
                }
                let slot = self.seen.entry((attr, sig[at])).or_insert(SeenAcc {
                    first: acc.first,
                    n_baseline: 0,
                    n_window: 0,
                });
                slot.first = slot.first.min(acc.first);
                slot.n_baseline += acc.n - acc.n_window;
                slot.n_window += acc.n_window;
            }
            for (k, at) in BREADTH_AT.iter().enumerate() {
                if sig[*at] != NONE && self.distinct.insert((k, sig[*at])) {
                    breadth[k] += 1;
                }
            }
        }
        out.seen
            .extend(self.seen.drain().map(|((attr, v), acc)| ((u, attr, v), acc)));
        if breadth.iter().any(|&n| n > 0) {
            out.breadth.push((u, breadth));
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

/// An event id for duplicate detection: ids of up to 12 bytes are stored
/// inside their view, so the view is the id; longer ones are compared as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum EventKey<'a> {
    Inline(u128),
    Long(&'a str),
    Null,
}

fn event_keys(ca: &StringChunked) -> Vec<EventKey<'_>> {
    let mut keys = Vec::with_capacity(ca.len());
    for array in ca.downcast_iter() {
        for (view, value) in array.views().iter().zip(array.iter()) {
            keys.push(match value {
                None => EventKey::Null,
                Some(_) if view.length <= 12 => EventKey::Inline(view.as_u128()),
                Some(s) => EventKey::Long(s),
            });
        }
    }
    keys
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
