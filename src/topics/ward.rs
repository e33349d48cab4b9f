//! Ward's agglomerative clustering of unit rows: start with every paper
//! alone and repeatedly merge the two groups whose union least increases
//! the total squared distance to the group centres. The merges form a tree
//! ([`Dendrogram`]) that can be cut into any number of groups, so one tree
//! serves every candidate number of topics.
//!
//! Built with the nearest-neighbour chain algorithm over a full distance
//! matrix (O(n²) time and memory), with Lance–Williams updates. For unit
//! vectors the squared Euclidean distance is 2 − 2·cos, so Ward's criterion
//! here groups by cosine like the rest of the topic code.

use super::vectors::{dot, par_rows};

/// The merge history of Ward's clustering, cheapest merge first.
#[derive(Debug, Clone)]
pub(crate) struct Dendrogram {
    rows: usize,
    /// `(a, b, cost)`: the groups holding rows `a` and `b` merge.
    merges: Vec<(usize, usize, f64)>,
}

impl Dendrogram {
    /// Builds the tree over unit rows of width `dim`. Deterministic: ties
    /// go to the lower row index.
    pub(crate) fn build(data: &[f32], dim: usize) -> Self {
        let n = data.len() / dim;
        let mut dist = squared_distances(data, dim, n);
        let mut size = vec![1.0f64; n];
        let mut active = vec![true; n];
        let mut merges = Vec::with_capacity(n.saturating_sub(1));
        let mut chain: Vec<usize> = Vec::with_capacity(n);
        let mut remaining = n;
        while remaining > 1 {
            if chain.is_empty() {
                chain.push(active.iter().position(|&a| a).expect("an active group"));
            }
            let a = *chain.last().expect("chain is not empty");
            let previous = chain.len().checked_sub(2).map(|i| chain[i]);
            // The nearest active group to `a`; the previous link wins ties so
            // that the chain always ends in a reciprocal pair.
            let row = &dist[a * n..(a + 1) * n];
            let mut best = previous.map(|p| (p, row[p]));
            for (j, &d) in row.iter().enumerate() {
                if j == a || !active[j] {
                    continue;
                }
                if best.is_none_or(|(_, bd)| d < bd) {
                    best = Some((j, d));
                }
            }
            let (b, cost) = best.expect("another active group exists");
            if Some(b) != previous {
                chain.push(b);
                continue;
            }
            chain.truncate(chain.len() - 2);
            let (keep, gone) = (a.min(b), a.max(b));
            merges.push((keep, gone, cost));
            let (nk, ng) = (size[keep], size[gone]);
            for j in 0..n {
                if !active[j] || j == keep || j == gone {
                    continue;
                }
                let nj = size[j];
                let merged = ((nk + nj) * dist[keep * n + j] + (ng + nj) * dist[gone * n + j]
                    - nj * cost)
                    / (nk + ng + nj);
                dist[keep * n + j] = merged;
                dist[j * n + keep] = merged;
            }
            size[keep] = nk + ng;
            active[gone] = false;
            remaining -= 1;
        }
        // Ward's merge costs never decrease along a branch, so sorting them
        // gives the order in which a greedy algorithm would have merged.
        merges.sort_by(|x, y| x.2.total_cmp(&y.2));
        Dendrogram { rows: n, merges }
    }

    /// Number of rows the tree was built over.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Cost of the merge that takes `k` groups to `k − 1` (`2..=rows`);
    /// 0 outside that range.
    pub(crate) fn merge_cost(&self, k: usize) -> f64 {
        if k < 2 || k > self.rows {
            return 0.0;
        }
        self.merges[self.rows - k].2
    }

