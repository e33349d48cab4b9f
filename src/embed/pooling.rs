//! Turning a batch of token vectors into one vector per text, the way
//! sentence-transformers' `Pooling` module does, and scaling to unit length.

use candle_core::{DType, Tensor};

use crate::Result;

/// How token vectors are combined into one text vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The first token (`[CLS]`).
    Cls,
    /// The mean over all non-padding tokens, special tokens included.
    Mean,
    /// The element-wise maximum over non-padding tokens.
    Max,
    /// The sum over non-padding tokens divided by the square root of their count.
    MeanSqrtLen,
    /// The last non-padding token.
    LastToken,
}

/// Pools `hidden` (batch, seq, dim) under `mask` (batch, seq; 1 for real
/// tokens, 0 for padding) into a (batch, dim) f32 tensor.
pub fn pool(hidden: &Tensor, mask: &Tensor, pooling: Pooling) -> Result<Tensor> {
    let hidden = hidden.to_dtype(DType::F32)?;
    let mask = mask.to_dtype(DType::F32)?;
    let counts = mask.sum_keepdim(1)?; // (batch, 1)
    let mask3 = mask.unsqueeze(2)?; // (batch, seq, 1)
    let pooled = match pooling {
        Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
        Pooling::Mean => hidden
            .broadcast_mul(&mask3)?
            .sum(1)?
            .broadcast_div(&counts.clamp(1e-9, f64::MAX)?)?,
        Pooling::MeanSqrtLen => hidden
            .broadcast_mul(&mask3)?
            .sum(1)?
            .broadcast_div(&counts.clamp(1e-9, f64::MAX)?.sqrt()?)?,
        Pooling::Max => {
            // Padding positions get a large negative value so they never win.
            let penalty = ((mask3.clone() - 1.0)? * 1e9)?;
            hidden.broadcast_add(&penalty)?.max(1)?
        }
        Pooling::LastToken => {
            let (batch, _seq, _dim) = hidden.dims3()?;
            let lengths = counts.squeeze(1)?.to_vec1::<f32>()?;
            let rows = (0..batch)
                .map(|b| {
                    let last = (lengths[b] as usize).saturating_sub(1);
                    hidden.get(b)?.get(last)
                })
                .collect::<candle_core::Result<Vec<_>>>()?;
            Tensor::stack(&rows, 0)?
        }
    };
    Ok(pooled)
}

/// Pools one text's token vectors (`rows`: tokens × `dim`, no padding) into
/// one vector, as [`pool`] does for a padded batch.
pub fn pool_rows(rows: &[f32], dim: usize, pooling: Pooling) -> Vec<f32> {
    let count = rows.len() / dim.max(1);
    if count == 0 {
        return vec![0.0; dim];
    }
    let tokens = rows.chunks_exact(dim);
    let sum = || {
        let mut s = vec![0.0f32; dim];
        for t in rows.chunks_exact(dim) {
            s.iter_mut().zip(t).for_each(|(a, b)| *a += b);
        }
        s
    };
    match pooling {
        Pooling::Cls => rows[..dim].to_vec(),
        Pooling::LastToken => rows[(count - 1) * dim..count * dim].to_vec(),
        Pooling::Mean => sum().into_iter().map(|x| x / count as f32).collect(),
        Pooling::MeanSqrtLen => {
            let root = (count as f32).sqrt();
            sum().into_iter().map(|x| x / root).collect()
        }
        Pooling::Max => tokens.fold(vec![f32::NEG_INFINITY; dim], |mut m, t| {
            m.iter_mut().zip(t).for_each(|(a, b)| *a = a.max(*b));
            m
        }),
    }
}

/// Scales each row to unit Euclidean length; an all-zero row stays zero.
pub fn normalize_rows(rows: &mut [Vec<f32>]) {
    for row in rows {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|x| *x /= norm);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn batch() -> (Tensor, Tensor) {
        // Two texts, three positions, two dims; the second text has one padding slot.
        let hidden = Tensor::new(
            &[
                [[1f32, 2.], [3., 4.], [5., 6.]],
                [[1., -1.], [3., 5.], [100., 100.]],
            ],
            &Device::Cpu,
        )
        .unwrap();
        let mask = Tensor::new(&[[1u32, 1, 1], [1, 1, 0]], &Device::Cpu).unwrap();
        (hidden, mask)
    }

    #[test]
    fn mean_ignores_padding() {
        let (h, m) = batch();
        let out = pool(&h, &m, Pooling::Mean)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(out, vec![vec![3., 4.], vec![2., 2.]]);
    }

    #[test]
    fn max_cls_and_last_ignore_padding() {
        let (h, m) = batch();
        let max = pool(&h, &m, Pooling::Max)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(max, vec![vec![5., 6.], vec![3., 5.]]);
        let cls = pool(&h, &m, Pooling::Cls)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(cls, vec![vec![1., 2.], vec![1., -1.]]);
        let last = pool(&h, &m, Pooling::LastToken)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(last, vec![vec![5., 6.], vec![3., 5.]]);
    }

    #[test]
    fn unpadded_rows_pool_like_the_padded_batch() {
        let (h, m) = batch();
        // The second text without its padding row.
        let rows = [[1f32, 2., 3., 4., 5., 6.].as_slice(), &[1., -1., 3., 5.]];
        for pooling in [
            Pooling::Cls,
            Pooling::Mean,
            Pooling::Max,
            Pooling::MeanSqrtLen,
            Pooling::LastToken,
        ] {
            let padded = pool(&h, &m, pooling).unwrap().to_vec2::<f32>().unwrap();
            for (text, expected) in rows.iter().zip(&padded) {
                let got = pool_rows(text, 2, pooling);
                for (a, b) in got.iter().zip(expected) {
                    assert!((a - b).abs() < 1e-6, "{pooling:?}: {got:?} vs {expected:?}");
                }
            }
        }
        assert_eq!(pool_rows(&[], 2, Pooling::Mean), vec![0.0, 0.0]);
    }

    #[test]
    fn normalises_to_unit_length() {
        let mut rows = vec![vec![3.0f32, 4.0], vec![0.0, 0.0]];
        normalize_rows(&mut rows);
        assert_eq!(rows, vec![vec![0.6, 0.8], vec![0.0, 0.0]]);
    }
}
