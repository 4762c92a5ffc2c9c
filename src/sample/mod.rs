//! PLACEHOLDER until the generator lands.
use std::path::Path;
use chrono::NaiveDate;
#[derive(Debug, thiserror::Error)]
pub enum SampleError { #[error("x")] X }
impl SampleError { pub fn is_usage(&self) -> bool { true } }
pub struct SampleOptions { pub users: usize, pub days: u32, pub events: u64, pub seed: u64, pub end: NaiveDate, pub scoring_days: u32 }
impl Default for SampleOptions { fn default() -> Self { SampleOptions { users: 150, days: 35, events: 250_000, seed: 7, end: NaiveDate::from_ymd_opt(2026,11,8).unwrap(), scoring_days: 7 } } }
pub struct SampleSummary { pub events: u64, pub partitions: usize, pub identities: usize, pub labels: usize, pub first_day: NaiveDate, pub last_day: NaiveDate, pub scoring_from: NaiveDate, pub scoring_to: NaiveDate }
pub fn generate(_o: &SampleOptions, _out: &Path) -> Result<SampleSummary, SampleError> { Err(SampleError::X) }
pub fn scoring_window(_lake: &Path) -> Result<(NaiveDate, NaiveDate), SampleError> { Err(SampleError::X) }
