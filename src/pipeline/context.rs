//! Stage 2: peer groups, joined at query time (volatile context is never
//! stamped into the lake). In order of preference:
//! 1. `--context`: an identity table `user,group,valid_from,valid_to`, joined
//!    as of the identity's last event in the scoring window (so movers and new
//!    hires get the group they hold now);
//! 2. the `groups` the sources asserted in the events (the most specific
//!    non-`system:` group);
//! 3. behaviour-learned peers: the other members of the identity's k-means
//!    cluster of baseline action mixes (`crate::clustering`), for identities
//!    with history but no group (or a declared group too small to judge by).
//!    A newcomer with no history and no group is placed in the cluster
//!    nearest its first days' action mix, so a new hire who works like a
//!    team is judged against that team and an account that works like
//!    nobody stands out against the closest group it resembles. A cluster
//!    with fewer than 8 other members is not used;
//! 4. the whole org, when nothing else applies.
//!
//! The same clusters sanity-check declared groups: an identity whose cluster
//! is not the one most of its group falls in is listed in `run.json`
//! (`identities.unlike_declared_group`), e.g. a mover whose table row is stale.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::DateTime;
use ndarray::Array2;
use serde::Serialize;

use super::load::Activity;
use crate::error::{Error, Result};
use crate::window::Window;

/// Where an identity's peer group came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerSource {
    Context,
    Asserted,
    Learned,
    Org,
}

/// Peers of every identity, indexed by user id.
#[derive(Debug, Clone, Default)]
pub struct Peers {
    /// The `peer_group` a finding shows, e.g. `team-payments` or
    /// `learned: cluster 3 of 9, like ana@example.com`.
    pub label: Vec<String>,
    pub source: Vec<PeerSource>,
    /// Other identities in the group (never the identity itself), sorted.
    pub members: Vec<Vec<u32>>,
    /// Behaviour clusters of the identities with a baseline.
    pub learned: LearnedGroups,
}

/// What the k-means peer groups found, for `run.json`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LearnedGroups {
    /// Identities clustered (those with baseline activity).
    pub identities: usize,
    /// Clusters chosen by the silhouette rule.
    pub k: usize,
    pub silhouette: f64,
    /// Identities whose behaviour cluster differs from the one most of their
    /// declared group is in: `(identity, declared group)`.
    #[serde(skip)]
    pub unlike_declared: Vec<(u32, String)>,
}

/// Actions (by how many identities do them) that span the behaviour space;
/// the rest are pooled into one "other" coordinate.
const BEHAVIOUR_ACTIONS: usize = 64;
/// A declared group with fewer other members than this is too thin to judge
/// against; such identities get learned peers instead.
const MIN_GROUP_PEERS: usize = 2;
/// A learned cluster with fewer other members than this is too thin to judge
/// by, so the identity gets the org instead. Rarity among m peers is
/// smoothed by half a peer, so nothing can look rarer than 0.5/(m+1): three
/// peers cannot call anything rare (seed 1's quiet newcomer was missed
/// that way). Thresholds of 5, 8 and 12 gave the same findings on the seven
/// sample seeds.
const MIN_LEARNED_PEERS: usize = 8;

/// One membership interval from the identity table.
#[derive(Debug, Clone)]
struct Membership {
    group: String,
    valid_from: i64,
    valid_to: Option<i64>,
}

