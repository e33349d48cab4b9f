//! Fast CPU kernels for the element-wise steps of the packed BERT forward
//! pass (`packed`): the activation (exact erf GELU, tanh GELU or ReLU) with
//! the layer's bias added in the same pass, the numerators of the row
//! softmax of attention scores, and layer norm. Each is a portable loop
//! over fixed-size lane arrays, compiled once per SIMD level and chosen at
//! run time by [`simd_dispatch`] (so `RELATE_SIMD` caps it like every
//! kernel); the row-wise ones are split across threads with rayon. The loops never hand
//! closures to iterator adaptors: a closure is compiled without the level's
//! target features, where a fused multiply-add becomes a library call per
//! element (a test inspects the machine code of every level's build).
//!
//! Accuracy: the erf approximation is a rational minimax fit on [-4, 4]
//! (outside it erf is ±1 in f32) with an absolute error below 1e-6, and the
//! exponential has a relative error of a few units in the last place, so
//! both agree with libm to well within what embedding parity needs (checked
//! by the unit tests here and the parity tests against the reference). The
//! levels differ only in whether a multiply-add is fused, well below 1e-6
//! in the final vectors.

// Kernels index fixed-size lane arrays on purpose (see above): iterator
// adaptors with closures can lose the level's target features.
#![allow(clippy::needless_range_loop)]

use rayon::prelude::*;

use crate::simd::{simd_dispatch, MulAdd};

/// Elements per parallel work item.
const CHUNK: usize = 16 * 1024;

/// Values handled side by side in the reductions (a multiple of every
/// vector width in use, so each lane array is whole registers).
const W: usize = 16;

// ---------- exp, erf, tanh ----------

/// e^x for x <= 0 (softmax inputs after the row maximum is subtracted);
/// inputs below -87 give about 1e-38 instead of 0, which is immaterial here.
#[inline(always)]
fn exp_nonpositive<M: MulAdd>(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // 1.5 * 2^23: adding it rounds to the nearest integer in the low bits.
    const ROUNDER: f32 = 12_582_912.0;
    let x = if x > -87.0 { x } else { -87.0 };
    let t = M::mul_add(x, LOG2E, ROUNDER);
    let n = t - ROUNDER;
    let r = M::mul_add(n, -LN2_LO, M::mul_add(n, -LN2_HI, x));
    // e^r on |r| <= ln2/2, Taylor to degree 6 (error below 2e-7 relative).
    let mut p = M::mul_add(r, 1.0 / 720.0, 1.0 / 120.0);
    p = M::mul_add(r, p, 1.0 / 24.0);
    p = M::mul_add(r, p, 1.0 / 6.0);
    p = M::mul_add(r, p, 0.5);
    p = M::mul_add(r, p, 1.0);
    p = M::mul_add(r, p, 1.0);
    // Wrapping arithmetic (n lies in [-126, 0], so nothing wraps): an
    // overflow check here would keep builds with checks on from
    // vectorising the loop.
    let exponent = (t.to_bits() as i32).wrapping_sub(ROUNDER.to_bits() as i32);
    p * f32::from_bits((exponent.wrapping_add(127) as u32) << 23)
}

/// erf(x), rational approximation p(x)/q(x) on [-4, 4] (odd numerator of
/// degree 13, even denominator of degree 8).
#[inline(always)]
fn erf<M: MulAdd>(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = M::mul_add(x2, -2.726_142_3e-10, 2.770_681_4e-8);
    p = M::mul_add(x2, p, -2.101_024e-6);
    p = M::mul_add(x2, p, -5.692_506_4e-5);
    p = M::mul_add(x2, p, -7.349_906_3e-4);
    p = M::mul_add(x2, p, -2.954_6e-3);
    p = M::mul_add(x2, p, -1.609_603_3e-2);
    p *= x;
    let mut q = M::mul_add(x2, -1.456_607_2e-5, -2.133_740_6e-4);
    q = M::mul_add(x2, q, -1.682_827e-3);
    q = M::mul_add(x2, q, -7.373_329_4e-3);
    q = M::mul_add(x2, q, -1.426_474e-2);
    p / q
}

