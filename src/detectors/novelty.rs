//! Novelty and rarity: values an identity touches for the first time in the
//! scoring window (an action, namespace, target, source IP or user agent),
//! weighted by how rare they are among its peers and in the whole org.
//!
//! Per item, the rarity is `sqrt(peer share × org share)` (shares smoothed
//! by half an identity), so a namespace the whole team adopted this week is
//! not evidence; a sensitive value (`models/sensitivity.toml`) and an
//! operation (an action not typed in a shell) weigh the peers whole:
//! `peer share × sqrt(org share)`, so an action every peer of a new hire
//! does is not evidence and one none of them do is. Then `p = rarity × λ`, where λ is how
//! many new values of that kind the identity is expected to meet in a day
//! (a union bound over them): people who deploy meet new pods daily, while a
//! service account that kept to one client for weeks meets a new one
//! rarely, which makes its first new client from a new address strong
//! evidence. Sensitive values count more: `p^weight` of the heaviest rule
//! covering them. One identity's kept items of one UTC day combine with
//! Fisher's method into one piece of evidence, placed where its strongest
//! items were first touched. The shipped models run it twice (`items`):
//! `novelty` on ordinary values, `first_sensitive` on sensitive ones, so
//! each is calibrated on days like its own.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::Deserialize;

use super::{probability, Detector, DetectorError, Evidence, Fitted, ParamsError, SHELL_TOOL};
use crate::activity::baseline::{Baselines, WindowActivity};
use crate::activity::{Attr, CountRow, SeenRow};
use crate::sensitivity::{Rule, Sensitivity};
use crate::stats::{fisher, fmt_p};
use crate::window::day_floor;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoveltyParams {
    /// Attributes to watch: action, namespace, target, src_ip, user_agent,
    /// acting_as. Default: all six.
    #[serde(default = "default_attributes")]
    pub attributes: Vec<String>,
    /// Items whose adjusted p is above this are ordinary. Default: 0.2.
    #[serde(default = "default_ignore_p")]
    pub ignore_p: f64,
    /// Report evidence with p below this. Default: 1e-3.
    #[serde(default = "default_report_p")]
    pub report_p: f64,
    /// Which first-seen values this detector weighs: `all`, `ordinary`
    /// (none a sensitivity rule covers) or `sensitive` (only those). The
    /// shipped models split them into two detectors, so each is calibrated
    /// on its own: ordinary novelty is common on ordinary days (new pods, new
    /// namespaces) and would otherwise set the bar for a first IAM write.
    /// Default: all.
    #[serde(default)]
    pub items: Items,
}

/// The first-seen values a novelty detector weighs (see `NoveltyParams::items`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Items {
    #[default]
    All,
    Ordinary,
    Sensitive,
}

impl Items {
    fn admits(self, rule: Option<&Rule>) -> bool {
        match self {
            Items::All => true,
            Items::Ordinary => rule.is_none(),
            Items::Sensitive => rule.is_some(),
        }
    }
}

fn default_attributes() -> Vec<String> {
    [
        "action",
        "namespace",
        "target",
        "src_ip",
        "user_agent",
        "acting_as",
    ]
    .map(String::from)
    .to_vec()
}
fn default_ignore_p() -> f64 {
    0.2
}
fn default_report_p() -> f64 {
    1e-3
}

impl NoveltyParams {
    pub fn check(
        self,
        name: String,
        sensitivity: Arc<Sensitivity>,
    ) -> Result<Novelty, ParamsError> {
        let mut attributes = Vec::new();
        for a in &self.attributes {
            let attr = match a.as_str() {
                "action" => Attr::Action,
                "namespace" => Attr::Namespace,
                "target" => Attr::Target,
                "src_ip" => Attr::SrcIp,
                "user_agent" => Attr::UserAgent,
                "acting_as" => Attr::ActingAs,
                other => {
                    return Err(ParamsError::new(
                        &name,
                        "attributes",
                        format!(
                            "{other:?} is not one of action, namespace, target, src_ip, user_agent, acting_as"
                        ),
                    ))
                }
            };
            attributes.push(attr);
        }
        if attributes.is_empty() {
            return Err(ParamsError::new(
                &name,
                "attributes",
                "must name at least one attribute",
            ));
        }
        probability(&name, "ignore_p", self.ignore_p)?;
        probability(&name, "report_p", self.report_p)?;
        Ok(Novelty {
            name,
            attributes,
            params: self,
            sensitivity,
        })
    }
}

pub struct Novelty {
    name: String,
    attributes: Vec<Attr>,
    params: NoveltyParams,
    sensitivity: Arc<Sensitivity>,
}

