//! Stage 1: find the partitions a run needs, check every file against the
//! lake contract, and aggregate the events into per-identity activity tables
//! in one Polars query (the raw events never sit in memory).
//!
//! Input: `<lake>/events/dt=YYYY-MM-DD/*.parquet`. Output: [`Activity`].

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use polars::prelude::*;
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
    /// Second and later copies of one `(source, event_id)`.
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
    pub counts: Vec<CountRow>,
    pub seen: Vec<SeenRow>,
    pub breadth: Vec<BreadthRow>,
    /// Groups the sources asserted for each identity (latest seen).
    pub asserted_groups: Vec<(u32, Vec<String>)>,
    pub quality: Quality,
}

const T: &str = "t";
const BUCKET: &str = "bucket";
const DAY: &str = "day";
const MISPLACED: &str = "misplaced";

/// Every usable event in the run's range, one lazy frame over all files:
/// projected to the columns the detectors use, with missing optional columns
/// as nulls and a flag for rows outside their partition's date.
pub fn events_frame(files: &LakeFiles, columns: &[&str]) -> Result<LazyFrame> {
    let mut frames = Vec::with_capacity(files.files.len());
    for file in &files.files {
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

/// Rows that count: a user, inside their partition's date and inside the
/// run's range, one copy per `(source, event_id)`.
fn usable(events: LazyFrame, window: &Window) -> LazyFrame {
    events
        .filter(
            col(USER)
                .is_not_null()
                .and(col(MISPLACED).not())
                .and(col(T).gt_eq(lit(window.baseline_start)))
                .and(col(T).lt(lit(window.end))),
        )
        .unique(Some(cols([SOURCE, EVENT_ID])), UniqueKeepStrategy::Any)
}

/// Scans the files once and builds every aggregate the detectors need.
pub fn scan(files: &LakeFiles, window: &Window, bucket: Bucket) -> Result<Activity> {
    let columns = [
        USER, TOOL, ACTION, SOURCE, EVENT_ID, NAMESPACE, TARGET, SRC_IP, USER_AGENT, POD,
        ACCOUNT_ID, GROUPS,
    ];
    let events = events_frame(files, &columns)?;
    let in_range = col(T)
        .gt_eq(lit(window.baseline_start))
        .and(col(T).lt(lit(window.end)));
    let quality_plan = events.clone().select([
        len().cast(DataType::UInt64).alias("rows"),
        col(USER)
            .null_count()
            .cast(DataType::UInt64)
            .alias("null_user"),
        col(MISPLACED)
            .and(col(USER).is_not_null())
            .sum()
            .cast(DataType::UInt64)
            .alias("misplaced"),
        col(USER)
            .is_not_null()
            .and(col(MISPLACED).not())
            .and(in_range)
            .sum()
            .cast(DataType::UInt64)
            .alias("valid"),
    ]);
    let usable = usable(events, window).with_columns([
        (col(T) - col(T) % lit(bucket.micros)).alias(BUCKET),
        (col(T) - col(T) % lit(MICROS_PER_DAY)).alias(DAY),
    ]);
    let counts_plan = usable
        .clone()
        .group_by([col(USER), col(BUCKET), col(TOOL), col(ACTION)])
        .agg([len().cast(DataType::UInt32).alias("n")]);
    let seen_plans = Attr::ALL.map(|attr| {
        let c = attr.column();
        usable
            .clone()
            .filter(col(c).is_not_null())
            .group_by([col(USER), col(c)])
            .agg([
                col(T).min().alias("first"),
                col(T)
                    .lt(lit(window.start))
                    .sum()
                    .cast(DataType::UInt32)
                    .alias("n_baseline"),
                col(T)
                    .gt_eq(lit(window.start))
                    .sum()
                    .cast(DataType::UInt32)
                    .alias("n_window"),
            ])
    });
    let breadth_plan = usable
        .clone()
        .group_by([col(USER), col(DAY)])
        .agg(BREADTH_KINDS.map(|c| {
            col(c)
                .drop_nulls()
                .n_unique()
                .cast(DataType::UInt32)
                .alias(c)
        }));
    let groups_plan = usable
        .filter(col(GROUPS).is_not_null())
        .group_by([col(USER)])
        .agg([col(GROUPS).last()]);

    let mut plans = vec![quality_plan.logical_plan, counts_plan.logical_plan];
    plans.extend(seen_plans.map(|p| p.logical_plan));
    plans.push(breadth_plan.logical_plan);
    plans.push(groups_plan.logical_plan);
    let mut frames = LazyFrame::collect_all_with_engine(plans, Engine::Auto, OptFlags::default())
        .map_err(Error::query("aggregating events"))?
        .into_iter();
    let mut next = || frames.next().expect("one frame per plan");
    let quality_df = next();
    let counts_df = next();
    let seen_dfs: Vec<DataFrame> = Attr::ALL.iter().map(|_| next()).collect();
    let breadth_df = next();
    let groups_df = next();

    let mut activity = Activity::default();
    read_counts(&mut activity, &counts_df).map_err(Error::query("reading counts"))?;
    for (attr, df) in Attr::ALL.iter().zip(&seen_dfs) {
        read_seen(&mut activity, *attr, df).map_err(Error::query("reading seen sets"))?;
    }
    read_breadth(&mut activity, &breadth_df).map_err(Error::query("reading breadth"))?;
    read_groups(&mut activity, &groups_df).map_err(Error::query("reading groups"))?;
    // Polars' hash aggregation returns rows in no fixed order: renumber ids
    // by name and sort, so every later stage is deterministic.
    renumber(&mut activity);
    activity
        .counts
        .sort_unstable_by_key(|r| (r.user, r.bucket, r.tool, r.action));
    activity
        .seen
        .sort_unstable_by_key(|r| (r.user, r.attr, r.value));
    activity.breadth.sort_unstable_by_key(|r| (r.user, r.day));

    let q = |name: &str| -> u64 {
        quality_df
            .column(name)
            .ok()
            .and_then(|c| c.u64().ok().and_then(|c| c.get(0)))
            .unwrap_or(0)
    };
    let events_used: u64 = activity.counts.iter().map(|r| u64::from(r.n)).sum();
    activity.quality = Quality {
        rows_read: q("rows"),
        skipped_null_user: q("null_user"),
        skipped_outside_partition: q("misplaced"),
        skipped_duplicates: q("valid").saturating_sub(events_used),
        events: events_used,
        window_events: activity
            .counts
            .iter()
            .filter(|r| window.in_window(r.bucket))
            .map(|r| u64::from(r.n))
            .sum(),
    };
    Ok(activity)
}

fn read_counts(a: &mut Activity, df: &DataFrame) -> PolarsResult<()> {
    let users = df.column(USER)?.str()?;
    let buckets = df.column(BUCKET)?.i64()?;
    let tools = df.column(TOOL)?.str()?;
    let actions = df.column(ACTION)?.str()?;
    let ns = df.column("n")?.u32()?;
    a.counts.reserve(df.height());
    for i in 0..df.height() {
        let (Some(user), Some(bucket), Some(n)) = (users.get(i), buckets.get(i), ns.get(i)) else {
            continue;
        };
        let row = CountRow {
            user: a.users.id(user),
            bucket,
            tool: a.values.id(tools.get(i).unwrap_or("")),
            action: a.values.id(actions.get(i).unwrap_or("")),
            n,
        };
        a.counts.push(row);
    }
    Ok(())
}

fn read_seen(a: &mut Activity, attr: Attr, df: &DataFrame) -> PolarsResult<()> {
    let users = df.column(USER)?.str()?;
    let values = df.column(attr.column())?.str()?;
    let first = df.column("first")?.i64()?;
    let n_baseline = df.column("n_baseline")?.u32()?;
    let n_window = df.column("n_window")?.u32()?;
    for i in 0..df.height() {
        let (Some(user), Some(value), Some(first)) = (users.get(i), values.get(i), first.get(i))
        else {
            continue;
        };
        a.seen.push(SeenRow {
            user: a.users.id(user),
            attr,
            value: a.values.id(value),
            first,
            n_baseline: n_baseline.get(i).unwrap_or(0),
            n_window: n_window.get(i).unwrap_or(0),
        });
    }
    Ok(())
}

fn read_breadth(a: &mut Activity, df: &DataFrame) -> PolarsResult<()> {
    let users = df.column(USER)?.str()?;
    let days = df.column(DAY)?.i64()?;
    let kinds: Vec<&UInt32Chunked> = BREADTH_KINDS
        .iter()
        .map(|c| df.column(c).and_then(|c| c.u32()))
        .collect::<PolarsResult<_>>()?;
    for i in 0..df.height() {
        let (Some(user), Some(day)) = (users.get(i), days.get(i)) else {
            continue;
        };
        let mut distinct = [0u32; BREADTH_KINDS.len()];
        for (d, k) in distinct.iter_mut().zip(&kinds) {
            *d = k.get(i).unwrap_or(0);
        }
        a.breadth.push(BreadthRow {
            user: a.users.id(user),
            day,
            distinct,
        });
    }
    Ok(())
}

fn read_groups(a: &mut Activity, df: &DataFrame) -> PolarsResult<()> {
    let users = df.column(USER)?.str()?;
    let groups = df.column(GROUPS)?.list()?;
    for i in 0..df.height() {
        let (Some(user), Some(list)) = (users.get(i), groups.get_as_series(i)) else {
            continue;
        };
        let names: Vec<String> = list.str()?.iter().flatten().map(str::to_owned).collect();
        if !names.is_empty() {
            let id = a.users.id(user);
            a.asserted_groups.push((id, names));
        }
    }
    a.asserted_groups.sort();
    Ok(())
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
