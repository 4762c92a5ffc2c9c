//! Every model in models/ honours the detector contract.

use lakehound::detectors::load_models;
use lakehound::pipeline::{baseline, context, load};
use lakehound::window::{Bound, Bucket, Window};

use super::fixture::Org;

#[test]
fn every_shipped_model_honours_the_detector_contract() {
    let models = load_models(&lakehound::app::default_models()).unwrap();
    assert!(models.len() >= 4, "models/ ships the detectors");
    let lake = tempfile::tempdir().unwrap();
    Org::ordinary(30).with_exec_spike().write(lake.path());
    let window = Window::new(
        Bound::Date(super::fixture::date("2026-11-02")),
        Bound::Date(super::fixture::date("2026-11-08")),
        28,
    )
    .unwrap();
    let bucket: Bucket = "1h".parse().unwrap();
    let files = load::discover(lake.path(), &window).unwrap();
    let activity = load::scan(&files, &window, bucket).unwrap();
    let peers = context::resolve(&activity, &window, None).unwrap();
    let (baselines, current) = baseline::build(activity, &window, bucket, peers);
    let mut fired = 0;
    for (path, model) in &models {
        let first = model.fit(&baselines).unwrap().score(&current).unwrap();
        let again = model.fit(&baselines).unwrap().score(&current).unwrap();
        assert_eq!(first, again, "{} is deterministic", path.display());
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
        fired += usize::from(!first.is_empty());
    }
    assert!(
        fired >= 1,
        "the exec burst is evidence for at least one detector"
    );
}
