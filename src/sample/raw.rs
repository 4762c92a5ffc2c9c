//! `sample --raw`: the sample org written as the platforms deliver their
//! logs, for `lakehound ingest` to read: Kubernetes audit JSON lines
//! (gzipped, per cluster and hour), CloudTrail delivery files, GCP audit
//! JSON lines and Falco alerts. Identities are written the way each
//! platform names them (OIDC usernames, SSO and CI assumed-role sessions,
//! principal emails), so ingest's resolution turns them back into the
//! sample's users; Falco processes carry no user at all and are attributed
//! through the exec sessions that precede them.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Timelike};
use flate2::write::GzEncoder;
use serde_json::json;

use super::{Ids, Row, SampleError};

pub const RAW_DIR: &str = "raw";
/// The cluster the sample's Kubernetes and Falco events come from; pass it
/// to `ingest --cluster-id`.
pub const CLUSTER: &str = "prod-eu-1";
const REGION: &str = "us-east-1";

pub(super) fn write_day(
    out: &Path,
    date: NaiveDate,
    rows: &[Row],
    ids: &mut Ids,
) -> Result<(), SampleError> {
    // One file per platform and hour, as the shippers split them.
    let mut files: BTreeMap<std::path::PathBuf, Vec<String>> = BTreeMap::new();
    let raw = out.join(RAW_DIR);
    let (y, m, d) = (date.format("%Y"), date.format("%m"), date.format("%d"));
    for r in rows {
        let id = ids.next(r.source);
        let time = DateTime::from_timestamp_micros(r.t).expect("sample times are valid");
        let hour = time.hour();
        let (path, record) = match r.source {
            "k8s_audit" => (
                raw.join(format!("k8s-audit/{CLUSTER}/{y}/{m}/{d}/kube-apiserver-audit-{hour:02}.log.gz")),
                k8s_audit(r, &id, &time),
            ),
            "cloudtrail" => (
                raw.join(format!(
                    "cloudtrail/AWSLogs/{account}/CloudTrail/{REGION}/{y}/{m}/{d}/{account}_CloudTrail_{REGION}_{y}{m}{d}T{hour:02}00Z_sample.json.gz",
                    account = r.account_id.as_deref().unwrap_or("000000000000")
                )),
                cloudtrail(r, &id, &time),
            ),
            "gcp_audit" => (
                raw.join(format!(
                    "gcp-audit/cloudaudit.googleapis.com/activity/{y}/{m}/{d}/{hour:02}:00:00_{hour:02}:59:59_S0.json"
                )),
                gcp_audit(r, &id, &time),
            ),
            _ => (
                raw.join(format!(
                    "falco/{}/{y}-{m}-{d}.json",
                    r.node.as_deref().unwrap_or("node-0")
                )),
                falco(r, &time),
            ),
        };
        files.entry(path).or_default().push(record.to_string());
    }
    for (path, records) in files {
        write_file(&path, records)?;
    }
    Ok(())
}

fn write_file(path: &Path, records: Vec<String>) -> Result<(), SampleError> {
    let io = |source| SampleError::Io {
        path: path.to_path_buf(),
        source,
    };
    let is_cloudtrail = path.to_string_lossy().contains("/CloudTrail/");
    let body = if is_cloudtrail {
        // A delivery file: one document holding the hour's records.
        format!("{{\"Records\":[{}]}}", records.join(","))
    } else {
        records.join("\n") + "\n"
    };
    let bytes = if path.extension().is_some_and(|e| e == "gz") {
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(body.as_bytes()).map_err(io)?;
        gz.finish().map_err(io)?
    } else {
        body.into_bytes()
    };
    super::write_bytes(path, &bytes)
}

