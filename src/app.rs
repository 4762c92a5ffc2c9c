//! From parsed arguments to library calls, and the few lines printed on
//! stdout (results; logs go to stderr).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cli::{
    Cli, Command, EvalArgs, ExplainArgs, ExportArgs, ExportFormat, IngestArgs, IngestFormat,
    OutliersArgs, ReportArgs, RunArgs, S3Args, SampleArgs,
};
use crate::error::Error;
use crate::exit::{Failure, Outcome};
use crate::lake::{Location, S3Settings, Storage};
use crate::pipeline::{self, rank::RankOptions, Job};
use crate::window::{rfc3339, Bound, Window};
use crate::{eval, forest, ingest, models, outliers, sample};

type Result<T, E = Failure> = std::result::Result<T, E>;

/// The checkout's embedded sample lake, what `run` scores without `--lake`.
pub fn sample_lake() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data")
}

pub fn run(cli: &Cli) -> Result<Outcome> {
    let storage = storage(&cli.s3);
    match &cli.command {
        Command::Run(args) => run_job(args, &storage),
        Command::Sample(args) => run_sample(args),
        Command::Eval(args) => run_eval(args, &storage),
        Command::Ingest(args) => run_ingest(args, &storage),
        Command::Outliers(args) => run_outliers(args),
        Command::Explain(args) => run_explain(args, &storage),
        Command::Report(args) => run_report(args, &storage),
        Command::Export(args) => run_export(args, &storage),
    }
}

fn run_report(args: &ReportArgs, storage: &Storage) -> Result<Outcome> {
    let lake = match &args.lake {
        Some(lake) => Some(storage.location(lake, "--lake")?),
        None => None,
    };
    let html = match &args.html {
        Some(html) => Some(storage.location(html, "--html")?),
        None => None,
    };
    let sensitivity = models::builtin()?.sensitivity;
    let text = crate::report::report(
        &storage.location(&args.findings, "--findings")?,
        lake.as_ref(),
        args.top,
        html.as_ref(),
        &sensitivity,
    )?;
    print_out(&text);
    Ok(Outcome::Clean)
}

fn run_export(args: &ExportArgs, storage: &Storage) -> Result<Outcome> {
    let findings = storage.location(&args.findings, "--findings")?;
    let text = match args.format {
        ExportFormat::Ocsf => {
            crate::export::ocsf(&findings, &storage.location(&args.out, "--out")?)?
        }
    };
    print_out(&text);
    Ok(Outcome::Clean)
}

fn run_explain(args: &ExplainArgs, storage: &Storage) -> Result<Outcome> {
    let text = crate::explain::explain(
        &args.finding_id,
        &storage.location(&args.findings, "--findings")?,
        &storage.location(&args.lake, "--lake")?,
    )?;
    print_out(&text);
    Ok(Outcome::Clean)
}

pub fn storage(args: &S3Args) -> Storage {
    Storage::new(S3Settings {
        endpoint: args.s3_endpoint.clone(),
        attempts: args.s3_attempts,
        attempt_timeout: std::time::Duration::from_secs_f64(args.s3_timeout),
    })
}

/// Ingest frees and allocates a batch's buffers (tens of MB each) again and
/// again; by default glibc hands such blocks back to the kernel and then
/// pays for freshly zeroed pages, about a second of system time per GB of
/// JSON as measured. Keeping them in the heap costs nothing in peak memory.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator's thresholds; it is called
    // before ingest starts its threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

fn run_ingest(args: &IngestArgs, storage: &Storage) -> Result<Outcome> {
    if let (Some(since), Some(until)) = (args.since, args.until) {
        if since > until {
            return Err(Error::InvalidArgument {
                arg: "--since/--until",
                reason: format!("{since} is after {until}"),
            }
            .into());
        }
    }
    let format = match args.format {
        IngestFormat::K8sAudit => ingest::Format::K8sAudit,
        IngestFormat::Cloudtrail => ingest::Format::Cloudtrail,
        IngestFormat::GcpAudit => ingest::Format::GcpAudit,
        IngestFormat::Falco => ingest::Format::Falco,
    };
    let options = ingest::IngestOptions {
        format,
        inputs: args
            .input
            .iter()
            .map(|i| storage.location(i, "--input"))
            .collect::<std::result::Result<_, _>>()?,
        days: ingest::Days {
            since: args.since,
            until: args.until,
        },
        lake: storage.location(&args.lake, "--lake")?,
        stamp: ingest::Stamp {
            cluster_id: args.cluster_id.clone(),
        },
    };
    keep_freed_memory();
    let report = ingest::run(&options)?;
    let mut text = format!(
        "Ingested {} {} records from {} files ({} already ingested): {} events written to {} partitions, {} duplicates dropped",
        report.records,
        report.format,
        report.files_read,
        report.files_already_ingested,
        report.events_written,
        report.partitions_written.len(),
        report.duplicates_dropped,
    );
    if format == ingest::Format::Falco {
        text += &format!(
            ", {} attributed to exec sessions",
            report.attributed_to_sessions
        );
    }
    if report.reattributed_earlier_processes > 0 {
        text += &format!(
            "; {} Falco processes ingested earlier attributed to these exec sessions",
            report.reattributed_earlier_processes
        );
    }
    text += ".\n";
    for (reason, n) in &report.skipped {
        text += &format!("  skipped {n}: {reason}\n");
    }
    for (class, n) in &report.quarantined {
        text += &format!("  quarantined {n}: {class}\n");
    }
    for path in &report.quarantine_files {
        text += &format!("  quarantine file: {path}\n");
    }
    print_out(&text);
    Ok(if report.quarantined_total() == 0 {
        Outcome::Clean
    } else {
        Outcome::Partial
    })
}

