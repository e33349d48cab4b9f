//! Principal component analysis by subspace (block power) iteration: the
//! few leading directions of variance of a set of rows, and the rows'
//! coordinates along them. Used to seed the map layout and to shrink vectors
//! before the neighbour search on large libraries.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::vectors::{dot, normalize, par_rows};

/// Block power iterations; the block is wider than needed, so a few suffice.
const ITERATIONS: usize = 8;

/// Coordinates (n × `r`, row-major) of the centred rows along their `r`
/// leading principal directions, in order of decreasing variance.
pub(crate) fn project(data: &[f32], dim: usize, r: usize, seed: u64) -> Vec<f32> {
    Pca::fit(data, dim, r, seed).coordinates(data)
}

/// The leading principal directions of a set of rows, to give other rows
/// coordinates along the same directions.
pub(crate) struct Pca {
    dim: usize,
    /// `r` orthonormal rows of width `dim`.
    basis: Vec<f32>,
    /// mean · basis_j, subtracted from each coordinate.
    shift: Vec<f32>,
}

impl Pca {
    /// Finds the `r` leading directions of the rows of `data` (width `dim`).
    pub(crate) fn fit(data: &[f32], dim: usize, r: usize, seed: u64) -> Pca {
        let n = data.len() / dim;
        let r = r.clamp(1, dim);
        let mut mean = vec![0.0f32; dim];
        for row in data.chunks_exact(dim) {
            for (m, x) in mean.iter_mut().zip(row) {
                *m += x;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n.max(1) as f32);

        let mut rng = StdRng::seed_from_u64(seed ^ 0x0DD_BA11);
        let mut basis: Vec<f32> = (0..r * dim).map(|_| rng.random::<f32>() - 0.5).collect();
        orthonormalise(&mut basis, dim);
        let mut coords = vec![0.0f32; n * r];
        for _ in 0..ITERATIONS {
            Pca::with_basis(dim, &mean, basis.clone()).fill(data, &mut coords);
            // basis_j = Σ_i coords_ij (x_i − mean)
            let coords_ref = &coords;
            par_rows(&mut basis, dim, 1, |j, out| {
                out.iter_mut().for_each(|o| *o = 0.0);
                let mut weight = 0.0f32;
                for (i, row) in data.chunks_exact(dim).enumerate() {
                    let c = coords_ref[i * r + j];
                    weight += c;
                    for (o, x) in out.iter_mut().zip(row) {
                        *o += c * x;
                    }
                }
                for (o, m) in out.iter_mut().zip(&mean) {
                    *o -= weight * m;
                }
            });
            orthonormalise(&mut basis, dim);
        }
        Pca::with_basis(dim, &mean, basis)
    }

    fn with_basis(dim: usize, mean: &[f32], basis: Vec<f32>) -> Pca {
        let shift = basis.chunks_exact(dim).map(|b| dot(mean, b)).collect();
        Pca { dim, basis, shift }
    }

    /// Number of directions.
    pub(crate) fn width(&self) -> usize {
        self.shift.len()
    }

    /// Coordinates (rows × [`width`](Pca::width)) of the rows of `data`.
    pub(crate) fn coordinates(&self, data: &[f32]) -> Vec<f32> {
        let mut coords = vec![0.0f32; data.len() / self.dim * self.width()];
        self.fill(data, &mut coords);
        coords
    }

    /// coords_ij = (x_i − mean) · basis_j
    fn fill(&self, data: &[f32], coords: &mut [f32]) {
        par_rows(coords, self.width(), 256, |i, out| {
            self.row_coordinates(&data[i * self.dim..(i + 1) * self.dim], out);
        });
    }

    /// The coordinates of one row into `out` ([`width`](Pca::width) long).
    pub(crate) fn row_coordinates(&self, row: &[f32], out: &mut [f32]) {
        for ((o, b), s) in out
            .iter_mut()
            .zip(self.basis.chunks_exact(self.dim))
            .zip(&self.shift)
        {
            *o = dot(row, b) - s;
        }
    }
}

/// Modified Gram–Schmidt over the rows of `basis`; a row that vanishes is
/// replaced by a unit axis so the block keeps its rank.
fn orthonormalise(basis: &mut [f32], dim: usize) {
    let r = basis.len() / dim;
    for j in 0..r {
        let (done, rest) = basis.split_at_mut(j * dim);
        let row = &mut rest[..dim];
        for prev in done.chunks_exact(dim) {
            let p = dot(row, prev);
            for (x, q) in row.iter_mut().zip(prev) {
                *x -= p * q;
            }
        }
        if normalize(row) < 1e-12 {
            row.iter_mut().for_each(|x| *x = 0.0);
            row[j % dim] = 1.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_direction_of_largest_spread() {
        // Points spread widely along (1, 1, 0)/√2 and a little along z.
        let mut data = Vec::new();
        for i in 0..50 {
            let t = i as f32 - 25.0;
            let z = if i % 2 == 0 { 0.5 } else { -0.5 };
            data.extend_from_slice(&[t, t, z]);
        }
        let coords = project(&data, 3, 2, 3);
        // The first coordinate carries the spread: |c0| = |t − mean|·√2.
        let c0: Vec<f32> = coords.chunks(2).map(|c| c[0].abs()).collect();
        assert!((c0[0] - 24.5 * 2f32.sqrt()).abs() < 0.1, "{}", c0[0]);
        let c1: Vec<f32> = coords.chunks(2).map(|c| c[1].abs()).collect();
        assert!(c1.iter().all(|v| (v - 0.5).abs() < 0.05), "{c1:?}");
    }
}
