//! Reading the ODDS/ADBench sets in ../shared/datasets/adbench and the
//! scikit-learn reference figures its README gives (100 trees, 256 samples,
//! seeds 0-2). Shared by the AUC test (`forest.rs`) and `benches/forest.rs`.

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2};
use ndarray_npy::{NpzReader, ReadNpzError};

/// One outlier-detection set: rows, and which are anomalies.
pub struct Set {
    pub x: Array2<f64>,
    pub y: Vec<bool>,
}

/// A set's reference figures from the datasets README.
pub struct Reference {
    pub name: String,
    pub auc: f64,
    pub seconds: f64,
}

/// The table rows `| http | 567,498 x 3 | 0.9993 | 1.84 |` of the README.
pub fn references(datasets: &Path) -> Vec<Reference> {
    let readme = std::fs::read_to_string(datasets.join("README.md")).expect("datasets README");
    readme
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // ["", name, shape, auc, seconds, ""]
            if cells.len() != 6 || !cells[2].contains(" x ") {
                return None;
            }
            Some(Reference {
                name: cells[1].to_owned(),
                auc: cells[3].parse().ok()?,
                seconds: cells[4].parse().ok()?,
            })
        })
        .collect()
}

/// `adbench/<n>_<name>.npz`.
pub fn path_of(datasets: &Path, name: &str) -> PathBuf {
    let dir = datasets.join("adbench");
    std::fs::read_dir(&dir)
        .expect("adbench folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|f| f.to_str())
                .is_some_and(|f| f.ends_with(&format!("_{name}.npz")))
        })
        .unwrap_or_else(|| panic!("no {name}.npz in {}", dir.display()))
}

pub fn load(datasets: &Path, name: &str) -> Set {
    let path = path_of(datasets, name);
    let open =
        || NpzReader::new(std::fs::File::open(&path).expect("npz opens")).expect("npz reads");
    // ADBench stores features as float64 or small integers, labels as float
    // or int.
    let x: Array2<f64> =
        read_as_f64(&mut open(), "X.npy").unwrap_or_else(|e| panic!("{}: X: {e}", path.display()));
    let y: Array1<f64> =
        read_as_f64(&mut open(), "y.npy").unwrap_or_else(|e| panic!("{}: y: {e}", path.display()));
    Set {
        x,
        y: y.iter().map(|v| *v != 0.0).collect(),
    }
}

fn read_as_f64<D: ndarray::Dimension>(
    npz: &mut NpzReader<std::fs::File>,
    name: &str,
) -> Result<ndarray::Array<f64, D>, ReadNpzError> {
    if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<f64>, D>(name) {
        return Ok(a);
    }
    if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<u8>, D>(name) {
        return Ok(a.mapv(f64::from));
    }
    if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<i16>, D>(name) {
        return Ok(a.mapv(f64::from));
    }
    if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<i32>, D>(name) {
        return Ok(a.mapv(f64::from));
    }
    if let Ok(a) = npz.by_name::<ndarray::OwnedRepr<i64>, D>(name) {
        return Ok(a.mapv(|v| v as f64));
    }
    npz.by_name::<ndarray::OwnedRepr<f32>, D>(name)
        .map(|a| a.mapv(f64::from))
}

/// scikit-learn's mean ROC-AUC over seeds 0-9 per set, as
/// `benches/sklearn_iforest.py` measured it into tests/fixtures.
pub fn sklearn_ten_seeds() -> Vec<(String, f64)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/adbench_sklearn.csv");
    let text = std::fs::read_to_string(&path).expect("the scikit-learn reference");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("set,"))
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            (
                cells[0].to_owned(),
                cells[2].parse().expect("auc_seeds_0_9"),
            )
        })
        .collect()
}

/// Mean ROC-AUC of lakehound's forest over `seeds`, with scikit-learn's
/// settings (100 trees, 256 samples).
pub fn forest_auc(set: &Set, seeds: std::ops::Range<u64>) -> f64 {
    let aucs: Vec<f64> = seeds
        .map(|seed| {
            let forest = lakehound::forest::IsolationForestParams {
                seed,
                ..Default::default()
            }
            .check()
            .expect("default parameters are valid")
            .fit(set.x.view())
            .expect("the set fits");
            let scores = forest.scores(set.x.view()).expect("the set scores");
            lakehound::eval::roc_auc(&scores, &set.y).expect("both classes present")
        })
        .collect();
    aucs.iter().sum::<f64>() / aucs.len() as f64
}
