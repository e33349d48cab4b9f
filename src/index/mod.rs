//! Nearest-neighbour search over the library's unit vectors.
//!
//! This module owns everything that answers "which stored vectors are closest
//! to this one": exact (brute-force) search over a borrowed, possibly
//! memory-mapped slice ([`ExactSearch`]), an approximate HNSW graph that owns
//! its data and can be saved and reloaded ([`HnswIndex`]), a recall check of
//! one against the other ([`measure_recall`]), synthetic clustered vectors
//! for tests and benches ([`clustered_unit_vectors`]), and the choice between
//! exact and approximate search ([`prefer_exact`]). The graph is built by
//! relate's own parallel insertion, or by hnsw_rs on request; this is the
//! only module that knows hnsw_rs.
//!
//! Vectors are stored as one contiguous `&[f32]` of `n * dim` values: slot
//! `i` is `vectors[i * dim..(i + 1) * dim]`. The score of a hit is the cosine
//! similarity to the query (the dot product, as stored vectors have length 1),
//! clamped to `[-1, 1]`; higher is closer.

mod build;
mod exact;
mod graph;
mod hnsw;
mod quantized;
mod recall;
mod repair;
mod synthetic;

pub use exact::{search_view, ExactSearch};
pub use hnsw::{
    GraphBuilder, HnswIndex, HnswParams, VectorSlice, EF_SEARCH_LADDER, MANY_LINKS_FROM,
    MAX_CONNECTIONS, MAX_EF,
};
pub use recall::{measure_recall, RecallReport, RecallSample};
pub use synthetic::clustered_unit_vectors;

use crate::{Error, Result};

/// One search result: a slot in the vector store and its similarity to the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Index of the vector in the store (vector `slot` is `vectors[slot * dim..]`).
    pub slot: u32,
    /// Cosine similarity to the query in `[-1, 1]`; higher is closer.
    pub score: f32,
}

/// A nearest-neighbour search over a fixed set of unit vectors.
pub trait NeighbourSearch {
    /// Returns up to `k` hits, best first (ties broken by lower slot), leaving
    /// out every slot for which `skip` returns true (the query paper itself,
    /// tombstoned papers). Fewer than `k` hits come back only when fewer
    /// than `k` vectors remain (or, for approximate search, can be reached).
    ///
    /// The query need not have length 1; it is normalised first. A query of
    /// the wrong dimension, with non-finite values, or of length zero is an
    /// error.
    fn search(&self, query: &[f32], k: usize, skip: &dyn Fn(u32) -> bool) -> Result<Vec<Hit>>;

    /// Number of vectors searched over.
    fn len(&self) -> usize;

    /// True when there is nothing to search.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Dimension of the vectors.
    fn dim(&self) -> usize;
}

/// Library size from which a query should use the saved HNSW index (when
/// it is up to date) rather than exact search.
///
/// Measured as the wall time of a whole `relate similar ID -k 10` process
/// (median of 15 runs, files in the page cache) on synthetic libraries made
/// by `examples/synthetic_library DIR N 100 42`, AMD EPYC (Zen 3) with 2
/// cores, AVX2, while other builds shared the machine:
///
/// | papers  | exact search | saved HNSW index |
/// |---------|--------------|------------------|
/// | 2,000   | 12.8 ms      | 12.4 ms          |
/// | 10,000  | 7.2 ms       | 6.8 ms           |
/// | 30,000  | 9.8 ms       | 7.0 ms           |
/// | 100,000 | 70.4 ms      | 29.9 ms          |
///
/// The index file is memory-mapped, so opening it costs a header check;
/// below about 20,000 papers the two are within noise of each other and
/// exact search, which never misses a neighbour, is kept.
pub const EXACT_SEARCH_CROSSOVER: usize = 20_000;

/// Whether a query over `n` vectors should use exact search rather than
/// the saved HNSW index. See [`EXACT_SEARCH_CROSSOVER`].
pub fn prefer_exact(n: usize) -> bool {
    n < EXACT_SEARCH_CROSSOVER
}

/// Least recall@10, measured when the index's `ef_search` was tuned, for a
/// query that may choose to use the saved index rather than compare every
/// vector.
///
/// On vectors with no structure for a graph to follow (uniform on the
/// sphere, 100,000 in 384 dimensions, M 16) the widest beam tried reaches
/// 0.77 (hnswlib with the same parameters 0.61 at ef 800), while its
/// searches took 20–30 ms of process wall time against 10–20 ms for exact
/// search (Intel Xeon, AVX-512, 2 cores): there the index is both slower
/// and wrong a quarter of the time. Clustered libraries tune to 0.97 or
/// just short of it (0.966 at 1,000,000 papers with M 16), where the
/// index is several times faster, so the floor sits well below them.
pub const AUTO_MIN_RECALL: f64 = 0.90;

/// Whether an index whose tuned recall is `tuned_recall` (`None`: never
/// tuned, so its beam is the user's choice) should be used when a query
/// may choose. See [`AUTO_MIN_RECALL`].
pub fn index_worth_using(tuned_recall: Option<f64>) -> bool {
    tuned_recall.is_none_or(|r| r >= AUTO_MIN_RECALL)
}

/// How far a stored vector's length may be from 1 before it is rejected.
const UNIT_TOLERANCE: f32 = 1e-2;

