//! Isolation forest against scikit-learn on the ADBench sets (issue 4):
//! per set, lakehound's mean ROC-AUC over seeds 0-2 (beside scikit-learn's
//! in ../shared/datasets/README.md) and 0-9 (compare tests/fixtures/
//! adbench_sklearn.csv), and the median time of the ten fits and scorings
//! of the whole set beside scikit-learn's in that README.
//!
//!   cargo bench --bench forest [-- SET...]

#[path = "../tests/it/adbench.rs"]
#[allow(dead_code)]
mod adbench;

use std::path::Path;
use std::time::Instant;

use lakehound::forest::IsolationForestParams;

fn main() {
    let datasets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets");
    if !datasets.is_dir() {
        eprintln!("SKIPPED: ../shared/datasets is absent");
        return;
    }
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    println!(
        "{:<12} {:>16} {:>8} {:>8} {:>8} {:>9} {:>9} {:>7}",
        "set", "rows x cols", "AUC 0-2", "sklearn", "AUC 0-9", "median s", "sklearn s", "speedup"
    );
    for r in adbench::references(&datasets) {
        if !wanted.is_empty() && !wanted.contains(&r.name) {
            continue;
        }
        let set = adbench::load(&datasets, &r.name);
        let mut times = Vec::new();
        let mut aucs = Vec::new();
        for seed in 0..10 {
            let started = Instant::now();
            let forest = IsolationForestParams {
                seed,
                ..Default::default()
            }
            .check()
            .unwrap()
            .fit(set.x.view())
            .unwrap();
            let scores = forest.scores(set.x.view()).unwrap();
            times.push(started.elapsed().as_secs_f64());
            aucs.push(lakehound::eval::roc_auc(&scores, &set.y).unwrap());
        }
        times.sort_by(f64::total_cmp);
        let auc3 = aucs[..3].iter().sum::<f64>() / 3.0;
        let auc10 = aucs.iter().sum::<f64>() / 10.0;
        println!(
            "{:<12} {:>16} {:>8.4} {:>8.4} {:>8.4} {:>9.3} {:>9.2} {:>6.1}x",
            r.name,
            format!("{} x {}", set.x.nrows(), set.x.ncols()),
            auc3,
            r.auc,
            auc10,
            times[5],
            r.seconds,
            r.seconds / times[5]
        );
    }
}
