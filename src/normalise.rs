//! Values unique by construction, made comparable before they are counted.
//!
//! Real clients stamp every call with something new: gcloud a fresh
//! `invocation-id/<hex>` and the command it ran, the AWS SDKs and CLI the
//! API, command and feature metadata of each request; Kubernetes names every
//! pod of a Deployment `<name>-<replicaset hash>-<random>`. Left as they
//! are, every call would be a first-seen user agent and every restart a
//! first-seen pod. The lake keeps the raw values (for the analyst and the
//! evidence); `run` counts them through these functions.

use std::borrow::Cow;

/// User-agent tokens that describe one request, not the client.
const PER_REQUEST_TOKENS: [&str; 6] = [
    "invocation-id/",
    "command/",
    "md/command#",
    "api/",
    "m/",
    "cfg/retry-mode#",
];

/// The characters Kubernetes draws generated name suffixes from (no vowels,
/// no 0, 1 or 3, so no words).
const K8S_SUFFIX_ALPHABET: &str = "bcdfghjklmnpqrstvwxz2456789";

/// A user agent with its per-request tokens dropped and any UUID or long
/// hex run replaced by `*`.
pub fn user_agent(ua: &str) -> Cow<'_, str> {
    let per_request = |t: &str| PER_REQUEST_TOKENS.iter().any(|p| t.starts_with(p));
    if !ua.split(' ').any(per_request) && !ua.split(' ').any(has_id) {
        return Cow::Borrowed(ua);
    }
    let kept: Vec<Cow<str>> = ua
        .split(' ')
        .filter(|t| !per_request(t))
        .map(|t| {
            if has_id(t) {
                Cow::Owned(mask_ids(t))
            } else {
                Cow::Borrowed(t)
            }
        })
        .collect();
    Cow::Owned(kept.join(" "))
}

/// A pod name without the suffixes its controller generated:
/// `api-7d9f8b6c5d-x2kqz` and `api-x2kqz` become `api-*`; a StatefulSet's
/// `db-0` and a hand-named pod stay as they are.
pub fn pod(name: &str) -> Cow<'_, str> {
    let mut rest = name;
    let mut stripped = false;
    for lengths in [&[5usize][..], &[8, 9, 10][..]] {
        match rest.rsplit_once('-') {
            Some((head, tail))
                if !head.is_empty() && lengths.contains(&tail.len()) && generated(tail) =>
            {
                rest = head;
                stripped = true;
            }
            _ => break,
        }
    }
    if stripped {
        Cow::Owned(format!("{rest}-*"))
    } else {
        Cow::Borrowed(name)
    }
}

fn generated(s: &str) -> bool {
    s.chars().all(|c| K8S_SUFFIX_ALPHABET.contains(c))
}

/// Hex digits in a run (dashes allowed inside, as in a UUID) from which a
/// run is an id.
const ID_DIGITS: usize = 16;

/// Whether a token holds a UUID or another long hex id.
fn has_id(token: &str) -> bool {
    hex_runs(token).any(|(_, digits)| digits >= ID_DIGITS)
}

/// (start, hex digits) of the runs of hex digits and dashes in `s`.
fn hex_runs(s: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let bytes = s.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() && !is_hex_or_dash(bytes[i]) {
            i += 1;
        }
        if i >= bytes.len() {
            return None;
        }
        let start = i;
        let mut digits = 0;
        while i < bytes.len() && is_hex_or_dash(bytes[i]) {
            digits += usize::from(bytes[i] != b'-');
            i += 1;
        }
        Some((start, digits))
    })
}

fn is_hex_or_dash(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b'-'
}

/// `token` with every id run (see [`has_id`]) replaced by `*`.
fn mask_ids(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    let mut last = 0;
    for (start, digits) in hex_runs(token) {
        let end = start
            + token[start..]
                .bytes()
                .take_while(|b| is_hex_or_dash(*b))
                .count();
        if digits >= ID_DIGITS {
            out.push_str(&token[last..start]);
            out.push('*');
            last = end;
        }
    }
    out.push_str(&token[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gcloud_agent_loses_its_invocation_id_and_command() {
        let a = "google-cloud-sdk gcloud/455.0.0 command/gcloud.compute.instances.list invocation-id/0f6a1d3c6a2b4f0e8a1b2c3d4e5f6a7b environment/None client-os/LINUX";
        let b = "google-cloud-sdk gcloud/455.0.0 command/gcloud.storage.cp invocation-id/9a8b7c6d5e4f30211a2b3c4d5e6f7a8b environment/None client-os/LINUX";
        assert_eq!(user_agent(a), user_agent(b));
        assert_eq!(
            user_agent(a),
            "google-cloud-sdk gcloud/455.0.0 environment/None client-os/LINUX"
        );
        // Another version is another client.
        assert_ne!(user_agent(a), user_agent(&a.replace("455.0.0", "456.0.0")));
    }

    #[test]
    fn sdk_agents_lose_their_per_request_metadata_and_uuids() {
        let a = "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.1.0 md/command#s3.cp cfg/retry-mode#standard";
        let b = "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.1.0 md/command#sts.get-caller-identity cfg/retry-mode#adaptive";
        assert_eq!(user_agent(a), user_agent(b));
        let go =
            |api: &str| format!("aws-sdk-go-v2/1.24.1 os/linux lang/go#1.21.6 api/{api} m/E,Z");
        assert_eq!(user_agent(&go("sts#1.26.7")), user_agent(&go("s3#1.48.0")));
        let req = |id: &str| format!("terraform-provider/5.31 request/{id}");
        assert_eq!(
            user_agent(&req("3f2b8c1e-9d4a-4b7e-8f1a-2c3d4e5f6a7b")),
            "terraform-provider/5.31 request/*"
        );
        assert_eq!(
            user_agent(&req("3f2b8c1e-9d4a-4b7e-8f1a-2c3d4e5f6a7b")),
            user_agent(&req("00000000-1111-2222-3333-444444444444"))
        );
        // An ordinary agent is borrowed untouched.
        let kubectl = "kubectl/v1.30.2 (linux/amd64) kubernetes/6813625";
        assert!(matches!(user_agent(kubectl), Cow::Borrowed(_)));
    }

    #[test]
    fn generated_pod_suffixes_go_and_chosen_names_stay() {
        assert_eq!(pod("api-7d9f8b6c5d-x2kqz"), "api-*");
        assert_eq!(pod("api-5c8f9d7b4-t7w2x"), "api-*");
        assert_eq!(pod("node-exporter-x2kqz"), "node-exporter-*");
        assert_eq!(
            pod("checkout-web-7d9f8b6c5d-x2kqz"),
            pod("checkout-web-64b8d9c7f5-qq5xz")
        );
        for kept in [
            "db-0",
            "debug-shell",
            "payments-api",
            "payments-3f1a2-b2",
            "canary-hello",
        ] {
            assert_eq!(pod(kept), kept);
        }
    }
}
