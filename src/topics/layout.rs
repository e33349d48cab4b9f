//! The 2-D map layout: a force layout on the k-nearest-neighbour graph in
//! the manner of UMAP, started from the PCA projection, so that papers that
//! are neighbours in embedding space stay near each other on the map while
//! the PCA start keeps the global arrangement.
//!
//! Steps: (1) neighbours — exact, by cosine, in the full space up to
//! [`EXACT_LIMIT`] papers, beyond that in the 32 leading PCA dimensions;
//! (2) edge weights — UMAP's smooth neighbour weights, made symmetric;
//! (3) start — the first two PCA coordinates; (4) stochastic gradient
//! descent that pulls edges together and pushes random pairs apart, with the
//! Cauchy kernel 1 / (1 + d²); (5) the result is turned so that its widest
//! spread runs left to right, to suit a landscape page. Single-threaded and
//! seeded, so deterministic.
//!
//! [`layout_topic_map`] lays out papers already grouped into topics: each
//! vector is first pulled halfway towards its topic's centre, so that a
//! topic's papers gather into one visible patch while neighbouring topics
//! stay neighbours. From [`SAMPLED_FROM`] papers on, the force layout runs
//! on a seeded sample of [`LAYOUT_SAMPLE`] papers, and every other paper is
//! placed among its nearest sampled papers of the same subtopic, or topic
//! when subtopics are not given or too few of it were sampled (nearest in
//! the sample's 32 leading PCA dimensions, positions averaged with weights
//! 1/distance²): the work then grows linearly with the library, and the
//! map at that size is a density view, where one paper's exact spot does
//! not show.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::pca::{self, Pca};
use super::vectors::{check_rows, dot, normalize, par_rows, unit_centres, unit_rows, zero_row};
use crate::Result;

/// Above this many papers, neighbours are searched in the PCA space.
pub const EXACT_LIMIT: usize = 3000;
/// Dimensions kept for the neighbour search on large inputs.
const REDUCED_DIM: usize = 32;
/// Neighbours per paper in the graph.
const NEIGHBOURS: usize = 15;
/// Repulsive samples per attractive update.
const NEGATIVE_SAMPLES: usize = 5;
/// From this many papers on, a topic map is laid out on a sample.
pub const SAMPLED_FROM: usize = 20_000;
/// Papers in that sample.
pub const LAYOUT_SAMPLE: usize = 10_000;
/// Sampled neighbours whose positions place each other paper.
const PLACING_NEIGHBOURS: usize = 5;

/// Places unit vectors (rows of width `dim`, one per paper) on a plane.
/// Returns one `[x, y]` per row, centred near the origin. Deterministic for
/// a given input and seed.
pub fn layout_2d(vectors: &[f32], dim: usize, seed: u64) -> Result<Vec<[f32; 2]>> {
    let n = check_rows(vectors, dim, "lay out on a map")?;
    let data = unit_rows(vectors, dim)?;
    if n == 1 {
        return Ok(vec![[0.0, 0.0]]);
    }
    let reduced_dim = REDUCED_DIM.min(dim);
    let reduced = pca::project(&data, dim, reduced_dim.max(2), seed);
    let r = reduced.len() / n;
    let k = NEIGHBOURS.min(n - 1);
    let knn = if n <= EXACT_LIMIT {
        neighbours(n, k, |i, j| {
            let c = dot(&data[i * dim..(i + 1) * dim], &data[j * dim..(j + 1) * dim]);
            (2.0 - 2.0 * c).max(0.0).sqrt()
        })
    } else {
        let sq: Vec<f32> = reduced.chunks_exact(r).map(|a| dot(a, a)).collect();
        neighbours(n, k, |i, j| {
            let ab = dot(&reduced[i * r..(i + 1) * r], &reduced[j * r..(j + 1) * r]);
            (sq[i] + sq[j] - 2.0 * ab).max(0.0).sqrt()
        })
    };
    let edges = fuzzy_edges(n, k, &knn);
    let mut points = start(&reduced, r, seed);
    optimise(&mut points, &edges, seed);
    turn_landscape(&mut points);
    Ok(points)
}

/// How far each vector moves towards its topic's centre before the layout
/// of a topic map (0: not at all, 1: onto the centre).
const TOPIC_PULL: f32 = 0.5;

