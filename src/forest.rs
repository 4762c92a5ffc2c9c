//! Isolation forest (Liu, Ting & Zhou, ICDM 2008), optionally extended
//! (Hariri, Kind & Brunner, 2019): anomalies are the points random splits
//! isolate in few steps.
//!
//! Laid out like a linfa algorithm: [`IsolationForestParams`] (as written,
//! with defaults) → [`IsolationForestValidParams`] (checked) → [`fit`] →
//! [`IsolationForest`] (fitted), which scores rows and explains a row's
//! score per feature. Trees are built and scored in parallel with rayon;
//! each tree draws from its own seeded stream, so results do not depend on
//! the number of threads.
//!
//! [`fit`]: IsolationForestValidParams::fit

use ndarray::ArrayView2;
use rand::seq::index;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Deserialize;

/// Why parameters or data were refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ForestError {
    #[error("{field} {reason}")]
    Params { field: &'static str, reason: String },
    #[error("the data has no rows or no columns ({rows} x {columns})")]
    Empty { rows: usize, columns: usize },
    #[error("row {row}, column {column} is {value}: the forest needs finite numbers")]
    NotFinite {
        row: usize,
        column: usize,
        value: f64,
    },
    #[error("scoring data has {got} columns, the forest was fitted on {expected}")]
    Columns { expected: usize, got: usize },
}

/// The forest as a model file or a command line describes it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IsolationForestParams {
    /// Trees in the forest. Default 100.
    pub trees: usize,
    /// Rows drawn (without replacement) to grow each tree; fewer when the
    /// data has fewer. Default 256.
    pub sample: usize,
    /// Deepest split; default `ceil(log2(sample))`, the average depth of an
    /// unsuccessful search, past which isolating a point says little.
    pub max_depth: Option<usize>,
    /// Seed of the trees' random streams. Default 42, so runs reproduce.
    pub seed: u64,
    /// Extended isolation forest: how many dimensions beyond one each split
    /// mixes (0 = axis-parallel splits, the classic forest; at most the
    /// number of features minus one). Default 0.
    pub extension_level: usize,
}

impl Default for IsolationForestParams {
    fn default() -> Self {
        IsolationForestParams {
            trees: 100,
            sample: 256,
            max_depth: None,
            seed: 42,
            extension_level: 0,
        }
    }
}

/// Checked parameters, ready to fit.
#[derive(Debug, Clone, PartialEq)]
pub struct IsolationForestValidParams(IsolationForestParams);

impl IsolationForestParams {
    pub fn check(self) -> Result<IsolationForestValidParams, ForestError> {
        let refuse = |field, reason: &str| {
            Err(ForestError::Params {
                field,
                reason: reason.to_owned(),
            })
        };
        if self.trees == 0 {
            return refuse("trees", "must be at least 1");
        }
        if self.sample < 2 {
            return refuse("sample", "must be at least 2 (one row isolates nothing)");
        }
        if self.max_depth == Some(0) {
            return refuse("max_depth", "must be at least 1");
        }
        Ok(IsolationForestValidParams(self))
    }
}

/// A fitted forest.
#[derive(Debug, Clone)]
pub struct IsolationForest {
    trees: Vec<Tree>,
    columns: usize,
    /// Average path length of an unsuccessful search among `sample` rows:
    /// the normaliser of the score.
    norm: f64,
}

/// One tree as flat arrays: node `i`'s children are `left[i]` and
/// `left[i] + 1`; a leaf has `left[i] == LEAF` and its path length (depth
/// plus the expected depth of the rows it still holds) in `value[i]`.
#[derive(Debug, Clone)]
struct Tree {
    /// The split's column (axis-parallel), or its first normal's offset
    /// into `normals` (extended).
    column: Vec<u32>,
    /// Split threshold, or a leaf's path length.
    value: Vec<f64>,
    left: Vec<u32>,
    /// Training rows that reached the node.
    size: Vec<u32>,
    /// Extended forests: `columns` weights per split node.
    normals: Vec<f64>,
    /// Axis-parallel forests: the tree compiled for branch-free scoring.
    steps: Vec<Step>,
    /// The deepest leaf.
    depth: u32,
}

const LEAF: u32 = u32::MAX;

/// A node for branch-free descent: a row at node `i` moves to `next +
/// (x[column] >= threshold)`. A leaf points at itself with an infinite
/// threshold, so every row takes exactly `depth` steps and the CPU never
/// guesses which way a split goes.
#[derive(Debug, Clone, Copy)]
struct Step {
    threshold: f64,
    column: u32,
    next: u32,
}

