//! Severity as code: which actions and targets are sensitive, how much a
//! first use of one weighs, and the MITRE ATT&CK technique it serves. Read
//! from `models/sensitivity.toml` (or a `--models` folder's); novelty
//! weighs first-seen items with it and findings carry its techniques.

use serde::Deserialize;

/// The table's file name in a models folder.
pub const SENSITIVITY_FILE: &str = "sensitivity.toml";

/// Why a sensitivity table was refused.
#[derive(Debug, thiserror::Error)]
pub enum SensitivityError {
    #[error(transparent)]
    Parse(#[from] toml::de::Error),
    #[error("rule {rule:?}: {reason}")]
    Rule { rule: String, reason: String },
}

/// One rule as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    /// Substrings of action names the rule covers.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Substrings of targets the rule covers.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Whether the rule covers acting as another identity (Kubernetes
    /// impersonation, a GCP service account acted through).
    #[serde(default)]
    pub acting_as: bool,
    /// MITRE ATT&CK technique id, `T1234` or `T1234.567`.
    pub technique: String,
    /// Exponent on a first-seen item's rarity; at least 1.
    pub weight: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    rule: Vec<Rule>,
}

/// The checked table.
#[derive(Debug, Clone, Default)]
pub struct Sensitivity {
    rules: Vec<Rule>,
}

impl Sensitivity {
    pub fn parse(text: &str) -> Result<Sensitivity, SensitivityError> {
        let file: File = toml::from_str(text)?;
        for r in &file.rule {
            let bad = |reason: &str| {
                Err(SensitivityError::Rule {
                    rule: r.name.clone(),
                    reason: reason.to_owned(),
                })
            };
            if r.name.trim().is_empty() {
                return bad("name must not be empty");
            }
            if r.actions.is_empty() && r.targets.is_empty() && !r.acting_as {
                return bad("needs at least one of actions, targets, acting_as");
            }
            if r.actions.iter().chain(&r.targets).any(|p| p.is_empty()) {
                return bad("an empty pattern would match everything");
            }
            if !is_technique(&r.technique) {
                return bad("technique must be a MITRE ATT&CK id like T1098 or T1098.003");
            }
            if !(r.weight.is_finite() && r.weight >= 1.0) {
                return bad("weight must be a number of at least 1");
            }
        }
        Ok(Sensitivity { rules: file.rule })
    }

    /// The heaviest rule covering `action` (ties: the longest pattern).
    pub fn action(&self, action: &str) -> Option<&Rule> {
        self.heaviest(action, |r| &r.actions)
    }

    /// The heaviest rule covering `target` (ties: the longest pattern).
    pub fn target(&self, target: &str) -> Option<&Rule> {
        self.heaviest(target, |r| &r.targets)
    }

    /// The heaviest rule covering acting as another identity.
    pub fn acting_as(&self) -> Option<&Rule> {
        self.rules
            .iter()
            .filter(|r| r.acting_as)
            .max_by(|a, b| a.weight.total_cmp(&b.weight))
    }

    fn heaviest(&self, value: &str, patterns: impl Fn(&Rule) -> &Vec<String>) -> Option<&Rule> {
        self.rules
            .iter()
            .filter_map(|r| {
                let longest = patterns(r)
                    .iter()
                    .filter(|p| value.contains(p.as_str()))
                    .map(String::len)
                    .max()?;
                Some((r, longest))
            })
            .max_by(|a, b| a.0.weight.total_cmp(&b.0.weight).then(a.1.cmp(&b.1)))
            .map(|(r, _)| r)
    }

    /// The techniques of `actions`, sorted, each once.
    pub fn techniques<'a>(&self, actions: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut out: Vec<String> = actions
            .into_iter()
            .filter_map(|a| self.action(a))
            .map(|r| r.technique.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

fn is_technique(id: &str) -> bool {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    match id.strip_prefix('T').map(|rest| rest.split_once('.')) {
        Some(Some((main, sub))) => digits(main, 4) && digits(sub, 3),
        Some(None) => digits(&id[1..], 4),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../models/sensitivity.toml");

    #[test]
    fn the_shipped_table_covers_the_issues_categories() {
        let s = Sensitivity::parse(SHIPPED).unwrap();
        let technique = |a: &str| s.action(a).map(|r| r.technique.as_str());
        assert_eq!(technique("iam:CreateUser"), Some("T1136.003"));
        assert_eq!(technique("iam:CreateAccessKey"), Some("T1098.001"));
        assert_eq!(technique("iam:AttachUserPolicy"), Some("T1098.003"));
        assert_eq!(technique("create clusterrolebindings"), Some("T1098.006"));
        assert_eq!(technique("get secrets"), Some("T1552.007"));
        assert_eq!(technique("create pods/exec"), Some("T1609"));
        assert_eq!(technique("cloudtrail:StopLogging"), Some("T1562.008"));
        assert_eq!(
            technique("google.iam.admin.v1.CreateServiceAccountKey"),
            Some("T1098.001")
        );
        assert_eq!(technique("get pods"), None);
        assert_eq!(
            technique("secretsmanager:GetSecretValue"),
            Some("T1555.006")
        );
        assert_eq!(technique("list rolebindings"), Some("T1069.003"));
        assert_eq!(
            s.acting_as().map(|r| r.technique.as_str()),
            Some("T1078.004")
        );
        assert_eq!(
            s.techniques([
                "get secrets",
                "get pods",
                "list secrets",
                "create pods/exec"
            ]),
            ["T1552.007", "T1609"]
        );
    }

    #[test]
    fn a_bad_rule_is_refused_with_its_name() {
        let rule = |body: &str| format!("[[rule]]\nname = \"r\"\n{body}\n");
        for (body, says) in [
            ("technique = \"T1098\"\nweight = 2.0", "at least one of"),
            (
                "actions = [\"x\"]\ntechnique = \"1098\"\nweight = 2.0",
                "MITRE",
            ),
            (
                "actions = [\"x\"]\ntechnique = \"T1098.3\"\nweight = 2.0",
                "MITRE",
            ),
            (
                "actions = [\"x\"]\ntechnique = \"T1098\"\nweight = 0.5",
                "weight",
            ),
            (
                "actions = [\"\"]\ntechnique = \"T1098\"\nweight = 2.0",
                "empty pattern",
            ),
        ] {
            let err = Sensitivity::parse(&rule(body)).unwrap_err().to_string();
            assert!(err.contains("\"r\"") && err.contains(says), "{err}");
        }
        let err = Sensitivity::parse("[[rule]]\nname = \"r\"\nactoins = []\n").unwrap_err();
        assert!(err.to_string().contains("actoins"), "{err}");
    }
}
