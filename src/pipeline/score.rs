//! Stage 4: fit every detector on the baselines and score the window. A
//! detector that fails is logged and recorded; the run goes on without it.

use rayon::prelude::*;
use serde::Serialize;
use tracing::warn;

use crate::activity::baseline::{Baselines, WindowActivity};
use crate::detectors::{Detector, Evidence};

/// Evidence from every detector that ran, and the ones that failed.
#[derive(Debug, Default)]
pub struct Scored {
    /// `(detector index, evidence)`, in detector order then detector output order.
    pub evidence: Vec<(usize, Evidence)>,
    pub detectors: Vec<DetectorReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DetectorReport {
    pub name: String,
    pub evidence: usize,
    pub error: Option<String>,
    /// Fit and score time.
    pub elapsed_ms: u128,
}

impl Scored {
    pub fn failures(&self) -> usize {
        self.detectors.iter().filter(|d| d.error.is_some()).count()
    }
}

pub fn run(detectors: &[&dyn Detector], baselines: &Baselines, window: &WindowActivity) -> Scored {
    let results: Vec<_> = detectors
        .par_iter()
        .map(|d| {
            let started = std::time::Instant::now();
            let result = d.fit(baselines).and_then(|fitted| fitted.score(window));
            (result, started.elapsed().as_millis())
        })
        .collect();
    let mut scored = Scored::default();
    for (i, (detector, (result, elapsed_ms))) in detectors.iter().zip(results).enumerate() {
        match result {
            Ok(evidence) => {
                scored.detectors.push(DetectorReport {
                    name: detector.name().to_owned(),
                    evidence: evidence.len(),
                    error: None,
                    elapsed_ms,
                });
                scored.evidence.extend(evidence.into_iter().map(|e| (i, e)));
            }
            Err(err) => {
                warn!(detector = detector.name(), error = %err, "Detector failed; continuing without it.");
                scored.detectors.push(DetectorReport {
                    name: detector.name().to_owned(),
                    evidence: 0,
                    error: Some(err.to_string()),
                    elapsed_ms,
                });
            }
        }
    }
    scored
}
