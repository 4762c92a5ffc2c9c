//! `lakehound ingest`: raw platform logs into the lake, against our own
//! fixtures and the real public corpora in ../shared/datasets.

use std::io::Write;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::support::{code, lakehound, shared_datasets, stderr, stdout};

fn ingest(format: &str, inputs: &[&Path], lake: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "ingest",
        "--format",
        format,
        "--lake",
        lake.to_str().unwrap(),
        "--input",
    ];
    args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    args.extend_from_slice(extra);
    lakehound(&args)
}

/// The last run recorded in the lake's ingest manifest.
fn last_run(lake: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(lake.join("_ingest/manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    manifest["runs"].as_array().unwrap().last().unwrap().clone()
}

fn total(counts: &serde_json::Value) -> u64 {
    counts
        .as_object()
        .map_or(0, |m| m.values().map(|v| v.as_u64().unwrap()).sum())
}

fn lake_events(lake: &Path) -> DataFrame {
    let files: Vec<PlRefPath> = glob(lake, "events")
        .into_iter()
        .map(|p| PlRefPath::new(p.to_string_lossy().as_ref()))
        .collect();
    let frames: Vec<LazyFrame> = files
        .into_iter()
        .map(|f| LazyFrame::scan_parquet(f, ScanArgsParquet::default()).unwrap())
        .collect();
    concat(
        frames,
        UnionArgs {
            diagonal: true,
            ..Default::default()
        },
    )
    .unwrap()
    .collect()
    .unwrap()
}

/// Files under `lake/dir`, recursively.
fn glob(lake: &Path, dir: &str) -> Vec<PathBuf> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out)
            } else {
                out.push(p)
            }
        }
    }
    let mut out = Vec::new();
    walk(&lake.join(dir), &mut out);
    out.sort();
    out
}

fn column_strings(df: &DataFrame, name: &str) -> Vec<Option<String>> {
    df.column(name)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|s| s.map(str::to_owned))
        .collect()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// One audit event line; `action` as the lake names it (`create pods/exec`).
