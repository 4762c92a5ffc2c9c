//! `lakehound export --format ocsf`: findings as OCSF Detection Finding
//! records (OCSF 1.5.0, class_uid 2004, category 2 Findings; see
//! <https://schema.ocsf.io/1.5.0/classes/detection_finding>), one per
//! finding, as JSON lines or as Parquet with the same nesting.
//!
//! 1.5.0 is the first version whose Detection Finding has
//! `anomaly_analyses` (ocsf-schema #1358), where a finding's observed value
//! and its baseline go. Mapping, per finding:
//!
//! - `finding_info`: `uid` = `finding_id`; `title`; `desc` = the reasons,
//!   one a line; `types` = the detectors; `first_seen_time` /
//!   `last_seen_time` (and `created_time` / `modified_time`) = the
//!   finding's `first_seen` / `last_seen` (its span, or from the first run
//!   of a finding that continued); `related_events` = the evidence event
//!   ids; `attacks` = the ATT&CK techniques (`T1098.001` as technique
//!   `T1098` with sub-technique `T1098.001`); `analytic` = lakehound,
//!   behavioural.
//! - `start_time` / `end_time` = this window's span of it; `time` = its end.
//! - `severity_id`, `risk_level_id` and `is_alert` from the score (see
//!   [`Band`]); `risk_score` = the score rounded.
//! - `activity_id` 1 Create and `status_id` 1 New for a new finding;
//!   2 Update and 2 In Progress for one that continues an earlier run's;
//!   2 Update and 1 New for one that resurfaces after a quiet spell.
//! - `actor.user` = the identity (name and uid).
//! - `resources`: the accounts, clusters, namespaces and pods of the
//!   evidence events, looked up in the lake the run read (its run.json
//!   names it); without that lake the records have no `resources`.
//! - `anomaly_analyses`: the strongest evidence's observed value against
//!   the value its baseline expected.
//! - `metadata`: product lakehound at the version that wrote the findings,
//!   `uid` = `run_id/finding_id`, `correlation_uid` = the run id.
//! - `unmapped`: what OCSF has no place for (exact score, p-value, rank,
//!   peer group, top actions).
//!
//! Every string is the findings' own text, attacker-controlled or not;
//! serde_json escapes it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use polars::prelude::*;
use serde_json::{json, Map, Value};
use tracing::warn;

use crate::error::{Error, Result};
use crate::eval::findings_paths;
use crate::lake::{discover, events_frame, Location, MISPLACED};
use crate::review::{read_findings, Finding};
use crate::schema::{ACCOUNT_ID, CLUSTER_ID, EVENT_ID, NAMESPACE, POD, SOURCE, USER};
use crate::window::date_of;

/// The OCSF schema version the records follow (`metadata.version`).
pub const OCSF_VERSION: &str = "1.5.0";
const CATEGORY_UID: i64 = 2;
const CATEGORY_NAME: &str = "Findings";
const CLASS_UID: i64 = 2004;
const CLASS_NAME: &str = "Detection Finding";
const PRODUCT: &str = "lakehound";
/// `finding_info.analytic.type_id` 2: Behavioral.
const ANALYTIC_BEHAVIORAL: (i64, &str) = (2, "Behavioral");
const MICROS_PER_MILLI: i64 = 1_000;
/// The highest OCSF `risk_score`, lakehound's score range being 0-100.
const MAX_RISK_SCORE: f64 = 100.0;
/// `timezone_offset`: every time lakehound writes is UTC.
const UTC_OFFSET_MINUTES: i64 = 0;