fn rfc3339(t: &DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn is_person(user: &str) -> bool {
    user.contains('@') && !user.ends_with(".gserviceaccount.com")
}

fn k8s_audit(r: &Row, id: &str, time: &DateTime<chrono::Utc>) -> serde_json::Value {
    let (verb, resource) = r.action.split_once(' ').unwrap_or((&r.action, ""));
    let (resource, subresource) = match resource.split_once('/') {
        Some((res, sub)) => (res, Some(sub)),
        None => (resource, None),
    };
    // OIDC logins carry the issuer's prefix; ingest strips it.
    let username = if is_person(&r.user) {
        format!("oidc:{}", r.user)
    } else {
        r.user.clone()
    };
    let mut object = json!({"resource": resource, "apiVersion": "v1"});
    if let Some(sub) = subresource {
        object["subresource"] = json!(sub);
    }
    if let Some(ns) = &r.namespace {
        object["namespace"] = json!(ns);
    }
    if let Some(name) = r
        .pod
        .as_ref()
        .filter(|_| resource == "pods")
        .or(r.target.as_ref())
    {
        object["name"] = json!(name);
    }
    json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": id,
        "stage": "ResponseComplete",
        "verb": verb,
        "user": {"username": username, "groups": r.groups.clone().unwrap_or_default()},
        "sourceIPs": r.src_ip.iter().collect::<Vec<_>>(),
        "userAgent": r.user_agent,
        "objectRef": object,
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": rfc3339(time),
        "stageTimestamp": rfc3339(time),
    })
}

fn cloudtrail(r: &Row, id: &str, time: &DateTime<chrono::Utc>) -> serde_json::Value {
    let (service, name) = r.action.split_once(':').unwrap_or(("unknown", &r.action));
    let account = r.account_id.clone().unwrap_or_default();
    let identity = if is_person(&r.user) {
        json!({
            "type": "AssumedRole",
            "principalId": format!("AROASAMPLE:{}", r.user),
            "arn": format!("arn:aws:sts::{account}:assumed-role/AWSReservedSSO_Engineer_5f1d/{}", r.user),
            "accountId": account,
        })
    } else if let Some((prefix, role)) = r.user.split_once(":role/") {
        // CI and bots: a fresh session name per run, as OIDC federation gives.
        let account = prefix.rsplit(':').next().unwrap_or_default();
        json!({
            "type": "AssumedRole",
            "principalId": format!("AROASAMPLE:run-{}", time.timestamp()),
            "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/run-{}", time.timestamp()),
            "accountId": account,
        })
    } else {
        json!({"type": "IAMUser", "arn": r.user, "accountId": account})
    };
    json!({
        "eventVersion": "1.09",
        "userIdentity": identity,
        "eventTime": time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "eventSource": format!("{service}.amazonaws.com"),
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": r.src_ip,
        "userAgent": r.user_agent,
        "requestParameters": null,
        "responseElements": null,
        "resources": r.target.iter().map(|t| json!({"ARN": t})).collect::<Vec<_>>(),
        "eventID": id,
        "readOnly": name.starts_with("Get") || name.starts_with("List") || name.starts_with("Describe"),
        "eventType": "AwsApiCall",
        "recipientAccountId": account,
    })
}

fn gcp_audit(r: &Row, id: &str, time: &DateTime<chrono::Utc>) -> serde_json::Value {
    let project = r.account_id.clone().unwrap_or_default();
    json!({
        "insertId": id,
        "logName": format!("projects/{project}/logs/cloudaudit.googleapis.com%2Factivity"),
        "protoPayload": {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "authenticationInfo": {"principalEmail": r.user},
            "requestMetadata": {"callerIp": r.src_ip, "callerSuppliedUserAgent": r.user_agent},
            "serviceName": r.action.split('.').take(3).collect::<Vec<_>>().join("."),
            "methodName": r.action,
            "resourceName": r.target,
        },
        "resource": {"type": "audited_resource", "labels": {"project_id": project}},
        "severity": "NOTICE",
        "timestamp": rfc3339(time),
        "receiveTimestamp": rfc3339(time),
    })
}

fn falco(r: &Row, time: &DateTime<chrono::Utc>) -> serde_json::Value {
    // One shell per person and pod: its processes share a session id.
    let key = format!("{}|{}", r.user, r.pod.as_deref().unwrap_or(""));
    let hash = crate::ingest::content_id(key.as_bytes());
    let sid = u64::from_str_radix(&hash[..8], 16).unwrap_or(0) % 1_000_000;
    json!({
        "hostname": r.node.as_deref().unwrap_or("node-0"),
        "output": format!("{} Notice Process spawned in container (command={})", rfc3339(time), r.action),
        "priority": "Notice",
        "rule": "Process spawned in container",
        "source": "syscall",
        "tags": ["container", "process"],
        "time": time.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string(),
        "output_fields": {
            "container.image.digest": r.image_digest,
            "k8s.ns.name": r.namespace,
            "k8s.pod.name": r.pod,
            "proc.name": r.action,
            "proc.cmdline": r.target.clone().unwrap_or_else(|| r.action.clone()),
            "proc.sid": sid,
            "user.name": "root",
        },
    })
}
