//! The synthetic org: teams with their namespaces, buckets and habits, people
//! with time zones, working hours, activity levels, addresses and tool
//! versions, and the service identities (CI, controllers, bots).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Emit;

pub const ACCOUNT: &str = "111122223333";

pub struct Team {
    pub name: &'static str,
    pub namespaces: &'static [&'static str],
    pub buckets: &'static [&'static str],
    pub project: &'static str,
    /// Weights of kubectl, aws, gcloud sessions.
    pub tools: [f64; 3],
    /// Extra kubectl actions this team does routinely, with weights.
    pub kubectl_extra: &'static [(&'static str, f64)],
    pub aws_actions: &'static [(&'static str, f64)],
    pub share: f64,
}

pub const TEAMS: &[Team] = &[
    Team {
        name: "payments",
        namespaces: &["payments", "payments-api", "payments-jobs"],
        buckets: &["payments-exports", "payments-ledger"],
        project: "acme-payments",
        tools: [0.65, 0.3, 0.05],
        kubectl_extra: &[],
        aws_actions: &[
            ("s3:GetObject", 6.0),
            ("s3:ListBucket", 3.0),
            ("sqs:ReceiveMessage", 2.0),
            ("dynamodb:Query", 3.0),
        ],
        share: 0.16,
    },
    Team {
        name: "checkout",
        namespaces: &["checkout", "checkout-web"],
        buckets: &["checkout-assets"],
        project: "acme-checkout",
        tools: [0.75, 0.2, 0.05],
        kubectl_extra: &[],
        aws_actions: &[
            ("s3:GetObject", 3.0),
            ("cloudfront:CreateInvalidation", 1.0),
            ("dynamodb:GetItem", 3.0),
        ],
        share: 0.12,
    },
    Team {
        name: "data-platform",
        namespaces: &["data-ingest", "data-warehouse"],
        buckets: &["data-lake-raw", "data-lake-curated", "data-exports"],
        project: "acme-data",
        tools: [0.2, 0.55, 0.25],
        kubectl_extra: &[("get cronjobs", 3.0), ("get jobs", 3.0)],
        aws_actions: &[
            ("s3:GetObject", 12.0),
            ("s3:PutObject", 4.0),
            ("s3:ListBucket", 5.0),
            ("athena:StartQueryExecution", 4.0),
            ("glue:GetTable", 3.0),
        ],
        share: 0.14,
    },
    Team {
        name: "ml",
        namespaces: &["ml-training", "ml-serving"],
        buckets: &["ml-datasets", "ml-models"],
        project: "acme-ml",
        tools: [0.3, 0.2, 0.5],
        kubectl_extra: &[("get jobs", 3.0)],
        aws_actions: &[
            ("s3:GetObject", 8.0),
            ("s3:PutObject", 3.0),
            ("sagemaker:DescribeTrainingJob", 2.0),
        ],
        share: 0.12,
    },
    Team {
        name: "platform",
        namespaces: &["platform-system", "ingress", "cert-manager"],
        buckets: &["platform-tfstate"],
        project: "acme-platform",
        tools: [0.65, 0.3, 0.05],
        kubectl_extra: &[
            ("get nodes", 4.0),
            ("create pods/exec", 1.0),
            ("get secrets", 1.0),
            ("get clusterroles", 1.0),
            ("create pods/portforward", 0.5),
        ],
        aws_actions: &[
            ("ec2:DescribeInstances", 5.0),
            ("eks:DescribeCluster", 3.0),
            ("iam:GetRole", 2.0),
            ("s3:GetObject", 2.0),
        ],
        share: 0.12,
    },
    Team {
        name: "sre",
        namespaces: &["monitoring", "logging"],
        buckets: &["sre-runbooks"],
        project: "acme-sre",
        tools: [0.75, 0.2, 0.05],
        kubectl_extra: &[
            ("get nodes", 4.0),
            ("create pods/exec", 1.2),
            ("list events", 3.0),
            ("create pods/portforward", 0.6),
        ],
        aws_actions: &[
            ("cloudwatch:GetMetricData", 5.0),
            ("logs:FilterLogEvents", 5.0),
            ("ec2:DescribeInstances", 2.0),
        ],
        share: 0.10,
    },
    Team {
        name: "security",
        namespaces: &["security-tools"],
        buckets: &["security-audit"],
        project: "acme-security",
        tools: [0.3, 0.55, 0.15],
        kubectl_extra: &[("list secrets", 0.5), ("get rolebindings", 1.0)],
        aws_actions: &[
            ("cloudtrail:LookupEvents", 5.0),
            ("iam:ListUsers", 2.0),
            ("guardduty:ListFindings", 3.0),
            ("s3:GetObject", 2.0),
        ],
        share: 0.06,
    },
    Team {
        name: "frontend",
        namespaces: &["web", "web-staging"],
        buckets: &["web-assets"],
        project: "acme-web",
        tools: [0.8, 0.15, 0.05],
        kubectl_extra: &[],
        aws_actions: &[
            ("s3:PutObject", 2.0),
            ("s3:GetObject", 2.0),
            ("cloudfront:CreateInvalidation", 1.0),
        ],
        share: 0.18,
    },
];

