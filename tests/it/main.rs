//! One integration-test binary: the real `lakehound` binary on fixture lakes.

mod bad_input;
mod cli;
mod detector_contract;
mod fixture;
mod ingest;
mod pipeline;
mod sample_lake;
mod support;