/// tanh(x) from the exponential of −2|x|.
#[inline(always)]
fn tanh<M: MulAdd>(x: f32) -> f32 {
    let e = exp_nonpositive::<M>(-2.0 * x.abs());
    let t = (1.0 - e) / (1.0 + e);
    if x < 0.0 {
        -t
    } else {
        t
    }
}

// ---------- bias + activation ----------

/// The activation applied after a layer's bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// GELU with the exact erf.
    GeluErf,
    /// GELU with the tanh approximation.
    GeluTanh,
    /// max(0, x).
    Relu,
}

impl Activation {
    /// The activation a model's `hidden_act` names (GELU with erf for any
    /// name not known otherwise, as the reference implementation does).
    pub fn from_config(name: &str) -> Self {
        match name {
            "gelu_new" | "gelu_pytorch_tanh" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            _ => Activation::GeluErf,
        }
    }
}

#[inline(always)]
fn bias_activation_slice<M: MulAdd>(values: &mut [f32], bias: &[f32], activation: Activation) {
    let width = bias.len();
    if width == 0 {
        return;
    }
    let rows = values.len() / width;
    for r in 0..rows {
        let row = &mut values[r * width..(r + 1) * width];
        match activation {
            Activation::GeluErf => {
                for j in 0..width {
                    let x = row[j] + bias[j];
                    row[j] = 0.5 * x * (1.0 + erf::<M>(x * std::f32::consts::FRAC_1_SQRT_2));
                }
            }
            Activation::GeluTanh => {
                let c = (2.0f32 / std::f32::consts::PI).sqrt();
                for j in 0..width {
                    let x = row[j] + bias[j];
                    let inner = c * M::mul_add(0.044_715 * x * x, x, x);
                    row[j] = 0.5 * x * (1.0 + tanh::<M>(inner));
                }
            }
            Activation::Relu => {
                for j in 0..width {
                    let x = row[j] + bias[j];
                    row[j] = if x > 0.0 { x } else { 0.0 };
                }
            }
        }
    }
}

simd_dispatch!(
    /// `activation(v + bias)` in place for every row of `values`, on this
    /// thread.
    pub(crate) fn bias_activation_dispatch(values: &mut [f32], bias: &[f32], activation: Activation) => bias_activation_slice
);

// ---------- softmax ----------

/// The largest value of `row` (−∞ when empty).
#[inline(always)]
fn max_of(row: &[f32]) -> f32 {
    let full = row.len() / W * W;
    let mut lanes = [f32::NEG_INFINITY; W];
    let mut i = 0;
    while i < full {
        let c = &row[i..i + W];
        for l in 0..W {
            lanes[l] = if c[l] > lanes[l] { c[l] } else { lanes[l] };
        }
        i += W;
    }
    let mut max = f32::NEG_INFINITY;
    for l in 0..W {
        max = if lanes[l] > max { lanes[l] } else { max };
    }
    for &v in &row[full..] {
        max = if v > max { v } else { max };
    }
    max
}

/// Sum of 16 lanes by halving.
#[inline(always)]
fn sum_lanes(lanes: &[f32; W]) -> f32 {
    let mut h = [0f32; 8];
    for l in 0..8 {
        h[l] = lanes[l] + lanes[l + 8];
    }
    let q = [h[0] + h[4], h[1] + h[5], h[2] + h[6], h[3] + h[7]];
    (q[0] + q[2]) + (q[1] + q[3])
}

