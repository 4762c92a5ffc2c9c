//! `lakehound explain` on a finding of the sample lake's run.

use crate::support::{code, findings, lakehound, list_strings, stderr, stdout};

#[test]
fn a_finding_is_explained_with_its_baseline_and_every_evidence_event_from_the_lake() {
    let out = tempfile::tempdir().unwrap();
    let o = lakehound(&["run", "--out", out.path().to_str().unwrap(), "--show", "0"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let found = findings(out.path());
    let first = |column: &str| {
        let values = found.column(column).unwrap().str().unwrap();
        values.get(0).unwrap().to_owned()
    };
    let (id, user) = (first("finding_id"), first("user"));
    let evidence = list_strings(&found, "evidence_event_ids", 0);
    assert!(!evidence.is_empty());
    let lake = lakehound::app::sample_lake();
    let explain = |id: &str| {
        let (out, lake) = (out.path().to_str().unwrap(), lake.to_str().unwrap());
        lakehound(&["explain", id, "--findings", out, "--lake", lake])
    };
    let o = explain(&id);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.starts_with(&user), "{text}");
    let n = evidence.len();
    assert!(
        text.contains(&format!(
            "evidence events ({n} of {n} ids found in the lake)"
        )),
        "{text}"
    );
    for event_id in &evidence {
        assert!(text.contains(event_id.as_str()), "{event_id} in {text}");
    }
    assert!(text.contains("/day in the baseline"), "{text}");
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{text:?}"
    );

    let missing = explain("no-such-finding");
    assert_eq!(code(&missing), 2);
    assert!(
        stderr(&missing).contains("no finding no-such-finding"),
        "{}",
        stderr(&missing)
    );
}
