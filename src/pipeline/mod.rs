//! The job, stage by stage. Each stage is a sibling module with one entry point.

pub mod calibrate;
pub mod context;
pub mod continuity;
pub mod evidence;
pub mod load;
pub mod rank;
pub mod score;
pub mod timeline;
pub mod write;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;
use tracing::{info, warn};

use crate::activity::baseline::{self, Baselines, WindowActivity};
use crate::activity::peers::Peers;
use crate::activity::{Activity, Quality};
use crate::detectors::Detector;
use crate::error::Result;
use crate::lake::{self, LakeFiles, Location};
use crate::window::{rfc3339, Bucket, Window};

/// A checked `run`: everything the stages need, nothing left to validate.
pub struct Job {
    pub lake: Location,
    pub window: Window,
    pub bucket: Bucket,
    pub models: Vec<(PathBuf, Box<dyn Detector>)>,
    /// Sensitive actions and their ATT&CK techniques, for `attack_techniques`.
    pub sensitivity: std::sync::Arc<crate::sensitivity::Sensitivity>,
    pub context: Option<PathBuf>,
    pub out: Location,
    pub rank: rank::RankOptions,
    /// The arguments as given, for the manifest.
    pub arguments: BTreeMap<String, String>,
}

/// What a run did; also written as `run.json`.
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub version: &'static str,
    pub arguments: BTreeMap<String, String>,
    pub baseline_start: String,
    pub window_start: String,
    pub window_end: String,
    pub partitions_read: usize,
    pub lake: LakeFiles,
    pub quality: Quality,
    pub identities: Identities,
    pub detectors: Vec<score::DetectorReport>,
    /// How each detector's p-values were calibrated on the baseline.
    pub calibration: Vec<calibrate::CalibrationReport>,
    pub candidates: usize,
    pub findings: usize,
    /// Problems that make the result partial (exit code 1).
    pub problems: Vec<String>,
    pub timings_ms: BTreeMap<&'static str, u128>,
    /// What the run asked of S3 up to writing run.json (a lake or output
    /// there); `None` for a local run.
    pub s3: Option<crate::lake::S3Usage>,
    pub output: Location,
    #[serde(skip)]
    pub top: Vec<rank::Finding>,
}

#[derive(Debug, Default, Serialize)]
pub struct Identities {
    /// Identities with any event in the baseline or window.
    pub total: usize,
    /// Identities active in the scoring window: every one is scored.
    pub scored: usize,
    /// Scored identities with no baseline history, judged against peers.
    pub cold_start: usize,
    /// Scored identities by where their peer group came from.
    pub peer_source: BTreeMap<String, usize>,
    /// The k-means behaviour clusters behind learned peer groups, and
    /// whether they showed enough structure to be used.
    pub learned_groups: crate::activity::peers::LearnedGroups,
    /// Identities that behave unlike their declared group (their cluster is
    /// not the one most of the group is in): a stale identity table, a mover,
    /// or an account used for something else. At most 50, by name.
    pub unlike_declared_group: Vec<String>,
}

impl RunSummary {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The job, stage by stage; each stage's wall time goes to `run.json`.
pub fn run(job: &Job) -> Result<RunSummary> {
    let started = chrono::Utc::now();
    let mut timings = BTreeMap::new();
    let mut clock = Instant::now();
    let mut lap = |stage: &'static str| {
        timings.insert(stage, clock.elapsed().as_millis());
        clock = Instant::now();
    };

    let progress = Progress::new();
    progress.stage("Listing partitions");
    let mut files = lake::discover(&job.lake, &job.window.partition_dates())?;
    files.keep_from(crate::window::date_of(job.window.start));
    report_lake(&files);
    lap("discover");
    progress.stage("Reading and aggregating events");
    let activity = load_activity(&mut files, job)?;
    lap("load");
    progress.stage("Resolving peer groups");
    let peers = context::resolve(&activity, &job.window, job.context.as_deref())?;
    info!(
        groups = peers.groups.len(),
        clusters_used = peers.learned.used,
        verdict = %peers.learned.verdict,
        "Resolved peer groups."
    );
    lap("context");
    progress.stage("Building baselines, scoring the window, calibrating on the baseline");
    let quality = activity.quality.clone();
    let (calibration, (baselines, current, scored)) = score_and_calibrate(job, activity, peers);
    lap("baseline_score_calibrate");
    let (mut findings, candidates) =
        rank::top_findings(&scored, &calibration, &baselines, &current, job.rank);
    let buckets = timeline::bucket_scores(&scored, &calibration, &baselines, &current);
    lap("rank");
    progress.stage("Collecting evidence events");
    if !files.files.is_empty() {
        evidence::attach(&mut findings, &files, &job.window)?;
    }
    continuity::link(&mut findings, &job.out, &job.window);
    for f in &mut findings {
        // The evidence's own (sensitive targets, impersonation) and its
        // actions'.
        let actions = job
            .sensitivity
            .techniques(f.evidence_actions.iter().map(String::as_str));
        f.attack_techniques.extend(actions);
        f.attack_techniques.sort();
        f.attack_techniques.dedup();
    }
    lap("evidence");

