//! Tail probabilities and the one mapping from evidence to a 0-100 score.
//!
//! Every detector reports a p-value: the chance of seeing something at least
//! this extreme if the identity behaved as its baseline (and peers) predict.
//! Findings combine detectors with Fisher's method and map the combined
//! p-value to a score with a fixed curve, so a score means the same thing
//! whichever detectors fired and whichever run produced it.

use statrs::distribution::{ChiSquared, ContinuousCDF, DiscreteCDF, NegativeBinomial, Poisson};

/// The smallest p-value we report; f64 tails underflow below this.
pub const P_FLOOR: f64 = 1e-300;

/// A shape above this is a Poisson count (the negative binomial's extra
/// variance, `mean^2 / shape`, is then negligible).
const POISSON_SHAPE: f64 = 1e6;

/// Why a tail probability could not be computed: the model's parameters
/// were not numbers a distribution takes. Never read as strong evidence.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("no count distribution with mean {mean} and shape {shape}")]
pub struct TailError {
    pub mean: f64,
    pub shape: f64,
}

/// `P(X >= k)` for a count with mean `mean` and NB shape `shape`
/// (variance `mean + mean^2 / shape`; a large shape is Poisson). A mean
/// or shape that is not a positive number is an error, not a p-value.
pub fn count_tail(k: u64, mean: f64, shape: f64) -> Result<f64, TailError> {
    let refused = TailError { mean, shape };
    if !(mean.is_finite() && mean > 0.0 && shape > 0.0) {
        return Err(refused);
    }
    if k == 0 {
        return Ok(1.0);
    }
    let p = if shape > POISSON_SHAPE {
        Poisson::new(mean).ok().map(|d| d.sf(k - 1))
    } else {
        let success = shape / (shape + mean);
        NegativeBinomial::new(shape, success)
            .ok()
            .map(|d| d.sf(k - 1))
    };
    match p {
        Some(p) if !p.is_nan() => Ok(p.clamp(P_FLOOR, 1.0)),
        _ => Err(refused),
    }
}

/// Fisher's method: one p-value from independent ones. An empty list is 1.
pub fn fisher(ps: &[f64]) -> f64 {
    if ps.is_empty() {
        return 1.0;
    }
    let x: f64 = ps.iter().map(|p| -2.0 * p.clamp(P_FLOOR, 1.0).ln()).sum();
    let dof = 2.0 * ps.len() as f64;
    ChiSquared::new(dof)
        .map(|d| d.sf(x))
        .unwrap_or(1.0)
        .clamp(P_FLOOR, 1.0)
}

/// `-log10 p`: how many orders of magnitude of surprise.
pub fn surprise(p: f64) -> f64 {
    -p.clamp(P_FLOOR, 1.0).log10()
}

/// The median of `xs` (the mean of the middle two for an even count);
/// `None` for none.
pub fn median(xs: &[f64]) -> Option<f64> {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// Surprise (in decades) at which the score reaches 63.
pub const SCORE_SCALE: f64 = 10.0;

/// Score in [0, 100): `100 * (1 - exp(-surprise / 10))` of a finding's
/// calibrated p-value (the chance an ordinary identity-day brings evidence
/// this strong; see `pipeline::calibrate`). p = 1e-3 is 26, 1e-5 is 39,
/// 1e-10 is 63, 1e-20 is 86. It never saturates, so the ranking keeps the
/// order of the evidence.
pub fn score(p: f64) -> f64 {
    100.0 * (1.0 - (-surprise(p) / SCORE_SCALE).exp())
}

/// A rate or count for reason sentences: `0.004`, `0.7`, `25`.
pub fn fmt_amount(x: f64) -> String {
    if x == 0.0 {
        "0".to_owned()
    } else if x < 1e-4 {
        format!("{x:.0e}")
    } else if x < 0.1 {
        // One significant digit.
        let digits = (-x.log10()).ceil() as usize;
        format!("{x:.digits$}")
    } else if x < 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.0}")
    }
}

/// Compact p-value for reason sentences: `3e-41`, `0.004`.
pub fn fmt_p(p: f64) -> String {
    if p >= 0.001 {
        format!("{p:.3}")
    } else {
        format!("{p:.0e}")
    }
}

/// How unusual a statistic is against its values on ordinary days: the
/// share of baseline values at least as high, `(k + 1) / (n + 1)`
/// (interpolated between two baseline values), and past
/// a threshold, where too few values remain to count, an exponential tail
/// `tail_mass * exp(-(x - threshold) / scale)`.
#[derive(Debug, Clone)]
pub struct TailCalibration {
    sorted: Vec<f64>,
    threshold: f64,
    /// Share of baseline days above the threshold.
    tail_mass: f64,
    /// Mean excess over the threshold.
    scale: f64,
}

