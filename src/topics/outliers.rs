//! Outliers: papers far from every topic, reported apart instead of being
//! forced into the nearest one.
//!
//! A paper's fit is its cosine to the centre of the *other* members of its
//! group (leave-one-out, so small groups do not flatter their members). A
//! paper is an outlier when its fit is below Tukey's lower fence over all
//! papers' fits (first quartile − 1.5 × interquartile range) and at least
//! 0.15 below the median fit, or when it is alone in its group. Since
//! k-means puts every paper in its nearest group, a low fit there means it
//! is far from every topic.

use super::vectors::dot;

/// An outlier's fit is also at least this far below the median fit, so that
/// a tight group does not lose members over tiny differences.
const MIN_GAP: f32 = 0.15;

/// Which rows are outliers, and the fence that decided it.
#[derive(Debug, Clone)]
pub(crate) struct OutlierSplit {
    pub outlier: Vec<bool>,
    /// Leave-one-out fits below this are outliers.
    pub fence: f32,
}

/// Finds outliers among unit rows of width `dim` grouped by `labels` (0..k).
pub(crate) fn find_outliers(data: &[f32], dim: usize, labels: &[usize], k: usize) -> OutlierSplit {
    let mut sums = vec![0.0f32; k * dim];
    let mut sizes = vec![0usize; k];
    for (i, &l) in labels.iter().enumerate() {
        sizes[l] += 1;
        for (s, x) in sums[l * dim..(l + 1) * dim]
            .iter_mut()
            .zip(&data[i * dim..(i + 1) * dim])
        {
            *s += x;
        }
    }
    let sq: Vec<f32> = sums.chunks_exact(dim).map(|s| dot(s, s)).collect();
    let fit: Vec<f32> = labels
        .iter()
        .enumerate()
        .map(|(i, &l)| {
            if sizes[l] < 2 {
                return f32::NAN;
            }
            let x = &data[i * dim..(i + 1) * dim];
            let xs = dot(x, &sums[l * dim..(l + 1) * dim]);
            let rest = (sq[l] - 2.0 * xs + 1.0).max(0.0).sqrt();
            if rest < 1e-6 {
                // The other members coincide with the paper's opposite: no fit.
                f32::NAN
            } else {
                ((xs - 1.0) / rest).clamp(-1.0, 1.0)
            }
        })
        .collect();
    let mut known: Vec<f32> = fit.iter().copied().filter(|f| f.is_finite()).collect();
    known.sort_by(f32::total_cmp);
    let fence = if known.len() >= 4 {
        let q1 = quantile(&known, 0.25);
        let q3 = quantile(&known, 0.75);
        (q1 - 1.5 * (q3 - q1)).min(quantile(&known, 0.5) - MIN_GAP)
    } else {
        f32::NEG_INFINITY
    };
    let outlier = fit.iter().map(|f| !f.is_finite() || *f < fence).collect();
    OutlierSplit { outlier, fence }
}

/// Linear-interpolated quantile of sorted values (`q` in 0..=1).
fn quantile(sorted: &[f32], q: f32) -> f32 {
    let pos = q * (sorted.len() - 1) as f32;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topics::vectors::normalize;

    #[test]
    fn a_far_member_and_a_singleton_are_outliers() {
        // Group 0: six rows close to x plus one pointing mostly along z.
        // Group 1: a single row.
        let mut rows: Vec<Vec<f32>> = (0..6)
            .map(|i| vec![1.0, 0.05 * i as f32, 0.02 * (i % 3) as f32])
            .collect();
        rows.push(vec![0.3, 0.0, 1.0]);
        rows.push(vec![0.0, 1.0, 0.0]);
        let mut data: Vec<f32> = rows.concat();
        for r in data.chunks_exact_mut(3) {
            normalize(r);
        }
        let labels = [0, 0, 0, 0, 0, 0, 0, 1];
        let split = find_outliers(&data, 3, &labels, 2);
        assert_eq!(
            split.outlier,
            vec![false, false, false, false, false, false, true, true]
        );
        assert!(split.fence.is_finite());
    }

    #[test]
    fn quantiles_interpolate() {
        assert_eq!(quantile(&[0.0, 1.0, 2.0, 3.0, 4.0], 0.25), 1.0);
        assert_eq!(quantile(&[0.0, 1.0], 0.5), 0.5);
    }
}
