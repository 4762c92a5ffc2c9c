//! End to end on fixture lakes: what the analyst gets.

use polars::prelude::*;

use super::fixture::{date, micros, Org};
use super::support::*;

#[test]
fn an_exec_burst_is_the_top_finding_with_its_reason_and_events() {
    let lake = tempfile::tempdir().unwrap();
    Org::ordinary(3).with_exec_spike().write(lake.path());
    let out = tempfile::tempdir().unwrap();
    let o = run_on(lake.path(), out.path(), &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let df = findings(out.path());
    assert!(df.height() >= 1);
    let user = finding_users(out.path())[0].clone();
    assert_eq!(user, "user00@example.com");
    assert_eq!(df.column("rank").unwrap().u32().unwrap().get(0), Some(1));
    let detectors = list_strings(&df, "detectors", 0);
    assert!(
        detectors.contains(&"count_spike".to_owned()),
        "{detectors:?}"
    );
    let reasons = list_strings(&df, "reasons", 0);
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("50 × create pods/exec")),
        "{reasons:?}"
    );
    let ids = list_strings(&df, "evidence_event_ids", 0);
    assert!(!ids.is_empty() && ids.len() <= 20);
    let start = df
        .column("window_start")
        .unwrap()
        .cast(&DataType::Int64)
        .unwrap();
    let start = start.i64().unwrap().get(0).unwrap();
    assert!(start <= micros(date("2026-11-05"), 14, 0));
    assert!(
        stdout(&o).contains("user00@example.com"),
        "the top findings are printed"
    );
}

#[test]
fn an_ordinary_week_produces_no_findings() {
    let lake = tempfile::tempdir().unwrap();
    Org::ordinary(4).write(lake.path());
    let out = tempfile::tempdir().unwrap();
    let o = run_on(lake.path(), out.path(), &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(findings(out.path()).height(), 0, "{}", stdout(&o));
    let m = manifest(out.path());
    assert_eq!(m["identities"]["scored"], 12);
    assert_eq!(m["identities"]["cold_start"], 0);
}

#[test]
fn the_manifest_counts_partitions_events_and_identities() {
    let lake = tempfile::tempdir().unwrap();
    let org = Org::ordinary(5).with_exec_spike();
    org.write(lake.path());
    let out = tempfile::tempdir().unwrap();
    assert_eq!(code(&run_on(lake.path(), out.path(), &[])), 0);
    let m = manifest(out.path());
    // The fixture has weekday partitions only: 25 of the 35 dates needed.
    assert_eq!(m["partitions_read"], 25);
    assert_eq!(
        m["lake"]["missing_partitions"].as_array().unwrap().len(),
        10
    );
    assert_eq!(m["quality"]["events"], org.events.len() as u64);
    assert_eq!(m["identities"]["total"], 12);
    assert_eq!(
        m["findings"].as_u64().unwrap() as usize,
        findings(out.path()).height()
    );
    for stage in [
        "discover",
        "load",
        "context",
        "baseline_score_calibrate",
        "rank",
    ] {
        assert!(m["timings_ms"][stage].is_number(), "timing for {stage}");
    }
}

#[test]
fn the_same_lake_and_arguments_give_the_same_findings() {
    let lake = tempfile::tempdir().unwrap();
    Org::ordinary(6).with_exec_spike().write(lake.path());
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    assert_eq!(code(&run_on(lake.path(), a.path(), &[])), 0);
    assert_eq!(code(&run_on(lake.path(), b.path(), &[])), 0);
    assert!(findings(a.path()).equals_missing(&findings(b.path())));
    let scores = |out: &std::path::Path| {
        let path = window_dir(out).join("scores.parquet");
        ParquetReader::new(std::fs::File::open(path).unwrap())
            .finish()
            .unwrap()
    };
    assert!(scores(a.path()).equals_missing(&scores(b.path())));
    assert_eq!(manifest(a.path())["run_id"], manifest(b.path())["run_id"]);
}

#[test]
fn the_per_bucket_scores_peak_where_the_top_finding_happened() {
    let lake = tempfile::tempdir().unwrap();
    Org::ordinary(7).with_exec_spike().write(lake.path());
    let out = tempfile::tempdir().unwrap();
    assert_eq!(code(&run_on(lake.path(), out.path(), &[])), 0);
    let path = window_dir(out.path()).join("scores.parquet");
    let scores = ParquetReader::new(std::fs::File::open(path).unwrap())
        .finish()
        .unwrap()
        .sort(
            ["score"],
            SortMultipleOptions::default().with_order_descending(true),
        )
        .unwrap();
    let top = findings(out.path());
    let text = |df: &DataFrame, c: &str| {
        df.column(c)
            .unwrap()
            .str()
            .unwrap()
            .get(0)
            .map(str::to_owned)
    };
    let time = |df: &DataFrame, c: &str| {
        let col = df.column(c).unwrap().cast(&DataType::Int64).unwrap();
        col.i64().unwrap().get(0)
    };
    assert_eq!(text(&scores, "user"), text(&top, "user"));
    assert_eq!(time(&scores, "bucket_start"), time(&top, "window_start"));
    assert!(text(&scores, "top_reason").is_some_and(|r| r.contains("pods/exec")));
    // Every scored bucket had activity; quiet ones score 0 with no reason.
    let events = scores.column("events").unwrap().u64().unwrap();
    let score = scores.column("score").unwrap().f64().unwrap();
    let rows = 0..scores.height();
    assert!(rows.clone().all(|i| events.get(i).is_some_and(|n| n > 0)));
    let zero = rows.filter(|i| score.get(*i) == Some(0.0)).count();
    assert!(zero > 0);
    assert_eq!(zero, scores.column("top_reason").unwrap().null_count());
}

#[test]
fn a_rerun_replaces_its_results_and_leaves_no_temporary_files() {
    let lake = tempfile::tempdir().unwrap();
    Org::ordinary(7).with_exec_spike().write(lake.path());
    let out = tempfile::tempdir().unwrap();
    assert_eq!(code(&run_on(lake.path(), out.path(), &[])), 0);
    assert_eq!(code(&run_on(lake.path(), out.path(), &[])), 0);
    let mut names: Vec<String> = std::fs::read_dir(window_dir(out.path()))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["findings.parquet", "run.json", "scores.parquet"]
    );
}

