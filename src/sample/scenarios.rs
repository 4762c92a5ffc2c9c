//! Routine machine activity, and the labelled scenarios of the scoring
//! window: living-off-the-land attacks and the benign look-alikes a good
//! detector must not rank above them.

use std::collections::{BTreeMap, BTreeSet};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::org::{self, team_index, weighted, Org, ACCOUNT, TEAMS};
use super::{Emit, Row, SampleOptions, MICROS_PER_DAY, MICROS_PER_HOUR};

const CI: &str = "system:serviceaccount:ci:deployer";
const CI_ROLE: &str = "arn:aws:iam::111122223333:role/github-actions-deploy";
const BOT: &str = "arn:aws:iam::111122223333:role/reporting-bot";
const GCP_BOT: &str = "deploy-bot@acme-ml.iam.gserviceaccount.com";
const CONTROLLERS: [&str; 2] = [
    "system:kube-controller-manager",
    "system:serviceaccount:kube-system:replicaset-controller",
];
const NEW_ACCOUNT: &str = "svc-backup@example.com";
/// A new account in no group that reads a little too widely, quietly.
const QUIET_NEWCOMER: &str = "ops-temp@example.com";
/// A new account in no group that works like the data platform team.
const CONTRACTOR: &str = "etl-contractor@example.com";
/// Its look-alike, which then reads other teams' buckets.
const CONTRACTOR_EXFIL: &str = "etl-contractor-2@example.com";
const MINUTE: i64 = 60_000_000;

/// Service identities and their identity-table group.
pub const SERVICE_IDENTITIES: [(&str, &str); 6] = [
    (CI, "ci"),
    (CI_ROLE, "ci"),
    (GCP_BOT, "ci"),
    (BOT, "bots"),
    (CONTROLLERS[0], "platform-controllers"),
    (CONTROLLERS[1], "platform-controllers"),
];

#[derive(Debug, Clone)]
pub struct LabelDef {
    pub scenario: &'static str,
    pub kind: &'static str,
    pub user: String,
    pub description: String,
    /// One label row per UTC day the scenario is active on (an attack that
    /// comes back on several days is several episodes, not one long span).
    pub per_day: bool,
}

/// Who does what, decided once from the seed.
pub struct Plan {
    pub labels: Vec<LabelDef>,
    /// First day index of the scoring window.
    s: i64,
    volume_spike: usize,
    secret_sweep: usize,
    iam_persistence: usize,
    exfil: usize,
    offhours: usize,
    slow: usize,
    new_hire: usize,
    back_from_leave: usize,
    /// (person, new team, day index of the move)
    mover: (usize, usize, i64),
    incident_team: usize,
    adoption_team: usize,
    /// Whose session someone else uses for an hour.
    takeover: usize,
    /// Whether the standard attacks are played (else `sample::library`'s).
    pub standard: bool,
    label_index: BTreeMap<(&'static str, String), u16>,
}

impl Plan {
    /// Who plays each scenario. Long on purpose: one pick per scenario, in
    /// the order that a seed's draws reproduce.
    pub fn new(org: &Org, opts: &SampleOptions) -> Plan {
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0x5ce7);
        let s = i64::from(opts.days - opts.scoring_days);
        let mut used = BTreeSet::new();
        let mut pick = |teams: &[&str], rng: &mut ChaCha8Rng| -> usize {
            let mut candidates: Vec<usize> = teams
                .iter()
                .flat_map(|t| org.members(team_index(t)))
                .filter(|p| !used.contains(p))
                .collect();
            candidates.shuffle(rng);
            // Prefer ordinary activity levels: extreme people make scenarios trivial or invisible.
            let p = candidates
                .iter()
                .copied()
                .find(|p| (0.6..1.8).contains(&org.people[*p].level))
                .unwrap_or(candidates[0]);
            used.insert(p);
            p
        };
        let volume_spike = pick(&["payments", "frontend"], &mut rng);
        let secret_sweep = pick(&["data-platform", "ml", "frontend"], &mut rng);
        let iam_persistence = pick(&["frontend", "ml"], &mut rng);
        let exfil = pick(&["data-platform"], &mut rng);
        let offhours = pick(&["payments", "frontend"], &mut rng);
        let slow = pick(&["payments", "ml"], &mut rng);
        let new_hire = pick(&["payments"], &mut rng);
        let back_from_leave = pick(&["data-platform", "ml", "frontend"], &mut rng);
        let mover_person = pick(&["frontend"], &mut rng);
        let mover = (
            mover_person,
            team_index("data-platform"),
            i64::from(opts.days) - 20,
        );
        // Drawn last, so every earlier pick is what it was before.
        let takeover = pick(&["checkout", "frontend"], &mut rng);

