//! Kubernetes audit events (`audit.k8s.io/v1` Event JSON lines, as API
//! servers, Fluent Bit and webhooks ship them; `EventList` documents too).

use serde::Deserialize;

use super::identity::{k8s_user, map_text, tool_from_user_agent};
use super::json::JsonStr;
use super::{content_id, parse_time, Adapter, Normalised, Outcome, Reject, Stamp};
use crate::schema::Event;

pub struct K8sAudit;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuditEvent<'a> {
    #[serde(borrow)]
    kind: Option<JsonStr<'a>>,
    #[serde(rename = "auditID", borrow)]
    audit_id: Option<JsonStr<'a>>,
    #[serde(borrow)]
    stage: Option<JsonStr<'a>>,
    #[serde(borrow)]
    verb: Option<JsonStr<'a>>,
    #[serde(rename = "requestURI", borrow)]
    request_uri: Option<JsonStr<'a>>,
    #[serde(borrow)]
    user: Option<UserInfo<'a>>,
    #[serde(borrow)]
    impersonated_user: Option<UserInfo<'a>>,
    #[serde(rename = "sourceIPs", borrow)]
    source_ips: Option<Vec<JsonStr<'a>>>,
    #[serde(borrow)]
    user_agent: Option<JsonStr<'a>>,
    #[serde(borrow)]
    object_ref: Option<ObjectRef<'a>>,
    #[serde(borrow)]
    request_received_timestamp: Option<JsonStr<'a>>,
    #[serde(borrow)]
    stage_timestamp: Option<JsonStr<'a>>,
    #[serde(borrow)]
    metadata: Option<Metadata<'a>>,
    /// The event time a Panther export gives every event.
    #[serde(rename = "p_event_time", borrow)]
    p_event_time: Option<JsonStr<'a>>,
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
    username: Option<JsonStr<'a>>,
    #[serde(borrow)]
    groups: Option<Vec<JsonStr<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectRef<'a> {
    #[serde(borrow)]
    resource: Option<JsonStr<'a>>,
    #[serde(borrow)]
    subresource: Option<JsonStr<'a>>,
    #[serde(borrow)]
    namespace: Option<JsonStr<'a>>,
    #[serde(borrow)]
    name: Option<JsonStr<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata<'a> {
    /// Events from old API servers carry their time only here.
    #[serde(borrow)]
    creation_timestamp: Option<JsonStr<'a>>,
}

#[derive(Deserialize)]
struct EventList {
    items: Vec<serde_json::Value>,
}

impl Adapter for K8sAudit {
    const SOURCE: &'static str = "k8s_audit";

    fn normalise<'a>(&self, record: &'a str, stamp: &'a Stamp, out: &mut Vec<Outcome<'a>>) {
        let event: AuditEvent = match serde_json::from_str(record) {
            Ok(e) => e,
            Err(e) => return out.push(Outcome::Reject(Reject::json(&e))),
        };
        // Wrapped events live only as long as their wrapper: owned copies.
        let mut nested = |text: &str| {
            let mut inner = Vec::new();
            self.normalise(text, stamp, &mut inner);
            for outcome in inner {
                out.push(outcome.into_owned());
            }
        };
        if let Some(inner) = event.properties.as_ref().and_then(|p| p.log.as_deref()) {
            return nested(inner);
        }
        if event.kind.as_deref() == Some("EventList") {
            match serde_json::from_str::<EventList>(record) {
                Ok(list) => {
                    for item in list.items {
                        nested(&serde_json::to_string(&item).unwrap_or_default());
                    }
                }
                Err(e) => out.push(Outcome::Reject(Reject::json(&e))),
            }
            return;
        }
        out.push(normalise_event(event, record, stamp));
    }
}

fn normalise_event<'a>(e: AuditEvent<'a>, record: &'a str, stamp: &'a Stamp) -> Outcome<'a> {
    if e.stage.as_deref() == Some("RequestReceived") {
        return Outcome::Skip("audit stage RequestReceived (logged again when it completes)");
    }
    let Some(username) = e.user.as_ref().and_then(|u| u.username.clone()) else {
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
    let is_pod = resource == Some("pods");
    let name = object.and_then(|o| o.name.clone());
    let namespace = object.and_then(|o| o.namespace.clone());
    let acting_as = e
        .impersonated_user
        .and_then(|u| u.username)
        .map(|name| map_text(name.into(), k8s_user));
    let groups = e.user.and_then(|u| u.groups);
    Outcome::Event(Normalised {
        event: Event {
            event_time,
            user: map_text(username.into(), k8s_user),
            tool: tool_from_user_agent(e.user_agent.as_deref()).into(),
            action: action.into(),
            source: K8sAudit::SOURCE.into(),
            event_id: e
                .audit_id
                .map_or_else(|| content_id(record.as_bytes()).into(), Into::into),
            target: name.clone().map(Into::into),
            src_ip: e
                .source_ips
                .and_then(|ips| ips.into_iter().next())
                .map(Into::into),
            user_agent: e.user_agent.map(Into::into),
            cluster_id: stamp.cluster_id.as_deref().map(Into::into),
            namespace: namespace.map(Into::into),
            pod: if is_pod { name.map(Into::into) } else { None },
            groups: groups.map(|g| g.into_iter().map(Into::into).collect()),
            acting_as,
            ..Default::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Outcome<'_> {
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
