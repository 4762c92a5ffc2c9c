//! Exit codes, help and argument checking.

use super::fixture::Org;
use super::support::*;

#[test]
fn help_documents_the_exit_codes() {
    let o = lakehound(&["run", "--help"]);
    assert_eq!(code(&o), 0);
    let help = stdout(&o);
    for needle in [
        "Exit codes",
        "0  finished",
        "2  usage",
        "3  the environment failed",
        "--baseline-days",
        "--bucket",
    ] {
        assert!(help.contains(needle), "missing {needle:?} in\n{help}");
    }
}

#[test]
fn unknown_flag_is_a_usage_error() {
    assert_eq!(code(&lakehound(&["run", "--frobnicate"])), 2);
}

#[test]
fn lake_without_dates_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = lakehound(&["run", "--lake", dir.path().to_str().unwrap(), "--out", "x"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("--from/--to"), "{}", stderr(&o));
}

#[test]
fn to_before_from_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = lakehound(&[
        "run",
        "--lake",
        dir.path().to_str().unwrap(),
        "--from",
        "2026-11-08",
        "--to",
        "2026-11-02",
        "--out",
        "x",
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("--to must come after --from"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn lake_that_does_not_exist_is_a_usage_error_naming_it() {
    let o = lakehound(&[
        "run",
        "--lake",
        "/nonexistent/lake",
        "--from",
        "2026-11-02",
        "--to",
        "2026-11-08",
        "--out",
        "x",
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("/nonexistent/lake does not exist"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unparseable_date_is_a_usage_error() {
    let o = lakehound(&[
        "run",
        "--lake",
        ".",
        "--from",
        "yesterday",
        "--to",
        "2026-11-08",
        "--out",
        "x",
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("RFC 3339"), "{}", stderr(&o));
}

/// Runs on a fixture lake with a single model file `spike.toml` holding `model`.
fn run_with_model(model: &str) -> std::process::Output {
    let lake = tempfile::tempdir().unwrap();
    Org::ordinary(1).write(lake.path());
    let models = tempfile::tempdir().unwrap();
    std::fs::write(models.path().join("spike.toml"), model).unwrap();
    let out = tempfile::tempdir().unwrap();
    run_on(
        lake.path(),
        out.path(),
        &["--models", models.path().to_str().unwrap()],
    )
}

#[test]
fn model_with_unknown_key_names_file_line_and_column() {
    let o = run_with_model(
        "name = \"spike\"\n[detector]\nkind = \"count_spike\"\nparams = { prior_bukets = 3.0 }\n",
    );
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(
        err.contains("spike.toml") && err.contains("line 4") && err.contains("prior_bukets"),
        "{err}"
    );
}

#[test]
fn a_bad_sensitivity_table_names_the_file_and_rule() {
    let lake = tempfile::tempdir().unwrap();
    Org::ordinary(1).write(lake.path());
    let models = tempfile::tempdir().unwrap();
    std::fs::write(
        models.path().join("sensitivity.toml"),
        "[[rule]]\nname = \"iam\"\nactions = [\"iam:\"]\ntechnique = \"T98\"\nweight = 3.0\n",
    )
    .unwrap();
    let spike = "name = \"spike\"\n[detector]\nkind = \"count_spike\"\n";
    std::fs::write(models.path().join("spike.toml"), spike).unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = run_on(
        lake.path(),
        out.path(),
        &["--models", models.path().to_str().unwrap()],
    );
    assert_eq!(code(&o), 2);
    let err = stderr(&o);
    assert!(
        err.contains("sensitivity.toml") && err.contains("\"iam\"") && err.contains("MITRE"),
        "{err}"
    );
}

#[test]
fn model_with_invalid_value_is_a_usage_error() {
    let o = run_with_model(
        "name = \"spike\"\n[detector]\nkind = \"count_spike\"\nparams = { max_shape = -1.0 }\n",
    );
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("max_shape must be > 0"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let lake = tempfile::tempdir().unwrap();
    Org::ordinary(2).write(lake.path());
    let out = tempfile::tempdir().unwrap();
    let o = run_on(lake.path(), out.path(), &["--log-format", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(!err.trim().is_empty());
    for line in err.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|_| panic!("not JSON: {line}"));
    }
}

#[test]
fn with_json_logs_a_failure_is_a_json_line_too() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-lake");
    let o = run_on(&missing, &dir.path().join("out"), &["--log-format", "json"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stderr(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let last = lines.last().expect("the failure is logged");
    assert_eq!(last["level"], "ERROR", "{last}");
    assert_eq!(last["fields"]["exit_code"], 2, "{last}");
    let error = last["fields"]["error"].as_str().unwrap();
    assert!(error.contains("no-lake"), "{error}");
}

#[test]
fn a_from_instant_inside_a_bucket_is_a_usage_error_naming_the_boundary() {
    let lake = tempfile::tempdir().unwrap();
    super::fixture::Org::ordinary(12).write(lake.path());
    let out = tempfile::tempdir().unwrap();
    let o = run_between(
        lake.path(),
        out.path(),
        "2026-11-05T12:30:00Z",
        "2026-11-05T18:00:00Z",
        &[],
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("2026-11-05T12:00:00Z"),
        "{}",
        stderr(&o)
    );
}
