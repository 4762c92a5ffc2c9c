//! A second attack library (`sample --attacks randomised`), so detection is
//! not judged only on scenarios written beside the detectors. Each seed
//! draws ten attacks, each a technique (secret reads, IAM or RBAC
//! persistence, exec bursts, reconnaissance, exfiltration, log tampering)
//! on a cloud that has it (Kubernetes, AWS, GCP), by an actor of a random
//! kind (an engineer, a CI role, a bot), with a random volume (3 to 300
//! calls, log-uniform), start (any hour of the scoring week), duration (5
//! minutes to 6 hours) and, one time in five, spread over 2-5 days. An
//! engineer works from their own address and clients or, by a coin, from a
//! new address with a generic client; a service identity always uses a
//! hand-run client (its own address or a new one).

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::org::{Org, ACCOUNT, TEAMS};
use super::scenarios::{Plan, SERVICE_IDENTITIES};
use super::{Emit, MICROS_PER_DAY};

/// Attacks per seed.
const ATTACKS: usize = 10;
const MIN_CALLS: f64 = 3.0;
const MAX_CALLS: f64 = 300.0;
const MIN_MINUTES: f64 = 5.0;
const MAX_MINUTES: f64 = 360.0;
/// Share of attacks spread over several days, and how many.
const MULTI_DAY: f64 = 0.2;
const MAX_DAYS: i64 = 5;
const MINUTE: i64 = 60_000_000;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cloud {
    K8s,
    Aws,
    Gcp,
}

/// A technique's actions per cloud (empty: the technique has no form there).
struct Technique {
    name: &'static str,
    k8s: &'static [&'static str],
    aws: &'static [&'static str],
    gcp: &'static [&'static str],
}

const TECHNIQUES: [Technique; 6] = [
    Technique {
        name: "secret_read",
        k8s: &["list secrets", "get secrets"],
        aws: &[
            "secretsmanager:ListSecrets",
            "secretsmanager:GetSecretValue",
            "ssm:GetParameter",
        ],
        gcp: &["google.cloud.secretmanager.v1.SecretManagerService.AccessSecretVersion"],
    },
    Technique {
        name: "persistence",
        k8s: &[
            "create serviceaccounts",
            "create clusterrolebindings",
            "create serviceaccounts/token",
        ],
        aws: &[
            "iam:CreateUser",
            "iam:CreateAccessKey",
            "iam:AttachUserPolicy",
        ],
        gcp: &[
            "google.iam.admin.v1.CreateServiceAccount",
            "google.iam.admin.v1.CreateServiceAccountKey",
            "SetIamPolicy",
        ],
    },
    Technique {
        name: "exec_burst",
        k8s: &["create pods/exec", "create pods/exec", "get pods"],
        aws: &["ssm:StartSession", "ssm:SendCommand"],
        gcp: &[],
    },
    Technique {
        name: "recon",
        k8s: &[
            "list namespaces",
            "list pods",
            "list services",
            "list configmaps",
            "get nodes",
            "list clusterroles",
        ],
        aws: &[
            "sts:GetCallerIdentity",
            "iam:ListUsers",
            "iam:ListRoles",
            "ec2:DescribeInstances",
            "s3:ListBuckets",
        ],
        gcp: &[
            "v1.compute.instances.list",
            "storage.buckets.list",
            "google.iam.admin.v1.ListServiceAccounts",
        ],
    },
    Technique {
        name: "exfiltration",
        k8s: &["get configmaps", "get secrets"],
        aws: &["s3:GetObject", "s3:GetObject", "s3:ListBucket"],
        gcp: &[
            "storage.objects.get",
            "storage.objects.get",
            "storage.objects.list",
        ],
    },
    Technique {
        name: "log_tampering",
        k8s: &["delete events"],
        aws: &[
            "cloudtrail:StopLogging",
            "cloudtrail:PutEventSelectors",
            "cloudtrail:DeleteTrail",
        ],
        gcp: &[
            "google.logging.v2.ConfigServiceV2.DeleteSink",
            "google.logging.v2.ConfigServiceV2.UpdateSink",
        ],
    },
];

/// Who acts.
#[derive(Debug, Clone)]
enum Actor {
    Person(usize),
    Service(&'static str),
}

/// One drawn attack.
#[derive(Debug, Clone)]
pub struct Attack {
    actor: Actor,
    technique: usize,
    cloud: Cloud,
    calls: usize,
    /// First call: micros since the lake's first midnight.
    start: i64,
    minutes: f64,
    /// 1 for a single episode; else the days it repeats on.
    days: i64,
    new_address: bool,
    label: u16,
    /// Its calls' own random stream, drawn from the seed.
    calls_seed: u64,
}

/// Draws the attacks of a seed and registers their labels with `plan`.
pub fn draw(org: &Org, plan: &mut Plan, seed: u64, scoring_start: i64) -> Vec<Attack> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x11b_7a7e);
    let mut people: Vec<usize> = (0..org.people.len()).collect();
    people.shuffle(&mut rng);
    let mut services: Vec<&'static str> = SERVICE_IDENTITIES.iter().map(|(u, _)| *u).collect();
    services.shuffle(&mut rng);
    let mut attacks = Vec::new();
    for _ in 0..ATTACKS {
        let actor = if rng.random::<f64>() < 0.6 || services.is_empty() {
            Actor::Person(people.pop().expect("more people than attacks"))
        } else {
            Actor::Service(services.pop().expect("checked"))
        };
        let (technique, cloud) = loop {
            let t = rng.random_range(0..TECHNIQUES.len());
            let cloud = [Cloud::K8s, Cloud::Aws, Cloud::Gcp][rng.random_range(0..3)];
            if !actions(&TECHNIQUES[t], cloud).is_empty() {
                break (t, cloud);
            }
        };
        let calls =
            (MIN_CALLS * (MAX_CALLS / MIN_CALLS).powf(rng.random::<f64>())).round() as usize;
        let minutes = MIN_MINUTES * (MAX_MINUTES / MIN_MINUTES).powf(rng.random::<f64>());
        let days = if rng.random::<f64>() < MULTI_DAY {
            rng.random_range(2..=MAX_DAYS)
        } else {
            1
        };
        let first_day = scoring_start + rng.random_range(0..=(7 - days));
        // Within one UTC day, so no call is cut at a partition's end.
        let span = (minutes * MINUTE as f64) as i64;
        let start =
            first_day * MICROS_PER_DAY + rng.random_range(0..(MICROS_PER_DAY - span).max(1));
        let new_address = rng.random::<bool>();
        let user = match &actor {
            Actor::Person(p) => org.people[*p].email.clone(),
            Actor::Service(s) => (*s).to_owned(),
        };
        let name = TECHNIQUES[technique].name;
        let label = plan.add_attack(
            name,
            user,
            format!(
                "randomised: {name} on {cloud:?}, {calls} calls in all, each episode over {minutes:.0} min{}{}",
                if days > 1 {
                    format!(", on {days} days running")
                } else {
                    String::new()
                },
                if new_address {
                    ", from a new address and client"
                } else {
                    ""
                },
            ),
            days > 1,
        );
        attacks.push(Attack {
            actor,
            technique,
            cloud,
            calls,
            start,
            minutes,
            days,
            new_address,
            label,
            calls_seed: rng.random(),
        });
    }
    attacks
}

