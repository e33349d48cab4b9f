//! Recall measurement: how many of the true nearest neighbours (by exact
//! search) an index returns, for a reproducible sample of stored vectors
//! used as queries.

use rand::rngs::StdRng;
use rand::seq::index::sample as sample_indices;
use rand::SeedableRng;

use super::{vector_count, ExactSearch, NeighbourSearch};
use crate::{Error, Result};

/// The outcome of [`measure_recall`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecallReport {
    /// Mean fraction of the exact top `k` that the index also returned.
    pub recall: f64,
    /// The worst single query's recall.
    pub min_recall: f64,
    /// Fraction of sampled vectors that the index returned as their own
    /// match: below 1 means some stored vectors are hard to reach in the
    /// graph (a known effect of parallel insertion).
    pub self_found: f64,
    /// Number of queries measured.
    pub sample: usize,
    /// Neighbours compared per query.
    pub k: usize,
    /// Seed that chose the sampled queries; the same seed gives the same sample.
    pub seed: u64,
}

impl std::fmt::Display for RecallReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "recall@{} {:.4} (worst query {:.2}, self found {:.4}) over {} queries, seed {}",
            self.k, self.recall, self.min_recall, self.self_found, self.sample, self.seed
        )
    }
}

/// Measures `index` against exact search over the same `vectors`: `sample`
/// stored vectors (distinct, chosen by `seed`) are used as queries, and for
/// each the share of the exact top `k` found in the index's top `k` is
/// averaged. The query vector itself counts as a neighbour in both.
///
/// `sample` is capped at the number of vectors. Fails when `vectors` does not
/// match the index's size and dimension, or when `k` or `sample` is zero.
pub fn measure_recall(
    index: &dyn NeighbourSearch,
    vectors: &[f32],
    dim: usize,
    sample: usize,
    k: usize,
    seed: u64,
) -> Result<RecallReport> {
    let n = vector_count(vectors, dim)?;
    if index.dim() != dim {
        return Err(Error::WrongDimension {
            expected: index.dim(),
            received: dim,
        });
    }
    if index.len() != n {
        return Err(Error::InvalidArgument {
            name: "vectors".into(),
            problem: format!(
                "{n} vectors given but the index holds {}; measure against the vectors it was built from",
                index.len()
            ),
        });
    }
    if k == 0 || sample == 0 {
        return Err(Error::InvalidArgument {
            name: (if k == 0 { "k" } else { "sample" }).into(),
            problem: "must be at least 1".into(),
        });
    }
    if n == 0 {
        return Err(Error::InvalidArgument {
            name: "vectors".into(),
            problem: "there are none, so recall cannot be measured".into(),
        });
    }
    let sample = sample.min(n);
    let exact = ExactSearch::new(vectors, dim)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut total = 0.0;
    let mut min_recall: f64 = 1.0;
    let mut self_found = 0usize;
    for slot in sample_indices(&mut rng, n, sample) {
        let query = &vectors[slot * dim..(slot + 1) * dim];
        let truth = exact.search(query, k, &|_| false)?;
        let got = index.search(query, k, &|_| false)?;
        let found = truth
            .iter()
            .filter(|t| got.iter().any(|g| g.slot == t.slot))
            .count();
        let recall = found as f64 / truth.len() as f64;
        total += recall;
        min_recall = min_recall.min(recall);
        if got.iter().any(|g| g.slot as usize == slot) {
            self_found += 1;
        }
    }
    Ok(RecallReport {
        recall: total / sample as f64,
        min_recall,
        self_found: self_found as f64 / sample as f64,
        sample,
        k,
        seed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{clustered_unit_vectors, Hit};

    /// An "index" that returns only every other true neighbour.
    struct HalfBlind<'a>(ExactSearch<'a>);

    impl NeighbourSearch for HalfBlind<'_> {
        fn search(&self, q: &[f32], k: usize, skip: &dyn Fn(u32) -> bool) -> Result<Vec<Hit>> {
            let all = self.0.search(q, 2 * k, skip)?;
            Ok(all.into_iter().step_by(2).take(k).collect())
        }
        fn len(&self) -> usize {
            self.0.len()
        }
        fn dim(&self) -> usize {
            self.0.dim()
        }
    }

    #[test]
    fn exact_search_has_perfect_recall_and_a_half_blind_one_half() {
        let dim = 16;
        let v = clustered_unit_vectors(500, dim, 5, 0.6, 1);
        let exact = ExactSearch::new(&v, dim).unwrap();
        let report = measure_recall(&exact, &v, dim, 50, 10, 7).unwrap();
        assert_eq!(report.recall, 1.0);
        assert_eq!(report.self_found, 1.0);
        assert_eq!((report.sample, report.k, report.seed), (50, 10, 7));

        let half = HalfBlind(exact);
        let report = measure_recall(&half, &v, dim, 50, 10, 7).unwrap();
        assert!((report.recall - 0.5).abs() < 1e-9, "{report}");
        // Same seed, same sample, same figure.
        assert_eq!(report, measure_recall(&half, &v, dim, 50, 10, 7).unwrap());
    }

    #[test]
    fn mismatched_inputs_are_errors() {
        let v = clustered_unit_vectors(20, 4, 2, 0.5, 1);
        let exact = ExactSearch::new(&v, 4).unwrap();
        assert!(measure_recall(&exact, &v[..40], 4, 5, 3, 1).is_err());
        assert!(measure_recall(&exact, &v, 4, 5, 0, 1).is_err());
        assert!(measure_recall(&exact, &v, 4, 0, 3, 1).is_err());
        let report = measure_recall(&exact, &v, 4, 500, 3, 1).unwrap();
        assert_eq!(report.sample, 20);
    }
}
