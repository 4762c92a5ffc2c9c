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

/// A Parquet file whose footer is sound but whose first data pages are
/// overwritten: it passes the footer check, then fails to decode.
fn corrupt_data_pages(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).unwrap();
    // The footer (its length and the magic) is the last 8 bytes and the
    // metadata before them; the column chunks start after the leading "PAR1".
    let end = (bytes.len() / 2).min(2_000);
    for b in &mut bytes[8..end] {
        *b = 0xA5;
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_corrupt_data_page_skips_the_file_names_it_in_run_json_and_exits_1() {
    let lake = tempfile::tempdir().unwrap();
    Org::ordinary(24).with_exec_spike().write(lake.path());
    let mut df = frame(&Org::ordinary(25).events[..400]);
    let bad = write_partition(lake.path(), date("2026-11-03"), "part-9.parquet", &mut df);
    corrupt_data_pages(&bad);
    let out = tempfile::tempdir().unwrap();
    let o = run_on(lake.path(), out.path(), &[]);
    assert_eq!(
        code(&o),
        1,
        "a permanent fault is not 'retry': {}",
        stderr(&o)
    );
    let m = manifest(out.path());
    let failed = m["lake"]["failed_files"].to_string();
    assert!(failed.contains("dt=2026-11-03/part-9.parquet"), "{failed}");
    assert!(failed.contains("cannot be decoded"), "{failed}");
    assert!(m["problems"].to_string().contains("part-9.parquet"));
    // The rest of the lake, that day's other file included, was scored.
    assert_eq!(
        finding_users(out.path()).first().map(String::as_str),
        Some("user00@example.com")
    );
}

#[test]
fn rows_without_an_event_time_are_counted_and_skipped() {
    let lake = tempfile::tempdir().unwrap();
    Org::ordinary(26).write(lake.path());
    let mut df = frame(&Org::ordinary(27).events[..5]);
    let times = Int64Chunked::from_iter([None, Some(0i64), None, None, Some(0)])
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        .into_series()
        .with_name("event_time".into());
    df.with_column(times.into()).unwrap();
    write_partition(lake.path(), date("2026-11-04"), "part-9.parquet", &mut df);
    let out = tempfile::tempdir().unwrap();
    let o = run_on(lake.path(), out.path(), &[]);
    assert!(code(&o) <= 1, "{}", stderr(&o));
    let quality = &manifest(out.path())["quality"];
    assert_eq!(quality["skipped_null_time"], 3, "{quality}");
    // The two with a time (1970) are outside their partition's date.
    assert_eq!(quality["skipped_outside_partition"], 2, "{quality}");
}

#[test]
fn rows_without_a_tool_or_action_are_counted_and_skipped() {
    let lake = tempfile::tempdir().unwrap();
    Org::ordinary(30).write(lake.path());
    let mut df = frame(&Org::ordinary(31).events[..6]);
    let day = date("2026-11-04");
    let times = Int64Chunked::from_vec("event_time".into(), vec![micros(day, 10, 0); 6])
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        .into_series();
    let actions =
        StringChunked::from_iter([None, Some("get pods"), None, Some("get pods"), None, None]);
    df.with_column(times.into()).unwrap();
    df.with_column(actions.with_name("action".into()).into_series().into())
        .unwrap();
    write_partition(lake.path(), day, "part-9.parquet", &mut df);
    let out = tempfile::tempdir().unwrap();
    let o = run_on(lake.path(), out.path(), &[]);
    assert!(code(&o) <= 1, "{}", stderr(&o));
    assert_eq!(manifest(out.path())["quality"]["skipped_null_action"], 4);
}

#[test]
fn a_baseline_of_a_hundred_million_days_is_a_usage_error_not_a_panic() {
    let lake = tempfile::tempdir().unwrap();
    Org::ordinary(28).write(lake.path());
    let out = tempfile::tempdir().unwrap();
    let o = run_on(lake.path(), out.path(), &["--baseline-days", "100000000"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--baseline-days"), "{}", stderr(&o));
}

/// Values a fuzzer would try for a numeric or duration flag.
const ODD_VALUES: [&str; 14] = [
    "0",
    "-1",
    "1",
    "NaN",
    "inf",
    "-inf",
    "1e308",
    "18446744073709551616",
    "99999999999999999999999",
    "",
    "1.5",
    "١٢",
    "0x10",
    "9223372036854775807",
];

#[test]
fn random_flag_values_and_garbage_files_never_panic() {
    let lake = tempfile::tempdir().unwrap();
    Org::ordinary(29).with_exec_spike().write(lake.path());
    // Garbage beside good files: a non-Parquet file, an empty one, one cut short.
    let day = lake.path().join("events/dt=2026-11-04");
    std::fs::write(day.join("junk.parquet"), b"\x00\x01garbage").unwrap();
    std::fs::write(day.join("empty.parquet"), b"").unwrap();
    let good = std::fs::read(day.join("part-0.parquet")).unwrap();
    std::fs::write(day.join("cut.parquet"), &good[..good.len() / 2]).unwrap();
    let out = tempfile::tempdir().unwrap();
    let flags = [
        "--baseline-days",
        "--bucket",
        "--min-score",
        "--max-findings",
        "--show",
    ];
    let mut codes = Vec::new();
    for (i, flag) in flags.iter().enumerate() {
        for (j, value) in ODD_VALUES.iter().enumerate() {
            // A deterministic spread over flags and values keeps this short.
            if (i * 5 + j * 3) % 4 != 0 {
                continue;
            }
            let o = run_on(lake.path(), out.path(), &[flag, value]);
            let c = code(&o);
            assert!(
                (0..=3).contains(&c),
                "run {flag} {value:?} exited {c}: {}",
                stderr(&o)
            );
            codes.push(c);
        }
    }
    // Dates and instants fuzzed the same way, one bound at a time.
    for value in ODD_VALUES {
        for (from, to) in [(value, "2026-11-08"), ("2026-11-02", value)] {
            let c = code(&run_between(lake.path(), out.path(), from, to, &[]));
            assert!(
                (0..=3).contains(&c),
                "run --from {from:?} --to {to:?} exited {c}"
            );
            codes.push(c);
        }
    }
    for args in [
        vec![
            "outliers",
            "--input",
            day.join("junk.parquet").to_str().unwrap(),
            "--features",
            "a",
            "--out",
            "/dev/null",
        ],
        vec![
            "outliers",
            "--input",
            day.join("cut.parquet").to_str().unwrap(),
            "--features",
            "user",
            "--out",
            "/dev/null",
        ],
        vec![
            "ingest",
            "--format",
            "falco",
            "--input",
            day.join("junk.parquet").to_str().unwrap(),
            "--lake",
            out.path().to_str().unwrap(),
        ],
        vec![
            "eval",
            "--findings",
            day.join("junk.parquet").to_str().unwrap(),
        ],
        vec![
            "sample",
            "--out",
            out.path().to_str().unwrap(),
            "--users",
            "1e9",
        ],
    ] {
        let c = code(&lakehound(&args));
        assert!((0..=3).contains(&c), "{args:?} exited {c}");
    }
    // Usage errors among them, and none of the garbage files stopped a run.
    assert!(codes.contains(&2) && codes.contains(&1), "{codes:?}");
}
