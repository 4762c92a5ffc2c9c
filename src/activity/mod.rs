//! What the detectors learn from, as plain data: the lake's events folded
//! into per-identity aggregates ([`Activity`]), each identity's baseline and
//! its peers' pooled one ([`baseline`]), and the peer groups ([`peers`]).
//! No I/O: the pipeline's `load` stage fills an [`Activity`] from the lake.

pub mod baseline;
pub mod kinds;
pub mod peers;
#[cfg(test)]
pub mod testing;

use serde::Serialize;

pub use kinds::{Attr, BreadthKind, Kind, PerAttr, PerBreadth};

use crate::intern::Interner;

/// What one identity did with one tool and action in one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CountRow {
    pub user: u32,
    pub bucket: i64,
    pub tool: u32,
    pub action: u32,
    pub n: u32,
}

/// One value of an attribute one identity touched during the loaded range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeenRow {
    pub user: u32,
    pub attr: Attr,
    pub value: u32,
    pub first: i64,
    pub n_baseline: u32,
    pub n_window: u32,
}

/// Distinct things one identity touched in one UTC day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreadthRow {
    pub user: u32,
    pub day: i64,
    pub distinct: PerBreadth<u32>,
}

/// Counted, documented skips: rows the run did not use, and why.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Quality {
    /// Rows in the files read (baseline and window, whole partitions).
    pub rows_read: u64,
    /// Rows with a null `user`: nobody to attribute them to.
    pub skipped_null_user: u64,
    /// Rows with a null `event_time`: no time to place them at.
    pub skipped_null_time: u64,
    /// Rows with a null `tool` or `action`: nothing to count.
    pub skipped_null_action: u64,
    /// Rows whose `event_time` falls outside their partition's UTC date.
    pub skipped_outside_partition: u64,
    /// Second and later copies of one `(source, event_id)` of one identity.
    pub skipped_duplicates: u64,
    /// Events used: baseline plus scoring window.
    pub events: u64,
    pub window_events: u64,
}

impl Quality {
    pub fn add(&mut self, other: &Quality) {
        self.rows_read += other.rows_read;
        self.skipped_null_user += other.skipped_null_user;
        self.skipped_null_time += other.skipped_null_time;
        self.skipped_null_action += other.skipped_null_action;
        self.skipped_outside_partition += other.skipped_outside_partition;
        self.skipped_duplicates += other.skipped_duplicates;
        self.events += other.events;
        self.window_events += other.window_events;
    }
}

/// The lake, aggregated for the run. Ids are numbered in name order and
/// every table is sorted, so nothing depends on the order rows were read.
#[derive(Debug, Default, Clone)]
pub struct Activity {
    pub users: Interner,
    /// Tools, actions and attribute values share one interner.
    pub values: Interner,
    /// Sorted by (user, bucket, tool, action).
    pub counts: Vec<CountRow>,
    /// Sorted by (user, attr, value); one row per value.
    pub seen: Vec<SeenRow>,
    /// Sorted by (user, day).
    pub breadth: Vec<BreadthRow>,
    /// Groups the sources asserted for each identity (latest seen), sorted.
    pub asserted_groups: Vec<(u32, Vec<String>)>,
    pub quality: Quality,
}
