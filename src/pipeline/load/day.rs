//! One UTC day's rows folded into per-identity aggregates, in Rust: each
//! string column becomes local ids (a Parquet dictionary page repeats one
//! Arrow view, so a value is looked up by its view first), rows are
//! scattered into partitions of a few dozen identities each, and each
//! partition is folded with maps small enough to stay in cache.

use std::borrow::Cow;

use chrono::NaiveDate;
use polars::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};

use super::dedup::{event_id_hashes, Duplicates};
use crate::activity::{Attr, BreadthKind, Kind, PerBreadth, Quality};
use crate::lake::T;
use crate::normalise;
use crate::schema::*;
use crate::window::{day_start, Bucket, Window, MICROS_PER_DAY};

/// The id of a null string.
pub const NONE: u32 = u32::MAX;

/// What one row says besides its user, as ids into the day's string table
/// (`NONE` = null).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Signature {
    tool: u32,
    action: u32,
    namespace: u32,
    target: u32,
    src_ip: u32,
    user_agent: u32,
    pod: u32,
    account: u32,
    acting_as: u32,
}

impl Signature {
    /// The value of an attribute watched for novelty.
    fn attr(&self, attr: Attr) -> u32 {
        match attr {
            Attr::Action => self.action,
            Attr::Namespace => self.namespace,
            Attr::Target => self.target,
            Attr::SrcIp => self.src_ip,
            Attr::UserAgent => self.user_agent,
            Attr::ActingAs => self.acting_as,
        }
    }

    /// The value counted for a kind of breadth.
    fn breadth(&self, kind: BreadthKind) -> u32 {
        match kind {
            BreadthKind::Namespace => self.namespace,
            BreadthKind::Pod => self.pod,
            BreadthKind::Target => self.target,
            BreadthKind::Account => self.account,
        }
    }
}

/// The columns of a [`Signature`], as local ids per row.
struct SignatureColumns {
    tool: Vec<u32>,
    action: Vec<u32>,
    namespace: Vec<u32>,
    target: Vec<u32>,
    src_ip: Vec<u32>,
    user_agent: Vec<u32>,
    pod: Vec<u32>,
    account: Vec<u32>,
    acting_as: Vec<u32>,
}

impl SignatureColumns {
    fn read<'a>(df: &'a DataFrame, names: &mut LocalNames<'a>) -> PolarsResult<Self> {
        let mut ids = |name: &str, normalise: Normalise| -> PolarsResult<Vec<u32>> {
            Ok(column_ids(df.column(name)?.str()?, names, normalise))
        };
        Ok(SignatureColumns {
            tool: ids(TOOL, as_is)?,
            action: ids(ACTION, as_is)?,
            namespace: ids(NAMESPACE, as_is)?,
            target: ids(TARGET, as_is)?,
            src_ip: ids(SRC_IP, as_is)?,
            user_agent: ids(USER_AGENT, normalise::user_agent)?,
            pod: ids(POD, normalise::pod)?,
            account: ids(ACCOUNT_ID, as_is)?,
            acting_as: ids(ACTING_AS, as_is)?,
        })
    }

    fn at(&self, row: usize) -> Signature {
        Signature {
            tool: self.tool[row],
            action: self.action[row],
            namespace: self.namespace[row],
            target: self.target[row],
            src_ip: self.src_ip[row],
            user_agent: self.user_agent[row],
            pod: self.pod[row],
            account: self.account[row],
            acting_as: self.acting_as[row],
        }
    }
}

/// Events of one signature in the day.
#[derive(Debug, Clone, Copy)]
struct SignatureAcc {
    n: u32,
    n_window: u32,
    first: i64,
}

/// One day's aggregates, in local ids of its own string table.
#[derive(Default)]
pub struct DayAggregate {
    pub day0: i64,
    pub names: Vec<String>,
    /// (user, bucket, tool, action) -> events.
    pub counts: Vec<((u32, i64, u32, u32), u32)>,
    pub seen: Vec<((u32, Attr, u32), SeenAcc)>,
    /// Per user: distinct namespaces, pods, targets, accounts.
    pub breadth: Vec<(u32, PerBreadth<u32>)>,
    /// Per user: the time of its latest event and the groups it asserted.
    pub groups: Vec<(u32, i64, Vec<String>)>,
    pub quality: Quality,
}

#[derive(Debug, Clone, Copy)]
pub struct SeenAcc {
    pub first: i64,
    pub n_baseline: u32,
    pub n_window: u32,
}

/// String interning for one day's rows: borrowed from the frame, owned only
/// where normalising changed a value.
#[derive(Default)]
struct LocalNames<'a> {
    ids: FxHashMap<Cow<'a, str>, u32>,
    names: Vec<Cow<'a, str>>,
}