/// A range of the 0-100 score and what it maps to. The score is
/// `100 * (1 - exp(-surprise / 10))` of the calibrated p-value
/// (`crate::stats::score`): 20 is p ≈ 1e-2, 40 ≈ 1e-5, 70 ≈ 1e-12,
/// 90 ≈ 1e-23.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Band {
    /// OCSF `severity_id` and its caption.
    pub severity: (i64, &'static str),
    /// OCSF `risk_level_id` and its caption.
    pub risk_level: (i64, &'static str),
    /// Whether the record sets `is_alert` (act on it, not just review).
    pub alert: bool,
}

/// (lowest score, band), highest first.
const BANDS: [(f64, Band); 5] = [
    (90.0, band((5, "Critical"), (4, "Critical"), true)),
    (70.0, band((4, "High"), (3, "High"), true)),
    (40.0, band((3, "Medium"), (2, "Medium"), false)),
    (20.0, band((2, "Low"), (1, "Low"), false)),
    (
        f64::NEG_INFINITY,
        band((1, "Informational"), (0, "Info"), false),
    ),
];

const fn band(severity: (i64, &'static str), risk_level: (i64, &'static str), alert: bool) -> Band {
    Band {
        severity,
        risk_level,
        alert,
    }
}

/// OCSF `severity_id` 0, for a score that is not a number.
const SEVERITY_UNKNOWN: (i64, &str) = (0, "Unknown");

/// The band of a 0-100 score; `None` for NaN.
pub fn band_of(score: f64) -> Option<Band> {
    BANDS
        .iter()
        .find(|(from, _)| score >= *from)
        .map(|(_, band)| *band)
}

/// What a finding's run.json says that the records use.
#[derive(Debug, Clone, Default)]
struct RunInfo {
    /// lakehound's version that wrote the findings.
    version: Option<String>,
    baseline_start: Option<i64>,
    window_start: Option<i64>,
    /// The lake the run read, as given to it.
    lake: Option<String>,
}

/// Where an evidence event happened, from the lake.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Place {
    source: Option<String>,
    account: Option<String>,
    cluster: Option<String>,
    namespace: Option<String>,
    pod: Option<String>,
}

/// (identity, event id) → where it happened.
type Places = HashMap<(String, String), Place>;

/// Writes the findings under `findings` to `out` as OCSF Detection
/// Findings; returns the line to print.
pub fn ocsf(findings: &Location, out: &Location) -> Result<String> {
    let mut all: Vec<(String, i64, Value)> = Vec::new();
    for run in findings_paths(findings)? {
        let info = run_info(&run.manifest);
        let rows = read_findings(&run.findings)?;
        let places = places(findings, &info, &rows);
        all.extend(
            rows.iter()
                .map(|f| (f.id.clone(), f.end, detection_finding(f, &info, &places))),
        );
    }
    let records = latest_of_each(all);
    let located = records
        .iter()
        .filter(|r| r.get("resources").is_some())
        .count();
    write(&records, out)?;
    Ok(format!(
        "wrote {} OCSF {OCSF_VERSION} Detection Findings to {} ({located} with resources from the lake)\n",
        records.len(),
        out
    ))
}

/// One record per finding, in window then rank order: a finding that
/// continued into later windows is exported from its latest.
fn latest_of_each(all: Vec<(String, i64, Value)>) -> Vec<Value> {
    let mut latest: HashMap<String, i64> = HashMap::new();
    for (id, end, _) in &all {
        let seen = latest.entry(id.clone()).or_insert(*end);
        *seen = (*seen).max(*end);
    }
    let mut done = BTreeSet::new();
    all.into_iter()
        .filter(|(id, end, _)| latest.get(id) == Some(end) && done.insert(id.clone()))
        .map(|(_, _, record)| record)
        .collect()
}

fn write(records: &[Value], out: &Location) -> Result<()> {
    if out.file_name().ends_with(".parquet") {
        let df = frame(records).map_err(|source| Error::WriteParquet {
            path: out.as_path(),
            source,
        })?;
        return out.write_parquet(&df);
    }
    let mut bytes = Vec::new();
    for record in records {
        bytes.extend(record.to_string().into_bytes());
        bytes.push(b'\n');
    }
    out.write(bytes)
}

