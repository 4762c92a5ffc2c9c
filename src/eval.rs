//! `lakehound eval`: how well ranked findings recover labelled scenarios.
//!
//! A finding matches a label when it names the same identity and its span
//! overlaps the label's. Attack labels are the relevant set. Average
//! precision walks the ranking: each finding that is the first match of an
//! attack label adds the precision at its position; later findings of an
//! already-found attack are skipped (one incident, reported in pieces), and
//! every other finding counts as a false positive.
//!
//! An `--out` folder of daily runs is evaluated as one ranking: every
//! window's findings pooled and ordered by p-value (the score's order), as
//! an analyst working through a week of mornings would meet them.

use chrono::DateTime;
use polars::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::lake::results::{self, RunFiles};
use crate::lake::{Location, FINDINGS_FILE};
use crate::review::Finding;

#[derive(Debug, Clone)]
pub struct Label {
    pub scenario: String,
    pub kind: String,
    pub user: String,
    pub start: i64,
    pub end: i64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub findings: usize,
    pub attacks: usize,
    pub average_precision: f64,
    /// (k, recall of attacks (label rows grouped by scenario and identity)
    /// within the top k findings).
    pub recall_at: Vec<(usize, f64)>,
    /// Per label: its scenario, kind, user and the rank of its first matching finding.
    pub labels: Vec<(String, String, String, Option<u32>)>,
    /// Findings among the first [`TOP_BENIGN`] counted positions that match
    /// a benign label and no attack.
    pub benign_in_top: usize,
    /// Per attack found: the span of its first matching finding over that
    /// of the attack's episodes it overlaps, in label order (the sample
    /// generator's labels are whole hours, so at least one default bucket).
    pub span_ratios: Vec<f64>,
}

/// How well per-bucket scores (`scores.parquet`) separate the buckets of
/// attacks from the rest: a bucket is an attack's when it belongs to the
/// attack label's identity and overlaps its span.
#[derive(Debug, Serialize)]
pub struct BucketReport {
    pub buckets: usize,
    pub attack_buckets: usize,
    pub roc_auc: Option<f64>,
    /// (false-alarm rate, share of attack buckets scored above every
    /// threshold that keeps false alarms at or under it).
    pub hit_rate_at: Vec<(f64, f64)>,
}

/// False-alarm rates the bucket report quotes hit rates at.
pub const FALSE_ALARM_RATES: [f64; 2] = [0.01, 0.05];

/// One scored bucket, read back.
#[derive(Debug, Clone)]
pub struct ScoredBucket {
    pub user: String,
    pub start: i64,
    pub end: i64,
    pub score: f64,
    /// The identity's events in the bucket.
    pub events: u64,
}

/// The head of the ranking where benign look-alikes are counted.
pub const TOP_BENIGN: usize = 10;

impl Report {
    /// Median of `span_ratios`; `None` when no attack was found.
    pub fn median_span_ratio(&self) -> Option<f64> {
        crate::stats::median(&self.span_ratios)
    }
}

pub fn read_labels(place: &Location) -> Result<Vec<Label>> {
    let path = place.as_path();
    let missing = || Error::Read {
        path: path.clone(),
        source: std::io::ErrorKind::NotFound.into(),
    };
    let bytes = place.read()?.ok_or_else(missing)?;
    let text = String::from_utf8(bytes).map_err(|_| Error::Labels {
        path: path.clone(),
        line: 0,
        reason: "not UTF-8 text".into(),
    })?;
    let bad = |line: usize, reason: String| Error::Labels {
        path: path.clone(),
        line,
        reason,
    };
    let mut lines = text.lines().enumerate();
    let header = split_csv(lines.next().map(|(_, l)| l).unwrap_or(""));
    let index = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| bad(1, format!("no `{name}` column in the header")))
    };
    let (scenario, kind, user, start, end) = (
        index("scenario")?,
        index("kind")?,
        index("user")?,
        index("start")?,
        index("end")?,
    );
    let mut labels = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let f = split_csv(line);
        let get = |j: usize| {
            f.get(j)
                .cloned()
                .ok_or_else(|| bad(i + 1, format!("missing field {}", j + 1)))
        };
        let time = |s: String| {
            DateTime::parse_from_rfc3339(&s)
                .map(|t| t.timestamp_micros())
                .map_err(|_| bad(i + 1, format!("{s:?} is not an RFC 3339 instant")))
        };
        labels.push(Label {
            scenario: get(scenario)?,
            kind: get(kind)?,
            user: get(user)?,
            start: time(get(start)?)?,
            end: time(get(end)?)?,
        });
    }
    Ok(labels)
}