impl TailCalibration {
    /// Past the top `tail_share` of `sorted` (ascending), the tail is fitted
    /// to their excess: peaks over threshold, a generalised Pareto with
    /// shape 0.
    pub fn new(sorted: Vec<f64>, tail_share: f64) -> TailCalibration {
        let n = sorted.len();
        let in_tail = ((n as f64 * tail_share).ceil() as usize).clamp(1, n.max(1));
        let threshold = sorted.get(n - in_tail).copied().unwrap_or(0.0);
        let above: Vec<f64> = sorted.iter().filter(|s| **s > threshold).copied().collect();
        let scale = if above.is_empty() {
            f64::EPSILON
        } else {
            (above.iter().map(|s| s - threshold).sum::<f64>() / above.len() as f64)
                .max(f64::EPSILON)
        };
        TailCalibration {
            tail_mass: (above.len() as f64 + 1.0) / (n as f64 + 1.0),
            sorted,
            threshold,
            scale,
        }
    }

    /// For surprises (`-ln p` of a model's p-values, ascending): counted up
    /// to the `anchor`-th largest, and past it the model's own tail shape,
    /// each further nat of surprise dividing the chance by e. Anchoring below
    /// the very largest keeps one extreme day in the baseline (an incident,
    /// a real attack) from discounting everything above it.
    pub fn surprise(sorted: Vec<f64>, anchor: usize) -> TailCalibration {
        let anchor = anchor.clamp(1, sorted.len().max(1));
        TailCalibration {
            threshold: sorted
                .len()
                .checked_sub(anchor)
                .and_then(|i| sorted.get(i))
                .copied()
                .unwrap_or(0.0),
            tail_mass: anchor as f64 / (sorted.len() as f64 + 1.0),
            scale: 1.0,
            sorted,
        }
    }

    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// Baseline values below `score`.
    pub fn below(&self, score: f64) -> usize {
        self.sorted.partition_point(|s| *s < score)
    }

