//! `lakehound explain`: one finding as an analyst reviews it, read back
//! from the results and the lake: what it says, how often the identity did
//! the finding's actions in its baseline against the finding's span, and
//! the evidence events themselves. Everything printed can be
//! attacker-controlled (user agents, targets, command lines), so control
//! characters and escape sequences are stripped.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::eval::findings_paths;
use crate::lake::Location;
use crate::review::{identity_events, read_findings, run_bounds, Event, Finding};
use crate::text::printable;
use crate::window::{rfc3339, MICROS_PER_DAY};

/// Evidence events printed at most (a finding lists at most 20 ids).
const MAX_EVENTS: usize = 50;

/// The finding `id` under `findings` (its latest window if it continued),
/// explained against `lake`, as text.
pub fn explain(id: &str, findings: &Location, lake: &Location) -> Result<String> {
    let (finding, baseline_start, window_start) = find(id, findings)?;
    let events = identity_events(lake, &[finding.user.as_str()], baseline_start, finding.end)?;
    Ok(render(&finding, &events, baseline_start, window_start))
}

/// The finding and its run's baseline start and window start.
fn find(id: &str, findings: &Location) -> Result<(Finding, i64, i64)> {
    let mut best: Option<(Finding, i64, i64)> = None;
    for run in findings_paths(findings)? {
        let found = read_findings(&run.findings)?
            .into_iter()
            .find(|f| f.id == id);
        let Some(finding) = found else { continue };
        if best.as_ref().is_some_and(|(b, ..)| b.end >= finding.end) {
            continue;
        }
        let bounds = run_bounds(&run)?;
        best = Some((finding, bounds.baseline_start, bounds.window_start));
    }
    best.ok_or_else(|| Error::FindingNotFound {
        id: id.to_owned(),
        path: findings.as_path(),
    })
}

fn render(f: &Finding, events: &[Event], baseline_start: i64, window_start: i64) -> String {
    let p = |s: &str| printable(s);
    let mut out = format!(
        "{} score {:.1} (p = {:.1e}), {} .. {}, {} ({})\n  detectors: {}\n  peers: {}\n",
        p(&f.user),
        f.score,
        f.p_value,
        rfc3339(f.start),
        rfc3339(f.end),
        p(&f.status),
        p(&f.techniques.join(", ")),
        p(&f.detectors.join(", ")),
        p(&f.peer_group),
    );
    for r in &f.reasons {
        out += &format!("  - {}\n", p(r));
    }
    let evidence: BTreeSet<&str> = f.evidence.iter().map(String::as_str).collect();
    let shown: Vec<&Event> = events
        .iter()
        .filter(|e| e.t >= f.start && evidence.contains(e.event_id.as_str()))
        .collect();
    let actions: BTreeSet<&str> = shown.iter().map(|e| e.action.as_str()).collect();
    let days = ((window_start - baseline_start) / MICROS_PER_DAY).max(1);
    out += &format!(
        "\nbaseline: {} days from {}; the finding's actions, per day in the baseline against its span:\n",
        days,
        rfc3339(baseline_start)
    );
    let mut counts: BTreeMap<&str, (u64, u64)> = actions.iter().map(|a| (*a, (0, 0))).collect();
    for e in events {
        if let Some(c) = counts.get_mut(e.action.as_str()) {
            if e.t < window_start {
                c.0 += 1;
            } else if e.t >= f.start {
                c.1 += 1;
            }
        }
    }
    for (action, (base, span)) in &counts {
        out += &format!(
            "  {:<40} {:>8.2}/day in the baseline, {span} in the span\n",
            p(action),
            *base as f64 / days as f64
        );
    }
    out += &format!(
        "\nevidence events ({} of {} ids found in the lake):\n",
        shown.len(),
        f.evidence.len()
    );
    for e in shown.iter().take(MAX_EVENTS) {
        out += &format!(
            "  {}  {}  {}  {}  target={}  ip={}  agent={}\n",
            rfc3339(e.t),
            p(&e.source),
            p(&e.action),
            p(&e.event_id),
            p(&e.target),
            p(&e.src_ip),
            p(&e.user_agent)
        );
    }
    out
}
