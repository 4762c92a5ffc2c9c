//! Stage 6: the event ids behind each finding, so an analyst can pivot to the
//! raw events. A second, narrow scan: only the window, only the users with
//! findings, four columns.

use std::collections::{BTreeSet, HashMap};

use polars::prelude::*;

use super::rank::Finding;
use crate::error::{Error, Result};
use crate::lake::{events_frame, LakeFiles, MISPLACED, T};
use crate::schema::{ACTION, EVENT_ID, SOURCE, USER};
use crate::window::Window;

/// Event ids listed per finding; the first ones in time order.
pub const MAX_EVENT_IDS: usize = 20;

pub fn attach(findings: &mut [Finding], files: &LakeFiles, window: &Window) -> Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    let users: BTreeSet<&str> = findings.iter().map(|f| f.user.as_str()).collect();
    // Only the scoring window's partitions hold evidence.
    let first = crate::window::date_of(window.start);
    let window_files: Vec<_> = files
        .files
        .iter()
        .filter(|f| f.date >= first)
        .cloned()
        .collect();
    let users = Series::new("users".into(), users.into_iter().collect::<Vec<_>>());
    let df = events_frame(&window_files, &[USER, ACTION, SOURCE, EVENT_ID])?
        .filter(
            col(T)
                .gt_eq(lit(window.start))
                .and(col(T).lt(lit(window.end)))
                .and(col(MISPLACED).not())
                .and(col(USER).is_in(lit(users).implode(false), false)),
        )
        .select([col(USER), col(T), col(ACTION), col(SOURCE), col(EVENT_ID)])
        // Copies of an identity's event: the earliest (then by action) is
        // kept, whichever file it came from; an id another identity reuses
        // is not a copy.
        .sort([T, EVENT_ID, USER, ACTION], SortMultipleOptions::default())
        .unique_stable(
            Some(cols([USER, SOURCE, EVENT_ID])),
            UniqueKeepStrategy::First,
        )
        .collect()
        .map_err(Error::query("collecting evidence event ids"))?;
    let read = || -> PolarsResult<Vec<(String, i64, String, String)>> {
        let u = df.column(USER)?.str()?;
        let t = df.column(T)?.i64()?;
        let a = df.column(ACTION)?.str()?;
        let id = df.column(EVENT_ID)?.str()?;
        Ok((0..df.height())
            .filter_map(|i| {
                Some((
                    u.get(i)?.to_owned(),
                    t.get(i)?,
                    a.get(i)?.to_owned(),
                    id.get(i)?.to_owned(),
                ))
            })
            .collect())
    };
    let rows = read().map_err(Error::query("reading evidence event ids"))?;
    let mut by_user: HashMap<&str, Vec<&(String, i64, String, String)>> = HashMap::new();
    for r in &rows {
        by_user.entry(r.0.as_str()).or_default().push(r);
    }
    for f in findings.iter_mut() {
        let Some(events) = by_user.get(f.user.as_str()) else {
            continue;
        };
        let in_span =
            |r: &&&(String, i64, String, String)| r.1 >= f.window_start && r.1 < f.window_end;
        let mut ids: Vec<String> = events
            .iter()
            .filter(in_span)
            .filter(|r| f.evidence_actions.is_empty() || f.evidence_actions.contains(&r.2))
            .take(MAX_EVENT_IDS)
            .map(|r| r.3.clone())
            .collect();
        if ids.is_empty() {
            // Evidence about hours or breadth names no action: show the span's events.
            ids = events
                .iter()
                .filter(in_span)
                .take(MAX_EVENT_IDS)
                .map(|r| r.3.clone())
                .collect();
        }
        f.evidence_event_ids = ids;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{frame, Event};
    use crate::window::{Bound, MICROS_PER_HOUR};

    fn event(id: &str, user: &str, action: &str, t: i64) -> Event<'static> {
        Event {
            event_time: t,
            user: user.to_owned().into(),
            tool: "kubectl".into(),
            action: action.to_owned().into(),
            source: "k8s_audit".into(),
            event_id: id.to_owned().into(),
            ..Default::default()
        }
    }

    fn finding(user: &str, start: i64, end: i64, actions: &[&str]) -> Finding {
        Finding {
            finding_id: String::new(),
            rank: 1,
            score: 90.0,
            p_value: 1e-9,
            user: user.into(),
            window_start: start,
            window_end: end,
            detectors: Vec::new(),
            reasons: Vec::new(),
            observed: 0.0,
            expected: 0.0,
            top_actions: Vec::new(),
            evidence_actions: actions.iter().map(|a| a.to_string()).collect(),
            evidence_event_ids: Vec::new(),
            attack_techniques: Vec::new(),
            peer_group: String::new(),
            first_seen: 0,
            last_seen: 0,
            status: crate::pipeline::continuity::Status::New,
        }
    }

    #[test]
    fn a_finding_lists_its_own_actions_events_in_its_span_in_time_order() {
        let d = |s: &str| Bound::Date(s.parse().unwrap());
        let window = Window::new(d("2026-11-04"), d("2026-11-04"), 1).unwrap();
        let h = |hour: i64| window.start + hour * MICROS_PER_HOUR;
        let events = [
            event("e3", "ana", "create pods/exec", h(10) + 2),
            event("e1", "ana", "create pods/exec", h(10)),
            event("e2", "ana", "get pods", h(10) + 1),
            event("e4", "ana", "create pods/exec", h(12)),
            event("e5", "bo", "create pods/exec", h(10)),
            // A second copy of e1, from another file of the day.
            event("e1", "ana", "create pods/exec", h(10)),
        ];
        let lake = tempfile::tempdir().unwrap();
        let dir = crate::lake::partition_dir(lake.path(), "2026-11-04".parse().unwrap());
        let (a, b) = events.split_at(3);
        for (name, part) in [("part-a.parquet", a), ("part-b.parquet", b)] {
            crate::lake::write_parquet(&dir.join(name), &frame(part).unwrap()).unwrap();
        }
        let files = crate::lake::discover(&lake.path().into(), &window.partition_dates()).unwrap();
        let mut findings = [
            finding("ana", h(10), h(11), &["create pods/exec"]),
            finding("bo", h(9), h(10), &[]),
        ];
        attach(&mut findings, &files, &window).unwrap();
        assert_eq!(findings[0].evidence_event_ids, ["e1", "e3"]);
        // Nothing of bo's in its span: nothing listed.
        assert!(findings[1].evidence_event_ids.is_empty());
    }
}