impl Detector for Novelty {
    fn name(&self) -> &str {
        &self.name
    }
    fn fit<'a>(&self, baselines: &'a Baselines) -> Result<Box<dyn Fitted + 'a>, DetectorError> {
        Ok(Box::new(FittedNovelty {
            attributes: self.attributes.clone(),
            params: self.params.clone(),
            sensitivity: self.sensitivity.clone(),
            b: baselines,
            shell: baselines.values.get(SHELL_TOOL),
        }))
    }
}

struct FittedNovelty<'a> {
    attributes: Vec<Attr>,
    params: NoveltyParams,
    sensitivity: Arc<Sensitivity>,
    b: &'a Baselines,
    /// The id of the `shell` tool, when the lake has any.
    shell: Option<u32>,
}

struct Item {
    p: f64,
    technique: Option<String>,
    first: i64,
    text: String,
    action: Option<u32>,
}

impl FittedNovelty<'_> {
    /// How many new values of this kind the identity is expected to meet in
    /// an active day: its rate in the second half of its baseline, with
    /// half a new value as prior (so a service account that met none in two
    /// weeks has a small rate, not zero). A newcomer without one meets
    /// everything for the first time: one more than its peers' rate says.
    fn expected_new(&self, user: u32, attr: Attr) -> f64 {
        let own = &self.b.users[user as usize];
        if own.late_active_days > 0 {
            (f64::from(own.late_novel[attr]) + PRIOR_NEW)
                / (f64::from(own.late_active_days) + PRIOR_DAYS)
        } else {
            NEWCOMER_EXTRA + self.b.peers_of(user).novelty_rate(attr)
        }
    }

    /// The sensitivity rule a first-seen value falls under, if any.
    fn rule(&self, attr: Attr, value: &str) -> Option<&Rule> {
        match attr {
            Attr::Action => self.sensitivity.action(value),
            Attr::Target => self.sensitivity.target(value),
            Attr::ActingAs => self.sensitivity.acting_as(),
            _ => None,
        }
    }
}

/// Shares of identities are smoothed by this many identities, so a value
/// nobody else touched is rare, not impossible.
const SMOOTHING: f64 = 0.5;
/// The prior of an identity's rate of new values: half a new value in one
/// active day, on top of what its late baseline shows.
const PRIOR_NEW: f64 = 0.5;
/// ... over this many active days.
const PRIOR_DAYS: f64 = 1.0;
/// A newcomer meets everything for the first time: at least one new value
/// of each kind a day more than its peers do.
const NEWCOMER_EXTRA: f64 = 1.0;
/// The share of an evidence's surprise (`-ln p` summed over its items) whose
/// items say where it happened.
const CARRIER_SHARE: f64 = 0.9;
/// Items a reason names before "and N more".
const SHOWN_ITEMS: usize = 4;

