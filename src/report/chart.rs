//! A timeline as an SVG chart: a bar per bucket (coloured by the run's
//! score of it), the baseline's band and expectation for that time of day
//! behind it, the finding's span shaded, and marks over buckets with a
//! first-seen or a sensitive action. No text from the finding goes into the
//! chart: only times and counts (the page escapes the rest).

use plotters::coord::combinators::BindKeyPoints;
use plotters::prelude::*;

use super::timeline::Timeline;
use crate::window::MICROS_PER_DAY;

/// Pixel size of a chart.
pub const WIDTH: u32 = 960;
pub const HEIGHT: u32 = 240;
/// Room for the axes' labels.
const X_LABEL_AREA: u32 = 28;
const Y_LABEL_AREA: u32 = 48;
const MARGIN: u32 = 10;
/// Room for the last tick's label, centred on the axis' end.
const RIGHT_MARGIN: u32 = 36;
/// Steps of the time axis per bucket (its coordinates are integers, which
/// take custom ticks).
const STEPS: i64 = 100;
/// A bar leaves this many steps of its bucket free on each side.
const BAR_GAP: i64 = 12;
/// Steps of the count axis per decade. Counts are drawn on a log(1 + n)
/// scale, so that a burst of a thousand and the baseline's handful both
/// show.
const Y_STEPS: f64 = 1000.0;
/// Head room above the highest bar, for the marks, in decades.
const HEAD_ROOM: f64 = 0.35;
/// Ticks on the time axis: one a day for windows longer than a day, else
/// one every this many hours.
const TICK_HOURS: i64 = 3;
const MARK_SIZE: i32 = 5;
const FONT: (&str, u32) = ("sans-serif", 12);

/// The palette; the page's legend uses the same colours.
pub const SPAN: RGBColor = RGBColor(255, 243, 196);
pub const BAND: RGBColor = RGBColor(190, 215, 238);
pub const EXPECTED: RGBColor = RGBColor(31, 95, 168);
pub const QUIET: RGBColor = RGBColor(154, 165, 177);
pub const SCORED_LOW: RGBColor = RGBColor(240, 180, 41);
pub const SCORED_HIGH: RGBColor = RGBColor(204, 40, 40);
pub const FIRST_SEEN: RGBColor = RGBColor(123, 63, 176);
pub const SENSITIVE: RGBColor = RGBColor(20, 20, 20);

/// The chart as an SVG document, or why it could not be drawn.
pub fn svg(timeline: &Timeline, span: (i64, i64)) -> Result<String, String> {
    let mut out = String::new();
    draw(timeline, span, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

fn draw(
    t: &Timeline,
    span: (i64, i64),
    out: &mut String,
) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
    let n = t.counts.len().max(1) as i64;
    let root = SVGBackend::with_string(out, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let x = |time: i64| (time - t.window_start) * STEPS / t.bucket_micros;
    let at = |i: usize| i as i64 * STEPS;
    let y =
        |count: f64| (count.max(0.0).ln_1p() / std::f64::consts::LN_10 * Y_STEPS).round() as i64;
    let top = y(y_max(t)) + (HEAD_ROOM * Y_STEPS) as i64;
    let mut chart = ChartBuilder::on(&root)
        .margin(MARGIN)
        .margin_right(RIGHT_MARGIN)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(
            (0..n * STEPS).with_key_points(ticks(t, n)),
            (0..top).with_key_points(count_ticks(y_max(t)).into_iter().map(y).collect()),
        )?;
    let label = |v: &i64| tick_label(t, *v);
    let count_label = |v: &i64| nice(((*v as f64) / Y_STEPS * std::f64::consts::LN_10).exp_m1());
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&label)
        .y_label_formatter(&count_label)
        .y_desc("events per bucket (log scale)")
        .label_style(FONT)
        .axis_desc_style(FONT)
        .draw()?;
    let (from, to) = (x(span.0).clamp(0, n * STEPS), x(span.1).clamp(0, n * STEPS));
    chart.draw_series(std::iter::once(Rectangle::new(
        [(from, 0), (to, top)],
        SPAN.filled(),
    )))?;
    if let Some(band) = &t.band {
        chart.draw_series(band.iter().enumerate().map(|(i, b)| {
            Rectangle::new([(at(i), y(b.low)), (at(i + 1), y(b.high))], BAND.filled())
        }))?;
    }
    chart.draw_series(t.counts.iter().enumerate().map(|(i, c)| {
        let (left, right) = (at(i) + BAR_GAP, at(i + 1) - BAR_GAP);
        Rectangle::new(
            [(left, 0), (right, y(*c as f64))],
            bar_colour(t.scores[i]).filled(),
        )
    }))?;
    if let Some(band) = &t.band {
        // A step line: the expectation holds over its whole bucket.
        let steps = band
            .iter()
            .enumerate()
            .flat_map(|(i, b)| [(at(i), y(b.expected)), (at(i + 1), y(b.expected))]);
        chart.draw_series(LineSeries::new(steps, EXPECTED.stroke_width(2)))?;
    }
    // Marks stack above their bar: the first-seen triangle, then the
    // sensitive dot, each a tenth of a decade higher.
    let lift = (Y_STEPS / 10.0) as i64;
    let above = |i: usize, k: i64| (at(i) + STEPS / 2, y(t.counts[i] as f64) + k * lift);
    chart.draw_series(
        marked(&t.first_seen)
            .map(|i| TriangleMarker::new(above(i, 1), MARK_SIZE, FIRST_SEEN.filled())),
    )?;
    chart.draw_series(
        marked(&t.sensitive).map(|i| Circle::new(above(i, 2), MARK_SIZE - 1, SENSITIVE.filled())),
    )?;
    root.present()
}

fn marked(marks: &[bool]) -> impl Iterator<Item = usize> + '_ {
    marks
        .iter()
        .enumerate()
        .filter(|(_, m)| **m)
        .map(|(i, _)| i)
}

