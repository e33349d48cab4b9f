//! Spherical k-means: k-means on the unit sphere with cosine similarity,
//! seeded by greedy k-means++, restarted a few times, best objective kept.
//!
//! Topics come from Ward's clustering (see `grouping`, which says why);
//! k-means refines a tree built over a sample of a large library, and
//! serves alone when more topics are asked for than a sampled tree can cut.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::vectors::{dot, normalize};
use crate::embed::matmul::{product, Dest, PackedB, RowsView};

/// Largest number of Lloyd iterations per restart.
const MAX_ITERATIONS: usize = 100;

/// A partition of the rows into `k` groups.
#[derive(Debug, Clone)]
pub(crate) struct Clustering {
    /// Group of each row, `0..k`.
    pub labels: Vec<usize>,
    /// Sum over rows of the cosine to their centre (higher is better).
    pub objective: f64,
}

/// Clusters unit rows of width `dim` into `k` groups (1 ≤ k ≤ rows).
/// Deterministic for a given input, `k`, `seed` and `restarts`.
pub(crate) fn spherical_kmeans(
    data: &[f32],
    dim: usize,
    k: usize,
    seed: u64,
    restarts: usize,
) -> Clustering {
    let n = data.len() / dim;
    let k = k.clamp(1, n.max(1));
    let mut best: Option<Clustering> = None;
    for r in 0..restarts.max(1) {
        let mut rng = StdRng::seed_from_u64(seed ^ (r as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let run = lloyd(data, dim, seeds(data, dim, k, &mut rng));
        if best.as_ref().is_none_or(|b| run.objective > b.objective) {
            best = Some(run);
        }
    }
    best.expect("at least one restart runs")
}

/// Greedy k-means++ seeding on the sphere: each next centre is the best of
/// a few candidates drawn with probability proportional to 1 − cos to the
/// nearest chosen centre (the squared chord distance, up to a factor of 2),
/// "best" meaning the one that most reduces the total of those distances.
fn seeds(data: &[f32], dim: usize, k: usize, rng: &mut StdRng) -> Vec<f32> {
    let n = data.len() / dim;
    let row = |i: usize| &data[i * dim..(i + 1) * dim];
    let candidates = 2 + (k as f64).ln().floor() as usize;
    let mut chosen = vec![rng.random_range(0..n)];
    let mut dist: Vec<f64> = (0..n)
        .map(|i| (1.0 - dot(row(i), row(chosen[0])) as f64).max(0.0))
        .collect();
    while chosen.len() < k {
        let total: f64 = dist.iter().sum();
        if total <= 1e-12 {
            // All remaining rows coincide with a centre: take the first unused.
            let next = (0..n).find(|i| !chosen.contains(i)).unwrap_or(0);
            chosen.push(next);
            continue;
        }
        let mut best: Option<(f64, usize, Vec<f64>)> = None;
        for _ in 0..candidates {
            let mut target = rng.random::<f64>() * total;
            let mut pick = n - 1;
            for (i, d) in dist.iter().enumerate() {
                if target < *d {
                    pick = i;
                    break;
                }
                target -= d;
            }
            let updated: Vec<f64> = dist
                .iter()
                .enumerate()
                .map(|(i, d)| d.min((1.0 - dot(row(i), row(pick)) as f64).max(0.0)))
                .collect();
            let cost: f64 = updated.iter().sum();
            if best.as_ref().is_none_or(|b| cost < b.0) {
                best = Some((cost, pick, updated));
            }
        }
        let (_, pick, updated) = best.expect("at least one candidate");
        chosen.push(pick);
        dist = updated;
    }
    chosen
        .iter()
        .flat_map(|&i| row(i).iter().copied())
        .collect()
}

/// Lloyd iterations from the given unit centres (`k × dim`, flat) until
/// the assignment is stable or [`REFINE_ITERATIONS`] have run: the centres
/// come from a tree over a sample and need only settle.
pub(crate) fn refine(data: &[f32], dim: usize, centroids: Vec<f32>) -> Clustering {
    lloyd_steps(data, dim, centroids, REFINE_ITERATIONS)
}

/// Most Lloyd iterations when refining given centres.
const REFINE_ITERATIONS: usize = 3;

/// Lloyd iterations from the given centres until the assignment is stable.
fn lloyd(data: &[f32], dim: usize, centroids: Vec<f32>) -> Clustering {
    lloyd_steps(data, dim, centroids, MAX_ITERATIONS)
}

/// At most `steps` Lloyd iterations, stopping once the assignment is stable.
fn lloyd_steps(data: &[f32], dim: usize, mut centroids: Vec<f32>, steps: usize) -> Clustering {
    let n = data.len() / dim;
    let k = centroids.len() / dim;
    let mut labels = vec![usize::MAX; n];
    let mut sims = vec![0.0f32; n];
    for _ in 0..steps {
        let mut next = vec![(0usize, 0.0f32); n];
        assign(data, dim, &centroids, &mut next);
        let changed = next
            .iter()
            .zip(&labels)
            .filter(|((l, _), old)| l != *old)
            .count();
        for (i, (l, s)) in next.into_iter().enumerate() {
            labels[i] = l;
            sims[i] = s;
        }
        centroids = update(data, dim, k, &mut labels, &sims);
        if changed == 0 {
            break;
        }
    }
    let mut final_assign = vec![(0usize, 0.0f32); n];
    assign(data, dim, &centroids, &mut final_assign);
    let objective = final_assign.iter().map(|&(_, s)| s as f64).sum();
    let labels = final_assign.into_iter().map(|(l, _)| l).collect();
    Clustering { labels, objective }
}

/// Rows whose similarities to the centres are computed at once.
const ASSIGN_BLOCK: usize = 2048;

/// Nearest centre (highest cosine) of every row: each block of rows times
/// the centres as one blocked matrix product (split over the cores), then
/// the best column of each row.
pub(crate) fn assign(data: &[f32], dim: usize, centroids: &[f32], out: &mut [(usize, f32)]) {
    let k = centroids.len() / dim;
    if k == 0 {
        return;
    }
    let centres = PackedB::from_weight(centroids, k, dim);
    let mut sims = vec![0.0f32; ASSIGN_BLOCK.min(out.len()) * k];
    for (b, block) in out.chunks_mut(ASSIGN_BLOCK).enumerate() {
        let m = block.len();
        let rows = &data[b * ASSIGN_BLOCK * dim..(b * ASSIGN_BLOCK + m) * dim];
        product(
            Dest::new(&mut sims[..m * k], k),
            RowsView {
                data: rows,
                row_step: dim,
            },
            m,
            &centres,
            false,
            true,
        );
        for (slot, row) in block.iter_mut().zip(sims.chunks_exact(k)) {
            let mut best = (0usize, f32::NEG_INFINITY);
            for (j, &s) in row.iter().enumerate() {
                if s > best.1 {
                    best = (j, s);
                }
            }
            *slot = best;
        }
    }
}

/// New unit centres as normalised member sums. An empty group takes over
/// the row that is worst served by its own centre, so no group stays empty.
fn update(data: &[f32], dim: usize, k: usize, labels: &mut [usize], sims: &[f32]) -> Vec<f32> {
    let mut sums = vec![0.0f32; k * dim];
    let mut counts = vec![0usize; k];
    for (i, &l) in labels.iter().enumerate() {
        counts[l] += 1;
        let row = &data[i * dim..(i + 1) * dim];
        for (s, x) in sums[l * dim..(l + 1) * dim].iter_mut().zip(row) {
            *s += x;
        }
    }
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by(|&a, &b| sims[a].total_cmp(&sims[b]).then(a.cmp(&b)));
    let mut donors = order.into_iter();
    for j in 0..k {
        if counts[j] > 0 {
            continue;
        }
        // Take the worst-served row whose group can spare it.
        for i in donors.by_ref() {
            let from = labels[i];
            if counts[from] > 1 {
                counts[from] -= 1;
                counts[j] = 1;
                labels[i] = j;
                let row = &data[i * dim..(i + 1) * dim];
                for d in 0..dim {
                    sums[from * dim + d] -= row[d];
                    sums[j * dim + d] = row[d];
                }
                break;
            }
        }
    }
    for c in sums.chunks_exact_mut(dim) {
        normalize(c);
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_groups() -> Vec<f32> {
        // Three rows near the x axis, three near the y axis.
        let mut v = vec![
            1.0, 0.1, 0.0, 1.0, 0.0, 0.1, 0.9, 0.1, 0.1, //
            0.1, 1.0, 0.0, 0.0, 1.0, 0.1, 0.1, 0.9, 0.1,
        ];
        for r in v.chunks_exact_mut(3) {
            normalize(r);
        }
        v
    }

    #[test]
    fn separates_two_obvious_groups() {
        let c = spherical_kmeans(&two_groups(), 3, 2, 7, 3);
        assert_eq!(c.labels[0], c.labels[1]);
        assert_eq!(c.labels[1], c.labels[2]);
        assert_eq!(c.labels[3], c.labels[4]);
        assert_eq!(c.labels[4], c.labels[5]);
        assert_ne!(c.labels[0], c.labels[3]);
        assert!(c.objective > 5.8);
    }

    #[test]
    fn as_many_groups_as_rows_puts_each_row_alone() {
        let data = [1.0f32, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0, -1.0];
        let c = spherical_kmeans(&data, 2, 4, 1, 1);
        let mut seen = c.labels.clone();
        seen.sort();
        seen.dedup();
        assert_eq!(seen, vec![0, 1, 2, 3]);
        assert!((c.objective - 4.0).abs() < 1e-5);
    }

    #[test]
    fn duplicate_rows_do_not_break_it() {
        let data = [1.0f32, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0];
        let c = spherical_kmeans(&data, 2, 4, 1, 2);
        assert!(c.labels.iter().all(|&l| l < 4));
        assert_eq!(c.labels[0], c.labels[1]);
        assert_ne!(c.labels[0], c.labels[3]);
    }
}