fn k8s(audit_id: &str, time: &str, user: &str, action: &str, ns: &str, name: &str) -> String {
    let (verb, resource) = action.split_once(' ').unwrap();
    let (resource, sub) = match resource.split_once('/') {
        Some((r, s)) => (r, format!(r#","subresource":"{s}""#)),
        None => (resource, String::new()),
    };
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{audit_id}","stage":"ResponseComplete","verb":"{verb}","user":{{"username":"{user}","groups":["system:authenticated"]}},"sourceIPs":["10.0.0.7"],"userAgent":"kubectl/v1.29.1 (linux/amd64) kubernetes/bc401b9","objectRef":{{"resource":"{resource}","namespace":"{ns}","name":"{name}"{sub}}},"requestReceivedTimestamp":"{time}"}}"#
    )
}

#[test]
fn bad_records_are_quarantined_with_file_line_and_reason_and_the_rest_ingested() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("audit");
    let good = |i: u32| {
        k8s(
            &format!("a{i}"),
            "2026-11-03T10:00:00Z",
            "oidc:alice@example.com",
            "get secrets",
            "payments",
            "db",
        )
    };
    let huge = format!(r#"{{"padding":"{}"}}"#, "x".repeat(2 << 20));
    let lines = [
        good(1),
        "{not json".to_owned(),
        r#"{"auditID":"a2","verb":"get","objectRef":{"resource":"pods"},"requestReceivedTimestamp":"2026-11-03T10:00:00Z"}"#.to_owned(),
        r#"{"auditID":"a3","verb":"get","user":{"username":"bob"},"objectRef":{"resource":"pods"},"requestReceivedTimestamp":"03/11/2026 10:00"}"#.to_owned(),
        r#"{"auditID":"a4","verb":["get"],"user":{"username":"bob"},"requestReceivedTimestamp":"2026-11-03T10:00:00Z"}"#.to_owned(),
        huge,
        good(5),
    ];
    write(&input.join("kube-apiserver-audit.log"), &lines.join("\n"));
    // A gzip cut off mid-stream: what decoded before the damage is kept.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 10..60 {
        writeln!(gz, "{}", good(i)).unwrap();
    }
    let bytes = gz.finish().unwrap();
    std::fs::write(
        input.join("audit-2026110311.log.gz"),
        &bytes[..bytes.len() * 2 / 3],
    )
    .unwrap();

    let lake = dir.path().join("lake");
    let o = ingest("k8s-audit", &[&input], &lake, &[]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let run = last_run(&lake);
    let quarantined = &run["quarantined"];
    assert_eq!(quarantined["missing required field"], 1);
    assert_eq!(quarantined["bad timestamp"], 1);
    assert_eq!(quarantined["record too large"], 1);
    assert_eq!(quarantined["truncated or corrupt gzip"], 1);
    assert!(
        quarantined["wrong type or malformed JSON"]
            .as_u64()
            .unwrap()
            >= 2
    );
    let written = run["events_written"].as_u64().unwrap();
    assert!(
        written > 2 && written < 52,
        "{written} events from the good lines and the readable gzip part"
    );

    let entries: Vec<serde_json::Value> = glob(&lake, "_quarantine")
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let find = |class: &str| {
        entries
            .iter()
            .find(|e| e["class"] == class)
            .unwrap()
            .clone()
    };
    let missing = find("missing required field");
    assert!(missing["file"]
        .as_str()
        .unwrap()
        .ends_with("kube-apiserver-audit.log"));
    assert_eq!(missing["position"], "line 3");
    assert!(missing["detail"]
        .as_str()
        .unwrap()
        .contains("user.username"));
    assert_eq!(find("record too large")["position"], "line 6");
    assert_eq!(find("bad timestamp")["position"], "line 4");
    assert!(stdout(&o).contains("quarantined 1: bad timestamp"));

    let df = lake_events(&lake);
    assert_eq!(df.height() as u64, written);
    assert!(column_strings(&df, "user")
        .iter()
        .all(|u| u.as_deref() == Some("alice@example.com")));
    assert!(glob(&lake, "events").iter().all(|p| !p
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with('.')));
}

#[test]
fn reingesting_the_same_inputs_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("audit.log");
    let lines: Vec<String> = (0..40)
        .map(|i| {
            k8s(
                &format!("r{i}"),
                &format!("2026-11-0{}T1{}:00:00Z", 2 + i % 3, i % 10),
                "alice@example.com",
                "list pods",
                "web",
                "x",
            )
        })
        .collect();
    write(&input, &lines.join("\n"));
    let lake = dir.path().join("lake");
    assert_eq!(code(&ingest("k8s-audit", &[&input], &lake, &[])), 0);
    assert_eq!(last_run(&lake)["events_written"], 40);
    assert_eq!(lake_events(&lake).height(), 40);

    // Same file again: the manifest skips it.
    assert_eq!(code(&ingest("k8s-audit", &[&input], &lake, &[])), 0);
    let run = last_run(&lake);
    assert_eq!(
        (
            run["files_already_ingested"].as_u64(),
            run["events_written"].as_u64()
        ),
        (Some(1), Some(0))
    );

    // The same records in a new file (a re-delivery): read, but every one is a duplicate.
    let copy = dir.path().join("audit-redelivered.log");
    std::fs::copy(&input, &copy).unwrap();
    assert_eq!(code(&ingest("k8s-audit", &[&copy], &lake, &[])), 0);
    let run = last_run(&lake);
    assert_eq!(
        (
            run["events_written"].as_u64(),
            run["duplicates_dropped"].as_u64()
        ),
        (Some(0), Some(40))
    );
    assert_eq!(lake_events(&lake).height(), 40);
}

