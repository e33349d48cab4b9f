//! Int8 copies of the stored unit vectors, for walking an HNSW graph in a
//! long-running process.
//!
//! A graph search scores a few thousand vectors that lie anywhere in memory;
//! at 384 f32 values each it waits mostly on memory. Walking the graph with
//! one signed byte per value (and one scale per vector) reads a quarter of
//! the bytes, and the integer products are exact, so every SIMD level ranks
//! the same way. The candidates the walk keeps are then scored again in f32
//! by the caller, so the scores a search returns are never the approximate
//! ones. The copy costs a quarter of the vectors' size in memory and a pass
//! over them to build, which a server pays once and a one-shot command
//! would pay on every query.

use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
use crate::simd::{level, SimdLevel};

/// Largest magnitude of a vector's codes.
const VECTOR_STEPS: f32 = 127.0;
/// Largest magnitude of a query's codes where the dimension allows it.
const QUERY_STEPS: f32 = 32_767.0;

/// Largest magnitude of a query's codes at dimension `dim`: small enough
/// that `dim` products with vector codes sum inside 32 bits even when every
/// code is at its largest (a vector whose values all have one magnitude).
fn query_steps(dim: usize) -> f32 {
    let fits = i32::MAX as f32 / (VECTOR_STEPS * dim.max(1) as f32);
    QUERY_STEPS.min(fits.floor())
}

/// Every stored vector as signed bytes, with the value of one step.
#[derive(Debug, Clone)]
pub(crate) struct QuantizedVectors {
    dim: usize,
    codes: Vec<i8>,
    scales: Vec<f32>,
}

/// A query as 16-bit codes, with the value of one step.
#[derive(Debug, Clone)]
pub(crate) struct QueryCodes {
    codes: Vec<i16>,
    scale: f32,
}

impl QuantizedVectors {
    /// Quantises `vectors` (`dim` values per slot), each vector with its own
    /// scale so that its largest value uses the full range.
    pub(crate) fn new(vectors: &[f32], dim: usize) -> Self {
        assert!(dim > 0 && vectors.len().is_multiple_of(dim));
        let mut codes = vec![0i8; vectors.len()];
        let scales = codes
            .par_chunks_mut(dim)
            .zip(vectors.par_chunks(dim))
            .map(|(out, v)| {
                let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
                if max == 0.0 || !max.is_finite() {
                    return 0.0;
                }
                let inverse = VECTOR_STEPS / max;
                for (o, x) in out.iter_mut().zip(v) {
                    *o = (x * inverse).round().clamp(-VECTOR_STEPS, VECTOR_STEPS) as i8;
                }
                max / VECTOR_STEPS
            })
            .collect();
        QuantizedVectors { dim, codes, scales }
    }

    /// Number of vectors.
    pub(crate) fn len(&self) -> usize {
        self.scales.len()
    }

    /// The query's codes (its values beyond `dim` are ignored).
    pub(crate) fn query(&self, query: &[f32]) -> QueryCodes {
        let query = &query[..self.dim.min(query.len())];
        let max = query.iter().fold(0f32, |m, x| m.max(x.abs()));
        if max == 0.0 || !max.is_finite() {
            return QueryCodes {
                codes: vec![0; self.dim],
                scale: 0.0,
            };
        }
        let steps = query_steps(self.dim);
        let inverse = steps / max;
        let mut codes: Vec<i16> = query
            .iter()
            .map(|x| (x * inverse).round().clamp(-steps, steps) as i16)
            .collect();
        codes.resize(self.dim, 0);
        QueryCodes {
            codes,
            scale: max / steps,
        }
    }

    /// The approximate dot product of the query and the vector in `slot`.
    #[inline]
    pub(crate) fn score(&self, query: &QueryCodes, slot: u32) -> f32 {
        let at = slot as usize * self.dim;
        let codes = &self.codes[at..at + self.dim];
        (query.scale * self.scales[slot as usize]) * dot_codes(&query.codes, codes) as f32
    }

    /// Hints that the vector in `slot` is about to be scored.
    #[inline]
    pub(crate) fn fetch(&self, slot: u32) {
        let at = slot as usize * self.dim;
        if let Some(codes) = self.codes.get(at..at + self.dim) {
            crate::simd::prefetch(codes);
        }
    }
}