fn run_job(args: &RunArgs, storage: &Storage) -> Result<Outcome> {
    let job = job(args, storage)?;
    tracing::info!(
        lake = %job.lake,
        window_start = %rfc3339(job.window.start),
        window_end = %rfc3339(job.window.end),
        "Starting run."
    );
    let summary = pipeline::run(&job)?;
    print_findings(&summary, args.show);
    for p in &summary.problems {
        tracing::warn!(problem = %p, "Run is partial.");
    }
    Ok(if summary.is_clean() {
        Outcome::Clean
    } else {
        Outcome::Partial
    })
}

/// Checks the arguments and model files; reads no data.
pub fn job(args: &RunArgs, storage: &Storage) -> Result<Job> {
    let (lake, from, to) = match (&args.lake, args.from, args.to) {
        (Some(lake), Some(from), Some(to)) => (storage.location(lake, "--lake")?, from, to),
        (Some(_), _, _) => {
            return Err(Error::InvalidArgument {
                arg: "--from/--to",
                reason: "both are required with --lake, e.g. --from 2026-11-02 --to 2026-11-08"
                    .into(),
            }
            .into())
        }
        (None, from, to) => {
            let lake = sample_lake();
            if !lake.is_dir() {
                return Err(Error::InvalidArgument {
                    arg: "--lake",
                    reason: format!(
                        "none given, and the sample lake this binary was built with ({}) is gone; \
                         pass --lake DIR --from DATE --to DATE",
                        lake.display()
                    ),
                }
                .into());
            }
            let (s_from, s_to) = sample::scoring_window(&lake)?;
            (
                Location::Local(lake),
                from.unwrap_or(Bound::Date(s_from)),
                to.unwrap_or(Bound::Date(s_to)),
            )
        }
    };
    let window = Window::new(from, to, args.baseline_days)?;
    // A bucket that straddles --from would count its first minutes in the
    // baseline and the rest in the window.
    if args.bucket.floor(window.start) != window.start {
        return Err(Error::InvalidArgument {
            arg: "--from",
            reason: format!(
                "{from} is not on a {} bucket boundary; start the window at one (e.g. {})",
                args.bucket,
                rfc3339(args.bucket.floor(window.start))
            ),
        }
        .into());
    }
    let (models, models_origin) = match &args.models {
        Some(dir) => (models::load_dir(dir)?, dir.display().to_string()),
        None => (models::builtin()?, models::BUILTIN_MODELS_ORIGIN.to_owned()),
    };
    if !lake.is_dir()? {
        return Err(Error::LakeNotFound {
            path: lake.as_path(),
        }
        .into());
    }
    let mut arguments = BTreeMap::new();
    arguments.insert("lake".into(), lake.to_string());
    arguments.insert("from".into(), from.to_string());
    arguments.insert("to".into(), to.to_string());
    arguments.insert("baseline_days".into(), args.baseline_days.to_string());
    arguments.insert("bucket_micros".into(), args.bucket.micros.to_string());
    arguments.insert("models".into(), models_origin);
    arguments.insert("min_score".into(), args.min_score.to_string());
    arguments.insert("max_findings".into(), args.max_findings.to_string());
    if let Some(c) = &args.context {
        arguments.insert("context".into(), c.display().to_string());
    }
    Ok(Job {
        lake,
        window,
        bucket: args.bucket,
        models: models.detectors,
        sensitivity: models.sensitivity,
        context: args.context.clone(),
        out: storage.location(&args.out, "--out")?,
        rank: RankOptions {
            min_score: args.min_score,
            max_findings: args.max_findings,
        },
        arguments,
    })
}

fn print_findings(summary: &pipeline::RunSummary, show: usize) {
    let mut out = String::new();
    out += &format!(
        "{} findings from {} identities scored ({} events in the window); results in {}",
        summary.findings, summary.identities.scored, summary.quality.window_events, summary.output
    );
    for f in summary.top.iter().take(show) {
        out += &format!(
            "\n\n#{:<3} score {:>5.1}  {}  {} .. {}  [{}]  peers: {}",
            f.rank,
            f.score,
            f.user,
            rfc3339(f.window_start),
            rfc3339(f.window_end),
            f.detectors.join(", "),
            f.peer_group
        );
        for r in &f.reasons {
            out += &format!("\n      - {r}");
        }
    }
    print_out(&(out + "\n"));
}