/// Splits one CSV line, honouring double quotes.
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    out.push(field);
    out
}

/// `path` may be a findings file, a window folder, or an `--out` folder
/// holding one or more windows (daily runs, say), whose findings are pooled.
/// A window folder is read at its latest complete run (`_latest.json` on S3).
pub fn findings_paths(path: &Location) -> Result<Vec<RunFiles>> {
    if path.file_name().ends_with(".parquet") && path.exists()? {
        let dir = path.parent();
        return Ok(vec![RunFiles {
            findings: path.clone(),
            scores: dir.join(crate::lake::SCORES_FILE),
            manifest: dir.join(crate::lake::MANIFEST_FILE),
        }]);
    }
    if let Some(run) = results::latest(path)? {
        return Ok(vec![run]);
    }
    let mut windows = Vec::new();
    for dir in path.list_dirs()? {
        windows.extend(results::latest(&dir)?);
    }
    if windows.is_empty() {
        return Err(Error::NoFindings {
            path: path.as_path(),
            reason: format!("no {FINDINGS_FILE} here or in a window=... folder"),
        });
    }
    Ok(windows)
}

/// The findings of every file, pooled into one ranking by p-value (the
/// score's order without its rounding; ties by user, then start), ranks
/// renumbered from 1.
pub fn read_pooled(paths: &[RunFiles]) -> Result<Vec<Finding>> {
    let mut all = Vec::new();
    for p in paths {
        all.extend(read_findings(&p.findings)?);
    }
    if paths.len() > 1 {
        all.sort_by(|a, b| {
            a.p_value
                .total_cmp(&b.p_value)
                .then(a.user.cmp(&b.user))
                .then(a.start.cmp(&b.start))
        });
        for (i, f) in all.iter_mut().enumerate() {
            f.rank = i as u32 + 1;
        }
    }
    Ok(all)
}

/// The rows `read` takes from the Parquet file at `path`; a file that is
/// missing, undecodable or lacks a column is an error naming it.
fn read_rows<T>(
    path: &Location,
    read: impl Fn(&DataFrame) -> PolarsResult<Vec<T>>,
) -> Result<Vec<T>> {
    if !path.exists()? {
        return Err(Error::NoFindings {
            path: path.as_path(),
            reason: "no such file".into(),
        });
    }
    let df = path.read_parquet()?;
    read(&df).map_err(|source| Error::ReadFindings {
        path: path.as_path(),
        source,
    })
}

/// The findings of one file, in rank order; a missing file is an error
/// naming it.
pub fn read_findings(path: &Location) -> Result<Vec<Finding>> {
    if !path.exists()? {
        return Err(Error::NoFindings {
            path: path.as_path(),
            reason: "no such file".into(),
        });
    }
    crate::review::read_findings(path)
}

/// One attack: the label rows of one scenario and identity, each an
/// episode (an attack that came back on three days is three rows).
struct Attack<'a> {
    user: &'a str,
    episodes: Vec<&'a Label>,
}

impl Attack<'_> {
    fn of(labels: &[Label]) -> Vec<Attack<'_>> {
        let mut out: Vec<Attack> = Vec::new();
        let mut keys: Vec<(&str, &str)> = Vec::new();
        for l in labels.iter().filter(|l| l.kind == "attack") {
            let key = (l.scenario.as_str(), l.user.as_str());
            match keys.iter().position(|k| *k == key) {
                Some(i) => out[i].episodes.push(l),
                None => {
                    keys.push(key);
                    out.push(Attack {
                        user: &l.user,
                        episodes: vec![l],
                    });
                }
            }
        }
        out
    }

    /// The episodes `f` overlaps.
    fn overlapped<'f>(&'f self, f: &'f Finding) -> impl Iterator<Item = &'f Label> + 'f {
        self.episodes
            .iter()
            .copied()
            .filter(move |l| f.user == self.user && f.start < l.end && f.end > l.start)
    }

    fn matches(&self, f: &Finding) -> bool {
        self.overlapped(f).next().is_some()
    }

    /// The finding's span over that of the episodes it overlaps.
    fn span_ratio(&self, f: &Finding) -> f64 {
        let (start, end) = self.overlapped(f).fold((i64::MAX, i64::MIN), |(a, b), l| {
            (a.min(l.start), b.max(l.end))
        });
        (f.end - f.start) as f64 / (end - start).max(1) as f64
    }
}