/// Routine kubectl actions everybody does, with weights.
pub const KUBECTL_COMMON: &[(&str, f64)] = &[
    ("get pods", 30.0),
    ("list pods", 14.0),
    ("get pods/log", 12.0),
    ("get deployments", 8.0),
    ("list deployments", 4.0),
    ("get services", 5.0),
    ("get configmaps", 4.0),
    ("patch deployments", 2.5),
    ("list events", 3.0),
    ("get replicasets", 2.0),
    ("list namespaces", 0.4),
    ("create pods/exec", 0.15),
];
pub const GCLOUD_COMMON: &[(&str, f64)] = &[
    ("storage.objects.get", 10.0),
    ("storage.objects.list", 6.0),
    ("google.cloud.bigquery.v2.JobService.InsertJob", 6.0),
    ("io.k8s.core.v1.pods.list", 2.0),
    ("v1.compute.instances.list", 2.0),
];

const FIRST: &[&str] = &[
    "maria", "kai", "ana", "li", "omar", "sofia", "james", "priya", "lukas", "amara", "diego",
    "yuki", "noah", "elena", "arjun", "fatima", "chen", "olivia", "mateo", "ines", "tom", "zara",
    "felix", "nadia", "sam", "hana", "ivan", "lea", "raj", "emma",
];
const LAST: &[&str] = &[
    "lopez",
    "tanaka",
    "silva",
    "wang",
    "haddad",
    "rossi",
    "smith",
    "sharma",
    "mueller",
    "okafor",
    "garcia",
    "sato",
    "brown",
    "petrova",
    "nair",
    "khan",
    "chen",
    "jones",
    "fernandez",
    "costa",
    "novak",
    "ali",
    "weber",
    "ivanova",
    "kim",
    "park",
    "berg",
    "moreau",
    "iyer",
    "clark",
];

pub struct Person {
    pub email: String,
    pub team: usize,
    /// UTC offset in hours.
    pub tz: i64,
    /// Local start of the working day, hours.
    pub start_hour: f64,
    pub day_hours: f64,
    /// Relative activity (heavy-tailed).
    pub level: f64,
    pub ips: Vec<String>,
    pub kubectl_ua: String,
    pub aws_ua: String,
    pub gcloud_ua: String,
}

pub struct Org {
    pub people: Vec<Person>,
}

pub fn weighted<'a>(rng: &mut ChaCha8Rng, items: &[(&'a str, f64)]) -> &'a str {
    let total: f64 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.random::<f64>() * total;
    for (item, w) in items {
        if x < *w {
            return item;
        }
        x -= w;
    }
    items[items.len() - 1].0
}

