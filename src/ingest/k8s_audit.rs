//! Kubernetes audit events (`audit.k8s.io/v1` Event JSON lines, as API
//! servers, Fluent Bit and webhooks ship them; `EventList` documents too).

use std::borrow::Cow;

use serde::Deserialize;

use super::identity::{k8s_user, tool_from_user_agent};
use super::{content_id, parse_time, Adapter, Normalised, Outcome, Reject, Stamp};
use crate::schema::Event;

pub struct K8sAudit;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditEvent<'a> {
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(rename = "auditID", borrow)]
    audit_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    stage: Option<Cow<'a, str>>,
    #[serde(borrow)]
    verb: Option<Cow<'a, str>>,
    #[serde(rename = "requestURI", borrow)]
    request_uri: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user: Option<UserInfo<'a>>,
    #[serde(borrow)]
    impersonated_user: Option<UserInfo<'a>>,
    #[serde(rename = "sourceIPs", borrow)]
    source_ips: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow)]
    user_agent: Option<Cow<'a, str>>,
    #[serde(borrow)]
    object_ref: Option<ObjectRef<'a>>,
    #[serde(borrow)]
    request_received_timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    stage_timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    metadata: Option<Metadata<'a>>,
    /// The event time a Panther export gives every event.
    #[serde(rename = "p_event_time", borrow)]
    p_event_time: Option<Cow<'a, str>>,
    /// Azure Monitor (AKS diagnostic logs) wraps the audit event as a string.
    properties: Option<AzureProperties>,
}

#[derive(Deserialize)]
struct AzureProperties {
    log: Option<String>,
}

