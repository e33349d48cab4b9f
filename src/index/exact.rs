//! Exact (brute-force) nearest-neighbour search over a borrowed slice of unit
//! vectors: the reference every approximate result is checked against, and
//! the fastest choice for a process that answers only a few queries.

use std::collections::BinaryHeap;

use super::{cosine_score, dot, normalised_query, sort_hits, vector_count, Hit, NeighbourSearch};
use crate::store::{VectorView, SCAN_BLOCK_ROWS};
use crate::Result;

/// Below this many stored values (n * dim) one thread scores everything;
/// above it the scan is split across threads.
const PARALLEL_MIN_VALUES: usize = 1 << 20;

/// Exact search over `n * dim` values borrowed from the caller (typically a
/// memory-mapped vector file). Nothing is copied or preprocessed, so creating
/// one is free.
///
/// A stored vector containing NaN gets no score and never appears in results;
/// use [`super::validate_unit_vectors`] when vectors are written to catch it.
#[derive(Debug, Clone, Copy)]
pub struct ExactSearch<'a> {
    vectors: &'a [f32],
    dim: usize,
    len: usize,
    threads: usize,
}

impl<'a> ExactSearch<'a> {
    /// Wraps `vectors` (slot `i` at `vectors[i * dim..(i + 1) * dim]`).
    /// Fails when the slice is not a whole number of vectors.
    pub fn new(vectors: &'a [f32], dim: usize) -> Result<Self> {
        let len = vector_count(vectors, dim)?;
        Ok(ExactSearch {
            vectors,
            dim,
            len,
            threads: 1,
        })
    }

    /// Lets one large search use up to `threads` threads (default 1).
    ///
    /// The scan is bound by memory bandwidth: on a shared 2-core machine,
    /// 100,000 384-d vectors took 15 ms on one thread and 22 ms on two, so
    /// more threads pay only on an idle machine with spare bandwidth.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Scores every stored vector against a normalised query.
    fn scores(&self, query: &[f32]) -> Vec<f32> {
        let mut scores = vec![0f32; self.len];
        let fill = |vectors: &[f32], out: &mut [f32]| {
            for (v, s) in vectors.chunks_exact(self.dim).zip(out.iter_mut()) {
                *s = dot(v, query);
            }
        };
        let threads = if self.vectors.len() < PARALLEL_MIN_VALUES {
            1
        } else {
            self.threads
        };
        if threads <= 1 {
            fill(self.vectors, &mut scores);
        } else {
            let per_thread = self.len.div_ceil(threads);
            std::thread::scope(|scope| {
                for (vectors, out) in self
                    .vectors
                    .chunks(per_thread * self.dim)
                    .zip(scores.chunks_mut(per_thread))
                {
                    scope.spawn(move || fill(vectors, out));
                }
            });
        }
        scores
    }
}

/// A candidate ordered so that the heap's top is the worst kept hit: lowest
/// score, and among equal scores the highest slot.
#[derive(PartialEq)]
struct Candidate(Hit);

impl Eq for Candidate {}

impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other
            .0
            .score
            .total_cmp(&self.0.score)
            .then(self.0.slot.cmp(&other.0.slot))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Keeps the best `k` of `scores`, asking `skip` only about slots good
/// enough to enter the result.
pub(crate) fn top_k(scores: &[f32], k: usize, skip: &dyn Fn(u32) -> bool) -> Vec<Hit> {
    if k == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Candidate> = BinaryHeap::with_capacity(k.min(scores.len()) + 1);
    for (slot, &raw) in scores.iter().enumerate() {
        if raw.is_nan() {
            continue;
        }
        let hit = Hit {
            slot: slot as u32,
            score: cosine_score(raw),
        };
        if heap.len() == k {
            // Slots arrive in increasing order, so an equal score never beats
            // the worst kept hit.
            let worst = heap.peek().map(|c| c.0.score).unwrap_or(f32::NEG_INFINITY);
            if hit.score <= worst {
                continue;
            }
        }
        if skip(hit.slot) {
            continue;
        }
        heap.push(Candidate(hit));
        if heap.len() > k {
            heap.pop();
        }
    }
    let mut hits: Vec<Hit> = heap.into_iter().map(|c| c.0).collect();
    sort_hits(&mut hits);
    hits
}

/// Exact search over a vector file's view read in blocks of
/// [`SCAN_BLOCK_ROWS`], each block's pages handed back after it is scored
/// (see [`VectorView::for_each_block`]), so that a one-shot search of a
/// large library does not hold the whole mapped file resident. The same
/// hits as [`ExactSearch`] over the view's slice.
pub fn search_view(
    view: &VectorView,
    query: &[f32],
    k: usize,
    skip: &dyn Fn(u32) -> bool,
) -> Result<Vec<Hit>> {
    let query = normalised_query(query, view.dim())?;
    if k == 0 || view.is_empty() {
        return Ok(Vec::new());
    }
    let mut scores = Vec::with_capacity(view.len());
    view.for_each_block(SCAN_BLOCK_ROWS, |_, block| {
        scores.extend(ExactSearch::new(block, view.dim())?.scores(&query));
        Ok(())
    })?;
    Ok(top_k(&scores, k, skip))
}

