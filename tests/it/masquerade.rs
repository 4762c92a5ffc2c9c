//! Someone else at the keyboard, in a command history: SEA-like masquerade
//! data (benches/masquerade.py: 50 people, an hour is a block of 100 shell
//! commands, some blocks typed by someone else). Findings must cover the
//! masquerade hours, not each person's whole window: the issue measured
//! 22% of masquerade hours at 15.7% of clean hours on the real set, with
//! findings spanning every person's five days.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use polars::prelude::*;

use crate::support::{code, findings, python, run_between, stderr};

/// One hour of one person in the test period, and whether someone else
/// typed it.
struct Block {
    user: String,
    start: i64,
    masquerade: bool,
}

/// The test blocks of `blocks.csv` (user,block,start,end,masquerade,...):
/// the 100 after each person's 50 training blocks.
fn test_blocks(lake: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(lake.join("blocks.csv")).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let block: u32 = f[1].parse().unwrap();
            (block >= 50).then(|| Block {
                user: f[0].to_owned(),
                start: chrono::DateTime::parse_from_rfc3339(f[2])
                    .unwrap()
                    .timestamp_micros(),
                masquerade: f[4] == "1",
            })
        })
        .collect()
}

/// Per user, the spans of its findings.
fn spans(df: &DataFrame) -> HashMap<String, Vec<(i64, i64)>> {
    let users = df.column("user").unwrap().str().unwrap();
    let micros = |name: &str| -> Vec<i64> {
        let c = df.column(name).unwrap().cast(&DataType::Int64).unwrap();
        c.i64().unwrap().into_no_null_iter().collect()
    };
    let (starts, ends) = (micros("window_start"), micros("window_end"));
    let mut out: HashMap<String, Vec<(i64, i64)>> = HashMap::new();
    for (i, user) in users.iter().enumerate() {
        let user = user.expect("findings name their user");
        out.entry(user.to_owned())
            .or_default()
            .push((starts[i], ends[i]));
    }
    out
}

#[test]
fn findings_cover_the_masquerade_hours_and_few_of_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/masquerade.py");
    // Seed 7: the shell weighing was chosen on seeds 1-3.
    let made = Command::new(python())
        .args([
            script.to_str().unwrap(),
            "gen",
            "--seed",
            "7",
            "--layout",
            "continuous",
        ])
        .args(["--preset", "sea", "--out", lake.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let out = dir.path().join("out");
    let o = run_between(
        &lake,
        &out,
        "2026-11-02",
        "2026-11-06",
        &["--baseline-days", "3"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));

    let spans = spans(&findings(&out));
    let blocks = test_blocks(&lake);
    let covered = |b: &Block| {
        spans
            .get(&b.user)
            .is_some_and(|s| s.iter().any(|(from, to)| b.start >= *from && b.start < *to))
    };
    let share = |masquerade: bool| {
        let of: Vec<&Block> = blocks
            .iter()
            .filter(|b| b.masquerade == masquerade)
            .collect();
        of.iter().filter(|b| covered(b)).count() as f64 / of.len() as f64
    };
    let (hits, false_alarms) = (share(true), share(false));
    // Seeds 1-3 measured 0.45-0.78 of masquerade hours at 0.04-0.07 of
    // clean ones; before, findings covered 51-67% of clean hours.
    assert!(hits >= 0.35, "masquerade hours covered: {hits:.3}");
    assert!(
        false_alarms <= 0.10,
        "clean hours covered: {false_alarms:.3}"
    );
}
