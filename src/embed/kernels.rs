//! Fast CPU kernels for the element-wise steps of the packed BERT forward
//! pass (`packed`): the exact (erf) GELU with the layer's bias added in the
//! same pass, the row softmax of attention scores, and layer norm. Each is
//! written as a branch-free loop that the compiler vectorises (AVX-512 or
//! AVX2 when the CPU has them, chosen at run time); the row-wise ones are
//! split across threads with rayon.
//!
//! Accuracy: the erf approximation is a rational minimax fit on [-4, 4]
//! (outside it erf is ±1 in f32) with an absolute error below 1e-6, and the
//! exponential has a relative error of a few units in the last place, so
//! both agree with libm to well within what embedding parity needs (checked
//! by the unit tests here and the parity tests against the reference).

use rayon::prelude::*;

use crate::simd::simd_dispatch;

/// Elements per parallel work item.
const CHUNK: usize = 16 * 1024;

// ---------- erf and GELU ----------

/// erf(x), rational approximation p(x)/q(x) on [-4, 4] (odd numerator of
/// degree 13, even denominator of degree 8).
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2.mul_add(-2.726_142_3e-10, 2.770_681_4e-8);
    p = x2.mul_add(p, -2.101_024e-6);
    p = x2.mul_add(p, -5.692_506_4e-5);
    p = x2.mul_add(p, -7.349_906_3e-4);
    p = x2.mul_add(p, -2.954_6e-3);
    p = x2.mul_add(p, -1.609_603_3e-2);
    p *= x;
    let mut q = x2.mul_add(-1.456_607_2e-5, -2.133_740_6e-4);
    q = x2.mul_add(q, -1.682_827e-3);
    q = x2.mul_add(q, -7.373_329_4e-3);
    q = x2.mul_add(q, -1.426_474e-2);
    p / q
}

#[inline(always)]
fn bias_gelu_slice(values: &mut [f32], bias: &[f32]) {
    for row in values.chunks_exact_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            let x = *v + b;
            *v = 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

simd_dispatch!(fn bias_gelu_dispatch(values: &mut [f32], bias: &[f32]) => bias_gelu_slice);

/// `gelu_erf(v + bias)` in place for every row of `values` (rows of
/// `bias.len()`), spread over threads.
pub fn bias_gelu_rows(values: &mut [f32], bias: &[f32]) {
    let width = bias.len().max(1);
    let rows_per_chunk = (CHUNK / width).max(1);
    values
        .par_chunks_mut(rows_per_chunk * width)
        .for_each(|chunk| bias_gelu_dispatch(chunk, bias));
}

// ---------- exp and softmax ----------

/// e^x for x <= 0 (softmax inputs after the row maximum is subtracted);
/// inputs below -87 give about 1e-38 instead of 0, which is immaterial here.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // 1.5 * 2^23: adding it rounds to the nearest integer in the low bits.
    const ROUNDER: f32 = 12_582_912.0;
    let x = x.max(-87.0);
    let t = x.mul_add(LOG2E, ROUNDER);
    let n = t - ROUNDER;
    let r = n.mul_add(-LN2_LO, n.mul_add(-LN2_HI, x));
    // e^r on |r| <= ln2/2, Taylor to degree 6 (error below 2e-7 relative).
    let mut p = r.mul_add(1.0 / 720.0, 1.0 / 120.0);
    p = r.mul_add(p, 1.0 / 24.0);
    p = r.mul_add(p, 1.0 / 6.0);
    p = r.mul_add(p, 0.5);
    p = r.mul_add(p, 1.0);
    p = r.mul_add(p, 1.0);
    let exponent = (t.to_bits() as i32).wrapping_sub(ROUNDER.to_bits() as i32);
    p * f32::from_bits(((exponent + 127) as u32) << 23)
}

/// Softmax of one row in place.
#[inline(always)]
fn softmax_row(row: &mut [f32]) {
    if row.is_empty() {
        return;
    }
    let mut lanes = [f32::NEG_INFINITY; 16];
    let mut chunks = row.chunks_exact(16);
    for chunk in &mut chunks {
        for (m, v) in lanes.iter_mut().zip(chunk) {
            *m = m.max(*v);
        }
    }
    let max = chunks.remainder().iter().fold(
        lanes.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)),
        |a, &b| a.max(b),
    );
    let mut sums = [0.0f32; 16];
    let mut chunks = row.chunks_exact_mut(16);
    for chunk in &mut chunks {
        for (s, v) in sums.iter_mut().zip(chunk.iter_mut()) {
            *v = exp_nonpositive(*v - max);
            *s += *v;
        }
    }
    let mut sum: f32 = sums.iter().sum();
    for v in chunks.into_remainder() {
        *v = exp_nonpositive(*v - max);
        sum += *v;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|v| *v *= inv);
}

#[inline(always)]
fn softmax_slice(rows: &mut [f32], width: usize) {
    rows.chunks_exact_mut(width).for_each(softmax_row);
}

simd_dispatch!(
    /// Softmax in place of every row (of `width` values) of `rows`, on this
    /// thread.
    pub fn softmax_rows(rows: &mut [f32], width: usize) => softmax_slice
);

// ---------- layer norm ----------