/// The run's manifest, as far as it can be read: a findings file copied on
/// its own still exports, with less context.
fn run_info(manifest: &Location) -> RunInfo {
    let json = match manifest.read() {
        Ok(Some(bytes)) => serde_json::from_slice::<Value>(&bytes).ok(),
        Ok(None) => None,
        Err(err) => {
            warn!(path = %manifest, error = %err, "Cannot read the run's manifest; exporting without it.");
            None
        }
    };
    let Some(json) = json else {
        return RunInfo::default();
    };
    let time = |key: &str| {
        json[key]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.timestamp_micros())
    };
    RunInfo {
        version: json["version"].as_str().map(str::to_owned),
        baseline_start: time("baseline_start"),
        window_start: time("window_start"),
        lake: json["arguments"]["lake"].as_str().map(str::to_owned),
    }
}

/// Where the evidence events of `findings` happened, from the run's lake.
/// Resources are recommended, not required, in a Detection Finding: a lake
/// that moved or cannot be read is logged, and the records go without.
fn places(findings_at: &Location, info: &RunInfo, findings: &[Finding]) -> Places {
    let Some(lake) = info
        .lake
        .as_deref()
        .and_then(|l| lake_location(findings_at, l))
    else {
        warn!(findings = %findings_at, "The run names no lake this export can read; records go without resources.");
        return Places::new();
    };
    match read_places(&lake, findings) {
        Ok(places) => places,
        Err(err) => {
            warn!(lake = %lake, error = %err, "Cannot read the evidence events; records go without resources.");
            Places::new()
        }
    }
}

/// The lake a run.json names: a local path, or an S3 prefix reached with
/// the findings' own S3 client (an S3 lake behind local findings is not
/// reached: the client's settings are not known here).
fn lake_location(findings_at: &Location, lake: &str) -> Option<Location> {
    let Some(url) = lake.strip_prefix("s3://") else {
        return Some(Location::Local(lake.into()));
    };
    let Location::S3 { store, .. } = findings_at else {
        return None;
    };
    let (bucket, key) = url.split_once('/').unwrap_or((url, ""));
    Some(Location::S3 {
        store: store.clone(),
        bucket: bucket.to_owned(),
        key: key.trim_matches('/').to_owned(),
    })
}

fn read_places(lake: &Location, findings: &[Finding]) -> Result<Places> {
    let dates: BTreeSet<chrono::NaiveDate> = findings
        .iter()
        .filter(|f| !f.evidence.is_empty())
        .flat_map(|f| {
            date_of(f.start)
                .iter_days()
                .take_while(move |d| *d <= date_of(f.end - 1))
        })
        .collect();
    let files = discover(lake, &dates.into_iter().collect::<Vec<_>>())?;
    if files.files.is_empty() {
        return Ok(Places::new());
    }
    let ids: Vec<&str> = findings
        .iter()
        .flat_map(|f| f.evidence.iter().map(String::as_str))
        .collect();
    let users: Vec<&str> = findings.iter().map(|f| f.user.as_str()).collect();
    let columns = [
        USER, EVENT_ID, SOURCE, ACCOUNT_ID, CLUSTER_ID, NAMESPACE, POD,
    ];
    let doing = || format!("reading the evidence events from {lake}");
    let events = events_frame(&files.files, &columns)?
        .filter(
            col(EVENT_ID)
                .is_in(lit(Series::new("ids".into(), ids)).implode(false), false)
                .and(col(USER).is_in(
                    lit(Series::new("users".into(), users)).implode(false),
                    false,
                ))
                .and(col(MISPLACED).not()),
        )
        .collect()
        .map_err(Error::query(doing()))?;
    place_rows(&events).map_err(Error::query(doing()))
}

fn place_rows(df: &DataFrame) -> PolarsResult<Places> {
    let text = |name: &str| -> PolarsResult<Vec<Option<String>>> {
        let column = df.column(name)?.cast(&DataType::String)?;
        Ok(column
            .str()?
            .iter()
            .map(|v| v.filter(|s| !s.is_empty()).map(str::to_owned))
            .collect())
    };
    let (users, ids) = (text(USER)?, text(EVENT_ID)?);
    let (source, account, cluster) = (text(SOURCE)?, text(ACCOUNT_ID)?, text(CLUSTER_ID)?);
    let (namespace, pod) = (text(NAMESPACE)?, text(POD)?);
    let mut out = Places::new();
    for i in 0..df.height() {
        let (Some(user), Some(id)) = (&users[i], &ids[i]) else {
            continue;
        };
        let place = Place {
            source: source[i].clone(),
            account: account[i].clone(),
            cluster: cluster[i].clone(),
            namespace: namespace[i].clone(),
            pod: pod[i].clone(),
        };
        out.insert((user.clone(), id.clone()), place);
    }
    Ok(out)
}

