//! The report as one self-contained HTML page: styles and charts inline, a
//! Content-Security-Policy that forbids every fetch and every script, and
//! every text from a finding or the lake escaped.

use std::fmt::Write;

use plotters::style::RGBColor;

use super::chart::{self, bar_colour};
use super::{span, Reviewed};
use crate::review::RunBounds;
use crate::text::html as escape;
use crate::window::{fmt_time, rfc3339};

/// Evidence events listed per finding at most.
const MAX_EVIDENCE: usize = 50;
/// A score the legend shows for the colour of a scored bucket.
const LEGEND_SCORE: f64 = 60.0;

const STYLE: &str = "
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1000px; color: #1f2933; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin: 0 0 4px; }
h3 { font-size: 14px; margin: 14px 0 4px; } .muted { color: #616e7c; }
section { border-top: 1px solid #cbd2d9; padding: 18px 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 3px 8px 3px 0; vertical-align: top; border-bottom: 1px solid #e4e7eb; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.wrap, li { overflow-wrap: anywhere; } td.nowrap { white-space: nowrap; } td.word { overflow-wrap: break-word; } code { font-size: 12px; }
.score { display: inline-block; min-width: 44px; padding: 1px 6px; border-radius: 4px; color: white; text-align: center; }
.legend span { display: inline-block; margin-right: 14px; }
.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; }
figure { margin: 8px 0; } svg { max-width: 100%; height: auto; }
";

/// `11-06 21:00:05`: an event's time, the year being the window's.
fn time_of(t: i64) -> String {
    chrono::DateTime::from_timestamp_micros(t)
        .map(|d| d.format("%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn css(colour: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", colour.0, colour.1, colour.2)
}

/// The whole page. `with_lake` says whether the timelines carry the
/// baseline band and the evidence events.
pub fn page(bounds: &RunBounds, total: usize, findings: &[Reviewed], with_lake: bool) -> String {
    let window = format!(
        "{} .. {}",
        fmt_time(bounds.window_start),
        fmt_time(bounds.window_end)
    );
    let mut out = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>lakehound findings, {window}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>lakehound findings</h1>\n<p class=\"muted\">window {window} · {total} findings, the top {} here · run {}</p>\n",
        findings.len(),
        escape(&bounds.run_id),
    );
    if !with_lake {
        out += "<p class=\"muted\">Made without <code>--lake</code>: activity comes from \
                scores.parquet, with no baseline band and no evidence events.</p>\n";
    }
    out += &summary(findings);
    for r in findings {
        out += &section(r);
    }
    out + "</body>\n</html>\n"
}

fn score_badge(score: f64) -> String {
    format!(
        "<span class=\"score\" style=\"background:{}\">{score:.1}</span>",
        css(bar_colour(score.max(f64::MIN_POSITIVE)))
    )
}

fn summary(findings: &[Reviewed]) -> String {
    let mut out = String::from(
        "<table>\n<tr><th>#</th><th>score</th><th>identity</th><th>span (UTC)</th><th>detectors</th><th>status</th></tr>\n",
    );
    for r in findings {
        let f = &r.finding;
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#f-{id}\">{}</a></td><td>{}</td><td class=\"wrap\">{}</td><td class=\"nowrap\">{}</td><td>{}</td><td>{}</td></tr>",
            f.rank,
            score_badge(f.score),
            escape(&f.user),
            span(f.start, f.end),
            escape(&f.detectors.join(", ")),
            escape(&f.status),
            id = escape(&f.id),
        );
    }
    out + "</table>\n"
}

fn section(r: &Reviewed) -> String {
    let (f, t) = (&r.finding, &r.timeline);
    let mut out = format!(
        "<section id=\"f-{}\">\n<h2>#{} {} {}</h2>\n<p class=\"muted\">{} .. {} · {} · detectors {} · peers {}{} · finding {}</p>\n",
        escape(&f.id),
        f.rank,
        score_badge(f.score),
        escape(&f.user),
        rfc3339(f.start),
        rfc3339(f.end),
        escape(&f.status),
        escape(&f.detectors.join(", ")),
        escape(&f.peer_group),
        if f.techniques.is_empty() {
            String::new()
        } else {
            format!(" · ATT&amp;CK {}", escape(&f.techniques.join(", ")))
        },
        escape(&f.id),
    );
    out += &match chart::svg(t, (f.start, f.end)) {
        Ok(svg) => format!("<figure>{svg}</figure>\n"),
        Err(e) => format!("<p class=\"muted\">(no chart: {})</p>\n", escape(&e)),
    };
    out += &legend(t.band.is_some(), t.baseline_days);
    out += "<h3>Why</h3>\n<ul>\n";
    for reason in &f.reasons {
        let _ = writeln!(out, "<li>{}</li>", escape(reason));
    }
    out += "</ul>\n";
    out += &actions("First-seen actions", &t.first_seen_actions);
    out += &actions("Sensitive actions", &t.sensitive_actions);
    out += &evidence(r);
    out + "</section>\n"
}

fn legend(with_band: bool, days: i64) -> String {
    let swatch = |colour: RGBColor, text: &str| {
        format!(
            "<span><i class=\"swatch\" style=\"background:{}\"></i>{text}</span>",
            css(colour)
        )
    };
    let mut items = vec![
        swatch(chart::QUIET, "events (no evidence)"),
        swatch(
            bar_colour(LEGEND_SCORE),
            "events, coloured by the bucket's score",
        ),
        swatch(chart::SPAN, "the finding's span"),
    ];
    if with_band {
        items.push(swatch(
            chart::BAND,
            &format!("10th-90th percentile at the same time of day over {days} baseline days"),
        ));
        items.push(swatch(chart::EXPECTED, "baseline mean"));
    }
    items.push(swatch(chart::FIRST_SEEN, "▲ first-seen action"));
    items.push(swatch(chart::SENSITIVE, "● sensitive action"));
    format!("<p class=\"legend muted\">{}</p>\n", items.join(""))
}

fn actions(title: &str, actions: &std::collections::BTreeSet<String>) -> String {
    if actions.is_empty() {
        return String::new();
    }
    let list: Vec<String> = actions
        .iter()
        .map(|a| format!("<code>{}</code>", escape(a)))
        .collect();
    format!("<p><b>{title}:</b> {}</p>\n", list.join(", "))
}

fn evidence(r: &Reviewed) -> String {
    let (f, t) = (&r.finding, &r.timeline);
    if t.band.is_none() {
        return format!(
            "<p class=\"muted\">{} evidence event ids (pass --lake to see the events).</p>\n",
            f.evidence.len()
        );
    }
    let mut out = format!(
        "<h3>Evidence events ({} of {} ids found in the lake)</h3>\n<table>\n\
         <tr><th>time (UTC)</th><th>source</th><th>action</th><th>target</th><th>source ip</th><th>user agent</th><th>event id</th></tr>\n",
        t.evidence.len(),
        f.evidence.len()
    );
    for e in t.evidence.iter().take(MAX_EVIDENCE) {
        let _ = writeln!(
            out,
            "<tr><td class=\"nowrap\">{}</td><td>{}</td><td class=\"word\">{}</td><td class=\"wrap\">{}</td><td>{}</td><td class=\"wrap\">{}</td><td class=\"nowrap\"><code>{}</code></td></tr>",
            time_of(e.t),
            escape(&e.source),
            escape(&e.action),
            escape(&e.target),
            escape(&e.src_ip),
            escape(&e.user_agent),
            escape(&e.event_id),
        );
    }
    out + "</table>\n"
}