#[test]
fn falco_processes_in_an_exec_session_count_for_the_person_who_opened_it() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    write(
        &audit,
        &k8s(
            "x1",
            "2026-11-03T10:00:00Z",
            "oidc:alice@example.com",
            "create pods/exec",
            "payments",
            "api-0",
        ),
    );
    let falco_line = |t: &str, pod: &str, process: &str, sid: u32| {
        format!(
            r#"{{"hostname":"node-1","priority":"Notice","rule":"Terminal shell in container","source":"syscall","time":"{t}","output_fields":{{"k8s.ns.name":"payments","k8s.pod.name":"{pod}","proc.name":"{process}","proc.cmdline":"{process}","proc.sid":{sid},"user.name":"root"}}}}"#
        )
    };
    let falco = dir.path().join("falco.json");
    write(
        &falco,
        &[
            falco_line("2026-11-03T10:00:02.000000000Z", "api-0", "bash", 7),
            falco_line("2026-11-03T10:01:00.000000000Z", "api-0", "curl", 7),
            falco_line("2026-11-03T10:01:00.000000000Z", "api-1", "sh", 9),
        ]
        .join("\n"),
    );
    let lake = dir.path().join("lake");
    assert_eq!(
        code(&ingest(
            "k8s-audit",
            &[&audit],
            &lake,
            &["--cluster-id", "prod-eu"]
        )),
        0
    );
    let o = ingest("falco", &[&falco], &lake, &["--cluster-id", "prod-eu"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(last_run(&lake)["attributed_to_sessions"], 2);
    let df = lake_events(&lake)
        .lazy()
        .filter(col("source").eq(lit("falco")))
        .sort(["pod", "action"], Default::default())
        .collect()
        .unwrap();
    let users = column_strings(&df, "user");
    let actions = column_strings(&df, "action");
    assert_eq!(
        actions,
        [Some("bash".into()), Some("curl".into()), Some("sh".into())]
    );
    assert_eq!(
        users,
        [
            Some("alice@example.com".into()),
            Some("alice@example.com".into()),
            Some("pod:payments/api-1".into())
        ]
    );
}

/// Every record of a corpus either becomes an event (or a counted skip or
/// duplicate) or is quarantined with a reason; returns the manifest's run.
fn every_record_accounted_for(
    format: &str,
    inputs: &[&Path],
    expected_records: u64,
    lake: &Path,
) -> serde_json::Value {
    let o = ingest(format, inputs, lake, &[]);
    assert!(matches!(code(&o), 0 | 1), "{}", stderr(&o));
    let run = last_run(lake);
    let records = run["records"].as_u64().unwrap();
    let accounted = run["events_written"].as_u64().unwrap()
        + run["duplicates_dropped"].as_u64().unwrap()
        + total(&run["skipped"])
        + total(&run["quarantined"]);
    assert_eq!(records, expected_records, "{format}: records read");
    assert_eq!(accounted, records, "{format}: {run}");
    eprintln!("{format} {}: {run}", inputs[0].display());
    run
}

#[test]
fn shared_corpus_cloudtrail_normalises_with_people_and_roles_resolved() {
    let Some(shared) = shared_datasets("the public-corpus ingest checks") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let invictus = shared.join("invictus_aws_cloudtrail_stratus/CloudTrail");
    let expected: u64 = std::fs::read_dir(&invictus)
        .unwrap()
        .flatten()
        .map(|e| {
            let doc: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
            doc["Records"].as_array().unwrap().len() as u64
        })
        .sum();
    let run = every_record_accounted_for("cloudtrail", &[&invictus], expected, dir.path());
    assert_eq!(total(&run["quarantined"]), 0);
    let stratus = shared.join("stratus_red_team_detonation_logs/docs/detonation-logs");
    let expected: u64 = std::fs::read_dir(&stratus)
        .unwrap()
        .flatten()
        .map(|e| {
            let doc: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
            doc.as_array().unwrap().len() as u64
        })
        .sum();
    every_record_accounted_for("cloudtrail", &[&stratus], expected, dir.path());

    // A lake `run` can read: the contract holds for what ingest wrote.
    let df = lake_events(dir.path());
    let users = column_strings(&df, "user");
    assert!(users
        .iter()
        .flatten()
        .any(|u| u.starts_with("arn:aws:iam::") && u.contains(":role/")));
    assert!(column_strings(&df, "action")
        .iter()
        .flatten()
        .all(|a| a.contains(':')));
    let out = tempfile::tempdir().unwrap();
    let o = lakehound(&[
        "run",
        "--lake",
        dir.path().to_str().unwrap(),
        "--from",
        "2023-07-10",
        "--to",
        "2023-07-10",
        "--out",
        out.path().to_str().unwrap(),
        "--baseline-days",
        "1",
    ]);
    assert!(matches!(code(&o), 0 | 1), "{}", stderr(&o));
}

#[test]
fn shared_corpus_falco_k8s_audit_fixtures_normalise() {
    let Some(shared) = shared_datasets("the public-corpus ingest checks") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let fixtures = shared.join("falco_k8s_audit_fixtures/test/trace_files/k8s_audit");
    let jsons: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    // Records: one per line, or one per item of an EventList line.
    let records: u64 = jsons
        .iter()
        .flat_map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| match serde_json::from_str::<serde_json::Value>(l) {
                    Ok(v) if v["kind"] == "EventList" => {
                        v["items"].as_array().unwrap().len() as u64
                    }
                    _ => 1,
                })
                .collect::<Vec<_>>()
        })
        .sum();
    let inputs: Vec<&Path> = jsons.iter().map(PathBuf::as_path).collect();
    let run = every_record_accounted_for("k8s-audit", &inputs, records, dir.path());
    let df = lake_events(dir.path());
    let actions = column_strings(&df, "action");
    assert!(actions.iter().flatten().any(|a| a == "create pods/exec"));
    assert!(actions
        .iter()
        .flatten()
        .any(|a| a == "create clusterrolebindings"));
    assert!(total(&run["quarantined"]) <= 1, "{run}");
}