fn millis(micros: i64) -> i64 {
    micros.div_euclid(MICROS_PER_MILLI)
}

/// One finding as an OCSF Detection Finding.
fn detection_finding(f: &Finding, info: &RunInfo, places: &Places) -> Value {
    // A finding that continues or resurfaces an earlier one keeps its uid:
    // to a SIEM it is an update of the record it already holds.
    let continuing = matches!(f.status.as_str(), "continuing" | "resurfaced");
    let activity = if continuing {
        (2, "Update")
    } else {
        (1, "Create")
    };
    let mut record = json!({
        "activity_id": activity.0,
        "activity_name": activity.1,
        "category_uid": CATEGORY_UID,
        "category_name": CATEGORY_NAME,
        "class_uid": CLASS_UID,
        "class_name": CLASS_NAME,
        "type_uid": CLASS_UID * 100 + activity.0,
        "type_name": format!("{CLASS_NAME}: {}", activity.1),
        "time": millis(f.end),
        "start_time": millis(f.start),
        "end_time": millis(f.end),
        "timezone_offset": UTC_OFFSET_MINUTES,
        "message": title(f),
        "metadata": metadata(f, info),
        "finding_info": finding_info(f, places),
        "actor": { "user": { "name": f.user, "uid": f.user } },
        "unmapped": unmapped(f),
    });
    let Some(fields) = record.as_object_mut() else {
        return record;
    };
    fields.extend(status(&f.status));
    fields.extend(severity(f.score));
    let here: Vec<&Place> = f
        .evidence
        .iter()
        .filter_map(|id| places.get(&(f.user.clone(), id.clone())))
        .collect();
    let resources = resources(&here);
    if !resources.is_empty() {
        fields.insert("resources".into(), Value::Array(resources));
    }
    if let Some(analysis) = anomaly_analysis(f, info) {
        fields.insert("anomaly_analyses".into(), json!([analysis]));
    }
    record
}

fn title(f: &Finding) -> String {
    format!(
        "Unusual activity by {} ({})",
        f.user,
        f.detectors.join(", ")
    )
}

/// `status_id` (Finding: 1 New, 2 In Progress, 99 Other) and `status`.
fn status(status: &str) -> Map<String, Value> {
    let (id, name) = match status {
        // Resurfaced after a quiet spell: open again, as new.
        "new" | "resurfaced" => (1, "New"),
        "continuing" => (2, "In Progress"),
        other => (99, other),
    };
    let mut out = Map::new();
    out.insert("status_id".into(), json!(id));
    out.insert("status".into(), json!(name));
    out
}

/// `severity_id`, `severity`, and, for a number, `risk_score`,
/// `risk_level_id`, `risk_level` and `is_alert`.
fn severity(score: f64) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(band) = band_of(score) else {
        out.insert("severity_id".into(), json!(SEVERITY_UNKNOWN.0));
        out.insert("severity".into(), json!(SEVERITY_UNKNOWN.1));
        return out;
    };
    out.insert("severity_id".into(), json!(band.severity.0));
    out.insert("severity".into(), json!(band.severity.1));
    out.insert("risk_level_id".into(), json!(band.risk_level.0));
    out.insert("risk_level".into(), json!(band.risk_level.1));
    out.insert("risk_score".into(), json!(risk_score(score)));
    out.insert("is_alert".into(), json!(band.alert));
    out
}

/// The score as OCSF's integer `risk_score`, 0-100.
pub fn risk_score(score: f64) -> i64 {
    score.round().clamp(0.0, MAX_RISK_SCORE) as i64
}