/// Places papers grouped into topics on a plane: like [`layout_2d`], after
/// moving each vector `TOPIC_PULL` of the way towards the unit centre of
/// its topic (`topics[i]`, `None` for papers in no topic). `subtopics`, when
/// given, numbers each paper's finer group (any numbering, `None` for none):
/// on a large library a paper is then placed among the sampled papers of
/// its subtopic, which is faster and keeps subtopics apart.
pub fn layout_topic_map(
    vectors: &[f32],
    dim: usize,
    topics: &[Option<usize>],
    subtopics: Option<&[Option<usize>]>,
    seed: u64,
) -> Result<Vec<[f32; 2]>> {
    let n = check_rows(vectors, dim, "lay out on a map")?;
    for (field, len) in [
        ("topics", topics.len()),
        ("subtopics", subtopics.map_or(n, <[_]>::len)),
    ] {
        if len != n {
            return Err(crate::Error::LengthMismatch {
                field,
                expected: n,
                received: len,
            });
        }
    }
    let groups = topics.iter().flatten().max().map_or(0, |m| m + 1);
    if n >= SAMPLED_FROM {
        return sampled_topic_map(vectors, dim, topics, subtopics, groups, seed);
    }
    let mut data = unit_rows(vectors, dim)?.into_owned();
    let centres = unit_centres(&data, dim, groups, |i| topics[i]);
    for (row, t) in data.chunks_exact_mut(dim).zip(topics) {
        if let Some(t) = t {
            pull_towards(row, &centres[t * dim..(t + 1) * dim]);
        }
    }
    layout_2d(&data, dim, seed)
}

/// Moves a unit row [`TOPIC_PULL`] of the way towards a unit centre and
/// makes it unit again.
fn pull_towards(row: &mut [f32], centre: &[f32]) {
    for (x, c) in row.iter_mut().zip(centre) {
        *x += TOPIC_PULL * (c - *x);
    }
    normalize(row);
}

