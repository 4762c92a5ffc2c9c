//! Duplicate events: a second copy of a `(source, event_id)` of one
//! identity, filed under the same date, is skipped and counted. Which copy
//! is kept is decided by content, not by file order (`super::day`). Hashes find
//! candidates; the ids themselves decide. A null id cannot be matched, so
//! it is never a duplicate, and an id reused by another identity is a
//! source bug, not a copy, so neither identity loses events to it.

use polars::prelude::*;
use rustc_hash::FxHashMap;

/// Marks a null `event_id` among the hashes (real hashes are odd).
pub const NO_EVENT_ID: u64 = 0;

/// A hash of each row's `event_id`, for finding duplicate candidates. Ids of
/// up to 12 bytes are stored inside their view, so the view is hashed.
pub fn event_id_hashes(ca: &StringChunked) -> Vec<u64> {
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

/// The copies seen so far in one partition of a day; reused across
/// partitions (`clear`).
pub struct Duplicates<'a> {
    event_ids: &'a StringChunked,
    /// (user, source, event id hash) -> first row with it.
    first_row: FxHashMap<(u32, u32, u64), u32>,
    /// Ids compared as text after two different ids shared a hash, and the
    /// first row with each.
    collided: FxHashMap<(u32, u32, &'a str), u32>,
}

impl<'a> Duplicates<'a> {
    pub fn new(event_ids: &'a StringChunked) -> Self {
        Duplicates {
            event_ids,
            first_row: FxHashMap::default(),
            collided: FxHashMap::default(),
        }
    }

    pub fn clear(&mut self) {
        self.first_row.clear();
        self.collided.clear();
    }

    /// The first row seen of the event row `row` (of `user` and `source`,
    /// id hash `event`) copies, when it is a copy.
    pub fn earlier(&mut self, row: u32, user: u32, source: u32, event: u64) -> Option<u32> {
        if event == NO_EVENT_ID {
            return None;
        }
        let first = *self.first_row.entry((user, source, event)).or_insert(row);
        if first == row {
            return None;
        }
        let id = |row: u32| self.event_ids.get(row as usize).unwrap_or_default();
        let (earlier, this) = (id(first), id(row));
        if earlier == this {
            return Some(first);
        }
        self.collided
            .entry((user, source, earlier))
            .or_insert(first);
        match self.collided.entry((user, source, this)) {
            std::collections::hash_map::Entry::Occupied(e) => Some(*e.get()),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(row);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_copy_of_an_event_id_is_a_duplicate_for_the_same_identity_only() {
        let ids = StringChunked::from_slice("event_id".into(), &["a", "a", "a"]);
        let mut seen = Duplicates::new(&ids);
        let hash = event_id_hashes(&ids)[0];
        assert_eq!(seen.earlier(0, 7, 0, hash), None);
        assert_eq!(seen.earlier(1, 7, 0, hash), Some(0));
        assert_eq!(seen.earlier(2, 8, 0, hash), None);
    }

    #[test]
    fn different_ids_that_share_a_hash_are_told_apart_by_their_text() {
        let ids = StringChunked::from_slice("event_id".into(), &["a", "b", "b", "a", "c"]);
        let mut seen = Duplicates::new(&ids);
        let same_hash = 41;
        let verdicts: Vec<Option<u32>> = (0..5).map(|i| seen.earlier(i, 7, 0, same_hash)).collect();
        assert_eq!(verdicts, [None, None, Some(1), Some(0), None]);
    }

    #[test]
    fn rows_without_an_event_id_are_never_duplicates() {
        let ids = StringChunked::from_iter([None::<&str>, None]);
        let hashes = event_id_hashes(&ids);
        assert_eq!(hashes, [NO_EVENT_ID, NO_EVENT_ID]);
        let mut seen = Duplicates::new(&ids);
        assert_eq!(seen.earlier(0, 7, 0, hashes[0]), None);
        assert_eq!(seen.earlier(1, 7, 0, hashes[1]), None);
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
}
