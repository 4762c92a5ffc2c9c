//! lakehound's isolation forest against scikit-learn's on real outlier sets:
//! issue 4's bound, mean ROC-AUC within 0.01 on every set.
//!
//! One seed's AUC swings widely (cover: sd 0.027 with scikit-learn), so a
//! 3-seed mean moves by more than 0.01 with the seeds alone and cannot tell
//! two implementations apart. The reference is scikit-learn's mean over the
//! fixture's 200 seeds; lakehound's side takes as many seeds as each set's
//! spread needs for 0.01 to be three standard errors of the difference.
//! The seeds are fixed, so the test is deterministic.

use crate::adbench::{forest_auc, load, references, sklearn_reference, Spread};
use crate::support::shared_datasets;

/// Issue 4's bound on the difference of mean AUCs.
const TOLERANCE: f64 = 0.01;
/// The bound in standard errors of the difference of the two means.
const STANDARD_ERRORS: f64 = 3.0;

/// Seeds lakehound needs on a set whose per-seed AUC has standard deviation
/// `sd` (scikit-learn's, over `reference_seeds`) so that the difference of
/// the means has a standard error of `TOLERANCE / STANDARD_ERRORS`.
fn seeds_needed(sd: f64, reference_seeds: usize) -> u64 {
    let target = (TOLERANCE / STANDARD_ERRORS).powi(2);
    let left = target - sd * sd / reference_seeds as f64;
    assert!(
        left > 0.0,
        "the reference's own standard error exceeds the target: add seeds to the fixture"
    );
    ((sd * sd / left).ceil() as u64).max(3)
}

#[test]
fn seed_counts_follow_the_spread() {
    // Cover's spread needs about a hundred seeds; http's, the minimum.
    assert!((90..=110).contains(&seeds_needed(0.027, 200)));
    assert_eq!(seeds_needed(0.0004, 200), 3);
    assert!(seeds_needed(0.016, 200) < seeds_needed(0.027, 200));
}

#[test]
fn shared_corpus_adbench_forest_auc_is_within_0_01_of_scikit_learn() {
    let Some(datasets) = shared_datasets("the isolation-forest AUC check") else {
        return;
    };
    let reference = sklearn_reference();
    assert_eq!(reference.aucs.len(), 8, "the reference has the eight sets");
    let mut failures = Vec::new();
    for (name, sklearn_aucs) in &reference.aucs {
        let sklearn = Spread::of(sklearn_aucs);
        let seeds = seeds_needed(sklearn.sd, reference.seeds);
        let set = load(&datasets, name);
        let aucs: Vec<f64> = (0..seeds).map(|seed| forest_auc(&set, seed)).collect();
        let ours = Spread::of(&aucs).mean;
        eprintln!(
            "{name}: AUC {ours:.4} over seeds 0-{} (scikit-learn {:.4} over {}, sd {:.4})",
            seeds - 1,
            sklearn.mean,
            reference.seeds,
            sklearn.sd
        );
        if (ours - sklearn.mean).abs() > TOLERANCE {
            failures.push(format!("{name} {ours:.4} vs {:.4}", sklearn.mean));
        }
    }
    assert!(
        failures.is_empty(),
        "mean AUC off by more than {TOLERANCE}: {failures:?}"
    );
}

#[test]
fn shared_corpus_the_fixture_is_the_run_behind_the_datasets_readme() {
    // Its seeds 0-2 give the README's 3-seed means, so the 200 seeds extend
    // the same scikit-learn measurement rather than replace it.
    let Some(datasets) = shared_datasets("the scikit-learn fixture check") else {
        return;
    };
    let reference = sklearn_reference();
    let readme = references(&datasets);
    assert_eq!(readme.len(), reference.aucs.len());
    for r in &readme {
        let (_, aucs) = reference
            .aucs
            .iter()
            .find(|(name, _)| *name == r.name)
            .unwrap_or_else(|| panic!("{} is in the fixture", r.name));
        let first_three = Spread::of(&aucs[..3]).mean;
        assert!(
            (first_three - r.auc).abs() < 6e-5,
            "{}: fixture seeds 0-2 {first_three:.4}, README {:.4}",
            r.name,
            r.auc
        );
    }
}