    let problems = problems(&files, &scored, &quality, &job.window);
    let run_id = run_id(job, &files);
    let dir = write::window_dir(&job.out, &job.window);
    let mut summary = RunSummary {
        run_id: run_id.clone(),
        version: env!("CARGO_PKG_VERSION"),
        arguments: job.arguments.clone(),
        baseline_start: rfc3339(job.window.baseline_start),
        window_start: rfc3339(job.window.start),
        window_end: rfc3339(job.window.end),
        partitions_read: files.partitions_read.len(),
        lake: files,
        quality,
        identities: identities(&baselines, &current),
        detectors: scored.detectors.clone(),
        calibration: calibration.report,
        candidates,
        findings: findings.len(),
        problems,
        timings_ms: BTreeMap::new(),
        s3: job.lake.s3_usage().or_else(|| job.out.s3_usage()),
        output: dir.clone(),
        top: Vec::new(),
    };
    lap("summary");
    summary.timings_ms = timings.clone();
    let written = write::results(&dir, &findings, &buckets, &run_id, started, &summary)?;
    info!(findings = findings.len(), path = %written, "Wrote findings.");
    summary.top = findings;
    Ok(summary)
}

/// The lake's events folded into activity; files whose data cannot be
/// decoded move from `files` to its failed files.
fn load_activity(files: &mut LakeFiles, job: &Job) -> Result<Activity> {
    if files.files.is_empty() {
        return Ok(Activity::default());
    }
    let loaded = load::scan(files, &job.window, job.bucket)?;
    for p in &loaded.unreadable {
        warn!(path = %p.path, reason = %p.reason, "Skipped a file whose data cannot be decoded.");
    }
    let unreadable: Vec<&str> = loaded.unreadable.iter().map(|p| p.path.as_str()).collect();
    files
        .files
        .retain(|f| !unreadable.contains(&f.location.to_string().as_str()));
    files.failed_files.extend(loaded.unreadable);
    info!(
        events = loaded.activity.quality.events,
        identities = loaded.activity.users.len(),
        "Loaded events."
    );
    Ok(loaded.activity)
}

/// The window scored against the baselines, beside the calibration
/// rehearsal on the baseline itself: they share nothing, so they run side
/// by side.
fn score_and_calibrate(
    job: &Job,
    activity: Activity,
    peers: Peers,
) -> (
    calibrate::Calibration,
    (Baselines, WindowActivity, score::Scored),
) {
    let detectors: Vec<&dyn Detector> = job.models.iter().map(|(_, d)| d.as_ref()).collect();
    let rehearsal = calibrate::rehearsal(&activity, &job.window);
    let practice_peers = peers.clone();
    rayon::join(
        || calibrate::fit(&detectors, rehearsal, job.bucket, practice_peers),
        || {
            let (baselines, current) = baseline::build(activity, &job.window, job.bucket, peers);
            info!(identities = baselines.users.len(), "Built baselines.");
            let scored = score::run(&detectors, &baselines, &current);
            info!(evidence = scored.evidence.len(), "Scored the window.");
            (baselines, current, scored)
        },
    )
}

/// What makes the run partial (exit code 1), one sentence each.
fn problems(
    files: &LakeFiles,
    scored: &score::Scored,
    quality: &Quality,
    window: &Window,
) -> Vec<String> {
    let mut problems: Vec<String> = files
        .failed_files
        .iter()
        .map(|p| format!("skipped {}: {}", p.path, p.reason))
        .collect();
    problems.extend(scored.detectors.iter().filter_map(|d| {
        d.error
            .as_ref()
            .map(|e| format!("detector {} failed: {e}", d.name))
    }));
    if quality.window_events == 0 {
        problems.push(format!(
            "no events in the scoring window {} .. {}: check --lake and the dates",
            rfc3339(window.start),
            rfc3339(window.end)
        ));
    }
    problems
}

/// A spinner naming the current stage, on stderr and only when stderr is a
/// terminal; schedulers get the stage log lines instead.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new() -> Progress {
        use std::io::IsTerminal;
        Progress(std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        }))
    }

    fn stage(&self, name: &'static str) {
        if let Some(bar) = &self.0 {
            bar.set_message(name);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

fn report_lake(files: &LakeFiles) {
    info!(
        partitions = files.partitions_read.len(),
        files = files.files.len(),
        "Found partitions."
    );
    if !files.missing_partitions.is_empty() {
        warn!(dates = ?files.missing_partitions, "Some dates in range have no partition; the baseline is thinner.");
    }
    if !files.empty_partitions.is_empty() {
        warn!(dates = ?files.empty_partitions, "Some partitions hold no Parquet file; skipped.");
    }
    for p in &files.failed_files {
        warn!(path = %p.path, reason = %p.reason, "Skipped a file that breaks the lake contract.");
    }
}

fn identities(baselines: &Baselines, current: &WindowActivity) -> Identities {
    let learned = &baselines.peers.learned;
    let mut ids = Identities {
        total: baselines.users.len(),
        learned_groups: learned.clone(),
        unlike_declared_group: learned
            .unlike_declared
            .iter()
            .take(50)
            .map(|(u, group)| format!("{} ({group})", baselines.user_names.name(*u)))
            .collect(),
        ..Default::default()
    };
    for u in 0..current.users() {
        if current.counts[u].is_empty() {
            continue;
        }
        ids.scored += 1;
        if !baselines.users[u].has_history() {
            ids.cold_start += 1;
        }
        let source = baselines.peers.source(u as u32).name();
        *ids.peer_source.entry(source.to_owned()).or_default() += 1;
    }
    ids
}

/// Deterministic: the same arguments over the same files give the same id.
fn run_id(job: &Job, files: &LakeFiles) -> String {
    let mut key = format!("{:?}", job.arguments);
    for f in &files.files {
        key.push_str(&format!("|{}:{}", f.location, f.rows));
    }
    rank::finding_id(&key, job.window.start, job.window.end)
}
