//! lakehound's isolation forest against scikit-learn's on real outlier sets.
//!
//! One seed's AUC swings widely (cover: 0.81-0.92 with scikit-learn), so
//! the means compared are over seeds 0-9 on both sides; the datasets
//! README's 3-seed figures move by about 0.02 with the seeds alone.

use crate::adbench::{forest_auc, load, sklearn_ten_seeds};
use crate::support::shared_datasets;

/// Two standard errors of the difference of two 10-seed means at the
/// widest per-seed spread measured (annthyroid, cover). Issue 4 asks 0.01
/// over 3 seeds, which the seeds alone exceed; see the closing note.
const TOLERANCE: f64 = 0.02;

#[test]
fn shared_corpus_adbench_forest_auc_is_within_0_02_of_scikit_learn() {
    let Some(datasets) = shared_datasets("the isolation-forest AUC check") else {
        return;
    };
    let references = sklearn_ten_seeds();
    assert_eq!(references.len(), 8, "the reference has the eight sets");
    let mut failures = Vec::new();
    for (name, reference) in &references {
        let auc = forest_auc(&load(&datasets, name), 0..10);
        eprintln!("{name}: AUC {auc:.4} over seeds 0-9 (scikit-learn {reference:.4})");
        if (auc - reference).abs() > TOLERANCE {
            failures.push(format!("{name} {auc:.4} vs {reference:.4}"));
        }
    }
    assert!(
        failures.is_empty(),
        "AUC off by more than {TOLERANCE}: {failures:?}"
    );
}
