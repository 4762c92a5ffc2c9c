//! The embedded sample lake: what a newcomer's first command runs on.

use std::path::Path;

use lakehound::eval;

use super::support::*;

#[test]
fn the_embedded_sample_lake_ranks_every_attack_in_the_top_20_with_ap_at_least_0_9() {
    let out = tempfile::tempdir().unwrap();
    let o = lakehound(&["run", "--out", out.path().to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("#1 "),
        "the top findings are shown:\n{}",
        stdout(&o)
    );
    let labels = eval::read_labels(&lakehound::app::sample_lake().join("labels.csv")).unwrap();
    let findings = eval::read_findings(&eval::findings_path(out.path()).unwrap()).unwrap();
    let report = eval::evaluate(&labels, &findings, &[20]);
    assert_eq!(report.attacks, 10);
    assert!(
        report.average_precision >= 0.9,
        "AP {}",
        report.average_precision
    );
    assert_eq!(report.recall_at, vec![(20, 1.0)], "{:?}", report.labels);
    assert!(
        findings.len() <= 50,
        "an analyst's day, not a flood: {}",
        findings.len()
    );
}

#[test]
fn eval_prints_average_precision_and_recall() {
    let out = tempfile::tempdir().unwrap();
    assert_eq!(
        code(&lakehound(&["run", "--out", out.path().to_str().unwrap()])),
        0
    );
    let o = lakehound(&["eval", "--findings", out.path().to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("average precision") && text.contains("recall@20"),
        "{text}"
    );
}

#[test]
fn the_committed_sample_lake_is_what_the_generator_makes() {
    let dir = tempfile::tempdir().unwrap();
    let o = lakehound(&["sample", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let committed = lakehound::app::sample_lake();
    for rel in [
        "labels.csv",
        "identities.csv",
        "sample.json",
        "events/dt=2026-11-05/part-00000.parquet",
        "events/dt=2026-10-05/part-00000.parquet",
    ] {
        let a = std::fs::read(committed.join(rel)).unwrap();
        let b = std::fs::read(dir.path().join(rel)).unwrap();
        assert!(a == b, "sample-data/{rel} differs from `lakehound sample` output: regenerate it (see sample-data/README.md)");
    }
    assert_eq!(
        count_files(&committed.join("events")),
        count_files(&dir.path().join("events"))
    );
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read_dir(e.unwrap().path()).unwrap().count())
        .sum()
}
