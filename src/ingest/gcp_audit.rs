//! GCP Cloud Audit Logs: `LogEntry` JSON lines (or arrays, as `gcloud
//! logging read --format=json` prints them) under
//! `cloudaudit.googleapis.com/{activity,data_access}/YYYY/MM/DD/`.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;

use super::identity::tool_from_user_agent;
use super::{
    content_id, parse_time, parse_with, Adapter, Framing, Normalised, Outcome, Reject, Stamp,
};
use crate::schema::Event;

pub struct GcpAudit;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogEntry<'a> {
    #[serde(borrow)]
    insert_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    receive_timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    resource: Option<MonitoredResource<'a>>,
    #[serde(borrow)]
    proto_payload: Option<AuditLog<'a>>,
}

#[derive(Deserialize)]
struct MonitoredResource<'a> {
    #[serde(borrow)]
    labels: Option<HashMap<Cow<'a, str>, Cow<'a, str>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditLog<'a> {
    #[serde(borrow)]
    method_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    resource_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    authentication_info: Option<AuthenticationInfo<'a>>,
    #[serde(borrow)]
    request_metadata: Option<RequestMetadata<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthenticationInfo<'a> {
    #[serde(borrow)]
    principal_email: Option<Cow<'a, str>>,
    #[serde(borrow)]
    principal_subject: Option<Cow<'a, str>>,
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
    principal_email: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestMetadata<'a> {
    #[serde(borrow)]
    caller_ip: Option<Cow<'a, str>>,
    #[serde(borrow)]
    caller_supplied_user_agent: Option<Cow<'a, str>>,
}

impl Adapter for GcpAudit {
    const SOURCE: &'static str = "gcp_audit";
    const FRAMING: Framing = Framing::Document;

    fn normalise(&self, record: &[u8], stamp: &Stamp, out: &mut Vec<Outcome>) {
        out.push(parse_with(record, |entry: LogEntry| {
            normalise_entry(entry, record, stamp)
        }));
    }
}

fn normalise_entry(entry: LogEntry, record: &[u8], stamp: &Stamp) -> Outcome {
    let Some(payload) = entry.proto_payload.as_ref() else {
        return Outcome::Reject(Reject::missing("protoPayload"));
    };
    let Some(method) = payload.method_name.as_deref() else {
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
        .and_then(|a| a.principal_email.as_deref())
        .or(auth.and_then(|a| a.principal_subject.as_deref()));
    let Some(principal) = principal else {
        return Outcome::Reject(Reject::missing("authenticationInfo.principalEmail"));
    };
    // Impersonating a service account: the person who started the chain
    // did it; the service account is what they acted as.
    let first_party = auth
        .and_then(|a| a.service_account_delegation_info.as_ref())
        .and_then(|chain| chain.first())
        .and_then(|d| d.first_party_principal.as_ref())
        .and_then(|p| p.principal_email.as_deref());
    let (user, acting_as) = match first_party {
        Some(human) => (
            human.to_ascii_lowercase(),
            Some(principal.to_ascii_lowercase()),
        ),
        None => (principal.to_ascii_lowercase(), None),
    };
    let metadata = payload.request_metadata.as_ref();
    let user_agent = metadata
        .and_then(|m| m.caller_supplied_user_agent.as_deref())
        .map(str::to_owned);
    let labels = entry.resource.as_ref().and_then(|r| r.labels.as_ref());
    let label = |key: &str| labels.and_then(|l| l.get(key)).map(|v| v.to_string());
    let resource_name = payload.resource_name.as_deref();
    let (namespace, pod) = resource_name.map(gke_object).unwrap_or_default();
    Outcome::Event(Box::new(Normalised {
        event: Event {
            event_time,
            user,
            tool: tool_from_user_agent(user_agent.as_deref()).to_owned(),
            action: method.to_owned(),
            source: GcpAudit::SOURCE.to_owned(),
            event_id: entry
                .insert_id
                .as_deref()
                .map(str::to_owned)
                .unwrap_or_else(|| content_id(record)),
            target: resource_name.map(str::to_owned),
            src_ip: metadata
                .and_then(|m| m.caller_ip.as_deref())
                .map(str::to_owned),
            user_agent,
            cluster_id: label("cluster_name").or_else(|| stamp.cluster_id.clone()),
            account_id: label("project_id"),
            namespace,
            pod,
            acting_as,
            ..Default::default()
        },
        process_session: None,
    }))
}

/// Namespace and pod of a GKE resource name
/// (`core/v1/namespaces/<ns>/pods/<pod>[/exec]`).
fn gke_object(resource_name: &str) -> (Option<String>, Option<String>) {
    let parts: Vec<&str> = resource_name.split('/').collect();
    let after = |key: &str| {
        parts
            .iter()
            .position(|p| *p == key)
            .and_then(|i| parts.get(i + 1))
            .map(|s| (*s).to_owned())
    };
    (after("namespaces"), after("pods"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(record: &str) -> Outcome {
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
