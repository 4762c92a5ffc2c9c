//! Small closed sets of things an identity touches (attributes watched for
//! novelty, kinds of breadth) and arrays indexed by them, so code says
//! `breadth[BreadthKind::Namespace]`, never `breadth[0]`.

use std::marker::PhantomData;
use std::ops::{Index, IndexMut};

use serde::Serialize;

use crate::schema::{ACCOUNT_ID, ACTING_AS, ACTION, NAMESPACE, POD, SRC_IP, TARGET, USER_AGENT};

/// A closed set of kinds, numbered `0..N` in `ALL` order.
pub trait Kind: Copy + Eq + 'static {
    const ALL: &'static [Self];
    fn index(self) -> usize;
}

/// One value per kind of `K`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PerKind<K: Kind, T, const N: usize> {
    values: [T; N],
    kind: PhantomData<K>,
}

impl<K: Kind, T: Default + Copy, const N: usize> Default for PerKind<K, T, N> {
    fn default() -> Self {
        PerKind {
            values: [T::default(); N],
            kind: PhantomData,
        }
    }
}

impl<K: Kind, T, const N: usize> PerKind<K, T, N> {
    pub fn from_fn(f: impl Fn(K) -> T) -> Self {
        PerKind {
            values: std::array::from_fn(|i| f(K::ALL[i])),
            kind: PhantomData,
        }
    }

    /// Each kind with its value, in `K::ALL` order.
    pub fn iter(&self) -> impl Iterator<Item = (K, &T)> {
        K::ALL.iter().copied().zip(self.values.iter())
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.values.iter()
    }

    pub fn map<U>(&self, f: impl Fn(&T) -> U) -> PerKind<K, U, N> {
        PerKind {
            values: std::array::from_fn(|i| f(&self.values[i])),
            kind: PhantomData,
        }
    }
}

impl<K: Kind, T, const N: usize> Index<K> for PerKind<K, T, N> {
    type Output = T;
    fn index(&self, kind: K) -> &T {
        &self.values[kind.index()]
    }
}

impl<K: Kind, T, const N: usize> IndexMut<K> for PerKind<K, T, N> {
    fn index_mut(&mut self, kind: K) -> &mut T {
        &mut self.values[kind.index()]
    }
}

/// An attribute whose first appearance for an identity is evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Attr {
    Action,
    Namespace,
    Target,
    SrcIp,
    UserAgent,
    /// The identity a call was made as (Kubernetes impersonation, a GCP
    /// service account acted through): `ingest`'s `acting_as` column.
    ActingAs,
}

impl Kind for Attr {
    const ALL: &'static [Attr] = &[
        Attr::Action,
        Attr::Namespace,
        Attr::Target,
        Attr::SrcIp,
        Attr::UserAgent,
        Attr::ActingAs,
    ];
    fn index(self) -> usize {
        self as usize
    }
}

/// One value per [`Attr`].
pub type PerAttr<T> = PerKind<Attr, T, 6>;

impl Attr {
    pub fn column(self) -> &'static str {
        match self {
            Attr::Action => ACTION,
            Attr::Namespace => NAMESPACE,
            Attr::Target => TARGET,
            Attr::SrcIp => SRC_IP,
            Attr::UserAgent => USER_AGENT,
            Attr::ActingAs => ACTING_AS,
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
            Attr::ActingAs => "acting as",
        }
    }
}

/// Distinct things of one kind an identity touches in a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum BreadthKind {
    Namespace,
    Pod,
    Target,
    Account,
}

impl Kind for BreadthKind {
    const ALL: &'static [BreadthKind] = &[
        BreadthKind::Namespace,
        BreadthKind::Pod,
        BreadthKind::Target,
        BreadthKind::Account,
    ];
    fn index(self) -> usize {
        self as usize
    }
}

/// One value per [`BreadthKind`].
pub type PerBreadth<T> = PerKind<BreadthKind, T, 4>;

impl BreadthKind {
    pub fn column(self) -> &'static str {
        match self {
            BreadthKind::Namespace => NAMESPACE,
            BreadthKind::Pod => POD,
            BreadthKind::Target => TARGET,
            BreadthKind::Account => ACCOUNT_ID,
        }
    }

    /// How a reason sentence names several of them.
    pub fn plural(self) -> &'static str {
        match self {
            BreadthKind::Namespace => "namespaces",
            BreadthKind::Pod => "pods",
            BreadthKind::Target => "targets",
            BreadthKind::Account => "accounts",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_numbered_in_their_all_order() {
        for (i, a) in Attr::ALL.iter().enumerate() {
            assert_eq!(a.index(), i);
        }
        for (i, b) in BreadthKind::ALL.iter().enumerate() {
            assert_eq!(b.index(), i);
        }
    }

    #[test]
    fn a_per_kind_array_is_indexed_by_name() {
        let mut b: PerBreadth<u32> = PerBreadth::default();
        b[BreadthKind::Target] += 3;
        let pairs: Vec<(BreadthKind, u32)> = b.iter().map(|(k, v)| (k, *v)).collect();
        assert_eq!(pairs[2], (BreadthKind::Target, 3));
        assert_eq!(b.values().sum::<u32>(), 3);
    }
}
