//! Identity resolution and tool detection, shared by the adapters: the same
//! human across Kubernetes, AWS and GCP becomes one `user`, machine
//! identities stay stable, and each event says which tool sent it.

use std::borrow::Cow;

/// The `user` for an AWS principal (CloudTrail `userIdentity`, or an EKS
/// username that carries an assumed-role ARN).
///
/// - An assumed role whose session is named after a person (an email, as
///   IAM Identity Center and most SSO setups name it) is that person.
/// - Any other assumed role (CI, OIDC federation, instance profiles: session
///   names change per run) is the role, `arn:aws:iam::<account>:role/<name>`.
/// - IAM users, root and federated users are their own ARN.
pub fn aws_principal(arn: &str) -> Option<Cow<'_, str>> {
    let rest = arn.strip_prefix("arn:aws")?;
    // arn:aws[-partition]:sts::<account>:assumed-role/<role>/<session>
    let mut parts = rest.splitn(5, ':');
    let _partition_suffix = parts.next()?;
    let service = parts.next()?;
    let _region = parts.next()?;
    let account = parts.next()?;
    let resource = parts.next()?;
    if service == "sts" {
        if let Some(role_session) = resource.strip_prefix("assumed-role/") {
            // Without a session name there is no person to name: the role.
            let (role, session) = role_session.split_once('/').unwrap_or((role_session, ""));
            if role.is_empty() {
                return None;
            }
            if looks_like_email(session) {
                return Some(lowercase(session));
            }
            return Some(format!("arn:aws:iam::{account}:role/{role}").into());
        }
    }
    Some(arn.into())
}

/// Applies a text function to a record's field: the result still borrows
/// from the record when the field did and the function kept its text.
pub fn map_text<'a>(
    text: Cow<'a, str>,
    f: impl for<'s> Fn(&'s str) -> Cow<'s, str>,
) -> Cow<'a, str> {
    match text {
        Cow::Borrowed(s) => f(s),
        Cow::Owned(s) => Cow::Owned(f(&s).into_owned()),
    }
}

/// `s` in ASCII lowercase, borrowed when it already is.
pub fn lowercase(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        s.to_ascii_lowercase().into()
    } else {
        s.into()
    }
}

pub fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !s.contains(' ')
}

/// The `user` for a Kubernetes username. Service accounts and system users
/// stay as Kubernetes names them; OIDC usernames lose their issuer prefix
/// (`oidc:alice@example.com`, `https://issuer#alice@example.com`); EKS
/// usernames that are AWS ARNs resolve like CloudTrail principals.
pub fn k8s_user(username: &str) -> Cow<'_, str> {
    if username.starts_with("system:") {
        return username.into();
    }
    if username.starts_with("arn:aws") {
        if let Some(user) = aws_principal(username) {
            return user;
        }
    }
    let bare = username
        .rsplit_once('#')
        .map(|(_, u)| u)
        .unwrap_or(username);
    let bare = bare.strip_prefix("oidc:").unwrap_or(bare);
    if looks_like_email(bare) {
        lowercase(bare)
    } else {
        bare.into()
    }
}

/// The tool a user agent names. Command histories are about what people
/// type, so the CLI wins over the SDK it is built on.
pub fn tool_from_user_agent(user_agent: Option<&str>) -> &'static str {
    let Some(ua) = user_agent else {
        return "other";
    };
    let ua = lowercase(ua);
    let has = |needle: &str| ua.contains(needle);
    if has("kubectl") {
        "kubectl"
    } else if has("helm") {
        "helm"
    } else if has("terraform") {
        "terraform"
    } else if has("aws-cli") {
        "aws"
    } else if has("gcloud") || has("google-cloud-sdk") || has("command/gcloud") {
        "gcloud"
    } else if has("kube-controller-manager")
        || has("kube-scheduler")
        || has("kubelet")
        || has("kube-proxy")
        || has("controller")
        || has("operator")
    {
        "controller"
    } else if has("boto3") || has("botocore") {
        "boto3"
    } else if has("aws-sdk") || has("google-api-") || has("gl-go/") || has("client-go") {
        "sdk"
    } else if has("console.amazonaws.com")
        || has("signin.amazonaws.com")
        || has("mozilla/")
        || has("console.cloud.google.com")
    {
        "console"
    } else if ua.ends_with(".amazonaws.com") || has("aws internal") {
        "aws-service"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sso_session_named_after_a_person_is_that_person() {
        assert_eq!(
            aws_principal(
                "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0a1b/Alice@Example.com"
            )
            .as_deref(),
            Some("alice@example.com")
        );
    }

    #[test]
    fn a_role_with_per_run_session_names_is_the_role() {
        for session in [
            "GitHubActions-1699",
            "botocore-session-1700000000",
            "i-0abc123",
        ] {
            assert_eq!(
                aws_principal(&format!(
                    "arn:aws:sts::111122223333:assumed-role/ci-deployer/{session}"
                ))
                .as_deref(),
                Some("arn:aws:iam::111122223333:role/ci-deployer")
            );
        }
    }

    #[test]
    fn iam_users_and_root_are_themselves() {
        for arn in [
            "arn:aws:iam::111122223333:user/bob",
            "arn:aws:iam::111122223333:root",
        ] {
            assert_eq!(aws_principal(arn).as_deref(), Some(arn));
        }
        assert_eq!(aws_principal("not-an-arn"), None);
        assert_eq!(
            aws_principal("arn:aws:sts::111122223333:assumed-role/tester").as_deref(),
            Some("arn:aws:iam::111122223333:role/tester")
        );
    }

    #[test]
    fn kubernetes_names_resolve_to_the_same_person_as_cloud_principals() {
        assert_eq!(k8s_user("oidc:Alice@Example.com"), "alice@example.com");
        assert_eq!(
            k8s_user("https://accounts.google.com#alice@example.com"),
            "alice@example.com"
        );
        assert_eq!(
            k8s_user(
                "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Dev_1/alice@example.com"
            ),
            "alice@example.com"
        );
        assert_eq!(
            k8s_user("system:serviceaccount:ci:deployer"),
            "system:serviceaccount:ci:deployer"
        );
        assert_eq!(k8s_user("minikube-user"), "minikube-user");
    }

    #[test]
    fn user_agents_name_the_tool_people_typed() {
        let cases = [
            ("kubectl/v1.28.2 (linux/amd64) kubernetes/89a4ea3", "kubectl"),
            ("Helm/3.13.1", "helm"),
            ("aws-cli/2.13.5 Python/3.11.4 Linux/5.15 exe/x86_64 command/iam.create-access-key", "aws"),
            ("Boto3/1.28.0 Python/3.11 Botocore/1.31.0", "boto3"),
            ("APN/1.0 HashiCorp/1.0 Terraform/1.5.0 (+https://www.terraform.io)", "terraform"),
            ("google-cloud-sdk gcloud/450.0.0 command/gcloud.iam.service-accounts.keys.create", "gcloud"),
            ("kube-controller-manager/v1.28.2 (linux/amd64)/system:serviceaccount:kube-system:job-controller", "controller"),
            ("console.amazonaws.com", "console"),
            ("Mozilla/5.0 (Macintosh)", "console"),
            ("aws-sdk-go/1.44.0 (go1.20; linux; amd64)", "sdk"),
            ("ec2.amazonaws.com", "aws-service"),
            ("curl/8.0", "other"),
        ];
        for (ua, tool) in cases {
            assert_eq!(tool_from_user_agent(Some(ua)), tool, "{ua}");
        }
        assert_eq!(tool_from_user_agent(None), "other");
    }
}
