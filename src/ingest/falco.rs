//! Falco alerts (one JSON object per line, `json_output: true`) for process
//! events. A process inside a pod is attributed later to the human whose
//! `kubectl exec` session it ran in (see `sessions`); until then, and when
//! no session matches, the workload itself is the identity.

use std::borrow::Cow;

use serde::Deserialize;

use super::json::{JsonStr, Scalar};
use super::{content_id, parse_time, parse_with, Adapter, Normalised, Outcome, Reject, Stamp};
use crate::schema::Event;

pub struct Falco;

#[derive(Deserialize)]
struct Alert<'a> {
    #[serde(borrow)]
    time: Option<JsonStr<'a>>,
    #[serde(borrow)]
    hostname: Option<JsonStr<'a>>,
    #[serde(borrow)]
    output_fields: Option<OutputFields<'a>>,
}

/// The output fields a process event is read from; Falco writes strings or
/// numbers, and `<NA>` where a field does not apply.
#[derive(Deserialize)]
struct OutputFields<'a> {
    #[serde(rename = "proc.name", borrow, default)]
    proc_name: Scalar<'a>,
    #[serde(rename = "proc.cmdline", borrow, default)]
    proc_cmdline: Scalar<'a>,
    #[serde(rename = "proc.sid", borrow, default)]
    proc_sid: Scalar<'a>,
    #[serde(rename = "k8s.ns.name", borrow, default)]
    namespace: Scalar<'a>,
    #[serde(rename = "k8s.pod.name", borrow, default)]
    pod: Scalar<'a>,
    #[serde(rename = "container.image.digest", borrow, default)]
    image_digest: Scalar<'a>,
}

/// The longest command line kept as the event's target.
const MAX_CMDLINE: usize = 512;

impl Adapter for Falco {
    const SOURCE: &'static str = "falco";

    fn normalise<'a>(&self, record: &'a str, stamp: &'a Stamp, out: &mut Vec<Outcome<'a>>) {
        out.push(parse_with(record, |alert: Alert| {
            normalise_alert(alert, record, stamp)
        }));
    }
}

fn normalise_alert<'a>(alert: Alert<'a>, record: &'a str, stamp: &'a Stamp) -> Outcome<'a> {
    let Some(time) = alert.time.as_deref() else {
        return Outcome::Reject(Reject::missing("time"));
    };
    let event_time = match parse_time(time) {
        Ok(t) => t,
        Err(reject) => return Outcome::Reject(reject),
    };
    let Some(fields) = alert.output_fields else {
        return Outcome::Reject(Reject::missing("output_fields"));
    };
    let text = |field: Scalar<'a>| field.0.filter(|s| !s.is_empty() && s != "<NA>");
    let Some(process) = text(fields.proc_name) else {
        return Outcome::Reject(Reject::missing(
            "output_fields.proc.name (not a process event)",
        ));
    };
    let namespace = text(fields.namespace);
    let pod = text(fields.pod);
    let node: Option<Cow<str>> = alert.hostname.map(Into::into);
    let user = workload_identity(namespace.as_deref(), pod.as_deref(), node.as_deref());
    let target = text(fields.proc_cmdline).map(|c| {
        if c.len() <= MAX_CMDLINE {
            return c;
        }
        let mut end = MAX_CMDLINE;
        while !c.is_char_boundary(end) {
            end -= 1;
        }
        match c {
            Cow::Borrowed(c) => Cow::Borrowed(&c[..end]),
            Cow::Owned(mut c) => {
                c.truncate(end);
                Cow::Owned(c)
            }
        }
    });
    let process_session = fields.proc_sid.as_str().and_then(|s| s.parse().ok());
    Outcome::Event(Normalised {
        event: Event {
            event_time,
            user: user.into(),
            tool: "shell".into(),
            action: process,
            source: Falco::SOURCE.into(),
            // Falco has no event id: the alert's bytes are its identity.
            event_id: content_id(record.as_bytes()).into(),
            target,
            cluster_id: stamp.cluster_id.as_deref().map(Into::into),
            namespace,
            pod,
            node,
            image_digest: text(fields.image_digest),
            process_session,
            ..Default::default()
        },
    })
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
        let Outcome::Event(n) = crate::ingest::normalise_one(&Falco, line) else {
            panic!("not an event")
        };
        assert_eq!(n.event.user, "pod:payments/api-0");
        assert_eq!(n.event.action, "bash");
        assert_eq!(n.event.target.as_deref(), Some("bash -i"));
        assert_eq!(n.event.node.as_deref(), Some("node-1"));
        assert_eq!(n.event.image_digest.as_deref(), Some("sha256:abc"));
        assert_eq!(n.event.process_session, Some(4242));
        assert_eq!(n.event.event_id.len(), 32);
    }

    #[test]
    fn an_alert_without_a_process_is_quarantined() {
        let line = r#"{"time":"2026-11-03T10:00:05Z","output_fields":{"k8s.ns.name":"x"}}"#;
        let Outcome::Reject(r) = crate::ingest::normalise_one(&Falco, line) else {
            panic!("accepted")
        };
        assert!(r.detail.contains("proc.name"));
    }
}