/// [`layout_topic_map`] for a large library: the force layout on a seeded
/// sample, every other paper placed among its nearest sampled papers of its
/// topic. Never copies the whole set of vectors.
fn sampled_topic_map(
    vectors: &[f32],
    dim: usize,
    topics: &[Option<usize>],
    subtopics: Option<&[Option<usize>]>,
    groups: usize,
    seed: u64,
) -> Result<Vec<[f32; 2]>> {
    let n = topics.len();
    if let Some(i) = vectors
        .chunks_exact(dim)
        .position(|row| dot(row, row) == 0.0)
    {
        return Err(zero_row(i));
    }
    // Unit centres of the unit rows of each topic.
    let mut centres = vec![0.0f32; groups * dim];
    for (row, t) in vectors.chunks_exact(dim).zip(topics) {
        if let Some(t) = t {
            let scale = 1.0 / dot(row, row).sqrt();
            for (c, x) in centres[t * dim..(t + 1) * dim].iter_mut().zip(row) {
                *c += x * scale;
            }
        }
    }
    centres.chunks_exact_mut(dim).for_each(|c| {
        normalize(c);
    });
    let pulled = |i: usize, out: &mut [f32]| {
        out.copy_from_slice(&vectors[i * dim..(i + 1) * dim]);
        normalize(out);
        if let Some(t) = topics[i] {
            pull_towards(out, &centres[t * dim..(t + 1) * dim]);
        }
    };

    let mut rng = StdRng::seed_from_u64(seed ^ 0x5A_3B1E);
    let mut chosen = rand::seq::index::sample(&mut rng, n, LAYOUT_SAMPLE.min(n)).into_vec();
    chosen.sort_unstable();
    let mut sample = vec![0.0f32; chosen.len() * dim];
    for (&i, out) in chosen.iter().zip(sample.chunks_exact_mut(dim)) {
        pulled(i, out);
    }
    let sample_points = layout_2d(&sample, dim, seed)?;
    let pca = Pca::fit(&sample, dim, REDUCED_DIM.min(dim).max(2), seed);
    let r = pca.width();
    let sample_coords = pca.coordinates(&sample);
    // The sampled papers of each subtopic and of each topic, their
    // coordinates side by side; a paper looks among those of its subtopic
    // when the sample holds enough of them, else of its topic, else among
    // all.
    let subtopic = |i: usize| subtopics.and_then(|s| s[i]);
    let fine_groups = subtopics.map_or(0, |s| s.iter().flatten().max().map_or(0, |m| m + 1));
    let mut by_subtopic: Vec<SampledGroup> =
        (0..fine_groups).map(|_| SampledGroup::default()).collect();
    let mut by_topic: Vec<SampledGroup> = (0..groups).map(|_| SampledGroup::default()).collect();
    let mut everyone = SampledGroup::default();
    let mut sampled_as = vec![u32::MAX; n];
    for (s, &i) in chosen.iter().enumerate() {
        let c = &sample_coords[s * r..(s + 1) * r];
        everyone.push(s as u32, c);
        if let Some(t) = topics[i] {
            by_topic[t].push(s as u32, c);
        }
        if let Some(f) = subtopic(i) {
            by_subtopic[f].push(s as u32, c);
        }
        sampled_as[i] = s as u32;
    }
    let candidates = |i: usize| -> &SampledGroup {
        let enough = |g: &SampledGroup| g.ids.len() >= PLACING_NEIGHBOURS;
        match (subtopic(i), topics[i]) {
            (Some(f), _) if enough(&by_subtopic[f]) => &by_subtopic[f],
            (_, Some(t)) if !by_topic[t].ids.is_empty() => &by_topic[t],
            _ => &everyone,
        }
    };

    let mut points = vec![[0.0f32; 2]; n];
    par_rows(&mut points, 1, 1024, |i, out| {
        if sampled_as[i] != u32::MAX {
            out[0] = sample_points[sampled_as[i] as usize];
            return;
        }
        let mut row = vec![0.0f32; dim];
        pulled(i, &mut row);
        let mut coords = vec![0.0f32; r];
        pca.row_coordinates(&row, &mut coords);
        let group = candidates(i);
        // The nearest few, by squared distance, kept sorted.
        let mut best: Vec<(f32, u32)> = Vec::with_capacity(PLACING_NEIGHBOURS + 1);
        for (&s, c) in group.ids.iter().zip(group.coords.chunks_exact(r)) {
            let d2 = squared_distance(&coords, c);
            if best.len() == PLACING_NEIGHBOURS && d2 >= best[PLACING_NEIGHBOURS - 1].0 {
                continue;
            }
            let at = best.partition_point(|b| b.0 <= d2);
            best.insert(at, (d2, s));
            best.truncate(PLACING_NEIGHBOURS);
        }
        let (mut x, mut y, mut total) = (0.0f32, 0.0f32, 0.0f32);
        for &(d2, s) in &best {
            let w = 1.0 / (d2 + 1e-6);
            let p = sample_points[s as usize];
            x += w * p[0];
            y += w * p[1];
            total += w;
        }
        out[0] = [x / total, y / total];
    });
    Ok(points)
}

/// Sampled papers that may place a paper: their sample numbers and PCA
/// coordinates, one after another.
#[derive(Default)]
struct SampledGroup {
    ids: Vec<u32>,
    coords: Vec<f32>,
}

impl SampledGroup {
    fn push(&mut self, id: u32, coords: &[f32]) {
        self.ids.push(id);
        self.coords.extend_from_slice(coords);
    }
}

#[inline]
/// Σ (a − b)², in eight independent sums so that the compiler vectorises it
/// on every level (the rows are short: a call to the dispatched dot product
/// would cost more than the arithmetic).
fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            let d = x[l] - y[l];
            acc[l] += d * d;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Rotates centred points so that their direction of largest spread is
