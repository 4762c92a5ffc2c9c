//! AWS CloudTrail records: delivery files (`{"Records":[...]}` under
//! `AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/`), JSON arrays of
//! records and JSON lines all arrive here one record at a time.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use super::identity::{aws_principal, tool_from_user_agent};
use super::json::{JsonStr, Scalar};
use super::{
    content_id, parse_time, parse_with, Adapter, Framing, Normalised, Outcome, Reject, Stamp,
};
use crate::schema::Event;

pub struct CloudTrail;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    #[serde(borrow)]
    event_time: Option<JsonStr<'a>>,
    #[serde(borrow)]
    event_source: Option<JsonStr<'a>>,
    #[serde(borrow)]
    event_name: Option<JsonStr<'a>>,
    #[serde(rename = "eventID", borrow)]
    event_id: Option<JsonStr<'a>>,
    #[serde(borrow)]
    user_identity: Option<UserIdentity<'a>>,
    #[serde(rename = "sourceIPAddress", borrow)]
    source_ip_address: Option<JsonStr<'a>>,
    #[serde(borrow)]
    user_agent: Option<JsonStr<'a>>,
    #[serde(borrow)]
    recipient_account_id: Option<JsonStr<'a>>,
    /// Free-form per API: only the parameters that name a target are kept,
    /// and an odd shape never rejects the record.
    #[serde(borrow)]
    request_parameters: Option<TargetParameters<'a>>,
    #[serde(borrow)]
    resources: Option<Vec<Resource<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<JsonStr<'a>>,
    #[serde(borrow)]
    arn: Option<JsonStr<'a>>,
    #[serde(borrow)]
    account_id: Option<JsonStr<'a>>,
    #[serde(borrow)]
    principal_id: Option<JsonStr<'a>>,
    #[serde(borrow)]
    user_name: Option<JsonStr<'a>>,
    #[serde(borrow)]
    invoked_by: Option<JsonStr<'a>>,
    #[serde(borrow)]
    session_context: Option<SessionContext<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionContext<'a> {
    #[serde(borrow)]
    session_issuer: Option<SessionIssuer<'a>>,
}

#[derive(Deserialize)]
struct SessionIssuer<'a> {
    #[serde(borrow)]
    arn: Option<JsonStr<'a>>,
}

#[derive(Deserialize)]
struct Resource<'a> {
    #[serde(rename = "ARN", borrow)]
    arn: Option<JsonStr<'a>>,
}

/// Request parameters that name the object an API call acts on.
const TARGET_PARAMETERS: [&str; 16] = [
    "bucketName",
    "userName",
    "roleName",
    "groupName",
    "policyArn",
    "secretId",
    "name",
    "functionName",
    "keyId",
    "trailName",
    "logGroupName",
    "clusterName",
    "repositoryName",
    "topicArn",
    "queueUrl",
    "instanceId",
];

impl Adapter for CloudTrail {
    const SOURCE: &'static str = "cloudtrail";
    const FRAMING: Framing = Framing::Document;

    fn normalise<'a>(&self, record: &'a str, _stamp: &'a Stamp, out: &mut Vec<Outcome<'a>>) {
        if let Some(native) = from_export(record) {
            let outcome = parse_with(&native, |r: Record| normalise_record(r, &native));
            out.push(outcome.into_owned());
            return;
        }
        out.push(parse_with(record, |r: Record| normalise_record(r, record)));
    }
}

/// A record as Logstash or Elastic export it, back in CloudTrail's own
/// shape: `@timestamp` (the Logstash cloudtrail codec moves `eventTime`
/// there) becomes `eventTime` again, `@version` and `@metadata` go, and
/// flattened keys (`"userIdentity.arn": ...`) are nested again. `None` for
/// a record in CloudTrail's own shape (told without parsing it), or one
/// that is not a JSON object (the ordinary parse quarantines it).
fn from_export(record: &str) -> Option<String> {
    const EXPORT_MARKS: [&str; 3] = ["\"@timestamp\"", "\"@version\"", "\"userIdentity."];
    if !EXPORT_MARKS.iter().any(|m| record.contains(m)) {
        return None;
    }
    let serde_json::Value::Object(fields) = serde_json::from_str(record).ok()? else {
        return None;
    };
    let mut nested = serde_json::Map::new();
    let mut timestamp = None;
    for (key, value) in fields {
        match key.as_str() {
            "@timestamp" => timestamp = Some(value),
            "@version" | "@metadata" => {}
            _ => insert_path(&mut nested, &key, value),
        }
    }
    if let Some(t) = timestamp {
        nested.entry("eventTime").or_insert(t);
    }
    serde_json::to_string(&nested).ok()
}

/// Inserts `value` at the dotted `path` (`a.b.c`), making objects on the way.
fn insert_path(
    map: &mut serde_json::Map<String, serde_json::Value>,
    path: &str,
    value: serde_json::Value,
) {
    match path.split_once('.') {
        None => {
            map.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let slot = map
                .entry(head)
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
            if let serde_json::Value::Object(inner) = slot {
                insert_path(inner, rest, value);
            }
        }
    }
}

