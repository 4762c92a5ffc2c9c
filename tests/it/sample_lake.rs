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
    let labels =
        eval::read_labels(&lakehound::app::sample_lake().join("labels.csv").into()).unwrap();
    let findings = eval::read_pooled(&eval::findings_paths(&out.path().into()).unwrap()).unwrap();
    let report = eval::evaluate(&labels, &findings, &[20]);
    assert_eq!(report.attacks, 11);
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
    // Every gcloud call in the lake carries a fresh invocation id, as real
    // ones do; normalised away, no user agent is first-seen for it.
    let df = super::support::findings(out.path());
    for row in 0..df.height() {
        for reason in list_strings(&df, "reasons", row) {
            assert!(!reason.contains("invocation-id"), "{reason}");
        }
    }
}

#[test]
fn on_the_sample_lake_peers_are_learned_detectors_calibrated_and_the_forest_explains_itself() {
    let out = tempfile::tempdir().unwrap();
    let o = lakehound(&["run", "--out", out.path().to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let m = manifest(out.path());
    // Without --models the models compiled into the binary ran, not a path
    // that only exists in this checkout.
    assert_eq!(m["arguments"]["models"], "built-in");

    // k-means found team-like groups, and the person who moved team behaves
    // unlike the group their events still assert.
    let learned = &m["identities"]["learned_groups"];
    assert!(learned["k"].as_u64().unwrap() >= 2, "{learned}");
    let identities =
        std::fs::read_to_string(lakehound::app::sample_lake().join("identities.csv")).unwrap();
    let mut rows_per_user = std::collections::BTreeMap::<&str, usize>::new();
    for line in identities.lines().skip(1) {
        *rows_per_user
            .entry(line.split(',').next().unwrap())
            .or_default() += 1;
    }
    let mover = rows_per_user.iter().find(|(_, n)| **n > 1).unwrap().0;
    let unlike = m["identities"]["unlike_declared_group"].to_string();
    assert!(unlike.contains(mover), "{mover} not in {unlike}");

    // The over-confident count model is calibrated on the baseline rehearsal.
    let calibration = m["calibration"].as_array().unwrap();
    let count_spike = calibration
        .iter()
        .find(|c| c["detector"] == "count_spike")
        .unwrap();
    assert_eq!(count_spike["calibrated"], true, "{count_spike}");

    // The forest contributes, and says which features isolated the day.
    let df = findings(out.path());
    let forest_reasons: Vec<String> = (0..df.height())
        .flat_map(|i| list_strings(&df, "reasons", i))
        .filter(|r| r.starts_with("unusual day in combination"))
        .collect();
    assert!(!forest_reasons.is_empty());
    assert!(
        forest_reasons.iter().all(|r| r.contains("% (")),
        "{forest_reasons:?}"
    );

    // The slow-and-low reader is a little odd every day: the forest says so
    // once for the whole run of days.
    let labels = std::fs::read_to_string(lakehound::app::sample_lake().join("labels.csv")).unwrap();
    let slow = labels
        .lines()
        .find(|l| l.starts_with("slow_and_low,"))
        .and_then(|l| l.split(',').nth(2))
        .unwrap();
    let slow_reasons: Vec<String> = (0..df.height())
        .filter(|i| df.column("user").unwrap().str().unwrap().get(*i) == Some(slow))
        .flat_map(|i| list_strings(&df, "reasons", i))
        .collect();
    assert!(
        slow_reasons.iter().any(|r| r.contains("days running")),
        "{slow_reasons:?}"
    );

    // The new contractor is judged against the cluster its first days resemble.
    let users = finding_users(out.path());
    let row = users
        .iter()
        .position(|u| u == "etl-contractor-2@example.com")
        .expect("the contractor reading payments secrets is a finding");
    let peer_group = df
        .column("peer_group")
        .unwrap()
        .str()
        .unwrap()
        .get(row)
        .unwrap();
    assert!(
        peer_group.starts_with("learned from its first days"),
        "{peer_group}"
    );
    assert!(!users.iter().any(|u| u == "etl-contractor@example.com"));
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

#[test]
fn a_newcomer_nearest_a_small_cluster_is_judged_against_the_org() {
    // In seed 1's org the quiet newcomer's first days sit nearest a cluster
    // of three: against three peers nothing it touched could look rare, and
    // it was missed. A cluster that small is not a peer group to judge by.
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let out = dir.path().join("out");
    let lake_arg = lake.to_str().unwrap();
    let o = lakehound(&["sample", "--seed", "1", "--out", lake_arg]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = run_on(&lake, &out, &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let users = finding_users(&out);
    let rank = users
        .iter()
        .position(|u| u == "ops-temp@example.com")
        .unwrap_or_else(|| panic!("the quiet newcomer is a finding: {users:?}"));
    let found = findings(&out);
    let peers = found.column("peer_group").unwrap().str().unwrap().get(rank);
    assert_eq!(peers, Some("org"));
    let labels = eval::read_labels(&lake.join("labels.csv").into()).unwrap();
    let report = eval::evaluate(
        &labels,
        &eval::read_pooled(&eval::findings_paths(&out.clone().into()).unwrap()).unwrap(),
        &[20],
    );
    assert_eq!(report.recall_at, vec![(20, 1.0)], "{:?}", report.labels);
}

#[test]
fn seven_daily_runs_of_the_sample_week_pooled_rank_like_the_weekly_run() {
    // What jobs/cron does: one run per day, each against the 28 days before.
    let out = tempfile::tempdir().unwrap();
    let lake = lakehound::app::sample_lake();
    for day in 2..=8 {
        let date = format!("2026-11-{day:02}");
        let o = run_between(&lake, out.path(), &date, &date, &[]);
        assert_eq!(code(&o), 0, "{date}: {}", stderr(&o));
    }
    let paths = eval::findings_paths(&out.path().into()).unwrap();
    assert_eq!(paths.len(), 7);
    let labels = eval::read_labels(&lake.join("labels.csv").into()).unwrap();
    let report = eval::evaluate(&labels, &eval::read_pooled(&paths).unwrap(), &[20]);
    assert!(
        report.average_precision >= 0.9,
        "AP {}",
        report.average_precision
    );
    assert_eq!(report.recall_at, vec![(20, 1.0)], "{:?}", report.labels);
    assert!(report.benign_in_top <= 1, "{:?}", report.labels);
}