impl IsolationForestValidParams {
    /// Grows the forest on `data` (rows are points).
    pub fn fit(&self, data: ArrayView2<f64>) -> Result<IsolationForest, ForestError> {
        let p = &self.0;
        let (rows, columns) = data.dim();
        if rows == 0 || columns == 0 {
            return Err(ForestError::Empty { rows, columns });
        }
        if p.extension_level >= columns {
            return Err(ForestError::Params {
                field: "extension_level",
                reason: format!("must be below the number of features ({columns})"),
            });
        }
        check_finite(data)?;
        let data = data.as_standard_layout();
        let values = data.as_slice().expect("standard layout is contiguous");
        let sample = p.sample.min(rows);
        let max_depth = p
            .max_depth
            .unwrap_or_else(|| (sample as f64).log2().ceil().max(1.0) as usize);
        let trees = (0..p.trees)
            .into_par_iter()
            .map(|t| {
                let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
                rng.set_stream(t as u64);
                let mut rows: Vec<u32> = index::sample(&mut rng, data.nrows(), sample)
                    .into_iter()
                    .map(|r| r as u32)
                    .collect();
                let mut grower = Grower {
                    values,
                    columns,
                    max_depth,
                    extension_level: p.extension_level,
                    rng,
                    tree: Tree {
                        column: Vec::new(),
                        value: Vec::new(),
                        left: Vec::new(),
                        size: Vec::new(),
                        normals: Vec::new(),
                        steps: Vec::new(),
                        depth: 0,
                    },
                };
                grower.tree.push_node();
                grower.grow(0, &mut rows, 0);
                grower.tree.compile();
                grower.tree
            })
            .collect();
        Ok(IsolationForest {
            trees,
            columns,
            norm: average_path_length(sample),
        })
    }
}

fn check_finite(data: ArrayView2<f64>) -> Result<(), ForestError> {
    for ((row, column), value) in data.indexed_iter() {
        if !value.is_finite() {
            return Err(ForestError::NotFinite {
                row,
                column,
                value: *value,
            });
        }
    }
    Ok(())
}

/// Expected path length of an unsuccessful search in a binary search tree
/// of `n` points: `c(n)` in Liu et al.
pub fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        n => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

struct Grower<'d> {
    values: &'d [f64],
    columns: usize,
    max_depth: usize,
    extension_level: usize,
    rng: ChaCha8Rng,
    tree: Tree,
}

impl Tree {
    fn push_node(&mut self) -> usize {
        self.column.push(0);
        self.value.push(0.0);
        self.left.push(LEAF);
        self.size.push(0);
        self.column.len() - 1
    }
}

