//! The adjusted Rand index: agreement between two partitions of the same
//! items, 1 for identical groupings (whatever the label names), about 0 for
//! unrelated ones. Used to score topics against a hand grouping.

use std::collections::HashMap;

/// Adjusted Rand index (Hubert and Arabie) of two labelings of the same
/// items. Returns 1.0 when both put all items in one group or each item in
/// its own group (the index is undefined there and the partitions agree),
/// and NaN when the slices differ in length.
pub fn adjusted_rand_index(a: &[usize], b: &[usize]) -> f64 {
    if a.len() != b.len() {
        return f64::NAN;
    }
    let n = a.len() as f64;
    let pairs = |c: f64| c * (c - 1.0) / 2.0;
    let mut joint: HashMap<(usize, usize), f64> = HashMap::new();
    let mut rows: HashMap<usize, f64> = HashMap::new();
    let mut cols: HashMap<usize, f64> = HashMap::new();
    for (&x, &y) in a.iter().zip(b) {
        *joint.entry((x, y)).or_default() += 1.0;
        *rows.entry(x).or_default() += 1.0;
        *cols.entry(y).or_default() += 1.0;
    }
    let index: f64 = joint.values().map(|&c| pairs(c)).sum();
    let sum_a: f64 = rows.values().map(|&c| pairs(c)).sum();
    let sum_b: f64 = cols.values().map(|&c| pairs(c)).sum();
    let total = pairs(n);
    if total == 0.0 {
        return 1.0;
    }
    let expected = sum_a * sum_b / total;
    let max = (sum_a + sum_b) / 2.0;
    if (max - expected).abs() < f64::EPSILON {
        return 1.0;
    }
    (index - expected) / (max - expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_partitions_score_one_whatever_the_names() {
        assert_eq!(adjusted_rand_index(&[0, 0, 1, 1, 2], &[5, 5, 3, 3, 9]), 1.0);
    }

    #[test]
    fn matches_a_worked_example() {
        // Reference value from the usual definition: 4/7.
        let v = adjusted_rand_index(&[0, 0, 1, 1], &[0, 0, 1, 2]);
        assert!((v - 4.0 / 7.0).abs() < 1e-12, "{v}");
        let w = adjusted_rand_index(&[0, 0, 0, 1, 1, 1], &[0, 1, 0, 1, 0, 1]);
        assert!(w < 0.0, "{w}");
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(adjusted_rand_index(&[], &[]), 1.0);
        assert_eq!(adjusted_rand_index(&[1, 1, 1], &[0, 0, 0]), 1.0);
        assert!(adjusted_rand_index(&[0, 1], &[0]).is_nan());
    }
}