/// The numerators of one row's softmax in place, `e^(x − max)`, and the
/// inverse of their sum: the softmax is the row times that inverse, a
/// scaling left to whoever uses the row (attention scales its 32-wide
/// output rows rather than its score rows, which are as wide as the text).
#[inline(always)]
fn exp_row<M: MulAdd>(row: &mut [f32]) -> f32 {
    if row.is_empty() {
        return 0.0;
    }
    let max = max_of(row);
    let full = row.len() / W * W;
    let mut sums = [0.0f32; W];
    let mut i = 0;
    while i < full {
        let c = &mut row[i..i + W];
        for l in 0..W {
            c[l] = exp_nonpositive::<M>(c[l] - max);
            sums[l] += c[l];
        }
        i += W;
    }
    let mut sum = sum_lanes(&sums);
    for v in &mut row[full..] {
        *v = exp_nonpositive::<M>(*v - max);
        sum += *v;
    }
    1.0 / sum
}

#[inline(always)]
fn exp_slice<M: MulAdd>(rows: &mut [f32], width: usize, inverse_sums: &mut [f32]) {
    if width == 0 {
        return;
    }
    let n = (rows.len() / width).min(inverse_sums.len());
    for r in 0..n {
        inverse_sums[r] = exp_row::<M>(&mut rows[r * width..(r + 1) * width]);
    }
}

simd_dispatch!(
    /// Every row (of `width` values) of `rows` becomes its softmax's
    /// numerators, `e^(x − max)`, and `inverse_sums[r]` the inverse of row
    /// r's sum, so that row r times it is its softmax; on this thread.
    pub fn softmax_numerators(rows: &mut [f32], width: usize, inverse_sums: &mut [f32]) => exp_slice
);

/// `τ · ln(Σ wᵢ e^{sᵢ/τ} / Σ wᵢ)` of each row of `sims` (`width` values,
/// one per weight) into `out`: the weighted soft maximum of the
/// multi-interest recommender, with the row maximum taken out before the
/// exponential.
#[inline(always)]
fn soft_max_slice<M: MulAdd>(sims: &[f32], weights: &[f32], temperature: f32, out: &mut [f32]) {
    let width = weights.len();
    if width == 0 {
        return;
    }
    let inv = 1.0 / temperature;
    let total: f32 = weights.iter().sum();
    let full = width / W * W;
    let rows = (sims.len() / width).min(out.len());
    for r in 0..rows {
        let row = &sims[r * width..(r + 1) * width];
        let max = max_of(row);
        if !max.is_finite() {
            out[r] = max;
            continue;
        }
        let mut sums = [0.0f32; W];
        let mut i = 0;
        while i < full {
            let (c, w) = (&row[i..i + W], &weights[i..i + W]);
            for l in 0..W {
                sums[l] = M::mul_add(w[l], exp_nonpositive::<M>((c[l] - max) * inv), sums[l]);
            }
            i += W;
        }
        let mut sum = sum_lanes(&sums);
        for j in full..width {
            sum = M::mul_add(weights[j], exp_nonpositive::<M>((row[j] - max) * inv), sum);
        }
        out[r] = max + temperature * (sum / total).ln();
    }
}

simd_dispatch!(
    /// The weighted soft maximum (temperature `temperature`) of every row
    /// of `sims` (one value per weight), into `out`, on this thread.
    pub fn soft_max_rows(sims: &[f32], weights: &[f32], temperature: f32, out: &mut [f32]) => soft_max_slice
);

// ---------- layer norm ----------