/// Checks that `vectors` holds whole `dim`-dimensional vectors and returns
/// how many.
pub(crate) fn vector_count(vectors: &[f32], dim: usize) -> Result<usize> {
    if dim == 0 {
        return Err(Error::InvalidArgument {
            name: "dimension".into(),
            problem: "must be at least 1".into(),
        });
    }
    if !vectors.len().is_multiple_of(dim) {
        return Err(Error::VectorShape {
            values: vectors.len(),
            dim,
        });
    }
    let n = vectors.len() / dim;
    if n > u32::MAX as usize {
        return Err(Error::InvalidArgument {
            name: "vectors".into(),
            problem: format!("{n} vectors exceed the {} an index can address", u32::MAX),
        });
    }
    Ok(n)
}

/// Checks that every vector in `vectors` is finite and has length 1 (within
/// a small tolerance), naming the first slot that is not.
///
/// [`HnswIndex::build`] runs this itself; callers of [`ExactSearch`] may run
/// it once when vectors are written, since a non-finite stored vector never
/// appears in exact search results.
pub fn validate_unit_vectors(vectors: &[f32], dim: usize) -> Result<()> {
    vector_count(vectors, dim)?;
    validate_slots(vectors, dim, 0..vectors.len() / dim.max(1))
}

/// [`validate_unit_vectors`] for the slots in `slots` only.
pub(crate) fn validate_slots(
    vectors: &[f32],
    dim: usize,
    slots: impl IntoIterator<Item = usize>,
) -> Result<()> {
    for slot in slots {
        let v = &vectors[slot * dim..(slot + 1) * dim];
        if let Some(position) = v.iter().position(|x| !x.is_finite()) {
            return Err(Error::NonFiniteSlot {
                slot,
                position,
                value: v[position],
            });
        }
        let norm = dot(v, v).sqrt();
        if (norm - 1.0).abs() > UNIT_TOLERANCE {
            return Err(Error::NotUnitVector { slot, norm });
        }
    }
    Ok(())
}

/// Checks a query's dimension and values and returns it scaled to length 1.
pub(crate) fn normalised_query(query: &[f32], dim: usize) -> Result<Vec<f32>> {
    if query.len() != dim {
        return Err(Error::WrongDimension {
            expected: dim,
            received: query.len(),
        });
    }
    if let Some(position) = query.iter().position(|x| !x.is_finite()) {
        return Err(Error::InvalidArgument {
            name: "query vector".into(),
            problem: format!(
                "value {} at position {position} is not a finite number",
                query[position]
            ),
        });
    }
    let norm = dot(query, query).sqrt();
    if !(norm > 0.0 && norm.is_finite()) {
        return Err(Error::InvalidArgument {
            name: "query vector".into(),
            problem: "has length zero (or too large to normalise), so it has no direction to \
                      search along"
                .into(),
        });
    }
    Ok(query.iter().map(|x| x / norm).collect())
}

/// Clamps a dot product of unit vectors to the range of a cosine.
#[inline]
pub(crate) fn cosine_score(dot: f32) -> f32 {
    dot.clamp(-1.0, 1.0)
}

/// Sorts hits best first, breaking ties by lower slot so results are stable.
pub(crate) fn sort_hits(hits: &mut [Hit]) {
    hits.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.slot.cmp(&b.slot)));
}

/// Dot product, shared by exact and HNSW search so that their scores agree.
pub(crate) use crate::simd::dot;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_checks_name_the_problem() {
        match normalised_query(&[1.0, 0.0], 3) {
            Err(Error::WrongDimension { expected, received }) => {
                assert_eq!((expected, received), (3, 2))
            }
            other => panic!("expected WrongDimension, got {other:?}"),
        }
        assert!(matches!(
            normalised_query(&[f32::NAN, 0.0], 2),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            normalised_query(&[0.0, 0.0], 2),
            Err(Error::InvalidArgument { .. })
        ));
        let q = normalised_query(&[3.0, 4.0], 2).unwrap();
        assert!((q[0] - 0.6).abs() < 1e-6 && (q[1] - 0.8).abs() < 1e-6);
    }

    #[test]
    fn validation_names_the_bad_slot() {
        let mut v = vec![1.0, 0.0, 0.0, 1.0, 0.6, 0.8];
        validate_unit_vectors(&v, 2).unwrap();
        v[5] = f32::INFINITY;
        match validate_unit_vectors(&v, 2) {
            Err(Error::NonFiniteSlot { slot, position, .. }) => {
                assert_eq!((slot, position), (2, 1))
            }
            other => panic!("expected NonFiniteSlot, got {other:?}"),
        }
        v[5] = 0.0;
        match validate_unit_vectors(&v, 2) {
            Err(Error::NotUnitVector { slot, norm }) => {
                assert_eq!(slot, 2);
                assert!((norm - 0.6).abs() < 1e-6);
            }
            other => panic!("expected NotUnitVector, got {other:?}"),
        }
        assert!(matches!(
            validate_unit_vectors(&v[..5], 2),
            Err(Error::VectorShape { values: 5, dim: 2 })
        ));
        assert!(matches!(
            validate_unit_vectors(&v, 0),
            Err(Error::InvalidArgument { .. })
        ));
    }
}