/// the x axis, and mirrors them so that the result does not depend on the
/// sign conventions of that computation.
fn turn_landscape(points: &mut [[f32; 2]]) {
    let n = points.len().max(1) as f64;
    let (mut sxx, mut syy, mut sxy) = (0.0f64, 0.0f64, 0.0f64);
    for p in points.iter() {
        let (x, y) = (p[0] as f64, p[1] as f64);
        sxx += x * x / n;
        syy += y * y / n;
        sxy += x * y / n;
    }
    // Angle of the principal axis of the 2×2 covariance.
    let angle = 0.5 * (2.0 * sxy).atan2(sxx - syy);
    let (sin, cos) = (angle.sin() as f32, angle.cos() as f32);
    let mut skew = [0.0f32; 2];
    for p in points.iter_mut() {
        let (x, y) = (p[0], p[1]);
        p[0] = x * cos + y * sin;
        p[1] = -x * sin + y * cos;
        skew[0] += p[0] * p[0] * p[0];
        skew[1] += p[1] * p[1] * p[1];
    }
    // Heavier tail to the right and to the top.
    for (d, s) in skew.iter().enumerate() {
        if *s < 0.0 {
            points.iter_mut().for_each(|p| p[d] = -p[d]);
        }
    }
}

/// The `k` nearest rows of every row as (row, distance), nearest first.
fn neighbours<D: Fn(usize, usize) -> f32 + Sync>(n: usize, k: usize, dist: D) -> Vec<(u32, f32)> {
    let mut out = vec![(0u32, 0.0f32); n * k];
    par_rows(&mut out, k, 16, |i, row| {
        let mut all: Vec<(f32, u32)> = (0..n)
            .filter(|&j| j != i)
            .map(|j| (dist(i, j), j as u32))
            .collect();
        let cmp = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        if all.len() > k {
            all.select_nth_unstable_by(k - 1, cmp);
            all.truncate(k);
        }
        all.sort_by(cmp);
        for (slot, (d, j)) in row.iter_mut().zip(all) {
            *slot = (j, d);
        }
    });
    out
}

/// Directed edges (from, to, weight) of the symmetric neighbour graph with
/// UMAP's weights: exp(−(d − ρ)/σ), ρ the distance to the nearest neighbour
/// and σ set so that a row's weights sum to log2(k); then a ∪ b = a + b − ab.
fn fuzzy_edges(n: usize, k: usize, knn: &[(u32, f32)]) -> Vec<(u32, u32, f32)> {
    let target = (k as f32).log2().max(1.0);
    let mut directed: Vec<(u32, u32, f32)> = Vec::with_capacity(n * k);
    for i in 0..n {
        let row = &knn[i * k..(i + 1) * k];
        let rho = row.first().map(|x| x.1).unwrap_or(0.0);
        let total = |sigma: f32| -> f32 {
            row.iter()
                .map(|&(_, d)| (-((d - rho).max(0.0)) / sigma).exp())
                .sum()
        };
        let (mut lo, mut hi) = (1e-6f32, 1e3f32);
        for _ in 0..64 {
            let mid = (lo * hi).sqrt();
            if total(mid) > target {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        let sigma = (lo * hi).sqrt();
        for &(j, d) in row {
            let w = (-((d - rho).max(0.0)) / sigma).exp();
            let (a, b) = if (i as u32) < j {
                (i as u32, j)
            } else {
                (j, i as u32)
            };
            directed.push((a, b, w));
        }
    }
    directed.sort_by_key(|x| (x.0, x.1));
    let mut edges = Vec::with_capacity(directed.len() * 2);
    let mut idx = 0;
    while idx < directed.len() {
        let (a, b, w) = directed[idx];
        let mut weight = w;
        if idx + 1 < directed.len() && (directed[idx + 1].0, directed[idx + 1].1) == (a, b) {
            let w2 = directed[idx + 1].2;
            weight = w + w2 - w * w2;
            idx += 1;
        }
        idx += 1;
        if weight > 1e-6 {
            edges.push((a, b, weight));
            edges.push((b, a, weight));
        }
    }
    edges
}

/// Starting positions: the first two PCA coordinates scaled to ±10, with a
/// little seeded jitter so that identical papers do not start on one spot.
fn start(reduced: &[f32], r: usize, seed: u64) -> Vec<[f32; 2]> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x1A_7007);
    let raw: Vec<[f32; 2]> = reduced
        .chunks_exact(r)
        .map(|c| [c[0], if r > 1 { c[1] } else { 0.0 }])
        .collect();
    let scale = raw
        .iter()
        .flat_map(|p| p.iter().map(|v| v.abs()))
        .fold(0.0f32, f32::max);
    let factor = if scale > 0.0 { 10.0 / scale } else { 1.0 };
    raw.iter()
        .map(|p| {
            [
                p[0] * factor + (rng.random::<f32>() - 0.5) * 1e-3,
                p[1] * factor + (rng.random::<f32>() - 0.5) * 1e-3,
            ]
        })
        .collect()
}

