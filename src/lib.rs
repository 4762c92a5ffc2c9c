//! lakehound: batch anomaly detection over per-identity command histories in
//! a security data lake. `app` maps the CLI onto the library; `pipeline::run`
//! is the job.

pub mod app;
pub mod cli;
pub mod clustering;
pub mod detectors;
pub mod error;
pub mod eval;
pub mod forest;
pub mod ingest;
pub mod intern;
pub mod logging;
pub mod outliers;
pub mod pipeline;
pub mod sample;
pub mod schema;
pub mod stats;
pub mod window;
