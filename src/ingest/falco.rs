//! Falco alerts (one JSON object per line, `json_output: true`) for process
//! events. A process inside a pod is attributed later to the human whose
//! `kubectl exec` session it ran in (see `sessions`); until then, and when
//! no session matches, the workload itself is the identity.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use super::{content_id, parse_time, parse_with, Adapter, Normalised, Outcome, Reject, Stamp};
use crate::schema::Event;

pub struct Falco;

#[derive(Deserialize)]
struct Alert<'a> {
    #[serde(borrow)]
    time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    hostname: Option<Cow<'a, str>>,
    output_fields: Option<HashMap<Cow<'a, str>, Value>>,
}

/// The longest command line kept as the event's target.
const MAX_CMDLINE: usize = 512;

impl Adapter for Falco {
    const SOURCE: &'static str = "falco";

    fn normalise(&self, record: &[u8], stamp: &Stamp, out: &mut Vec<Outcome>) {
        out.push(parse_with(record, |alert: Alert| {
            normalise_alert(alert, record, stamp)
        }));
    }
}

fn normalise_alert(alert: Alert, record: &[u8], stamp: &Stamp) -> Outcome {
    let Some(time) = alert.time.as_deref() else {
        return Outcome::Reject(Reject::missing("time"));
    };
    let event_time = match parse_time(time) {
        Ok(t) => t,
        Err(reject) => return Outcome::Reject(reject),
    };
    let Some(fields) = alert.output_fields.as_ref() else {
        return Outcome::Reject(Reject::missing("output_fields"));
    };
    let text = |key: &str| -> Option<String> {
        match fields.get(key)? {
            Value::String(s) if !s.is_empty() && s != "<NA>" => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let Some(process) = text("proc.name") else {
        return Outcome::Reject(Reject::missing(
            "output_fields.proc.name (not a process event)",
        ));
    };
    let namespace = text("k8s.ns.name");
    let pod = text("k8s.pod.name");
    let node = alert.hostname.as_deref().map(str::to_owned);
    let user = workload_identity(namespace.as_deref(), pod.as_deref(), node.as_deref());
    let target = text("proc.cmdline").map(|mut c| {
        if c.len() > MAX_CMDLINE {
            let mut end = MAX_CMDLINE;
            while !c.is_char_boundary(end) {
                end -= 1;
            }
            c.truncate(end);
        }
        c
    });
    let process_session = fields.get("proc.sid").and_then(Value::as_i64);
    Outcome::Event(Box::new(Normalised {
        event: Event {
            event_time,
            user,
            tool: "shell".to_owned(),
            action: process,
            source: Falco::SOURCE.to_owned(),
            // Falco has no event id: the alert's bytes are its identity.
            event_id: content_id(record),
            target,
            cluster_id: stamp.cluster_id.clone(),
            namespace,
            pod,
            node,
            image_digest: text("container.image.digest"),
            ..Default::default()
        },
        process_session,
    }))
}

/// Who a process belongs to when no exec session claims it: the pod, or
/// the node for a process outside any container.
pub fn workload_identity(namespace: Option<&str>, pod: Option<&str>, node: Option<&str>) -> String {
    match (namespace, pod) {
        (Some(ns), Some(pod)) => format!("pod:{ns}/{pod}"),
        _ => format!("node:{}", node.unwrap_or("unknown")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shell_in_a_pod_is_a_process_event_of_that_pod() {
        let line = r#"{"hostname":"node-1","output":"Shell spawned","priority":"Notice","rule":"Terminal shell in container","source":"syscall","time":"2026-11-03T10:00:05.000000000Z","output_fields":{"container.id":"c1","container.image.digest":"sha256:abc","k8s.ns.name":"payments","k8s.pod.name":"api-0","proc.cmdline":"bash -i","proc.name":"bash","proc.sid":4242,"user.name":"root"}}"#;
        let mut out = Vec::new();
        Falco.normalise(line.as_bytes(), &Stamp::default(), &mut out);
        let Some(Outcome::Event(n)) = out.pop() else {
            panic!("not an event")
        };
        assert_eq!(n.event.user, "pod:payments/api-0");
        assert_eq!(n.event.action, "bash");
        assert_eq!(n.event.target.as_deref(), Some("bash -i"));
        assert_eq!(n.event.node.as_deref(), Some("node-1"));
        assert_eq!(n.event.image_digest.as_deref(), Some("sha256:abc"));
        assert_eq!(n.process_session, Some(4242));
        assert_eq!(n.event.event_id.len(), 32);
    }

    #[test]
    fn an_alert_without_a_process_is_quarantined() {
        let line = r#"{"time":"2026-11-03T10:00:05Z","output_fields":{"k8s.ns.name":"x"}}"#;
        let mut out = Vec::new();
        Falco.normalise(line.as_bytes(), &Stamp::default(), &mut out);
        let Some(Outcome::Reject(r)) = out.pop() else {
            panic!("accepted")
        };
        assert!(r.detail.contains("proc.name"));
    }
}
