//! Time arithmetic for a run: the scoring window, the baseline before it, and
//! the bucket size. All instants are UTC microseconds since the epoch, the
//! unit of the lake's `event_time`.

use chrono::{DateTime, NaiveDate, Utc};

use crate::error::{Error, Result};

pub const MICROS_PER_MINUTE: i64 = 60_000_000;
pub const MICROS_PER_HOUR: i64 = 60 * MICROS_PER_MINUTE;
pub const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;
/// Hours in a week: the length of an hour-of-week profile.
pub const HOURS_PER_WEEK: usize = 7 * 24;
/// The longest baseline a run takes, in days (ten years): more is a typo,
/// and would reach past the dates a lake can hold.
pub const MAX_BASELINE_DAYS: u32 = 3_650;

/// A bound given on the command line: a whole UTC date or an exact instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Date(NaiveDate),
    Instant(DateTime<Utc>),
}

impl std::str::FromStr for Bound {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Ok(Bound::Date(d));
        }
        DateTime::parse_from_rfc3339(s)
            .map(|t| Bound::Instant(t.with_timezone(&Utc)))
            .map_err(|_| {
                format!("{s:?} is neither a date (2026-11-02) nor an RFC 3339 instant (2026-11-02T08:00:00Z)")
            })
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::Date(d) => write!(f, "{d}"),
            Bound::Instant(t) => write!(f, "{}", t.to_rfc3339()),
        }
    }
}

/// Bucket width, e.g. `1h`, `30m`, `1d`. It must divide a day so buckets line
/// up with partitions and hour-of-week profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    pub micros: i64,
}

impl std::str::FromStr for Bucket {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (n, unit) = s.split_at(split);
        let n: i64 = n
            .parse()
            .map_err(|_| format!("{s:?} should look like 15m, 1h or 1d"))?;
        let unit_micros = match unit {
            "m" | "min" => MICROS_PER_MINUTE,
            "h" => MICROS_PER_HOUR,
            "d" => MICROS_PER_DAY,
            _ => return Err(format!("{s:?}: unit must be m, h or d")),
        };
        match n.checked_mul(unit_micros) {
            Some(micros) if n > 0 && micros <= MICROS_PER_DAY && MICROS_PER_DAY % micros == 0 => {
                Ok(Bucket { micros })
            }
            _ => Err(format!(
                "{s:?} must be between 1m and 1d and divide a day evenly"
            )),
        }
    }
}

impl std::fmt::Display for Bucket {
    /// `1 h`, `30 min`, `1 d`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.micros % MICROS_PER_DAY == 0 {
            write!(f, "{} d", self.micros / MICROS_PER_DAY)
        } else if self.micros % MICROS_PER_HOUR == 0 {
            write!(f, "{} h", self.micros / MICROS_PER_HOUR)
        } else {
            write!(f, "{} min", self.micros / 60_000_000)
        }
    }
}

impl Bucket {
    /// The duration string Polars' `truncate` takes.
    pub fn polars_every(&self) -> String {
        format!("{}us", self.micros)
    }
    pub fn floor(&self, t: i64) -> i64 {
        t.div_euclid(self.micros) * self.micros
    }
}

/// The run's time ranges, checked: baseline `[baseline_start, start)`,
/// scoring window `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub baseline_start: i64,
    pub start: i64,
    pub end: i64,
    pub baseline_days: u32,
}

impl Window {
    pub fn new(from: Bound, to: Bound, baseline_days: u32) -> Result<Window> {
        let start = match from {
            Bound::Date(d) => day_start(d),
            Bound::Instant(t) => t.timestamp_micros(),
        };
        // `--to` is inclusive: a date includes that whole day.
        let end = match to {
            Bound::Date(d) => day_start(d) + MICROS_PER_DAY,
            Bound::Instant(t) => t.timestamp_micros(),
        };
        if end <= start {
            return Err(Error::InvalidArgument {
                arg: "--to",
                reason: format!("the range {from} .. {to} is empty: --to must come after --from"),
            });
        }
        if !(1..=MAX_BASELINE_DAYS).contains(&baseline_days) {
            return Err(Error::InvalidArgument {
                arg: "--baseline-days",
                reason: format!(
                    "{baseline_days} is outside 1-{MAX_BASELINE_DAYS}: detectors compare the window with the days before it"
                ),
            });
        }
        let baseline_start = start - i64::from(baseline_days) * MICROS_PER_DAY;
        if DateTime::from_timestamp_micros(baseline_start).is_none()
            || DateTime::from_timestamp_micros(end).is_none()
        {
            return Err(Error::InvalidArgument {
                arg: "--from/--to",
                reason: format!("the range {from} .. {to} with its baseline is outside the dates a lake can hold"),
            });
        }
        Ok(Window {
            baseline_start,
            start,
            end,
            baseline_days,
        })
    }

    /// The UTC dates of every partition the run needs, baseline included.
    pub fn partition_dates(&self) -> Vec<NaiveDate> {
        let first = date_of(self.baseline_start);
        let last = date_of(self.end - 1);
        first.iter_days().take_while(|d| *d <= last).collect()
    }

    pub fn in_window(&self, t: i64) -> bool {
        t >= self.start && t < self.end
    }

    pub fn window_days(&self) -> f64 {
        (self.end - self.start) as f64 / MICROS_PER_DAY as f64
    }
}

pub fn day_start(d: NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_micros()
}