/// A count read back from the log scale, rounded to two significant
/// digits (the scale's rounding makes 1000 read 999.3).
fn nice(count: f64) -> String {
    let unit = 10f64.powf(count.max(1.0).log10().floor() - 1.0).max(1.0);
    format!("{:.0}", (count / unit).round() * unit)
}

/// Count ticks: 0, 1, 3, 10, 30, ... up to `max`.
fn count_ticks(max: f64) -> Vec<f64> {
    let mut ticks = vec![0.0];
    let mut decade = 1.0;
    while decade <= max {
        ticks.push(decade);
        if 3.0 * decade <= max {
            ticks.push(3.0 * decade);
        }
        decade *= 10.0;
    }
    ticks
}

/// The highest of the counts and the band, at least 1.
fn y_max(t: &Timeline) -> f64 {
    let counts = t.counts.iter().map(|c| *c as f64);
    let band = t.band.iter().flatten().map(|b| b.high.max(b.expected));
    counts.chain(band).fold(1.0, f64::max)
}

/// Tick positions: midnights for a window longer than a day, every
/// [`TICK_HOURS`] otherwise.
fn ticks(t: &Timeline, n: i64) -> Vec<i64> {
    let window = t.bucket_micros * n;
    let step = if window > MICROS_PER_DAY {
        MICROS_PER_DAY
    } else {
        TICK_HOURS * crate::window::MICROS_PER_HOUR
    };
    let first = t.window_start + (step - t.window_start.rem_euclid(step)) % step;
    (0..)
        .map(|k| first + k * step)
        .take_while(|time| *time <= t.window_start + window)
        .map(|time| (time - t.window_start) * STEPS / t.bucket_micros)
        .collect()
}

fn tick_label(t: &Timeline, v: i64) -> String {
    let time = t.window_start + v * t.bucket_micros / STEPS;
    let format = if time.rem_euclid(MICROS_PER_DAY) == 0 {
        "%a %m-%d"
    } else {
        "%H:%M"
    };
    chrono::DateTime::from_timestamp_micros(time)
        .map(|d| d.format(format).to_string())
        .unwrap_or_default()
}

/// Grey for a bucket no evidence fell in; amber to red as the score rises.
pub fn bar_colour(score: f64) -> RGBColor {
    if score <= 0.0 {
        return QUIET;
    }
    let w = (score / 100.0).clamp(0.0, 1.0);
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * w).round() as u8;
    RGBColor(
        mix(SCORED_LOW.0, SCORED_HIGH.0),
        mix(SCORED_LOW.1, SCORED_HIGH.1),
        mix(SCORED_LOW.2, SCORED_HIGH.2),
    )
}