impl NeighbourSearch for ExactSearch<'_> {
    fn search(&self, query: &[f32], k: usize, skip: &dyn Fn(u32) -> bool) -> Result<Vec<Hit>> {
        let query = normalised_query(query, self.dim)?;
        if k == 0 || self.len == 0 {
            return Ok(Vec::new());
        }
        Ok(top_k(&self.scores(&query), k, skip))
    }

    fn len(&self) -> usize {
        self.len
    }

    fn dim(&self) -> usize {
        self.dim
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::clustered_unit_vectors;
    use crate::Error;

    /// Scores everything in f64, sorts, filters: obviously right, slow.
    fn naive(
        vectors: &[f32],
        dim: usize,
        query: &[f32],
        k: usize,
        skip: &dyn Fn(u32) -> bool,
    ) -> Vec<u32> {
        let norm = query
            .iter()
            .map(|x| (*x as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        let mut all: Vec<(f64, u32)> = vectors
            .chunks_exact(dim)
            .enumerate()
            .filter(|(i, _)| !skip(*i as u32))
            .map(|(i, v)| {
                let s = v
                    .iter()
                    .zip(query)
                    .map(|(a, b)| *a as f64 * *b as f64)
                    .sum::<f64>();
                (s / norm, i as u32)
            })
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        all.into_iter().take(k).map(|(_, i)| i).collect()
    }

    #[test]
    fn a_view_searched_in_blocks_finds_what_the_slice_finds() {
        let dim = 8;
        let count = SCAN_BLOCK_ROWS + 500;
        let vectors = clustered_unit_vectors(count, dim, 40, 0.6, 3);
        let view = VectorView::in_memory(vectors.clone(), dim, 1);
        let skip = |slot: u32| slot.is_multiple_of(7);
        for query in clustered_unit_vectors(5, dim, 40, 0.6, 4).chunks(dim) {
            let whole = ExactSearch::new(&vectors, dim)
                .unwrap()
                .search(query, 20, &skip)
                .unwrap();
            assert_eq!(search_view(&view, query, 20, &skip).unwrap(), whole);
        }
    }

    #[test]
    fn matches_naive_search_with_and_without_skip() {
        let dim = 48;
        let vectors = clustered_unit_vectors(3_000, dim, 12, 0.6, 11);
        let queries = clustered_unit_vectors(20, dim, 12, 0.6, 12);
        for threads in [1, 3] {
            let exact = ExactSearch::new(&vectors, dim)
                .unwrap()
                .with_threads(threads);
            for (qi, query) in queries.chunks_exact(dim).enumerate() {
                let skip_every_third = |s: u32| s % 3 == (qi as u32 % 3);
                for k in [1, 10, 57] {
                    let got: Vec<u32> = exact
                        .search(query, k, &|_| false)
                        .unwrap()
                        .iter()
                        .map(|h| h.slot)
                        .collect();
                    assert_eq!(got, naive(&vectors, dim, query, k, &|_| false));
                    let got = exact.search(query, k, &skip_every_third).unwrap();
                    let slots: Vec<u32> = got.iter().map(|h| h.slot).collect();
                    assert_eq!(slots, naive(&vectors, dim, query, k, &skip_every_third));
                    assert!(got.windows(2).all(|w| w[0].score >= w[1].score));
                }
            }
        }
    }

    #[test]
    fn parallel_scan_agrees_with_single_thread() {
        // Large enough to cross PARALLEL_MIN_VALUES.
        let dim = 64;
        let n = (PARALLEL_MIN_VALUES / dim) + 777;
        let vectors = clustered_unit_vectors(n, dim, 30, 0.5, 3);
        let query = &vectors[5 * dim..6 * dim];
        let one = ExactSearch::new(&vectors, dim).unwrap().with_threads(1);
        let many = ExactSearch::new(&vectors, dim).unwrap().with_threads(4);
        let a = one.search(query, 25, &|s| s == 5).unwrap();
        let b = many.search(query, 25, &|s| s == 5).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 25);
        assert!(a.iter().all(|h| h.slot != 5));
    }

    #[test]
    fn k_larger_than_library_returns_every_unskipped_vector() {
        let dim = 8;
        let vectors = clustered_unit_vectors(40, dim, 4, 0.5, 5);
        let exact = ExactSearch::new(&vectors, dim).unwrap();
        let query = &vectors[..dim];
        let hits = exact.search(query, 1000, &|s| s < 10).unwrap();
        assert_eq!(hits.len(), 30);
        let slots: Vec<u32> = hits.iter().map(|h| h.slot).collect();
        assert_eq!(slots, naive(&vectors, dim, query, 1000, &|s| s < 10));
        assert!(exact.search(query, 0, &|_| false).unwrap().is_empty());
        // The query vector itself is its own best match, with score 1.
        let top = exact.search(query, 1, &|_| false).unwrap();
        assert_eq!(top[0].slot, 0);
        assert!((top[0].score - 1.0).abs() < 1e-5 && top[0].score <= 1.0);
    }

    #[test]
    fn ties_go_to_the_lower_slot_and_nan_vectors_are_never_returned() {
        let vectors = vec![0.0, 1.0, 1.0, 0.0, 1.0, 0.0, f32::NAN, 0.0, 1.0, 0.0];
        let exact = ExactSearch::new(&vectors, 2).unwrap();
        let hits = exact.search(&[2.0, 0.0], 5, &|_| false).unwrap();
        let slots: Vec<u32> = hits.iter().map(|h| h.slot).collect();
        assert_eq!(slots, vec![1, 2, 4, 0]);
        assert_eq!(hits[0].score, 1.0);
    }

    #[test]
    fn rejects_bad_shapes_and_queries() {
        assert!(matches!(
            ExactSearch::new(&[0.0; 7], 2),
            Err(Error::VectorShape { values: 7, dim: 2 })
        ));
        let exact = ExactSearch::new(&[1.0, 0.0], 2).unwrap();
        assert!(matches!(
            exact.search(&[1.0, 0.0, 0.0], 1, &|_| false),
            Err(Error::WrongDimension {
                expected: 2,
                received: 3
            })
        ));
        let empty = ExactSearch::new(&[], 2).unwrap();
        assert!(empty.is_empty());
        assert!(empty.search(&[1.0, 0.0], 3, &|_| false).unwrap().is_empty());
    }
}