fn actions(t: &Technique, cloud: Cloud) -> &'static [&'static str] {
    match cloud {
        Cloud::K8s => t.k8s,
        Cloud::Aws => t.aws,
        Cloud::Gcp => t.gcp,
    }
}

/// The attacks' events of day index `day`, which starts at `day0`.
pub fn emit_day(emit: &mut Emit, org: &Org, attacks: &[Attack], day0: i64, day: i64) {
    for a in attacks {
        let first = a.start.div_euclid(MICROS_PER_DAY);
        if day < first || day >= first + a.days {
            continue;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(a.calls_seed ^ day as u64);
        let per_day = a.calls.div_ceil(a.days as usize).max(1);
        let begin = day0 + a.start.rem_euclid(MICROS_PER_DAY);
        let span = (a.minutes * MINUTE as f64) as i64;
        let mark = emit.len();
        for _ in 0..per_day {
            let t = begin + rng.random_range(0..span.max(1));
            call(emit, org, a, t, day, &mut rng);
        }
        emit.tag_since(mark, a.label);
    }
}

/// One call of attack `a` at `t`.
fn call(emit: &mut Emit, org: &Org, a: &Attack, t: i64, day: i64, rng: &mut ChaCha8Rng) {
    let list = actions(&TECHNIQUES[a.technique], a.cloud);
    let action = list[rng.random_range(0..list.len())];
    let (user, ip, ua) = identity(org, a);
    let team = match a.actor {
        Actor::Person(p) => &TEAMS[org.people[p].team],
        Actor::Service(_) => &TEAMS[rng.random_range(0..TEAMS.len())],
    };
    match a.cloud {
        Cloud::K8s => {
            // Half the calls reach into another team's namespaces.
            let other = &TEAMS[rng.random_range(0..TEAMS.len())];
            let ns = if rng.random::<bool>() {
                team.namespaces
            } else {
                other.namespaces
            };
            let ns = ns[rng.random_range(0..ns.len())];
            let pod = rng.random_range(0..6);
            emit.k8s(
                t, &user, "kubectl", action, ns, pod, day, &ip, &ua.k8s, None,
            );
        }
        Cloud::Aws => {
            let bucket = TEAMS[rng.random_range(0..TEAMS.len())].buckets[0];
            let target = if action.starts_with("s3:") {
                format!("arn:aws:s3:::{bucket}")
            } else {
                format!(
                    "arn:aws:iam::{ACCOUNT}:user/{}",
                    ["ops", "svc-sync", "backup"][rng.random_range(0..3)]
                )
            };
            emit.aws(t, &user, "aws", action, &target, &ip, &ua.aws);
        }
        Cloud::Gcp => {
            let target = format!("projects/{}/buckets/{}-data", team.project, team.name);
            emit.gcp(t, &user, action, &target, team.project, &ip, &ua.gcp);
        }
    }
}

struct Agents {
    k8s: String,
    aws: String,
    gcp: String,
}

/// The actor's name, address and clients: its own, or a new address and a
/// generic client.
fn identity(org: &Org, a: &Attack) -> (String, String, Agents) {
    let stranger = Agents {
        k8s: "kubectl/v1.29.0 (linux/amd64) kubernetes/3f7a2b1".into(),
        aws: "aws-cli/2.13.0 Python/3.11.4 Linux/5.15.0 exe/x86_64.ubuntu.22".into(),
        gcp: "google-cloud-sdk/460.0.0 command/gcloud".into(),
    };
    let new_ip = "203.0.113.41".to_owned();
    match &a.actor {
        Actor::Person(p) => {
            let person = &org.people[*p];
            if a.new_address {
                (person.email.clone(), new_ip, stranger)
            } else {
                let own = Agents {
                    k8s: person.kubectl_ua.clone(),
                    aws: person.aws_ua.clone(),
                    gcp: person.gcloud_ua.clone(),
                };
                (person.email.clone(), person.ips[0].clone(), own)
            }
        }
        Actor::Service(s) => {
            // Its usual in-cluster range.
            let ip = if a.new_address {
                new_ip
            } else {
                "10.20.1.5".into()
            };
            ((*s).to_owned(), ip, stranger)
        }
    }
}
