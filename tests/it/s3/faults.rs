//! S3 faults through the proxy: what passes is retried and the result is
//! the clean run's; what will not pass exits 2 at once, naming the object;
//! a run killed while uploading, or racing another, never leaves a reader
//! half a run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::support::{code, stderr};

fn forward_all() -> proxy::Rule {
    Arc::new(|_: &Seen, _| Action::Forward)
}

/// The run folder and run id the pointer under `out` names.
fn pointed_run(server: &Server, out: &str) -> (String, String) {
    let pointer = server.pointer(out).expect("a pointer");
    (
        pointer["run"].as_str().unwrap().to_owned(),
        pointer["run_id"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn throttling_server_errors_resets_and_cut_bodies_are_retried_to_the_clean_result() {
    let server = server();
    let (_local, prefix) = s3_lake(&server, "retries");
    let lake = server.url(&format!("{prefix}/lake"));
    let clean_out = server.url(&format!("{prefix}/clean"));
    let clean = server.lakehound(&server.endpoint, &run_args(&lake, &clean_out, &[]));
    assert_eq!(code(&clean), 0, "{}", stderr(&clean));

    let cut_done = Arc::new(AtomicBool::new(false));
    let cut = Arc::clone(&cut_done);
    let proxy = Proxy::start(
        &server.endpoint,
        Arc::new(move |seen: &Seen, n| {
            if seen.is_get() && seen.range.is_some() && !cut.swap(true, Ordering::SeqCst) {
                return Action::Cut(10);
            }
            match n % 9 {
                1 => Action::Fail(503, "SlowDown"),
                4 => Action::Fail(500, "InternalError"),
                7 => Action::Reset,
                _ => Action::Forward,
            }
        }),
    );
    let out = server.url(&format!("{prefix}/faulty"));
    let o = server.lakehound(
        &proxy.endpoint,
        &run_args(&lake, &out, &["--s3-timeout", "10"]),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("retrying"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the body was cut off"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        comparable(&s3_findings(&server, &format!("{prefix}/faulty"))),
        comparable(&s3_findings(&server, &format!("{prefix}/clean")))
    );
}

#[test]
fn a_refusal_exits_2_at_once_naming_the_bucket_and_key() {
    let server = server();
    let (_local, prefix) = s3_lake(&server, "refused");
    let lake = server.url(&format!("{prefix}/lake"));
    let out = server.url(&format!("{prefix}/out"));
    // Reading event files is forbidden (an IAM policy without GetObject).
    let proxy = Proxy::start(
        &server.endpoint,
        Arc::new(|seen: &Seen, _| {
            if seen.is_get() && seen.path.contains("/events/") {
                Action::Fail(403, "AccessDenied")
            } else {
                Action::Forward
            }
        }),
    );
    let o = server.lakehound(&proxy.endpoint, &run_args(&lake, &out, &[]));
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("AccessDenied") && err.contains("(HTTP 403)"),
        "{err}"
    );
    let named = err
        .split_whitespace()
        .find(|w| w.starts_with(&format!("s3://{}/{prefix}/lake/events/dt=", server.bucket)))
        .unwrap_or_else(|| panic!("the object is named: {err}"));
    let key = named.trim_start_matches(&format!("s3://{}", server.bucket));
    assert_eq!(proxy.touching(key).len(), 1, "refused once, never retried");
    assert!(
        server.pointer(&format!("{prefix}/out")).is_none(),
        "no results"
    );

    let missing_bucket = server.lakehound(
        &server.endpoint,
        &run_args("s3://no-such-bucket-lakehound/lake", &out, &[]),
    );
    assert_eq!(code(&missing_bucket), 2, "{}", stderr(&missing_bucket));
    assert!(
        stderr(&missing_bucket).contains("NoSuchBucket"),
        "{}",
        stderr(&missing_bucket)
    );
    assert!(stderr(&missing_bucket).contains("s3://no-such-bucket-lakehound/"));

    let no_credentials = server
        .command(&server.endpoint, &run_args(&lake, &out, &[]))
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(code(&no_credentials), 2, "{}", stderr(&no_credentials));
    assert!(stderr(&no_credentials).contains("no AWS credentials were found"));

    let missing_lake = server.url(&format!("{prefix}/no-lake-here"));
    let o = server.lakehound(&server.endpoint, &run_args(&missing_lake, &out, &[]));
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains(&missing_lake), "{}", stderr(&o));
}

#[test]
fn a_server_that_never_answers_exits_3_after_bounded_tries() {
    let server = server();
    let (_local, prefix) = s3_lake(&server, "stalled");
    let proxy = Proxy::start(
        &server.endpoint,
        Arc::new(|_: &Seen, _| Action::Stall(Duration::from_secs(30))),
    );
    let started = Instant::now();
    let lake = server.url(&format!("{prefix}/lake"));
    let out = server.url(&format!("{prefix}/out"));
    let o = server.lakehound(
        &proxy.endpoint,
        &run_args(&lake, &out, &["--s3-timeout", "0.5", "--s3-attempts", "3"]),
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("gave up after 3 tries"),
        "{}",
        stderr(&o)
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(proxy.requests().len(), 3);
}

#[test]
fn a_run_killed_while_uploading_leaves_the_previous_results_readable() {
    let server = server();
    let (_local, prefix) = s3_lake(&server, "killed");
    let lake = server.url(&format!("{prefix}/lake"));
    let out_key = format!("{prefix}/out");
    let out = server.url(&out_key);
    let first = server.lakehound(&server.endpoint, &run_args(&lake, &out, &[]));
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let before = pointed_run(&server, &out_key);
    let findings_before = comparable(&s3_findings(&server, &out_key));

    // Uploads crawl; the run is killed once its first one has started.
    let proxy = Proxy::start(
        &server.endpoint,
        Arc::new(|seen: &Seen, _| {
            if seen.is_put() {
                Action::Delay(Duration::from_secs(2))
            } else {
                Action::Forward
            }
        }),
    );
    let mut child = server.spawn(
        &proxy.endpoint,
        &run_args(&lake, &out, &["--max-findings", "3"]),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while proxy.requests().iter().all(|s| !s.is_put()) {
        assert!(Instant::now() < deadline, "the run never uploaded");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before uploading"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(pointed_run(&server, &out_key), before);
    assert_eq!(comparable(&s3_findings(&server, &out_key)), findings_before);
    let eval = server.lakehound(
        &server.endpoint,
        &[
            "eval",
            "--labels",
            _local.path().join("labels.csv").to_str().unwrap(),
            "--findings",
            &out,
        ],
    );
    assert_eq!(code(&eval), 0, "{}", stderr(&eval));

    // The next complete run takes over, and the one before stays.
    let next = server.lakehound(
        &server.endpoint,
        &run_args(&lake, &out, &["--max-findings", "3"]),
    );
    assert_eq!(code(&next), 0, "{}", stderr(&next));
    let pointer = server.pointer(&out_key).unwrap();
    assert_ne!(pointer["run"].as_str().unwrap(), before.0);
    assert_eq!(pointer["previous"].as_str(), Some(before.0.as_str()));
    assert_eq!(s3_findings(&server, &out_key).height(), 3);
}

#[test]
fn of_two_runs_racing_on_a_window_the_last_to_finish_wins() {
    let server = server();
    let (_local, prefix) = s3_lake(&server, "race");
    let lake = server.url(&format!("{prefix}/lake"));
    let out_key = format!("{prefix}/out");
    let out = server.url(&out_key);
    // The slow run starts first and finishes last.
    let slow_proxy = Proxy::start(
        &server.endpoint,
        Arc::new(|seen: &Seen, _| {
            if seen.is_put() {
                Action::Delay(Duration::from_millis(1500))
            } else {
                Action::Forward
            }
        }),
    );
    let fast_proxy = Proxy::start(&server.endpoint, forward_all());
    let slow = server.spawn(
        &slow_proxy.endpoint,
        &run_args(&lake, &out, &["--max-findings", "4"]),
    );
    let fast = server.spawn(
        &fast_proxy.endpoint,
        &run_args(&lake, &out, &["--max-findings", "2"]),
    );
    let fast = fast.wait_with_output().unwrap();
    assert!(fast.status.success());
    server.assert_no_secret(&fast);
    let fast_pointer = pointed_run(&server, &out_key);
    let slow = slow.wait_with_output().unwrap();
    assert!(slow.status.success());
    server.assert_no_secret(&slow);
    let (run, _) = pointed_run(&server, &out_key);
    assert_ne!(run, fast_pointer.0, "the slow run finished last");
    assert_eq!(s3_findings(&server, &out_key).height(), 4);
    let pointer = server.pointer(&out_key).unwrap();
    assert_eq!(pointer["previous"].as_str(), Some(fast_pointer.0.as_str()));
    // Both runs are whole: three files each, neither pruned.
    for folder in [&run, &fast_pointer.0] {
        let files = server
            .list(&out_key)
            .into_iter()
            .filter(|(k, _)| k.contains(folder.as_str()))
            .count();
        assert_eq!(files, 3, "{folder}");
    }
}

#[test]
fn a_file_rewritten_while_a_run_reads_it_fails_the_run_for_a_retry_without_mixing_versions() {
    let server = server();
    let (local, prefix) = s3_lake(&server, "rewritten");
    let sizes: std::collections::HashMap<String, u64> =
        super::files_under(&local.path().join("events"))
            .into_iter()
            .map(|p| {
                let rel = p
                    .strip_prefix(local.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                (
                    format!("/{}/{prefix}/lake/{rel}", server.bucket),
                    std::fs::metadata(&p).unwrap().len(),
                )
            })
            .collect();
    // Reads of column chunks (ranges that stop short of the file's end,
    // where footers are) wait, so the file can change under them.
    let chunk_read = move |seen: &Seen| -> bool {
        let Some(size) = sizes.get(&seen.path) else {
            return false;
        };
        let end = seen
            .range
            .as_deref()
            .and_then(|r| r.rsplit('-').next())
            .and_then(|e| e.parse::<u64>().ok());
        seen.is_get() && end.is_some_and(|e| e + 1 < *size)
    };
    let delayed = chunk_read.clone();
    let proxy = Proxy::start(
        &server.endpoint,
        Arc::new(move |seen: &Seen, _| {
            if delayed(seen) {
                Action::Delay(Duration::from_secs(2))
            } else {
                Action::Forward
            }
        }),
    );
    let lake = server.url(&format!("{prefix}/lake"));
    let out = server.url(&format!("{prefix}/out"));
    let mut child = server.spawn(&proxy.endpoint, &run_args(&lake, &out, &[]));
    let deadline = Instant::now() + Duration::from_secs(120);
    let first = loop {
        if let Some(seen) = proxy.requests().into_iter().find(|s| chunk_read(s)) {
            break seen;
        }
        assert!(
            Instant::now() < deadline && child.try_wait().unwrap().is_none(),
            "no chunk read"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    // An ingest's re-attribution, say, rewrites the file: same rows, new bytes.
    let key = first
        .path
        .trim_start_matches(&format!("/{}/", server.bucket))
        .to_owned();
    let rel = key.trim_start_matches(&format!("{prefix}/lake/"));
    let mut df = parquet(std::fs::read(local.path().join(rel)).unwrap()).reverse();
    let mut bytes = Vec::new();
    polars::prelude::ParquetWriter::new(&mut bytes)
        .finish(&mut df)
        .unwrap();
    server.put(&key, bytes);
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("changed while it was read"), "{err}");
    assert!(
        server.pointer(&format!("{prefix}/out")).is_none(),
        "no results from mixed versions"
    );
}

#[test]
fn the_s3_ingest_lease_keeps_a_second_ingest_out_and_a_crashed_ones_is_taken_over() {
    let server = server();
    let sample = sample_lake(true);
    let prefix = server.prefix("lease");
    let lake = server.url(&format!("{prefix}/lake"));
    let lock = format!("{prefix}/lake/_ingest/lock");
    let input = sample.path().join("raw/gcp-audit");
    let ingest = || {
        server.lakehound(
            &server.endpoint,
            &[
                "ingest",
                "--format",
                "gcp-audit",
                "--lake",
                &lake,
                "--input",
                input.to_str().unwrap(),
            ],
        )
    };
    let lease = |age_secs: i64| {
        let taken = chrono::Utc::now().timestamp() - age_secs;
        format!(r#"{{"run_id":"another-ingest","taken":{taken}}}"#).into_bytes()
    };
    // Another ingest holds a live lease: busy, retry later.
    server.put(&lock, lease(60));
    let busy = ingest();
    assert_eq!(code(&busy), 3, "{}", stderr(&busy));
    assert!(
        stderr(&busy).contains("another `lakehound ingest`"),
        "{}",
        stderr(&busy)
    );
    let holder: serde_json::Value = serde_json::from_slice(&server.get(&lock).unwrap()).unwrap();
    assert_eq!(
        holder["run_id"], "another-ingest",
        "the holder's lease is untouched"
    );
    // A crashed ingest's lease (7 hours old) is taken over, then released.
    server.put(&lock, lease(7 * 3600));
    let taken = ingest();
    assert_eq!(code(&taken), 0, "{}", stderr(&taken));
    assert!(server.get(&lock).is_none(), "the lease is released");
}
