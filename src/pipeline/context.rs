//! Stage 2: peer groups, joined at query time (volatile context is never
//! stamped into the lake). In order of preference:
//! 1. `--context`: an identity table `user,group,valid_from,valid_to`, joined
//!    as of the identity's last event in the scoring window (so movers and new
//!    hires get the group they hold now);
//! 2. the `groups` the sources asserted in the events (the most specific
//!    non-`system:` group);
//! 3. behaviour-learned peers: the identities whose baseline action mix is
//!    most similar (cosine), for identities with history but no group;
//! 4. the whole org, for an identity with neither (cold start).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::DateTime;
use rayon::prelude::*;
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
    /// `learned: like ana@example.com`.
    pub label: Vec<String>,
    pub source: Vec<PeerSource>,
    /// Other identities in the group (never the identity itself), sorted.
    pub members: Vec<Vec<u32>>,
}

/// How many learned neighbours stand in for a missing group.
const LEARNED_PEERS: usize = 8;
/// A declared group with fewer other members than this is too thin to judge
/// against; such identities get learned peers instead.
const MIN_GROUP_PEERS: usize = 2;

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

    let mix = action_mix(activity, window);
    let with_history: Vec<u32> = (0..n as u32)
        .filter(|u| !mix[*u as usize].is_empty())
        .collect();
    let mut peers = Peers {
        label: Vec::with_capacity(n),
        source: Vec::with_capacity(n),
        members: Vec::with_capacity(n),
    };
    let learned: Vec<Option<Vec<u32>>> = (0..n as u32)
        .into_par_iter()
        .map(|u| {
            let thin = match &group[u as usize] {
                Some((name, _)) => by_group[name.as_str()].len() - 1 < MIN_GROUP_PEERS,
                None => true,
            };
            (thin && !mix[u as usize].is_empty()).then(|| nearest(u, &mix, &with_history))
        })
        .collect();
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
        } else if let Some(Some(near)) = learned.get(u as usize).filter(|l| l.is_some()) {
            let first = near.first().map(|v| activity.users.name(*v)).unwrap_or("?");
            peers.label.push(format!("learned: like {first}"));
            peers.source.push(PeerSource::Learned);
            let mut sorted = near.clone();
            sorted.sort_unstable();
            peers.members.push(sorted);
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

/// Each identity's baseline action counts as a sparse unit vector.
fn action_mix(activity: &Activity, window: &Window) -> Vec<Vec<(u32, f64)>> {
    let mut mix: Vec<BTreeMap<u32, f64>> = vec![BTreeMap::new(); activity.users.len()];
    for r in activity.counts.iter().filter(|r| r.bucket < window.start) {
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

fn nearest(u: u32, mix: &[Vec<(u32, f64)>], candidates: &[u32]) -> Vec<u32> {
    let mine: HashMap<u32, f64> = mix[u as usize].iter().copied().collect();
    let mut scored: Vec<(f64, u32)> = candidates
        .iter()
        .filter(|v| **v != u)
        .map(|v| {
            let dot: f64 = mix[*v as usize]
                .iter()
                .filter_map(|(a, x)| mine.get(a).map(|y| x * y))
                .sum();
            (dot, *v)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored
        .into_iter()
        .take(LEARNED_PEERS)
        .map(|(_, v)| v)
        .collect()
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