#[inline(always)]
fn layer_norm_slice(rows: &mut [f32], weight: &[f32], bias: &[f32], eps: f32) {
    let width = weight.len();
    let inv_n = 1.0 / width as f32;
    for row in rows.chunks_exact_mut(width) {
        let mut lanes = [0.0f32; 16];
        let mut chunks = row.chunks_exact(16);
        for chunk in &mut chunks {
            for (s, v) in lanes.iter_mut().zip(chunk) {
                *s += v;
            }
        }
        let mean = (lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()) * inv_n;
        let mut lanes = [0.0f32; 16];
        let mut chunks = row.chunks_exact(16);
        for chunk in &mut chunks {
            for (s, v) in lanes.iter_mut().zip(chunk) {
                let c = v - mean;
                *s += c * c;
            }
        }
        let tail: f32 = chunks
            .remainder()
            .iter()
            .map(|v| (v - mean) * (v - mean))
            .sum();
        let var = (lanes.iter().sum::<f32>() + tail) * inv_n;
        let scale = 1.0 / (var + eps).sqrt();
        for ((v, w), b) in row.iter_mut().zip(weight).zip(bias) {
            *v = (*v - mean) * scale * w + b;
        }
    }
}

simd_dispatch!(fn layer_norm_dispatch(rows: &mut [f32], weight: &[f32], bias: &[f32], eps: f32) => layer_norm_slice);

/// Layer norm in place of every row (of `weight.len()` values) of `rows`:
/// `(x − mean) / √(var + eps) · weight + bias`, spread over threads.
pub fn layer_norm_rows(rows: &mut [f32], weight: &[f32], bias: &[f32], eps: f32) {
    let width = weight.len().max(1);
    let rows_per_chunk = (CHUNK / width).max(1);
    rows.par_chunks_mut(rows_per_chunk * width)
        .for_each(|chunk| layer_norm_dispatch(chunk, weight, bias, eps));
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    fn reference_erf(x: f64) -> f64 {
        // erf via its relation to the regularised incomplete gamma is not in
        // std; integrate exp(-t^2) with Simpson's rule instead (exact enough).
        let n = 2000;
        let h = x / n as f64;
        let f = |t: f64| (-t * t).exp();
        let mut s = f(0.0) + f(x);
        for i in 1..n {
            s += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        s * h / 3.0 * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn erf_is_accurate() {
        let mut worst = 0.0f64;
        for i in -600..=600 {
            let x = i as f64 / 100.0;
            let err = (erf(x as f32) as f64 - reference_erf(x)).abs();
            worst = worst.max(err);
        }
        assert!(worst < 1e-6, "erf error {worst}");
    }

    #[test]
    fn exp_is_accurate() {
        let mut worst = 0.0f64;
        for i in 0..=87_000 {
            let x = -(i as f32) / 1000.0;
            let exact = (x as f64).exp();
            let rel = ((exp_nonpositive(x) as f64) - exact).abs() / exact;
            worst = worst.max(rel);
        }
        assert!(worst < 1e-6, "exp relative error {worst}");
    }

    #[test]
    fn bias_gelu_matches_candle() {
        let xs = Tensor::new(&[[-3.0f32, -0.5, 0.0], [0.7, 2.0, 5.0]], &Device::Cpu).unwrap();
        let bias = [0.1f32, -0.2, 0.3];
        let mut ours = xs.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        bias_gelu_rows(&mut ours, &bias);
        let b = Tensor::new(&bias, &Device::Cpu).unwrap();
        let theirs = xs
            .broadcast_add(&b)
            .unwrap()
            .gelu_erf()
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        for (r, t) in ours.iter().zip(theirs.iter().flatten()) {
            assert!((r - t).abs() < 1e-6, "{r} vs {t}");
        }
    }

    #[test]
    fn layer_norm_rows_match_candle() {
        let width = 37;
        let values: Vec<f32> = (0..5 * width)
            .map(|i| ((i * 7919) % 1000) as f32 / 37.0 - 13.0)
            .collect();
        let weight: Vec<f32> = (0..width).map(|i| 0.5 + i as f32 / 50.0).collect();
        let bias: Vec<f32> = (0..width).map(|i| i as f32 / 10.0 - 1.0).collect();
        let mut ours = values.clone();
        layer_norm_rows(&mut ours, &weight, &bias, 1e-12);
        let xs = Tensor::from_vec(values, (5, width), &Device::Cpu).unwrap();
        let w = Tensor::new(weight.as_slice(), &Device::Cpu).unwrap();
        let b = Tensor::new(bias.as_slice(), &Device::Cpu).unwrap();
        let theirs = candle_nn::ops::layer_norm(&xs, &w, &b, 1e-12)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for (a, b) in ours.iter().zip(&theirs) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn softmax_rows_sum_to_one_and_keep_order() {
        let mut rows = vec![1.0f32, 2.0, 3.0, -50.0, 0.0, 50.0];
        softmax_rows(&mut rows, 3);
        for row in rows.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
            assert!(row[0] < row[1] && row[1] < row[2]);
        }
    }

    #[test]
    fn softmax_rows_match_candle() {
        let (rows, width) = (6, 40);
        let values: Vec<f32> = (0..rows * width)
            .map(|i| ((i * 7919) % 1000) as f32 / 97.0 - 5.0)
            .collect();
        let scores = Tensor::from_vec(values.clone(), (rows, width), &Device::Cpu).unwrap();
        let mut ours = values;
        softmax_rows(&mut ours, width);
        let ours = Tensor::from_vec(ours, (rows, width), &Device::Cpu).unwrap();
        let theirs = candle_nn::ops::softmax_last_dim(&scores).unwrap();
        let diff = (ours - theirs)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap();
        assert!(diff.to_scalar::<f32>().unwrap() < 1e-6);
    }
}