pub fn evaluate(labels: &[Label], findings: &[Finding], ks: &[usize]) -> Report {
    let attacks = Attack::of(labels);
    let matches = |f: &Finding, l: &Label| f.user == l.user && f.start < l.end && f.end > l.start;
    let mut found: Vec<Option<usize>> = vec![None; attacks.len()];
    let mut position = 0usize;
    let mut hits = 0usize;
    let mut ap = 0.0;
    let mut first_position: Vec<Option<usize>> = vec![None; attacks.len()];
    let mut span_ratio: Vec<Option<f64>> = vec![None; attacks.len()];
    let mut benign_in_top = 0;
    let benign: Vec<&Label> = labels.iter().filter(|l| l.kind != "attack").collect();
    for f in findings {
        let new = attacks
            .iter()
            .enumerate()
            .find(|(i, a)| found[*i].is_none() && a.matches(f));
        let repeat = attacks
            .iter()
            .enumerate()
            .any(|(i, a)| found[i].is_some() && a.matches(f));
        if new.is_none() && repeat {
            continue;
        }
        position += 1;
        if let Some((i, a)) = new {
            hits += 1;
            found[i] = Some(f.rank as usize);
            first_position[i] = Some(position);
            span_ratio[i] = Some(a.span_ratio(f));
            ap += hits as f64 / position as f64;
        } else if position <= TOP_BENIGN && !repeat && benign.iter().any(|l| matches(f, l)) {
            benign_in_top += 1;
        }
    }
    let n = attacks.len().max(1) as f64;
    let recall_at = ks
        .iter()
        .map(|k| {
            let r = first_position
                .iter()
                .filter(|p| p.is_some_and(|p| p <= *k))
                .count();
            (*k, r as f64 / n)
        })
        .collect();
    let label_rows = labels
        .iter()
        .map(|l| {
            let rank = findings.iter().find(|f| matches(f, l)).map(|f| f.rank);
            (l.scenario.clone(), l.kind.clone(), l.user.clone(), rank)
        })
        .collect();
    Report {
        findings: findings.len(),
        attacks: attacks.len(),
        average_precision: ap / n,
        recall_at,
        labels: label_rows,
        benign_in_top,
        span_ratios: span_ratio.into_iter().flatten().collect(),
    }
}

/// The per-bucket scores beside each findings file; `None` when any is
/// missing (runs from before `scores.parquet` existed).
pub fn read_bucket_scores(runs: &[RunFiles]) -> Result<Option<Vec<ScoredBucket>>> {
    let mut out = Vec::new();
    for run in runs {
        let path = &run.scores;
        if !path.exists()? {
            return Ok(None);
        }
        let read = |df: &DataFrame| -> PolarsResult<Vec<ScoredBucket>> {
            let user = df.column("user")?.str()?;
            let start = df.column("bucket_start")?.cast(&DataType::Int64)?;
            let end = df.column("bucket_end")?.cast(&DataType::Int64)?;
            let score = df.column("score")?.f64()?;
            let events = df.column("events")?.cast(&DataType::UInt64)?;
            let (start, end, events) = (start.i64()?, end.i64()?, events.u64()?);
            Ok((0..df.height())
                .filter_map(|i| {
                    Some(ScoredBucket {
                        user: user.get(i)?.to_owned(),
                        start: start.get(i)?,
                        end: end.get(i)?,
                        score: score.get(i)?,
                        events: events.get(i).unwrap_or(0),
                    })
                })
                .collect())
        };
        out.extend(read_rows(path, read)?);
    }
    Ok(Some(out))
}

pub fn evaluate_buckets(labels: &[Label], buckets: &[ScoredBucket]) -> BucketReport {
    let attacks: Vec<&Label> = labels.iter().filter(|l| l.kind == "attack").collect();
    let truth: Vec<bool> = buckets
        .iter()
        .map(|b| {
            attacks
                .iter()
                .any(|l| l.user == b.user && l.start < b.end && l.end > b.start)
        })
        .collect();
    let scores: Vec<f64> = buckets.iter().map(|b| b.score).collect();
    BucketReport {
        buckets: buckets.len(),
        attack_buckets: truth.iter().filter(|t| **t).count(),
        roc_auc: roc_auc(&scores, &truth),
        hit_rate_at: FALSE_ALARM_RATES
            .iter()
            .filter_map(|r| Some((*r, hit_rate_at(&scores, &truth, *r)?)))
            .collect(),
    }
}