impl Grower<'_> {
    fn cell(&self, row: u32, column: usize) -> f64 {
        self.values[row as usize * self.columns + column]
    }

    fn grow(&mut self, node: usize, rows: &mut [u32], depth: usize) {
        self.tree.size[node] = rows.len() as u32;
        if depth >= self.max_depth || rows.len() <= 1 {
            return self.leaf(node, rows.len(), depth);
        }
        let split = if self.extension_level == 0 {
            self.axis_split(node, rows)
        } else {
            self.extended_split(node, rows)
        };
        let Some(at) = split else {
            // Every row is the same point: nothing can split them.
            return self.leaf(node, rows.len(), depth);
        };
        let left = self.tree.push_node();
        self.tree.push_node();
        self.tree.left[node] = left as u32;
        let (l, r) = rows.split_at_mut(at);
        self.grow(left, l, depth + 1);
        self.grow(left + 1, r, depth + 1);
    }

    fn leaf(&mut self, node: usize, size: usize, depth: usize) {
        self.tree.depth = self.tree.depth.max(depth as u32);
        self.tree.left[node] = LEAF;
        self.tree.value[node] = depth as f64 + average_path_length(size);
    }

    /// A column the rows differ in, picked uniformly, and a threshold
    /// uniform between its min and max; partitions `rows` (left first) and
    /// returns where the right side starts. `None` when the rows are all one
    /// point.
    fn axis_split(&mut self, node: usize, rows: &mut [u32]) -> Option<usize> {
        let mut candidates: Vec<usize> = (0..self.columns).collect();
        while !candidates.is_empty() {
            let pick = self.rng.random_range(0..candidates.len());
            let column = candidates.swap_remove(pick);
            let (min, max) =
                rows.iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &r| {
                        let v = self.cell(r, column);
                        (lo.min(v), hi.max(v))
                    });
            if min < max {
                let threshold = self.rng.random_range(min..max);
                self.tree.column[node] = column as u32;
                self.tree.value[node] = threshold;
                return Some(partition(rows, |r| self.cell(r, column) < threshold));
            }
        }
        None
    }

    /// A random hyperplane through a point uniform in the rows' bounding
    /// box, its normal drawn from a standard normal with all but
    /// `extension_level + 1` dimensions zeroed.
    fn extended_split(&mut self, node: usize, rows: &mut [u32]) -> Option<usize> {
        let columns = self.columns;
        let mut lo = vec![f64::INFINITY; columns];
        let mut hi = vec![f64::NEG_INFINITY; columns];
        for &r in rows.iter() {
            for c in 0..columns {
                let v = self.cell(r, c);
                lo[c] = lo[c].min(v);
                hi[c] = hi[c].max(v);
            }
        }
        let varying: Vec<usize> = (0..columns).filter(|&c| lo[c] < hi[c]).collect();
        if varying.is_empty() {
            return None;
        }
        let mut normal = vec![0.0; columns];
        let chosen = index::sample(
            &mut self.rng,
            varying.len(),
            (self.extension_level + 1).min(varying.len()),
        );
        let mut offset = 0.0;
        for i in chosen {
            let c = varying[i];
            normal[c] = standard_normal(&mut self.rng);
            offset += normal[c] * self.rng.random_range(lo[c]..hi[c]);
        }
        // The plane may leave one side empty (only a corner of the box is
        // occupied): kept, as in the extended forest; that side is a leaf.
        let left = partition(rows, |r| {
            let row = &self.values[r as usize * columns..][..columns];
            dot(row, &normal) < offset
        });
        self.tree.column[node] = self.tree.normals.len() as u32;
        self.tree.value[node] = offset;
        self.tree.normals.extend_from_slice(&normal);
        Some(left)
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Box-Muller: one standard normal draw.
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// Moves the rows `goes_left` accepts to the front; returns how many.
fn partition(rows: &mut [u32], goes_left: impl Fn(u32) -> bool) -> usize {
    let mut left = 0;
    for i in 0..rows.len() {
        if goes_left(rows[i]) {
            rows.swap(left, i);
            left += 1;
        }
    }
    left
}

/// Rows scored per task: each tree stays in cache while it walks them.
const ROWS_PER_TASK: usize = 2048;
/// Rows that descend a tree together.
const LANES: usize = 8;

impl IsolationForest {
    /// Mean path length of each row over the trees: shorter is stranger.
    pub fn path_lengths(&self, data: ArrayView2<f64>) -> Result<Vec<f64>, ForestError> {
        if data.ncols() != self.columns {
            return Err(ForestError::Columns {
                expected: self.columns,
                got: data.ncols(),
            });
        }
        check_finite(data)?;
        let data = data.as_standard_layout();
        let values = data.as_slice().expect("standard layout is contiguous");
        let columns = self.columns;
        let mut lengths = vec![0.0; data.nrows()];
        lengths
            .par_chunks_mut(ROWS_PER_TASK)
            .enumerate()
            .for_each(|(chunk, out)| {
                let first = chunk * ROWS_PER_TASK;
                let rows = &values[first * columns..(first + out.len()) * columns];
                for tree in &self.trees {
                    if tree.extended() {
                        for (i, total) in out.iter_mut().enumerate() {
                            *total += tree.path_length(&rows[i * columns..][..columns], columns);
                        }
                    } else {
                        tree.add_path_lengths(rows, columns, out);
                    }
                }
                let trees = self.trees.len() as f64;
                out.iter_mut().for_each(|total| *total /= trees);
            });
        Ok(lengths)
    }

    /// Anomaly scores in (0, 1], `2^(-E[h(x)] / c(sample))`: near 1 is
    /// isolated at once, 0.5 and below is ordinary.
    pub fn scores(&self, data: ArrayView2<f64>) -> Result<Vec<f64>, ForestError> {
        let norm = self.norm.max(f64::MIN_POSITIVE);
        Ok(self
            .path_lengths(data)?
            .into_iter()
            .map(|h| 2f64.powf(-h / norm))
            .collect())
    }

    /// Which features isolated `row`: every split on its path cut away some
    /// of the training rows still with it, worth `ln(rows before / rows
    /// after)`; the split's feature gets that (an extended split shares it by
    /// the weights of its normal). A feature that cut the row from most of
    /// the data in one split scores high; random splits that kept it with
    /// the crowd add little. Normalised to sum to 1.
    pub fn attribution(&self, row: &[f64]) -> Vec<f64> {
        let mut weights = vec![0.0; self.columns];
        for tree in &self.trees {
            tree.attribute(row, self.columns, &mut weights);
        }
        let total: f64 = weights.iter().sum();
        if total > 0.0 {
            weights.iter_mut().for_each(|w| *w /= total);
        }
        weights
    }
}

/// Indices of the `k` largest positive shares of an attribution, largest first.
pub fn top_features(attribution: &[f64], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..attribution.len())
        .filter(|i| attribution[*i] > 0.0)
        .collect();
    order.sort_by(|&a, &b| attribution[b].total_cmp(&attribution[a]).then(a.cmp(&b)));
    order.truncate(k);
    order
}

