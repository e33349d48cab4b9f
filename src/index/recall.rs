//! Recall measurement: how many of the true nearest neighbours (by exact
//! search) an index returns, for a reproducible sample of stored vectors
//! used as queries.

use rand::rngs::StdRng;
use rand::seq::index::sample as sample_indices;
use rand::SeedableRng;
use rayon::prelude::*;

use super::{vector_count, ExactSearch, NeighbourSearch};
use crate::wording::count;
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
            "recall@{} {:.4} (worst query {:.2}, self found {:.4}) over {}, seed {}",
            self.k,
            self.recall,
            self.min_recall,
            self.self_found,
            count(self.sample, "query"),
            self.seed
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
    index: &(dyn NeighbourSearch + Sync),
    vectors: &[f32],
    dim: usize,
    sample: usize,
    k: usize,
    seed: u64,
) -> Result<RecallReport> {
    RecallSample::new(vectors, dim, sample, k, seed)?.measure(index, vectors)
}

/// Sampled stored vectors with their exact top `k`, found once so that an
/// index can be measured against them many times (at several `ef_search`).
#[derive(Debug, Clone)]
pub struct RecallSample {
    queries: Vec<usize>,
    truth: Vec<Vec<u32>>,
    dim: usize,
    k: usize,
    seed: u64,
}

impl RecallSample {
    /// Chooses `sample` distinct stored vectors by `seed` (capped at their
    /// number) and finds each one's exact top `k`, in parallel. Fails when
    /// `vectors` is not a whole number of vectors or is empty, or when `k`
    /// or `sample` is zero.
    pub fn new(vectors: &[f32], dim: usize, sample: usize, k: usize, seed: u64) -> Result<Self> {
        let n = vector_count(vectors, dim)?;
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
        let exact = ExactSearch::new(vectors, dim)?.with_threads(1);
        let mut rng = StdRng::seed_from_u64(seed);
        let queries = sample_indices(&mut rng, n, sample.min(n)).into_vec();
        let truth = queries
            .par_iter()
            .map(|&slot| {
                let query = &vectors[slot * dim..(slot + 1) * dim];
                let hits = exact.search(query, k, &|_| false)?;
                Ok(hits.into_iter().map(|h| h.slot).collect())
            })
            .collect::<Result<Vec<Vec<u32>>>>()?;
        Ok(RecallSample {
            queries,
            truth,
            dim,
            k,
            seed,
        })
    }

    /// Measures `index`, which must hold `vectors` (those the sample was
    /// drawn from).
    pub fn measure(
        &self,
        index: &(dyn NeighbourSearch + Sync),
        vectors: &[f32],
    ) -> Result<RecallReport> {
        let dim = self.dim;
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
        let per_query = self
            .queries
            .par_iter()
            .zip(&self.truth)
            .map(|(&slot, truth)| {
                let query = &vectors[slot * dim..(slot + 1) * dim];
                let got = index.search(query, self.k, &|_| false)?;
                let found = truth
                    .iter()
                    .filter(|&&t| got.iter().any(|g| g.slot == t))
                    .count();
                let itself = got.iter().any(|g| g.slot as usize == slot);
                Ok((found as f64 / truth.len().max(1) as f64, itself))
            })
            .collect::<Result<Vec<(f64, bool)>>>()?;
        let sample = per_query.len();
        Ok(RecallReport {
            recall: per_query.iter().map(|q| q.0).sum::<f64>() / sample as f64,
            min_recall: per_query.iter().map(|q| q.0).fold(1.0, f64::min),
            self_found: per_query.iter().filter(|q| q.1).count() as f64 / sample as f64,
            sample,
            k: self.k,
            seed: self.seed,
        })
    }
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