impl FittedNovelty<'_> {
    /// The actions `user` ran in the window as command lines (tool
    /// `shell`: shell histories, processes in an exec session).
    fn typed(&self, rows: &[CountRow]) -> HashSet<u32> {
        let Some(shell) = self.shell else {
            return HashSet::new();
        };
        rows.iter()
            .filter(|r| r.tool == shell)
            .map(|r| r.action)
            .collect()
    }

    /// One first-seen value weighed by its rarity, or `None` when ordinary.
    /// `typed`: the identity's actions that are command lines.
    fn item(&self, user: u32, seen: &SeenRow, typed: &HashSet<u32>) -> Option<Item> {
        if !self.attributes.contains(&seen.attr) {
            return None;
        }
        let peers = self.b.peers.count(user);
        let identities = self.b.users.len().saturating_sub(1);
        let peer_touch = self.b.peer_touches(user, seen.attr, seen.value);
        // The identity itself touched it: the others are the rest.
        let org_touch = (self.b.reach(seen.attr, seen.value).identities as usize).saturating_sub(1);
        let peer_share = (peer_touch as f64 + SMOOTHING) / (peers as f64 + 2.0 * SMOOTHING);
        let org_share = (org_touch as f64 + SMOOTHING) / (identities as f64 + 1.0).max(2.0);
        let expected_new = self.expected_new(user, seen.attr);
        let value = self.b.values.name(seen.value);
        let rule = self.rule(seen.attr, value);
        if !self.params.items.admits(rule) {
            return None;
        }
        // A sensitive value or an operation counts the peers' share whole
        // and the org's only half (as a square root): a first secret read,
        // or a first Athena query, weighs by whether the identity's peers do
        // that. Any other value (a pod, an address, a client, a command typed
        // in a shell, of which a first session brings many at once) is rare
        // by the geometric mean of the two: either may vouch for it.
        let operation = seen.attr == Attr::Action && !typed.contains(&seen.value);
        let rarity = if rule.is_some() || operation {
            peer_share * org_share.sqrt()
        } else {
            (peer_share * org_share).sqrt()
        };
        let mut p = (rarity * expected_new).min(1.0);
        if let Some(rule) = rule {
            p = p.powf(rule.weight);
        }
        (p <= self.params.ignore_p).then(|| Item {
            p,
            technique: rule.map(|r| r.technique.clone()),
            first: seen.first,
            text: format!(
                "{} {value}{} ({peer_touch} of {peers} peers, {org_touch} of {identities} identities)",
                seen.attr.noun(),
                rule.map_or(String::new(), |r| format!(" [sensitive: {}]", r.technique)),
            ),
            action: (seen.attr == Attr::Action).then_some(seen.value),
        })
    }

    /// The kept items of one identity as one piece of evidence.
    fn evidence(&self, user: u32, mut items: Vec<Item>) -> Option<Evidence> {
        let p = fisher(&items.iter().map(|i| i.p).collect::<Vec<_>>());
        if items.is_empty() || p >= self.params.report_p {
            return None;
        }
        items.sort_by(|a, b| a.p.total_cmp(&b.p).then(a.text.cmp(&b.text)));
        let width = self.b.bucket.micros;
        let window = &self.b.window;
        // Where it happened: where the items that make most of its
        // surprise were first touched (items are sorted strongest first),
        // not every weak first-seen value of the week.
        let total: f64 = items.iter().map(|i| -i.p.ln()).sum();
        let mut covered = 0.0;
        let carrying: Vec<&Item> = items
            .iter()
            .take_while(|i| {
                let before = covered;
                covered += -i.p.ln();
                before < CARRIER_SHARE * total
            })
            .collect();
        let mut at: Vec<i64> = carrying
            .iter()
            .map(|i| {
                self.b
                    .bucket
                    .floor(i.first.clamp(window.start, window.end - 1))
            })
            .collect();
        at.sort_unstable();
        at.dedup();
        let start = at.first().copied().unwrap_or(0);
        let end = at.last().copied().unwrap_or(0) + width;
        let shown: Vec<&str> = items
            .iter()
            .take(SHOWN_ITEMS)
            .map(|i| i.text.as_str())
            .collect();
        let more = items.len().saturating_sub(shown.len());
        Some(Evidence {
            user,
            start: start.max(self.b.window.start),
            end: end.min(self.b.window.end.max(start + width)),
            p_value: p,
            reason: format!(
                "first time for this identity: {}{} (p = {})",
                shown.join("; "),
                if more > 0 {
                    format!("; and {more} more")
                } else {
                    String::new()
                },
                fmt_p(p)
            ),
            observed: items.len() as f64,
            expected: 0.0,
            // Its actions and techniques are those of the carrying items, so
            // the events and techniques a finding names lie in its span.
            actions: carrying.iter().filter_map(|i| i.action).collect(),
            at,
            techniques: {
                let mut t: Vec<String> = carrying
                    .iter()
                    .filter_map(|i| i.technique.clone())
                    .collect();
                t.sort();
                t.dedup();
                t
            },
        })
    }
}