#[test]
fn shared_corpus_panther_rule_test_events_normalise_or_are_quarantined_with_a_reason() {
    let Some(shared) = shared_datasets("the public-corpus ingest checks") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let corpus = shared.join("panther_rule_test_events");
    // Route each test log to its platform's adapter, one JSON-lines file each.
    let mut per_format: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for file in [
        "aws_cloudtrail_rules",
        "aws_eks_rules",
        "kubernetes_rules",
        "gcp_k8s_rules",
        "gcp_audit_rules",
    ] {
        for line in std::fs::read_to_string(corpus.join(format!("{file}.jsonl")))
            .unwrap()
            .lines()
        {
            let case: serde_json::Value = serde_json::from_str(line).unwrap();
            let log = &case["log"];
            let format = if file == "aws_cloudtrail_rules" {
                "cloudtrail"
            } else if log.get("protoPayload").is_some() {
                "gcp-audit"
            } else {
                "k8s-audit"
            };
            per_format.entry(format).or_default().push(log.to_string());
        }
    }
    for (format, logs) in &per_format {
        let input = dir.path().join(format!("{format}.jsonl"));
        write(&input, &logs.join("\n"));
        let lake = dir.path().join(format!("lake-{format}"));
        every_record_accounted_for(format, &[&input], logs.len() as u64, &lake);
    }
}

