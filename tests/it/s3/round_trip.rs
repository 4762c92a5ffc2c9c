//! ingest → run → eval entirely through S3, against the same steps on a
//! local folder; and what a run asks of S3.

use std::sync::Arc;

use super::*;
use crate::support::{code, lakehound, stderr, stdout};

/// Falco first: its processes are attributed when the audit log arrives.
const FORMATS: [(&str, bool); 4] = [
    ("falco", true),
    ("k8s-audit", true),
    ("cloudtrail", false),
    ("gcp-audit", false),
];

/// Ingest's summary line without the paths in it.
fn summary(o: &Output) -> String {
    stdout(o).lines().next().unwrap_or_default().to_owned()
}

#[test]
fn ingest_run_and_eval_through_s3_give_the_local_findings_in_the_same_order() {
    let server = server();
    let sample = sample_lake(true);
    let prefix = server.prefix("rt");
    server.put_tree(&sample.path().join("raw"), &format!("{prefix}/raw"));
    let (s3_lake, s3_out) = (
        server.url(&format!("{prefix}/lake")),
        server.url(&format!("{prefix}/out")),
    );
    let local_lake = sample.path().join("lake");
    let local_out = sample.path().join("out");
    let (local_lake_s, local_out_s) = (local_lake.to_str().unwrap(), local_out.to_str().unwrap());
    for (format, cluster) in FORMATS {
        let local_input = sample.path().join("raw").join(format);
        let s3_input = server.url(&format!("{prefix}/raw/{format}"));
        let mut local = vec!["ingest", "--format", format, "--lake", local_lake_s];
        let mut remote = vec!["ingest", "--format", format, "--lake", &s3_lake];
        local.extend(["--input", local_input.to_str().unwrap()]);
        remote.extend(["--input", &s3_input]);
        if cluster {
            local.extend(["--cluster-id", "prod-eu-1"]);
            remote.extend(["--cluster-id", "prod-eu-1"]);
        }
        let (l, r) = (
            lakehound(&local),
            server.lakehound(&server.endpoint, &remote),
        );
        assert_eq!(code(&r), 0, "{format}: {}", stderr(&r));
        assert_eq!(summary(&l), summary(&r), "{format}");
        if format == "k8s-audit" {
            let said = summary(&r);
            assert!(
                said.contains("Falco processes ingested earlier attributed"),
                "{said}"
            );
        }
    }
    // A second ingest of the same inputs adds nothing.
    let again = server.lakehound(
        &server.endpoint,
        &[
            "ingest",
            "--format",
            "cloudtrail",
            "--lake",
            &s3_lake,
            "--input",
            &server.url(&format!("{prefix}/raw/cloudtrail")),
        ],
    );
    assert_eq!(code(&again), 0, "{}", stderr(&again));
    assert!(
        stdout(&again).contains(": 0 events written"),
        "{}",
        stdout(&again)
    );

    let local = lakehound(&run_args(local_lake_s, local_out_s, &[]));
    assert_eq!(code(&local), 0, "{}", stderr(&local));
    let remote = server.lakehound(&server.endpoint, &run_args(&s3_lake, &s3_out, &[]));
    assert_eq!(code(&remote), 0, "{}", stderr(&remote));
    let run_json = server
        .list(&format!("{prefix}/out"))
        .into_iter()
        .find(|(k, _)| k.ends_with("run.json"))
        .and_then(|(k, _)| server.get(&k))
        .unwrap();
    assert!(!String::from_utf8_lossy(&run_json).contains(&server.secret_key));
    let local_findings = comparable(&crate::support::findings(&local_out));
    let s3_findings = comparable(&s3_findings(&server, &format!("{prefix}/out")));
    assert!(local_findings.len() >= 10, "{local_findings:?}");
    assert_eq!(local_findings, s3_findings);

    // eval follows the pointer; labels come from the lake.
    let labels = sample.path().join("labels.csv");
    let labels = labels.to_str().unwrap();
    let local_eval = lakehound(&["eval", "--labels", labels, "--findings", local_out_s]);
    let s3_eval = server.lakehound(
        &server.endpoint,
        &["eval", "--labels", labels, "--findings", &s3_out],
    );
    assert_eq!(code(&s3_eval), 0, "{}", stderr(&s3_eval));
    assert_eq!(stdout(&local_eval), stdout(&s3_eval));

    review_through_s3(
        &server,
        &prefix,
        (local_lake_s, local_out_s),
        (&s3_lake, &s3_out),
    );
}

