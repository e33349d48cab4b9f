//! Choosing the number of topics from the data: mean silhouette (cosine)
//! over a range of k whose bounds depend on the number of papers.
//!
//! The rule, in the words of the help text: *relate tries every number of
//! topics from 2 to min(30, papers/3) and keeps the one whose papers sit
//! most clearly in their own topic (best mean silhouette). When no number
//! separates the papers clearly (best silhouette under 0.25, usual for
//! papers of one field), it keeps the best from √papers upward instead, so
//! topics hold about √papers papers each.*
//!
//! 0.25 is Kaufman and Rousseeuw's reading of a silhouette below which "no
//! substantial structure has been found". Every candidate is a cut of one
//! Ward tree, so trying them all costs one silhouette each. On the sample
//! corpus (61 abstracts) every k from 2 to 20 scores between 0.08 and 0.14,
//! so the √n floor (8) applies and the best from 8 up is k = 14, the number
//! of groups a reader finds there. On planted clusters the silhouette peaks
//! far above 0.25 and the plain maximum finds the planted k.

use super::vectors::{dot, par_rows};
use super::ward::Dendrogram;

/// Largest number of topics the automatic choice considers.
pub const MAX_AUTO_TOPICS: usize = 30;
/// Mean silhouette below which the data is taken to have no clear clusters.
pub const CLEAR_STRUCTURE: f32 = 0.25;
/// Fewer papers than this are not split automatically.
const MIN_PAPERS_TO_SPLIT: usize = 6;

/// How the number of topics was chosen, kept for explanations.
#[derive(Debug, Clone, PartialEq)]
pub struct KChoice {
    /// The number of topics used.
    pub k: usize,
    /// True when `k` was chosen from the data rather than given.
    pub automatic: bool,
    /// Mean silhouette of each candidate k (empty when `k` was given).
    pub silhouettes: Vec<(usize, f32)>,
    /// True when the best silhouette was under [`CLEAR_STRUCTURE`] and the
    /// √n floor applied.
    pub weak_structure: bool,
}

impl KChoice {
    /// A number of topics the user gave.
    pub(crate) fn given(k: usize) -> Self {
        KChoice {
            k,
            automatic: false,
            silhouettes: Vec::new(),
            weak_structure: false,
        }
    }
}

/// The candidate range `lo..=hi` for `n` papers with clear structure, and
/// the floor used when the structure is weak. `None` when `n` is too small
/// to split.
pub fn bounds(n: usize) -> Option<(usize, usize, usize)> {
    if n < MIN_PAPERS_TO_SPLIT {
        return None;
    }
    let hi = (n / 3).clamp(2, MAX_AUTO_TOPICS);
    let floor = ((n as f64).sqrt().ceil() as usize).clamp(2, hi);
    Some((2, hi, floor))
}

/// Chooses k by cutting `tree`, built over the unit rows `rows` of width
/// `dim` (all papers, or a seeded sample of them), for a library of
/// `papers` papers. Deterministic for a given tree.
pub(crate) fn choose_k(tree: &Dendrogram, rows: &[f32], dim: usize, papers: usize) -> KChoice {
    let Some((lo, hi, floor)) = bounds(papers) else {
        return KChoice {
            k: 1,
            automatic: true,
            silhouettes: Vec::new(),
            weak_structure: false,
        };
    };
    let m = tree.rows();
    let hi = hi.min(m);
    let gram = gram(rows, dim);
    let ks: Vec<usize> = (lo..=hi).collect();
    let silhouettes = per_k(&ks, |k| mean_silhouette(&gram, m, &tree.cut(k), k));
    let best_in = |from: usize| {
        silhouettes
            .iter()
            .filter(|(k, _)| *k >= from)
            .fold(None::<(usize, f32)>, |acc, &(k, s)| match acc {
                Some((_, bs)) if bs >= s => acc,
                _ => Some((k, s)),
            })
            .map(|(k, _)| k)
            .unwrap_or(from.min(hi))
    };
    let (k, best) = silhouettes
        .iter()
        .copied()
        .find(|&(k, _)| k == best_in(lo))
        .unwrap_or((lo, 0.0));
    let weak = best < CLEAR_STRUCTURE;
    KChoice {
        k: if weak { best_in(floor) } else { k },
        automatic: true,
        silhouettes,
        weak_structure: weak,
    }
}

/// Evaluates `f` for every k, spread over the cores; results in k order.
fn per_k<F: Fn(usize) -> f32 + Sync>(ks: &[usize], f: F) -> Vec<(usize, f32)> {
    // Alternate small and large k so that each thread gets a similar load.
    let (mut lo, mut hi) = (0usize, ks.len());
    let mut out: Vec<(usize, f32)> = Vec::with_capacity(ks.len());
    while lo < hi {
        out.push((ks[lo], 0.0));
        lo += 1;
        if lo < hi {
            hi -= 1;
            out.push((ks[hi], 0.0));
        }
    }
    par_rows(&mut out, 1, 1, |_, slot| {
        slot[0].1 = f(slot[0].0);
    });
    out.sort_by_key(|&(k, _)| k);
    out
}

/// Cosine similarity of every pair of rows.
fn gram(rows: &[f32], dim: usize) -> Vec<f32> {
    let m = rows.len() / dim;
    let mut g = vec![0.0f32; m * m];
    par_rows(&mut g, m, 16, |i, out| {
        let x = &rows[i * dim..(i + 1) * dim];
        for (j, o) in out.iter_mut().enumerate() {
            *o = dot(x, &rows[j * dim..(j + 1) * dim]);
        }
    });
    g
}

/// Mean silhouette with cosine distance (1 − cos) from a precomputed Gram
/// matrix. Papers alone in their group score 0, as in Rousseeuw's definition.
pub(crate) fn mean_silhouette(gram: &[f32], m: usize, labels: &[usize], k: usize) -> f32 {
    let mut sizes = vec![0usize; k];
    for &l in labels {
        sizes[l] += 1;
    }
    let mut total = 0.0f64;
    let mut sums = vec![0.0f64; k];
    for i in 0..m {
        sums.iter_mut().for_each(|s| *s = 0.0);
        for (j, &l) in labels.iter().enumerate() {
            if j != i {
                sums[l] += 1.0 - gram[i * m + j] as f64;
            }
        }
        let own = labels[i];
        if sizes[own] <= 1 {
            continue;
        }
        let a = sums[own] / (sizes[own] - 1) as f64;
        let b = (0..k)
            .filter(|&c| c != own && sizes[c] > 0)
            .map(|c| sums[c] / sizes[c] as f64)
            .fold(f64::INFINITY, f64::min);
        if b.is_finite() {
            let d = a.max(b);
            if d > 0.0 {
                total += (b - a) / d;
            }
        }
    }
    (total / m as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_depend_on_the_number_of_papers() {
        assert_eq!(bounds(5), None);
        assert_eq!(bounds(6), Some((2, 2, 2)));
        assert_eq!(bounds(61), Some((2, 20, 8)));
        assert_eq!(bounds(10_000), Some((2, 30, 30)));
    }

    #[test]
    fn silhouette_of_perfect_split_is_high_and_of_mixed_split_low() {
        // Two tight pairs far apart: rows 0,1 identical; rows 2,3 identical.
        let rows = [1.0f32, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0];
        let g = gram(&rows, 2);
        let good = mean_silhouette(&g, 4, &[0, 0, 1, 1], 2);
        let bad = mean_silhouette(&g, 4, &[0, 1, 0, 1], 2);
        assert!((good - 1.0).abs() < 1e-6, "{good}");
        assert!(bad < 0.0, "{bad}");
    }
}
