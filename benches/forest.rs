//! Isolation forest against scikit-learn on the ADBench sets (issue 4):
//! per set, lakehound's mean ROC-AUC over seeds 0-2 (beside scikit-learn's
//! in ../shared/datasets/README.md) and over seeds 0..N (beside
//! tests/fixtures/adbench_sklearn.csv), the per-seed spread, and the median
//! time of one fit and scoring of the whole set beside scikit-learn's.
//!
//!   cargo bench --bench forest [-- --seeds N] [-- SET...]
//!
//! `LAKEHOUND_PER_SEED=FILE` also writes `set,seed,auc,seconds` per fit.

#[path = "../tests/it/adbench.rs"]
#[allow(dead_code)]
mod adbench;

use std::io::Write;
use std::path::Path;
use std::time::Instant;

fn main() {
    let datasets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets");
    if !datasets.is_dir() {
        eprintln!("SKIPPED: ../shared/datasets is absent");
        return;
    }
    let mut seeds = 10u64;
    let mut wanted = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seeds" => {
                seeds = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n >= 3)
                    .expect("--seeds takes a count of at least 3");
            }
            // cargo bench passes --bench.
            a if a.starts_with('-') => {}
            name => wanted.push(name.to_owned()),
        }
    }
    let mut per_seed = std::env::var_os("LAKEHOUND_PER_SEED")
        .map(|p| std::fs::File::create(p).expect("LAKEHOUND_PER_SEED is writable"));
    let sklearn = adbench::sklearn_reference();
    println!(
        "{:<12} {:>16} {:>8} {:>8} {:>9} {:>9} {:>7} {:>9} {:>9} {:>7}",
        "set",
        "rows x cols",
        "AUC 0-2",
        "sklearn",
        format!("AUC 0-{}", seeds - 1),
        format!("sklearn {}", sklearn.seeds),
        "sd",
        "median s",
        "sklearn s",
        "speedup"
    );
    for r in adbench::references(&datasets) {
        if !wanted.is_empty() && !wanted.contains(&r.name) {
            continue;
        }
        let set = adbench::load(&datasets, &r.name);
        let mut times = Vec::new();
        let mut aucs = Vec::new();
        for seed in 0..seeds {
            let started = Instant::now();
            let scores = adbench::forest_scores(&set, seed);
            let seconds = started.elapsed().as_secs_f64();
            let auc = adbench::auc(&set, &scores);
            if let Some(out) = per_seed.as_mut() {
                writeln!(out, "{},{seed},{auc:.6},{seconds:.4}", r.name).unwrap();
            }
            times.push(seconds);
            aucs.push(auc);
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let spread = adbench::Spread::of(&aucs);
        let reference = sklearn.mean_of(&r.name);
        println!(
            "{:<12} {:>16} {:>8.4} {:>8.4} {:>9.4} {:>9.4} {:>7.4} {:>9.3} {:>9.2} {:>6.1}x",
            r.name,
            format!("{} x {}", set.x.nrows(), set.x.ncols()),
            adbench::Spread::of(&aucs[..3]).mean,
            r.auc,
            spread.mean,
            reference,
            spread.sd,
            median,
            r.seconds,
            r.seconds / median
        );
    }
}