#[derive(Deserialize)]
struct UserInfo<'a> {
    #[serde(borrow)]
    username: Option<Cow<'a, str>>,
    #[serde(borrow)]
    groups: Option<Vec<Cow<'a, str>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectRef<'a> {
    #[serde(borrow)]
    resource: Option<Cow<'a, str>>,
    #[serde(borrow)]
    subresource: Option<Cow<'a, str>>,
    #[serde(borrow)]
    namespace: Option<Cow<'a, str>>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata<'a> {
    /// Events from old API servers carry their time only here.
    #[serde(borrow)]
    creation_timestamp: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct EventList {
    items: Vec<serde_json::Value>,
}

impl Adapter for K8sAudit {
    const SOURCE: &'static str = "k8s_audit";

    fn normalise(&self, record: &[u8], stamp: &Stamp, out: &mut Vec<Outcome>) {
        let event: AuditEvent = match serde_json::from_slice(record) {
            Ok(e) => e,
            Err(e) => return out.push(Outcome::Reject(Reject::json(&e))),
        };
        if let Some(inner) = event.properties.as_ref().and_then(|p| p.log.as_deref()) {
            return self.normalise(inner.as_bytes(), stamp, out);
        }
        if event.kind.as_deref() == Some("EventList") {
            match serde_json::from_slice::<EventList>(record) {
                Ok(list) => {
                    for item in list.items {
                        let bytes = serde_json::to_vec(&item).unwrap_or_default();
                        self.normalise(&bytes, stamp, out);
                    }
                }
                Err(e) => out.push(Outcome::Reject(Reject::json(&e))),
            }
            return;
        }
        out.push(normalise_event(event, record, stamp));
    }
}

fn normalise_event(e: AuditEvent, record: &[u8], stamp: &Stamp) -> Outcome {
    if e.stage.as_deref() == Some("RequestReceived") {
        return Outcome::Skip("audit stage RequestReceived (logged again when it completes)");
    }
    let Some(username) = e.user.as_ref().and_then(|u| u.username.as_deref()) else {
        return Outcome::Reject(Reject::missing("user.username"));
    };
    let Some(verb) = e.verb.as_deref() else {
        return Outcome::Reject(Reject::missing("verb"));
    };
    let time = e
        .request_received_timestamp
        .as_deref()
        .or(e.stage_timestamp.as_deref())
        .or(e
            .metadata
            .as_ref()
            .and_then(|m| m.creation_timestamp.as_deref()))
        .or(e.p_event_time.as_deref());
    let Some(time) = time else {
        return Outcome::Reject(Reject::missing("requestReceivedTimestamp"));
    };
    let event_time = match parse_time(time) {
        Ok(t) => t,
        Err(reject) => return Outcome::Reject(reject),
    };
    let object = e.object_ref.as_ref();
    let resource = object.and_then(|o| o.resource.as_deref());
    let action = match (resource, object.and_then(|o| o.subresource.as_deref())) {
        (Some(r), Some(sub)) => format!("{verb} {r}/{sub}"),
        (Some(r), None) => format!("{verb} {r}"),
        (None, _) => match e.request_uri.as_deref() {
            // Non-resource requests (/healthz, /version): the path is the object.
            Some(uri) => format!("{verb} {}", uri.split('?').next().unwrap_or(uri)),
            None => return Outcome::Reject(Reject::missing("objectRef or requestURI")),
        },
    };
    let name = object.and_then(|o| o.name.as_deref()).map(str::to_owned);
    let user_agent = e.user_agent.as_deref().map(str::to_owned);
    let acting_as = e
        .impersonated_user
        .as_ref()
        .and_then(|u| u.username.as_deref())
        .map(k8s_user);
    let groups = e
        .user
        .as_ref()
        .and_then(|u| u.groups.as_ref())
        .map(|g| g.iter().map(|s| s.to_string()).collect());
    Outcome::Event(Box::new(Normalised {
        event: Event {
            event_time,
            user: k8s_user(username),
            tool: tool_from_user_agent(user_agent.as_deref()).to_owned(),
            action,
            source: K8sAudit::SOURCE.to_owned(),
            event_id: e
                .audit_id
                .as_deref()
                .map(str::to_owned)
                .unwrap_or_else(|| content_id(record)),
            target: name.clone(),
            src_ip: e
                .source_ips
                .as_ref()
                .and_then(|ips| ips.first())
                .map(|s| s.to_string()),
            user_agent,
            cluster_id: stamp.cluster_id.clone(),
            namespace: object
                .and_then(|o| o.namespace.as_deref())
                .map(str::to_owned),
            pod: if resource == Some("pods") { name } else { None },
            groups,
            acting_as,
            ..Default::default()
        },
        process_session: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Outcome {
        crate::ingest::normalise_one(&K8sAudit, line)
    }

    #[test]
    fn an_exec_into_a_pod_names_verb_resource_subresource_namespace_and_pod() {
        let line = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseStarted","requestURI":"/api/v1/namespaces/payments/pods/api-0/exec?command=sh","verb":"create","user":{"username":"oidc:Alice@Example.com","groups":["devs","system:authenticated"]},"sourceIPs":["10.1.2.3"],"userAgent":"kubectl/v1.28.2 (linux/amd64) kubernetes/89a4ea3","objectRef":{"resource":"pods","namespace":"payments","name":"api-0","apiVersion":"v1","subresource":"exec"},"requestReceivedTimestamp":"2026-11-03T10:00:00.123456Z","stageTimestamp":"2026-11-03T10:00:00.200000Z"}"#;
        let Outcome::Event(n) = one(line) else {
            panic!("not an event")
        };
        let e = &n.event;
        assert_eq!(e.user, "alice@example.com");
        assert_eq!(e.action, "create pods/exec");
        assert_eq!(e.tool, "kubectl");
        assert_eq!(e.namespace.as_deref(), Some("payments"));
        assert_eq!(e.pod.as_deref(), Some("api-0"));
        assert_eq!(e.src_ip.as_deref(), Some("10.1.2.3"));
        assert_eq!(e.event_id, "a1");
        assert_eq!(e.event_time, 1_793_700_000_123_456);
        assert_eq!(e.groups.as_ref().unwrap().len(), 2);
    }

    #[test]
    fn the_request_received_stage_is_a_counted_skip_not_an_event() {
        let line = r#"{"auditID":"a1","stage":"RequestReceived","verb":"get","user":{"username":"bob"},"objectRef":{"resource":"secrets"},"requestReceivedTimestamp":"2026-11-03T10:00:00Z"}"#;
        assert!(matches!(one(line), Outcome::Skip(_)));
    }

    #[test]
    fn an_aks_diagnostic_log_record_is_the_audit_event_inside_it() {
        let inner = r#"{"kind":"Event","auditID":"z1","verb":"get","user":{"username":"alice@example.com"},"objectRef":{"resource":"secrets","namespace":"kube-system"},"requestReceivedTimestamp":"2026-11-03T10:00:00Z"}"#;
        let wrapped =
            serde_json::json!({"category": "kube-audit", "properties": {"log": inner}}).to_string();
        let Outcome::Event(n) = one(&wrapped) else {
            panic!("not an event")
        };
        assert_eq!(n.event.action, "get secrets");
        assert_eq!(n.event.event_id, "z1");
    }

    #[test]
    fn timestamps_without_an_offset_are_utc() {
        let line = r#"{"auditID":"p1","verb":"get","user":{"username":"bob"},"objectRef":{"resource":"pods"},"p_event_time":"2026-11-03 10:00:00.5"}"#;
        let outcome = one(line);
        let Outcome::Event(n) = outcome else {
            panic!("not an event: {outcome:?}")
        };
        assert_eq!(n.event.event_time, 1_793_700_000_500_000);
    }

    #[test]
    fn impersonation_is_attributed_to_the_impersonator() {
        let line = r#"{"auditID":"a2","verb":"get","user":{"username":"alice@example.com"},"impersonatedUser":{"username":"system:serviceaccount:kube-system:admin"},"objectRef":{"resource":"secrets","namespace":"kube-system"},"requestReceivedTimestamp":"2026-11-03T10:00:00Z"}"#;
        let Outcome::Event(n) = one(line) else {
            panic!("not an event")
        };
        assert_eq!(n.event.user, "alice@example.com");
        assert_eq!(
            n.event.acting_as.as_deref(),
            Some("system:serviceaccount:kube-system:admin")
        );
    }

    #[test]
    fn missing_user_verb_or_time_are_quarantined_with_the_field_named() {
        for (line, field) in [
            (
                r#"{"verb":"get","requestReceivedTimestamp":"2026-11-03T10:00:00Z"}"#,
                "user.username",
            ),
            (
                r#"{"user":{"username":"a"},"requestReceivedTimestamp":"2026-11-03T10:00:00Z"}"#,
                "verb",
            ),
            (
                r#"{"user":{"username":"a"},"verb":"get","objectRef":{"resource":"pods"}}"#,
                "requestReceivedTimestamp",
            ),
        ] {
            let Outcome::Reject(r) = one(line) else {
                panic!("accepted {line}")
            };
            assert!(r.detail.contains(field), "{} for {line}", r.detail);
        }
        let Outcome::Reject(r) = one(
            r#"{"user":{"username":"a"},"verb":"get","requestReceivedTimestamp":"yesterday","objectRef":{"resource":"pods"}}"#,
        ) else {
            panic!("accepted a bad timestamp")
        };
        assert_eq!(r.class, "bad timestamp");
        let Outcome::Reject(r) = one(r#"{"user": 7}"#) else {
            panic!("accepted a wrong type")
        };
        assert_eq!(r.class, "wrong type or malformed JSON");
    }
}