    pub fn p_value(&self, score: f64) -> f64 {
        let n = self.sorted.len() as f64;
        if score <= self.threshold {
            let below = self.below(score);
            let step = |below: usize| ((n - below as f64 + 1.0) / (n + 1.0)).min(1.0);
            // Between two baseline values the share is interpolated (log-
            // linearly) from the lower one's to this one's, so evidence
            // between the same two ordinary days is still told apart; it
            // never says more than the share does. A 0 is a day without
            // evidence, not weak evidence: nothing to interpolate from.
            let lower = below.checked_sub(1).map(|i| self.sorted[i]);
            return match (lower, self.sorted.get(below).copied()) {
                (Some(lower), Some(upper)) if lower > 0.0 && upper > lower => {
                    let t = ((score - lower) / (upper - lower)).clamp(0.0, 1.0);
                    let (from, to) = (step(self.below(lower)).ln(), step(below).ln());
                    (from + t * (to - from)).exp()
                }
                _ => step(below),
            };
        }
        (self.tail_mass * (-(score - self.threshold) / self.scale).exp()).clamp(P_FLOOR, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_takes_the_middle_or_the_mean_of_the_middle_two() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    fn calibration() -> TailCalibration {
        // 1,000 values evenly spread over [0.40, 0.60).
        let values: Vec<f64> = (0..1000)
            .map(|i| 0.4 + 0.2 * f64::from(i) / 1000.0)
            .collect();
        TailCalibration::new(values, 0.05)
    }

    #[test]
    fn between_two_baseline_values_the_p_value_falls_between_their_shares() {
        let c = TailCalibration::surprise(vec![0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3);
        // At a baseline value, the share at least as high.
        assert!((c.p_value(2.0) - 6.0 / 9.0).abs() < 1e-12);
        assert!((c.p_value(3.0) - 5.0 / 9.0).abs() < 1e-12);
        // Between two, strictly between, and decreasing.
        let (a, b) = (c.p_value(2.3), c.p_value(2.7));
        assert!(6.0 / 9.0 > a && a > b && b > 5.0 / 9.0, "{a} {b}");
        // Above days without evidence, the share of days with some.
        assert!((c.p_value(0.5) - 7.0 / 9.0).abs() < 1e-12);
    }

    #[test]
    fn inside_the_baseline_the_p_value_is_the_share_at_least_as_high() {
        let c = calibration();
        // Values at or above 0.5 are the top 500 of 1,000.
        assert!((c.p_value(0.5) - 501.0 / 1001.0).abs() < 1e-12);
        assert!((c.p_value(0.0) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn past_the_baseline_the_tail_decays_and_stays_continuous() {
        let c = calibration();
        let at = c.p_value(c.threshold);
        let just_past = c.p_value(c.threshold + 1e-9);
        assert!((at - just_past).abs() < 0.01, "{at} vs {just_past}");
        let far = c.p_value(0.8);
        assert!(far < 1e-6 && far > 0.0, "{far}");
        assert!(c.p_value(0.7) > far);
    }

    #[test]
    fn surprises_past_the_anchor_follow_the_model() {
        // 97 ordinary days without evidence, three with p = e^-20, e^-30, e^-60.
        let mut values = vec![0.0; 97];
        values.extend([20.0, 30.0, 60.0]);
        let c = TailCalibration::surprise(values.clone(), 1);
        // As surprising as the worst ordinary day: 2 of 101.
        assert!((c.p_value(60.0) - 2.0 / 101.0).abs() < 1e-12);
        // Ten nats further: the model's own factor e^-10 on 1 of 101.
        assert!((c.p_value(70.0) - (-10.0_f64).exp() / 101.0).abs() < 1e-15);
        assert!((c.p_value(1.0) - 4.0 / 101.0).abs() < 1e-12);
        // Anchored at the third largest, the one extreme day no longer
        // discounts everything between 20 and 60 nats.
        let robust = TailCalibration::surprise(values, 3);
        assert!((robust.p_value(30.0) - 3.0 * (-10.0_f64).exp() / 101.0).abs() < 1e-15);
        assert!(robust.p_value(50.0) < c.p_value(50.0) / 1e6);
    }
    use proptest::prelude::*;

    #[test]
    fn amounts_keep_one_significant_digit_when_small() {
        assert_eq!(fmt_amount(0.0043), "0.004");
        assert_eq!(fmt_amount(0.7), "0.7");
        assert_eq!(fmt_amount(24.8), "25");
        assert_eq!(fmt_amount(0.00002), "2e-5");
    }

    #[test]
    fn a_nan_or_non_positive_mean_is_refused_not_the_strongest_evidence() {
        for (mean, shape) in [
            (f64::NAN, 2.0),
            (0.0, 2.0),
            (-1.0, 2.0),
            (1.0, f64::NAN),
            (1.0, 0.0),
        ] {
            assert!(count_tail(5, mean, shape).is_err(), "{mean} {shape}");
        }
        assert_eq!(count_tail(0, 1.0, 2.0), Ok(1.0));
    }

    #[test]
    fn fisher_of_one_p_value_is_that_p_value() {
        assert!((fisher(&[0.01]) - 0.01).abs() < 1e-9);
    }

    #[test]
    fn two_independent_signals_reinforce_each_other() {
        assert!(fisher(&[1e-4, 1e-4]) < 1e-4);
    }

    #[test]
    fn poisson_tail_matches_the_direct_sum() {
        // 50 events where 0.7 are expected: sum the pmf terms in log space.
        let lambda: f64 = 0.7;
        let direct: f64 = (50..120u32)
            .map(|j| {
                let ln_fact: f64 = (1..=j).map(|i| f64::from(i).ln()).sum();
                (-lambda + f64::from(j) * lambda.ln() - ln_fact).exp()
            })
            .sum();
        let p = count_tail(50, lambda, f64::INFINITY).unwrap();
        assert!((p / direct - 1.0).abs() < 1e-6, "{p} vs {direct}");
    }

    proptest! {
        #[test]
        fn count_tail_is_a_probability_and_falls_with_the_count(
            k in 0u64..500, mean in 0.001f64..100.0, shape in 0.01f64..50.0)
        {
            let a = count_tail(k, mean, shape).unwrap();
            let b = count_tail(k + 1, mean, shape).unwrap();
            prop_assert!((P_FLOOR..=1.0).contains(&a));
            prop_assert!(b <= a + 1e-12);
        }

        #[test]
        fn a_wider_distribution_is_less_surprised_by_a_large_count(
            k in 5u64..200, mean in 0.01f64..2.0)
        {
            // Overdispersion (small shape) must never make a spike look stranger.
            let wide = count_tail(k, mean, 1.0).unwrap();
            prop_assert!(wide >= count_tail(k, mean, f64::INFINITY).unwrap() * 0.999);
        }

        #[test]
        fn score_is_bounded_and_monotone(p in 1e-300f64..1.0, q in 1e-300f64..1.0) {
            let (sp, sq) = (score(p), score(q));
            prop_assert!((0.0..100.0).contains(&sp));
            if p < q { prop_assert!(sp >= sq); }
        }

        #[test]
        fn fisher_stays_a_probability(ps in proptest::collection::vec(1e-300f64..=1.0, 1..8)) {
            let f = fisher(&ps);
            prop_assert!((P_FLOOR..=1.0).contains(&f));
        }
    }
}