pub fn resolve(activity: &Activity, window: &Window, context: Option<&Path>) -> Result<Peers> {
    let n = activity.users.len();
    let mut group: Vec<Option<(String, PeerSource)>> = vec![None; n];

    if let Some(path) = context {
        let table = read_context(path)?;
        let as_of = last_window_event(activity, window);
        for (user, slot) in group.iter_mut().enumerate() {
            let Some(memberships) = table.get(activity.users.name(user as u32)) else {
                continue;
            };
            let t = as_of[user];
            let mut valid: Vec<&Membership> = memberships
                .iter()
                .filter(|m| m.valid_from <= t && m.valid_to.is_none_or(|to| t < to))
                .collect();
            valid.sort_by(|a, b| a.group.cmp(&b.group));
            if let Some(m) = valid.first() {
                *slot = Some((m.group.clone(), PeerSource::Context));
            }
        }
    }

    // Asserted groups: prefer the most specific (fewest members org-wide).
    let mut size: HashMap<&str, usize> = HashMap::new();
    for (_, groups) in &activity.asserted_groups {
        for g in groups.iter().filter(|g| !g.starts_with("system:")) {
            *size.entry(g.as_str()).or_default() += 1;
        }
    }
    for (user, groups) in &activity.asserted_groups {
        let slot = &mut group[*user as usize];
        if slot.is_some() {
            continue;
        }
        let best = groups
            .iter()
            .filter(|g| !g.starts_with("system:"))
            .min_by(|a, b| size[a.as_str()].cmp(&size[b.as_str()]).then(a.cmp(b)));
        if let Some(g) = best {
            *slot = Some((g.clone(), PeerSource::Asserted));
        }
    }

    let mut by_group: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for (user, g) in group.iter().enumerate() {
        if let Some((name, _)) = g {
            by_group.entry(name.as_str()).or_default().push(user as u32);
        }
    }

    let mix = action_mix(activity, |bucket| bucket < window.start);
    let with_history: Vec<u32> = (0..n as u32)
        .filter(|u| !mix[*u as usize].is_empty())
        .collect();
    let space = BehaviourSpace::new(&mix, &with_history);
    let clusters = crate::clustering::learn(space.matrix(&mix, &with_history).view());
    let mut cluster_of: Vec<Option<usize>> = vec![None; n];
    for (row, u) in with_history.iter().enumerate() {
        cluster_of[*u as usize] = Some(clusters.assignment[row]);
    }
    // Newcomers: the cluster nearest what they did in the window.
    let first_days = action_mix(activity, |bucket| window.in_window(bucket));
    let newcomer_cluster: Vec<Option<usize>> = (0..n)
        .map(|u| {
            (mix[u].is_empty() && !first_days[u].is_empty() && !with_history.is_empty())
                .then(|| clusters.nearest(&space.vector(&first_days[u])))
        })
        .collect();
    let mut peers = Peers {
        label: Vec::with_capacity(n),
        source: Vec::with_capacity(n),
        members: Vec::with_capacity(n),
        learned: LearnedGroups {
            identities: with_history.len(),
            k: clusters.k,
            silhouette: clusters.silhouette,
            unlike_declared: unlike_declared(&group, &by_group, &cluster_of),
        },
    };
    let mates = |u: u32, c: usize| -> Vec<u32> {
        with_history
            .iter()
            .copied()
            .filter(|v| *v != u && cluster_of[*v as usize] == Some(c))
            .collect()
    };
    for u in 0..n as u32 {
        let declared = group[u as usize]
            .as_ref()
            .filter(|(name, _)| by_group[name.as_str()].len() > MIN_GROUP_PEERS);
        if let Some((name, source)) = declared {
            peers.label.push(name.clone());
            peers.source.push(*source);
            peers.members.push(
                by_group[name.as_str()]
                    .iter()
                    .copied()
                    .filter(|v| *v != u)
                    .collect(),
            );
        } else if let Some((c, members)) = cluster_of[u as usize]
            .or(newcomer_cluster[u as usize])
            .map(|c| (c, mates(u, c)))
            .filter(|(_, m)| m.len() >= MIN_LEARNED_PEERS)
        {
            let like = activity
                .users
                .name(with_history[clusters.representative[c]]);
            let how = if cluster_of[u as usize].is_some() {
                "learned"
            } else {
                "learned from its first days"
            };
            peers.label.push(format!(
                "{how}: cluster {} of {}, like {like}",
                c + 1,
                clusters.k
            ));
            peers.source.push(PeerSource::Learned);
            peers.members.push(members);
        } else {
            peers.label.push("org".into());
            peers.source.push(PeerSource::Org);
            peers
                .members
                .push(with_history.iter().copied().filter(|v| *v != u).collect());
        }
    }
    Ok(peers)
}

/// Each identity's action counts in the buckets `keep` selects, as a sparse
/// unit vector.
fn action_mix(activity: &Activity, keep: impl Fn(i64) -> bool) -> Vec<Vec<(u32, f64)>> {
    let mut mix: Vec<BTreeMap<u32, f64>> = vec![BTreeMap::new(); activity.users.len()];
    for r in activity.counts.iter().filter(|r| keep(r.bucket)) {
        *mix[r.user as usize].entry(r.action).or_default() += f64::from(r.n);
    }
    mix.into_iter()
        .map(|m| {
            // Square roots damp the few actions heavy users repeat thousands of times.
            let v: Vec<(u32, f64)> = m.into_iter().map(|(a, c)| (a, c.sqrt())).collect();
            let norm = v.iter().map(|(_, x)| x * x).sum::<f64>().sqrt();
            v.into_iter().map(|(a, x)| (a, x / norm)).collect()
        })
        .collect()
}

/// Dense coordinates for action mixes: the `BEHAVIOUR_ACTIONS` most
/// widespread actions, plus one coordinate for the rest, so the clustering
/// works in a fixed, small space.
struct BehaviourSpace {
    column: HashMap<u32, usize>,
}

impl BehaviourSpace {
    fn new(mix: &[Vec<(u32, f64)>], users: &[u32]) -> BehaviourSpace {
        let mut reach: HashMap<u32, usize> = HashMap::new();
        for u in users {
            for (a, _) in &mix[*u as usize] {
                *reach.entry(*a).or_default() += 1;
            }
        }
        let mut widespread: Vec<(usize, u32)> = reach.into_iter().map(|(a, k)| (k, a)).collect();
        widespread.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
        let column = widespread
            .iter()
            .take(BEHAVIOUR_ACTIONS)
            .enumerate()
            .map(|(i, (_, a))| (*a, i))
            .collect();
        BehaviourSpace { column }
    }