        let mut plan = Plan {
            labels: Vec::new(),
            s,
            volume_spike,
            secret_sweep,
            iam_persistence,
            exfil,
            offhours,
            slow,
            new_hire,
            back_from_leave,
            mover,
            incident_team: team_index("checkout"),
            adoption_team: team_index("payments"),
            takeover,
            standard: opts.attacks == super::AttackLibrary::Standard,
            label_index: BTreeMap::new(),
        };
        let email = |p: usize| org.people[p].email.clone();
        if plan.standard {
            plan.add("volume_spike", "attack", email(volume_spike), "about 50 kubectl exec sessions into the team's pods in one hour, by someone who almost never execs, with env/cat/curl inside");
            plan.add("secret_sweep", "attack", email(secret_sweep), "lists and reads secrets across about 10 namespaces, mostly other teams', within half an hour");
            plan.add("iam_persistence", "attack", email(iam_persistence), "a handful of IAM writes (CreateUser, CreateAccessKey, AttachUserPolicy, PutUserPolicy) by a developer who never does IAM, from their usual address in working hours");
            plan.add("exfil_volume", "attack", email(exfil), "thousands of s3:GetObject over two hours across buckets, including other teams' buckets");
            plan.add("stolen_ci_token", "attack", CI.to_owned(), "the CI deployer's token used from a laptop address with a human kubectl at 02:00 UTC: lists namespaces and secrets, reads secrets, execs");
            plan.add(
                "offhours_recon",
                "attack",
                email(offhours),
                "about 60 get/list calls across namespaces, nodes and RBAC at 03:00 local time",
            );
            plan.add("slow_and_low", "attack", email(slow), "2-4 reads of other teams' secrets a day for six days, hidden in ordinary working sessions");
            plan.add("new_account_sweep", "attack", NEW_ACCOUNT.to_owned(), "a brand-new account, in no group, sweeps namespaces of several teams: lists, reads secrets, execs");
            plan.add("quiet_newcomer", "attack", QUIET_NEWCOMER.to_owned(), "a new account in no group that works like a developer for two days but lists and reads secrets, configmaps and services in a few teams' namespaces and opens one shell");
            plan.add("contractor_exfil", "attack", CONTRACTOR_EXFIL.to_owned(), "a new contractor account in no group that works like the data platform team for three days, then, from the same address, lists and reads secrets and configmaps in the payments team's namespaces");
            plan.add("session_takeover", "attack", email(takeover), "someone else works in a frontend or checkout engineer's session for under an hour, at their usual hour, from their address and client: an ordinary number of calls, but the data platform team's S3, Athena and Glue routine");
        }
        plan.add(
            "contractor_onboarding",
            "benign",
            CONTRACTOR.to_owned(),
            "a new contractor account in no group whose first week is the data platform team's S3, Athena and Glue routine",
        );
        plan.add(
            "new_hire",
            "benign",
            email(new_hire),
            "a new payments engineer whose first week looks like the team's",
        );
        plan.add(
            "back_from_leave",
            "benign",
            email(back_from_leave),
            "back from two weeks of leave, ordinary activity",
        );
        plan
    }

    pub fn scoring_start(&self) -> i64 {
        self.s
    }

    /// People whose benign scenario is their whole window of activity.
    pub fn whole_window_people(&self, org: &Org) -> Vec<(String, &'static str)> {
        vec![
            (org.people[self.new_hire].email.clone(), "new_hire"),
            (
                org.people[self.back_from_leave].email.clone(),
                "back_from_leave",
            ),
        ]
    }

    /// Every untagged event in the adopted namespace belongs to the adoption.
    pub fn tag_adoption(&mut self, rows: &mut [Row]) {
        for r in rows.iter_mut() {
            if r.label.is_none() && r.namespace.as_deref() == Some("payments-v2") {
                r.label = Some(self.add(
                    "namespace_adoption",
                    "benign",
                    r.user.clone(),
                    "the payments team starts using a new namespace, payments-v2",
                ));
            }
        }
    }

    /// Registers an attack of another library; returns its label id.
    pub(super) fn add_attack(
        &mut self,
        scenario: &'static str,
        user: String,
        description: String,
        per_day: bool,
    ) -> u16 {
        let i = self.add(scenario, "attack", user, &description);
        self.labels[i as usize].per_day = per_day;
        i
    }

    fn add(
        &mut self,
        scenario: &'static str,
        kind: &'static str,
        user: String,
        description: &str,
    ) -> u16 {
        let key = (scenario, user.clone());
        if let Some(i) = self.label_index.get(&key) {
            return *i;
        }
        let i = self.labels.len() as u16;
        self.labels.push(LabelDef {
            scenario,
            kind,
            user,
            description: description.to_owned(),
            per_day: false,
        });
        self.label_index.insert(key, i);
        i
    }

    fn label(&self, scenario: &'static str, user: &str) -> u16 {
        self.label_index[&(scenario, user.to_owned())]
    }

    /// Whether a person works at all on this day (leave, not yet hired).
    pub fn present(&self, person: usize, day: i64) -> bool {
        if person == self.new_hire {
            return day >= self.s;
        }
        if person == self.back_from_leave {
            return !(self.s - 14..self.s).contains(&day);
        }
        true
    }