/// The UTC date of an instant; instants past chrono's range (about
/// 262,000 years) clamp to its ends.
pub fn date_of(t: i64) -> NaiveDate {
    DateTime::from_timestamp_micros(t)
        .map(|t| t.date_naive())
        .unwrap_or(if t < 0 {
            NaiveDate::MIN
        } else {
            NaiveDate::MAX
        })
}

/// The start of the UTC day `t` falls in.
pub fn day_floor(t: i64) -> i64 {
    t - t.rem_euclid(MICROS_PER_DAY)
}

pub fn rfc3339(t: i64) -> String {
    DateTime::from_timestamp_micros(t)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| t.to_string())
}

/// `2026-11-04 06:00 UTC`, for reason sentences.
pub fn fmt_time(t: i64) -> String {
    DateTime::from_timestamp_micros(t)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| t.to_string())
}

/// `2026-11-04`: the UTC date of an instant, for reason sentences.
pub fn fmt_date(t: i64) -> String {
    date_of(t).to_string()
}

/// Hour of the week, 0 = Monday 00:00 UTC.
pub fn hour_of_week(t: i64) -> usize {
    // 1970-01-01 was a Thursday: shift so that Monday is 0.
    let hours = t.div_euclid(MICROS_PER_HOUR) + 3 * 24;
    hours.rem_euclid(HOURS_PER_WEEK as i64) as usize
}

/// How many times each hour of the week occurs in `[from, to)` (hours that
/// overlap it): 4 each for 28 days, none for most of them over 3 days.
pub fn hour_exposure(from: i64, to: i64) -> [u32; HOURS_PER_WEEK] {
    let mut exposure = [0; HOURS_PER_WEEK];
    let first = from.div_euclid(MICROS_PER_HOUR);
    let last = (to - 1).div_euclid(MICROS_PER_HOUR);
    let hours = (last - first + 1).max(0);
    let weeks = hours / HOURS_PER_WEEK as i64;
    for h in exposure.iter_mut() {
        *h = weeks as u32;
    }
    // The partial week left after the whole ones.
    for hour in first + weeks * HOURS_PER_WEEK as i64..=last {
        exposure[hour_of_week(hour * MICROS_PER_HOUR)] += 1;
    }
    exposure
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Bound {
        s.parse().unwrap()
    }

    #[test]
    fn to_date_is_inclusive_of_the_whole_day() {
        let w = Window::new(d("2026-11-02"), d("2026-11-02"), 28).unwrap();
        assert_eq!(w.end - w.start, MICROS_PER_DAY);
        assert_eq!(w.partition_dates().len(), 29);
    }

    #[test]
    fn to_before_from_is_a_usage_error() {
        let err = Window::new(d("2026-11-03"), d("2026-11-02"), 28).unwrap_err();
        assert!(err.is_usage());
        assert!(err.to_string().contains("--to must come after --from"));
    }

    #[test]
    fn a_baseline_past_ten_years_is_refused_not_a_panic() {
        let err = Window::new(d("2026-11-02"), d("2026-11-08"), 100_000_000).unwrap_err();
        assert!(err.is_usage());
        assert!(err.to_string().contains("--baseline-days"), "{err}");
        assert!(Window::new(d("2026-11-02"), d("2026-11-08"), MAX_BASELINE_DAYS).is_ok());
    }

    #[test]
    fn equal_instants_are_an_empty_range() {
        let t = d("2026-11-02T08:00:00Z");
        assert!(Window::new(t, t, 28).is_err());
    }

    #[test]
    fn bucket_must_divide_a_day() {
        assert!("7h".parse::<Bucket>().is_err());
        assert!("0h".parse::<Bucket>().is_err());
        assert!("2d".parse::<Bucket>().is_err());
        // Would overflow i64 microseconds if multiplied unchecked.
        assert!("99999999999999999m".parse::<Bucket>().is_err());
        assert_eq!("30m".parse::<Bucket>().unwrap().micros, 1_800_000_000);
    }

    #[test]
    fn hour_of_week_starts_monday_midnight_utc() {
        // 2026-11-02 is a Monday.
        let monday = day_start(NaiveDate::from_ymd_opt(2026, 11, 2).unwrap());
        assert_eq!(hour_of_week(monday), 0);
        assert_eq!(hour_of_week(monday + 25 * MICROS_PER_HOUR), 25);
        assert_eq!(hour_of_week(monday - MICROS_PER_HOUR), 167);
    }

    #[test]
    fn exposure_counts_each_hour_of_the_week_the_baseline_holds() {
        let held = |w: Window| hour_exposure(w.baseline_start, w.start);
        let four_weeks = Window::new(d("2026-11-02"), d("2026-11-02"), 28).unwrap();
        assert!(held(four_weeks).iter().all(|e| *e == 4));
        // Friday, Saturday and Sunday before Monday 2026-11-02.
        let three_days = Window::new(d("2026-11-02"), d("2026-11-02"), 3).unwrap();
        let e = held(three_days);
        assert_eq!(e.iter().sum::<u32>(), 72);
        assert!(e[..4 * 24].iter().all(|x| *x == 0));
        assert!(e[4 * 24..].iter().all(|x| *x == 1));
        let ten_days = Window::new(d("2026-11-02"), d("2026-11-02"), 10).unwrap();
        let e = held(ten_days);
        assert_eq!((e[0], e[4 * 24 + 5]), (1, 2));
    }
}
