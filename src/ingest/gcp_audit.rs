//! GCP Cloud Audit Logs: `LogEntry` JSON lines (or arrays, as `gcloud
//! logging read --format=json` prints them) under
//! `cloudaudit.googleapis.com/{activity,data_access}/YYYY/MM/DD/`.

use std::borrow::Cow;

use serde::Deserialize;

use super::identity::{lowercase, map_text, tool_from_user_agent};
use super::json::JsonStr;
use super::{
    content_id, parse_time, parse_with, Adapter, Framing, Normalised, Outcome, Reject, Stamp,
};
use crate::schema::Event;

pub struct GcpAudit;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogEntry<'a> {
    #[serde(borrow)]
    insert_id: Option<JsonStr<'a>>,
    #[serde(borrow)]
    timestamp: Option<JsonStr<'a>>,
    #[serde(borrow)]
    receive_timestamp: Option<JsonStr<'a>>,
    #[serde(borrow)]
    resource: Option<MonitoredResource<'a>>,
    #[serde(borrow)]
    proto_payload: Option<AuditLog<'a>>,
}

#[derive(Deserialize)]
struct MonitoredResource<'a> {
    #[serde(borrow)]
    labels: Option<Labels<'a>>,
}

/// The resource labels stamped on events (GKE's `k8s_cluster` and
/// `gke_cluster` resources carry both).
#[derive(Deserialize)]
struct Labels<'a> {
    #[serde(borrow)]
    cluster_name: Option<JsonStr<'a>>,
    #[serde(borrow)]
    project_id: Option<JsonStr<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditLog<'a> {
    #[serde(borrow)]
    method_name: Option<JsonStr<'a>>,
    #[serde(borrow)]
    resource_name: Option<JsonStr<'a>>,
    #[serde(borrow)]
    authentication_info: Option<AuthenticationInfo<'a>>,
    #[serde(borrow)]
    request_metadata: Option<RequestMetadata<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthenticationInfo<'a> {
    #[serde(borrow)]
    principal_email: Option<JsonStr<'a>>,
    #[serde(borrow)]
    principal_subject: Option<JsonStr<'a>>,
    #[serde(borrow)]
    service_account_delegation_info: Option<Vec<Delegation<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Delegation<'a> {
    #[serde(borrow)]
    first_party_principal: Option<FirstPartyPrincipal<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FirstPartyPrincipal<'a> {
    #[serde(borrow)]
    principal_email: Option<JsonStr<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestMetadata<'a> {
    #[serde(borrow)]
    caller_ip: Option<JsonStr<'a>>,
    #[serde(borrow)]
    caller_supplied_user_agent: Option<JsonStr<'a>>,
}

impl Adapter for GcpAudit {
    const SOURCE: &'static str = "gcp_audit";
    const FRAMING: Framing = Framing::Document;

    fn normalise<'a>(&self, record: &'a str, stamp: &'a Stamp, out: &mut Vec<Outcome<'a>>) {
        out.push(parse_with(record, |entry: LogEntry| {
            normalise_entry(entry, record, stamp)
        }));
    }
}

fn normalise_entry<'a>(entry: LogEntry<'a>, record: &'a str, stamp: &'a Stamp) -> Outcome<'a> {
    let Some(payload) = entry.proto_payload else {
        return Outcome::Reject(Reject::missing("protoPayload"));
    };
    let Some(method) = payload.method_name.clone() else {
        return Outcome::Reject(Reject::missing("protoPayload.methodName"));
    };
    let Some(time) = entry
        .timestamp
        .as_deref()
        .or(entry.receive_timestamp.as_deref())
    else {
        return Outcome::Reject(Reject::missing("timestamp"));
    };
    let event_time = match parse_time(time) {
        Ok(t) => t,
        Err(reject) => return Outcome::Reject(reject),
    };
    let auth = payload.authentication_info.as_ref();
    let principal = auth
        .and_then(|a| a.principal_email.clone())
        .or(auth.and_then(|a| a.principal_subject.clone()));
    let Some(principal) = principal else {
        return Outcome::Reject(Reject::missing("authenticationInfo.principalEmail"));
    };
    // Impersonating a service account: the person who started the chain
    // did it; the service account is what they acted as.
    let first_party = auth
        .and_then(|a| a.service_account_delegation_info.as_ref())
        .and_then(|chain| chain.first())
        .and_then(|d| d.first_party_principal.as_ref())
        .and_then(|p| p.principal_email.clone());
    let email = |text: JsonStr<'a>| map_text(text.into(), lowercase);
    let (user, acting_as) = match first_party {
        Some(human) => (email(human), Some(email(principal))),
        None => (email(principal), None),
    };
    let metadata = payload.request_metadata;
    let (caller_ip, user_agent) = metadata
        .map(|m| (m.caller_ip, m.caller_supplied_user_agent))
        .unwrap_or_default();
    let labels = entry.resource.and_then(|r| r.labels);
    let (cluster_name, project_id) = labels
        .map(|l| (l.cluster_name, l.project_id))
        .unwrap_or_default();
    let resource_name = payload.resource_name;
    let (namespace, pod) = match &resource_name {
        Some(JsonStr(Cow::Borrowed(name))) => gke_object(name),
        Some(JsonStr(Cow::Owned(name))) => {
            let (ns, pod) = gke_object(name);
            let own = |t: Option<&str>| t.map(|t| Cow::Owned(t.to_owned()));
            (own(ns.as_deref()), own(pod.as_deref()))
        }
        None => (None, None),
    };
    Outcome::Event(Normalised {
        event: Event {
            event_time,
            user,
            tool: tool_from_user_agent(user_agent.as_deref()).into(),
            action: method.into(),
            source: GcpAudit::SOURCE.into(),
            event_id: entry
                .insert_id
                .map_or_else(|| content_id(record.as_bytes()).into(), Into::into),
            target: resource_name.map(Into::into),
            src_ip: caller_ip.map(Into::into),
            user_agent: user_agent.map(Into::into),
            cluster_id: cluster_name
                .map(Into::into)
                .or_else(|| stamp.cluster_id.as_deref().map(Into::into)),
            account_id: project_id.map(Into::into),
            namespace,
            pod,
            acting_as,
            ..Default::default()
        },
    })
}