#[inline(always)]
fn layer_norm_slice<M: MulAdd>(rows: &mut [f32], weight: &[f32], bias: &[f32], eps: f32) {
    let width = weight.len();
    if width == 0 || bias.len() != width {
        return;
    }
    let inv_n = 1.0 / width as f32;
    let full = width / W * W;
    let n = rows.len() / width;
    for r in 0..n {
        let row = &mut rows[r * width..(r + 1) * width];
        let mut lanes = [0.0f32; W];
        let mut i = 0;
        while i < full {
            let c = &row[i..i + W];
            for l in 0..W {
                lanes[l] += c[l];
            }
            i += W;
        }
        let mut total = sum_lanes(&lanes);
        for &v in &row[full..] {
            total += v;
        }
        let mean = total * inv_n;
        let mut lanes = [0.0f32; W];
        let mut i = 0;
        while i < full {
            let c = &row[i..i + W];
            for l in 0..W {
                let d = c[l] - mean;
                lanes[l] = M::mul_add(d, d, lanes[l]);
            }
            i += W;
        }
        let mut squares = sum_lanes(&lanes);
        for &v in &row[full..] {
            squares = M::mul_add(v - mean, v - mean, squares);
        }
        let scale = 1.0 / (squares * inv_n + eps).sqrt();
        for j in 0..width {
            row[j] = M::mul_add((row[j] - mean) * scale, weight[j], bias[j]);
        }
    }
}

simd_dispatch!(
    /// Layer norm in place of every row of `rows`, on this thread.
    pub(crate) fn layer_norm_dispatch(rows: &mut [f32], weight: &[f32], bias: &[f32], eps: f32) => layer_norm_slice
);

/// Layer norm in place of every row (of `weight.len()` values) of `rows`:
/// `(x − mean) / √(var + eps) · weight + bias`, spread over threads.
pub fn layer_norm_rows(rows: &mut [f32], weight: &[f32], bias: &[f32], eps: f32) {
    let width = weight.len().max(1);
    let rows_per_chunk = (CHUNK / width).max(1);
    rows.par_chunks_mut(rows_per_chunk * width)
        .for_each(|chunk| layer_norm_dispatch(chunk, weight, bias, eps));
}

/// `row` added to every row of `values` (rows of `row.len()`).
#[inline(always)]
fn add_row_slice<M: MulAdd>(values: &mut [f32], row: &[f32]) {
    let width = row.len();
    if width == 0 {
        return;
    }
    let n = values.len() / width;
    for r in 0..n {
        let dst = &mut values[r * width..(r + 1) * width];
        for j in 0..width {
            dst[j] += row[j];
        }
    }
}

simd_dispatch!(
    /// `row` added to every row of `values` (rows of `row.len()`).
    pub fn add_rows(values: &mut [f32], row: &[f32]) => add_row_slice
);

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
            let err = (erf::<crate::simd::Separate>(x as f32) as f64 - reference_erf(x)).abs();
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
            let rel = ((exp_nonpositive::<crate::simd::Fused>(x) as f64) - exact).abs() / exact;
            worst = worst.max(rel);
        }
        assert!(worst < 1e-6, "exp relative error {worst}");
    }

    #[test]
    fn bias_gelu_matches_candle() {
        let xs = Tensor::new(&[[-3.0f32, -0.5, 0.0], [0.7, 2.0, 5.0]], &Device::Cpu).unwrap();
        let bias = [0.1f32, -0.2, 0.3];
        let mut ours = xs.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        bias_activation_dispatch(&mut ours, &bias, Activation::GeluErf);
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

    /// Softmax through the numerators and the inverse sums.
    fn softmax_rows(rows: &mut [f32], width: usize) {
        let mut inverse = vec![0.0; rows.len() / width];
        softmax_numerators(rows, width, &mut inverse);
        for (row, inverse) in rows.chunks_mut(width).zip(&inverse) {
            for v in row {
                *v *= inverse;
            }
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
    fn softmax_numerators_peak_at_one() {
        let mut rows = vec![-3.0f32, 4.0, 1.0, 7.0, 7.0, -100.0];
        let mut inverse = [0.0; 2];
        softmax_numerators(&mut rows, 3, &mut inverse);
        assert_eq!(rows[1], 1.0);
        assert_eq!((rows[3], rows[4]), (1.0, 1.0));
        let first: f32 = 1.0 + (-7.0f32).exp() + (-3.0f32).exp();
        assert!((inverse[0] - 1.0 / first).abs() < 1e-6, "{}", inverse[0]);
        assert!((inverse[1] - 0.5).abs() < 1e-6, "{}", inverse[1]);
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
