//! What `jobs/` gives a platform engineer: the cron wrapper, run for real
//! on the sample lake, and the Kubernetes CronJob, parsed.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{code, stderr};

fn wrapper(dir: &Path, out: &Path, args: &[&str]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("jobs/cron/lakehound-daily");
    Command::new(script)
        .args(args)
        .env("LAKEHOUND_BIN", env!("CARGO_BIN_EXE_lakehound"))
        .env("LAKEHOUND_LAKE", lakehound::app::sample_lake())
        .env("LAKEHOUND_OUT", out)
        .env("LAKEHOUND_LOCK", dir.join("lakehound.lock"))
        .env("LAKEHOUND_LOG", dir.join("log/lakehound.jsonl"))
        .output()
        .expect("the wrapper runs")
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
    for needed in [
        "--log-format json",
        "--from \"$d\" --to \"$d\"",
        "-eq 1",
        "exit 0",
    ] {
        assert!(script.contains(needed), "{needed} in {script}");
    }
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