/// UMAP-style stochastic gradient descent with the Cauchy kernel.
fn optimise(points: &mut [[f32; 2]], edges: &[(u32, u32, f32)], seed: u64) {
    let n = points.len();
    let epochs = if n <= 2000 { 500 } else { 200 };
    let max_w = edges.iter().map(|e| e.2).fold(0.0f32, f32::max);
    if max_w <= 0.0 {
        return;
    }
    let every: Vec<f32> = edges.iter().map(|e| max_w / e.2).collect();
    let mut next = every.clone();
    let mut rng = StdRng::seed_from_u64(seed ^ 0x0005_6D0F_F5E7);
    let clip = |g: f32| g.clamp(-4.0, 4.0);
    for epoch in 0..epochs {
        let rate = 1.0 - epoch as f32 / epochs as f32;
        let now = epoch as f32;
        for (e, &(a, b, _)) in edges.iter().enumerate() {
            if next[e] > now + 1.0 {
                continue;
            }
            next[e] += every[e];
            let (a, b) = (a as usize, b as usize);
            let dx = points[a][0] - points[b][0];
            let dy = points[a][1] - points[b][1];
            let d2 = dx * dx + dy * dy;
            let g = -2.0 / (1.0 + d2);
            let (gx, gy) = (clip(g * dx) * rate, clip(g * dy) * rate);
            points[a][0] += gx;
            points[a][1] += gy;
            points[b][0] -= gx;
            points[b][1] -= gy;
            for _ in 0..NEGATIVE_SAMPLES {
                let c = rng.random_range(0..n);
                if c == a {
                    continue;
                }
                let dx = points[a][0] - points[c][0];
                let dy = points[a][1] - points[c][1];
                let d2 = dx * dx + dy * dy;
                let g = 2.0 / ((0.001 + d2) * (1.0 + d2));
                let (gx, gy) = if d2 > 0.0 {
                    (clip(g * dx), clip(g * dy))
                } else {
                    (4.0, 4.0)
                };
                points[a][0] += gx * rate;
                points[a][1] += gy * rate;
            }
        }
    }
    let (mut cx, mut cy) = (0.0f32, 0.0f32);
    for p in points.iter() {
        cx += p[0];
        cy += p[1];
    }
    let (cx, cy) = (cx / n as f32, cy / n as f32);
    for p in points.iter_mut() {
        p[0] -= cx;
        p[1] -= cy;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landscape_turn_puts_the_long_axis_across() {
        // A thin diagonal cloud running from bottom left to top right.
        let mut points: Vec<[f32; 2]> = (0..50)
            .map(|i| {
                let t = i as f32 - 24.5;
                [t + (i % 3) as f32 * 0.3, t - (i % 2) as f32 * 0.3]
            })
            .collect();
        turn_landscape(&mut points);
        let spread = |d: usize| points.iter().map(|p| p[d] * p[d]).sum::<f32>();
        assert!(
            spread(0) > 20.0 * spread(1),
            "{} vs {}",
            spread(0),
            spread(1)
        );
    }

    #[test]
    fn edges_are_symmetric_with_weights_in_unit_range() {
        let knn = vec![(1u32, 0.1f32), (0, 0.1), (1, 0.5)];
        let edges = fuzzy_edges(3, 1, &knn);
        for &(a, b, w) in &edges {
            assert!(w > 0.0 && w <= 1.0);
            assert!(edges.contains(&(b, a, w)));
        }
        // 0–1 listed by both ends counts once (as two directions).
        assert_eq!(edges.iter().filter(|e| (e.0, e.1) == (0, 1)).count(), 1);
    }

    #[test]
    fn single_and_pair_inputs_lay_out() {
        assert_eq!(layout_2d(&[1.0, 0.0], 2, 1).unwrap(), vec![[0.0, 0.0]]);
        let two = layout_2d(&[1.0, 0.0, 0.0, 1.0], 2, 1).unwrap();
        assert_eq!(two.len(), 2);
        assert!(two.iter().all(|p| p[0].is_finite() && p[1].is_finite()));
    }
}