#[test]
fn the_sample_org_as_raw_logs_ingests_and_scores_like_the_sample_lake() {
    let dir = tempfile::tempdir().unwrap();
    let org = dir.path();
    let o = lakehound(&["sample", "--raw", "--out", org.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        !org.join("events").exists(),
        "--raw writes raw logs, not partitions"
    );
    let raw = org.join("raw");
    for (format, folder, cluster) in [
        ("k8s-audit", "k8s-audit", true),
        ("cloudtrail", "cloudtrail", false),
        ("gcp-audit", "gcp-audit", false),
        ("falco", "falco", true),
    ] {
        let extra: &[&str] = if cluster {
            &["--cluster-id", "prod-eu-1"]
        } else {
            &[]
        };
        let o = ingest(format, &[&raw.join(folder)], org, extra);
        assert_eq!(code(&o), 0, "{format}: {}{}", stdout(&o), stderr(&o));
        assert!(
            last_run(org)["events_written"].as_u64().unwrap() > 0,
            "{format}"
        );
    }
    // Every shell process in the sample follows an exec session into its pod.
    let falco = last_run(org);
    assert!(falco["events_written"].as_u64().unwrap() > 0);
    assert_eq!(falco["attributed_to_sessions"], falco["events_written"]);
    let out = dir.path().join("findings");
    let o = lakehound(&[
        "run",
        "--lake",
        org.to_str().unwrap(),
        "--from",
        "2026-11-02",
        "--to",
        "2026-11-08",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = lakehound(&[
        "eval",
        "--lake",
        org.to_str().unwrap(),
        "--findings",
        out.to_str().unwrap(),
    ]);
    let text = stdout(&o);
    let ap: f64 = text
        .split("average precision ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no AP in {text}"));
    assert!(ap >= 0.9, "{text}");
    assert!(text.contains("recall@20: 1.000"), "{text}");
}

#[test]
fn falco_ingested_before_the_audit_log_ends_up_with_the_same_people() {
    // A daily schedule delivers Falco and the audit log independently; the
    // order of their ingests must not decide who ran what.
    let dir = tempfile::tempdir().unwrap();
    let org = dir.path().join("org");
    let o = lakehound(&[
        "sample",
        "--raw",
        "--users",
        "20",
        "--events",
        "12000",
        "--out",
        org.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let (audit, falco) = (org.join("raw/k8s-audit"), org.join("raw/falco"));
    let cluster: &[&str] = &["--cluster-id", "prod-eu-1"];
    let (audit_first, falco_first) = (dir.path().join("a"), dir.path().join("f"));
    for (lake, order) in [
        (&audit_first, [&audit, &falco]),
        (&falco_first, [&falco, &audit]),
    ] {
        for input in order {
            let format = if input == &falco {
                "falco"
            } else {
                "k8s-audit"
            };
            let o = ingest(format, &[input], lake, cluster);
            assert_eq!(code(&o), 0, "{format}: {}", stderr(&o));
        }
    }
    let processes = |lake: &Path| {
        lake_events(lake)
            .lazy()
            .filter(col("source").eq(lit("falco")))
            .select([col("event_id"), col("user")])
            .sort(["event_id"], Default::default())
            .collect()
            .unwrap()
    };
    let (right, late) = (processes(&audit_first), processes(&falco_first));
    assert!(right.height() > 0);
    assert_eq!(right, late);
    let audit_run = last_run(&falco_first);
    assert_eq!(
        audit_run["reattributed_earlier_processes"].as_u64(),
        Some(right.height() as u64),
        "every sample process follows a session: {audit_run}"
    );
}

#[test]
fn a_missing_input_or_an_unreadable_manifest_is_a_usage_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let missing = dir.path().join("no-such-audit.log");
    let o = ingest("k8s-audit", &[&missing], &lake, &[]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("no-such-audit.log"), "{}", stderr(&o));

    let input = dir.path().join("audit.log");
    write(
        &input,
        &k8s("m1", "2026-11-03T10:00:00Z", "bob", "get pods", "web", "x"),
    );
    write(&lake.join("_ingest/manifest.json"), "{not json");
    let o = ingest("k8s-audit", &[&input], &lake, &[]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("manifest.json"), "{}", stderr(&o));
    assert!(
        !lake.join("events").exists(),
        "nothing is written before the manifest is understood"
    );
}

#[test]
fn a_second_ingest_into_a_busy_lake_waits_its_turn() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let input = dir.path().join("audit.log");
    write(
        &input,
        &k8s("l1", "2026-11-03T10:00:00Z", "bob", "get pods", "web", "x"),
    );
    std::fs::create_dir_all(lake.join("_ingest")).unwrap();
    let held = std::fs::File::create(lake.join("_ingest/lock")).unwrap();
    held.lock().unwrap();
    let o = ingest("k8s-audit", &[&input], &lake, &[]);
    assert_eq!(code(&o), 3, "busy is worth retrying");
    assert!(
        stderr(&o).contains("another `lakehound ingest`"),
        "{}",
        stderr(&o)
    );
    assert!(!lake.join("events").exists());
    drop(held);
    assert_eq!(code(&ingest("k8s-audit", &[&input], &lake, &[])), 0);
}
