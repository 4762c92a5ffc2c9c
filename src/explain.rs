//! `lakehound explain`: one finding as an analyst reviews it, read back
//! from the results and the lake: what it says, how often the identity did
//! the finding's actions in its baseline against the finding's span, and
//! the evidence events themselves. Everything printed can be
//! attacker-controlled (user agents, targets, command lines), so control
//! characters and escape sequences are stripped.

use std::collections::{BTreeMap, BTreeSet};

use polars::prelude::*;

use crate::error::{Error, Result};
use crate::eval::findings_paths;
use crate::lake::{discover, events_frame, Location, MISPLACED, T};
use crate::schema::{ACTION, EVENT_ID, SOURCE, SRC_IP, TARGET, USER, USER_AGENT};
use crate::window::{date_of, rfc3339, MICROS_PER_DAY};

/// Evidence events printed at most (a finding lists at most 20 ids).
const MAX_EVENTS: usize = 50;

/// A finding's row, as `findings.parquet` holds it.
struct Finding {
    user: String,
    start: i64,
    end: i64,
    score: f64,
    p_value: f64,
    detectors: Vec<String>,
    reasons: Vec<String>,
    evidence: Vec<String>,
    techniques: Vec<String>,
    peer_group: String,
    status: String,
}

/// The finding `id` under `findings` (its latest window if it continued),
/// explained against `lake`, as text.
pub fn explain(id: &str, findings: &Location, lake: &Location) -> Result<String> {
    let (finding, baseline_start, window_start) = find(id, findings)?;
    let dates: Vec<chrono::NaiveDate> = date_of(baseline_start)
        .iter_days()
        .take_while(|d| *d <= date_of(finding.end - 1))
        .collect();
    let files = discover(lake, &dates)?;
    let columns = [USER, ACTION, EVENT_ID, SOURCE, TARGET, SRC_IP, USER_AGENT];
    let doing = || format!("reading {}'s events from {lake}", finding.user);
    let events = if files.files.is_empty() {
        DataFrame::empty()
    } else {
        events_frame(&files.files, &columns)?
            .filter(
                col(USER)
                    .eq(lit(finding.user.as_str()))
                    .and(col(MISPLACED).not())
                    .and(col(T).gt_eq(lit(baseline_start)))
                    .and(col(T).lt(lit(finding.end))),
            )
            .sort([T], Default::default())
            .collect()
            .map_err(Error::query(doing()))?
    };
    let rows = rows(&events).map_err(Error::query(doing()))?;
    Ok(render(&finding, &rows, baseline_start, window_start))
}

/// One event of the identity: (time, action, event id, source, target, src
/// ip, user agent).
type Row = (i64, String, String, String, String, String, String);

fn rows(df: &DataFrame) -> PolarsResult<Vec<Row>> {
    if df.height() == 0 {
        return Ok(Vec::new());
    }
    let t = df.column(T)?.i64()?;
    let text = |name: &str| -> PolarsResult<Vec<String>> {
        Ok(df
            .column(name)?
            .str()?
            .iter()
            .map(|v| v.unwrap_or("").to_owned())
            .collect())
    };
    let (a, id, s, tg, ip, ua) = (
        text(ACTION)?,
        text(EVENT_ID)?,
        text(SOURCE)?,
        text(TARGET)?,
        text(SRC_IP)?,
        text(USER_AGENT)?,
    );
    Ok((0..df.height())
        .map(|i| {
            let at = |v: &Vec<String>| v[i].clone();
            (
                t.get(i).unwrap_or(0),
                at(&a),
                at(&id),
                at(&s),
                at(&tg),
                at(&ip),
                at(&ua),
            )
        })
        .collect())
}