impl Tree {
    fn extended(&self) -> bool {
        !self.normals.is_empty()
    }

    /// The child `row` goes to from split `node`.
    fn next(&self, node: usize, row: &[f64], columns: usize) -> usize {
        let left = self.left[node] as usize;
        let goes_left = if self.extended() {
            let normal = &self.normals[self.column[node] as usize..][..columns];
            dot(row, normal) < self.value[node]
        } else {
            row[self.column[node] as usize] < self.value[node]
        };
        if goes_left {
            left
        } else {
            left + 1
        }
    }

    /// Axis-parallel trees: builds [`Step`]s from the grown nodes.
    fn compile(&mut self) {
        if self.extended() {
            return;
        }
        self.steps = (0..self.left.len())
            .map(|i| match self.left[i] {
                LEAF => Step {
                    threshold: f64::INFINITY,
                    column: 0,
                    next: i as u32,
                },
                left => Step {
                    threshold: self.value[i],
                    column: self.column[i],
                    next: left,
                },
            })
            .collect();
    }

    /// Adds each row's path length to `out`, [`LANES`] rows at a time in
    /// lock step, so their independent loads overlap.
    fn add_path_lengths(&self, rows: &[f64], columns: usize, out: &mut [f64]) {
        let n = out.len();
        for group in (0..n).step_by(LANES) {
            // A short last group repeats its last row; the extra lanes are
            // computed and dropped.
            let row_of = |lane: usize| (group + lane).min(n - 1) * columns;
            let mut node = [0u32; LANES];
            for _ in 0..self.depth {
                for (lane, at) in node.iter_mut().enumerate() {
                    let step = self.steps[*at as usize];
                    let x = rows[row_of(lane) + step.column as usize];
                    *at = step.next + u32::from(x >= step.threshold);
                }
            }
            for (lane, at) in node.iter().enumerate().take(n - group) {
                out[group + lane] += self.value[*at as usize];
            }
        }
    }

    fn path_length(&self, row: &[f64], columns: usize) -> f64 {
        let mut node = 0;
        while self.left[node] != LEAF {
            node = self.next(node, row, columns);
        }
        self.value[node]
    }

