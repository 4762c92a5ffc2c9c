//! AWS CloudTrail records: delivery files (`{"Records":[...]}` under
//! `AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/`), JSON arrays of
//! records and JSON lines all arrive here one record at a time.

use std::borrow::Cow;
use std::net::IpAddr;

use serde::Deserialize;

use super::identity::{aws_principal, tool_from_user_agent};
use super::{
    content_id, parse_time, parse_with, Adapter, Framing, Normalised, Outcome, Reject, Stamp,
};
use crate::schema::Event;

pub struct CloudTrail;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    #[serde(borrow)]
    event_time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event_source: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event_name: Option<Cow<'a, str>>,
    #[serde(rename = "eventID", borrow)]
    event_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user_identity: Option<UserIdentity<'a>>,
    #[serde(rename = "sourceIPAddress", borrow)]
    source_ip_address: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user_agent: Option<Cow<'a, str>>,
    #[serde(borrow)]
    recipient_account_id: Option<Cow<'a, str>>,
    /// Free-form per API; read as a value so an odd shape never rejects.
    request_parameters: Option<serde_json::Value>,
    #[serde(borrow)]
    resources: Option<Vec<Resource<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    arn: Option<Cow<'a, str>>,
    #[serde(borrow)]
    account_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    principal_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    invoked_by: Option<Cow<'a, str>>,
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
    arn: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Resource<'a> {
    #[serde(rename = "ARN", borrow)]
    arn: Option<Cow<'a, str>>,
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

    fn normalise(&self, record: &[u8], _stamp: &Stamp, out: &mut Vec<Outcome>) {
        out.push(parse_with(record, |r: Record| normalise_record(r, record)));
    }
}

fn normalise_record(r: Record, record: &[u8]) -> Outcome {
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
    let user_agent = r.user_agent.as_deref().map(str::to_owned);
    let target = r
        .resources
        .as_ref()
        .and_then(|rs| rs.iter().find_map(|x| x.arn.as_deref()))
        .map(str::to_owned)
        .or_else(|| target_parameter(r.request_parameters.as_ref()));
    Outcome::Event(Box::new(Normalised {
        event: Event {
            event_time,
            user,
            tool: tool_from_user_agent(user_agent.as_deref()).to_owned(),
            action: format!("{service}:{name}"),
            source: CloudTrail::SOURCE.to_owned(),
            event_id: r
                .event_id
                .as_deref()
                .map(str::to_owned)
                .unwrap_or_else(|| content_id(record)),
            target,
            // Calls AWS makes on a user's behalf carry a service name here.
            src_ip: r
                .source_ip_address
                .as_deref()
                .filter(|ip| ip.parse::<IpAddr>().is_ok())
                .map(str::to_owned),
            user_agent,
            account_id: r
                .recipient_account_id
                .as_deref()
                .or(identity.account_id.as_deref())
                .map(str::to_owned),
            ..Default::default()
        },
        process_session: None,
    }))
}

/// See [`aws_principal`]; services and accounts without an ARN are named by
/// what CloudTrail gives.
fn principal(id: &UserIdentity) -> Option<String> {
    // A malformed ARN falls through to the other fields.
    if let Some(principal) = id.arn.as_deref().and_then(aws_principal) {
        return Some(principal);
    }
    match id.kind.as_deref() {
        // AWS acting on its own (service events carry no type at all).
        Some("AWSService") | None if id.invoked_by.is_some() => {
            id.invoked_by.as_deref().map(str::to_owned)
        }
        Some("AssumedRole") => issued_session(id).or_else(|| {
            id.user_name
                .as_deref()
                .or(id.principal_id.as_deref())
                .map(str::to_owned)
        }),
        _ => id
            .user_name
            .as_deref()
            .or(id.principal_id.as_deref())
            .map(str::to_owned),
    }
}

/// An assumed role without a usable ARN: the role from the session
/// issuer, the session name (if any) from the principal id ("AROA...:name").
fn issued_session(id: &UserIdentity) -> Option<String> {
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
}

fn target_parameter(parameters: Option<&serde_json::Value>) -> Option<String> {
    let parameters = parameters?.as_object()?;
    TARGET_PARAMETERS
        .iter()
        .find_map(|key| parameters.get(*key)?.as_str().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(record: &str) -> Outcome {
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
}