    fn team_of(&self, org: &Org, person: usize, day: i64) -> usize {
        if person == self.mover.0 && day >= self.mover.2 {
            self.mover.1
        } else {
            org.people[person].team
        }
    }

    pub fn groups(&self, org: &Org, person: usize, day: i64) -> Vec<String> {
        vec![
            format!("team-{}", TEAMS[self.team_of(org, person, day)].name),
            "system:authenticated".to_owned(),
        ]
    }

    pub fn namespaces(&self, org: &Org, person: usize, day: i64) -> Vec<&'static str> {
        let team = self.team_of(org, person, day);
        let mut ns = TEAMS[team].namespaces.to_vec();
        if team == self.adoption_team && day > self.s {
            ns.push("payments-v2");
            ns.push("payments-v2");
        }
        ns
    }

    pub fn identities_csv(&self, org: &Org, first: chrono::NaiveDate) -> String {
        let at = |day: i64| {
            (first + chrono::Days::new(day as u64))
                .format("%Y-%m-%dT00:00:00Z")
                .to_string()
        };
        let mut out = String::from("user,group,valid_from,valid_to\n");
        for (i, p) in org.people.iter().enumerate() {
            let team = format!("team-{}", TEAMS[p.team].name);
            if i == self.mover.0 {
                out.push_str(&format!(
                    "{},{team},{},{}\n",
                    p.email,
                    at(0),
                    at(self.mover.2)
                ));
                out.push_str(&format!(
                    "{},team-{},{},\n",
                    p.email,
                    TEAMS[self.mover.1].name,
                    at(self.mover.2)
                ));
            } else if i == self.new_hire {
                out.push_str(&format!("{},{team},{},\n", p.email, at(self.s)));
            } else {
                out.push_str(&format!("{},{team},{},\n", p.email, at(0)));
            }
        }
        for (user, group) in SERVICE_IDENTITIES {
            out.push_str(&format!("{user},{group},{},\n", at(0)));
        }
        out
    }
}

fn local(person: &org::Person, day0: i64, hour: f64) -> i64 {
    day0 + ((hour - person.tz as f64) * MICROS_PER_HOUR as f64) as i64
}

/// A local hour that falls inside the UTC day being generated (the local
/// date shifts by one where needed), so a scenario is never cut away at a
/// partition boundary.
fn local_in_day(person: &org::Person, day0: i64, hour: f64) -> i64 {
    let t = local(person, day0, hour);
    day0 + (t - day0).rem_euclid(MICROS_PER_DAY)
}

fn ci_groups() -> Vec<String> {
    [
        "system:serviceaccounts",
        "system:serviceaccounts:ci",
        "system:authenticated",
    ]
    .map(String::from)
    .to_vec()
}

/// Reconnaissance from an attacker's laptop: list and read across namespaces
/// with a human kubectl, optionally opening shells.
struct Sweep<'a> {
    user: &'a str,
    groups: Option<&'a [String]>,
    ip: &'a str,
    calls: std::ops::Range<u32>,
    gap: std::ops::Range<i64>,
    actions: &'a [(&'a str, f64)],
    shell_after_exec: bool,
}

impl Sweep<'_> {
    fn emit(
        &self,
        emit: &mut Emit,
        rng: &mut ChaCha8Rng,
        start: i64,
        namespaces: &[&str],
        day: i64,
    ) {
        let mut t = start;
        for _ in 0..rng.random_range(self.calls.clone()) {
            t += rng.random_range(self.gap.clone());
            let action = weighted(rng, self.actions);
            let ns = namespaces[rng.random_range(0..namespaces.len())];
            let k = rng.random_range(0..4);
            let agent = "kubectl/v1.31.0 (darwin/arm64) kubernetes/9d1c2b3";
            emit.k8s(
                t,
                self.user,
                "kubectl",
                action,
                ns,
                k,
                day,
                self.ip,
                agent,
                self.groups,
            );
            if self.shell_after_exec && action == "create pods/exec" {
                emit.falco_after_exec(rng, t, self.user, ns, k, day, &["sh", "env", "cat", "curl"]);
            }
        }
    }
}