fn metadata(f: &Finding, info: &RunInfo) -> Value {
    let version = info
        .version
        .clone()
        .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned());
    json!({
        "version": OCSF_VERSION,
        "product": { "name": PRODUCT, "vendor_name": PRODUCT, "version": version },
        "uid": format!("{}/{}", f.run_id, f.id),
        "correlation_uid": f.run_id,
        "log_name": "findings",
        // `actor` comes from the host profile.
        "profiles": ["host"],
    })
}

fn finding_info(f: &Finding, places: &Places) -> Value {
    let sources: BTreeSet<&str> = f
        .evidence
        .iter()
        .filter_map(|id| places.get(&(f.user.clone(), id.clone())))
        .filter_map(|p| p.source.as_deref())
        .collect();
    let mut info = json!({
        "uid": f.id,
        "title": title(f),
        "desc": f.reasons.join("\n"),
        "types": f.detectors,
        "first_seen_time": millis(f.first_seen),
        "last_seen_time": millis(f.last_seen),
        "created_time": millis(f.first_seen),
        "modified_time": millis(f.last_seen),
        "analytic": {
            "name": PRODUCT,
            "type_id": ANALYTIC_BEHAVIORAL.0,
            "type": ANALYTIC_BEHAVIORAL.1,
        },
        "related_events": f.evidence.iter().map(|id| json!({ "uid": id })).collect::<Vec<_>>(),
        "related_events_count": f.evidence.len(),
        "attacks": f.techniques.iter().map(|t| attack(t)).collect::<Vec<_>>(),
    });
    if !sources.is_empty() {
        info["data_sources"] = json!(sources);
    }
    info
}

/// An ATT&CK technique id as an OCSF attack: `T1098.001` is sub-technique
/// `T1098.001` of technique `T1098`.
fn attack(technique: &str) -> Value {
    match technique.split_once('.') {
        Some((parent, _)) => json!({
            "technique": { "uid": parent },
            "sub_technique": { "uid": technique },
        }),
        None => json!({ "technique": { "uid": technique } }),
    }
}

/// The accounts, clusters, namespaces and pods of the evidence, each once.
fn resources(places: &[&Place]) -> Vec<Value> {
    let mut out: BTreeMap<(String, String), Value> = BTreeMap::new();
    let mut add = |kind: &str, uid: String, value: Value| {
        out.entry((kind.to_owned(), uid)).or_insert(value);
    };
    for p in places {
        if let Some(account) = &p.account {
            let value = json!({ "type": "Account", "uid": account, "name": account });
            add("Account", account.clone(), value);
        }
        let Some(cluster) = &p.cluster else { continue };
        let value = json!({ "type": "Kubernetes Cluster", "uid": cluster, "name": cluster });
        add("Kubernetes Cluster", cluster.clone(), value);
        let Some(namespace) = &p.namespace else {
            continue;
        };
        let uid = format!("{cluster}/{namespace}");
        let value = json!({ "type": "Kubernetes Namespace", "uid": uid, "name": namespace });
        add("Kubernetes Namespace", uid, value);
        if let Some(pod) = &p.pod {
            let uid = format!("{cluster}/{namespace}/{pod}");
            let value = json!({
                "type": "Kubernetes Pod", "uid": uid, "name": pod, "namespace": namespace,
            });
            add("Kubernetes Pod", uid, value);
        }
    }
    out.into_values().collect()
}

/// The strongest evidence's observed value against its baseline's
/// expectation; `None` when either is not a number.
fn anomaly_analysis(f: &Finding, info: &RunInfo) -> Option<Value> {
    if !(f.observed.is_finite() && f.expected.is_finite()) {
        return None;
    }
    // The reasons start with the strongest evidence's: it says what was
    // counted or measured.
    let parameter = f
        .reasons
        .first()
        .cloned()
        .unwrap_or_else(|| "the strongest evidence".to_owned());
    let mut baseline = json!({
        "observation_parameter": parameter,
        "observations": [{ "value": f.expected.to_string() }],
    });
    if let (Some(from), Some(to)) = (info.baseline_start, info.window_start) {
        baseline["observations"][0]["timespan"] =
            json!({ "start_time": millis(from), "end_time": millis(to) });
    }
    Some(json!({
        "analysis_targets": [{ "name": f.user, "type": "User" }],
        "anomalies": [{
            "observation_parameter": parameter,
            "observations": [{
                "value": f.observed.to_string(),
                "timespan": { "start_time": millis(f.start), "end_time": millis(f.end) },
            }],
        }],
        "baselines": [baseline],
    }))
}