fn normalise_record<'a>(r: Record<'a>, record: &'a str) -> Outcome<'a> {
    let Some(time) = r.event_time.as_deref() else {
        return Outcome::Reject(Reject::missing("eventTime"));
    };
    let event_time = match parse_time(time) {
        Ok(t) => t,
        Err(reject) => return Outcome::Reject(reject),
    };
    let (Some(source), Some(name)) = (r.event_source.as_deref(), r.event_name.as_deref()) else {
        return Outcome::Reject(Reject::missing("eventSource or eventName"));
    };
    let Some(identity) = r.user_identity.as_ref() else {
        return Outcome::Reject(Reject::missing("userIdentity"));
    };
    let Some(user) = principal(identity) else {
        return Outcome::Reject(Reject::missing("userIdentity.arn or principalId"));
    };
    let service = source.strip_suffix(".amazonaws.com").unwrap_or(source);
    let action = format!("{service}:{name}");
    let account_id = r
        .recipient_account_id
        .or_else(|| identity.account_id.clone());
    let target = r
        .resources
        .and_then(|rs| rs.into_iter().find_map(|x| x.arn))
        .map(Into::into)
        .or_else(|| r.request_parameters.and_then(|p| p.target()));
    Outcome::Event(Normalised {
        event: Event {
            event_time,
            user,
            tool: tool_from_user_agent(r.user_agent.as_deref()).into(),
            action: action.into(),
            source: CloudTrail::SOURCE.into(),
            event_id: r
                .event_id
                .map_or_else(|| content_id(record.as_bytes()).into(), Into::into),
            target,
            // Calls AWS makes on a user's behalf carry a service name here.
            src_ip: r
                .source_ip_address
                .filter(|ip| ip.parse::<IpAddr>().is_ok())
                .map(Into::into),
            user_agent: r.user_agent.map(Into::into),
            account_id: account_id.map(Into::into),
            ..Default::default()
        },
    })
}

/// See [`aws_principal`]; services and accounts without an ARN are named by
/// what CloudTrail gives.
fn principal<'a>(id: &UserIdentity<'a>) -> Option<Cow<'a, str>> {
    // A malformed ARN falls through to the other fields.
    let from_arn = match id.arn.as_ref().map(|a| &a.0) {
        Some(Cow::Borrowed(arn)) => aws_principal(arn),
        Some(Cow::Owned(arn)) => aws_principal(arn).map(|p| Cow::Owned(p.into_owned())),
        None => None,
    };
    if from_arn.is_some() {
        return from_arn;
    }
    let named = || id.user_name.clone().or_else(|| id.principal_id.clone());
    match id.kind.as_deref() {
        // AWS acting on its own (service events carry no type at all).
        Some("AWSService") | None if id.invoked_by.is_some() => {
            id.invoked_by.clone().map(Into::into)
        }
        Some("AssumedRole") => issued_session(id).or_else(|| named().map(Into::into)),
        _ => named().map(Into::into),
    }
}

/// An assumed role without a usable ARN: the role from the session
/// issuer, the session name (if any) from the principal id ("AROA...:name").
fn issued_session<'a>(id: &UserIdentity) -> Option<Cow<'a, str>> {
    let role = id
        .session_context
        .as_ref()?
        .session_issuer
        .as_ref()?
        .arn
        .as_deref()?;
    let role_name = role.rsplit('/').next()?;
    let account = id.account_id.as_deref().unwrap_or("");
    let session = id
        .principal_id
        .as_deref()
        .and_then(|p| p.split_once(':'))
        .map_or("", |(_, s)| s);
    aws_principal(&format!(
        "arn:aws:sts::{account}:assumed-role/{role_name}/{session}"
    ))
    .map(|p| Cow::Owned(p.into_owned()))
}

/// The string (or number) values of `requestParameters` that [`TARGET_PARAMETERS`]
/// names, by position in that list; anything else is skipped unparsed.
#[derive(Default)]
struct TargetParameters<'a>([Option<Cow<'a, str>>; TARGET_PARAMETERS.len()]);

impl<'a> TargetParameters<'a> {
    /// The value of the first parameter in [`TARGET_PARAMETERS`] order.
    fn target(self) -> Option<Cow<'a, str>> {
        self.0.into_iter().flatten().next()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for TargetParameters<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ParametersVisitor)
    }
}

struct ParametersVisitor;

/// Anything but an object holds no parameters: skipped, never rejected.
macro_rules! no_parameters {
    ($($method:ident($($arg:ty)?)),*) => {$(
        fn $method<E: serde::de::Error>(self $(, _: $arg)?) -> Result<Self::Value, E> {
            Ok(TargetParameters::default())
        }
    )*};
}

