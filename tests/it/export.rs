//! `lakehound export --format ocsf` on the sample lake's run: every record is
//! validated against the OCSF 1.5.0 Detection Finding class by
//! tests/python/check_ocsf.py (pydantic-ocsf's models and schema JSON, from
//! tests/python/requirements.txt), and says what the findings say.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use polars::prelude::*;
use serde_json::Value;

use crate::support::{code, findings, lakehound, list_strings, python, stderr, stdout};

fn check_ocsf(files: &[&Path]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_ocsf.py");
    let o = Command::new(python())
        .arg(script)
        .args(files)
        .output()
        .expect("python runs");
    assert!(
        o.status.success(),
        "OCSF validation failed:\n{}{}",
        stdout(&o),
        stderr(&o)
    );
}

fn export(findings: &Path, out: &Path) -> String {
    let o = lakehound(&[
        "export",
        "--format",
        "ocsf",
        "--findings",
        findings.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    stdout(&o)
}

fn records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn sample_run(out: &Path) {
    let o = lakehound(&["run", "--out", out.to_str().unwrap(), "--show", "0"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

/// `T1098.001` back from an OCSF attack.
fn technique(attack: &Value) -> String {
    let sub = attack["sub_technique"]["uid"].as_str();
    let parent = attack["technique"]["uid"].as_str().unwrap();
    sub.map_or(parent, |s| {
        assert!(s.starts_with(&format!("{parent}.")), "{attack}");
        s
    })
    .to_owned()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_finding_exports_as_a_valid_ocsf_detection_finding_saying_what_it_says() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("findings");
    sample_run(&out);
    let (jsonl, parquet) = (tmp.path().join("f.jsonl"), tmp.path().join("f.parquet"));
    let said = export(&out, &jsonl);
    export(&out, &parquet);
    check_ocsf(&[&jsonl, &parquet]);

    let found = findings(&out);
    let exported = records(&jsonl);
    assert_eq!(exported.len(), found.height());
    assert!(
        said.starts_with(&format!("wrote {} OCSF 1.5.0", found.height())),
        "{said}"
    );
    let ids = found.column("finding_id").unwrap().str().unwrap().clone();
    let users = found.column("user").unwrap().str().unwrap().clone();
    let scores = found.column("score").unwrap().f64().unwrap().clone();
    for i in 0..found.height() {
        let id = ids.get(i).unwrap();
        let r = exported
            .iter()
            .find(|r| r["finding_info"]["uid"] == id)
            .unwrap_or_else(|| panic!("no record for finding {id}"));
        let info = &r["finding_info"];
        let related: Vec<String> = info["related_events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["uid"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(related, list_strings(&found, "evidence_event_ids", i));
        let attacks: Vec<String> = info["attacks"]
            .as_array()
            .unwrap()
            .iter()
            .map(technique)
            .collect();
        assert_eq!(attacks, list_strings(&found, "attack_techniques", i));
        assert_eq!(
            strings(&info["types"]),
            list_strings(&found, "detectors", i)
        );
        assert_eq!(info["desc"], list_strings(&found, "reasons", i).join("\n"));
        assert_eq!(r["actor"]["user"]["name"], users.get(i).unwrap());
        let score = scores.get(i).unwrap();
        assert_eq!(r["risk_score"], score.round() as i64);
        assert_eq!(
            r["severity_id"],
            lakehound::export::band_of(score).unwrap().severity.0
        );
        // The sample run read the sample lake: every finding's evidence is
        // in it, so each record names the accounts or pods involved.
        assert!(
            r["resources"].as_array().is_some_and(|r| !r.is_empty()),
            "{r}"
        );
    }
    let techniques: usize = exported
        .iter()
        .map(|r| r["finding_info"]["attacks"].as_array().unwrap().len())
        .sum();
    assert!(
        techniques > 0,
        "the sample's findings carry ATT&CK techniques"
    );
}

#[test]
fn a_finding_in_several_windows_of_an_out_folder_is_exported_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("findings");
    sample_run(&out);
    let window = crate::support::window_dir(&out);
    let expected = findings(&out).height();
    let copy = out.join(format!(
        "{}-again",
        window.file_name().unwrap().to_str().unwrap()
    ));
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(&window).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, copy.join(path.file_name().unwrap())).unwrap();
    }
    let jsonl = tmp.path().join("f.jsonl");
    export(&out, &jsonl);
    let exported = records(&jsonl);
    let ids: BTreeSet<&str> = exported
        .iter()
        .map(|r| r["finding_info"]["uid"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), exported.len(), "each finding once");
    assert_eq!(exported.len(), expected);
}

#[test]
fn attacker_controlled_strings_stay_json_strings() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("findings");
    sample_run(&out);
    let planted = "mallory\"}\n{\"class_uid\":1}</script><script>alert(1)</script>\u{1b}[2J";
    let mut df = findings(&out);
    let n = df.height();
    df.replace("user", Column::new("user".into(), vec![planted; n]))
        .unwrap();
    let file = tmp.path().join("findings.parquet");
    ParquetWriter::new(std::fs::File::create(&file).unwrap())
        .finish(&mut df)
        .unwrap();
    let jsonl = tmp.path().join("f.jsonl");
    export(&file, &jsonl);
    let text = std::fs::read_to_string(&jsonl).unwrap();
    assert_eq!(text.lines().count(), n, "one line per record");
    let exported = records(&jsonl);
    assert!(exported
        .iter()
        .all(|r| r["actor"]["user"]["name"] == planted));
}
