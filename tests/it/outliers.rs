//! `lakehound outliers` on a feature table written here.

use std::fs::File;
use std::path::Path;

use polars::prelude::*;

use crate::support::{code, lakehound, read_parquet, stderr, stdout};

/// 400 ordinary users and three that touched far more hosts than anyone.
pub(crate) fn feature_table(path: &Path, with_gap: bool) {
    let mut state = 7u64;
    let mut noise = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    let n = 403;
    let users: Vec<String> = (0..n).map(|i| format!("user{i:03}")).collect();
    let logins: Vec<f64> = (0..n).map(|_| 20.0 + 10.0 * noise()).collect();
    let hosts: Vec<i64> = (0..n)
        .map(|i| {
            if i >= 400 {
                90 + i as i64
            } else {
                3 + (4.0 * noise()) as i64
            }
        })
        .collect();
    let bytes: Vec<Option<f64>> = (0..n)
        .map(|i| (!(with_gap && i == 17)).then(|| 1e6 * (1.0 + noise())))
        .collect();
    let mut df = DataFrame::new(
        n,
        vec![
            Column::new("user".into(), users),
            Column::new("logins".into(), logins),
            Column::new("hosts".into(), hosts),
            Column::new("bytes".into(), bytes),
        ],
    )
    .unwrap();
    ParquetWriter::new(File::create(path).unwrap())
        .finish(&mut df)
        .unwrap();
}

fn outliers(input: &Path, out: &Path, features: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "outliers",
        "--input",
        input.to_str().unwrap(),
        "--features",
        features,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    lakehound(&args)
}

#[test]
fn outliers_ranks_the_strange_rows_first_and_names_the_feature_that_isolated_them() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("features.parquet");
    let out = dir.path().join("scores.parquet");
    feature_table(&input, false);
    let args = |out: &Path| outliers(&input, out, "logins,hosts,bytes", &["--id-cols", "user"]);
    let run = args(&out);
    assert_eq!(code(&run), 0, "{}", stderr(&run));
    assert!(stdout(&run).contains("Scored 403 rows"), "{}", stdout(&run));
    let df = read_parquet(&out);
    assert_eq!(df.height(), 403);
    let users: Vec<&str> = df
        .column("user")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .collect();
    let mut top: Vec<&str> = users[..3].to_vec();
    top.sort();
    assert_eq!(top, ["user400", "user401", "user402"]);
    let explained = df
        .column("top_features")
        .unwrap()
        .str()
        .unwrap()
        .get(0)
        .unwrap();
    assert!(explained.starts_with("hosts "), "{explained}");
    let scores: Vec<f64> = df
        .column("score")
        .unwrap()
        .f64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "sorted by rank");
    // The same seed gives the same file's scores again.
    let again = dir.path().join("again.parquet");
    assert_eq!(code(&args(&again)), 0);
    assert!(read_parquet(&again).equals(&df));
}

#[test]
fn outliers_refuses_a_missing_column_or_value_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("features.parquet");
    let out = dir.path().join("scores.parquet");
    feature_table(&input, true);
    for (features, says) in [
        ("logins,nope", "no column \"nope\""),
        ("logins,bytes", "feature \"bytes\" is empty in row 17"),
        ("user", "not a number"),
    ] {
        let refused = outliers(&input, &out, features, &[]);
        assert_eq!(code(&refused), 2, "{features}");
        assert!(stderr(&refused).contains(says), "{}", stderr(&refused));
    }
    assert!(!out.exists(), "nothing written on refusal");
}