/// report (its page written to S3) and the OCSF export (read from and
/// written to S3) say what they say of the local lake.
fn review_through_s3(server: &Server, prefix: &str, local: (&str, &str), s3: (&str, &str)) {
    let dir = tempfile::tempdir().unwrap();
    let page = server.url(&format!("{prefix}/report.html"));
    let local_page = dir.path().join("report.html");
    let local_html = local_page.to_str().unwrap();
    let l = lakehound(&[
        "report",
        "--findings",
        local.1,
        "--lake",
        local.0,
        "--html",
        local_html,
    ]);
    let r = server.lakehound(
        &server.endpoint,
        &[
            "report",
            "--findings",
            s3.1,
            "--lake",
            s3.0,
            "--html",
            &page,
        ],
    );
    assert_eq!(code(&r), 0, "{}", stderr(&r));
    let table = |o: &std::process::Output| {
        stdout(o)
            .lines()
            .skip(1)
            .take_while(|l| !l.starts_with("wrote"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(table(&l), table(&r), "the same table");
    let remote_page =
        String::from_utf8(server.get(&format!("{prefix}/report.html")).unwrap()).unwrap();
    let local_page = std::fs::read_to_string(&local_page).unwrap();
    let sections = |html: &str| html.matches("<section id=").count();
    assert_eq!(sections(&remote_page), sections(&local_page));
    assert!(remote_page.contains("Evidence events (20 of 20 ids found in the lake)"));

    let local_export = dir.path().join("findings.ocsf.jsonl");
    let l = lakehound(&[
        "export",
        "--format",
        "ocsf",
        "--findings",
        local.1,
        "--out",
        local_export.to_str().unwrap(),
    ]);
    assert_eq!(code(&l), 0, "{}", stderr(&l));
    let key = format!("{prefix}/findings.ocsf.jsonl");
    let r = server.lakehound(
        &server.endpoint,
        &[
            "export",
            "--format",
            "ocsf",
            "--findings",
            s3.1,
            "--out",
            &server.url(&key),
        ],
    );
    assert_eq!(code(&r), 0, "{}", stderr(&r));
    let said = |text: &str| -> Vec<(serde_json::Value, serde_json::Value)> {
        text.lines()
            .map(|line| {
                let record: serde_json::Value = serde_json::from_str(line).unwrap();
                (
                    record["finding_info"]["uid"].clone(),
                    record["resources"].clone(),
                )
            })
            .collect()
    };
    let remote = String::from_utf8(server.get(&key).unwrap()).unwrap();
    let local = std::fs::read_to_string(&local_export).unwrap();
    assert!(said(&local).len() >= 10);
    assert!(said(&remote).iter().all(|(_, r)| r.is_array()), "{remote}");
    assert_eq!(
        said(&local),
        said(&remote),
        "the same findings, with the same resources"
    );
}

#[test]
fn a_run_lists_and_fetches_only_its_days_and_columns() {
    let server = server();
    // Files large enough that a footer's fetch does not hold them whole,
    // with a large column no stage reads (`node`: random text, more than
    // the gap lakehound fetches across to save a request).
    let local = sample_lake_of(false, "250000");
    for file in super::files_under(&local.path().join("events")) {
        with_noise_column(&file, "node");
    }
    let prefix = server.prefix("pruning");
    let lake = format!("{prefix}/lake");
    server.put_tree(local.path(), &lake);
    // Beyond the range (the baseline starts 2026-10-05): garbage that would
    // fail the run if opened, a real file, and an unrelated large object.
    server.put(
        &format!("{lake}/events/dt=2025-06-01/part-0.parquet"),
        b"not parquet".to_vec(),
    );
    server.put(
        &format!("{lake}/events/dt=2026-10-04/part-0.parquet"),
        b"not parquet".to_vec(),
    );
    let real = super::files_under(&local.path().join("events"))[0].clone();
    server.put(
        &format!("{lake}/events/dt=2026-11-09/part-0.parquet"),
        std::fs::read(&real).unwrap(),
    );
    server.put(&format!("{lake}/other/big.bin"), vec![7u8; 1 << 20]);

    let proxy = Proxy::start(&server.endpoint, Arc::new(|_: &Seen, _| Action::Forward));
    let out = server.url(&format!("{prefix}/out"));
    let o = server.lakehound(&proxy.endpoint, &run_args(&server.url(&lake), &out, &[]));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    for outside in ["dt=2025-06-01", "dt=2026-10-04", "dt=2026-11-09", "/other"] {
        assert!(
            proxy.touching(outside).is_empty(),
            "{outside}: {:?}",
            proxy.touching(outside)
        );
    }
    // Every read of an event file is a range request: footers and the
    // projected column chunks, never the whole object.
    let event_gets: Vec<Seen> = proxy
        .requests()
        .into_iter()
        .filter(|s| s.is_get() && s.path.contains("/events/"))
        .collect();
    assert!(!event_gets.is_empty());
    assert!(
        event_gets.iter().all(|s| s.range.is_some()),
        "{event_gets:?}"
    );
    // The column no stage reads is never fetched, outside the footer's
    // fetch from the file's end.
    let unread = ["node"];
    let mut checked = 0;
    for seen in &event_gets {
        let key = seen
            .path
            .trim_start_matches(&format!("/{}/", server.bucket));
        let rel = key.trim_start_matches(&format!("{lake}/"));
        let local_file = local.path().join(rel);
        let size = std::fs::metadata(&local_file).unwrap().len();
        let (start, end) = byte_range(seen.range.as_deref().unwrap(), size);
        use polars::prelude::SerReader;
        let mut reader =
            polars::prelude::ParquetReader::new(std::fs::File::open(&local_file).unwrap());
        for group in &reader.get_metadata().unwrap().row_groups {
            for name in unread {
                for chunk in group.columns_under_root_iter(name).into_iter().flatten() {
                    let r = chunk.byte_range();
                    let is_tail = end == size;
                    assert!(
                        is_tail || r.end <= start || r.start >= end,
                        "{name} of {rel} fetched"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 0, "the sample lake has the unread columns");
    let in_range: u64 = server
        .list(&format!("{lake}/events/"))
        .iter()
        .filter(|(k, _)| {
            let day = k.split("dt=").nth(1).unwrap_or("").get(..10).unwrap_or("");
            ("2026-10-05"..="2026-11-08").contains(&day)
        })
        .map(|(_, size)| size)
        .sum();
    let manifest: serde_json::Value = {
        let pointer = server.pointer(&format!("{prefix}/out")).unwrap();
        let run = pointer["run"].as_str().unwrap();
        let key = server
            .list(&format!("{prefix}/out"))
            .into_iter()
            .map(|(k, _)| k)
            .find(|k| k.contains(run) && k.ends_with("run.json"))
            .unwrap();
        serde_json::from_slice(&server.get(&key).unwrap()).unwrap()
    };
    let fetched = manifest["s3"]["bytes_fetched"].as_u64().unwrap();
    eprintln!(
        "fetched {fetched} of {in_range} bytes in range with {} event GETs and {} listings",
        event_gets.len(),
        proxy.requests().iter().filter(|s| s.is_list()).count()
    );
    assert!(
        fetched > 0 && fetched < in_range / 2,
        "fetched {fetched} of {in_range}"
    );
    // One listing per day of the range (35), and a few for the lake and
    // earlier results.
    let listings = proxy.requests().iter().filter(|s| s.is_list()).count();
    assert!(listings <= 35 + 5, "{listings} listings");
}

/// `bytes=a-b` (inclusive) as `a..b+1`.
fn byte_range(header: &str, size: u64) -> (u64, u64) {
    let (a, b) = header.trim_start_matches("bytes=").split_once('-').unwrap();
    let b = if b.is_empty() {
        size - 1
    } else {
        b.parse().unwrap()
    };
    (a.parse().unwrap(), b + 1)
}

/// Rewrites a lake file with `column` filled with incompressible text.
fn with_noise_column(path: &std::path::Path, column: &str) {
    use polars::prelude::*;
    let mut df = ParquetReader::new(std::fs::File::open(path).unwrap())
        .finish()
        .unwrap();
    let mut state = path.to_string_lossy().len() as u64 | 1;
    let noise: Vec<String> = (0..df.height())
        .map(|_| {
            (0..4)
                .map(|_| {
                    // xorshift64
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    format!("{state:016x}")
                })
                .collect()
        })
        .collect();
    df.with_column(Column::new(column.into(), noise)).unwrap();
    ParquetWriter::new(std::fs::File::create(path).unwrap())
        .finish(&mut df)
        .unwrap();
}

#[test]
fn cloudtrails_own_bucket_layout_is_listed_only_for_the_days_asked() {
    let Some(datasets) = crate::support::shared_datasets("the CloudTrail bucket-layout check")
    else {
        return;
    };
    let server = server();
    let prefix = server.prefix("ct");
    let trail = format!("{prefix}/AWSLogs/218007301253/CloudTrail/us-east-1");
    let delivered = datasets.join("invictus_aws_cloudtrail_stratus/CloudTrail");
    for file in super::files_under(&delivered) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        server.put(
            &format!("{trail}/2023/07/10/{name}"),
            std::fs::read(&file).unwrap(),
        );
    }
    // Earlier days, which a daily ingest must not even list.
    server.put(
        &format!("{trail}/2023/07/08/old.json"),
        b"not read".to_vec(),
    );
    server.put(
        &format!("{trail}/2023/06/30/old.json"),
        b"not read".to_vec(),
    );
    let proxy = Proxy::start(&server.endpoint, Arc::new(|_: &Seen, _| Action::Forward));
    let (input, lake) = (
        server.url(&format!("{prefix}/AWSLogs/")),
        server.url(&format!("{prefix}/lake")),
    );
    let ingest = |extra: &[&str]| {
        let mut args = vec![
            "ingest",
            "--format",
            "cloudtrail",
            "--input",
            &input,
            "--lake",
            &lake,
        ];
        args.extend_from_slice(extra);
        server.lakehound(&proxy.endpoint, &args)
    };
    let first = ingest(&["--since", "2023-07-10"]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let local_lake = tempfile::tempdir().unwrap();
    let local = lakehound(&[
        "ingest",
        "--format",
        "cloudtrail",
        "--input",
        delivered.to_str().unwrap(),
        "--lake",
        local_lake.path().to_str().unwrap(),
    ]);
    assert_eq!(summary(&first), summary(&local));
    // The next ingest starts from the day before the last day it listed.
    let second = ingest(&[]);
    assert_eq!(code(&second), 0, "{}", stderr(&second));
    let files = super::files_under(&delivered).len();
    assert!(
        summary(&first).contains(&format!("from {files} files")),
        "{}",
        summary(&first)
    );
    assert!(
        stdout(&second).contains(&format!("({files} already ingested)")),
        "{}",
        stdout(&second)
    );
    for old in ["2023/07/08", "2023/06"] {
        assert!(
            proxy.touching(old).is_empty(),
            "{old} was listed: {:?}",
            proxy.touching(old)
        );
    }
}
