//! Detector model files: the `*.toml` of a `--models` folder, or the shipped
//! `models/` compiled into the binary. Each is parsed (unknown keys refused
//! with their line and column) and checked into a detector.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::detectors::{Detector, ModelFile, ParamsError};
use crate::sensitivity::{Sensitivity, SensitivityError, SENSITIVITY_FILE};

/// Why the models could not be loaded: permanent (exit 2) but for an I/O
/// error that may pass.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read models directory {path}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("models directory {path} holds no *.toml model files")]
    Empty { path: PathBuf },

    #[error("cannot read model file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("invalid model file {path}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },

    #[error("invalid model file {path}")]
    Invalid { path: PathBuf, source: ParamsError },

    #[error("invalid sensitivity table {path}")]
    Sensitivity {
        path: PathBuf,
        source: SensitivityError,
    },

    #[error("two model files are named {name:?}: {first} and {second}")]
    Duplicate {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
}

/// A checked detector and the file it came from.
pub type Model = (PathBuf, Box<dyn Detector>);

/// A models folder, checked: its detectors and the sensitivity table they
/// and the findings use.
pub struct Models {
    pub detectors: Vec<Model>,
    pub sensitivity: Arc<Sensitivity>,
}

/// The shipped sensitivity table (`models/sensitivity.toml`).
pub const BUILTIN_SENSITIVITY: &str = include_str!("../models/sensitivity.toml");

/// The shipped `models/`, compiled into the binary, so an installed or
/// containerised `lakehound` runs without its checkout. `--models DIR`
/// replaces them.
pub const BUILTIN_MODELS: [(&str, &str); 7] = [
    ("breadth.toml", include_str!("../models/breadth.toml")),
    (
        "command_mix.toml",
        include_str!("../models/command_mix.toml"),
    ),
    (
        "count_spike.toml",
        include_str!("../models/count_spike.toml"),
    ),
    (
        "first_sensitive.toml",
        include_str!("../models/first_sensitive.toml"),
    ),
    (
        "isolation_forest.toml",
        include_str!("../models/isolation_forest.toml"),
    ),
    ("novelty.toml", include_str!("../models/novelty.toml")),
    (
        "time_of_week.toml",
        include_str!("../models/time_of_week.toml"),
    ),
];

/// Where the built-in models say they come from, in logs and run.json.
pub const BUILTIN_MODELS_ORIGIN: &str = "built-in";

/// [`BUILTIN_MODELS`] and [`BUILTIN_SENSITIVITY`], checked; each is named
/// `built-in/<file>`.
pub fn builtin() -> Result<Models, ModelError> {
    let sensitivity = builtin_sensitivity()?;
    let detectors = BUILTIN_MODELS
        .iter()
        .map(|(file, text)| {
            let path = Path::new(BUILTIN_MODELS_ORIGIN).join(file);
            parse(text, &path, &sensitivity).map(|model| (path, model))
        })
        .collect::<Result<_, _>>()?;
    Ok(Models {
        detectors,
        sensitivity,
    })
}

fn builtin_sensitivity() -> Result<Arc<Sensitivity>, ModelError> {
    sensitivity(
        BUILTIN_SENSITIVITY,
        &Path::new(BUILTIN_MODELS_ORIGIN).join(SENSITIVITY_FILE),
    )
}

fn sensitivity(text: &str, path: &Path) -> Result<Arc<Sensitivity>, ModelError> {
    Sensitivity::parse(text)
        .map(Arc::new)
        .map_err(|source| ModelError::Sensitivity {
            path: path.to_path_buf(),
            source,
        })
}

fn read(path: &Path) -> Result<String, ModelError> {
    std::fs::read_to_string(path).map_err(|source| ModelError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads and checks one model file.
pub fn load(path: &Path, sensitivity: &Arc<Sensitivity>) -> Result<Box<dyn Detector>, ModelError> {
    parse(&read(path)?, path, sensitivity)
}

/// Checks one model file's text; `path` names it in errors.
fn parse(
    text: &str,
    path: &Path,
    sensitivity: &Arc<Sensitivity>,
) -> Result<Box<dyn Detector>, ModelError> {
    let file: ModelFile = toml::from_str(text).map_err(|source| ModelError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    file.build(sensitivity)
        .map_err(|source| ModelError::Invalid {
            path: path.to_path_buf(),
            source,
        })
}

/// Every `*.toml` in `dir`, sorted by file name, checked: `sensitivity.toml`
/// is the sensitivity table (the built-in one when there is none), every
/// other file a detector. Two detectors with the same `name` are refused.
pub fn load_dir(dir: &Path) -> Result<Models, ModelError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ModelError::Dir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    let table = dir.join(SENSITIVITY_FILE);
    let sensitivity = match paths.iter().position(|p| *p == table) {
        Some(i) => sensitivity(&read(&paths.remove(i))?, &table)?,
        None => builtin_sensitivity()?,
    };
    if paths.is_empty() {
        return Err(ModelError::Empty {
            path: dir.to_path_buf(),
        });
    }
    let mut models: Vec<Model> = Vec::new();
    for path in paths {
        let model = load(&path, &sensitivity)?;
        if let Some((first, _)) = models.iter().find(|(_, m)| m.name() == model.name()) {
            return Err(ModelError::Duplicate {
                name: model.name().to_owned(),
                first: first.clone(),
                second: path,
            });
        }
        models.push((path, model));
    }
    Ok(Models {
        detectors: models,
        sensitivity,
    })
}
