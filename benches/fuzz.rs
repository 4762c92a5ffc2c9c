//! Fuzzing the ingest adapters (issue 3): for each format, for a time
//! budget, feed the framing and the adapter random bytes and mutations of
//! valid records (bit flips, truncations, spliced fields, deep nesting,
//! huge strings, gzip-looking junk), and fail on any panic. Prints the cases
//! run per format; run under /usr/bin/time to see memory stays bounded.
//!
//!   cargo bench --bench fuzz -- [SECONDS_PER_FORMAT] [FORMAT...]

use std::time::{Duration, Instant};

use lakehound::ingest::{normalise_bytes, Format};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SEEDS: [(&str, &str); 4] = [
    (
        "k8s-audit",
        r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a1","stage":"ResponseComplete","verb":"create","user":{"username":"oidc:alice@example.com","groups":["devs"]},"impersonatedUser":{"username":"system:serviceaccount:x:y"},"sourceIPs":["10.1.2.3"],"userAgent":"kubectl/v1.28.2","objectRef":{"resource":"pods","namespace":"payments","name":"api-0","subresource":"exec"},"requestReceivedTimestamp":"2026-11-03T10:00:00.123456Z"}"#,
    ),
    (
        "cloudtrail",
        r#"{"Records":[{"userIdentity":{"type":"AssumedRole","principalId":"AROA1:alice@example.com","arn":"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin/alice@example.com","accountId":"111122223333","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/r"}}},"eventTime":"2026-11-03T09:15:02Z","eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.13.5","requestParameters":{"userName":"bot"},"resources":[{"ARN":"arn:aws:iam::1:user/bot"}],"eventID":"e-1","recipientAccountId":"111122223333"}]}"#,
    ),
    (
        "gcp-audit",
        r#"{"insertId":"g1","protoPayload":{"authenticationInfo":{"principalEmail":"a@example.com","serviceAccountDelegationInfo":[{"firstPartyPrincipal":{"principalEmail":"b@example.com"}}]},"requestMetadata":{"callerIp":"203.0.113.9","callerSuppliedUserAgent":"google-cloud-sdk gcloud/450.0.0"},"methodName":"io.k8s.core.v1.pods.exec.create","resourceName":"core/v1/namespaces/ns/pods/p/exec"},"resource":{"labels":{"project_id":"p1","cluster_name":"c"}},"timestamp":"2026-11-03T09:15:02.123456789Z"}"#,
    ),
    (
        "falco",
        r#"{"hostname":"node-1","rule":"Terminal shell in container","time":"2026-11-03T10:00:05.000000000Z","output_fields":{"container.image.digest":"sha256:abc","k8s.ns.name":"payments","k8s.pod.name":"api-0","proc.cmdline":"bash -i","proc.name":"bash","proc.sid":4242}}"#,
    ),
];

fn mutate(rng: &mut ChaCha8Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..rng.random_range(1..8) {
        if b.is_empty() {
            b.push(rng.random());
            continue;
        }
        let at = rng.random_range(0..b.len());
        match rng.random_range(0..9) {
            0 => b[at] ^= 1 << rng.random_range(0..8),
            1 => b.truncate(at),
            2 => {
                let specials = b"{}[]\":,\\\n0";
                b[at] = specials[rng.random_range(0..specials.len())];
            }
            3 => {
                let end = rng.random_range(at..b.len());
                let piece = b[at..end].to_vec();
                let to = rng.random_range(0..b.len());
                b.splice(to..to, piece);
            }
            4 => b
                .splice(at..at, std::iter::repeat_n(b'[', rng.random_range(1..200)))
                .for_each(drop),
            5 => b
                .splice(
                    at..at,
                    std::iter::repeat_n(b'a', rng.random_range(1..100_000)),
                )
                .for_each(drop),
            6 => b.splice(at..at, [b'\n']).for_each(drop),
            7 => b
                .splice(at..at, "\"\u{fffd}\\ud800é".bytes())
                .for_each(drop),
            _ => {
                let other = SEEDS[rng.random_range(0..SEEDS.len())].1.as_bytes();
                b.splice(at..at, other.iter().copied()).for_each(drop);
            }
        }
    }
    b
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let secs: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(10);
    let wanted: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    for format in Format::ALL {
        if !wanted.is_empty() && !wanted.contains(&format.name()) {
            continue;
        }
        let seed = SEEDS
            .iter()
            .find(|(n, _)| *n == format.name())
            .unwrap()
            .1
            .as_bytes();
        let mut rng = ChaCha8Rng::seed_from_u64(u64::from(format.name().len() as u32) ^ 0x5eed);
        let (started, budget) = (Instant::now(), Duration::from_secs(secs));
        let (mut cases, mut events, mut quarantined) = (0u64, 0usize, 0usize);
        while started.elapsed() < budget {
            let input = match rng.random_range(0..10) {
                0 => (0..rng.random_range(0..4096))
                    .map(|_| rng.random())
                    .collect(),
                1 => [&[0x1f, 0x8b][..], &mutate(&mut rng, seed)].concat(),
                2 => [seed, b"\n", &mutate(&mut rng, seed)].concat(),
                _ => mutate(&mut rng, seed),
            };
            let (e, q) = normalise_bytes(format, &input);
            events += e;
            quarantined += q;
            cases += 1;
        }
        println!(
            "fuzz {}: {cases} cases in {secs} s, no panic ({events} records normalised, {quarantined} quarantined)",
            format.name()
        );
    }
}