impl<'a> LocalNames<'a> {
    fn id(&mut self, s: Cow<'a, str>) -> u32 {
        if let Some(id) = self.ids.get(&s) {
            return *id;
        }
        let next = self.names.len() as u32;
        self.names.push(s.clone());
        self.ids.insert(s, next);
        next
    }
}

/// How a column's values are interned: as they are, or normalised
/// (`crate::normalise`).
type Normalise = for<'s> fn(&'s str) -> Cow<'s, str>;

fn as_is(s: &str) -> Cow<'_, str> {
    Cow::Borrowed(s)
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

/// Folds one day's frame (the columns `super::SCAN_COLUMNS` and [`T`]).
/// Rows with a null user or time, or outside their partition's date, are
/// counted in the day's [`Quality`] and skipped.
pub fn fold_day(
    date: NaiveDate,
    df: &DataFrame,
    window: &Window,
    bucket: Bucket,
) -> PolarsResult<DayAggregate> {
    let day0 = day_start(date);
    let mut names = LocalNames::default();
    let users = column_ids(df.column(USER)?.str()?, &mut names, as_is);
    let columns = SignatureColumns::read(df, &mut names)?;
    let sources = column_ids(df.column(SOURCE)?.str()?, &mut names, as_is);
    let event_ids = df.column(EVENT_ID)?.str()?;
    let event_hashes = event_id_hashes(event_ids);
    let times = df.column(T)?.i64()?;
    let groups = df.column(GROUPS)?.list()?;

    // Usable rows, split into partitions of a few dozen identities each (a
    // radix scatter: one write stream per partition).
    let mut quality = Quality {
        rows_read: users.len() as u64,
        ..Default::default()
    };
    let mut partitions: Vec<Vec<Row>> = (0..PARTITIONS)
        .map(|_| Vec::with_capacity(users.len() / PARTITIONS * 5 / 4))
        .collect();
    for (row, (&user, t)) in users.iter().zip(times.iter()).enumerate() {
        let Some(t) = t else {
            quality.skipped_null_time += 1;
            continue;
        };
        if user == NONE {
            quality.skipped_null_user += 1;
            continue;
        }
        if columns.tool[row] == NONE || columns.action[row] == NONE {
            quality.skipped_null_action += 1;
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
            signature: columns.at(row),
        });
    }
    drop(columns);
    let names = names;

    let mut out = DayAggregate {
        day0,
        ..Default::default()
    };
    let asserts = asserts_groups(groups);
    let mut fold = PartitionFold::new(event_ids, groups, &asserts, &names.names);
    for rows in &partitions {
        quality.add(&fold.fold(rows, window, bucket));
        fold.drain_into(&mut out);
    }
    out.quality = quality;
    out.names = names.names.iter().map(|s| s.to_string()).collect();
    Ok(out)
}

/// One partition's rows, folded; the maps are reused across partitions.
struct PartitionFold<'a> {
    groups: &'a ListChunked,
    /// Per frame row: whether it asserts any group.
    asserts: &'a [bool],
    names: &'a [Cow<'a, str>],
    duplicates: Duplicates<'a>,
    /// (user, bucket, tool, action) -> events.
    counts: FxHashMap<(u32, i64, u32, u32), u32>,
    signatures: FxHashMap<(u32, Signature), SignatureAcc>,
    /// Per user: time and row of the latest event that asserts groups.
    latest: FxHashMap<u32, (i64, u32)>,
    seen: FxHashMap<(u32, Attr, u32), SeenAcc>,
    distinct: FxHashSet<(u32, BreadthKind, u32)>,
    breadth: FxHashMap<u32, PerBreadth<u32>>,
}

