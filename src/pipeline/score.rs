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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activity::testing::{habit, Lake};
    use crate::detectors::{DetectorError, Fitted};

    /// A detector whose fit always fails.
    struct Broken;

    impl Detector for Broken {
        fn name(&self) -> &str {
            "broken"
        }
        fn fit<'a>(&self, _: &'a Baselines) -> Result<Box<dyn Fitted + 'a>, DetectorError> {
            Err(DetectorError {
                detector: "broken".into(),
                reason: "no model".into(),
            })
        }
    }

    #[test]
    fn a_failing_detector_is_recorded_and_the_others_still_score() {
        let (b, w) = habit(Lake::new(), "ana", "get pods", 1).build();
        let time_of_week = toml::from_str::<crate::detectors::time_of_week::TimeOfWeekParams>("")
            .unwrap()
            .check("time_of_week".into())
            .unwrap();
        let detectors: [&dyn Detector; 2] = [&Broken, &time_of_week];
        let scored = run(&detectors, &b, &w);
        assert_eq!(scored.failures(), 1);
        assert_eq!(scored.detectors[0].name, "broken");
        assert!(scored.detectors[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("no model")));
        assert_eq!(scored.detectors[1].error, None);
    }
}