/// Machines and rotations: control plane, CI, bots, on-call, release day.
///
/// Long on purpose: it is the script of a day's routine traffic, one block
/// per kind of actor in a fixed order. The order is what makes a seed
/// reproduce the committed sample lake (every block draws from one seeded
/// stream), so the script reads top to bottom as the day unfolds.
#[allow(clippy::too_many_arguments)]
pub fn routine(
    emit: &mut Emit,
    rng: &mut ChaCha8Rng,
    org: &Org,
    plan: &mut Plan,
    opts: &SampleOptions,
    day0: i64,
    day: i64,
    per_day: f64,
) {
    let sa_groups = vec![
        "system:serviceaccounts".to_owned(),
        "system:authenticated".to_owned(),
    ];
    // Control plane: a quarter of the volume, steady around the clock.
    let n = (0.25 * per_day) as usize;
    for i in 0..n {
        let who = CONTROLLERS[i % 2];
        let t = day0 + rng.random_range(0..MICROS_PER_DAY);
        let action = weighted(
            rng,
            &[
                ("get leases", 4.0),
                ("update leases", 4.0),
                ("list pods", 2.0),
                ("watch pods", 2.0),
                ("update endpoints", 1.0),
                ("get replicasets", 1.0),
            ],
        );
        emit.k8s(
            t,
            who,
            "other",
            action,
            "kube-system",
            rng.random_range(0..4),
            day,
            "10.0.0.10",
            "kube-controller-manager/v1.30.2 (linux/amd64) kubernetes/6813625/leader-election",
            Some(&sa_groups),
        );
    }
    // CI deployer: pipeline bursts into every team's namespaces, any hour.
    let ci_groups = ci_groups();
    let ci_scale = (0.05 * per_day / 12.0 / 17.0).max(0.3);
    for _ in 0..((12.0 * ci_scale) as usize).max(4) {
        let team = &TEAMS[rng.random_range(0..TEAMS.len())];
        let mut t = day0 + rng.random_range(0..MICROS_PER_DAY);
        for _ in 0..rng.random_range(10..25) {
            t += rng.random_range(1_000_000..8_000_000);
            let action = weighted(
                rng,
                &[
                    ("get deployments", 4.0),
                    ("patch deployments", 3.0),
                    ("get pods", 3.0),
                    ("list pods", 2.0),
                    ("get replicasets", 2.0),
                    ("create configmaps", 1.0),
                ],
            );
            let ns = team.namespaces[rng.random_range(0..team.namespaces.len())];
            emit.k8s(
                t,
                CI,
                "kubectl",
                action,
                ns,
                rng.random_range(0..6),
                day,
                &format!("10.20.0.{}", rng.random_range(2..30)),
                "kubectl/v1.28.4 (linux/amd64) kubernetes/b9c4a4b",
                Some(&ci_groups),
            );
        }
    }
    // Terraform from CI.
    for _ in 0..rng.random_range(3..7) {
        let mut t = day0 + rng.random_range(0..MICROS_PER_DAY);
        for _ in 0..rng.random_range(8..20) {
            t += rng.random_range(500_000..4_000_000);
            let action = weighted(
                rng,
                &[
                    ("ec2:DescribeInstances", 3.0),
                    ("s3:GetObject", 2.0),
                    ("iam:GetRole", 2.0),
                    ("eks:DescribeCluster", 2.0),
                    ("sts:GetCallerIdentity", 1.0),
                    ("s3:PutObject", 1.0),
                ],
            );
            emit.aws(
                t,
                CI_ROLE,
                "terraform",
                action,
                "arn:aws:s3:::platform-tfstate",
                &format!("10.20.1.{}", rng.random_range(2..30)),
                "APN/1.0 HashiCorp/1.0 Terraform/1.8.5 (+https://www.terraform.io)",
            );
        }
    }
    // The reporting bot: about 2% of the volume, every hour.
    let per_hour = (0.02 * per_day / 24.0).max(1.0) as u32;
    for hour in 0..24 {
        for _ in 0..rng.random_range(per_hour..=2 * per_hour) {
            let t = day0 + hour * MICROS_PER_HOUR + rng.random_range(0..MICROS_PER_HOUR);
            emit.aws(
                t,
                BOT,
                "other",
                "s3:GetObject",
                "arn:aws:s3:::data-exports",
                "10.30.0.5",
                "Boto3/1.34.84 md/Botocore#1.34.84 ua/2.0 os/linux#6.1 lang/python#3.11.9",
            );
        }
    }
    // A GCP deploy bot.
    for _ in 0..rng.random_range(2..5) {
        let t = day0 + rng.random_range(0..MICROS_PER_DAY);
        emit.gcp(
            t,
            GCP_BOT,
            "storage.objects.create",
            "projects/acme-ml/buckets/ml-models",
            "acme-ml",
            "10.40.0.7",
            "google-api-python-client/2.131.0 gl-python/3.11",
        );
    }

    // On call: one person per week in sre and platform, at night and weekends.
    let weekday = (day.rem_euclid(7) + weekday_offset(opts)) % 7;
    for team in [team_index("sre"), team_index("platform")] {
        let members = org.members(team);
        let person_index = members[((day / 7) as usize) % members.len()];
        let person = &org.people[person_index];
        let groups = plan.groups(org, person_index, day);
        let mark = emit.len();
        let sessions = if weekday >= 5 {
            2
        } else {
            rng.random_range(0..3)
        };
        for _ in 0..sessions {
            let hour = if weekday >= 5 {
                10.0 + rng.random::<f64>() * 10.0
            } else {
                20.0 + rng.random::<f64>() * 6.0
            };
            let mut t = local(person, day0, hour);
            for _ in 0..rng.random_range(3..9) {
                t += rng.random_range(10_000_000..90_000_000);
                let action = weighted(
                    rng,
                    &[
                        ("get pods", 4.0),
                        ("get pods/log", 4.0),
                        ("list events", 2.0),
                        ("get nodes", 1.0),
                        ("patch deployments", 0.5),
                    ],
                );
                let ns = TEAMS[team].namespaces[rng.random_range(0..TEAMS[team].namespaces.len())];
                emit.kubectl(person, &groups, t, action, ns, rng.random_range(0..6), day);
            }
        }
        if day >= plan.s && emit.len() > mark {
            let id = plan.add(
                "oncall_week",
                "benign",
                person.email.clone(),
                "the on-call engineer's night and weekend checks (get pods, logs, events)",
            );
            emit.tag_since(mark, id);
        }
    }

    // Release day: Thursdays, checkout deploys with helm (which reads and writes release secrets).
    if weekday == 3 {
        let team = team_index("checkout");
        let mut members = org.members(team);
        members.shuffle(rng);
        for &p in members.iter().take(4) {
            let person = &org.people[p];
            let groups = plan.groups(org, p, day);
            let mark = emit.len();
            let mut t = local(person, day0, 10.0 + rng.random::<f64>());
            for _ in 0..rng.random_range(15..30) {
                t += rng.random_range(3_000_000..30_000_000);
                let action = weighted(
                    rng,
                    &[
                        ("get secrets", 3.0),
                        ("list secrets", 2.0),
                        ("update secrets", 1.0),
                        ("patch deployments", 3.0),
                        ("get deployments", 2.0),
                        ("get replicasets", 1.0),
                    ],
                );
                let ns = TEAMS[team].namespaces[rng.random_range(0..TEAMS[team].namespaces.len())];
                emit.k8s(
                    t,
                    &person.email,
                    "helm",
                    action,
                    ns,
                    3,
                    day,
                    &person.ips[0],
                    "Helm/3.15.2",
                    Some(&groups),
                );
            }
            if day >= plan.s {
                let id = plan.add(
                    "release_day",
                    "benign",
                    person.email.clone(),
                    "weekly release: a helm deploy burst that reads and updates release secrets",
                );
                emit.tag_since(mark, id);
            }
        }
    }
}

