//! Every model in models/ honours the detector contract.

use std::path::Path;

use lakehound::activity::baseline;
use lakehound::lake;
use lakehound::models::{builtin, BUILTIN_MODELS, BUILTIN_SENSITIVITY};
use lakehound::pipeline::{context, load};
use lakehound::sensitivity::SENSITIVITY_FILE;
use lakehound::window::{Bound, Bucket, Window};

use super::fixture::Org;

/// People in the fixture: enough weekday identity-days in the second half
/// of the baseline (about 10 each) for the forest's 400.
const PEOPLE: usize = 48;
/// Sessions a weekday: enough active hours that an hour nobody works is
/// below time_of_week's threshold.
const SESSIONS: std::ops::Range<u32> = 3..6;

#[test]
fn every_shipped_model_honours_the_detector_contract_and_reports() {
    let models = builtin().unwrap().detectors;
    assert_eq!(models.len(), BUILTIN_MODELS.len());
    let lake = tempfile::tempdir().unwrap();
    Org::of(30, PEOPLE, SESSIONS)
        .with_exec_spike()
        .with_odd_night()
        .write(lake.path());
    let window = Window::new(
        Bound::Date(super::fixture::date("2026-11-02")),
        Bound::Date(super::fixture::date("2026-11-08")),
        28,
    )
    .unwrap();
    let bucket: Bucket = "1h".parse().unwrap();
    let files = lake::discover(&lake.path().into(), &window.partition_dates()).unwrap();
    let activity = load::scan(&files, &window, bucket).unwrap().activity;
    let peers = context::resolve(&activity, &window, None).unwrap();
    let (baselines, current) = baseline::build(activity, &window, bucket, peers);
    for (path, model) in &models {
        let first = model.fit(&baselines).unwrap().score(&current).unwrap();
        let again = model.fit(&baselines).unwrap().score(&current).unwrap();
        assert_eq!(first, again, "{} is deterministic", path.display());
        assert!(
            !first.is_empty(),
            "{} reported nothing on an exec burst and a night of secrets reads",
            path.display()
        );
        for e in &first {
            assert!(
                e.p_value.is_finite() && e.p_value > 0.0 && e.p_value <= 1.0,
                "{}: p {}",
                path.display(),
                e.p_value
            );
            assert!(e.start < e.end, "{}: empty span", path.display());
            assert!(
                e.start >= window.start && e.end <= window.end + bucket.micros,
                "{}: span outside window",
                path.display()
            );
            assert!(!e.reason.is_empty());
            assert!((e.user as usize) < baselines.users.len());
        }
    }
}

#[test]
fn the_built_in_models_are_the_models_folder_file_for_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let mut shipped: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    shipped.sort();
    let mut built_in: Vec<(String, String)> = BUILTIN_MODELS
        .iter()
        .map(|(name, text)| (name.to_string(), text.to_string()))
        .collect();
    built_in.push((SENSITIVITY_FILE.into(), BUILTIN_SENSITIVITY.into()));
    built_in.sort();
    assert_eq!(
        built_in, shipped,
        "BUILTIN_MODELS and BUILTIN_SENSITIVITY in src/models.rs are every models/*.toml"
    );
}
