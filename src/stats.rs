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

/// `P(X >= k)` for a count with mean `mean` and NB shape `shape`
/// (variance `mean + mean^2 / shape`; a large shape is Poisson).
pub fn count_tail(k: u64, mean: f64, shape: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if mean.is_nan() || mean <= 0.0 {
        return P_FLOOR;
    }
    let p = if shape > 1e6 || !shape.is_finite() {
        Poisson::new(mean).map(|d| d.sf(k - 1)).unwrap_or(P_FLOOR)
    } else {
        let success = shape / (shape + mean);
        NegativeBinomial::new(shape, success)
            .map(|d| d.sf(k - 1))
            .unwrap_or(P_FLOOR)
    };
    p.clamp(P_FLOOR, 1.0)
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

/// Surprise (in decades) at which the score reaches 63.
pub const SCORE_SCALE: f64 = 20.0;

/// Score in [0, 100): `100 * (1 - exp(-surprise / 20))`. p = 1e-5 is 22,
/// 1e-10 is 39, 1e-20 is 63, 1e-40 is 86. It never saturates, so the ranking
/// keeps the order of the evidence.
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amounts_keep_one_significant_digit_when_small() {
        assert_eq!(fmt_amount(0.0043), "0.004");
        assert_eq!(fmt_amount(0.7), "0.7");
        assert_eq!(fmt_amount(24.8), "25");
        assert_eq!(fmt_amount(0.00002), "2e-5");
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
        let p = count_tail(50, lambda, f64::INFINITY);
        assert!((p / direct - 1.0).abs() < 1e-6, "{p} vs {direct}");
    }

    proptest! {
        #[test]
        fn count_tail_is_a_probability_and_falls_with_the_count(
            k in 0u64..500, mean in 0.001f64..100.0, shape in 0.01f64..50.0)
        {
            let a = count_tail(k, mean, shape);
            let b = count_tail(k + 1, mean, shape);
            prop_assert!((P_FLOOR..=1.0).contains(&a));
            prop_assert!(b <= a + 1e-12);
        }

        #[test]
        fn a_wider_distribution_is_less_surprised_by_a_large_count(
            k in 5u64..200, mean in 0.01f64..2.0)
        {
            // Overdispersion (small shape) must never make a spike look stranger.
            prop_assert!(count_tail(k, mean, 1.0) >= count_tail(k, mean, f64::INFINITY) * 0.999);
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