impl<'de> Visitor<'de> for ParametersVisitor {
    type Value = TargetParameters<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("request parameters")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = TargetParameters::default();
        while let Some(key) = map.next_key::<JsonStr>()? {
            match TARGET_PARAMETERS.iter().position(|k| **k == *key) {
                Some(i) => {
                    let value: Scalar = map.next_value()?;
                    if let Some(text) = value.0 {
                        found.0[i].get_or_insert(text);
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(TargetParameters::default())
    }

    no_parameters!(
        visit_bool(bool),
        visit_i64(i64),
        visit_u64(u64),
        visit_f64(f64),
        visit_str(&str),
        visit_unit(),
        visit_none()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(record: &str) -> Outcome<'_> {
        crate::ingest::normalise_one(&CloudTrail, record)
    }

    #[test]
    fn an_sso_user_creating_an_access_key_is_the_person_with_an_iam_action() {
        let record = r#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROA1:alice@example.com","arn":"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0a1b/alice@example.com","accountId":"111122223333"},"eventTime":"2026-11-03T09:15:02Z","eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.13.5 Python/3.11.4","requestParameters":{"userName":"deploy-bot"},"eventID":"e-1","recipientAccountId":"111122223333"}"#;
        let Outcome::Event(n) = one(record) else {
            panic!("not an event")
        };
        let e = &n.event;
        assert_eq!(e.user, "alice@example.com");
        assert_eq!(e.action, "iam:CreateAccessKey");
        assert_eq!(e.tool, "aws");
        assert_eq!(e.target.as_deref(), Some("deploy-bot"));
        assert_eq!(e.account_id.as_deref(), Some("111122223333"));
        assert_eq!(e.src_ip.as_deref(), Some("198.51.100.7"));
        assert_eq!(e.event_id, "e-1");
    }

    #[test]
    fn logstash_and_flattened_elastic_exports_read_as_the_native_record() {
        let native = r#"{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0a1b/alice@example.com","accountId":"111122223333"},"eventTime":"2026-11-03T09:15:02Z","eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.13.5","requestParameters":{"userName":"deploy-bot"},"eventID":"e-1"}"#;
        // The Logstash cloudtrail codec moves eventTime to @timestamp.
        let logstash = r#"{"@timestamp":"2026-11-03T09:15:02.000Z","@version":"1","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0a1b/alice@example.com","accountId":"111122223333"},"eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.13.5","requestParameters":{"userName":"deploy-bot"},"eventID":"e-1"}"#;
        let flattened = r#"{"@timestamp":"2026-11-03T09:15:02Z","userIdentity.type":"AssumedRole","userIdentity.arn":"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0a1b/alice@example.com","userIdentity.accountId":"111122223333","eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.13.5","requestParameters.userName":"deploy-bot","eventID":"e-1"}"#;
        let Outcome::Event(expected) = one(native) else {
            panic!("the native record is an event")
        };
        for export in [logstash, flattened] {
            let got = match one(export) {
                Outcome::Event(got) => got,
                other => panic!("an export is an event: {export}: {other:?}"),
            };
            assert_eq!(format!("{:?}", got.event), format!("{:?}", expected.event));
        }
    }

    #[test]
    fn a_service_calling_on_a_users_behalf_has_no_source_ip() {
        let record = r#"{"userIdentity":{"type":"AWSService","invokedBy":"cloudtrail.amazonaws.com"},"eventTime":"2026-11-03T09:15:02Z","eventSource":"s3.amazonaws.com","eventName":"PutObject","sourceIPAddress":"cloudtrail.amazonaws.com","eventID":"e-2"}"#;
        let Outcome::Event(n) = one(record) else {
            panic!("not an event")
        };
        assert_eq!(n.event.user, "cloudtrail.amazonaws.com");
        assert_eq!(n.event.src_ip, None);
    }

    #[test]
    fn records_without_identity_or_time_are_quarantined() {
        let Outcome::Reject(r) = one(
            r#"{"eventTime":"2026-11-03T09:15:02Z","eventSource":"s3.amazonaws.com","eventName":"GetObject"}"#,
        ) else {
            panic!("accepted")
        };
        assert!(r.detail.contains("userIdentity"));
        let Outcome::Reject(r) = one(
            r#"{"eventSource":"s3.amazonaws.com","eventName":"GetObject","userIdentity":{"type":"Root","arn":"arn:aws:iam::1:root"}}"#,
        ) else {
            panic!("accepted")
        };
        assert!(r.detail.contains("eventTime"));
    }

    fn target_of(parameters: &str) -> Option<String> {
        let record = format!(
            r#"{{"eventTime":"2026-11-03T09:15:02Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::1:user/bob"}},"requestParameters":{parameters}}}"#
        );
        match one(&record) {
            Outcome::Event(n) => n.event.target.map(|t| t.into_owned()),
            other => panic!("{parameters}: not an event: {other:?}"),
        }
    }

    #[test]
    fn the_target_is_the_first_naming_parameter_whatever_the_parameters_shape() {
        // Order of preference is TARGET_PARAMETERS', not the record's.
        assert_eq!(
            target_of(r#"{"name":"n","policy":{"a":[1]},"bucketName":"b"}"#).as_deref(),
            Some("b")
        );
        // A parameter that is not text is passed over; escapes are undone.
        assert_eq!(
            target_of(r#"{"bucketName":{"x":1},"name":"a\"b"}"#).as_deref(),
            Some("a\"b")
        );
        for odd in ["null", "[1,2]", "\"text\"", "7", "{}"] {
            assert_eq!(target_of(odd), None, "{odd}");
        }
    }
}
