//! Learned peer groups: k-means (linfa-clustering) over identities'
//! behaviour vectors, with k chosen by the silhouette.
//!
//! **The k rule.** Every k from 2 to `min(MAX_K, n / MIN_CLUSTER_SIZE)` is
//! fitted (k-means++, 2 restarts, linfa's fixed seed), and the k with the
//! highest mean silhouette wins; ties go to the smaller k. The silhouette
//! (Rousseeuw 1987) asks of each identity whether it is closer to its own
//! cluster than to the next one, so it prefers the k at which teams separate
//! and does not grow with k the way inertia shrinks. Above `SILHOUETTE_ROWS`
//! identities, centres and silhouette come from an evenly spaced subset
//! (pairwise distances stay a few MB, fitting stays near a second) and every
//! identity joins its nearest centre. Fewer than `2 * MIN_CLUSTER_SIZE`
//! identities make one cluster.

use linfa::prelude::*;
use linfa_clustering::KMeans;
use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

/// More clusters than this stop meaning "teams" and start meaning "people".
pub const MAX_K: usize = 16;
/// A cluster should be able to hold a handful of identities.
pub const MIN_CLUSTER_SIZE: usize = 4;
/// Identities the centres and the silhouette are computed on, at most.
const SILHOUETTE_ROWS: usize = 2_000;

/// The clustering chosen by the k rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Clusters {
    pub k: usize,
    /// Cluster of each row.
    pub assignment: Vec<usize>,
    /// Per cluster: the row nearest its centre (it names the cluster).
    pub representative: Vec<usize>,
    /// Cluster centres, one row each.
    pub centroids: Array2<f64>,
    /// Mean silhouette of the chosen k (0 when k = 1).
    pub silhouette: f64,
}

impl Clusters {
    /// The cluster whose centre is nearest `vector` (e.g. a newcomer's).
    pub fn nearest(&self, vector: &[f64]) -> usize {
        nearest_centre(&self.centroids, vector)
    }

    /// Members per cluster.
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes = vec![0; self.k];
        for c in &self.assignment {
            sizes[*c] += 1;
        }
        sizes
    }

    /// The nearest cluster `keep` accepts; `None` when it accepts none.
    pub fn nearest_where(&self, vector: &[f64], keep: impl Fn(usize) -> bool) -> Option<usize> {
        nearest_kept(&self.centroids, vector, keep)
    }
}

/// The row of `centroids` nearest `vector`; ties go to the first.
fn nearest_centre(centroids: &Array2<f64>, vector: &[f64]) -> usize {
    nearest_kept(centroids, vector, |_| true).unwrap_or(0)
}

fn nearest_kept(
    centroids: &Array2<f64>,
    vector: &[f64],
    keep: impl Fn(usize) -> bool,
) -> Option<usize> {
    (0..centroids.nrows())
        .filter(|c| keep(*c))
        .map(|c| (squared(centroids.row(c).iter(), vector.iter()), c))
        .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
        .map(|(_, c)| c)
}

/// Clusters the rows of `vectors` (one per identity). Deterministic.
pub fn learn(vectors: ArrayView2<f64>) -> Clusters {
    let n = vectors.nrows();
    let max_k = MAX_K.min(n / MIN_CLUSTER_SIZE);
    if max_k < 2 || vectors.ncols() == 0 {
        return one_cluster(vectors);
    }
    let subset: Vec<usize> = if n <= SILHOUETTE_ROWS {
        (0..n).collect()
    } else {
        (0..SILHOUETTE_ROWS)
            .map(|i| i * n / SILHOUETTE_ROWS)
            .collect()
    };
    let distances = pairwise(vectors, &subset);
    // Centres are learned on the subset and judged by the subset's
    // silhouette; only the chosen k assigns every identity.
    let sample = vectors.select(ndarray::Axis(0), &subset);
    let dataset = DatasetBase::from(sample.clone());
    // Each k is seeded alike (linfa's 42), so fitting them in parallel
    // changes nothing but the wall time.
    let fitted: Vec<(f64, usize, Array2<f64>)> = (2..=max_k)
        .into_par_iter()
        .filter_map(|k| {
            let model = KMeans::params(k)
                .n_runs(2)
                .max_n_iterations(200)
                .tolerance(1e-6)
                .fit(&dataset)
                .ok()?;
            let labels = model.predict(&sample).to_vec();
            Some((
                silhouette(&distances, &labels, k),
                k,
                model.centroids().clone(),
            ))
        })
        .collect();
    let mut best: Option<(f64, usize, Array2<f64>)> = None;
    for candidate in fitted {
        if best.as_ref().is_none_or(|(b, ..)| candidate.0 > *b + 1e-12) {
            best = Some(candidate);
        }
    }
    let Some((silhouette, k, centroids)) = best else {
        return one_cluster(vectors);
    };
    let assignment: Vec<usize> = (0..vectors.nrows())
        .into_par_iter()
        .map(|i| nearest_centre(&centroids, &vectors.row(i).to_vec()))
        .collect();
    let representative = (0..k)
        .map(|c| nearest_member(vectors, &assignment, c, centroids.row(c).to_vec()))
        .collect();
    Clusters {
        k,
        assignment,
        representative,
        centroids,
        silhouette,
    }
}