/// The finding and its run's baseline start and window start.
fn find(id: &str, findings: &Location) -> Result<(Finding, i64, i64)> {
    let mut best: Option<(Finding, i64, i64)> = None;
    for run in findings_paths(findings)? {
        let df = run.findings.read_parquet()?;
        let read = |df: &DataFrame| read_finding(df, id);
        let found = read(&df).map_err(|source| Error::ReadFindings {
            path: run.findings.as_path(),
            source,
        })?;
        let Some(finding) = found else { continue };
        if best.as_ref().is_some_and(|(b, ..)| b.end >= finding.end) {
            continue;
        }
        let (baseline_start, window_start) = run_bounds(&run.manifest)?;
        best = Some((finding, baseline_start, window_start));
    }
    best.ok_or_else(|| Error::NoFindings {
        path: findings.as_path(),
        reason: format!("no finding {id} there (ids are in findings.parquet's finding_id)"),
    })
}

fn run_bounds(manifest: &Location) -> Result<(i64, i64)> {
    let bad = |reason: String| Error::NoFindings {
        path: manifest.as_path(),
        reason,
    };
    let bytes = manifest
        .read()?
        .ok_or_else(|| bad("the run's run.json is missing".into()))?;
    let json: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
    let time = |key: &str| {
        json[key]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.timestamp_micros())
            .ok_or_else(|| bad(format!("no {key} in it")))
    };
    Ok((time("baseline_start")?, time("window_start")?))
}

fn read_finding(df: &DataFrame, id: &str) -> PolarsResult<Option<Finding>> {
    let ids = df.column("finding_id")?.str()?;
    let Some(i) = (0..df.height()).find(|&i| ids.get(i) == Some(id)) else {
        return Ok(None);
    };
    let text = |name: &str| -> PolarsResult<String> {
        Ok(df.column(name)?.str()?.get(i).unwrap_or("").to_owned())
    };
    let time = |name: &str| -> PolarsResult<i64> {
        Ok(df
            .column(name)?
            .cast(&DataType::Int64)?
            .i64()?
            .get(i)
            .unwrap_or(0))
    };
    let number = |name: &str| -> PolarsResult<f64> {
        Ok(df.column(name)?.f64()?.get(i).unwrap_or(f64::NAN))
    };
    let list = |name: &str| -> PolarsResult<Vec<String>> {
        let Ok(column) = df.column(name) else {
            return Ok(Vec::new());
        };
        Ok(match column.list()?.get_as_series(i) {
            Some(s) => s.str()?.iter().flatten().map(str::to_owned).collect(),
            None => Vec::new(),
        })
    };
    Ok(Some(Finding {
        user: text("user")?,
        start: time("window_start")?,
        end: time("window_end")?,
        score: number("score")?,
        p_value: number("p_value")?,
        detectors: list("detectors")?,
        reasons: list("reasons")?,
        evidence: list("evidence_event_ids")?,
        techniques: list("attack_techniques")?,
        peer_group: text("peer_group").unwrap_or_default(),
        status: text("status").unwrap_or_default(),
    }))
}

/// Text safe for a terminal: no control characters (escape sequences lose
/// their ESC and print as plain text).
pub fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

fn render(f: &Finding, events: &[Row], baseline_start: i64, window_start: i64) -> String {
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
    let shown: Vec<&Row> = events
        .iter()
        .filter(|e| e.0 >= f.start && evidence.contains(e.2.as_str()))
        .collect();
    let actions: BTreeSet<&str> = shown.iter().map(|e| e.1.as_str()).collect();
    let days = ((window_start - baseline_start) / MICROS_PER_DAY).max(1);
    out += &format!(
        "\nbaseline: {} days from {}; the finding's actions, per day in the baseline against its span:\n",
        days,
        rfc3339(baseline_start)
    );
    let mut counts: BTreeMap<&str, (u64, u64)> = actions.iter().map(|a| (*a, (0, 0))).collect();
    for e in events {
        if let Some(c) = counts.get_mut(e.1.as_str()) {
            if e.0 < window_start {
                c.0 += 1;
            } else if e.0 >= f.start {
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
            rfc3339(e.0),
            p(&e.3),
            p(&e.1),
            p(&e.2),
            p(&e.4),
            p(&e.5),
            p(&e.6)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_control_characters_do_not_reach_the_terminal() {
        let planted = "curl/8\u{1b}[2J\u{1b}]0;owned\u{7}\r\nok";
        let shown = printable(planted);
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert_eq!(shown, "curl/8[2J]0;ownedok");
    }
}