fn unmapped(f: &Finding) -> Value {
    json!({
        "score": f.score,
        "p_value": f.p_value,
        "rank": f.rank,
        "peer_group": f.peer_group,
        "top_actions": f.top_actions,
    })
}

/// The records as one frame: a column per top-level attribute, objects as
/// structs and arrays as lists, types merged over every record (an
/// attribute a record lacks is null there).
fn frame(records: &[Value]) -> PolarsResult<DataFrame> {
    let mut types: Vec<(String, DataType)> = Vec::new();
    for record in records.iter().filter_map(Value::as_object) {
        for (key, value) in record {
            match types.iter_mut().find(|(k, _)| k == key) {
                Some((_, t)) => *t = merge(std::mem::replace(t, DataType::Null), dtype_of(value)),
                None => types.push((key.clone(), dtype_of(value))),
            }
        }
    }
    let columns = types
        .into_iter()
        .map(|(key, dtype)| {
            let dtype = settle(dtype);
            let values = records
                .iter()
                .map(|r| any_value(r.get(&key).unwrap_or(&Value::Null), &dtype))
                .collect::<PolarsResult<Vec<_>>>()?;
            Ok(
                Series::from_any_values_and_dtype(key.as_str().into(), &values, &dtype, true)?
                    .into(),
            )
        })
        .collect::<PolarsResult<Vec<Column>>>()?;
    DataFrame::new(records.len(), columns)
}

fn dtype_of(value: &Value) -> DataType {
    match value {
        Value::Null => DataType::Null,
        Value::Bool(_) => DataType::Boolean,
        Value::Number(n) if n.is_i64() => DataType::Int64,
        Value::Number(_) => DataType::Float64,
        Value::String(_) => DataType::String,
        Value::Array(items) => DataType::List(Box::new(
            items.iter().map(dtype_of).fold(DataType::Null, merge),
        )),
        Value::Object(fields) => DataType::Struct(
            fields
                .iter()
                .map(|(k, v)| Field::new(k.as_str().into(), dtype_of(v)))
                .collect(),
        ),
    }
}

/// The type holding values of both; a clash of kinds becomes their JSON
/// text, which holds anything.
fn merge(a: DataType, b: DataType) -> DataType {
    use DataType::*;
    match (a, b) {
        (Null, t) | (t, Null) => t,
        (Int64, Float64) | (Float64, Int64) => Float64,
        (List(a), List(b)) => List(Box::new(merge(*a, *b))),
        (Struct(mut a), Struct(b)) => {
            for field in b {
                match a.iter_mut().find(|f| f.name() == field.name()) {
                    Some(f) => f.dtype = merge(std::mem::replace(&mut f.dtype, Null), field.dtype),
                    None => a.push(field),
                }
            }
            Struct(a)
        }
        (a, b) if a == b => a,
        _ => String,
    }
}

/// Types never seen with a value (empty lists everywhere) as strings:
/// Parquet readers take a list of strings more readily than one of nulls.
fn settle(dtype: DataType) -> DataType {
    match dtype {
        DataType::Null => DataType::String,
        DataType::List(inner) => DataType::List(Box::new(settle(*inner))),
        DataType::Struct(fields) => DataType::Struct(
            fields
                .into_iter()
                .map(|f| Field::new(f.name().clone(), settle(f.dtype)))
                .collect(),
        ),
        other => other,
    }
}

