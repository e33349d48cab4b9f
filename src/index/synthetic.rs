//! Synthetic unit vectors with real cluster structure, for tests and benches
//! of every module that needs a library of embeddings without a model.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Returns `n` unit vectors of dimension `dim` (flat, slot-major), grouped
/// around `clusters` random unit centres.
///
/// Each vector is its centre plus Gaussian noise whose expected length is
/// `spread`, scaled back to length 1; the cosine between two members of a
/// cluster is therefore about `1 / (1 + spread²)`, while unrelated vectors
/// are nearly orthogonal (as in sentence embeddings, where papers on one
/// topic sit at cosine 0.4–0.7). Cluster sizes are uneven (weights drawn
/// from 0.2 to 1.8). The same arguments always give the same vectors.
///
/// `clusters == 0` is treated as 1; `dim == 0` gives an empty vector.
pub fn clustered_unit_vectors(
    n: usize,
    dim: usize,
    clusters: usize,
    spread: f32,
    seed: u64,
) -> Vec<f32> {
    if dim == 0 {
        return Vec::new();
    }
    let clusters = clusters.max(1);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut centres = Vec::with_capacity(clusters * dim);
    for _ in 0..clusters {
        let start = centres.len();
        centres.extend((0..dim).map(|_| gaussian(&mut rng)));
        normalise(&mut centres[start..]);
    }
    // Uneven cluster sizes: choose a cluster with probability proportional
    // to its weight.
    let weights: Vec<f32> = (0..clusters).map(|_| rng.random_range(0.2..1.8)).collect();
    let total: f32 = weights.iter().sum();
    let cumulative: Vec<f32> = weights
        .iter()
        .scan(0.0, |acc, w| {
            *acc += w / total;
            Some(*acc)
        })
        .collect();

    let noise_scale = spread / (dim as f32).sqrt();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let u: f32 = rng.random();
        let c = cumulative.partition_point(|&p| p < u).min(clusters - 1);
        let centre = &centres[c * dim..(c + 1) * dim];
        let start = out.len();
        out.extend(centre.iter().map(|x| x + noise_scale * gaussian(&mut rng)));
        normalise(&mut out[start..]);
    }
    out
}

/// A standard normal sample (Box–Muller).
fn gaussian(rng: &mut StdRng) -> f32 {
    let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    } else {
        // Practically unreachable; keep the promise of unit length.
        v.iter_mut().for_each(|x| *x = 0.0);
        v[0] = 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::validate_unit_vectors;

    fn cos(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn vectors_are_unit_deterministic_and_clustered() {
        let dim = 64;
        let v = clustered_unit_vectors(600, dim, 6, 0.7, 42);
        assert_eq!(v.len(), 600 * dim);
        validate_unit_vectors(&v, dim).unwrap();
        assert_eq!(v, clustered_unit_vectors(600, dim, 6, 0.7, 42));
        assert_ne!(v, clustered_unit_vectors(600, dim, 6, 0.7, 43));

        // Each vector's nearest other vector is far closer than a typical
        // pair: the data has clusters, it is not uniform noise.
        let slots: Vec<&[f32]> = v.chunks_exact(dim).collect();
        let mut nearest_sum = 0.0;
        let mut all_sum = 0.0;
        for (i, a) in slots.iter().enumerate().take(100) {
            let sims: Vec<f32> = slots
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, b)| cos(a, b))
                .collect();
            nearest_sum += sims.iter().cloned().fold(f32::MIN, f32::max);
            all_sum += sims.iter().sum::<f32>() / sims.len() as f32;
        }
        let (nearest, mean) = (nearest_sum / 100.0, all_sum / 100.0);
        // Expected within-cluster cosine 1 / (1 + 0.49) ≈ 0.67; a mean over
        // six clusters of uneven size stays well below it.
        assert!(nearest > 0.55, "nearest {nearest}");
        assert!(mean < 0.4, "mean {mean}");
    }
}
