//! Every kind of bad input gets a clear message or a counted skip.

use polars::prelude::*;

use super::fixture::{date, frame, micros, write_partition, Org};
use super::support::*;

#[test]
fn a_corrupt_file_outside_the_range_is_never_read() {
    let lake = tempfile::tempdir().unwrap();
    Org::ordinary(20).with_exec_spike().write(lake.path());
    // Sorted first in path order (so a scan would infer its schema from it),
    // and the day just before the baseline starts.
    for d in ["2026-01-01", "2026-10-04"] {
        let dir = lake.path().join(format!("events/dt={d}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("part-0.parquet"), b"PAR1 this is not parquet").unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    let o = run_on(lake.path(), out.path(), &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let m = manifest(out.path());
    assert!(m["lake"]["failed_files"].as_array().unwrap().is_empty());
    assert!(findings(out.path()).height() >= 1);
}

#[test]
fn a_corrupt_file_inside_the_range_is_skipped_named_and_exits_1() {
    let lake = tempfile::tempdir().unwrap();
    Org::ordinary(21).with_exec_spike().write(lake.path());
    let bad = lake.path().join("events/dt=2026-11-03/part-1.parquet");
    std::fs::write(&bad, b"PAR1 truncated").unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = run_on(lake.path(), out.path(), &[]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let m = manifest(out.path());
    let problems = m["problems"].to_string();
    assert!(
        problems.contains("dt=2026-11-03/part-1.parquet"),
        "{problems}"
    );
    assert!(
        problems.contains("not a readable Parquet file"),
        "{problems}"
    );
    // The rest of the lake was still scored.
    assert_eq!(
        finding_users(out.path()).first().map(String::as_str),
        Some("user00@example.com")
    );
}

#[test]
fn a_wrong_column_type_names_the_file_and_column() {
    let lake = tempfile::tempdir().unwrap();
    Org::ordinary(22).write(lake.path());
    let mut df = frame(&Org::ordinary(22).events[..3]);
    df.with_column(Column::new("user".into(), [1i64, 2, 3]))
        .unwrap();
    write_partition(lake.path(), date("2026-11-04"), "part-9.parquet", &mut df);
    let out = tempfile::tempdir().unwrap();
    let o = run_on(lake.path(), out.path(), &[]);
    assert_eq!(code(&o), 1);
    let problems = manifest(out.path())["problems"].to_string();
    assert!(
        problems.contains("part-9.parquet") && problems.contains("column `user` has type i64"),
        "{problems}"
    );
}

#[test]
fn a_missing_required_column_names_the_column() {
    let lake = tempfile::tempdir().unwrap();
    Org::ordinary(23).write(lake.path());
    let mut df = frame(&Org::ordinary(23).events[..3])
        .drop("action")
        .unwrap();
    write_partition(lake.path(), date("2026-11-04"), "part-9.parquet", &mut df);
    let out = tempfile::tempdir().unwrap();
    let o = run_on(lake.path(), out.path(), &[]);
    assert_eq!(code(&o), 1);
    let problems = manifest(out.path())["problems"].to_string();
    assert!(
        problems.contains("required column `action` is missing"),
        "{problems}"
    );
}

#[test]
fn a_partition_with_no_files_is_recorded() {
    let lake = tempfile::tempdir().unwrap();
    Org::ordinary(24).write(lake.path());
    std::fs::create_dir_all(lake.path().join("events/dt=2026-11-07")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = run_on(lake.path(), out.path(), &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        manifest(out.path())["lake"]["empty_partitions"],
        serde_json::json!(["2026-11-07"])
    );
    assert!(
        stderr(&o).contains("hold no Parquet file"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn null_users_are_counted_and_skipped() {
    let lake = tempfile::tempdir().unwrap();
    let mut org = Org::ordinary(25);
    for e in org.events.iter_mut().take(7) {
        e.user = None;
    }
    org.write(lake.path());
    let out = tempfile::tempdir().unwrap();
    assert_eq!(code(&run_on(lake.path(), out.path(), &[])), 0);
    let q = &manifest(out.path())["quality"];
    assert_eq!(q["skipped_null_user"], 7);
    assert_eq!(q["events"], (org.events.len() - 7) as u64);
}

#[test]
fn events_outside_their_partition_date_are_counted_and_skipped() {
    let lake = tempfile::tempdir().unwrap();
    let org = Org::ordinary(26);
    org.write(lake.path());
    // Five events stamped 2026-11-03 filed under dt=2026-11-04.
    let mut stray: Vec<_> = org.events[..5].to_vec();
    for (i, e) in stray.iter_mut().enumerate() {
        e.t = micros(date("2026-11-03"), 10, i as u32);
        e.event_id = format!("stray{i}");
    }
    write_partition(
        lake.path(),
        date("2026-11-04"),
        "part-9.parquet",
        &mut frame(&stray),
    );
    let out = tempfile::tempdir().unwrap();
    assert_eq!(code(&run_on(lake.path(), out.path(), &[])), 0);
    let q = &manifest(out.path())["quality"];
    assert_eq!(q["skipped_outside_partition"], 5);
    assert_eq!(q["events"], org.events.len() as u64);
}

#[test]
fn duplicate_event_ids_count_once() {
    let lake = tempfile::tempdir().unwrap();
    let org = Org::ordinary(27).with_exec_spike();
    org.write(lake.path());
    // The exec burst delivered twice (a re-sent file).
    let burst: Vec<_> = org
        .events
        .iter()
        .filter(|e| e.action == "create pods/exec")
        .cloned()
        .collect();
    write_partition(
        lake.path(),
        date("2026-11-05"),
        "part-redelivered.parquet",
        &mut frame(&burst),
    );
    let out = tempfile::tempdir().unwrap();
    assert_eq!(code(&run_on(lake.path(), out.path(), &[])), 0);
    let q = &manifest(out.path())["quality"];
    assert_eq!(q["skipped_duplicates"], 50);
    let df = findings(out.path());
    let reasons = df
        .column("reasons")
        .unwrap()
        .list()
        .unwrap()
        .get_as_series(0)
        .unwrap();
    assert!(reasons
        .str()
        .unwrap()
        .iter()
        .flatten()
        .any(|r| r.starts_with("50 × create pods/exec")));
}

#[test]
fn an_event_id_reused_by_another_identity_is_not_a_duplicate() {
    let lake = tempfile::tempdir().unwrap();
    let org = Org::ordinary(29);
    org.write(lake.path());
    // Another identity's events that happen to reuse the same ids: a source
    // bug, not a re-delivery, so neither identity loses events to it.
    let day = date("2026-11-05");
    let reused: Vec<_> = org
        .events
        .iter()
        .filter(|e| e.t >= micros(day, 0, 0) && e.t < micros(date("2026-11-06"), 0, 0))
        .take(30)
        .cloned()
        .map(|mut e| {
            e.user = Some("someone.else@example.com".into());
            e
        })
        .collect();
    assert_eq!(reused.len(), 30);
    write_partition(lake.path(), day, "part-other.parquet", &mut frame(&reused));
    let out = tempfile::tempdir().unwrap();
    assert_eq!(code(&run_on(lake.path(), out.path(), &[])), 0);
    let q = &manifest(out.path())["quality"];
    assert_eq!(q["skipped_duplicates"], 0);
    assert_eq!(q["events"], org.events.len() as u64 + 30);
}

#[test]
fn an_empty_scoring_window_exits_1_and_says_so() {
    let lake = tempfile::tempdir().unwrap();
    let mut org = Org::ordinary(28);
    org.events
        .retain(|e| e.t < micros(date("2026-11-02"), 0, 0));
    org.write(lake.path());
    let out = tempfile::tempdir().unwrap();
    let o = run_on(lake.path(), out.path(), &[]);
    assert_eq!(code(&o), 1);
    assert!(manifest(out.path())["problems"]
        .to_string()
        .contains("no events in the scoring window"));
}

#[test]
fn a_lake_with_no_partitions_in_range_exits_1() {
    let lake = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(lake.path().join("events")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = run_on(lake.path(), out.path(), &[]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_eq!(
        manifest(out.path())["lake"]["missing_partitions"]
            .as_array()
            .unwrap()
            .len(),
        35
    );
}