#[test]
fn a_new_identity_doing_what_its_team_does_is_scored_but_not_flagged() {
    let lake = tempfile::tempdir().unwrap();
    let mut org = Org::ordinary(8);
    for day in ["2026-11-03", "2026-11-04", "2026-11-05"] {
        for i in 0..8 {
            org.push(
                "newhire@example.com",
                "alpha",
                micros(date(day), 10, i * 5),
                "get pods",
                "alpha-app",
                "192.0.2.50",
            );
        }
    }
    org.write(lake.path());
    let out = tempfile::tempdir().unwrap();
    assert_eq!(
        code(&run_on(lake.path(), out.path(), &["--min-score", "0"])),
        0
    );
    let m = manifest(out.path());
    assert_eq!(m["identities"]["cold_start"], 1);
    assert_eq!(m["identities"]["scored"], 13);
    let users = finding_users(out.path());
    assert!(
        !users.iter().any(|u| u == "newhire@example.com"),
        "{users:?}"
    );
}

/// Reasons of every candidate finding (threshold 0) that mention `needle`.
fn reasons_mentioning(out: &std::path::Path, needle: &str) -> Vec<String> {
    let df = findings(out);
    (0..df.height())
        .flat_map(|i| list_strings(&df, "reasons", i))
        .filter(|r| r.contains(needle))
        .collect()
}

fn log_burst(org: &mut Org, users: std::ops::Range<usize>) {
    for u in users {
        for i in 0..40 {
            org.push(
                &format!("user{u:02}@example.com"),
                "alpha",
                micros(date("2026-11-04"), 15, i),
                "get pods/log",
                "alpha-app",
                &format!("192.0.2.{u}"),
            );
        }
    }
}

/// Scores an ordinary org in which `users` each read logs 40 times in one hour.
fn run_with_log_burst(users: std::ops::Range<usize>) -> tempfile::TempDir {
    let lake = tempfile::tempdir().unwrap();
    let mut org = Org::ordinary(9);
    log_burst(&mut org, users);
    org.write(lake.path());
    let out = tempfile::tempdir().unwrap();
    assert_eq!(
        code(&run_on(lake.path(), out.path(), &["--min-score", "0"])),
        0
    );
    out
}

#[test]
fn a_whole_team_surging_together_is_not_evidence_but_one_person_alone_is() {
    // Incident: all of team alpha reads logs 20x harder in the same hour.
    let out = run_with_log_burst(0..6);
    assert_eq!(
        reasons_mentioning(out.path(), "get pods/log"),
        Vec::<String>::new()
    );

    // The same burst by one person is evidence.
    let out = run_with_log_burst(0..1);
    assert!(!reasons_mentioning(out.path(), "40 × get pods/log").is_empty());
}

