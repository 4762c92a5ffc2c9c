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
//!    with fewer than 8 other members is not used, and neither are the
//!    clusters at all when their silhouette shows no structure;
//! 4. the whole org, when nothing else applies.
//!
//! Each group is one pool of baselines (`activity::peers`), so peers cost
//! the same whatever the groups' sizes: linear in identities.
//!
//! The same clusters sanity-check declared groups: an identity whose cluster
//! is not the one most of its group falls in is listed in `run.json`
//! (`identities.unlike_declared_group`), e.g. a mover whose table row is stale.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::DateTime;
use ndarray::Array2;

use crate::activity::peers::{LearnedGroups, PeerGroup, PeerSource, Peers};
use crate::activity::Activity;
use crate::clustering::Clusters;
use crate::error::{Error, Result};
use crate::window::Window;

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
/// Below this mean silhouette the clusters are not groups at all (k-means
/// always returns k clusters, even of uniform noise): identities without a
/// declared group are compared with the whole org instead. Rousseeuw's
/// reading of the silhouette calls below 0.25 "no substantial structure";
/// the sample org's teams score 0.56-0.59 (seeds 1-7), the benchmark's
/// lakes of 5,000 and 20,000 identities with no team structure 0.03.
pub const MIN_SILHOUETTE: f64 = 0.1;

/// One membership interval from the identity table.
#[derive(Debug, Clone)]
struct Membership {
    group: String,
    valid_from: i64,
    valid_to: Option<i64>,
}

/// A declared group of one identity, and where it was declared.
type Declared = Option<(String, PeerSource)>;

pub fn resolve(activity: &Activity, window: &Window, context: Option<&Path>) -> Result<Peers> {
    let declared = declared_groups(activity, window, context)?;
    let mix = action_mix(activity, |bucket| bucket < window.start);
    let history: Vec<bool> = mix.iter().map(|m| !m.is_empty()).collect();
    let with_history: Vec<u32> = (0..history.len() as u32)
        .filter(|u| history[*u as usize])
        .collect();
    let space = BehaviourSpace::new(&mix, &with_history);
    let clusters = crate::clustering::learn(space.matrix(&mix, &with_history).view());
    let structure = clusters.k > 1 && clusters.silhouette >= MIN_SILHOUETTE;
    let mut cluster_of: Vec<Option<usize>> = vec![None; history.len()];
    if structure {
        // A cluster too small to be anyone's peers (two contractors who
        // work alike) gives its members to the nearest one big enough.
        let sizes = clusters.sizes();
        let big = |c: usize| sizes[c] > MIN_LEARNED_PEERS;
        for (row, u) in with_history.iter().enumerate() {
            let own = clusters.assignment[row];
            cluster_of[*u as usize] = if big(own) {
                Some(own)
            } else {
                clusters.nearest_where(&space.vector(&mix[*u as usize]), big)
            };
        }
        // Newcomers: the cluster nearest what they did in the window. When
        // that one is small they are judged against the org (`assign`):
        // a few days of work are too little to pick a more distant cluster.
        let first_days = action_mix(activity, |bucket| window.in_window(bucket));
        for (u, slot) in cluster_of.iter_mut().enumerate() {
            if !history[u] && !first_days[u].is_empty() {
                *slot = Some(clusters.nearest(&space.vector(&first_days[u])));
            }
        }
    }
    let learned = LearnedGroups {
        identities: with_history.len(),
        k: clusters.k,
        silhouette: clusters.silhouette,
        used: structure,
        verdict: verdict(&clusters, structure),
        unlike_declared: if structure {
            unlike_declared(&declared, &cluster_of, &history)
        } else {
            Vec::new()
        },
    };
    let names = ClusterNames {
        clusters: &clusters,
        with_history: &with_history,
        activity,
    };
    Ok(assign(declared, &cluster_of, history, &names, learned))
}

/// The `run.json` sentence on whether the clusters are used.
fn verdict(clusters: &Clusters, structure: bool) -> String {
    if structure {
        format!(
            "{} behaviour clusters (silhouette {:.2}) are the peers of identities without a declared group",
            clusters.k, clusters.silhouette
        )
    } else {
        format!(
            "no behaviour clusters: the best k = {} has silhouette {:.2}, below {MIN_SILHOUETTE}; identities without a declared group are compared with the whole org",
            clusters.k, clusters.silhouette
        )
    }
}

/// What a learned group is called: `cluster 3 of 9, like ana@example.com`.
struct ClusterNames<'a> {
    clusters: &'a Clusters,
    with_history: &'a [u32],
    activity: &'a Activity,
}

impl ClusterNames<'_> {
    fn name(&self, c: usize) -> String {
        let like = self
            .activity
            .users
            .name(self.with_history[self.clusters.representative[c]]);
        format!("cluster {} of {}, like {like}", c + 1, self.clusters.k)
    }
}

/// Which group an identity is compared with, before it has an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum GroupKey<'a> {
    Declared(&'a str),
    Cluster(usize),
    Org,
}

