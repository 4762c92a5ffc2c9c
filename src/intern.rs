//! String interning: the aggregated activity repeats a few thousand user names
//! and action strings millions of times, so stages work on `u32` ids.

use std::collections::HashMap;

#[derive(Debug, Default, Clone)]
pub struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    pub fn id(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(s.to_owned());
        self.ids.insert(s.to_owned(), id);
        id
    }

    pub fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

impl Interner {
    /// Re-numbers ids in name order, so ids (and everything sorted by them)
    /// do not depend on the order Polars returned rows in. Returns the new
    /// interner and `old id -> new id`.
    pub fn sorted(&self) -> (Interner, Vec<u32>) {
        let mut order: Vec<u32> = (0..self.names.len() as u32).collect();
        order.sort_by(|a, b| self.names[*a as usize].cmp(&self.names[*b as usize]));
        let mut remap = vec![0u32; self.names.len()];
        let mut sorted = Interner::default();
        for old in order {
            remap[old as usize] = sorted.id(&self.names[old as usize]);
        }
        (sorted, remap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_ids_follow_name_order_whatever_the_insertion_order() {
        let mut a = Interner::default();
        for s in ["c", "a", "b"] {
            a.id(s);
        }
        let (s, remap) = a.sorted();
        assert_eq!(s.name(0), "a");
        assert_eq!(remap[a.get("c").unwrap() as usize], 2);
    }
}