impl Org {
    pub fn new(users: usize, seed: u64) -> Org {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0f0f);
        let mut people = Vec::with_capacity(users);
        let mut used = std::collections::HashSet::new();
        let shares: f64 = TEAMS.iter().map(|t| t.share).sum();
        for i in 0..users {
            // Deal people to teams by share, deterministically.
            let x = (i as f64 + 0.5) / users as f64 * shares;
            let mut acc = 0.0;
            let team = TEAMS
                .iter()
                .position(|t| {
                    acc += t.share;
                    x < acc
                })
                .unwrap_or(TEAMS.len() - 1);
            let mut email;
            let mut n = 0;
            loop {
                let f = FIRST[rng.random_range(0..FIRST.len())];
                let l = LAST[rng.random_range(0..LAST.len())];
                email = if n < 3 {
                    format!("{f}.{l}@example.com")
                } else {
                    format!("{f}.{l}{n}@example.com")
                };
                n += 1;
                if used.insert(email.clone()) {
                    break;
                }
            }
            let tz = [-8, -5, -5, 0, 1, 1, 2, 5, 8][rng.random_range(0..9)];
            let level = (rng.random::<f64>() * 2.2 - 1.1).exp();
            let n_ips = rng.random_range(1..=3);
            let ips = (0..n_ips)
                .map(|k| {
                    format!(
                        "{}.{}",
                        ["192.0.2", "198.51.100", "203.0.113"][(i + k) % 3],
                        10 + (i * 7 + k * 3) % 240
                    )
                })
                .collect();
            let kver = ["1.29.3", "1.30.2", "1.31.1"][rng.random_range(0..3)];
            let os = ["linux/amd64", "darwin/arm64", "darwin/arm64"][rng.random_range(0..3)];
            people.push(Person {
                email,
                team,
                tz,
                start_hour: 8.0 + rng.random::<f64>() * 2.0,
                day_hours: 7.0 + rng.random::<f64>() * 2.5,
                level,
                ips,
                kubectl_ua: format!("kubectl/v{kver} ({os}) kubernetes/6813625"),
                aws_ua: format!(
                    "aws-cli/2.15.{} Python/3.11.8 {} exe/x86_64 prompt/off",
                    20 + rng.random_range(0..15),
                    if os.starts_with("linux") {
                        "Linux/6.5.0"
                    } else {
                        "Darwin/23.4.0"
                    }
                ),
                gcloud_ua: format!(
                    "google-cloud-sdk/4{}.0.0 command/gcloud",
                    70 + rng.random_range(0..9)
                ),
            });
        }
        Org { people }
    }

    pub fn members(&self, team: usize) -> Vec<usize> {
        (0..self.people.len())
            .filter(|p| self.people[*p].team == team)
            .collect()
    }
}

pub fn team_index(name: &str) -> usize {
    TEAMS
        .iter()
        .position(|t| t.name == name)
        .expect("known team")
}

/// A pod name that changes every week, as deployments roll.
pub fn pod_name(namespace: &str, day_index: i64, k: u64) -> String {
    format!(
        "{namespace}-{:x}-{}",
        (day_index / 7) * 2654435761 % 0xfffff,
        ["a1", "b2", "c3"][(k % 3) as usize]
    )
}

/// Emits one interactive session of a person with one tool.
#[allow(clippy::too_many_arguments)]
pub fn session(
    emit: &mut Emit,
    rng: &mut ChaCha8Rng,
    person: &Person,
    groups: &[String],
    start: i64,
    commands: usize,
    tool: usize,
    namespaces: &[&str],
    day_index: i64,
) {
    let team = &TEAMS[person.team];
    let ip = &person.ips[rng.random_range(0..person.ips.len())];
    let mut t = start;
    for _ in 0..commands {
        t += rng.random_range(5_000_000..90_000_000);
        match tool {
            0 => {
                let action = if !team.kubectl_extra.is_empty() && rng.random::<f64>() < 0.15 {
                    weighted(rng, team.kubectl_extra)
                } else {
                    weighted(rng, KUBECTL_COMMON)
                };
                let ns = namespaces[rng.random_range(0..namespaces.len())];
                let k = rng.random_range(0..6);
                emit.k8s(
                    t,
                    &person.email,
                    "kubectl",
                    action,
                    ns,
                    k,
                    day_index,
                    ip,
                    &person.kubectl_ua,
                    Some(groups),
                );
                if action == "create pods/exec" {
                    emit.falco_after_exec(
                        rng,
                        t,
                        &person.email,
                        ns,
                        k,
                        day_index,
                        &["sh", "ls", "cat", "ps"],
                    );
                }
            }
            1 => {
                let action = weighted(rng, team.aws_actions);
                let bucket = team.buckets[rng.random_range(0..team.buckets.len())];
                emit.person_s3(person, t, action, bucket, ip);
            }
            _ => {
                let action = weighted(rng, GCLOUD_COMMON);
                emit.gcp(
                    t,
                    &person.email,
                    action,
                    &format!("projects/{}/buckets/{}-data", team.project, team.name),
                    team.project,
                    ip,
                    &person.gcloud_ua,
                );
            }
        }
    }
}

pub fn pick_tool(rng: &mut ChaCha8Rng, weights: [f64; 3]) -> usize {
    let x = rng.random::<f64>() * weights.iter().sum::<f64>();
    if x < weights[0] {
        0
    } else if x < weights[0] + weights[1] {
        1
    } else {
        2
    }
}