#[test]
fn peer_groups_come_from_the_context_table_when_given() {
    let lake = tempfile::tempdir().unwrap();
    Org::ordinary(10).with_exec_spike().write(lake.path());
    let ctx = lake.path().join("identities.csv");
    let mut text = String::from("user,group,valid_from,valid_to\n");
    for u in 0..12 {
        text.push_str(&format!(
            "user{u:02}@example.com,idp-{},2026-01-01T00:00:00Z,\n",
            if u < 6 { "red" } else { "blue" }
        ));
    }
    std::fs::write(&ctx, text).unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = run_on(
        lake.path(),
        out.path(),
        &["--context", ctx.to_str().unwrap()],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let df = findings(out.path());
    assert_eq!(
        df.column("peer_group").unwrap().str().unwrap().get(0),
        Some("idp-red")
    );
    assert_eq!(
        manifest(out.path())["identities"]["peer_source"]["context"],
        12
    );
}

#[test]
fn instants_narrow_the_window_to_hours() {
    let lake = tempfile::tempdir().unwrap();
    Org::ordinary(11).with_exec_spike().write(lake.path());
    let out = tempfile::tempdir().unwrap();
    let o = run_between(
        lake.path(),
        out.path(),
        "2026-11-05T12:00:00Z",
        "2026-11-05T18:00:00Z",
        &[],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let m = manifest(out.path());
    assert_eq!(m["window_start"], "2026-11-05T12:00:00Z");
    assert_eq!(
        finding_users(out.path()).first().map(String::as_str),
        Some("user00@example.com")
    );
}

/// The same events as `org`, shuffled and split into `files` files per day,
/// named so that they list in the reverse of the split order.
fn write_resplit(org: &Org, dir: &std::path::Path, files: usize, seed: u64) {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut by_day: std::collections::BTreeMap<chrono::NaiveDate, Vec<super::fixture::Ev>> =
        Default::default();
    for e in &org.events {
        let d = chrono::DateTime::from_timestamp_micros(e.t)
            .unwrap()
            .date_naive();
        by_day.entry(d).or_default().push(e.clone());
    }
    for (d, mut events) in by_day {
        events.shuffle(&mut rng);
        let per_file = events.len().div_ceil(files);
        for (i, chunk) in events.chunks(per_file).enumerate() {
            let name = format!("part-{}.parquet", files - i);
            super::fixture::write_partition(dir, d, &name, &mut super::fixture::frame(chunk));
        }
    }
}

/// Findings without `run_id` (which names the files read), as rows of text.
fn findings_without_run_id(out: &std::path::Path) -> Vec<String> {
    let df = findings(out).drop("run_id").unwrap();
    (0..df.height())
        .map(|i| format!("{:?}", df.get_row(i).unwrap().0))
        .collect()
}

#[test]
fn the_same_events_in_any_file_layout_give_the_same_findings() {
    let mut org = Org::ordinary(40).with_exec_spike();
    // A copy of one of user00's exec calls that disagrees with it (another
    // hour, another action): which copy counts must not follow file order.
    let mut copy = org
        .events
        .iter()
        .find(|e| e.action == "create pods/exec")
        .unwrap()
        .clone();
    copy.t += 3 * 3_600_000_000;
    copy.action = "get secrets".into();
    org.events.push(copy);
    // user07's last event of the window at one instant from two teams:
    // which group it gets must not follow file order either.
    let last = micros(date("2026-11-08"), 23, 59);
    for team in ["alpha", "beta"] {
        org.push(
            "user07@example.com",
            team,
            last,
            "get pods",
            "beta-app",
            "192.0.2.7",
        );
    }
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    org.write(a.path());
    write_resplit(&org, b.path(), 3, 7);
    let (out_a, out_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    assert!(code(&run_on(a.path(), out_a.path(), &[])) <= 1);
    assert!(code(&run_on(b.path(), out_b.path(), &[])) <= 1);
    let first = findings_without_run_id(out_a.path());
    assert!(!first.is_empty());
    assert_eq!(first, findings_without_run_id(out_b.path()));
    let (ma, mb) = (manifest(out_a.path()), manifest(out_b.path()));
    assert_eq!(ma["identities"], mb["identities"]);
    assert_eq!(ma["quality"], mb["quality"]);
    assert_eq!(ma["quality"]["skipped_duplicates"], 1);
}

#[test]
fn acting_as_a_cluster_admin_for_the_first_time_is_a_finding_naming_it() {
    // user02 does its ordinary work on 2026-11-05, but impersonating a
    // cluster admin, in a file of its own that carries `acting_as` (the
    // other files of the lake have no such column).
    // Forty people: in a smaller org nothing first-seen can look rare.
    let lake = tempfile::tempdir().unwrap();
    Org::of(9, 40, 1..3).write(lake.path());
    let mut extra = Org::of(1, 0, 0..0);
    let day = date("2026-11-05");
    for i in 0..6 {
        extra.push(
            "user02@example.com",
            "alpha",
            micros(day, 11, i * 7),
            "get pods",
            "alpha-app",
            "192.0.2.2",
        );
    }
    let admin = "system:serviceaccount:kube-system:cluster-admin";
    let mut df = super::fixture::frame(&extra.events);
    df.with_column(Column::new(
        "acting_as".into(),
        vec![admin; extra.events.len()],
    ))
    .unwrap();
    super::fixture::write_partition(lake.path(), day, "part-1.parquet", &mut df);
    let out = tempfile::tempdir().unwrap();
    let o = run_on(lake.path(), out.path(), &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let found = findings(out.path());
    let users = finding_users(out.path());
    let row = users
        .iter()
        .position(|u| u == "user02@example.com")
        .unwrap_or_else(|| panic!("impersonation is a finding: {users:?}"));
    let reasons = list_strings(&found, "reasons", row).join(" | ");
    assert!(
        reasons.contains(&format!("acting as {admin} [sensitive: T1078.004]")),
        "{reasons}"
    );
    // The technique is the finding's, though no action of it is sensitive.
    let techniques = list_strings(&found, "attack_techniques", row);
    assert!(
        techniques.contains(&"T1078.004".to_owned()),
        "{techniques:?}"
    );
}