fn one_cluster(vectors: ArrayView2<f64>) -> Clusters {
    let n = vectors.nrows();
    let centre = if n == 0 {
        Vec::new()
    } else {
        vectors
            .mean_axis(Axis(0))
            .map(|m| m.to_vec())
            .unwrap_or_default()
    };
    let assignment = vec![0; n];
    let representative = if n == 0 {
        Vec::new()
    } else {
        vec![nearest_member(vectors, &assignment, 0, centre.clone())]
    };
    let centroids =
        Array2::from_shape_vec((1, centre.len()), centre).unwrap_or_else(|_| Array2::zeros((1, 0)));
    Clusters {
        k: 1,
        assignment,
        representative,
        centroids,
        silhouette: 0.0,
    }
}

fn nearest_member(
    vectors: ArrayView2<f64>,
    assignment: &[usize],
    cluster: usize,
    centre: Vec<f64>,
) -> usize {
    (0..vectors.nrows())
        .filter(|i| assignment[*i] == cluster)
        .map(|i| (squared(vectors.row(i).iter(), centre.iter()), i))
        .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
        .map_or(0, |(_, i)| i)
}

fn squared<'a>(a: impl Iterator<Item = &'a f64>, b: impl Iterator<Item = &'a f64>) -> f64 {
    a.zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Euclidean distances between the subset's rows, row-major.
fn pairwise(vectors: ArrayView2<f64>, subset: &[usize]) -> Vec<f64> {
    let m = subset.len();
    let mut d = vec![0.0; m * m];
    for (a, i) in subset.iter().enumerate() {
        for (b, j) in subset.iter().enumerate().skip(a + 1) {
            let x = squared(vectors.row(*i).iter(), vectors.row(*j).iter()).sqrt();
            d[a * m + b] = x;
            d[b * m + a] = x;
        }
    }
    d
}

/// Mean silhouette; a row alone in its cluster counts 0.
fn silhouette(distances: &[f64], labels: &[usize], k: usize) -> f64 {
    let m = labels.len();
    if m == 0 {
        return 0.0;
    }
    let mut sizes = vec![0usize; k];
    for l in labels {
        sizes[*l] += 1;
    }
    let mut total = 0.0;
    let mut sums = vec![0.0; k];
    for i in 0..m {
        sums.iter_mut().for_each(|s| *s = 0.0);
        for j in 0..m {
            sums[labels[j]] += distances[i * m + j];
        }
        let own = labels[i];
        if sizes[own] < 2 {
            continue;
        }
        let a = sums[own] / (sizes[own] - 1) as f64;
        let b = (0..k)
            .filter(|c| *c != own && sizes[*c] > 0)
            .map(|c| sums[c] / sizes[c] as f64)
            .fold(f64::INFINITY, f64::min);
        if b.is_finite() && a.max(b) > 0.0 {
            total += (b - a) / a.max(b);
        }
    }
    total / m as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// Three tight blobs of 10 on the corners of a triangle.
    fn blobs() -> Array2<f64> {
        let corners = [[0.0, 0.0], [10.0, 0.0], [5.0, 8.0]];
        Array2::from_shape_fn((30, 2), |(i, j)| {
            corners[i / 10][j] + ((i * 7 + j * 3) % 10) as f64 * 0.05
        })
    }

    #[test]
    fn the_silhouette_rule_finds_three_separated_groups() {
        let c = learn(blobs().view());
        assert_eq!(c.k, 3);
        for g in 0..3 {
            let first = c.assignment[g * 10];
            assert!(c.assignment[g * 10..g * 10 + 10]
                .iter()
                .all(|a| *a == first));
            assert_eq!(c.assignment[c.representative[first]], first);
        }
        // A newcomer near the second corner joins that corner's cluster,
        // or, when that one is ruled out, the next nearest.
        let second = c.assignment[10];
        assert_eq!(c.nearest(&[9.8, 0.3]), second);
        let near_first = c.nearest_where(&[9.8, 0.3], |k| k != second);
        // (5, 8) is nearer (9.8, 0.3) than (0, 0) is.
        assert_eq!(near_first, Some(c.assignment[20]));
        assert_eq!(c.nearest_where(&[9.8, 0.3], |_| false), None);
        assert_eq!(c.sizes(), vec![10; 3]);
        assert!(c.silhouette > 0.9, "{}", c.silhouette);
    }

    #[test]
    fn too_few_rows_make_one_cluster() {
        let c = learn(blobs().slice(ndarray::s![..7, ..]));
        assert_eq!((c.k, c.assignment.clone()), (1, vec![0; 7]));
    }

    #[test]
    fn silhouette_of_a_perfect_split_is_near_one_and_of_a_bad_one_negative() {
        // Points 0,1 at 0 and points 2,3 at 10.
        let x: [f64; 4] = [0.0, 0.0, 10.0, 10.0];
        let d: Vec<f64> = (0..16).map(|k| (x[k / 4] - x[k % 4]).abs()).collect();
        assert!((silhouette(&d, &[0, 0, 1, 1], 2) - 1.0).abs() < 1e-12);
        assert!(silhouette(&d, &[0, 1, 0, 1], 2) < 0.0);
    }
}
