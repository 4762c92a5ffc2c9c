//! Dependencies run one way (README "Layout"): no module of the library
//! names a module of a layer above its own.

use std::path::Path;

/// Layers from the top; a module may use its own layer and those below.
const LAYERS: [(&str, &[&str]); 6] = [
    ("edge", &["main", "app", "cli", "exit", "models", "logging"]),
    (
        "commands",
        &[
            "pipeline", "ingest", "eval", "explain", "report", "review", "export", "outliers",
            "sample",
        ],
    ),
    ("detectors", &["detectors"]),
    ("activity", &["activity"]),
    ("storage", &["lake"]),
    (
        "base",
        &[
            "forest",
            "clustering",
            "stats",
            "hash",
            "intern",
            "normalise",
            "schema",
            "sensitivity",
            "text",
            "window",
            "error",
        ],
    ),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

/// `crate::x` paths in code (comments left out), as top-level module names.
fn uses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let name = |s: &str| -> String {
                s.trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect()
            };
            // `crate::{a, b::c}` names several modules.
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                out.extend(inner.split(',').map(name).filter(|n| !n.is_empty()));
            } else {
                let n = name(rest);
                if !n.is_empty() {
                    out.push(n);
                }
            }
        }
    }
    out
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn grouped_imports_are_read_too() {
    assert_eq!(
        uses("use crate::{detectors, eval::read}; let x = crate::lake::T;"),
        ["detectors", "eval", "lake"]
    );
    assert!(uses("// crate::pipeline in a comment").is_empty());
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    files(&src, &mut paths);
    let mut upward = Vec::new();
    for path in &paths {
        let rel = path.strip_prefix(&src).unwrap();
        let top = rel.iter().next().unwrap().to_string_lossy();
        let module = top.trim_end_matches(".rs");
        if module == "lib" {
            continue;
        }
        let own = layer_of(module).unwrap_or_else(|| panic!("{module} is in no layer"));
        for used in uses(&std::fs::read_to_string(path).unwrap()) {
            let Some(theirs) = layer_of(&used) else {
                panic!("{}: crate::{used} is in no layer", rel.display());
            };
            if theirs < own {
                upward.push(format!(
                    "{} uses crate::{used} ({} above {})",
                    rel.display(),
                    LAYERS[theirs].0,
                    LAYERS[own].0
                ));
            }
        }
    }
    assert!(upward.is_empty(), "{upward:#?}");
    assert!(paths.len() > 40, "read the library's sources");
}