/// Namespace and pod of a GKE resource name
/// (`core/v1/namespaces/<ns>/pods/<pod>[/exec]`).
fn gke_object(resource_name: &str) -> (Option<Cow<'_, str>>, Option<Cow<'_, str>>) {
    let parts: Vec<&str> = resource_name.split('/').collect();
    let after = |key: &str| {
        parts
            .iter()
            .position(|p| *p == key)
            .and_then(|i| parts.get(i + 1))
            .map(|s| Cow::Borrowed(*s))
    };
    (after("namespaces"), after("pods"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(record: &str) -> Outcome<'_> {
        crate::ingest::normalise_one(&GcpAudit, record)
    }

    #[test]
    fn a_gcloud_key_creation_is_the_principal_with_the_method_name() {
        let record = r#"{"insertId":"g1","logName":"projects/p1/logs/cloudaudit.googleapis.com%2Factivity","protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","authenticationInfo":{"principalEmail":"Alice@Example.com"},"requestMetadata":{"callerIp":"203.0.113.9","callerSuppliedUserAgent":"google-cloud-sdk gcloud/450.0.0 command/gcloud.iam.service-accounts.keys.create"},"serviceName":"iam.googleapis.com","methodName":"google.iam.admin.v1.CreateServiceAccountKey","resourceName":"projects/-/serviceAccounts/123"},"resource":{"type":"service_account","labels":{"project_id":"p1"}},"timestamp":"2026-11-03T09:15:02.123456789Z"}"#;
        let Outcome::Event(n) = one(record) else {
            panic!("not an event")
        };
        let e = &n.event;
        assert_eq!(e.user, "alice@example.com");
        assert_eq!(e.action, "google.iam.admin.v1.CreateServiceAccountKey");
        assert_eq!(e.tool, "gcloud");
        assert_eq!(e.account_id.as_deref(), Some("p1"));
        assert_eq!(e.event_time, 1_793_697_302_123_456);
    }

    #[test]
    fn service_account_impersonation_is_attributed_to_the_first_party() {
        let record = r#"{"insertId":"g2","protoPayload":{"authenticationInfo":{"principalEmail":"deployer@p1.iam.gserviceaccount.com","serviceAccountDelegationInfo":[{"firstPartyPrincipal":{"principalEmail":"bob@example.com"}}]},"methodName":"storage.objects.get"},"timestamp":"2026-11-03T09:15:02Z"}"#;
        let Outcome::Event(n) = one(record) else {
            panic!("not an event")
        };
        assert_eq!(n.event.user, "bob@example.com");
        assert_eq!(
            n.event.acting_as.as_deref(),
            Some("deployer@p1.iam.gserviceaccount.com")
        );
    }

    #[test]
    fn gke_resource_names_give_namespace_and_pod() {
        assert_eq!(
            gke_object("core/v1/namespaces/payments/pods/api-0/exec"),
            (Some("payments".into()), Some("api-0".into()))
        );
    }

    #[test]
    fn entries_without_a_method_or_principal_are_quarantined() {
        let Outcome::Reject(r) = one(
            r#"{"protoPayload":{"authenticationInfo":{"principalEmail":"a@b.co"}},"timestamp":"2026-11-03T09:15:02Z"}"#,
        ) else {
            panic!("accepted")
        };
        assert!(r.detail.contains("methodName"));
        let Outcome::Reject(r) =
            one(r#"{"protoPayload":{"methodName":"x"},"timestamp":"2026-11-03T09:15:02Z"}"#)
        else {
            panic!("accepted")
        };
        assert!(r.detail.contains("principalEmail"));
    }
}