/// Weekday (0 = Monday) of day index 0.
fn weekday_offset(opts: &SampleOptions) -> i64 {
    use chrono::Datelike;
    let first = opts.end - chrono::Days::new(u64::from(opts.days) - 1);
    i64::from(first.weekday().num_days_from_monday())
}

fn other_namespaces(org: &Org, person: usize, n: usize, rng: &mut ChaCha8Rng) -> Vec<&'static str> {
    let own = org.people[person].team;
    let mut ns: Vec<&'static str> = TEAMS
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != own)
        .flat_map(|(_, t)| t.namespaces.iter().copied())
        .collect();
    ns.shuffle(rng);
    ns.truncate(n);
    ns
}

/// The standard library's attacks of one day.
///
/// Long on purpose: one block per labelled scenario, each a short script
/// keyed by its day, in the order of the scenario list. The blocks draw
/// from one seeded stream in this order, which is what makes a seed
/// reproduce the committed sample lake.
fn standard_attacks(
    emit: &mut Emit,
    rng: &mut ChaCha8Rng,
    org: &Org,
    plan: &mut Plan,
    day0: i64,
    day: i64,
) {
    let s = plan.s;
    let p = |i: usize| &org.people[i];
    let groups = |i: usize| plan.groups(org, i, day);

    if day == s + 2 {
        let who = plan.volume_spike;
        let person = p(who);
        let ns = TEAMS[person.team].namespaces[0];
        let mark = emit.len();
        let mut t = local_in_day(person, day0, 14.0);
        for _ in 0..rng.random_range(40..60) {
            t += rng.random_range(20_000_000..70_000_000);
            emit.kubectl(person, &groups(who), t, "create pods/exec", ns, 0, day);
            emit.falco_after_exec(
                rng,
                t,
                &person.email,
                ns,
                0,
                day,
                &["env", "cat", "curl", "sh"],
            );
        }
        emit.tag_since(mark, plan.label("volume_spike", &person.email));
    }
    if day == s + 1 {
        let who = plan.secret_sweep;
        let person = p(who);
        let mark = emit.len();
        let mut t = local_in_day(person, day0, 11.0);
        for ns in other_namespaces(org, who, 10, rng) {
            t += rng.random_range(60_000_000..180_000_000);
            emit.kubectl(person, &groups(who), t, "list secrets", ns, 0, day);
            for k in 0..rng.random_range(1..3) {
                t += rng.random_range(5_000_000..20_000_000);
                emit.kubectl(person, &groups(who), t, "get secrets", ns, k, day);
            }
        }
        emit.tag_since(mark, plan.label("secret_sweep", &person.email));
    }
    if day == s + 3 {
        let who = plan.iam_persistence;
        let person = p(who);
        let mark = emit.len();
        let mut t = local_in_day(person, day0, 15.0);
        for action in [
            "iam:CreateUser",
            "iam:CreateAccessKey",
            "iam:AttachUserPolicy",
            "iam:PutUserPolicy",
            "iam:CreateLoginProfile",
        ] {
            t += rng.random_range(20_000_000..120_000_000);
            emit.aws(
                t,
                &person.email,
                "aws",
                action,
                &format!("arn:aws:iam::{ACCOUNT}:user/svc-sync"),
                &person.ips[0],
                &person.aws_ua,
            );
        }
        emit.tag_since(mark, plan.label("iam_persistence", &person.email));

        let who = plan.offhours;
        let person = p(who);
        let mark = emit.len();
        let mut t = local_in_day(person, day0, 3.0);
        let namespaces = other_namespaces(org, who, 6, rng);
        for _ in 0..rng.random_range(50..70) {
            t += rng.random_range(10_000_000..50_000_000);
            let action = weighted(
                rng,
                &[
                    ("list pods", 3.0),
                    ("list services", 2.0),
                    ("list configmaps", 2.0),
                    ("list namespaces", 1.0),
                    ("get nodes", 1.0),
                    ("list clusterroles", 1.0),
                    ("list rolebindings", 1.0),
                ],
            );
            let ns = namespaces[rng.random_range(0..namespaces.len())];
            emit.kubectl(
                person,
                &groups(who),
                t,
                action,
                ns,
                rng.random_range(0..6),
                day,
            );
        }
        emit.tag_since(mark, plan.label("offhours_recon", &person.email));
    }
    if day == s + 4 {
        let who = plan.exfil;
        let person = p(who);
        let mark = emit.len();
        let buckets = [
            "data-lake-curated",
            "data-exports",
            "payments-exports",
            "payments-ledger",
            "ml-datasets",
            "security-audit",
        ];
        let start = local_in_day(person, day0, 16.0);
        for i in 0..rng.random_range(2500..3500) {
            let t = start + rng.random_range(0..2 * MICROS_PER_HOUR);
            let action = if i % 60 == 0 {
                "s3:ListBucket"
            } else {
                "s3:GetObject"
            };
            let bucket = buckets[rng.random_range(0..buckets.len())];
            emit.person_s3(person, t, action, bucket, &person.ips[0]);
        }
        emit.tag_since(mark, plan.label("exfil_volume", &person.email));

        let mark = emit.len();
        let namespaces = other_namespaces(org, 0, 8, rng);
        let sweep = Sweep {
            user: NEW_ACCOUNT,
            groups: None,
            ip: "198.51.100.200",
            calls: 40..60,
            gap: 30_000_000..150_000_000,
            actions: &[
                ("list namespaces", 1.0),
                ("list secrets", 3.0),
                ("get secrets", 3.0),
                ("list pods", 3.0),
                ("create pods/exec", 1.0),
            ],
            shell_after_exec: true,
        };
        sweep.emit(emit, rng, day0 + 20 * MICROS_PER_HOUR, &namespaces, day);
        emit.tag_since(mark, plan.label("new_account_sweep", NEW_ACCOUNT));
    }
    if day == s + 2 {
        let mark = emit.len();
        let namespaces = other_namespaces(org, 0, 5, rng);
        let sweep = Sweep {
            user: CI,
            groups: Some(&ci_groups()),
            ip: "203.0.113.77",
            calls: 15..30,
            gap: 20_000_000..120_000_000,
            actions: &[
                ("list namespaces", 1.0),
                ("list secrets", 3.0),
                ("get secrets", 3.0),
                ("create pods/exec", 1.0),
            ],
            shell_after_exec: false,
        };
        sweep.emit(emit, rng, day0 + 2 * MICROS_PER_HOUR, &namespaces, day);
        emit.tag_since(mark, plan.label("stolen_ci_token", CI));
    }
    if (s..s + 6).contains(&day) {
        let who = plan.slow;
        let person = p(who);
        let mark = emit.len();
        let namespaces = other_namespaces(org, who, 4, rng);
        let mut t = local_in_day(person, day0, 13.0 + rng.random::<f64>() * 3.0);
        for k in 0..rng.random_range(2..5) {
            t += rng.random_range(5 * MINUTE..40 * MINUTE);
            let ns = namespaces[rng.random_range(0..namespaces.len())];
            emit.kubectl(person, &groups(who), t, "get secrets", ns, k, day);
        }
        emit.tag_since(mark, plan.label("slow_and_low", &person.email));
    }
}