/// `Σ q[i] · v[i]` in exact 32-bit integer arithmetic (the same on every
/// level).
#[inline]
fn dot_codes(q: &[i16], v: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if level() >= SimdLevel::Avx2 {
        // SAFETY: the level in force is at most what the CPU has.
        return unsafe { dot_codes_avx2(q, v) };
    }
    dot_codes_portable(q, v)
}

fn dot_codes_portable(q: &[i16], v: &[i8]) -> i32 {
    q.iter()
        .zip(v)
        .fold(0i32, |acc, (&a, &b)| acc.wrapping_add(a as i32 * b as i32))
}

/// 16 values a step: bytes widened to words, multiplied and summed in
/// pairs into 32 bits (`vpmaddwd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_codes_avx2(q: &[i16], v: &[i8]) -> i32 {
    use std::arch::x86_64::*;
    let n = q.len().min(v.len());
    let full = n / 32 * 32;
    let (mut acc0, mut acc1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
    let mut i = 0;
    while i < full {
        // SAFETY: i + 32 <= full <= both lengths.
        let (w0, w1, b0, b1) = unsafe {
            (
                _mm256_loadu_si256(q.as_ptr().add(i).cast()),
                _mm256_loadu_si256(q.as_ptr().add(i + 16).cast()),
                _mm_loadu_si128(v.as_ptr().add(i).cast()),
                _mm_loadu_si128(v.as_ptr().add(i + 16).cast()),
            )
        };
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(w0, _mm256_cvtepi8_epi16(b0)));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(w1, _mm256_cvtepi8_epi16(b1)));
        i += 32;
    }
    let acc = _mm256_add_epi32(acc0, acc1);
    let half = _mm_add_epi32(
        _mm256_castsi256_si128(acc),
        _mm256_extracti128_si256(acc, 1),
    );
    let pairs = _mm_add_epi32(half, _mm_shuffle_epi32(half, 0b01_00_11_10));
    let one = _mm_add_epi32(pairs, _mm_shuffle_epi32(pairs, 0b10_11_00_01));
    _mm_cvtsi128_si32(one).wrapping_add(dot_codes_portable(&q[full..n], &v[full..n]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{clustered_unit_vectors, dot};

    #[test]
    fn scores_are_close_to_the_f32_dot_product() {
        let dim = 384;
        let vectors = clustered_unit_vectors(200, dim, 5, 0.3, 7);
        let quantized = QuantizedVectors::new(&vectors, dim);
        assert_eq!(quantized.len(), 200);
        let query = &vectors[3 * dim..4 * dim];
        let codes = quantized.query(query);
        let mut worst = 0f32;
        for slot in 0..200u32 {
            let exact = dot(
                query,
                &vectors[slot as usize * dim..(slot as usize + 1) * dim],
            );
            worst = worst.max((quantized.score(&codes, slot) - exact).abs());
        }
        assert!(worst < 0.01, "largest error {worst}");
    }

    #[test]
    fn the_integer_product_is_the_same_on_every_level_and_length() {
        for n in [0usize, 1, 31, 32, 33, 100, 384, 1000] {
            let q: Vec<i16> = (0..n)
                .map(|i| ((i * 7919) % 65_535) as i32 - 32_767)
                .map(|x| x as i16)
                .collect();
            let v: Vec<i8> = (0..n)
                .map(|i| ((i * 31) % 255) as i32 - 127)
                .map(|x| x as i8)
                .collect();
            let expected: i64 = q.iter().zip(&v).map(|(&a, &b)| a as i64 * b as i64).sum();
            assert_eq!(dot_codes_portable(&q, &v) as i64, expected, "n {n}");
            assert_eq!(dot_codes(&q, &v) as i64, expected, "n {n}");
        }
    }

    #[test]
    fn the_widest_vectors_cannot_overflow_the_sum() {
        // Every value of one magnitude: every code at its largest.
        let dim = 4096;
        let value = 1.0 / (dim as f32).sqrt();
        let quantized = QuantizedVectors::new(&vec![value; dim], dim);
        let score = quantized.score(&quantized.query(&vec![value; dim]), 0);
        assert!((score - 1.0).abs() < 1e-3, "score {score}");
    }

    #[test]
    fn zero_vectors_and_queries_score_zero() {
        let quantized = QuantizedVectors::new(&[0.0; 8], 4);
        let codes = quantized.query(&[0.5, 0.5, 0.5, 0.5]);
        assert_eq!(quantized.score(&codes, 0), 0.0);
        assert_eq!(quantized.score(&quantized.query(&[0.0; 4]), 1), 0.0);
    }
}
