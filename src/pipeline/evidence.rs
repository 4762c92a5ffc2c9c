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
        // Copies of an event: the earliest (then by user, action) is kept,
        // whichever file it came from.
        .sort([T, EVENT_ID, USER, ACTION], SortMultipleOptions::default())
        .unique_stable(Some(cols([SOURCE, EVENT_ID])), UniqueKeepStrategy::First)
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
