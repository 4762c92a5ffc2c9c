//! Reading the ODDS/ADBench sets in ../shared/datasets/adbench, the
//! scikit-learn reference figures (its README's, seeds 0-2, and
//! tests/fixtures/adbench_sklearn.csv, per seed), and fitting lakehound's
//! forest with the same settings. Shared by the AUC test (`forest.rs`) and
//! `benches/forest.rs`.

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

/// scikit-learn's ROC-AUC per set and seed, as `benches/sklearn_iforest.py`
/// measured it into tests/fixtures/adbench_sklearn.csv.
pub struct SklearnReference {
    /// (set, AUC of seeds 0, 1, ...) in the file's order.
    pub aucs: Vec<(String, Vec<f64>)>,
    /// Seeds per set (the same for every set).
    pub seeds: usize,
}

impl SklearnReference {
    pub fn mean_of(&self, set: &str) -> f64 {
        self.aucs
            .iter()
            .find(|(name, _)| name == set)
            .map(|(_, aucs)| Spread::of(aucs).mean)
            .unwrap_or(f64::NAN)
    }
}

pub fn sklearn_reference() -> SklearnReference {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/adbench_sklearn.csv");
    let text = std::fs::read_to_string(&path).expect("the scikit-learn reference");
    let mut aucs: Vec<(String, Vec<f64>)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.starts_with("set,") {
            continue;
        }
        // set,seed,auc
        let cells: Vec<&str> = line.split(',').collect();
        let (set, seed, auc) = (cells[0], cells[1], cells[2]);
        let auc: f64 = auc
            .parse()
            .unwrap_or_else(|_| panic!("{}:{}: auc {auc:?}", path.display(), n + 1));
        match aucs.last_mut() {
            Some((name, list)) if name == set => list.push(auc),
            _ => aucs.push((set.to_owned(), vec![auc])),
        }
        let seed: usize = seed.parse().expect("seed");
        assert_eq!(
            seed + 1,
            aucs.last().unwrap().1.len(),
            "{}:{}: seeds in order from 0",
            path.display(),
            n + 1
        );
    }
    let seeds = aucs.first().map_or(0, |(_, a)| a.len());
    assert!(
        aucs.iter().all(|(_, a)| a.len() == seeds),
        "every set has the same seeds"
    );
    SklearnReference { aucs, seeds }
}

/// Mean and sample standard deviation of per-seed AUCs.
pub struct Spread {
    pub mean: f64,
    pub sd: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Spread {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        Spread {
            mean,
            sd: var.sqrt(),
        }
    }
}

/// Anomaly scores of lakehound's forest fitted and scored on the whole set
/// with scikit-learn's settings (100 trees, 256 samples) and `seed`.
pub fn forest_scores(set: &Set, seed: u64) -> Vec<f64> {
    lakehound::forest::IsolationForestParams {
        seed,
        ..Default::default()
    }
    .check()
    .expect("default parameters are valid")
    .fit(set.x.view())
    .expect("the set fits")
    .scores(set.x.view())
    .expect("the set scores")
}

pub fn auc(set: &Set, scores: &[f64]) -> f64 {
    lakehound::eval::roc_auc(scores, &set.y).expect("both classes present")
}

pub fn forest_auc(set: &Set, seed: u64) -> f64 {
    auc(set, &forest_scores(set, seed))
}
