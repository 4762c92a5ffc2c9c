//! Command-line types. All `--help` text lives here.

use std::path::PathBuf;

use clap::builder::RangedU64ValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::window::{Bound, Bucket, MAX_BASELINE_DAYS};

/// Upper bounds of the numeric flags: past them a value is a typo, and
/// would only exhaust memory or time before failing.
const MAX_FINDINGS: u64 = 100_000;
const MAX_TREES: u64 = 100_000;
const MAX_SAMPLE: u64 = 1 << 24;
const MAX_SAMPLE_USERS: u64 = 10_000_000;
const MAX_SAMPLE_DAYS: i64 = 3_650;
const MAX_SAMPLE_EVENTS: u64 = 10_000_000_000;

/// A `usize` flag limited to `min..=max`.
fn ranged(min: u64, max: u64) -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::<usize>::new().range(min..=max)
}

/// `--min-score`: a number from 0 to 100.
fn score(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=100.0).contains(&v) => Ok(v),
        Ok(v) => Err(format!("{v} is outside 0-100")),
        Err(_) => Err(format!("{s:?} is not a number from 0 to 100")),
    }
}

pub const EXIT_CODES: &str = "\
Exit codes:
  0  finished; findings and run.json written
  1  finished, but something was skipped or failed (a corrupt or off-contract
     file, a failing detector, an empty scoring window); see problems in run.json
  2  usage, configuration or data error (bad argument, model file, context
     file, missing lake, data that will never decode): fix it, do not retry
  3  the environment failed (an I/O error that may pass, a busy lake): safe
     to retry";

/// Hunt living-off-the-land activity in a security data lake: learn each
/// identity's normal command behaviour and rank the windows that depart from it.
#[derive(Debug, Parser)]
#[command(name = "lakehound", version, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More logging on stderr: -v debug, -vv trace.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Log format on stderr: text for people, json for schedulers.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub s3: S3Args,
}

/// How s3:// lakes, inputs and outputs are reached. Credentials come from
/// the standard AWS chain (environment, profile, web identity / IRSA,
/// container or instance metadata), the region from AWS_REGION or the
/// profile.
#[derive(Debug, Args)]
pub struct S3Args {
    /// An S3-compatible endpoint (MinIO, Ceph, R2), addressed path-style.
    /// Default: AWS_ENDPOINT_URL, else AWS.
    #[arg(long, env = "LAKEHOUND_S3_ENDPOINT", value_name = "URL", global = true)]
    pub s3_endpoint: Option<String>,
    /// Tries of one S3 request before a failure that may pass (throttling,
    /// 5xx, a reset or timeout) ends the command with exit code 3.
    #[arg(long, env = "LAKEHOUND_S3_ATTEMPTS", default_value_t = 6, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100), global = true)]
    pub s3_attempts: u32,
    /// Seconds one S3 request may take, its body included, before it is
    /// tried again.
    #[arg(long, env = "LAKEHOUND_S3_TIMEOUT", default_value_t = 60.0, value_name = "SECS",
          value_parser = seconds, global = true)]
    pub s3_timeout: f64,
}

