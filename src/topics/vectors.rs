//! Small numeric helpers over flat row-major vector buffers: dot products,
//! normalisation, input checks, and a row-parallel loop. Everything in the
//! topics engine that touches raw `f32` rows goes through here.

use std::borrow::Cow;

use crate::{Error, Result};

pub(crate) use crate::simd::dot;

/// Unit centres of groups of unit rows (width `dim`): `group_of(i)` names
/// row i's group in `0..groups`, or `None` for a row in no group. Returns
/// `groups × dim` values; an empty group's centre stays zero.
pub(crate) fn unit_centres<F: Fn(usize) -> Option<usize>>(
    data: &[f32],
    dim: usize,
    groups: usize,
    group_of: F,
) -> Vec<f32> {
    let mut centres = vec![0.0f32; groups * dim];
    for (i, row) in data.chunks_exact(dim).enumerate() {
        if let Some(g) = group_of(i) {
            for (c, x) in centres[g * dim..(g + 1) * dim].iter_mut().zip(row) {
                *c += x;
            }
        }
    }
    for c in centres.chunks_exact_mut(dim) {
        normalize(c);
    }
    centres
}

/// Scales `v` to unit length and returns its former norm (0 leaves it as is).
pub(crate) fn normalize(v: &mut [f32]) -> f32 {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x /= norm;
        }
    }
    norm
}

/// Checks a flat buffer of `dim`-wide rows and returns the number of rows.
/// `action` names what the caller is doing, for the empty-input error.
pub(crate) fn check_rows(vectors: &[f32], dim: usize, action: &'static str) -> Result<usize> {
    if dim == 0 {
        return Err(Error::InvalidVectors {
            problem: "the vector dimension is 0".into(),
            fix: "pass the embedding width (384 for all-MiniLM-L6-v2)".into(),
        });
    }
    if !vectors.len().is_multiple_of(dim) {
        return Err(Error::InvalidVectors {
            problem: format!(
                "{} values is not a whole number of {dim}-wide vectors",
                vectors.len()
            ),
            fix: "check that every vector has the same dimension".into(),
        });
    }
    let n = vectors.len() / dim;
    if n == 0 {
        return Err(Error::NoPapers { action });
    }
    if let Some(pos) = vectors.iter().position(|x| !x.is_finite()) {
        return Err(Error::InvalidVectors {
            problem: format!("vector {} holds a value that is not finite", pos / dim),
            fix: "re-embed that paper".into(),
        });
    }
    Ok(n)
}

/// How far a row's length may be from 1 for it to count as unit already.
const UNIT_TOLERANCE: f32 = 1e-4;

/// The rows at unit length, refusing all-zero rows: the rows themselves
/// when they are unit already (as a library's stored vectors are), else a
/// normalised copy.
pub(crate) fn unit_rows(vectors: &[f32], dim: usize) -> Result<Cow<'_, [f32]>> {
    let mut unit = true;
    for (i, row) in vectors.chunks_exact(dim).enumerate() {
        let sq = dot(row, row);
        if sq == 0.0 {
            return Err(zero_row(i));
        }
        unit &= (sq.sqrt() - 1.0).abs() <= UNIT_TOLERANCE;
    }
    if unit {
        return Ok(Cow::Borrowed(vectors));
    }
    let mut out = vectors.to_vec();
    for row in out.chunks_exact_mut(dim) {
        normalize(row);
    }
    Ok(Cow::Owned(out))
}

/// The error for an all-zero row `i`.
pub(crate) fn zero_row(i: usize) -> Error {
    Error::InvalidVectors {
        problem: format!("vector {i} is all zeros"),
        fix: "re-embed that paper".into(),
    }
}

/// Runs `f(row_index, out_row)` for every `width`-wide row of `out`, spread
/// over the available cores with at least `grain` rows per thread. Each row
/// is written by exactly one call, so the result does not depend on the
/// number of threads.
pub(crate) fn par_rows<T, F>(out: &mut [T], width: usize, grain: usize, f: F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync,
{
    if width == 0 || out.is_empty() {
        return;
    }
    let rows = out.len() / width;
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .min(rows.div_ceil(grain.max(1)))
        .max(1);
    if threads == 1 {
        for (i, row) in out.chunks_mut(width).enumerate() {
            f(i, row);
        }
        return;
    }
    let per = rows.div_ceil(threads);
    std::thread::scope(|s| {
        for (t, block) in out.chunks_mut(per * width).enumerate() {
            let f = &f;
            s.spawn(move || {
                for (j, row) in block.chunks_mut(width).enumerate() {
                    f(t * per + j, row);
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_shapes_and_values() {
        assert!(matches!(
            check_rows(&[1.0; 6], 0, "x"),
            Err(Error::InvalidVectors { .. })
        ));
        assert!(matches!(
            check_rows(&[1.0; 7], 3, "x"),
            Err(Error::InvalidVectors { .. })
        ));
        assert!(matches!(
            check_rows(&[], 3, "x"),
            Err(Error::NoPapers { .. })
        ));
        assert!(matches!(
            check_rows(&[1.0, f32::NAN, 0.0], 3, "x"),
            Err(Error::InvalidVectors { .. })
        ));
        assert!(matches!(
            unit_rows(&[1.0, 0.0, 0.0, 0.0], 2),
            Err(Error::InvalidVectors { .. })
        ));
        // Unit rows are used as they are; others are normalised in a copy.
        let unit = [0.6, 0.8, 1.0, 0.0];
        assert!(matches!(unit_rows(&unit, 2).unwrap(), Cow::Borrowed(_)));
        let scaled = unit_rows(&[3.0, 4.0, 0.0, 2.0], 2).unwrap();
        assert!(matches!(scaled, Cow::Owned(_)));
        assert_eq!(&scaled[..], &[0.6, 0.8, 0.0, 1.0]);
        assert_eq!(check_rows(&[1.0; 6], 3, "x").unwrap(), 2);
    }

    #[test]
    fn par_rows_fills_every_row_once() {
        let mut out = vec![0usize; 1000 * 3];
        par_rows(&mut out, 3, 7, |i, row| {
            for x in row.iter_mut() {
                *x += i;
            }
        });
        for (i, row) in out.chunks(3).enumerate() {
            assert_eq!(row, &[i, i, i]);
        }
    }
}
