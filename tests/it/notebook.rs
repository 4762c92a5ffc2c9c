//! The analyst's review notebook (notebooks/findings_review.ipynb), executed
//! headless with nbclient on a real run of the sample lake: every cell runs,
//! and the findings table, timelines, detector mix and evidence show this
//! run's findings.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::support::{self, code, findings, lakehound, list_strings, manifest, provided, stderr};

const NOTEBOOK: &str = "notebooks/findings_review.ipynb";

/// The Python of the notebook's venv (notebooks/requirements.txt). Missing
/// is a failure, not a skip: `.ci/run` installs it into
/// `~/.cache/lakehound-notebook` and sets LAKEHOUND_NOTEBOOK_PYTHON.
fn notebook_python() -> PathBuf {
    provided(
        "LAKEHOUND_NOTEBOOK_PYTHON",
        "notebooks/requirements.txt into ~/.cache/lakehound-notebook",
    )
}

/// Executes the notebook with nbclient in a kernel of `python`, keeping going
/// past failing cells so the executed copy shows them; returns that copy.
fn execute(python: &Path, dir: &Path, env: &[(&str, &Path)], extra: &[(&str, &str)]) -> Value {
    // A kernelspec of its own, so the kernel is this venv's Python whatever
    // kernels the machine has installed.
    let jupyter = dir.join("jupyter");
    let spec = jupyter.join("kernels/lakehound-notebook");
    std::fs::create_dir_all(&spec).unwrap();
    let kernel = json!({
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "lakehound notebook venv",
        "language": "python",
    });
    std::fs::write(spec.join("kernel.json"), kernel.to_string()).unwrap();

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let executed = dir.join("findings_review.executed.ipynb");
    let script = "\
import sys, nbformat
from nbclient import NotebookClient
source, target, cwd = sys.argv[1:4]
nb = nbformat.read(source, as_version=4)
NotebookClient(nb, kernel_name='lakehound-notebook', timeout=300, allow_errors=True,
               resources={'metadata': {'path': cwd}}).execute()
nbformat.write(nb, target)
";
    let mut cmd = Command::new(python);
    cmd.arg("-c")
        .arg(script)
        .arg(root.join(NOTEBOOK))
        .arg(&executed)
        .arg(root.join("notebooks"))
        .env("JUPYTER_PATH", &jupyter)
        .env("JUPYTER_RUNTIME_DIR", dir.join("runtime"))
        .env("IPYTHONDIR", dir.join("ipython"))
        .env("MPLCONFIGDIR", dir.join("matplotlib"))
        .env("JUPYTER_PLATFORM_DIRS", "1")
        .env_remove("LAKEHOUND_LAKE")
        .env_remove("LAKEHOUND_TOP")
        .env_remove("LAKEHOUND_DRILL_RANK")
        .env_remove("MPLBACKEND");
    for (k, v) in env {
        cmd.env(k, v);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let o = cmd.output().expect("the notebook's python runs");
    assert_eq!(code(&o), 0, "nbclient failed:\n{}", stderr(&o));
    serde_json::from_str(&std::fs::read_to_string(&executed).unwrap()).unwrap()
}

/// A notebook's multi-line string: one string or a list of lines.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

/// `s` without the terminal colours of IPython's tracebacks.
fn plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters final-letter
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn code_cells(nb: &Value) -> impl Iterator<Item = &Value> {
    nb["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["cell_type"] == "code")
}

/// The code cell tagged `tag`.
fn cell<'a>(nb: &'a Value, tag: &str) -> &'a Value {
    code_cells(nb)
        .find(|c| {
            c["metadata"]["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == tag))
        })
        .unwrap_or_else(|| panic!("no code cell tagged {tag}"))
}

fn outputs(cell: &Value) -> &[Value] {
    cell["outputs"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// Everything a cell showed as text or HTML, concatenated.
fn shown(cell: &Value) -> String {
    outputs(cell)
        .iter()
        .map(|o| {
            text(&o["text"]) + &text(&o["data"]["text/html"]) + &text(&o["data"]["text/markdown"])
        })
        .collect()
}

fn pngs(cell: &Value) -> usize {
    outputs(cell)
        .iter()
        .filter(|o| o["data"]["image/png"].is_string())
        .count()
}

#[test]
fn the_review_notebook_runs_on_a_run_of_the_sample_lake_and_shows_its_findings() {
    let python = notebook_python();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("findings");
    let o = lakehound(&["run", "--out", out.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let run = manifest(&out);
    let df = findings(&out).sort(["rank"], Default::default()).unwrap();
    assert!(df.height() > 0, "the sample week has findings");
    let (finding_id, user) = (
        support::text(&df, "finding_id", 0),
        support::text(&df, "user", 0),
    );
    let evidence = list_strings(&df, "evidence_event_ids", 0);
    assert!(!evidence.is_empty());

    // LAKEHOUND_TOP away from its default, to see the parameter honoured;
    // the lake is the one run.json records.
    let top = 4;
    let nb = execute(
        &python,
        dir.path(),
        &[("LAKEHOUND_FINDINGS", &out)],
        &[("LAKEHOUND_TOP", &top.to_string())],
    );

    for c in code_cells(&nb) {
        assert!(
            c["execution_count"].is_number(),
            "a cell did not run: {}",
            text(&c["source"])
        );
        for o in outputs(c) {
            assert!(
                o["output_type"] != "error",
                "cell raised {}: {}\n{}\nin:\n{}",
                text(&o["ename"]),
                text(&o["evalue"]),
                o["traceback"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(plain)
                    .collect::<Vec<_>>()
                    .join("\n"),
                text(&c["source"])
            );
        }
    }

    let summary = shown(cell(&nb, "summary"));
    assert!(
        summary.contains(run["run_id"].as_str().unwrap()),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("{} findings", df.height())),
        "{summary}"
    );

    let table = shown(cell(&nb, "findings-table"));
    assert!(
        table.contains(&finding_id),
        "rank 1's {finding_id} in {table}"
    );
    assert!(table.contains(&user), "rank 1's {user} in {table}");

    let charted = top.min(df.height());
    assert_eq!(
        pngs(cell(&nb, "timelines")),
        charted,
        "one timeline per charted finding"
    );

    let mix = cell(&nb, "detector-mix");
    assert_eq!(pngs(mix), 1, "the detector mix chart");
    let mix_table = shown(mix);
    for d in run["detectors"].as_array().unwrap() {
        let name = d["name"].as_str().unwrap();
        assert!(mix_table.contains(name), "{name} in {mix_table}");
    }

    let drill = shown(cell(&nb, "evidence"));
    let n = evidence.len();
    assert!(
        drill.contains(&format!("{n} of {n} evidence events found in the lake")),
        "{drill}"
    );
    for id in &evidence {
        assert!(
            drill.contains(id.as_str()),
            "evidence event {id} in {drill}"
        );
    }
}

#[test]
fn the_notebook_is_committed_without_outputs() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(NOTEBOOK);
    let nb: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for c in code_cells(&nb) {
        assert_eq!(
            c["outputs"],
            json!([]),
            "clear the outputs before committing: {}",
            text(&c["source"])
        );
        assert!(c["execution_count"].is_null(), "{}", text(&c["source"]));
    }
}