/// A timeout: a positive number of seconds, at most a day.
fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 86_400.0 => Ok(v),
        _ => Err(format!(
            "{s:?} is not a number of seconds from above 0 to 86400"
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Score a window of the lake against each identity's baseline and write
    /// ranked findings (Parquet) and run.json.
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
    /// Generate a synthetic org's lake with labelled attack scenarios and
    /// benign look-alikes.
    #[command(after_help = EXIT_CODES)]
    Sample(SampleArgs),
    /// Average precision and recall@k of findings against scenario labels.
    #[command(after_help = EXIT_CODES)]
    Eval(EvalArgs),
    /// Read raw platform logs (Kubernetes audit, CloudTrail, GCP audit,
    /// Falco) into the lake's events/dt=YYYY-MM-DD/ partitions.
    #[command(after_help = INGEST_EXIT_CODES)]
    Ingest(IngestArgs),
    /// Score any feature table (Parquet) with the isolation forest and
    /// write each row's score, rank and the features that isolated it.
    Outliers(OutliersArgs),
    /// One finding read back: its reasons, the identity's baseline for the
    /// finding's actions, and its evidence events from the lake.
    #[command(after_help = EXIT_CODES)]
    Explain(ExplainArgs),
    /// The top findings for review: a table on the terminal and, with
    /// --html, a self-contained page charting each identity's activity
    /// against its baseline.
    #[command(after_help = EXIT_CODES)]
    Report(ReportArgs),
    /// Findings in a format other tools take (OCSF Detection Finding, for a
    /// SIEM or Security Lake).
    #[command(after_help = EXIT_CODES)]
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// findings.parquet, its window folder, or an --out folder (local or
    /// s3://); an --out folder reports its latest window.
    #[arg(long, value_name = "PATH|S3")]
    pub findings: PathBuf,
    /// The lake the findings came from: the HTML page charts each identity's
    /// activity from it (without it, from scores.parquet alone).
    #[arg(long, value_name = "DIR|S3")]
    pub lake: Option<PathBuf>,
    /// How many findings, best first.
    #[arg(long, default_value_t = 10, value_parser = ranged(1, MAX_FINDINGS))]
    pub top: usize,
    /// Also write the report as one self-contained HTML file here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// What `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// OCSF 1.x Detection Finding (class_uid 2004).
    Ocsf,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The format to write.
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// findings.parquet, its window folder, or an --out folder (local or
    /// s3://).
    #[arg(long, value_name = "PATH|S3")]
    pub findings: PathBuf,
    /// The file to write (local or s3://): JSON lines, or Parquet where it
    /// ends in .parquet.
    #[arg(long, value_name = "FILE|S3")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The finding's id (findings.parquet's finding_id).
    #[arg(value_name = "FINDING_ID")]
    pub finding_id: String,
    /// findings.parquet, its window folder, or an --out folder (local or
    /// s3://).
    #[arg(long, value_name = "PATH|S3")]
    pub findings: PathBuf,
    /// The lake the finding came from.
    #[arg(long, value_name = "DIR|S3")]
    pub lake: PathBuf,
}

pub const INGEST_EXIT_CODES: &str = "\
Exit codes:
  0  every record became an event or a documented skip
  1  finished, but some records were quarantined (see LAKE/_quarantine/)
  2  usage error (bad argument, missing input, unreadable manifest)
  3  runtime error (I/O, Parquet, another ingest holds the lake): safe to
     retry; nothing half-written";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IngestFormat {
    K8sAudit,
    Cloudtrail,
    GcpAudit,
    Falco,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Which platform's native format the inputs are in.
    #[arg(long, value_enum)]
    pub format: IngestFormat,
    /// Files or folders (read recursively), plain or .gz, local or
    /// s3://BUCKET/PREFIX (CloudTrail's own AWSLogs/ layout included).
    #[arg(long, required = true, num_args = 1.., value_name = "PATH|S3")]
    pub input: Vec<PathBuf>,
    /// Read only YYYY/MM/DD delivery folders (CloudTrail's layout) from
    /// this UTC day on; other folders are not even listed. Default: the day
    /// before the last day folder the previous ingest of these inputs
    /// listed (everything the first time).
    #[arg(long, value_name = "DATE")]
    pub since: Option<chrono::NaiveDate>,
    /// Read only YYYY/MM/DD delivery folders up to this UTC day.
    #[arg(long, value_name = "DATE")]
    pub until: Option<chrono::NaiveDate>,
    /// Lake root, a folder or s3://BUCKET/PREFIX; events go to
    /// LAKE/events/dt=YYYY-MM-DD/.
    #[arg(long, value_name = "DIR|S3")]
    pub lake: PathBuf,
    /// Cluster these Kubernetes or Falco logs come from, stamped on each event.
    #[arg(long, value_name = "ID")]
    pub cluster_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct OutliersArgs {
    /// Parquet file with one row per entity to score.
    #[arg(long, value_name = "FILE.parquet")]
    pub input: PathBuf,
    /// Numeric columns the forest splits on (comma-separated).
    #[arg(long, required = true, value_delimiter = ',', value_name = "COLS")]
    pub features: Vec<String>,
    /// Columns copied to the output to say which row is which.
    #[arg(long, value_delimiter = ',', value_name = "COLS")]
    pub id_cols: Vec<String>,
    /// Output Parquet: the id columns, score (0-1, higher is stranger),
    /// rank (1 = strangest) and top_features (for the --explain strangest).
    #[arg(long, value_name = "FILE.parquet")]
    pub out: PathBuf,
    /// Trees in the forest.
    #[arg(long, default_value_t = 100, value_parser = ranged(1, MAX_TREES))]
    pub trees: usize,
    /// Rows drawn to grow each tree (all rows when the table has fewer).
    #[arg(long, default_value_t = 256, value_parser = ranged(2, MAX_SAMPLE))]
    pub sample: usize,
    /// Seed of the trees' random streams (the same seed reproduces the scores).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Explain this many of the strangest rows in top_features (the rest
    /// are left empty: explaining a row walks every tree again).
    #[arg(long, default_value_t = 1_000, value_name = "N", value_parser = ranged(0, u64::MAX))]
    pub explain: usize,
    /// Extended isolation forest: dimensions beyond one each split mixes
    /// (below the number of features).
    #[arg(long, default_value_t = 0, value_parser = ranged(0, 1_000))]
    pub extension_level: usize,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Lake root holding events/dt=YYYY-MM-DD/*.parquet: a folder or
    /// s3://BUCKET/PREFIX. Default: the embedded sample lake (sample-data/),
    /// scored over its own window.
    #[arg(long, env = "LAKEHOUND_LAKE", value_name = "DIR|S3")]
    pub lake: Option<PathBuf>,
    /// First day (UTC date, 2026-11-02) or instant (RFC 3339, on a bucket
    /// boundary) of the scoring window. Required with --lake.
    #[arg(long, value_name = "DATE")]
    pub from: Option<Bound>,
    /// Last day of the scoring window, inclusive (a date includes the whole
    /// day), or an exclusive RFC 3339 instant. Required with --lake.
    #[arg(long, value_name = "DATE")]
    pub to: Option<Bound>,
    /// Results go to OUT/window=<start>_<end>/ (findings.parquet, run.json);
    /// a rerun of the same window replaces them. On s3://BUCKET/PREFIX each
    /// run goes to its own runs/ folder and _latest.json names the latest.
    #[arg(long, env = "LAKEHOUND_OUT", value_name = "DIR|S3")]
    pub out: PathBuf,
    /// Days before --from that form each identity's baseline (1-3650).
    #[arg(long, default_value_t = 28, value_name = "DAYS",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_BASELINE_DAYS)))]
    pub baseline_days: u32,
    /// Bucket width for counts and time-of-week: 15m, 30m, 1h, 1d (must divide a day).
    #[arg(long, default_value = "1h", value_name = "WIDTH")]
    pub bucket: Bucket,
    /// Folder of detector model files (*.toml). Default: the models/ shipped
    /// with lakehound, built into the binary.
    #[arg(long, env = "LAKEHOUND_MODELS", value_name = "DIR")]
    pub models: Option<PathBuf>,
    /// Identity table (CSV: user,group,valid_from,valid_to) for peer groups,
    /// joined as of each identity's activity. Default: groups in the events.
    #[arg(long, value_name = "FILE")]
    pub context: Option<PathBuf>,
    /// Keep findings scoring at least this (0-100). 25 is a calibrated p of
    /// about 6e-4: about one ordinary identity-day in 1,700 scores as high.
    #[arg(long, default_value_t = 25.0, value_name = "SCORE", value_parser = score)]
    pub min_score: f64,
    /// At most this many findings: an analyst's day, not a flood.
    #[arg(long, default_value_t = 50, value_name = "N", value_parser = ranged(1, MAX_FINDINGS))]
    pub max_findings: usize,
    /// Print this many top findings to stdout when done.
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = ranged(0, MAX_FINDINGS))]
    pub show: usize,
}

#[derive(Debug, Args)]
pub struct SampleArgs {
    /// Output lake root; events/, labels.csv, identities.csv and sample.json go here.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Human identities (service and control-plane identities come on top).
    #[arg(long, default_value_t = 150, value_parser = ranged(20, MAX_SAMPLE_USERS))]
    pub users: usize,
    /// Days of history, ending at --end.
    #[arg(long, default_value_t = 35, value_parser = clap::value_parser!(u32).range(14..=MAX_SAMPLE_DAYS))]
    pub days: u32,
    /// Approximate number of events.
    #[arg(long, default_value_t = 250_000, value_parser = clap::value_parser!(u64).range(10_000..=MAX_SAMPLE_EVENTS))]
    pub events: u64,
    /// Random seed; the same seed and options give the same lake.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Last day of the history (UTC date).
    #[arg(long, default_value = "2026-11-08", value_name = "DATE")]
    pub end: chrono::NaiveDate,
    /// Write the events as raw platform logs under OUT/raw/ (Kubernetes
    /// audit, CloudTrail, GCP audit, Falco) for `lakehound ingest`, instead
    /// of lake partitions.
    #[arg(long)]
    pub raw: bool,
    /// Which attacks to plant: `standard` (the scenarios in
    /// sample-data/README.md) or `randomised` (ten per seed, drawn by
    /// technique, cloud, actor, volume, time and duration).
    #[arg(long, value_enum, default_value = "standard")]
    pub attacks: crate::sample::AttackLibrary,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Lake the findings came from; its labels.csv is the default --labels.
    #[arg(long, value_name = "DIR|S3")]
    pub lake: Option<PathBuf>,
    /// Scenario labels (CSV: scenario,kind,user,start,end,...).
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// findings.parquet, its window folder, or an --out folder (local or
    /// s3://); several windows there (daily runs) are pooled into one
    /// ranking by score.
    #[arg(long, value_name = "PATH|S3")]
    pub findings: PathBuf,
}
