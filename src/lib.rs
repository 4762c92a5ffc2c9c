//! lakehound: batch anomaly detection over per-identity command histories in
//! a security data lake.
//!
//! Layers, each importing only from the ones below it:
//!
//! ```text
//! edge       main, app, cli, exit, models, logging   arguments, model files, exit codes, printing
//! commands   pipeline, ingest, eval, outliers, sample, the job and the other subcommands
//!            explain, report, export, review (results read back)
//! detectors  detectors                                one module per detector behind one trait
//! activity   activity                                 aggregates, baselines, peer groups: plain data
//! storage    lake                                     partitions, footer checks, reads, atomic writes
//! base       forest, clustering, stats, hash, intern, schema, text, window, error
//! ```

pub mod activity;
pub mod app;
pub mod cli;
pub mod clustering;
pub mod detectors;
pub mod error;
pub mod eval;
pub mod exit;
pub mod explain;
pub mod export;
pub mod forest;
pub mod hash;
pub mod ingest;
pub mod intern;
pub mod lake;
pub mod logging;
pub mod models;
pub mod normalise;
pub mod outliers;
pub mod pipeline;
pub mod report;
pub mod review;
pub mod sample;
pub mod schema;
pub mod sensitivity;
pub mod stats;
pub mod text;
pub mod window;