/// The scenario events of one day: the standard attacks (unless the
/// randomised library replaces them) and the benign look-alikes.
pub fn emit_day(
    emit: &mut Emit,
    rng: &mut ChaCha8Rng,
    org: &Org,
    plan: &mut Plan,
    day0: i64,
    day: i64,
) {
    let s = plan.s;
    let p = |i: usize| &org.people[i];
    if plan.standard {
        standard_attacks(emit, rng, org, plan, day0, day);
    }
    subtle_scenarios(emit, plan, day0, day);
    if plan.standard {
        session_takeover(emit, org, plan, day0, day);
    }
    if day == s + 1 {
        // Incident: the whole checkout team, 5-8x their usual, for three hours.
        let team = plan.incident_team;
        for who in org.members(team) {
            let person = p(who);
            let mark = emit.len();
            let member_groups = plan.groups(org, who, day);
            let start = local_in_day(person, day0, 16.0);
            for _ in 0..rng.random_range(40..60) {
                let t = start + rng.random_range(0..3 * MICROS_PER_HOUR);
                let action = weighted(
                    rng,
                    &[
                        ("get pods", 4.0),
                        ("get pods/log", 5.0),
                        ("patch deployments", 1.0),
                        ("list events", 2.0),
                        ("create pods/exec", 0.3),
                    ],
                );
                let ns = TEAMS[team].namespaces[rng.random_range(0..TEAMS[team].namespaces.len())];
                emit.kubectl(
                    person,
                    &member_groups,
                    t,
                    action,
                    ns,
                    rng.random_range(0..6),
                    day,
                );
            }
            let id = plan.add(
                "team_incident_surge",
                "benign",
                person.email.clone(),
                "the whole checkout team works an incident together for three hours",
            );
            emit.tag_since(mark, id);
        }
    }
}

