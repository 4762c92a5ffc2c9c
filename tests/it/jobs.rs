//! What `jobs/` gives a platform engineer: the cron wrapper, run for real
//! on the sample lake and with a stand-in binary for each exit code, and the
//! Kubernetes CronJob, parsed and its command run.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{code, stderr};

fn cron_wrapper(dir: &Path, out: &Path) -> Command {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs/cron/lakehound-daily");
    let mut command = Command::new(script);
    command
        .env("LAKEHOUND_BIN", env!("CARGO_BIN_EXE_lakehound"))
        .env("LAKEHOUND_LAKE", lakehound::app::sample_lake())
        .env("LAKEHOUND_OUT", out)
        .env("LAKEHOUND_LOCK", dir.join("lakehound.lock"))
        .env("LAKEHOUND_LOG", dir.join("log/lakehound.jsonl"));
    command
}

fn wrapper(dir: &Path, out: &Path, args: &[&str]) -> Output {
    cron_wrapper(dir, out)
        .args(args)
        .output()
        .expect("the wrapper runs")
}

/// A stand-in `lakehound` in `dir/bin` that appends its arguments to
/// `dir/args` and exits with `$STUB_EXIT`.
fn stand_in(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = bin.join("lakehound");
    let script = format!(
        "#!/bin/sh\necho \"$@\" >> {}\nexit \"${{STUB_EXIT:-0}}\"\n",
        dir.join("args").display()
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn yesterday() -> String {
    (chrono::Utc::now() - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string()
}

#[test]
fn the_cron_wrapper_scores_yesterday_passes_exit_codes_on_and_refuses_a_log_it_cannot_open() {
    let dir = tempfile::tempdir().unwrap();
    let bin = stand_in(dir.path());
    let run = |exit: &str| {
        cron_wrapper(dir.path(), &dir.path().join("out"))
            .env("LAKEHOUND_BIN", &bin)
            .env("STUB_EXIT", exit)
            .output()
            .unwrap()
    };
    let done = run("0");
    assert_eq!(code(&done), 0, "{}", stderr(&done));
    let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
    let day = yesterday();
    assert!(args.contains(&format!("--from {day} --to {day}")), "{args}");
    assert!(args.contains("--log-format json"), "{args}");
    let partial = run("1");
    assert_eq!(code(&partial), 1);
    assert!(stderr(&partial).contains("partial"), "{}", stderr(&partial));
    for exit in ["2", "3"] {
        assert_eq!(code(&run(exit)).to_string(), exit);
    }

    // A log whose folder cannot be made is a configuration error, before
    // anything runs; so is a lock file that cannot be opened.
    let not_a_folder = dir.path().join("file");
    std::fs::write(&not_a_folder, "").unwrap();
    let runs_before = std::fs::read_to_string(dir.path().join("args")).unwrap();
    let bad_log = cron_wrapper(dir.path(), &dir.path().join("out"))
        .env("LAKEHOUND_BIN", &bin)
        .env("LAKEHOUND_LOG", not_a_folder.join("lakehound.jsonl"))
        .output()
        .unwrap();
    assert_eq!(code(&bad_log), 2, "{}", stderr(&bad_log));
    assert!(
        stderr(&bad_log).contains("LAKEHOUND_LOG"),
        "{}",
        stderr(&bad_log)
    );
    let bad_lock = cron_wrapper(dir.path(), &dir.path().join("out"))
        .env("LAKEHOUND_BIN", &bin)
        .env("LAKEHOUND_LOCK", dir.path())
        .output()
        .unwrap();
    assert_eq!(code(&bad_lock), 2, "{}", stderr(&bad_lock));
    assert!(
        stderr(&bad_lock).contains("LAKEHOUND_LOCK"),
        "{}",
        stderr(&bad_lock)
    );
    let runs_after = std::fs::read_to_string(dir.path().join("args")).unwrap();
    assert_eq!(runs_before, runs_after, "nothing ran");
}

#[test]
fn the_cron_wrapper_scores_one_day_logs_json_and_never_overlaps_a_running_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("findings");
    let o = wrapper(dir.path(), &out, &["2026-11-04"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let window = out.join("window=20261104T000000Z_20261105T000000Z");
    assert!(window.join("run.json").is_file(), "one day's window");
    let log = std::fs::read_to_string(dir.path().join("log/lakehound.jsonl")).unwrap();
    assert!(!log.is_empty());
    for line in log.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
    }

    // A run still holding the lock: the next one exits 3, retry later.
    let held = std::fs::File::create(dir.path().join("lakehound.lock")).unwrap();
    held.lock().unwrap();
    let busy = wrapper(dir.path(), &out, &["2026-11-05"]);
    drop(held);
    assert_eq!(code(&busy), 3, "{}", stderr(&busy));
    assert!(
        stderr(&busy).contains("another run holds"),
        "{}",
        stderr(&busy)
    );
    assert!(!out
        .join("window=20261105T000000Z_20261106T000000Z")
        .exists());

    let bad = wrapper(dir.path(), &out, &["yesterday-ish"]);
    assert_eq!(code(&bad), 2, "{}", stderr(&bad));
}

#[test]
fn the_cronjob_runs_daily_alone_fails_at_once_on_exit_2_and_fits_the_benchmarks() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs/k8s/cronjob.yaml"),
    )
    .unwrap();
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let kind = |k: &str| {
        docs.iter()
            .find(|d| d["kind"] == k)
            .unwrap_or_else(|| panic!("no {k}"))
    };
    let (account, cron) = (kind("ServiceAccount"), kind("CronJob"));
    let spec = &cron["spec"];
    assert_eq!(spec["timeZone"], "Etc/UTC");
    assert_eq!(spec["concurrencyPolicy"], "Forbid");
    let job = &spec["jobTemplate"]["spec"];
    let rule = &job["podFailurePolicy"]["rules"][0];
    assert_eq!(rule["action"], "FailJob");
    assert_eq!(
        rule["onExitCodes"]["values"],
        serde_yaml::to_value([2]).unwrap()
    );
    assert!(
        job["backoffLimit"].as_u64().unwrap() >= 1,
        "exit 3 is retried"
    );
    let pod = &job["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    // IRSA: the pod runs as the annotated service account.
    assert_eq!(pod["serviceAccountName"], account["metadata"]["name"]);
    let role = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        .as_str()
        .unwrap();
    assert!(role.starts_with("arn:aws:iam::"), "{role}");
    let container = &pod["containers"][0];
    assert_eq!(rule["onExitCodes"]["containerName"], container["name"]);
    let script = container["args"][0].as_str().unwrap();
    assert_eq!(container["command"][1], "-c");
    assert_cronjob_command(script);
    let env: Vec<&str> = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for name in ["AWS_REGION", "LAKEHOUND_LAKE", "LAKEHOUND_OUT"] {
        assert!(env.contains(&name), "{name}");
    }
    // The benchmarks' peak (2.5 GB at 100,000 identities on S3) fits.
    let gib = |v: &serde_yaml::Value| {
        v.as_str()
            .unwrap()
            .trim_end_matches("Gi")
            .parse::<f64>()
            .unwrap()
    };
    let resources = &container["resources"];
    assert!(gib(&resources["requests"]["memory"]) >= 2.5);
    assert!(gib(&resources["limits"]["memory"]) <= 4.0);
}

/// The CronJob's command, run by sh with a stand-in `lakehound`: it scores
/// yesterday with JSON logs, a partial run (1) succeeds, 2 and 3 go on to
/// the pod failure policy and the back-off.
fn assert_cronjob_command(script: &str) {
    let dir = tempfile::tempdir().unwrap();
    let bin = stand_in(dir.path());
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap()
    );
    for (exit, expected) in [("0", 0), ("1", 0), ("2", 2), ("3", 3)] {
        let o = Command::new("/bin/sh")
            .args(["-c", script])
            .env("PATH", &path)
            .env("STUB_EXIT", exit)
            .output()
            .unwrap();
        assert_eq!(code(&o), expected, "exit {exit}: {}", stderr(&o));
        if exit == "1" {
            assert!(stderr(&o).contains("partial"), "{}", stderr(&o));
        }
    }
    let args = std::fs::read_to_string(dir.path().join("args")).unwrap();
    let day = yesterday();
    let first = args.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("run --from {day} --to {day}")),
        "{first}"
    );
    assert!(first.contains("--log-format json"), "{first}");
}