fn any_value(value: &Value, dtype: &DataType) -> PolarsResult<AnyValue<'static>> {
    Ok(match (dtype, value) {
        (_, Value::Null) => AnyValue::Null,
        (DataType::Boolean, Value::Bool(b)) => AnyValue::Boolean(*b),
        (DataType::Int64, Value::Number(n)) => n.as_i64().map_or(AnyValue::Null, AnyValue::Int64),
        (DataType::Float64, Value::Number(n)) => {
            n.as_f64().map_or(AnyValue::Null, AnyValue::Float64)
        }
        (DataType::String, Value::String(s)) => AnyValue::StringOwned(s.as_str().into()),
        (DataType::String, other) => AnyValue::StringOwned(other.to_string().as_str().into()),
        (DataType::List(inner), Value::Array(items)) => {
            let values = items
                .iter()
                .map(|v| any_value(v, inner))
                .collect::<PolarsResult<Vec<_>>>()?;
            AnyValue::List(Series::from_any_values_and_dtype(
                "".into(),
                &values,
                inner,
                true,
            )?)
        }
        (DataType::Struct(fields), Value::Object(map)) => {
            let values = fields
                .iter()
                .map(|f| any_value(map.get(f.name().as_str()).unwrap_or(&Value::Null), &f.dtype))
                .collect::<PolarsResult<Vec<_>>>()?;
            AnyValue::StructOwned(Box::new((values, fields.clone())))
        }
        _ => AnyValue::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_map_to_severity_bands_at_their_lower_edges() {
        let severity = |score: f64| band_of(score).map(|b| b.severity);
        assert_eq!(severity(100.0), Some((5, "Critical")));
        assert_eq!(severity(90.0), Some((5, "Critical")));
        assert_eq!(severity(89.99), Some((4, "High")));
        assert_eq!(severity(70.0), Some((4, "High")));
        assert_eq!(severity(69.9), Some((3, "Medium")));
        assert_eq!(severity(40.0), Some((3, "Medium")));
        assert_eq!(severity(39.9), Some((2, "Low")));
        assert_eq!(severity(20.0), Some((2, "Low")));
        assert_eq!(severity(19.9), Some((1, "Informational")));
        assert_eq!(severity(0.0), Some((1, "Informational")));
        assert_eq!(severity(f64::NAN), None);
    }

    #[test]
    fn risk_levels_follow_severity_and_only_high_and_critical_alert() {
        for score in [0.0, 25.0, 55.0, 80.0, 99.0] {
            let band = band_of(score).unwrap();
            assert_eq!(band.risk_level.0, band.severity.0 - 1, "{score}");
            assert_eq!(band.alert, band.severity.0 >= 4, "{score}");
        }
    }

    #[test]
    fn a_score_that_is_not_a_number_is_unknown_severity_with_no_risk() {
        let fields = severity(f64::NAN);
        assert_eq!(fields["severity_id"], json!(0));
        assert!(!fields.contains_key("risk_score"));
        assert!(!fields.contains_key("risk_level_id"));
    }

    #[test]
    fn risk_score_is_the_score_rounded_into_0_to_100() {
        assert_eq!(risk_score(99.99999999997992), 100);
        assert_eq!(risk_score(25.4), 25);
        assert_eq!(risk_score(-3.0), 0);
        assert_eq!(risk_score(140.0), 100);
    }

    #[test]
    fn sub_techniques_name_their_parent_technique() {
        assert_eq!(
            attack("T1098.001"),
            json!({ "technique": { "uid": "T1098" }, "sub_technique": { "uid": "T1098.001" } })
        );
        assert_eq!(attack("T1609"), json!({ "technique": { "uid": "T1609" } }));
    }

    #[test]
    fn record_types_merge_across_records_for_parquet() {
        let records = vec![
            json!({ "a": 1, "o": { "x": "s" }, "l": [] }),
            json!({ "a": 2.5, "o": { "y": true }, "l": [{ "uid": "e1" }] }),
        ];
        let df = frame(&records).unwrap();
        assert_eq!(df.column("a").unwrap().dtype(), &DataType::Float64);
        let DataType::Struct(fields) = df.column("o").unwrap().dtype() else {
            panic!("o is a struct");
        };
        assert_eq!(fields.len(), 2);
        assert_eq!(df.height(), 2);
    }
}