/// The scenarios no single-axis detector is meant to catch alone. They draw
/// from their own random stream, so adding them left every other scenario's
/// events as they were.
fn subtle_scenarios(emit: &mut Emit, plan: &mut Plan, day0: i64, day: i64) {
    let s = plan.s;
    let mut rng = ChaCha8Rng::seed_from_u64(0x5_0b71e ^ day as u64);
    let rng = &mut rng;
    if plan.standard && (day == s + 2 || day == s + 3) {
        let mark = emit.len();
        let namespaces = [
            TEAMS[0].namespaces,
            TEAMS[2].namespaces,
            TEAMS[3].namespaces,
        ]
        .concat();
        let mut t = day0 + 9 * MICROS_PER_HOUR + rng.random_range(0..MICROS_PER_HOUR);
        let ip = "10.8.14.23";
        for i in 0..rng.random_range(25..40) {
            t += rng.random_range(2 * MINUTE..12 * MINUTE);
            // Mostly a developer's day; every third call reaches further.
            let action = if i % 3 == 2 {
                weighted(
                    rng,
                    &[
                        ("list secrets", 2.0),
                        ("get secrets", 2.0),
                        ("get configmaps", 2.0),
                        ("list services", 1.0),
                        ("create pods/exec", 0.5),
                    ],
                )
            } else {
                weighted(rng, org::KUBECTL_COMMON)
            };
            newcomer_kubectl(emit, rng, (t, day), QUIET_NEWCOMER, ip, action, &namespaces);
        }
        emit.tag_since(mark, plan.label("quiet_newcomer", QUIET_NEWCOMER));
    }
    let team = &TEAMS[team_index("data-platform")];
    for (user, ip, scenario) in [
        (CONTRACTOR, "10.8.14.61", "contractor_onboarding"),
        (CONTRACTOR_EXFIL, "10.8.14.62", "contractor_exfil"),
    ] {
        if !(s..s + 5).contains(&day) || (scenario == "contractor_exfil" && !plan.standard) {
            continue;
        }
        let mark = emit.len();
        let mut t = day0 + 8 * MICROS_PER_HOUR + rng.random_range(0..2 * MICROS_PER_HOUR);
        let reaching = scenario == "contractor_exfil" && day == s + 3;
        for i in 0..rng.random_range(20..45) {
            t += rng.random_range(MINUTE..10 * MINUTE);
            // On its fourth day every other call reaches into the payments
            // team's cluster namespaces for secrets and configuration.
            if reaching && i % 2 == 1 {
                let action = weighted(
                    rng,
                    &[
                        ("list secrets", 1.0),
                        ("get secrets", 2.0),
                        ("get configmaps", 2.0),
                        ("list pods", 1.0),
                    ],
                );
                let namespaces = TEAMS[team_index("payments")].namespaces;
                newcomer_kubectl(emit, rng, (t, day), user, ip, action, namespaces);
                continue;
            }
            let action = weighted(rng, team.aws_actions);
            let bucket = team.buckets[rng.random_range(0..team.buckets.len())];
            emit.aws(
                t,
                user,
                "aws",
                action,
                &format!("arn:aws:s3:::{bucket}"),
                ip,
                "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 exe/x86_64.debian.12",
            );
        }
        emit.tag_since(mark, plan.label(scenario, user));
    }
}