/// The share of anomalies scored above the lowest threshold whose false
/// alarms (normal rows at or above it) are at most `rate` of the normal
/// rows. Tied scores are taken or left together. `None` when either class
/// is empty.
pub fn hit_rate_at(scores: &[f64], labels: &[bool], rate: f64) -> Option<f64> {
    let positives = labels.iter().filter(|l| **l).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let allowed = (rate * negatives as f64).floor() as usize;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut hits, mut alarms, mut start) = (0, 0, 0);
    while start < order.len() {
        let mut end = start;
        let (mut h, mut a) = (0, 0);
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            if labels[order[end]] {
                h += 1;
            } else {
                a += 1;
            }
            end += 1;
        }
        if alarms + a > allowed {
            break;
        }
        (hits, alarms, start) = (hits + h, alarms + a, end);
    }
    Some(hits as f64 / positives as f64)
}

/// Area under the ROC curve of `scores` (higher = more anomalous) against
/// `labels` (true = anomaly): the chance a random anomaly outscores a random
/// normal row, ties counting half (Mann-Whitney with mid-ranks). `None`
/// when either class is empty.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut positives) = (0.0, 0usize);
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        // Ranks start..end (1-based start+1..=end) share their mean.
        let mid_rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            if labels[i] {
                rank_sum += mid_rank;
                positives += 1;
            }
        }
        start = end;
    }
    let negatives = scores.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(user: &str, kind: &str) -> Label {
        Label {
            scenario: "s".into(),
            kind: kind.into(),
            user: user.into(),
            start: 10,
            end: 20,
        }
    }
    fn finding(rank: u32, user: &str) -> Finding {
        Finding {
            rank,
            user: user.into(),
            start: 12,
            end: 14,
            score: 50.0,
            p_value: 1e-5,
            ..Finding::default()
        }
    }

    #[test]
    fn perfect_ranking_has_average_precision_one() {
        let labels = [label("a", "attack"), label("b", "attack")];
        let r = evaluate(
            &labels,
            &[finding(1, "a"), finding(2, "b"), finding(3, "c")],
            &[1, 2],
        );
        assert_eq!(r.average_precision, 1.0);
        assert_eq!(r.recall_at, vec![(1, 0.5), (2, 1.0)]);
    }

    #[test]
    fn a_false_positive_on_top_halves_the_first_hit() {
        let labels = [label("a", "attack")];
        let r = evaluate(&labels, &[finding(1, "x"), finding(2, "a")], &[1]);
        assert!((r.average_precision - 0.5).abs() < 1e-12);
    }

    #[test]
    fn a_second_finding_of_the_same_attack_is_not_a_false_positive() {
        let labels = [label("a", "attack"), label("b", "attack")];
        let r = evaluate(
            &labels,
            &[finding(1, "a"), finding(2, "a"), finding(3, "b")],
            &[2],
        );
        assert_eq!(r.average_precision, 1.0);
    }

    #[test]
    fn benign_labels_are_not_relevant() {
        let labels = [label("a", "attack"), label("n", "benign")];
        let r = evaluate(&labels, &[finding(1, "n"), finding(2, "a")], &[]);
        assert!((r.average_precision - 0.5).abs() < 1e-12);
    }

    #[test]
    fn benign_look_alikes_at_the_head_are_counted_and_spans_compared() {
        let labels = [label("a", "attack"), label("n", "benign")];
        let mut wide = finding(2, "a");
        (wide.start, wide.end) = (0, 40);
        let r = evaluate(&labels, &[finding(1, "n"), wide, finding(3, "n")], &[]);
        // Both of n's findings are look-alikes within the first ten.
        assert_eq!(r.benign_in_top, 2);
        // The attack spans 10..20; its finding 0..40.
        assert_eq!(r.span_ratios, vec![4.0]);
        assert_eq!(r.median_span_ratio(), Some(4.0));
    }

    #[test]
    fn an_attack_on_two_days_is_one_attack_whose_episodes_set_the_span() {
        // Rows of one scenario and identity: episodes 10..20 and 110..120.
        let later = Label {
            start: 110,
            end: 120,
            ..label("a", "attack")
        };
        let labels = [label("a", "attack"), later, label("b", "attack")];
        let mut second_day = finding(1, "a");
        (second_day.start, second_day.end) = (110, 130);
        let r = evaluate(
            &labels,
            &[
                second_day,
                finding(2, "a"),
                finding(3, "c"),
                finding(4, "b"),
            ],
            &[1, 3],
        );
        assert_eq!(r.attacks, 2);
        // a's first-day finding repeats a found attack: it takes no place.
        assert_eq!(r.recall_at, vec![(1, 0.5), (3, 1.0)]);
        assert!((r.average_precision - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        // Against the second day's episode (10 long), not 10..120.
        assert_eq!(r.span_ratios[0], 2.0);
    }

    #[test]
    fn daily_windows_are_pooled_by_score_and_renumbered() {
        let out = tempfile::tempdir().unwrap();
        let write = |window: &str, rows: &[(&str, f64)]| {
            let dir = out.path().join(window);
            let mut df = df!(
                "rank" => (1..=rows.len() as u32).collect::<Vec<_>>(),
                "user" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
                "window_start" => rows.iter().map(|_| 0i64).collect::<Vec<_>>(),
                "window_end" => rows.iter().map(|_| 1i64).collect::<Vec<_>>(),
                "score" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                "p_value" => rows.iter().map(|r| (-r.1 / 10.0).exp()).collect::<Vec<_>>(),
            )
            .unwrap();
            std::fs::create_dir_all(&dir).unwrap();
            let f = std::fs::File::create(dir.join(FINDINGS_FILE)).unwrap();
            ParquetWriter::new(f).finish(&mut df).unwrap();
        };
        write("window=a", &[("x", 90.0), ("y", 30.0)]);
        write("window=b", &[("z", 50.0)]);
        let paths = findings_paths(&Location::Local(out.path().to_path_buf())).unwrap();
        assert_eq!(paths.len(), 2);
        let pooled = read_pooled(&paths).unwrap();
        let order: Vec<(u32, &str)> = pooled.iter().map(|f| (f.rank, f.user.as_str())).collect();
        assert_eq!(order, [(1, "x"), (2, "z"), (3, "y")]);
    }

    #[test]
    fn hit_rate_counts_anomalies_above_the_false_alarm_budget() {
        // 100 normal rows at 0..100, anomalies at 150, 98.5 and 50.
        let mut scores: Vec<f64> = (0..100).map(f64::from).collect();
        let mut labels = vec![false; 100];
        scores.extend([150.0, 98.5, 50.0]);
        labels.extend([true, true, true]);
        // 1% of 100 normals: one false alarm (99) allowed, so 150 and 98.5.
        let r = hit_rate_at(&scores, &labels, 0.01).unwrap();
        assert!((r - 2.0 / 3.0).abs() < 1e-12, "{r}");
        // No alarm allowed: only 150.
        let r = hit_rate_at(&scores, &labels, 0.001).unwrap();
        assert!((r - 1.0 / 3.0).abs() < 1e-12, "{r}");
        // A tie with a normal row is taken or left together.
        assert_eq!(hit_rate_at(&[1.0, 1.0], &[true, false], 0.0), Some(0.0));
        assert_eq!(hit_rate_at(&[1.0], &[true], 0.01), None);
    }

    #[test]
    fn buckets_of_an_attackers_span_are_the_positives() {
        let labels = [label("a", "attack"), label("n", "benign")];
        let bucket = |user: &str, start: i64, score: f64| ScoredBucket {
            user: user.into(),
            start,
            end: start + 5,
            score,
            events: 1,
        };
        let buckets = [
            bucket("a", 10, 90.0),
            bucket("a", 30, 0.0),
            bucket("n", 10, 40.0),
            bucket("x", 10, 0.0),
        ];
        let r = evaluate_buckets(&labels, &buckets);
        assert_eq!((r.buckets, r.attack_buckets), (4, 1));
        assert_eq!(r.roc_auc, Some(1.0));
        assert_eq!(r.hit_rate_at, vec![(0.01, 1.0), (0.05, 1.0)]);
    }

    #[test]
    fn quoted_csv_fields_keep_their_commas() {
        assert_eq!(split_csv("a,\"b, c\",d"), vec!["a", "b, c", "d"]);
    }

    #[test]
    fn roc_auc_is_the_chance_an_anomaly_outscores_a_normal_row() {
        let labels = [false, false, true, true];
        assert_eq!(roc_auc(&[0.1, 0.2, 0.3, 0.4], &labels), Some(1.0));
        assert_eq!(roc_auc(&[0.4, 0.3, 0.2, 0.1], &labels), Some(0.0));
        assert_eq!(roc_auc(&[0.5; 4], &labels), Some(0.5));
        // 3 anomalies x 2 normals: 0.3 beats 0.1 only, 0.9 beats both, 0.35
        // beats 0.1 and ties 0.35 (a half): (1 + 2 + 1.5) / 6.
        let labels = [false, false, true, true, true];
        let auc = roc_auc(&[0.1, 0.35, 0.3, 0.9, 0.35], &labels).unwrap();
        assert!((auc - 4.5 / 6.0).abs() < 1e-12, "{auc}");
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
    }
}
