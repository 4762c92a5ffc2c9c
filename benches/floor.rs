//! The speed floor `lakehound run` is compared with: a bare Polars scan of the
//! same partitions and a group-by count per (user, action, hour). No
//! checks, no baselines, no detectors. Run by benches/run.sh:
//!   cargo bench --bench floor -- LAKE FIRST_DATE LAST_DATE

use std::time::Instant;

use chrono::NaiveDate;
use polars::prelude::*;

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let [_, lake, first, last] = &args[..] else {
        eprintln!("usage: floor LAKE FIRST_DATE LAST_DATE");
        std::process::exit(2);
    };
    let first = NaiveDate::parse_from_str(first, "%Y-%m-%d").expect("FIRST_DATE");
    let last = NaiveDate::parse_from_str(last, "%Y-%m-%d").expect("LAST_DATE");
    let started = Instant::now();
    let files: Vec<PlRefPath> = first
        .iter_days()
        .take_while(|d| *d <= last)
        .flat_map(|d| {
            let dir = std::path::Path::new(lake).join(format!("events/dt={d}"));
            std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
                .map(|p| PlRefPath::new(p.to_string_lossy().as_ref()))
                .collect::<Vec<_>>()
        })
        .collect();
    let n_files = files.len();
    let df = LazyFrame::scan_parquet_files(files.into_iter().collect(), ScanArgsParquet::default())
        .expect("scan")
        .group_by([
            col("user"),
            col("action"),
            col("event_time").dt().truncate(lit("1h")).alias("hour"),
        ])
        .agg([len()])
        .collect()
        .expect("group-by");
    println!(
        "floor: {} files, {} groups in {:.3} s",
        n_files,
        df.height(),
        started.elapsed().as_secs_f64()
    );
}