/// Someone else at a person's keyboard: the data platform team's routine,
/// at the person's usual hour and volume, from their address and client.
/// Its own random stream, so the other scenarios' events are as they were.
fn session_takeover(emit: &mut Emit, org: &Org, plan: &mut Plan, day0: i64, day: i64) {
    if day != plan.s + 2 {
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0x7a4e_0fe7 ^ day as u64);
    let rng = &mut rng;
    let person = &org.people[plan.takeover];
    let team = &TEAMS[team_index("data-platform")];
    let mark = emit.len();
    let mut t = local_in_day(person, day0, person.start_hour + 1.0);
    for _ in 0..rng.random_range(20..35) {
        t += rng.random_range(30_000_000..150_000_000);
        let action = weighted(rng, team.aws_actions);
        let bucket = team.buckets[rng.random_range(0..team.buckets.len())];
        emit.person_s3(person, t, action, bucket, &person.ips[0]);
    }
    emit.tag_since(mark, plan.label("session_takeover", &person.email));
}

/// One kubectl call by an account in no group, from a Linux workstation,
/// into one of `namespaces`.
fn newcomer_kubectl(
    emit: &mut Emit,
    rng: &mut ChaCha8Rng,
    (t, day): (i64, i64),
    user: &str,
    ip: &str,
    action: &str,
    namespaces: &[&str],
) {
    let ns = namespaces[rng.random_range(0..namespaces.len())];
    let agent = "kubectl/v1.30.2 (linux/amd64) kubernetes/6813625";
    let pod = rng.random_range(0..4);
    emit.k8s(t, user, "kubectl", action, ns, pod, day, ip, agent, None);
}

/// Tracks each label's first and last event.
#[derive(Default)]
pub struct Labels {
    spans: BTreeMap<u16, (i64, i64, u64)>,
    /// The same per UTC day, for labels one row per day.
    daily: BTreeMap<(u16, i64), (i64, i64, u64)>,
    defs: Vec<LabelDef>,
    /// Ordinary activity of people in day-long benign scenarios.
    whole_window: BTreeMap<String, (i64, i64, u64)>,
}

impl Labels {
    pub fn observe(&mut self, rows: &[Row]) {
        for r in rows {
            if let Some(id) = r.label {
                let day = r.t.div_euclid(MICROS_PER_DAY);
                for e in [
                    self.spans.entry(id).or_insert((r.t, r.t, 0)),
                    self.daily.entry((id, day)).or_insert((r.t, r.t, 0)),
                ] {
                    e.0 = e.0.min(r.t);
                    e.1 = e.1.max(r.t);
                    e.2 += 1;
                }
            }
        }
    }

    /// Activity spans of benign people whose whole window is the scenario.
    pub fn observe_people(&mut self, rows: &[Row], people: &[(String, &'static str)], from: i64) {
        for r in rows.iter().filter(|r| r.t >= from) {
            if people.iter().any(|(u, _)| *u == r.user) {
                let e = self
                    .whole_window
                    .entry(r.user.clone())
                    .or_insert((r.t, r.t, 0));
                e.0 = e.0.min(r.t);
                e.1 = e.1.max(r.t);
                e.2 += 1;
            }
        }
    }

    pub fn finish(&mut self, plan: &Plan) -> Vec<(LabelDef, i64, i64)> {
        self.defs = plan.labels.clone();
        let hours = |(a, b): (i64, i64)| {
            (
                a - a.rem_euclid(MICROS_PER_HOUR),
                b - b.rem_euclid(MICROS_PER_HOUR) + MICROS_PER_HOUR,
            )
        };
        let mut out = Vec::new();
        for (i, def) in plan.labels.iter().enumerate() {
            let id = i as u16;
            if def.per_day {
                for (_, (a, b, _)) in self.daily.range((id, i64::MIN)..=(id, i64::MAX)) {
                    let (start, end) = hours((*a, *b));
                    out.push((def.clone(), start, end));
                }
                continue;
            }
            let span = self.spans.get(&id).or_else(|| {
                self.whole_window
                    .get(&def.user)
                    .filter(|_| def.kind == "benign")
            });
            if let Some((a, b, _)) = span {
                let (start, end) = hours((*a, *b));
                out.push((def.clone(), start, end));
            }
        }
        out
    }

    pub fn events_per_scenario(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (i, (_, _, n)) in &self.spans {
            if let Some(d) = self.defs.get(*i as usize) {
                *out.entry(d.scenario.to_owned()).or_default() += n;
            }
        }
        out
    }
}

pub fn labels_csv(rows: &[(LabelDef, i64, i64)]) -> String {
    let t = |us: i64| {
        chrono::DateTime::from_timestamp_micros(us)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    let mut out = String::from("scenario,kind,user,start,end,description\n");
    for (d, a, b) in rows {
        out.push_str(&format!(
            "{},{},{},{},{},\"{}\"\n",
            d.scenario,
            d.kind,
            d.user,
            t(*a),
            t(*b),
            d.description.replace('"', "\"\"")
        ));
    }
    out
}
