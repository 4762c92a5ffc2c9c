//! Detectors: each turns baselines plus the scoring window into evidence, a
//! p-value with a human reason, per identity and time span.
//!
//! Each is configured by a TOML file in `models/` (detection as code):
//!
//! ```toml
//! name = "exec_spike"
//! [detector]
//! kind = "count_spike"
//! params = { prior_buckets = 24 }
//! ```
//!
//! Params are checked before anything is fitted (`XParams -> X -> fitted`),
//! and unknown keys are rejected with their line and column. Reading model
//! files is the CLI edge's job (`crate::models`).

pub mod breadth;
pub mod command_mix;
pub mod count_spike;
pub mod isolation_forest;
pub mod novelty;
pub mod time_of_week;

use serde::Deserialize;

use crate::activity::baseline::{Baselines, WindowActivity};

/// The tool of command lines (shell histories, Falco/eBPF processes in an
/// exec session): one event per command typed, a different granularity from
/// API calls.
pub(crate) const SHELL_TOOL: &str = "shell";

/// Why a model file's parameters were refused.
#[derive(Debug, thiserror::Error)]
#[error("detector {detector:?}: {field} {reason}")]
pub struct ParamsError {
    pub detector: String,
    pub field: &'static str,
    pub reason: String,
}

impl ParamsError {
    pub fn new(detector: &str, field: &'static str, reason: impl Into<String>) -> Self {
        ParamsError {
            detector: detector.to_owned(),
            field,
            reason: reason.into(),
        }
    }
}

/// A detector that failed while fitting or scoring; the run goes on without it.
#[derive(Debug, thiserror::Error)]
#[error("detector {detector:?} failed: {reason}")]
pub struct DetectorError {
    pub detector: String,
    pub reason: String,
}

/// One piece of evidence: something an identity did in `[start, end)` that
/// its baseline makes unlikely.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub user: u32,
    pub start: i64,
    pub end: i64,
    /// Chance of something at least this extreme under the identity's
    /// baseline, in (0, 1].
    pub p_value: f64,
    /// A sentence for the analyst, with the numbers.
    pub reason: String,
    pub observed: f64,
    pub expected: f64,
    /// Action ids involved, most relevant first.
    pub actions: Vec<u32>,
    /// Bucket starts where the evidence happened, when the detector knows
    /// them better than "where the identity did `actions` in the span"
    /// (novelty: where the first-seen values making most of its surprise
    /// were first touched). Empty:
    /// ranking derives them.
    pub at: Vec<i64>,
    /// ATT&CK techniques of the sensitive values behind it (novelty: its
    /// sensitive actions, targets and identities acted as); findings add
    /// those of their evidence's actions.
    pub techniques: Vec<String>,
}

/// Contract (tests/it/detector_contract.rs runs it on every model in
/// `models/`): evidence p-values are finite and in (0, 1], spans lie inside
/// the scoring window with `start < end`, and equal inputs give equal output.
pub trait Detector: Send + Sync {
    fn name(&self) -> &str;
    fn fit<'a>(&self, baselines: &'a Baselines) -> Result<Box<dyn Fitted + 'a>, DetectorError>;
}

pub trait Fitted: Send + Sync {
    /// Evidence for the window, in a deterministic order.
    fn score(&self, window: &WindowActivity) -> Result<Vec<Evidence>, DetectorError>;
}

/// A model file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    pub name: String,
    pub detector: DetectorSpec,
}

#[derive(Debug, Deserialize)]
#[serde(
    tag = "kind",
    content = "params",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum DetectorSpec {
    CountSpike(count_spike::CountSpikeParams),
    Novelty(novelty::NoveltyParams),
    TimeOfWeek(time_of_week::TimeOfWeekParams),
    Breadth(breadth::BreadthParams),
    CommandMix(command_mix::CommandMixParams),
    IsolationForest(isolation_forest::IsolationForestDetectorParams),
}

impl ModelFile {
    /// The checked detector; novelty weighs first-seen items by `sensitivity`.
    pub fn build(
        self,
        sensitivity: &std::sync::Arc<crate::sensitivity::Sensitivity>,
    ) -> Result<Box<dyn Detector>, ParamsError> {
        if self.name.trim().is_empty() {
            return Err(ParamsError::new("", "name", "must not be empty"));
        }
        Ok(match self.detector {
            DetectorSpec::CountSpike(p) => Box::new(p.check(self.name)?),
            DetectorSpec::Novelty(p) => Box::new(p.check(self.name, sensitivity.clone())?),
            DetectorSpec::TimeOfWeek(p) => Box::new(p.check(self.name)?),
            DetectorSpec::Breadth(p) => Box::new(p.check(self.name)?),
            DetectorSpec::CommandMix(p) => Box::new(p.check(self.name)?),
            DetectorSpec::IsolationForest(p) => Box::new(p.check(self.name)?),
        })
    }
}

/// Checks shared by the params structs.
pub(crate) fn positive(name: &str, field: &'static str, v: f64) -> Result<(), ParamsError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(ParamsError::new(
            name,
            field,
            format!("must be > 0, got {v}"),
        ))
    }
}

pub(crate) fn probability(name: &str, field: &'static str, v: f64) -> Result<(), ParamsError> {
    if v.is_finite() && v > 0.0 && v <= 1.0 {
        Ok(())
    } else {
        Err(ParamsError::new(
            name,
            field,
            format!("must be in (0, 1], got {v}"),
        ))
    }
}

/// The evidence `detector` finds for `user` on a hand-built lake.
#[cfg(test)]
pub(crate) fn evidence_of(
    detector: &dyn Detector,
    lake: crate::activity::testing::Lake,
    user: &str,
) -> Vec<Evidence> {
    let (b, w) = lake.build();
    let id = b.user_names.get(user).unwrap();
    let all = detector.fit(&b).unwrap().score(&w).unwrap();
    all.into_iter().filter(|e| e.user == id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_in_a_model_file_is_reported_with_line_and_column() {
        let text =
            "name = \"x\"\n[detector]\nkind = \"count_spike\"\nparams = { prior_bukets = 3 }\n";
        let err = toml::from_str::<ModelFile>(text).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("line 4"), "{msg}");
        assert!(msg.contains("column"), "{msg}");
        assert!(msg.contains("prior_bukets"), "{msg}");
    }

    #[test]
    fn unknown_detector_kind_is_rejected() {
        let text = "name = \"x\"\n[detector]\nkind = \"zscore\"\n";
        assert!(toml::from_str::<ModelFile>(text).is_err());
    }
}
