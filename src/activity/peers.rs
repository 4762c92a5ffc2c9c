//! Peer groups: who each identity is compared with. Every identity belongs
//! to exactly one group, and every group is one pool of baselines with the
//! identity's own share subtracted on use, so the cost of "my peers" is one
//! subtraction whatever the group's size (`baseline::PeerView`).

use serde::Serialize;

/// Where an identity's peer group came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerSource {
    Context,
    Asserted,
    Learned,
    Org,
}

impl PeerSource {
    pub fn name(self) -> &'static str {
        match self {
            PeerSource::Context => "context",
            PeerSource::Asserted => "asserted",
            PeerSource::Learned => "learned",
            PeerSource::Org => "org",
        }
    }
}

/// One peer group.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerGroup {
    /// A declared group's name, `cluster 3 of 9, like ana@example.com`, or `org`.
    pub name: String,
    pub source: PeerSource,
    /// Identities counted as its peers: every member of a declared group;
    /// the members with a baseline of a learned cluster; every identity
    /// with a baseline for the org.
    pub members: usize,
}

/// Peers of every identity, indexed by user id.
#[derive(Debug, Clone, Default)]
pub struct Peers {
    pub groups: Vec<PeerGroup>,
    /// Per identity: the group it is compared with.
    pub group_of: Vec<usize>,
    /// Per identity: where that group came from (one declared group may be
    /// named by `--context` for some members and asserted for others).
    pub source_of: Vec<PeerSource>,
    /// The org's group, when some identity is compared with the whole org.
    pub org: Option<usize>,
    /// Per identity with a baseline: the learned group of its behaviour
    /// cluster, when some identity is compared with that cluster. An
    /// identity belongs to its cluster's pool whatever its own group is.
    pub cluster_group: Vec<Option<usize>>,
    /// Per identity: whether it has a baseline.
    pub history: Vec<bool>,
    /// What the behaviour clustering found, for `run.json`.
    pub learned: LearnedGroups,
}

/// What the k-means peer groups found, for `run.json`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LearnedGroups {
    /// Identities clustered (those with baseline activity).
    pub identities: usize,
    /// Clusters chosen by the silhouette rule.
    pub k: usize,
    pub silhouette: f64,
    /// Whether the clusters are used as peer groups: false when the
    /// silhouette shows no real structure (identities without a declared
    /// group are then compared with the whole org).
    pub used: bool,
    /// Why, in a sentence.
    pub verdict: String,
    /// Identities whose behaviour cluster differs from the one most of their
    /// declared group is in: `(identity, declared group)`.
    #[serde(skip)]
    pub unlike_declared: Vec<(u32, String)>,
}

impl Peers {
    /// Everyone compared with the whole org: no group context, no clusters.
    pub fn org_only(history: Vec<bool>) -> Peers {
        let members = history.iter().filter(|h| **h).count();
        Peers {
            groups: vec![PeerGroup {
                name: "org".into(),
                source: PeerSource::Org,
                members,
            }],
            group_of: vec![0; history.len()],
            source_of: vec![PeerSource::Org; history.len()],
            org: Some(0),
            cluster_group: vec![None; history.len()],
            history,
            learned: LearnedGroups::default(),
        }
    }

    pub fn group(&self, user: u32) -> &PeerGroup {
        &self.groups[self.group_of[user as usize]]
    }

    pub fn source(&self, user: u32) -> PeerSource {
        self.source_of[user as usize]
    }

    /// The pools `user`'s baseline and window activity are summed into: its
    /// declared group's, its behaviour cluster's and the org's.
    pub fn member_pools(&self, user: u32) -> impl Iterator<Item = usize> + '_ {
        let own = self.group_of[user as usize];
        let declared = matches!(
            self.groups[own].source,
            PeerSource::Context | PeerSource::Asserted
        );
        let org = self.org();
        declared
            .then_some(own)
            .into_iter()
            .chain(self.cluster_group[user as usize])
            .chain(org)
    }

    /// Whether `user` is in the pool of the group it is compared with (a
    /// newcomer placed in a cluster is not), so its own share is subtracted.
    pub fn in_own_pool(&self, user: u32) -> bool {
        let own = self.group_of[user as usize];
        self.member_pools(user).any(|g| g == own)
    }

    /// Whether `user` is counted among its own group's members.
    pub fn counted(&self, user: u32) -> bool {
        match self.source(user) {
            PeerSource::Context | PeerSource::Asserted => true,
            PeerSource::Learned | PeerSource::Org => self.history[user as usize],
        }
    }

    /// How many peers `user` has: its group's members but itself.
    pub fn count(&self, user: u32) -> usize {
        self.group(user).members - usize::from(self.counted(user))
    }

    /// The `peer_group` a finding shows.
    pub fn label(&self, user: u32) -> String {
        let group = self.group(user);
        match group.source {
            PeerSource::Learned if self.history[user as usize] => {
                format!("learned: {}", group.name)
            }
            PeerSource::Learned => format!("learned from its first days: {}", group.name),
            _ => group.name.clone(),
        }
    }

    /// The org's group, when some identity is compared with the whole org.
    pub fn org(&self) -> Option<usize> {
        self.org
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_is_not_its_own_peer() {
        let team = PeerGroup {
            name: "team-a".into(),
            source: PeerSource::Context,
            members: 3,
        };
        let peers = Peers {
            groups: vec![team],
            group_of: vec![0, 0, 0],
            source_of: vec![PeerSource::Context; 3],
            org: None,
            cluster_group: vec![None; 3],
            history: vec![true, true, false],
            learned: LearnedGroups::default(),
        };
        // Declared members count whether or not they have history.
        assert_eq!(peers.count(2), 2);
        let org = Peers::org_only(vec![true, true, false]);
        assert_eq!(org.count(0), 1);
        // A newcomer has both identities with history as peers.
        assert_eq!(org.count(2), 2);
        assert_eq!(org.label(2), "org");
    }
}
