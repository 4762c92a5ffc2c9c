//! `lakehound outliers`: the isolation forest over any feature table.
//!
//! Analysts compute features elsewhere (Athena, Spark) and bring a Parquet
//! file; each row gets a score, a rank and the features that isolated it.
//! It is also how the forest is checked against other implementations.

use std::path::{Path, PathBuf};

use ndarray::Array2;
use polars::prelude::*;

use crate::error::{Error, Result};
use crate::forest::IsolationForestParams;
use crate::lake::write_parquet;

pub struct OutliersOptions {
    pub input: PathBuf,
    pub features: Vec<String>,
    pub id_cols: Vec<String>,
    pub out: PathBuf,
    pub params: IsolationForestParams,
    /// Rows (strangest first) whose `top_features` are computed; the rest
    /// are left empty, since attribution walks every tree again per row.
    pub explain: usize,
}

/// What a scoring did, for the operator.
pub struct OutliersReport {
    pub rows: usize,
    /// The strangest row's id columns and score.
    pub top: Option<(String, f64)>,
}

/// Milliseconds each step took, for the log.
struct Laps {
    since: std::time::Instant,
    read: u128,
    fit: u128,
    score: u128,
    explain: u128,
    write: u128,
}

impl Laps {
    fn start() -> Laps {
        Laps {
            since: std::time::Instant::now(),
            read: 0,
            fit: 0,
            score: 0,
            explain: 0,
            write: 0,
        }
    }

    /// Milliseconds since the start or the last call.
    fn next(&mut self) -> u128 {
        let now = std::time::Instant::now();
        let ms = (now - self.since).as_millis();
        self.since = now;
        ms
    }
}

/// Features named per row in `top_features`.
const TOP_FEATURES: usize = 3;

pub fn run(options: &OutliersOptions) -> Result<OutliersReport> {
    let mut lap = Laps::start();
    let table = read_table(&options.input, &options.features, &options.id_cols)?;
    let features = feature_matrix(&table, &options.features, &options.input)?;
    lap.read = lap.next();
    let forest_error = |e: crate::forest::ForestError| Error::Forest {
        path: options.input.clone(),
        reason: e.to_string(),
    };
    let forest = options
        .params
        .clone()
        .check()
        .map_err(forest_error)?
        .fit(features.view())
        .map_err(forest_error)?;
    lap.fit = lap.next();
    let scores = forest.scores(features.view()).map_err(forest_error)?;
    lap.score = lap.next();
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut rank = vec![0u32; scores.len()];
    for (position, &row) in order.iter().enumerate() {
        rank[row] = position as u32 + 1;
    }
    let mut top_features: Vec<Option<String>> = vec![None; features.nrows()];
    for &r in order.iter().take(options.explain) {
        let row = features.row(r).to_vec();
        top_features[r] = Some(describe(&forest.attribution(&row), &options.features));
    }
    lap.explain = lap.next();
    let mut out = table
        .select(options.id_cols.iter().map(String::as_str))
        .map_err(Error::query(format!(
            "selecting --id-cols from {}",
            options.input.display()
        )))?;
    let added = [
        Column::new("score".into(), &scores),
        Column::new("rank".into(), &rank),
        Column::new("top_features".into(), &top_features),
    ];
    for column in added {
        out.with_column(column)
            .map_err(Error::query("adding the scores"))?;
    }
    let out = out
        .sort(["rank"], SortMultipleOptions::default())
        .map_err(Error::query("ordering by rank"))?;
    write_parquet(&options.out, &out)?;
    lap.write = lap.next();
    tracing::info!(
        rows = scores.len(),
        read_ms = lap.read,
        fit_ms = lap.fit,
        score_ms = lap.score,
        explain_ms = lap.explain,
        write_ms = lap.write,
        "Scored the table."
    );
    let top = order
        .first()
        .map(|&row| (row_id(&table, &options.id_cols, row), scores[row]));
    Ok(OutliersReport {
        rows: scores.len(),
        top,
    })
}

/// The id and feature columns of the input, checked to exist.
fn read_table(path: &Path, features: &[String], id_cols: &[String]) -> Result<DataFrame> {
    if !path.is_file() {
        return Err(Error::InputNotFound {
            path: path.to_path_buf(),
        });
    }
    let doing = format!("reading {}", path.display());
    let lf = LazyFrame::scan_parquet(
        PlRefPath::new(path.to_string_lossy().as_ref()),
        ScanArgsParquet::default(),
    )
    .map_err(Error::query(doing.clone()))?;
    let schema = lf
        .clone()
        .collect_schema()
        .map_err(Error::query(doing.clone()))?;
    for name in id_cols.iter().chain(features) {
        if schema.get(name).is_none() {
            let have: Vec<&str> = schema.iter_names().map(|n| n.as_str()).collect();
            return Err(Error::FeatureTable {
                path: path.to_path_buf(),
                reason: format!("no column {name:?} (columns: {})", have.join(", ")),
            });
        }
    }
    let wanted: Vec<Expr> = id_cols
        .iter()
        .chain(features)
        .map(|c| col(c.as_str()))
        .collect();
    lf.select(wanted).collect().map_err(Error::query(doing))
}

/// The feature columns as a row-major matrix of f64; a column that is not
/// numeric, or a missing value, is refused with its column and row.
fn feature_matrix(table: &DataFrame, features: &[String], path: &Path) -> Result<Array2<f64>> {
    let refuse = |reason: String| Error::FeatureTable {
        path: path.to_path_buf(),
        reason,
    };
    let mut matrix = Array2::zeros((table.height(), features.len()));
    for (c, name) in features.iter().enumerate() {
        let column = table
            .column(name)
            .map_err(Error::query("reading a feature"))?;
        if !column.dtype().is_primitive_numeric() && !column.dtype().is_bool() {
            return Err(refuse(format!(
                "feature {name:?} is {}, not a number",
                column.dtype()
            )));
        }
        let values = column
            .cast(&DataType::Float64)
            .map_err(Error::query(format!("reading feature {name:?} as numbers")))?;
        let values = values.f64().map_err(Error::query("reading a feature"))?;
        for (r, value) in values.iter().enumerate() {
            match value {
                Some(v) if v.is_finite() => matrix[[r, c]] = v,
                other => {
                    let what = other.map_or("empty".to_owned(), |v| v.to_string());
                    return Err(refuse(format!(
                        "feature {name:?} is {what} in row {r}; fill or drop such rows first"
                    )));
                }
            }
        }
    }
    Ok(matrix)
}

/// `"logins 62%, hosts 21%, bytes 9%"`: the features with the largest
/// shares of a row's isolation.
fn describe(attribution: &[f64], names: &[String]) -> String {
    crate::forest::top_features(attribution, TOP_FEATURES)
        .into_iter()
        .map(|i| format!("{} {:.0}%", names[i], attribution[i] * 100.0))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A row's id columns as `a=1, b=x`, or its row number without them.
fn row_id(table: &DataFrame, id_cols: &[String], row: usize) -> String {
    if id_cols.is_empty() {
        return format!("row {row}");
    }
    id_cols
        .iter()
        .map(|name| {
            let value = table
                .column(name)
                .ok()
                .and_then(|c| c.get(row).ok().map(|v| v.to_string()))
                .unwrap_or_default();
            format!("{name}={}", value.trim_matches('"'))
        })
        .collect::<Vec<_>>()
        .join(", ")
}