    /// Cuts the tree into `k` groups (clamped to 1..=rows). Group numbers
    /// are `0..k`, in order of each group's first row.
    pub(crate) fn cut(&self, k: usize) -> Vec<usize> {
        let n = self.rows;
        let k = k.clamp(1, n.max(1));
        let mut parent: Vec<usize> = (0..n).collect();
        fn root(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        for &(a, b, _) in self.merges.iter().take(n.saturating_sub(k)) {
            let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
            parent[ra.max(rb)] = ra.min(rb);
        }
        let mut label_of_root = vec![usize::MAX; n];
        let mut next = 0;
        (0..n)
            .map(|i| {
                let r = root(&mut parent, i);
                if label_of_root[r] == usize::MAX {
                    label_of_root[r] = next;
                    next += 1;
                }
                label_of_root[r]
            })
            .collect()
    }
}

/// Squared Euclidean distances between unit rows (2 − 2·cos), row-major.
fn squared_distances(data: &[f32], dim: usize, n: usize) -> Vec<f64> {
    let mut dist = vec![0.0f64; n * n];
    par_rows(&mut dist, n, 16, |i, out| {
        let x = &data[i * dim..(i + 1) * dim];
        for (j, o) in out.iter_mut().enumerate() {
            *o = if i == j {
                0.0
            } else {
                (2.0 - 2.0 * dot(x, &data[j * dim..(j + 1) * dim]) as f64).max(0.0)
            };
        }
    });
    dist
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    /// Three tight pairs around three axes, plus one row between two axes.
    fn rows() -> Vec<f32> {
        [
            [1.0, 0.05, 0.0],
            [1.0, 0.0, 0.05],
            [0.05, 1.0, 0.0],
            [0.0, 1.0, 0.05],
            [0.0, 0.05, 1.0],
            [0.05, 0.0, 1.0],
            [0.6, 0.0, 0.8],
        ]
        .iter()
        .flat_map(|r| unit(r))
        .collect()
    }

    #[test]
    fn cuts_recover_nested_groups() {
        let tree = Dendrogram::build(&rows(), 3);
        assert_eq!(tree.rows(), 7);
        assert_eq!(tree.cut(7), vec![0, 1, 2, 3, 4, 5, 6]);
        assert_eq!(tree.cut(1), vec![0; 7]);
        let three = tree.cut(3);
        assert_eq!(three[0], three[1]);
        assert_eq!(three[2], three[3]);
        assert_eq!(three[4], three[5]);
        assert_eq!(three[6], three[4], "the between row joins the nearer axis");
        assert_ne!(three[0], three[2]);
        assert_ne!(three[2], three[4]);
        // Every finer cut refines the coarser one.
        for k in 1..7 {
            let (coarse, fine) = (tree.cut(k), tree.cut(k + 1));
            for i in 0..7 {
                for j in 0..7 {
                    if fine[i] == fine[j] {
                        assert_eq!(coarse[i], coarse[j], "k = {k}");
                    }
                }
            }
        }
    }

    #[test]
    fn merge_costs_never_decrease_and_match_ward() {
        let tree = Dendrogram::build(&rows(), 3);
        assert!(tree.merges.windows(2).all(|w| w[0].2 <= w[1].2));
        // The first merge joins the closest pair at the cost of their squared
        // distance (Ward's cost for two singletons, in Lance–Williams form).
        let data = rows();
        let d =
            |i: usize, j: usize| 2.0 - 2.0 * dot(&data[i * 3..i * 3 + 3], &data[j * 3..j * 3 + 3]);
        let (a, b, cost) = tree.merges[0];
        assert!((cost - d(a, b) as f64).abs() < 1e-6);
    }

    #[test]
    fn duplicates_and_single_rows_work() {
        let same = vec![1.0f32, 0.0, 1.0, 0.0, 1.0, 0.0];
        let tree = Dendrogram::build(&same, 2);
        assert_eq!(tree.cut(2).len(), 3);
        assert_eq!(Dendrogram::build(&[1.0, 0.0], 2).cut(1), vec![0]);
        assert_eq!(Dendrogram::build(&[], 2).cut(1), Vec::<usize>::new());
    }
}