impl<'a> PartitionFold<'a> {
    fn new(
        event_ids: &'a StringChunked,
        groups: &'a ListChunked,
        asserts: &'a [bool],
        names: &'a [Cow<'a, str>],
    ) -> Self {
        PartitionFold {
            groups,
            asserts,
            names,
            duplicates: Duplicates::new(event_ids),
            counts: FxHashMap::default(),
            signatures: FxHashMap::default(),
            latest: FxHashMap::default(),
            seen: FxHashMap::default(),
            distinct: FxHashSet::default(),
            breadth: FxHashMap::default(),
        }
    }

    fn clear(&mut self) {
        self.duplicates.clear();
        self.counts.clear();
        self.signatures.clear();
        self.latest.clear();
        self.seen.clear();
        self.distinct.clear();
        self.breadth.clear();
    }

    /// Folds the partition's rows and returns the counts. Of the copies of
    /// one event, the one that sorts first by content is kept (a first pass
    /// picks it), so the order of files and rows never decides.
    fn fold(&mut self, rows: &[Row], window: &Window, bucket: Bucket) -> Quality {
        self.clear();
        let mut quality = Quality::default();
        // Per event (by the frame row of its first copy): the copy kept.
        let mut kept: FxHashMap<u32, usize> = FxHashMap::default();
        let mut copy = vec![false; rows.len()];
        for (i, r) in rows.iter().enumerate() {
            let Some(first) = self.duplicates.earlier(r.row, r.user, r.source, r.event) else {
                kept.insert(r.row, i);
                continue;
            };
            let held = kept[&first];
            if self.content(r) < self.content(&rows[held]) {
                copy[held] = true;
                kept.insert(first, i);
            } else {
                copy[i] = true;
            }
        }
        for (r, copy) in rows.iter().zip(copy) {
            if copy {
                quality.skipped_duplicates += 1;
                continue;
            }
            let in_window = r.t >= window.start;
            quality.events += 1;
            quality.window_events += u64::from(in_window);
            self.add(r, bucket.floor(r.t), in_window);
        }
        quality
    }

    /// What a row says, as text: copies of one event are ordered by it.
    fn content(&self, r: &Row) -> (i64, [&'a str; 9]) {
        let text = |id: u32| {
            if id == NONE {
                ""
            } else {
                self.names[id as usize].as_ref()
            }
        };
        let s = r.signature;
        (
            r.t,
            [
                s.tool,
                s.action,
                s.namespace,
                s.target,
                s.src_ip,
                s.user_agent,
                s.pod,
                s.account,
                s.acting_as,
            ]
            .map(text),
        )
    }

    fn add(&mut self, r: &Row, bucket: i64, in_window: bool) {
        let sig = r.signature;
        *self
            .counts
            .entry((r.user, bucket, sig.tool, sig.action))
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
        // Only events that assert groups say which groups an identity has
        // (a CloudTrail call after the day's last kubectl says nothing);
        // ties go to the smaller list, so file order never decides.
        if self.asserts[r.row as usize] {
            let latest = self.latest.entry(r.user).or_insert((r.t, r.row));
            let later = r.t > latest.0
                || (r.t == latest.0
                    && strings_at(self.groups, r.row as usize)
                        < strings_at(self.groups, latest.1 as usize));
            if later {
                *latest = (r.t, r.row);
            }
        }
    }

    /// Moves the partition's aggregates into the day's: counts as they are,
    /// signatures expanded into seen values and breadth (rows far outnumber
    /// signatures, so this is done once per signature), and the groups of
    /// each identity's latest event.
    fn drain_into(&mut self, out: &mut DayAggregate) {
        out.counts.extend(self.counts.drain());
        for ((u, sig), acc) in &self.signatures {
            for &attr in Attr::ALL {
                let value = sig.attr(attr);
                if value == NONE {
                    continue;
                }
                let slot = self.seen.entry((*u, attr, value)).or_insert(SeenAcc {
                    first: acc.first,
                    n_baseline: 0,
                    n_window: 0,
                });
                slot.first = slot.first.min(acc.first);
                slot.n_baseline += acc.n - acc.n_window;
                slot.n_window += acc.n_window;
            }
            for &kind in BreadthKind::ALL {
                let value = sig.breadth(kind);
                if value != NONE && self.distinct.insert((*u, kind, value)) {
                    self.breadth.entry(*u).or_default()[kind] += 1;
                }
            }
        }
        out.seen.extend(self.seen.drain());
        out.breadth.extend(self.breadth.drain());
        for (&u, &(t, row)) in &self.latest {
            let names = strings_at(self.groups, row as usize);
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
fn column_ids<'a>(
    ca: &'a StringChunked,
    names: &mut LocalNames<'a>,
    normalise: Normalise,
) -> Vec<u32> {
    let mut ids = Vec::with_capacity(ca.len());
    for array in ca.downcast_iter() {
        let mut by_view: FxHashMap<u128, u32> = FxHashMap::default();
        for (view, value) in array.views().iter().zip(array.iter()) {
            ids.push(match value {
                None => NONE,
                Some(s) => *by_view
                    .entry(view.as_u128())
                    .or_insert_with(|| names.id(normalise(s))),
            });
        }
    }
    ids
}

/// Per row of a list column: whether it holds at least one value. Read
/// once per day, so no row walks the chunks again.
fn asserts_groups(list: &ListChunked) -> Vec<bool> {
    let mut out = Vec::with_capacity(list.len());
    for array in list.downcast_iter() {
        for row in 0..array.len() {
            let (start, end) = array.offsets().start_end(row);
            out.push(array.validity().is_none_or(|v| v.get_bit(row)) && end > start);
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_spread_consecutive_identities() {
        let mut used = vec![0usize; PARTITIONS];
        for user in 0..(PARTITIONS as u32 * 8) {
            used[partition_of(user)] += 1;
        }
        assert!(used.iter().all(|&n| n > 0 && n < 24), "{used:?}");
    }
}
