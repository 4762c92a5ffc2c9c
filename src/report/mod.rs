//! `lakehound report`: the morning review of a run's top findings. A table
//! for the terminal, readable at 100 columns, and optionally one
//! self-contained HTML page charting each identity's activity in the window
//! against its baseline band.
//!
//! Everything in a finding can be attacker-controlled (user names, user
//! agents, targets, Falco command lines): the terminal gets it without
//! control characters, the page gets it escaped.

mod activity;
mod chart;
mod html;
mod timeline;

use crate::error::{Error, Result};
use crate::eval::{findings_paths, read_bucket_scores};
use crate::lake::results::RunFiles;
use crate::lake::Location;
use crate::review::{read_findings, run_bounds, Finding, RunBounds};
use crate::sensitivity::Sensitivity;
use crate::text::printable;
use crate::window::{fmt_time, MICROS_PER_DAY};

pub use timeline::Timeline;

/// The terminal's width the table is laid out for.
const COLUMNS: usize = 100;
/// Widths of the table's fixed columns.
const RANK_WIDTH: usize = 3;
const SCORE_WIDTH: usize = 6;
const USER_WIDTH: usize = 44;
const SPAN_WIDTH: usize = 26;
/// A reason is cut after this many lines on the terminal (`explain` and the
/// page show it whole).
const REASON_LINES: usize = 3;
/// Where a finding's second line and reasons start.
const INDENT: usize = 5;

/// One finding as the report shows it.
pub struct Reviewed {
    pub finding: Finding,
    pub timeline: Timeline,
}

/// The run a report covers: the latest window under `findings`.
struct Run {
    files: RunFiles,
    bounds: RunBounds,
    /// Every finding of the run, in rank order.
    findings: Vec<Finding>,
}

/// The table of the top `top` findings under `findings`; with `html`, the
/// page too, its timelines read from `lake` (or from `scores.parquet`
/// alone without it).
pub fn report(
    findings: &Location,
    lake: Option<&Location>,
    top: usize,
    html: Option<&Location>,
    sensitivity: &Sensitivity,
) -> Result<String> {
    let run = latest_run(findings)?;
    let shown = &run.findings[..top.min(run.findings.len())];
    let mut text = table(&run, shown);
    if let Some(page) = html {
        let reviewed = review(&run, shown, lake, sensitivity)?;
        let total = run.findings.len();
        page.write(html::page(&run.bounds, total, &reviewed, lake.is_some()).into_bytes())?;
        text += &format!("\nwrote the report to {page}\n");
    }
    Ok(text)
}

/// The window with the latest end among the runs under `findings`. A run
/// whose run.json cannot be used (an old or damaged window) is passed over
/// with a warning, unless no run can be used.
fn latest_run(findings: &Location) -> Result<Run> {
    let mut usable = Vec::new();
    let mut unusable = Vec::new();
    for files in findings_paths(findings)? {
        match run_bounds(&files) {
            Ok(bounds) => usable.push((files, bounds)),
            Err(e) => unusable.push((files, e)),
        }
    }
    let Some((files, bounds)) = usable.into_iter().max_by_key(|(_, b)| b.window_end) else {
        return Err(unusable.into_iter().next().map_or_else(
            || Error::NoFindings {
                path: findings.as_path(),
                reason: "no run there".into(),
            },
            |(_, e)| e,
        ));
    };
    for (files, e) in unusable {
        tracing::warn!(run = %files.manifest, error = %e, "Passing over a run whose run.json cannot be used.");
    }
    let findings = read_findings(&files.findings)?;
    Ok(Run {
        files,
        bounds,
        findings,
    })
}

/// Each finding with its identity's timeline over the run's window.
fn review(
    run: &Run,
    findings: &[Finding],
    lake: Option<&Location>,
    sensitivity: &Sensitivity,
) -> Result<Vec<Reviewed>> {
    let scores = read_bucket_scores(std::slice::from_ref(&run.files))?.unwrap_or_default();
    let observed = match lake {
        Some(lake) => Some(activity::read(lake, &run.bounds, findings)?),
        None => None,
    };
    // An identity with no events in the lake's range.
    let nothing = activity::Observed::default();
    Ok(findings
        .iter()
        .map(|finding| {
            let mine = observed
                .as_ref()
                .map(|o| o.get(&finding.user).unwrap_or(&nothing));
            let timeline = timeline::build(&run.bounds, finding, &scores, mine, sensitivity);
            Reviewed {
                finding: finding.clone(),
                timeline,
            }
        })
        .collect())
}