    fn attribute(&self, row: &[f64], columns: usize, weights: &mut [f64]) {
        let mut node = 0;
        while self.left[node] != LEAF {
            let child = self.next(node, row, columns);
            let weight =
                ((f64::from(self.size[node]) + 1.0) / (f64::from(self.size[child]) + 1.0)).ln();
            if self.extended() {
                let normal = &self.normals[self.column[node] as usize..][..columns];
                let norm: f64 = normal.iter().map(|n| n.abs()).sum();
                for (w, n) in weights.iter_mut().zip(normal) {
                    *w += weight * n.abs() / norm;
                }
            } else {
                weights[self.column[node] as usize] += weight;
            }
            node = child;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// A cluster of 500 standard normal points in 3 dimensions, and 5 points
    /// far from it and from each other along the second dimension.
    fn cluster_with_outliers(seed: u64) -> (Array2<f64>, Vec<bool>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut data = Array2::zeros((505, 3));
        for r in 0..505 {
            for c in 0..3 {
                data[[r, c]] = standard_normal(&mut rng);
            }
            if r >= 500 {
                data[[r, 1]] += 8.0 + 4.0 * (r - 500) as f64;
            }
        }
        (data, (0..505).map(|r| r >= 500).collect())
    }

    fn forest(params: IsolationForestParams, data: &Array2<f64>) -> IsolationForest {
        params.check().unwrap().fit(data.view()).unwrap()
    }

    #[test]
    fn outliers_score_above_every_inlier() {
        let (data, outlier) = cluster_with_outliers(1);
        for extension_level in [0, 2] {
            let params = IsolationForestParams {
                extension_level,
                ..Default::default()
            };
            let scores = forest(params, &data).scores(data.view()).unwrap();
            // Random splits also isolate the cluster's own extremes early:
            // each outlier must beat 99% of the inliers, not all of them.
            let mut inliers: Vec<f64> = (0..505)
                .filter(|&r| !outlier[r])
                .map(|r| scores[r])
                .collect();
            inliers.sort_by(f64::total_cmp);
            let p99 = inliers[inliers.len() * 99 / 100];
            for (r, score) in scores.iter().enumerate().skip(500) {
                assert!(
                    *score > p99,
                    "extension {extension_level}: outlier {r} scores {score} under the inliers' 99th percentile {p99}"
                );
            }
        }
    }

    #[test]
    fn the_feature_that_sets_an_outlier_apart_gets_the_most_attribution() {
        let (data, _) = cluster_with_outliers(2);
        let f = forest(IsolationForestParams::default(), &data);
        let weights = f.attribution(data.row(502).as_slice().unwrap());
        assert!((weights.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let top = (0..3)
            .max_by(|&a, &b| weights[a].total_cmp(&weights[b]))
            .unwrap();
        assert_eq!(top, 1, "{weights:?}");
    }

    #[test]
    fn a_seed_reproduces_the_forest_and_another_seed_changes_it() {
        let (data, _) = cluster_with_outliers(3);
        let scores = |seed| {
            let params = IsolationForestParams {
                seed,
                ..Default::default()
            };
            forest(params, &data).scores(data.view()).unwrap()
        };
        assert_eq!(scores(7), scores(7));
        assert_ne!(scores(7), scores(8));
    }

    #[test]
    fn identical_rows_make_leaves_not_endless_splits() {
        let data = Array2::from_elem((300, 2), 1.5);
        let f = forest(IsolationForestParams::default(), &data);
        let lengths = f.path_lengths(data.view()).unwrap();
        // No split is possible: every row ends at the root with c(256).
        assert!(lengths
            .iter()
            .all(|&h| (h - average_path_length(256)).abs() < 1e-12));
    }

    #[test]
    fn a_set_smaller_than_the_sample_is_grown_on_all_its_rows_as_scikit_learn_does() {
        // 80 rows (ADBench's Hepatitis) with --sample 256: every tree takes
        // all 80, depth is limited to ceil(log2(80)) = 7, and scores are
        // normalised by c(80), not c(256).
        let (data, _) = cluster_with_outliers(4);
        let small = data.slice(ndarray::s![..80, ..]).to_owned();
        let f = forest(IsolationForestParams::default(), &small);
        assert_eq!(f.norm, average_path_length(80));
        assert!(f.trees.iter().all(|t| t.size[0] == 80 && t.depth <= 7));
        assert!(f.trees.iter().any(|t| t.depth == 7));
    }

    #[test]
    fn bad_parameters_and_data_are_refused_with_what_is_wrong() {
        let bad = |p: IsolationForestParams| p.check().unwrap_err().to_string();
        assert!(bad(IsolationForestParams {
            trees: 0,
            ..Default::default()
        })
        .starts_with("trees"));
        assert!(bad(IsolationForestParams {
            sample: 1,
            ..Default::default()
        })
        .starts_with("sample"));
        let valid = IsolationForestParams {
            extension_level: 2,
            ..Default::default()
        }
        .check()
        .unwrap();
        let mut data = Array2::zeros((4, 2));
        assert!(matches!(
            valid.fit(data.view()),
            Err(ForestError::Params {
                field: "extension_level",
                ..
            })
        ));
        data[[2, 1]] = f64::NAN;
        let err = IsolationForestParams::default()
            .check()
            .unwrap()
            .fit(data.view())
            .unwrap_err();
        assert!(matches!(
            err,
            ForestError::NotFinite {
                row: 2,
                column: 1,
                ..
            }
        ));
        assert!(err.to_string().contains("row 2, column 1"));
    }

    #[test]
    fn c_of_n_matches_the_paper() {
        assert_eq!(average_path_length(1), 0.0);
        assert_eq!(average_path_length(2), 1.0);
        // c(256) = 2 H(255) - 2 * 255/256, with H(i) ~ ln(i) + gamma.
        assert!((average_path_length(256) - 10.244_770_920_119_917).abs() < 1e-9);
    }
}