    fn vector(&self, mix: &[(u32, f64)]) -> Vec<f64> {
        let other = self.column.len();
        let mut out = vec![0.0_f64; other + 1];
        for (a, x) in mix {
            // Squares add, so the "other" coordinate keeps the row a unit vector.
            let c = self.column.get(a).copied().unwrap_or(other);
            out[c] = (out[c] * out[c] + x * x).sqrt();
        }
        out
    }

    /// One row per identity in `users`.
    fn matrix(&self, mix: &[Vec<(u32, f64)>], users: &[u32]) -> Array2<f64> {
        let mut out = Array2::<f64>::zeros((users.len(), self.column.len() + 1));
        for (row, u) in users.iter().enumerate() {
            for (c, x) in self.vector(&mix[*u as usize]).into_iter().enumerate() {
                out[[row, c]] = x;
            }
        }
        out
    }
}

/// Identities whose cluster is not the one most members of their declared
/// group fall in (groups of at least three clustered members).
fn unlike_declared(
    group: &[Option<(String, PeerSource)>],
    by_group: &BTreeMap<&str, Vec<u32>>,
    cluster_of: &[Option<usize>],
) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for (name, members) in by_group {
        let clustered: Vec<(u32, usize)> = members
            .iter()
            .filter_map(|u| cluster_of[*u as usize].map(|c| (*u, c)))
            .collect();
        if clustered.len() < 3 {
            continue;
        }
        let mut votes: BTreeMap<usize, usize> = BTreeMap::new();
        for (_, c) in &clustered {
            *votes.entry(*c).or_default() += 1;
        }
        let (majority, count) = votes
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(c, k)| (*c, *k))
            .unwrap_or((0, 0));
        // Only a group that mostly agrees on one cluster can vouch for it.
        if 2 * count <= clustered.len() {
            continue;
        }
        out.extend(
            clustered
                .iter()
                .filter(|(u, c)| *c != majority && group[*u as usize].is_some())
                .map(|(u, _)| (*u, (*name).to_owned())),
        );
    }
    out.sort();
    out
}

/// The time each identity's group is looked up at: its last event in the
/// scoring window, or the window's end when it has none there.
fn last_window_event(activity: &Activity, window: &Window) -> Vec<i64> {
    let mut t = vec![window.end - 1; activity.users.len()];
    let mut seen = vec![false; activity.users.len()];
    for r in activity
        .counts
        .iter()
        .filter(|r| window.in_window(r.bucket))
    {
        let u = r.user as usize;
        if !seen[u] || r.bucket > t[u] {
            t[u] = r.bucket;
            seen[u] = true;
        }
    }
    t
}

/// Reads `user,group,valid_from,valid_to` (RFC 3339; empty `valid_to` means
/// still valid). Strict: a bad line is an error naming its line number.
fn read_context(path: &Path) -> Result<HashMap<String, Vec<Membership>>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadContext {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |line: usize, reason: String| Error::Context {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, l)| l.trim()).unwrap_or("");
    if header != "user,group,valid_from,valid_to" {
        return Err(bad(
            1,
            format!("header is {header:?}, expected \"user,group,valid_from,valid_to\""),
        ));
    }
    let time = |line: usize, column: &str, s: &str| {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_micros())
            .map_err(|_| bad(line, format!("{column} {s:?} is not an RFC 3339 instant")))
    };
    let mut table: HashMap<String, Vec<Membership>> = HashMap::new();
    for (i, line) in lines {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [user, group, from, to] = fields[..] else {
            return Err(bad(n, format!("expected 4 fields, found {}", fields.len())));
        };
        if user.is_empty() || group.is_empty() {
            return Err(bad(n, "user and group must not be empty".into()));
        }
        let valid_from = time(n, "valid_from", from)?;
        let valid_to = if to.is_empty() {
            None
        } else {
            Some(time(n, "valid_to", to)?)
        };
        table.entry(user.to_owned()).or_default().push(Membership {
            group: group.to_owned(),
            valid_from,
            valid_to,
        });
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_with_a_missing_field_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ids.csv");
        std::fs::write(
            &p,
            "user,group,valid_from,valid_to\na@x,team-a,2026-01-01T00:00:00Z,\nb@x,team-b\n",
        )
        .unwrap();
        let err = read_context(&p).unwrap_err();
        assert!(err.is_usage());
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn context_keeps_every_interval_of_a_mover() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ids.csv");
        std::fs::write(
            &p,
            "user,group,valid_from,valid_to\na@x,team-a,2026-01-01T00:00:00Z,2026-02-01T00:00:00Z\na@x,team-b,2026-02-01T00:00:00Z,\n",
        )
        .unwrap();
        let t = read_context(&p).unwrap();
        assert_eq!(t["a@x"].len(), 2);
        assert!(t["a@x"][1].valid_to.is_none());
    }
}
