//! One integration-test binary: the real `lakehound` binary on fixture lakes.

// The README's reference table is read by benches/forest.rs only.
#[allow(dead_code)]
mod adbench;
mod airflow;
mod bad_input;
mod cli;
mod detector_contract;
mod explain;
mod export;
mod fixture;
mod forest;
mod ingest;
mod interop;
mod jobs;
mod layers;
mod masquerade;
mod notebook;
mod outliers;
mod pipeline;
mod report;
mod s3;
mod sample_lake;
mod support;