/// The terminal table: a header, then per finding its line, its context
/// and its reasons, wrapped.
fn table(run: &Run, findings: &[Finding]) -> String {
    let b = &run.bounds;
    let mut out = format!(
        "window {} .. {}: {} findings (run {}); the top {}\n\n",
        fmt_time(b.window_start),
        fmt_time(b.window_end),
        run.findings.len(),
        printable(&b.run_id),
        findings.len()
    );
    out += &format!(
        "{:>RANK_WIDTH$}  {:>SCORE_WIDTH$}  {:<USER_WIDTH$}  {:<SPAN_WIDTH$}  status\n",
        "#", "score", "identity", "span (UTC)"
    );
    for f in findings {
        out += &finding_lines(f);
    }
    out
}

fn finding_lines(f: &Finding) -> String {
    let status_width = COLUMNS - RANK_WIDTH - SCORE_WIDTH - USER_WIDTH - SPAN_WIDTH - 8;
    let mut out = format!(
        "{:>RANK_WIDTH$}  {:>SCORE_WIDTH$.1}  {:<USER_WIDTH$}  {:<SPAN_WIDTH$}  {}\n",
        f.rank,
        f.score,
        cut(&printable(&f.user), USER_WIDTH),
        span(f.start, f.end),
        cut(&printable(&f.status), status_width),
    );
    let mut context = vec![printable(&f.detectors.join(", "))];
    if !f.techniques.is_empty() {
        context.push(printable(&f.techniques.join(", ")));
    }
    if !f.peer_group.is_empty() {
        context.push(format!("peers {}", printable(&f.peer_group)));
    }
    context.push(format!("id {}", printable(&f.id)));
    let indent = " ".repeat(INDENT);
    out += &wrap(&context.join(" · "), &indent, INDENT, usize::MAX);
    let bullet = format!("{indent}- ");
    for reason in &f.reasons {
        out += &wrap(&printable(reason), &bullet, bullet.len(), REASON_LINES);
    }
    out + "\n"
}

/// `11-06 21:00 .. 23:00`, the end's date only where it differs.
fn span(start: i64, end: i64) -> String {
    let at = |t: i64, format: &str| {
        chrono::DateTime::from_timestamp_micros(t)
            .map(|t| t.format(format).to_string())
            .unwrap_or_default()
    };
    let same_day = start.div_euclid(MICROS_PER_DAY) == (end - 1).div_euclid(MICROS_PER_DAY);
    let end_format = if same_day { "%H:%M" } else { "%m-%d %H:%M" };
    format!("{} .. {}", at(start, "%m-%d %H:%M"), at(end, end_format))
}

/// `text` cut to `width` characters, an ellipsis marking the cut.
fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `text` wrapped at word boundaries to [`COLUMNS`], the first line
/// starting with `prefix`, the rest indented by `rest`, at most `max_lines`
/// lines (the last cut with an ellipsis).
fn wrap(text: &str, prefix: &str, rest: usize, max_lines: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut line = prefix.to_owned();
    let mut empty = true;
    for word in text.split_whitespace() {
        let fits = line.chars().count() + 1 + word.chars().count() <= COLUMNS;
        if !empty && !fits {
            lines.push(std::mem::replace(&mut line, " ".repeat(rest)));
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line += word;
        empty = false;
    }
    lines.push(line);
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        let last = lines.last_mut().expect("max_lines is at least 1");
        *last = cut(last, COLUMNS - 1);
        if !last.ends_with('…') {
            last.push('…');
        }
    }
    lines
        .iter()
        .map(|l| cut(l, COLUMNS) + "\n")
        .collect::<String>()
}