/// Every identity's group: its declared group when big enough, else its
/// cluster when that has enough members, else the org. Each group is
/// created once, so this is linear in identities.
fn assign(
    declared: Vec<Declared>,
    cluster_of: &[Option<usize>],
    history: Vec<bool>,
    names: &ClusterNames,
    learned: LearnedGroups,
) -> Peers {
    let mut declared_size: HashMap<&str, usize> = HashMap::new();
    for (name, _) in declared.iter().flatten() {
        *declared_size.entry(name.as_str()).or_default() += 1;
    }
    let mut cluster_size: HashMap<usize, usize> = HashMap::new();
    for (u, c) in cluster_of.iter().enumerate() {
        if let (Some(c), true) = (c, history[u]) {
            *cluster_size.entry(*c).or_default() += 1;
        }
    }
    let everyone = history.iter().filter(|h| **h).count();
    let mut groups: Vec<PeerGroup> = Vec::new();
    let mut index: HashMap<GroupKey, usize> = HashMap::new();
    let mut group_of = Vec::with_capacity(history.len());
    let mut source_of = Vec::with_capacity(history.len());
    let cluster_members = |c: usize| cluster_size.get(&c).copied().unwrap_or(0);
    for (u, own) in declared.iter().enumerate() {
        let (key, source) = match (own, cluster_of[u]) {
            (Some((name, source)), _) if declared_size[name.as_str()] > MIN_GROUP_PEERS => {
                (GroupKey::Declared(name), *source)
            }
            (_, Some(c))
                if cluster_members(c).saturating_sub(usize::from(history[u]))
                    >= MIN_LEARNED_PEERS =>
            {
                (GroupKey::Cluster(c), PeerSource::Learned)
            }
            _ => (GroupKey::Org, PeerSource::Org),
        };
        let g = *index.entry(key).or_insert_with(|| {
            groups.push(match key {
                GroupKey::Declared(name) => PeerGroup {
                    name: name.to_owned(),
                    source,
                    members: declared_size[name],
                },
                GroupKey::Cluster(c) => PeerGroup {
                    name: names.name(c),
                    source: PeerSource::Learned,
                    members: cluster_members(c),
                },
                GroupKey::Org => PeerGroup {
                    name: "org".to_owned(),
                    source: PeerSource::Org,
                    members: everyone,
                },
            });
            groups.len() - 1
        });
        group_of.push(g);
        source_of.push(source);
    }
    // Every identity with a baseline is in its cluster's pool, whatever
    // group it is compared with itself.
    let cluster_group = cluster_of
        .iter()
        .enumerate()
        .map(|(u, c)| {
            let c = c.filter(|_| history[u])?;
            index.get(&GroupKey::Cluster(c)).copied()
        })
        .collect();
    Peers {
        groups,
        group_of,
        source_of,
        org: index.get(&GroupKey::Org).copied(),
        cluster_group,
        history,
        learned,
    }
}

/// Each identity's declared group: `--context` as of its last event in the
/// window, else the most specific group the sources asserted.
fn declared_groups(
    activity: &Activity,
    window: &Window,
    context: Option<&Path>,
) -> Result<Vec<Declared>> {
    let n = activity.users.len();
    let mut group: Vec<Declared> = vec![None; n];
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
    Ok(group)
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
    declared: &[Declared],
    cluster_of: &[Option<usize>],
    history: &[bool],
) -> Vec<(u32, String)> {
    let mut by_group: BTreeMap<&str, Vec<(u32, usize)>> = BTreeMap::new();
    for (u, own) in declared.iter().enumerate() {
        if let (Some((name, _)), Some(c), true) = (own, cluster_of[u], history[u]) {
            by_group
                .entry(name.as_str())
                .or_default()
                .push((u as u32, c));
        }
    }
    let mut out = Vec::new();
    for (name, clustered) in by_group {
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
                .filter(|(_, c)| *c != majority)
                .map(|(u, _)| (*u, name.to_owned())),
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
    use crate::activity::testing::{habit, Lake};

    #[test]
    fn identities_that_all_behave_alike_have_no_clusters_and_get_the_org() {
        let lake = (0..40).fold(Lake::new(), |lake, i| {
            habit(lake, &format!("u{i:02}"), "get pods", 3)
        });
        let (activity, window, _) = lake.activity();
        let peers = resolve(&activity, &window, None).unwrap();
        assert!(!peers.learned.used, "{:?}", peers.learned);
        assert!(peers.learned.verdict.starts_with("no behaviour clusters"));
        assert_eq!(peers.groups.len(), 1);
        assert_eq!(peers.source(0), PeerSource::Org);
        assert_eq!(peers.count(0), 39);
    }

    #[test]
    fn two_teams_that_work_apart_are_two_learned_groups() {
        let lake = (0..40).fold(Lake::new(), |lake, i| {
            let action = if i < 20 { "get pods" } else { "s3:GetObject" };
            habit(lake, &format!("u{i:02}"), action, 3)
        });
        let (activity, window, _) = lake.activity();
        let peers = resolve(&activity, &window, None).unwrap();
        assert!(peers.learned.used, "{:?}", peers.learned);
        assert_eq!(peers.learned.k, 2);
        assert_ne!(peers.group_of[0], peers.group_of[39]);
        assert_eq!(peers.source(0), PeerSource::Learned);
        assert_eq!(peers.count(0), 19);
    }

    #[test]
    fn members_of_a_cluster_too_small_to_be_peers_join_the_nearest_big_one() {
        // Two teams of 20 and three contractors whose work is mostly the
        // second team's: k-means gives the contractors their own cluster.
        let lake = (0..43).fold(Lake::new(), |lake, i| {
            let user = format!("u{i:02}");
            match i {
                0..20 => habit(lake, &user, "get pods", 3),
                20..40 => habit(lake, &user, "s3:GetObject", 3),
                _ => habit(
                    habit(lake, &user, "glue:GetTable", 3),
                    &user,
                    "s3:GetObject",
                    2,
                ),
            }
        });
        let (activity, window, _) = lake.activity();
        let peers = resolve(&activity, &window, None).unwrap();
        assert_eq!(peers.learned.k, 3, "{:?}", peers.learned);
        assert_eq!(peers.group_of[41], peers.group_of[20]);
        assert_eq!(peers.source(41), PeerSource::Learned);
        // The team and the two other contractors.
        assert_eq!(peers.count(41), 22);
    }

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