/// Writes results to stdout; a closed pipe (`| head`) is not an error.
fn print_out(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn run_sample(args: &SampleArgs) -> Result<Outcome> {
    let options = sample::SampleOptions {
        users: args.users,
        days: args.days,
        events: args.events,
        seed: args.seed,
        end: args.end,
        attacks: args.attacks,
        ..Default::default()
    };
    let output = if args.raw {
        sample::Output::Raw
    } else {
        sample::Output::Lake
    };
    let summary = sample::generate_as(&options, &args.out, output)?;
    let out = args.out.display();
    let next = if args.raw {
        let raw = args.out.join(sample::raw::RAW_DIR);
        let raw = raw.display();
        let cluster = sample::raw::CLUSTER;
        format!(
            "ingest it (audit logs before Falco, so exec sessions are known), then score it:\n  \
             lakehound ingest --format k8s-audit --input {raw}/k8s-audit --lake {out} --cluster-id {cluster}\n  \
             lakehound ingest --format cloudtrail --input {raw}/cloudtrail --lake {out}\n  \
             lakehound ingest --format gcp-audit --input {raw}/gcp-audit --lake {out}\n  \
             lakehound ingest --format falco --input {raw}/falco --lake {out} --cluster-id {cluster}\n  \
             lakehound run --lake {out} --from {} --to {} --out findings/\n",
            summary.scoring_from, summary.scoring_to
        )
    } else {
        format!(
            "score it with:\n  lakehound run --lake {out} --from {} --to {} --out findings/\n",
            summary.scoring_from, summary.scoring_to
        )
    };
    print_out(&format!(
        "Wrote {} events for {} identities over {} days to {out}{} ({} labelled scenarios); {next}",
        summary.events,
        summary.identities,
        summary.partitions,
        if args.raw {
            " as raw platform logs"
        } else {
            ""
        },
        summary.labels,
    ));
    Ok(Outcome::Clean)
}

fn run_outliers(args: &OutliersArgs) -> Result<Outcome> {
    let options = outliers::OutliersOptions {
        input: args.input.clone(),
        features: args.features.clone(),
        id_cols: args.id_cols.clone(),
        out: args.out.clone(),
        params: forest::IsolationForestParams {
            trees: args.trees,
            sample: args.sample,
            seed: args.seed,
            extension_level: args.extension_level,
            ..Default::default()
        },
        explain: args.explain,
    };
    let report = outliers::run(&options)?;
    let mut text = format!(
        "Scored {} rows of {} into {}",
        report.rows,
        args.input.display(),
        args.out.display()
    );
    if let Some((id, score)) = report.top {
        text += &format!("; strangest: {id} (score {score:.3})");
    }
    print_out(&format!("{text}.\n"));
    Ok(Outcome::Clean)
}

fn run_eval(args: &EvalArgs, storage: &Storage) -> Result<Outcome> {
    let labels_path = match (&args.labels, &args.lake) {
        (Some(l), _) => storage.location(l, "--labels")?,
        (None, Some(lake)) => storage.location(lake, "--lake")?.join("labels.csv"),
        (None, None) => Location::Local(sample_lake().join("labels.csv")),
    };
    let labels = eval::read_labels(&labels_path)?;
    let paths = eval::findings_paths(&storage.location(&args.findings, "--findings")?)?;
    let findings = eval::read_pooled(&paths)?;
    let report = eval::evaluate(&labels, &findings, &[5, 10, 20, 50]);
    let pooled = match paths.len() {
        1 => String::new(),
        n => format!(" (pooled from {n} windows by score)"),
    };
    let mut out = format!(
        "{} findings{pooled}, {} attacks: average precision {:.3}\n",
        report.findings, report.attacks, report.average_precision
    );
    for (k, r) in &report.recall_at {
        out += &format!("recall@{k}: {r:.3}\n");
    }
    out += &format!(
        "benign look-alikes in the top {}: {}\n",
        eval::TOP_BENIGN,
        report.benign_in_top
    );
    if let Some(m) = report.median_span_ratio() {
        out += &format!("median finding span / attack span: {m:.1}\n");
    }
    if let Some(buckets) = eval::read_bucket_scores(&paths)? {
        let b = eval::evaluate_buckets(&labels, &buckets);
        let auc = b.roc_auc.map_or("-".to_owned(), |a| format!("{a:.3}"));
        out += &format!(
            "per bucket: {} buckets, {} in attacks, ROC AUC {auc}",
            b.buckets, b.attack_buckets
        );
        for (rate, hits) in &b.hit_rate_at {
            out += &format!(", hits at {}% false alarms {hits:.3}", rate * 100.0);
        }
        out += "\n";
    }
    out += &format!(
        "\n{:<22} {:<7} {:<40} first rank\n",
        "scenario", "kind", "user"
    );
    for (scenario, kind, user, rank) in &report.labels {
        let rank = rank.map_or("-".to_owned(), |r| r.to_string());
        out += &format!("{scenario:<22} {kind:<7} {user:<40} {rank}\n");
    }
    print_out(&out);
    Ok(Outcome::Clean)
}