impl Fitted for FittedNovelty<'_> {
    fn score(&self, w: &WindowActivity) -> Result<Vec<Evidence>, DetectorError> {
        let mut out = Vec::new();
        let window = &self.b.window;
        for user in 0..w.users() as u32 {
            // Day by day, each day's firsts against one day's worth of new
            // values: seven new actions in one hour are not diluted by a
            // week's expectation, and a weekly run judges a day as a daily
            // run of it would.
            let novel = &w.novel[user as usize];
            if novel.is_empty() {
                continue;
            }
            let mut by_day: BTreeMap<i64, Vec<Item>> = BTreeMap::new();
            let typed = self.typed(&w.counts[user as usize]);
            for seen in novel {
                let day = day_floor(seen.first.clamp(window.start, window.end - 1));
                if let Some(item) = self.item(user, seen, &typed) {
                    by_day.entry(day).or_default().push(item);
                }
            }
            out.extend(
                by_day
                    .into_values()
                    .filter_map(|items| self.evidence(user, items)),
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::testing::{at, habit, Lake, WINDOW_DAY};

    /// Enough peers that a value none of them touched is rare: with m
    /// peers it can look no rarer than 0.5 / (m + 1).
    const PEOPLE: usize = 20;

    fn people() -> Vec<String> {
        (0..PEOPLE)
            .map(|i| {
                if i == 0 {
                    "ana".into()
                } else {
                    format!("p{i:02}")
                }
            })
            .collect()
    }

    fn detector() -> Novelty {
        detector_of("")
    }

    fn detector_of(params: &str) -> Novelty {
        let table =
            crate::sensitivity::Sensitivity::parse(include_str!("../../models/sensitivity.toml"))
                .unwrap();
        toml::from_str::<NoveltyParams>(params)
            .unwrap()
            .check("novelty".into(), Arc::new(table))
            .unwrap()
    }

    /// People with a baseline, each in its own namespace, and `shared`
    /// touched by all but ana before the window.
    fn team(shared: &str) -> Lake {
        let first = at(3, 10);
        people().iter().fold(Lake::new(), |lake, u| {
            let lake = habit(lake, u, "get pods", 3).seen(
                u,
                Attr::Namespace,
                &format!("{u}-ns"),
                first,
                (20, 0),
            );
            if u == "ana" {
                lake
            } else {
                lake.seen(u, Attr::Namespace, shared, first, (5, 0))
            }
        })
    }

    fn evidence_of(lake: Lake, user: &str) -> Vec<Evidence> {
        super::super::evidence_of(&detector(), lake, user)
    }

    #[test]
    fn a_sensitive_action_nobody_ever_ran_is_evidence_naming_it() {
        let t = at(WINDOW_DAY + 1, 15);
        let lake = team("shared")
            .count("ana", t, "get secrets", 4)
            .seen("ana", Attr::Action, "get secrets", t, (0, 4))
            .breadth("ana", at(WINDOW_DAY + 1, 0), Default::default());
        let found = evidence_of(lake, "ana");
        assert_eq!(found.len(), 1, "{found:?}");
        let e = &found[0];
        assert!(e.p_value < 1e-3, "{}", e.p_value);
        assert!(
            e.reason.contains(
                "action get secrets [sensitive: T1552.007] (0 of 19 peers, 0 of 19 identities)"
            ),
            "{}",
            e.reason
        );
        assert_eq!((e.start, e.end), (t, t + MICROS_PER_HOUR_TEST));
    }

    #[test]
    fn a_namespace_every_peer_uses_is_not_evidence() {
        let t = at(WINDOW_DAY + 1, 15);
        let lake = team("shared-ns")
            .seen("ana", Attr::Namespace, "shared-ns", t, (0, 2))
            .breadth("ana", at(WINDOW_DAY + 1, 0), Default::default());
        assert!(evidence_of(lake, "ana").is_empty());
    }

    #[test]
    fn ordinary_and_sensitive_detectors_each_weigh_only_their_own_values() {
        let t = at(WINDOW_DAY + 1, 15);
        let lake = || {
            team("shared")
                .count("ana", t, "get secrets", 4)
                .seen("ana", Attr::Action, "get secrets", t, (0, 4))
                .seen("ana", Attr::Namespace, "nobody-else-ns", t, (0, 4))
                .breadth("ana", at(WINDOW_DAY + 1, 0), Default::default())
        };
        let reasons = |items: &str| {
            // One new namespace is weak: report whatever is kept.
            let d = detector_of(&format!("items = \"{items}\"\nreport_p = 0.5"));
            super::super::evidence_of(&d, lake(), "ana")
                .into_iter()
                .map(|e| e.reason)
                .collect::<Vec<_>>()
                .join(" | ")
        };
        let (sensitive, ordinary) = (reasons("sensitive"), reasons("ordinary"));
        assert!(sensitive.contains("get secrets"), "{sensitive}");
        assert!(!sensitive.contains("nobody-else-ns"), "{sensitive}");
        assert!(ordinary.contains("nobody-else-ns"), "{ordinary}");
        assert!(!ordinary.contains("get secrets"), "{ordinary}");
    }

    #[test]
    fn a_new_client_weighs_more_for_an_identity_that_never_meets_new_ones() {
        // Both have a baseline of weekdays; `churny` met a new client on
        // each day of its late baseline, `steady` on none.
        let with_days = |lake: Lake, u: &str, churn: bool| {
            (0..WINDOW_DAY).filter(|d| d % 7 < 5).fold(lake, |lake, d| {
                let lake = lake.breadth(u, at(d, 0), Default::default());
                if churn && d >= WINDOW_DAY / 2 {
                    lake.seen(u, Attr::UserAgent, &format!("{u}-{d}"), at(d, 10), (1, 0))
                } else {
                    lake
                }
            })
        };
        let t = at(WINDOW_DAY + 1, 15);
        let lake = || {
            [("steady", false), ("churny", true)].into_iter().fold(
                team("shared"),
                |lake, (u, churn)| {
                    with_days(habit(lake, u, "get pods", 3), u, churn)
                        .seen(u, Attr::UserAgent, "curl/8.5.0", t, (0, 2))
                        .seen(u, Attr::SrcIp, "203.0.113.9", t, (0, 2))
                        .breadth(u, at(WINDOW_DAY + 1, 0), Default::default())
                },
            )
        };
        let p = |u: &str| {
            let found = super::super::evidence_of(&detector_of("report_p = 1.0"), lake(), u);
            found.iter().map(|e| e.p_value).fold(1.0, f64::min)
        };
        let (steady, churny) = (p("steady"), p("churny"));
        assert!(steady < 1e-3, "{steady}");
        assert!(steady * 10.0 < churny, "{steady} vs {churny}");
    }

    #[test]
    fn each_day_is_its_own_evidence() {
        // The same strong first on two days: two pieces of evidence.
        let (monday, thursday) = (at(WINDOW_DAY, 10), at(WINDOW_DAY + 3, 10));
        let lake = team("shared")
            .seen("ana", Attr::Action, "get secrets", monday, (0, 4))
            .seen("ana", Attr::Action, "list secrets", thursday, (0, 4))
            .breadth("ana", at(WINDOW_DAY, 0), Default::default())
            .breadth("ana", at(WINDOW_DAY + 3, 0), Default::default());
        let found = evidence_of(lake, "ana");
        let at: Vec<Vec<i64>> = found.iter().map(|e| e.at.clone()).collect();
        assert_eq!(at, vec![vec![monday], vec![thursday]]);
    }

    #[test]
    fn the_evidence_happened_where_its_strong_items_were_first_touched() {
        // A weak first (a namespace most peers use) at 09:00 and a strong
        // one (secrets nobody reads) at 15:00: the evidence is placed at 15:00.
        let (weak, strong) = (at(WINDOW_DAY + 1, 9), at(WINDOW_DAY + 1, 15));
        let lake = team("shared-ns")
            .seen("ana", Attr::Namespace, "shared-ns", weak, (0, 2))
            .seen("ana", Attr::Action, "get secrets", strong, (0, 4))
            .breadth("ana", at(WINDOW_DAY + 1, 0), Default::default());
        let found = super::super::evidence_of(&detector_of("ignore_p = 1.0"), lake, "ana");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].reason.contains("shared-ns"), "{}", found[0].reason);
        assert_eq!(found[0].at, vec![strong]);
    }

    const MICROS_PER_HOUR_TEST: i64 = crate::window::MICROS_PER_HOUR;

    #[test]
    fn a_first_action_none_of_the_peers_do_weighs_more_than_one_they_do() {
        // Two teams of ten; the data team queries Athena, the web team never.
        let team = |u: &str| if u.starts_with("data") { "data" } else { "web" }.to_owned();
        let people: Vec<String> = (0..10)
            .flat_map(|i| [format!("data{i}"), format!("web{i}")])
            .collect();
        let t = at(WINDOW_DAY + 1, 15);
        const QUERY: &str = "athena:StartQueryExecution";
        let lake = |user: &str, tool: &str| {
            let lake = people.iter().fold(Lake::new(), |lake, u| {
                let lake = habit(lake, u, "get pods", 3);
                if u.starts_with("data") && u != user {
                    lake.seen(u, Attr::Action, QUERY, at(3, 10), (5, 0))
                } else {
                    lake
                }
            });
            lake.count_with(tool, user, t, QUERY, 3)
                .seen(user, Attr::Action, QUERY, t, (0, 3))
        };
        let p = |user: &str, tool: &str| {
            let d = detector_of("report_p = 1.0\nignore_p = 1.0");
            let (b, w) = lake(user, tool).build_in_teams(team);
            let found = d.fit(&b).unwrap().score(&w).unwrap();
            let id = b.user_names.get(user).unwrap();
            found
                .iter()
                .filter(|e| e.user == id)
                .map(|e| e.p_value)
                .fold(1.0, f64::min)
        };
        let (web, data) = (p("web0", "aws"), p("data0", "aws"));
        // The same org share (9 of 19 do it); 0 of 9 peers against 9 of 9.
        assert!(web < data / 10.0, "web {web}, data {data}");
        // A command typed in a shell is a value like a pod: a first session
        // brings many, and the org may vouch for them as much as the peers.
        let typed = p("web0", "shell");
        assert!(typed > web * 3.0, "typed {typed}, as an API call {web}");
    }
}
