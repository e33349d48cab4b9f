//! Int8 matrix products of the opt-in quantised CPU mode (`--dtype int8`).
//!
//! A linear layer's weight is quantised once, at load, to signed bytes
//! with one scale per output channel; each batch's activations are
//! quantised to unsigned bytes with a scale and a zero point per row (so a
//! row that is mostly positive, as after GELU, keeps all 256 steps). A
//! product sums byte × byte into 32-bit integers exactly, so every kernel
//! gives the same sums and therefore the same vectors: AVX-512 VNNI
//! (`vpdpbusd`, 64 multiply-adds an instruction), AVX-VNNI (the same on
//! 256-bit registers, for CPUs with AVX2 and no AVX-512), AVX2
//! (`vpmaddubsw` then `vpmaddwd`), SSE2 (`pmaddwd` on values widened to 16
//! bits), NEON's dot product on aarch64 (`sdot`, 16 an instruction) and a
//! portable one elsewhere. `RELATE_INT8_KERNEL` caps the
//! choice, as `RELATE_SIMD` caps the level. Each sum is scaled back to f32 as
//! `c (+)= sa · sw · (Σ qa·qw − za · Σ qw)`.
//!
//! A few activations dwarf the rest of their row: BERT's residual stream
//! carries some channels tens of times larger than the others, and one
//! such value would stretch its row's 256 steps over a range where the
//! other values get only a handful. So a row is quantised over at most
//! [`OUTLIER_MEAN`] times its mean magnitude; each value outside that
//! range keeps its byte at the range's end, and what the byte misses (its
//! excess) is added to the product's row in f32, times the weight's
//! quantised column for that input ([`QuantizedWeight`] keeps them by
//! input), each costing one row of the output. Weights are treated alike:
//! those past [`WEIGHT_OUTLIER_MEAN`] times their channel's mean magnitude
//! leave the channel's steps to the others, and their excess multiplies
//! their input in f32. Over 343 single words and short phrases the lowest
//! cosine to the reference went from 0.9904 to 0.9945 with the activations'
//! outliers and to 0.9969 with the weights' too, at a cost lost in the
//! spread between runs (6 times the activations' root mean square instead
//! cost 7% with VNNI for the first step alone).
//!
//! AVX2's `vpmaddubsw` adds each pair of neighbouring products into 16 bits
//! with saturation, and 255 × 127 twice does not fit. Cutting weights to 7
//! bits avoids that but moved short texts to a cosine of 0.983 from the
//! reference. Instead, a channel's scale is also large enough that every
//! pair of neighbouring weights of the same sign sums to at most 128 steps
//! (pairs of opposite signs cannot overflow): the sums stay exact, and the
//! vectors as close to the reference as with a plain 8-bit scale (0.9933
//! against 0.9935 at worst on the odd inputs).
//!
//! Weights are packed in column panels as wide as the kernel's tile; within
//! a panel, each group of depths holds every column's values side by side:
//! 4 bytes (what one 32-bit lane of `vpdpbusd`, or of `vpmaddubsw` then
//! `vpmaddwd`, sums) or, for SSE2, 2 16-bit words (what one lane of
//! `pmaddwd` sums).

// Kernels index fixed-size lane arrays on purpose, as in `matmul`.
#![allow(clippy::needless_range_loop)]

use rayon::prelude::*;

use super::matmul::{block_tasks, worth_threads, Dest};
use crate::simd::{level, simd_dispatch, MulAdd, SimdLevel};

/// Largest weight magnitude after quantisation.
const WEIGHT_STEPS: f32 = 127.0;
/// Largest sum of the magnitudes of two neighbouring weights of the same
/// sign (255 × 128 fits in 16 bits; see above).
const PAIR_STEPS: i32 = 128;
/// Steps of a quantised activation (one byte).
const ACTIVATION_STEPS: f32 = 255.0;
/// Depths one 32-bit lane sums at once.
const GROUP: usize = 4;
/// Rows of `A` per block (all of their depth stays in the L2 cache).
const MC: usize = 64;
/// Values further from zero than this many times their row's mean
/// magnitude are outliers: the row's steps span the values within it, and
/// each outlier's excess is added exactly (see the module's notes). The
/// mean magnitude, unlike the root mean square, barely moves with the
/// outliers themselves. 10 to 20 gave the same vectors within 0.0003;
/// lower bounds find more outliers, which cost time.
const OUTLIER_MEAN: f32 = 20.0;
/// Weights further from zero than this many times their channel's mean
/// magnitude are outliers, split off the same way: the channel's steps
/// span the others, and each outlier's excess multiplies its input in f32.
/// A few dozen per matrix of MiniLM (1,385 of its 10.6 million weights).
const WEIGHT_OUTLIER_MEAN: f32 = 8.0;
/// Adding and subtracting this rounds an f32 within ±2²² to the nearest
/// integer (ties to even) with two plain additions, which vectorise on
/// every level and give the same result on all of them.
const ROUNDING: f32 = 12_582_912.0;

/// A register-tile kernel for int8 products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Int8Kernel {
    /// AVX-512 with VNNI: 8 rows × 32 columns.
    Vnni,
    /// AVX-VNNI (the VEX form of `vpdpbusd`, on CPUs with AVX2 but no
    /// AVX-512, such as Intel's client cores since 2021): 4 rows × 16
    /// columns.
    AvxVnni,
    /// AVX2: 4 rows × 16 columns.
    Avx2,
    /// SSE2, the x86-64 baseline: 4 rows × 8 columns.
    Sse2,
    /// NEON's signed dot product (`sdot`, 16 multiply-adds an instruction),
    /// on aarch64 CPUs with the dot-product extension (Armv8.2 on: Apple M1
    /// on, Graviton 2 on, Cortex-A76 on): 4 rows × 16 columns.
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    NeonDot,
    /// Plain Rust, on other architectures (on x86-64, the tests' yardstick):
    /// 4 rows × 8 columns.
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    Portable,
}

impl Int8Kernel {
    /// The kernel for a SIMD level on this CPU, never above `cap` (see
    /// [`Int8Kernel::cap_from_env`]): VNNI needs AVX-512 with VNNI and BW;
    /// at the AVX2 level (or on an AVX-512 CPU without VNNI), AVX-VNNI
    /// where the CPU has it, else the AVX2 kernel.
    fn for_level(level: SimdLevel, cap: Option<Int8Kernel>) -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let allowed = |k: Int8Kernel| cap.is_none_or(|c| k.rank() <= c.rank());
            if level >= SimdLevel::Avx512
                && std::arch::is_x86_feature_detected!("avx512vnni")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && allowed(Int8Kernel::Vnni)
            {
                return Int8Kernel::Vnni;
            }
            if level >= SimdLevel::Avx2
                && std::arch::is_x86_feature_detected!("avxvnni")
                && allowed(Int8Kernel::AvxVnni)
            {
                return Int8Kernel::AvxVnni;
            }
            if level >= SimdLevel::Avx2 && allowed(Int8Kernel::Avx2) {
                return Int8Kernel::Avx2;
            }
            Int8Kernel::Sse2
        }
        #[cfg(target_arch = "aarch64")]
        {
            let allowed = cap.is_none_or(|c| Int8Kernel::NeonDot.rank() <= c.rank());
            if level >= SimdLevel::Neon
                && std::arch::is_aarch64_feature_detected!("dotprod")
                && allowed
            {
                return Int8Kernel::NeonDot;
            }
            Int8Kernel::Portable
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        {
            let _ = (level, cap);
            Int8Kernel::Portable
        }
    }

    /// The kernel in force: the best for the SIMD level in force (see
    /// [`crate::simd::level`]), capped by `RELATE_INT8_KERNEL`.
    pub(crate) fn current() -> Self {
        Int8Kernel::for_level(level(), Int8Kernel::cap_from_env())
    }

    /// The cap that `RELATE_INT8_KERNEL` sets (`vnni`, `avx-vnni`, `avx2`
    /// or `sse2` on x86-64; `neon-dot` or `portable` on aarch64), so that a
    /// CPU with VNNI can show the speed of one without it; a value not known
    /// is reported once and ignored.
    fn cap_from_env() -> Option<Int8Kernel> {
        static CAP: std::sync::OnceLock<Option<Int8Kernel>> = std::sync::OnceLock::new();
        *CAP.get_or_init(|| {
            let value = std::env::var("RELATE_INT8_KERNEL").ok()?;
            let value = value.trim();
            let known: &[Int8Kernel] = if cfg!(target_arch = "aarch64") {
                &[Int8Kernel::NeonDot, Int8Kernel::Portable]
            } else {
                &[
                    Int8Kernel::Vnni,
                    Int8Kernel::AvxVnni,
                    Int8Kernel::Avx2,
                    Int8Kernel::Sse2,
                ]
            };
            let found = known
                .iter()
                .copied()
                .find(|k| k.name().eq_ignore_ascii_case(value));
            if found.is_none() && !value.is_empty() {
                let names: Vec<&str> = known.iter().map(|k| k.name()).collect();
                eprintln!(
                    "warning: RELATE_INT8_KERNEL: {value:?} is none of {}; ignored",
                    names.join(", ")
                );
            }
            found
        })
    }

    /// Order from the plainest kernel up (within one architecture).
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn rank(self) -> u8 {
        match self {
            Int8Kernel::Portable => 0,
            Int8Kernel::Sse2 | Int8Kernel::NeonDot => 1,
            Int8Kernel::Avx2 => 2,
            Int8Kernel::AvxVnni => 3,
            Int8Kernel::Vnni => 4,
        }
    }

    /// Every kernel this CPU can run (the portable one first).
    pub(crate) fn available() -> Vec<Self> {
        let mut kernels = vec![Int8Kernel::Portable];
        let caps = [None, Some(Int8Kernel::Avx2)];
        for l in SimdLevel::available() {
            for cap in caps {
                let k = Int8Kernel::for_level(l, cap);
                if !kernels.contains(&k) {
                    kernels.push(k);
                }
            }
        }
        kernels
    }

    /// The name shown in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Int8Kernel::Vnni => "vnni",
            Int8Kernel::AvxVnni => "avx-vnni",
            Int8Kernel::Avx2 => "avx2",
            Int8Kernel::Sse2 => "sse2",
            Int8Kernel::NeonDot => "neon-dot",
            Int8Kernel::Portable => "portable",
        }
    }

    /// Whether the kernel reads 16-bit words rather than bytes.
    fn wide(self) -> bool {
        self == Int8Kernel::Sse2
    }

    /// Depths whose products one 32-bit lane sums in one instruction: the
    /// group each column's values are packed in.
    fn depth_step(self) -> usize {
        if self.wide() {
            2
        } else {
            GROUP
        }
    }

    /// Rows × columns of one register tile.
    fn tile_shape(self) -> (usize, usize) {
        match self {
            Int8Kernel::Vnni => (8, 32),
            Int8Kernel::AvxVnni | Int8Kernel::Avx2 | Int8Kernel::NeonDot => (4, 16),
            Int8Kernel::Sse2 => (4, 8),
            Int8Kernel::Portable => (4, 8),
        }
    }
}

/// A linear layer's weight `W` (`n × k`, out × in), quantised per output
/// channel and packed for one kernel, ready for `A · Wᵀ`.
#[derive(Debug, Clone)]
pub(crate) struct QuantizedWeight {
    k: usize,
    /// The depth padded with zeros to whole groups of [`GROUP`].
    depth: usize,
    n: usize,
    nr: usize,
    kernel: Int8Kernel,
    /// Panels of `nr` columns, `depth × nr` values each, in bytes (VNNI,
    /// AVX2, portable) or 16-bit words (SSE2); the other is empty.
    bytes: Vec<i8>,
    /// Read by the SSE2 tile only, which exists on x86-64 alone.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    words: Vec<i16>,
    /// Per column: the value of one step.
    scales: Vec<f32>,
    /// Per column: the sum of its quantised values.
    sums: Vec<i32>,
    /// The quantised values again, by input: `k` rows of `n`, row `kk`
    /// the weights of input `kk` in every column (what an outlier of input
    /// `kk` is multiplied by).
    by_input: Vec<i8>,
    /// The weights past their channel's range, by column.
    outliers: Vec<WeightOutlier>,
}

/// A weight outside its channel's quantised range: what its steps miss.
#[derive(Debug, Clone, Copy, PartialEq)]
struct WeightOutlier {
    column: u32,
    input: u32,
    /// The weight less what its steps stand for, `w − sw · qw`.
    excess: f32,
}

impl QuantizedWeight {
    /// Quantises and packs `w` (`n × k`, row-major) for the kernel in force.
    pub(crate) fn from_weight(w: &[f32], n: usize, k: usize) -> Self {
        Self::for_kernel(w, n, k, Int8Kernel::current())
    }

    /// As [`QuantizedWeight::from_weight`], for a given kernel. Panels are
    /// quantised and packed on several threads: at load, this was most of
    /// the int8 mode's start-up.
    pub(crate) fn for_kernel(w: &[f32], n: usize, k: usize, kernel: Int8Kernel) -> Self {
        assert!(w.len() >= n * k, "weight is smaller than {n} × {k}");
        let (_, nr) = kernel.tile_shape();
        let step = kernel.depth_step();
        let depth = k.div_ceil(GROUP) * GROUP;
        let panel_len = depth * nr;
        let mut packed = vec![0i8; n.div_ceil(nr) * panel_len];
        let mut scales = vec![0f32; n];
        let mut sums = vec![0i32; n];
        // Within a panel, each group of `step` depths (a power of two)
        // holds every column's values side by side.
        let shift = step.trailing_zeros();
        let outliers: Vec<Vec<WeightOutlier>> = packed
            .par_chunks_mut(panel_len)
            .zip(scales.par_chunks_mut(nr))
            .zip(sums.par_chunks_mut(nr))
            .enumerate()
            .map(|(p, ((panel, scales), sums))| {
                let mut found = Vec::new();
                for (jj, (scale, sum)) in scales.iter_mut().zip(sums).enumerate() {
                    let j = p * nr + jj;
                    let Some((s, q, excess)) = quantize_channel(&w[j * k..(j + 1) * k]) else {
                        continue;
                    };
                    *scale = s;
                    *sum = q.iter().map(|&v| v as i32).sum();
                    for (kk, &v) in q.iter().enumerate() {
                        panel[((kk >> shift) * nr + jj) * step + (kk & (step - 1))] = v;
                    }
                    found.extend(excess.into_iter().map(|(input, excess)| WeightOutlier {
                        column: j as u32,
                        input: input as u32,
                        excess,
                    }));
                }
                found
            })
            .collect();
        // Input `kk` of column `j` from its place in the panels.
        let mut by_input = vec![0i8; k * n];
        by_input
            .par_chunks_mut(n.max(1))
            .enumerate()
            .for_each(|(kk, row)| {
                let within = (kk >> shift) * nr * step + (kk & (step - 1));
                for (j, v) in row.iter_mut().enumerate() {
                    *v = packed[(j / nr) * panel_len + (j % nr) * step + within];
                }
            });
        let (bytes, words) = if kernel.wide() {
            (Vec::new(), packed.par_iter().map(|&q| q as i16).collect())
        } else {
            (packed, Vec::new())
        };
        QuantizedWeight {
            k,
            depth,
            n,
            nr,
            kernel,
            bytes,
            words,
            scales,
            sums,
            by_input,
            outliers: outliers.into_iter().flatten().collect(),
        }
    }

    /// Depth (inputs).
    pub(crate) fn rows(&self) -> usize {
        self.k
    }

    /// Outputs.
    pub(crate) fn cols(&self) -> usize {
        self.n
    }

    /// The kernel this weight was packed for.
    pub(crate) fn kernel(&self) -> Int8Kernel {
        self.kernel
    }
}

/// A channel's scale, quantised weights and outliers (input, what its
/// steps miss).
type QuantizedChannel = (f32, Vec<i8>, Vec<(usize, f32)>);

/// One output channel quantised, or `None` when the channel is all zeros
/// (or not finite): the weights past [`WEIGHT_OUTLIER_MEAN`] times the
/// channel's mean magnitude are held at the largest of the others, and the
/// scale makes the largest weight 127 steps at most and each pair of
/// neighbours of the same sign 128 steps at most together (see the
/// module's notes).
fn quantize_channel(weights: &[f32]) -> Option<QuantizedChannel> {
    // Not a number or infinite when the channel holds such values: then
    // nothing is held back.
    let limit = WEIGHT_OUTLIER_MEAN * weights.iter().map(|v| v.abs()).sum::<f32>()
        / weights.len().max(1) as f32;
    let held = limit.is_finite() && weights.iter().any(|v| v.abs() > limit);
    let clipped: Vec<f32>;
    let row = if held {
        // Held at the largest of the others, so that they keep their steps.
        let bound = weights
            .iter()
            .map(|v| v.abs())
            .filter(|&v| v <= limit)
            .fold(0f32, f32::max);
        clipped = weights.iter().map(|v| v.clamp(-bound, bound)).collect();
        &clipped[..]
    } else {
        weights
    };
    // A pair of one sign spans |a + b|; a pair of opposite signs spans
    // less than its larger value, which `largest` bounds already, so the
    // widest |a + b| gives the same scale without a branch on the signs
    // (which no predictor guesses, for every weight at load).
    let mut pairs = row.chunks_exact(2);
    let (mut largest, mut widest_pair) = (0f32, 0f32);
    for pair in &mut pairs {
        let (a, b) = (pair[0], pair[1]);
        largest = largest.max(a.abs()).max(b.abs());
        widest_pair = widest_pair.max((a + b).abs());
    }
    let largest = pairs
        .remainder()
        .iter()
        .fold(largest, |m, v| m.max(v.abs()));
    let scale = (largest / WEIGHT_STEPS).max(widest_pair / PAIR_STEPS as f32);
    if !(scale > 0.0 && scale.is_finite()) {
        return None;
    }
    let mut q: Vec<i32> = row
        .iter()
        .map(|&v| {
            // The nearest step (ties to even) with two additions, which
            // vectorise on every level, unlike a call to `round`; NaN is 0.
            let x = if v.is_nan() { 0.0 } else { v / scale };
            let x = ((x + ROUNDING) - ROUNDING).clamp(-WEIGHT_STEPS, WEIGHT_STEPS);
            // SAFETY: `x` is a whole number within ±127.
            unsafe { x.to_int_unchecked::<i32>() }
        })
        .collect();
    // Rounding can push a pair one step past the bound: take it back from
    // the larger of the two.
    for pair in q.chunks_mut(2) {
        if let [a, b] = pair {
            let excess = a.abs() + b.abs() - PAIR_STEPS;
            if excess > 0 && a.signum() == b.signum() {
                let larger = if a.abs() >= b.abs() { a } else { b };
                *larger -= larger.signum() * excess;
            }
        }
    }
    let outliers = if held {
        weights
            .iter()
            .zip(&q)
            .enumerate()
            .filter(|(_, (v, _))| v.abs() > limit)
            .map(|(kk, (v, &q))| (kk, v - scale * q as f32))
            .collect()
    } else {
        Vec::new()
    };
    Some((scale, q.into_iter().map(|v| v as i8).collect(), outliers))
}

/// Rows of activations quantised to bytes, each with its own scale and
/// zero point (`a ≈ scale · (q − zero)`), depth padded to whole groups;
/// for AVX2 also widened to 16-bit words.
#[derive(Debug, Default)]
pub(crate) struct QuantizedRows {
    m: usize,
    k: usize,
    /// Values per row: `k` rounded up to whole groups.
    stride: usize,
    bytes: Vec<u8>,
    words: Vec<i16>,
    scales: Vec<f32>,
    zeros: Vec<i32>,
    /// Per row: the magnitude past which a value is an outlier (infinite
    /// when the row has none).
    limits: Vec<f32>,
    /// The values outside their row's range, by row.
    outliers: Vec<Outlier>,
}

/// An activation outside its row's quantised range: what its byte misses.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Outlier {
    row: u32,
    input: u32,
    /// The value less what its byte stands for, `a − sa · (qa − za)`.
    excess: f32,
}

/// Rows of a block handed to one thread when quantising.
const QUANTIZE_ROWS: usize = 64;

impl QuantizedRows {
    /// Quantises `a` (`m` rows of `k` values, contiguous) into this buffer
    /// for `kernel`, reusing its memory; on several threads when `parallel`.
    pub(crate) fn quantize(
        &mut self,
        a: &[f32],
        (m, k): (usize, usize),
        kernel: Int8Kernel,
        parallel: bool,
    ) {
        assert!(a.len() >= m * k, "activations are smaller than {m} × {k}");
        let stride = k.div_ceil(GROUP) * GROUP;
        self.m = m;
        self.k = k;
        self.stride = stride;
        if self.bytes.len() < m * stride {
            self.bytes = vec![0; m * stride];
        }
        let wide = kernel.wide();
        if wide && self.words.len() < m * stride {
            self.words = vec![0; m * stride];
        }
        self.scales.resize(m, 0.0);
        self.zeros.resize(m, 0);
        self.limits.resize(m, f32::INFINITY);
        self.outliers.clear();
        if k == 0 || m == 0 {
            return;
        }
        if !parallel {
            let (a, bytes) = (&a[..m * k], &mut self.bytes[..m * stride]);
            let params = (
                &mut self.scales[..],
                &mut self.zeros[..],
                &mut self.limits[..],
            );
            quantize_rows(a, k, bytes, stride, params);
            if wide {
                for (w, &b) in self.words[..m * stride].iter_mut().zip(bytes.iter()) {
                    *w = b as i16;
                }
            }
            self.find_outliers(a);
            return;
        }
        a[..m * k]
            .par_chunks(QUANTIZE_ROWS * k)
            .zip(self.bytes[..m * stride].par_chunks_mut(QUANTIZE_ROWS * stride))
            .zip(self.scales.par_chunks_mut(QUANTIZE_ROWS))
            .zip(self.zeros.par_chunks_mut(QUANTIZE_ROWS))
            .zip(self.limits.par_chunks_mut(QUANTIZE_ROWS))
            .for_each(|((((rows, out), scales), zeros), limits)| {
                quantize_rows(rows, k, out, stride, (scales, zeros, limits))
            });
        if wide {
            let chunk = QUANTIZE_ROWS * stride;
            self.words[..m * stride]
                .par_chunks_mut(chunk)
                .zip(self.bytes[..m * stride].par_chunks(chunk))
                .for_each(|(words, bytes)| {
                    for (w, &b) in words.iter_mut().zip(bytes) {
                        *w = b as i16;
                    }
                });
        }
        self.find_outliers(&a[..m * k]);
    }

    /// Lists the values of `a` (the rows just quantised) past their row's
    /// limit. Apart from the kernels, whose builds make no calls.
    fn find_outliers(&mut self, a: &[f32]) {
        for (r, row) in a.chunks_exact(self.k).enumerate() {
            let limit = self.limits[r];
            if limit.is_finite() {
                let (scale, zero) = (self.scales[r], self.zeros[r] as f32);
                find_outliers(
                    row,
                    limit,
                    (scale, 1.0 / scale, zero),
                    r,
                    &mut self.outliers,
                );
            }
        }
    }
}

/// Quantises each row of `rows` (`k` values each) into `out` (`stride`
/// bytes each), with its scale and zero point, over at most
/// [`OUTLIER_MEAN`] times the row's mean magnitude, which it records as
/// the row's limit when a value lies past it (infinity otherwise); with
/// AVX2's 8-lane instructions when `AVX2` (the caller's build must enable
/// AVX2), else with SSE2's 4 lanes. Both give the same bytes.
#[inline(always)]
fn quantize_rows_slice<const AVX2: bool>(
    rows: &[f32],
    k: usize,
    out: &mut [u8],
    stride: usize,
    (scales, zeros, limits): Params,
) {
    for (r, (row, dst)) in rows
        .chunks_exact(k)
        .zip(out.chunks_exact_mut(stride))
        .enumerate()
    {
        // The range always holds zero, so that zero is a whole step.
        #[cfg(target_arch = "x86_64")]
        let (low, high) = if AVX2 {
            // SAFETY: the caller's build enables AVX2.
            unsafe { range_with_zero_avx2(row) }
        } else {
            range_with_zero(row)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let (low, high) = range_with_zero(row);
        // Not a number or infinite when the row holds such values: then
        // nothing is clipped.
        let limit = OUTLIER_MEAN * (sum_of_magnitudes(row) / k as f32);
        let clipped = limit.is_finite() && (low < -limit || high > limit);
        let (low, high) = if clipped {
            (low.max(-limit), high.min(limit))
        } else {
            (low, high)
        };
        let mut scale = (high - low) / ACTIVATION_STEPS;
        if !(scale > 0.0 && scale.is_finite()) {
            scale = 1.0;
        }
        let zero = ((-low / scale + ROUNDING) - ROUNDING).clamp(0.0, ACTIVATION_STEPS);
        let inverse = 1.0 / scale;
        let (body, tail) = dst.split_at_mut(k);
        tail.fill(0);
        scales[r] = scale;
        zeros[r] = zero as i32;
        limits[r] = if clipped { limit } else { f32::INFINITY };
        #[cfg(target_arch = "x86_64")]
        if AVX2 {
            // SAFETY: the caller's build enables AVX2.
            unsafe { quantize_row_avx2(row, body, inverse, zero) };
            continue;
        }
        let mut src = row.chunks_exact(LANES);
        let mut out = body.chunks_exact_mut(LANES);
        for (chunk, o) in (&mut src).zip(&mut out) {
            let mut steps = [0f32; LANES];
            for l in 0..LANES {
                steps[l] = quantize_step(chunk[l], inverse, zero);
            }
            o.copy_from_slice(&narrow_steps(&steps));
        }
        for (o, &v) in out.into_remainder().iter_mut().zip(src.remainder()) {
            *o = quantize_value(v, inverse, zero);
        }
    }
}

/// The sum of the magnitudes of `row`, in lanes of [`LANES`] summed in a
/// fixed order, so that every level gives the same bits.
#[inline(always)]
fn sum_of_magnitudes(row: &[f32]) -> f32 {
    let mut chunks = row.chunks_exact(LANES);
    let mut lanes = [0f32; LANES];
    for chunk in &mut chunks {
        for l in 0..LANES {
            lanes[l] += chunk[l].abs();
        }
    }
    let rest: f32 = chunks.remainder().iter().map(|v| v.abs()).sum();
    lanes.iter().sum::<f32>() + rest
}

/// Appends every value of `row` further from zero than `limit` (the
/// values its row's range left out) to `outliers`, as row `r`, with what
/// its byte misses; a block of [`LANES`] values is looked into only when
/// one of them is outside.
fn find_outliers(
    row: &[f32],
    limit: f32,
    (scale, inverse, zero): (f32, f32, f32),
    r: usize,
    outliers: &mut Vec<Outlier>,
) {
    let mut add = |v: f32, input: usize| {
        let kept = scale * (quantize_step(v, inverse, zero) - zero);
        outliers.push(Outlier {
            row: r as u32,
            input: input as u32,
            excess: v - kept,
        });
    };
    let mut chunks = row.chunks_exact(LANES);
    for (c, chunk) in (&mut chunks).enumerate() {
        let outside = outside_mask(chunk.try_into().unwrap(), limit);
        if outside != 0 {
            for l in 0..LANES {
                if outside & (1 << l) != 0 {
                    add(chunk[l], c * LANES + l);
                }
            }
        }
    }
    let done = row.len() - chunks.remainder().len();
    for (i, &v) in chunks.remainder().iter().enumerate() {
        if v.abs() > limit {
            add(v, done + i);
        }
    }
}

/// Bit `l` set for each value `l` of `chunk` further from zero than
/// `limit` (not for a NaN). On x86-64 with SSE's compares and sign masks
/// (part of every level): the compiler's own loop moved every flag
/// through a general register.
#[inline(always)]
fn outside_mask(chunk: &[f32; LANES], limit: f32) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE is part of the x86-64 baseline; each load reads 4 of
        // the chunk's 16 values.
        unsafe {
            let (lo, hi) = (_mm_set1_ps(-limit), _mm_set1_ps(limit));
            let mut mask = 0;
            for q in 0..4 {
                let v = _mm_loadu_ps(chunk.as_ptr().add(4 * q));
                let out = _mm_or_ps(_mm_cmplt_ps(v, lo), _mm_cmpgt_ps(v, hi));
                mask |= (_mm_movemask_ps(out) as u32) << (4 * q);
            }
            mask
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut mask = 0;
        for l in 0..LANES {
            mask |= ((chunk[l].abs() > limit) as u32) << l;
        }
        mask
    }
}

/// [`range_with_zero`] with AVX2's 8-lane `vminps`/`vmaxps` (which, like
/// SSE's, keep the second operand when either is NaN).
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn range_with_zero_avx2(row: &[f32]) -> (f32, f32) {
    use std::arch::x86_64::*;
    let mut chunks = row.chunks_exact(4 * 8);
    let (mut lo, mut hi) = ([_mm256_setzero_ps(); 4], [_mm256_setzero_ps(); 4]);
    for chunk in &mut chunks {
        for q in 0..4 {
            let v = _mm256_loadu_ps(chunk.as_ptr().add(8 * q));
            lo[q] = _mm256_min_ps(v, lo[q]);
            hi[q] = _mm256_max_ps(v, hi[q]);
        }
    }
    let (mut lows, mut highs) = ([0f32; 32], [0f32; 32]);
    for q in 0..4 {
        _mm256_storeu_ps(lows.as_mut_ptr().add(8 * q), lo[q]);
        _mm256_storeu_ps(highs.as_mut_ptr().add(8 * q), hi[q]);
    }
    let below = |m: f32, &v: &f32| if v < m { v } else { m };
    let above = |m: f32, &v: &f32| if v > m { v } else { m };
    let rest = chunks.remainder();
    (
        rest.iter().fold(lows.iter().fold(0f32, below), below),
        rest.iter().fold(highs.iter().fold(0f32, above), above),
    )
}

/// The steps of one row ([`quantize_step`] of each value) as bytes into
/// `out`, 32 at a time with AVX2: the same multiply, add, rounding and
/// bounds, then packed to bytes with saturation (the steps are whole
/// numbers within 0..=255 already).
///
/// # Safety
/// The CPU must have AVX2; `out` holds at least `row.len()` bytes.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn quantize_row_avx2(row: &[f32], out: &mut [u8], inverse: f32, zero: f32) {
    use std::arch::x86_64::*;
    assert!(out.len() >= row.len());
    let (inv, zer) = (_mm256_set1_ps(inverse), _mm256_set1_ps(zero));
    let (round, top) = (_mm256_set1_ps(ROUNDING), _mm256_set1_ps(ACTIVATION_STEPS));
    let floor = _mm256_setzero_ps();
    // A function, not a closure: a closure is compiled without the
    // caller's target features, and its intrinsics would become calls.
    #[inline(always)]
    unsafe fn step(at: *const f32, c: [__m256; 5]) -> __m256i {
        let [inv, zer, round, floor, top] = c;
        let v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(at), inv), zer);
        let v = _mm256_sub_ps(_mm256_add_ps(v, round), round);
        // `max` first turns a NaN into 0, as `quantize_step` does.
        _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(v, floor), top))
    }
    let c = [inv, zer, round, floor, top];
    // `packs`/`packus` interleave the 128-bit halves; this puts the 32-bit
    // groups of bytes back in order.
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    let mut src = row.chunks_exact(32);
    let mut dst = out.chunks_exact_mut(32);
    for (chunk, o) in (&mut src).zip(&mut dst) {
        let p = chunk.as_ptr();
        let low = _mm256_packs_epi32(step(p, c), step(p.add(8), c));
        let high = _mm256_packs_epi32(step(p.add(16), c), step(p.add(24), c));
        let bytes = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(low, high), order);
        _mm256_storeu_si256(o.as_mut_ptr().cast(), bytes);
    }
    let rest = src.remainder();
    let done = row.len() - rest.len();
    for (o, &v) in out[done..].iter_mut().zip(rest) {
        *o = quantize_value(v, inverse, zero);
    }
}

/// The lowest and highest value of `row` and zero; NaNs are passed over.
#[inline(always)]
fn range_with_zero(row: &[f32]) -> (f32, f32) {
    let mut chunks = row.chunks_exact(LANES);
    // Lanes of independent minima and maxima, from zero.
    let (mut lows, mut highs) = ([0f32; LANES], [0f32; LANES]);
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SSE's `minps`/`maxps` (part of every level) keep the second
        // operand when either is NaN; the compiler's own loop shuffled
        // every vector before comparing.
        // SAFETY: SSE is part of the x86-64 baseline; each load reads 4 of
        // a chunk's 16 values, each store writes 4 of a 16-value array.
        unsafe {
            let (mut lo, mut hi) = ([_mm_setzero_ps(); 4], [_mm_setzero_ps(); 4]);
            for chunk in &mut chunks {
                for q in 0..4 {
                    let v = _mm_loadu_ps(chunk.as_ptr().add(4 * q));
                    lo[q] = _mm_min_ps(v, lo[q]);
                    hi[q] = _mm_max_ps(v, hi[q]);
                }
            }
            for q in 0..4 {
                _mm_storeu_ps(lows.as_mut_ptr().add(4 * q), lo[q]);
                _mm_storeu_ps(highs.as_mut_ptr().add(4 * q), hi[q]);
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    for chunk in &mut chunks {
        for l in 0..LANES {
            lows[l] = if chunk[l] < lows[l] {
                chunk[l]
            } else {
                lows[l]
            };
            highs[l] = if chunk[l] > highs[l] {
                chunk[l]
            } else {
                highs[l]
            };
        }
    }
    let below = |m: f32, &v: &f32| if v < m { v } else { m };
    let above = |m: f32, &v: &f32| if v > m { v } else { m };
    let rest = chunks.remainder();
    (
        rest.iter().fold(lows.iter().fold(0f32, below), below),
        rest.iter().fold(highs.iter().fold(0f32, above), above),
    )
}

/// Values quantised at once (lanes of the vector loops).
const LANES: usize = 16;

/// `v / scale + zero`, rounded to the nearest step and kept in a byte.
#[inline(always)]
fn quantize_value(v: f32, inverse: f32, zero: f32) -> u8 {
    let q = quantize_step(v, inverse, zero);
    // SAFETY: `q` is a whole number within 0..=255.
    unsafe { q.to_int_unchecked::<i32>() as u8 }
}

/// `v / scale + zero`, rounded to the nearest step within 0..=255.
#[inline(always)]
fn quantize_step(v: f32, inverse: f32, zero: f32) -> f32 {
    // `max` and `min` (unlike `clamp`) turn a NaN into a bound.
    #[allow(clippy::manual_clamp)]
    (((v * inverse + zero) + ROUNDING) - ROUNDING)
        .max(0.0)
        .min(ACTIVATION_STEPS)
}

/// Steps (whole numbers within 0..=255, from [`quantize_step`]) as bytes.
/// On x86-64 with SSE2's packing instructions (part of every level): the
/// compiler turned the plain loop into one byte extract per value.
#[inline(always)]
fn narrow_steps(steps: &[f32; LANES]) -> [u8; LANES] {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86-64 baseline; the loads read the
        // 16 values of `steps` and the store writes the 16 bytes returned.
        const _: () = assert!(LANES == 16, "four groups of four values are packed");
        unsafe {
            let p = steps.as_ptr();
            let w = |at: usize| _mm_cvttps_epi32(_mm_loadu_ps(p.add(at)));
            let low = _mm_packs_epi32(w(0), w(4));
            let high = _mm_packs_epi32(w(8), w(12));
            let mut bytes = [0u8; LANES];
            _mm_storeu_si128(bytes.as_mut_ptr().cast(), _mm_packus_epi16(low, high));
            bytes
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut bytes = [0u8; LANES];
        for l in 0..LANES {
            // SAFETY: every step is a whole number within 0..=255.
            bytes[l] = unsafe { steps[l].to_int_unchecked::<i32>() as u8 };
        }
        bytes
    }
}

/// [`quantize_rows_slice`] for the level in force ([`level`]), each
/// level's build an `#[inline(never)]` function named after it (as
/// `simd_dispatch` makes them, so that tests can inspect the machine code);
/// the AVX-512 build runs the AVX2 loops.
fn quantize_rows(rows: &[f32], k: usize, out: &mut [u8], stride: usize, params: Params) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx2,fma")]
        #[inline(never)]
        fn avx512(r: &[f32], k: usize, o: &mut [u8], s: usize, p: Params) {
            quantize_rows_slice::<true>(r, k, o, s, p)
        }
        #[target_feature(enable = "avx2,fma")]
        #[inline(never)]
        fn avx2(r: &[f32], k: usize, o: &mut [u8], s: usize, p: Params) {
            quantize_rows_slice::<true>(r, k, o, s, p)
        }
        #[inline(never)]
        fn baseline(r: &[f32], k: usize, o: &mut [u8], s: usize, p: Params) {
            quantize_rows_slice::<false>(r, k, o, s, p)
        }
        match level() {
            // SAFETY: `level` never exceeds what the CPU supports.
            SimdLevel::Avx512 => unsafe { avx512(rows, k, out, stride, params) },
            // SAFETY: as above.
            SimdLevel::Avx2 => unsafe { avx2(rows, k, out, stride, params) },
            _ => baseline(rows, k, out, stride, params),
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        #[inline(never)]
        fn neon(r: &[f32], k: usize, o: &mut [u8], s: usize, p: Params) {
            quantize_rows_slice::<false>(r, k, o, s, p)
        }
        neon(rows, k, out, stride, params)
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    quantize_rows_slice::<false>(rows, k, out, stride, params)
}

/// Where quantising writes each row's scale, zero point and outlier limit.
type Params<'a> = (&'a mut [f32], &'a mut [i32], &'a mut [f32]);

/// How a product's results go into `dst`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Write<'a> {
    /// Added to what `dst` holds, rather than replacing it.
    pub accumulate: bool,
    /// A row (one value per column) added to every row of results, after
    /// what `dst` holds and before the product: `(dst + bias) + a · Wᵀ`,
    /// the bits of adding the bias to `dst` first, in the same pass.
    pub bias: Option<&'a [f32]>,
}

/// `dst (m × n) = a · Wᵀ`, or `+=` when accumulating, with a bias when
/// `write` has one, spread over threads when large and `parallel`; `exact`
/// holds the values `a` was quantised from (what the weights' outliers
/// multiply). The caller must not touch `dst` meanwhile.
pub(crate) fn product(
    dst: Dest,
    (a, exact): (&QuantizedRows, &[f32]),
    w: &QuantizedWeight,
    write: Write<'_>,
    parallel: bool,
) {
    let (m, n) = (a.m, w.n);
    assert_eq!(a.k, w.k, "activations and weight differ in depth");
    assert!(dst.holds(m, n), "C is too small");
    assert!(
        write.bias.is_none_or(|b| b.len() >= n),
        "the bias is too short"
    );
    if m == 0 || n == 0 {
        return;
    }
    let panels = n.div_ceil(w.nr);
    if !parallel || !worth_threads(m * n * w.k) {
        block_dispatch(dst, a, (0, m), w, (0, panels), write);
    } else {
        block_tasks(m, MC, panels)
            .par_iter()
            .for_each(|&(rows, cols)| block_dispatch(dst, a, rows, w, cols, write));
    }
    add_outliers(dst, &a.outliers, (&w.scales, &w.by_input, n));
    assert!(exact.len() >= m * a.k, "the exact activations are too few");
    add_weight_outliers(dst, (&exact[..m * a.k], a.k), &w.outliers);
}

/// Adds each weight outlier's excess times its input in every row of
/// `exact` (rows of `k`) to its column of `dst`, on this thread: one
/// multiply-add per outlier and row, scattered, so not a vector kernel.
fn add_weight_outliers(dst: Dest, (exact, k): (&[f32], usize), outliers: &[WeightOutlier]) {
    if k == 0 || outliers.is_empty() {
        return;
    }
    for (r, row) in exact.chunks_exact(k).enumerate() {
        for o in outliers {
            // SAFETY: row r and every outlier's column lie inside `dst`
            // (checked in `product`), and the product is done.
            unsafe { *dst.at(r, o.column as usize) += row[o.input as usize] * o.excess };
        }
    }
}

simd_dispatch!(
    /// Adds each outlier's excess times its input's quantised weights to
    /// its row of `dst` (`n` columns), on this thread.
    fn add_outliers(dst: Dest, outliers: &[Outlier], weight: (&[f32], &[i8], usize)) => add_outliers_slice
);

#[inline(always)]
fn add_outliers_slice<_M: MulAdd>(
    dst: Dest,
    outliers: &[Outlier],
    (scales, by_input, n): (&[f32], &[i8], usize),
) {
    let scales = &scales[..n];
    for o in outliers {
        let column = &by_input[o.input as usize * n..][..n];
        // SAFETY: the outlier's row is one of the product's rows, which
        // `dst` holds (checked in `product`), and the product is done.
        let out = unsafe { std::slice::from_raw_parts_mut(dst.at(o.row as usize, 0), n) };
        for j in 0..n {
            out[j] += o.excess * (scales[j] * column[j] as f32);
        }
    }
}

/// A register tile: `sums[i·NR + j] = Σ a_i · panel_j` over the depth.
trait Int8Tile {
    const MR: usize;
    const NR: usize;
    /// The activation and weight values the tile reads.
    type A: Copy;
    type B: Copy;
    /// What the tile subtracts from every activation byte before
    /// multiplying (a kernel with signed products only reads `a − 128`):
    /// its sums are `Σ (qa − shift)·qw`, made whole again by taking the
    /// shift off the row's zero point, `Σ (qa − s)·qw − (za − s)·Σ qw`.
    const ACTIVATION_SHIFT: i32 = 0;

    /// The activations as this tile reads them.
    fn activations(a: &QuantizedRows) -> &[Self::A];
    /// The packed weight as this tile reads it.
    fn weights(w: &QuantizedWeight) -> &[Self::B];

    /// # Safety
    /// `starts[..MR]` must each address `depth` values, `panel`
    /// `depth · NR`, `depth` must be a multiple of [`GROUP`], and the caller
    /// must have enabled the kernel's instructions.
    unsafe fn tile(
        starts: &[*const Self::A; 8],
        panel: *const Self::B,
        depth: usize,
        sums: &mut [i32; 256],
    );
}

/// Rows `rows` of `a` times panels `panels` of `w`, tile by tile, each
/// tile's sums scaled into `dst`.
#[inline(always)]
fn block<T: Int8Tile>(
    dst: Dest,
    a: &QuantizedRows,
    rows: (usize, usize),
    w: &QuantizedWeight,
    panels: (usize, usize),
    write: Write<'_>,
) {
    let (mr, nr) = (T::MR, T::NR);
    assert_eq!(w.nr, nr, "packed for another tile width");
    let depth = w.depth;
    assert!(a.stride == depth && depth.is_multiple_of(GROUP));
    let (values, weights) = (T::activations(a), T::weights(w));
    assert!(rows.1 <= a.m && values.len() >= a.m * depth);
    let panel_len = depth * nr;
    assert!(weights.len() >= panels.1 * panel_len);
    let mut sums = [0i32; 256];
    let mut row_block = rows.0;
    while row_block < rows.1 {
        let block_end = (row_block + MC).min(rows.1);
        for p in panels.0..panels.1 {
            let panel = &weights[p * panel_len..(p + 1) * panel_len];
            let cols = nr.min(w.n - p * nr);
            let mut i = row_block;
            while i < block_end {
                let tile_rows = mr.min(block_end - i);
                let mut starts = [values.as_ptr(); 8];
                for (r, s) in starts.iter_mut().enumerate().take(mr) {
                    *s = values[(i + r.min(tile_rows - 1)) * depth..].as_ptr();
                }
                dst.prefetch_tile(i..i + tile_rows, p * nr, cols);
                // SAFETY: every row holds `depth` values and the panel
                // `depth · nr` (asserted above); the dispatch enabled the
                // kernel's instructions.
                unsafe { T::tile(&starts, panel.as_ptr(), depth, &mut sums) };
                let columns = p * nr..p * nr + cols;
                let bias = write.bias.map(|b| &b[columns.clone()]);
                let (w_scales, w_sums) = (&w.scales[columns.clone()], &w.sums[columns]);
                for r in 0..tile_rows {
                    // SAFETY: row i + r < m and columns p·nr..+cols < n lie
                    // inside `dst` (checked in `product`), and this task
                    // alone writes them.
                    let out =
                        unsafe { std::slice::from_raw_parts_mut(dst.at(i + r, p * nr), cols) };
                    scale_sums(
                        &sums[r * nr..r * nr + cols],
                        (a.scales[i + r], a.zeros[i + r] - T::ACTIVATION_SHIFT),
                        (w_scales, w_sums),
                        out,
                        (write.accumulate, bias),
                    );
                }
                i += mr;
            }
        }
        row_block = block_end;
    }
}

/// One row of a tile's integer sums scaled back to f32 into `out`:
/// `sa · sw · (Σ qa·qw − za · Σ qw)`, added when `accumulate`, after the
/// bias when there is one. Plain multiplications and additions, so that
/// every level gives the same bits.
#[inline(always)]
fn scale_sums(
    sums: &[i32],
    (scale, zero): (f32, i32),
    (w_scales, w_sums): (&[f32], &[i32]),
    out: &mut [f32],
    (accumulate, bias): (bool, Option<&[f32]>),
) {
    let n = out.len();
    let (sums, w_scales, w_sums) = (&sums[..n], &w_scales[..n], &w_sums[..n]);
    // A function, not a closure, so that it keeps the caller's level.
    #[inline(always)]
    fn scaled(scale: f32, w_scale: f32, sum: i32, zero: i32, w_sum: i32) -> f32 {
        (scale * w_scale) * (sum - zero * w_sum) as f32
    }
    match (accumulate, bias) {
        (true, Some(bias)) => {
            let bias = &bias[..n];
            for j in 0..n {
                let s = scaled(scale, w_scales[j], sums[j], zero, w_sums[j]);
                out[j] = (out[j] + bias[j]) + s;
            }
        }
        (false, Some(bias)) => {
            let bias = &bias[..n];
            for j in 0..n {
                out[j] = bias[j] + scaled(scale, w_scales[j], sums[j], zero, w_sums[j]);
            }
        }
        (true, None) => {
            for j in 0..n {
                out[j] += scaled(scale, w_scales[j], sums[j], zero, w_sums[j]);
            }
        }
        (false, None) => {
            for j in 0..n {
                out[j] = scaled(scale, w_scales[j], sums[j], zero, w_sums[j]);
            }
        }
    }
}

/// The operands of a tile that reads bytes: the activations' unsigned
/// bytes and the weight's signed ones (every tile but SSE2's).
macro_rules! reads_bytes {
    () => {
        type A = u8;
        type B = i8;

        fn activations(a: &QuantizedRows) -> &[u8] {
            &a.bytes
        }

        fn weights(w: &QuantizedWeight) -> &[i8] {
            &w.bytes
        }
    };
}

/// The portable tile: 4 rows × 8 columns of plain integer sums.
struct PortableTile;

impl Int8Tile for PortableTile {
    const MR: usize = 4;
    const NR: usize = 8;
    reads_bytes!();

    #[inline(always)]
    unsafe fn tile(starts: &[*const u8; 8], panel: *const i8, depth: usize, sums: &mut [i32; 256]) {
        let mut acc = [[0i32; 8]; 4];
        for g in 0..depth / GROUP {
            let b = &*(panel.add(g * 8 * GROUP) as *const [i8; 8 * GROUP]);
            for i in 0..4 {
                let a = &*(starts[i].add(g * GROUP) as *const [u8; GROUP]);
                for j in 0..8 {
                    let mut s = 0i32;
                    for l in 0..GROUP {
                        s += a[l] as i32 * b[j * GROUP + l] as i32;
                    }
                    acc[i][j] += s;
                }
            }
        }
        for i in 0..4 {
            sums[i * 8..i * 8 + 8].copy_from_slice(&acc[i]);
        }
    }
}

/// The 256-bit tile: 4 rows × 16 columns. With AVX2 (`VNNI` false),
/// `vpmaddubsw` multiplies bytes and adds neighbouring pairs into 16 bits
/// (never saturating, see the module's notes), `vpmaddwd` by ones adds
/// those pairs into 32 and `vpaddd` into the sums; with AVX-VNNI (the VEX
/// form of `vpdpbusd`) one instruction does all three. Same packing, same
/// sums.
#[cfg(target_arch = "x86_64")]
struct YmmTile<const VNNI: bool>;

#[cfg(target_arch = "x86_64")]
impl<const VNNI: bool> Int8Tile for YmmTile<VNNI> {
    const MR: usize = 4;
    const NR: usize = 16;
    reads_bytes!();

    #[inline(always)]
    unsafe fn tile(starts: &[*const u8; 8], panel: *const i8, depth: usize, sums: &mut [i32; 256]) {
        use std::arch::x86_64::*;
        let ones = _mm256_set1_epi16(1);
        let mut acc = [[_mm256_setzero_si256(); 2]; 4];
        let mut bp = panel as *const __m256i;
        for g in 0..depth / GROUP {
            let b = [_mm256_loadu_si256(bp), _mm256_loadu_si256(bp.add(1))];
            for i in 0..4 {
                let a =
                    _mm256_set1_epi32((starts[i].add(g * GROUP) as *const i32).read_unaligned());
                for j in 0..2 {
                    acc[i][j] = if VNNI {
                        _mm256_dpbusd_avx_epi32(acc[i][j], a, b[j])
                    } else {
                        let pairs = _mm256_maddubs_epi16(a, b[j]);
                        _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(pairs, ones))
                    };
                }
            }
            bp = bp.add(2);
        }
        for i in 0..4 {
            let out = sums.as_mut_ptr().add(i * 16) as *mut __m256i;
            _mm256_storeu_si256(out, acc[i][0]);
            _mm256_storeu_si256(out.add(1), acc[i][1]);
        }
    }
}

/// The SSE2 tile (the x86-64 baseline, which has no `pmaddubsw`): 4 rows ×
/// 8 columns of `pmaddwd`, which multiplies 16-bit words and adds each pair
/// into 32 bits.
#[cfg(target_arch = "x86_64")]
struct Sse2Tile;

#[cfg(target_arch = "x86_64")]
impl Int8Tile for Sse2Tile {
    const MR: usize = 4;
    const NR: usize = 8;
    type A = i16;
    type B = i16;

    fn activations(a: &QuantizedRows) -> &[i16] {
        &a.words
    }

    fn weights(w: &QuantizedWeight) -> &[i16] {
        &w.words
    }

    #[inline(always)]
    unsafe fn tile(
        starts: &[*const i16; 8],
        panel: *const i16,
        depth: usize,
        sums: &mut [i32; 256],
    ) {
        use std::arch::x86_64::*;
        let mut acc = [[_mm_setzero_si128(); 2]; 4];
        let mut bp = panel as *const __m128i;
        for t in 0..depth / 2 {
            let b0 = _mm_loadu_si128(bp);
            let b1 = _mm_loadu_si128(bp.add(1));
            for i in 0..4 {
                let a = _mm_set1_epi32((starts[i].add(2 * t) as *const i32).read_unaligned());
                acc[i][0] = _mm_add_epi32(acc[i][0], _mm_madd_epi16(a, b0));
                acc[i][1] = _mm_add_epi32(acc[i][1], _mm_madd_epi16(a, b1));
            }
            bp = bp.add(2);
        }
        for i in 0..4 {
            let out = sums.as_mut_ptr().add(i * 8) as *mut __m128i;
            _mm_storeu_si128(out, acc[i][0]);
            _mm_storeu_si128(out.add(1), acc[i][1]);
        }
    }
}

/// The AVX-512 VNNI tile: 8 rows × 32 columns; `vpdpbusd` multiplies bytes
/// and adds each group of 4 into a 32-bit sum in one instruction.
#[cfg(target_arch = "x86_64")]
struct VnniTile;

#[cfg(target_arch = "x86_64")]
impl Int8Tile for VnniTile {
    const MR: usize = 8;
    const NR: usize = 32;
    reads_bytes!();

    #[inline(always)]
    unsafe fn tile(starts: &[*const u8; 8], panel: *const i8, depth: usize, sums: &mut [i32; 256]) {
        use std::arch::x86_64::*;
        let mut acc = [[_mm512_setzero_si512(); 2]; 8];
        let mut bp = panel as *const __m512i;
        for g in 0..depth / GROUP {
            let b0 = _mm512_loadu_si512(bp);
            let b1 = _mm512_loadu_si512(bp.add(1));
            for i in 0..8 {
                let a =
                    _mm512_set1_epi32((starts[i].add(g * GROUP) as *const i32).read_unaligned());
                acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], a, b0);
                acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], a, b1);
            }
            bp = bp.add(2);
        }
        for i in 0..8 {
            let out = sums.as_mut_ptr().add(i * 32) as *mut __m512i;
            _mm512_storeu_si512(out, acc[i][0]);
            _mm512_storeu_si512(out.add(1), acc[i][1]);
        }
    }
}

/// The NEON dot-product tile: 4 rows × 16 columns. `sdot` multiplies
/// signed bytes only, so activation bytes are read as `qa − 128` (an
/// exclusive or with 0x80; see [`Int8Tile::ACTIVATION_SHIFT`]), and by
/// lane: one 16-byte load holds four groups of a row, and each `sdot`
/// multiplies one of them by four columns' groups of the panel.
#[cfg(target_arch = "aarch64")]
struct NeonDotTile;

/// `acc += b · a[lane]`: each 32-bit lane of `acc` gains the dot product
/// of its 4 bytes of `b` with the 4 bytes of group `lane` of `a`. Written
/// as assembly because the dot-product intrinsics are not stable Rust.
#[cfg(target_arch = "aarch64")]
macro_rules! sdot_lane {
    ($acc:expr, $b:expr, $a:expr, $lane:literal) => {
        std::arch::asm!(
            concat!("sdot {acc:v}.4s, {b:v}.16b, {a:v}.4b[", stringify!($lane), "]"),
            acc = inout(vreg) $acc,
            b = in(vreg) $b,
            a = in(vreg) $a,
            options(pure, nomem, nostack, preserves_flags)
        )
    };
}

#[cfg(target_arch = "aarch64")]
impl Int8Tile for NeonDotTile {
    const MR: usize = 4;
    const NR: usize = 16;
    const ACTIVATION_SHIFT: i32 = 128;
    reads_bytes!();

    #[inline(always)]
    unsafe fn tile(starts: &[*const u8; 8], panel: *const i8, depth: usize, sums: &mut [i32; 256]) {
        use std::arch::aarch64::*;
        let flip = vdupq_n_u8(0x80);
        let mut acc = [[vdupq_n_s32(0); 4]; 4];
        let mut bp = panel;
        // One group of the 4 rows times the panel's next group of every
        // column (4 registers).
        macro_rules! group {
            ($a:expr, $lane:literal) => {
                let b = [
                    vld1q_s8(bp),
                    vld1q_s8(bp.add(16)),
                    vld1q_s8(bp.add(32)),
                    vld1q_s8(bp.add(48)),
                ];
                for i in 0..4 {
                    for j in 0..4 {
                        sdot_lane!(acc[i][j], b[j], $a[i], $lane);
                    }
                }
                bp = bp.add(4 * 16);
            };
        }
        let groups = depth / GROUP;
        let mut g = 0;
        // Four groups of each row at a time, one lane each.
        while g + 4 <= groups {
            let mut a = [vdupq_n_s8(0); 4];
            for i in 0..4 {
                let bytes = vld1q_u8(starts[i].add(g * GROUP));
                a[i] = vreinterpretq_s8_u8(veorq_u8(bytes, flip));
            }
            group!(a, 0);
            group!(a, 1);
            group!(a, 2);
            group!(a, 3);
            g += 4;
        }
        // The last groups one at a time, in lane 0.
        while g < groups {
            let mut a = [vdupq_n_s8(0); 4];
            for i in 0..4 {
                let word = (starts[i].add(g * GROUP) as *const u32).read_unaligned();
                a[i] = vreinterpretq_s8_u8(veorq_u8(vreinterpretq_u8_u32(vdupq_n_u32(word)), flip));
            }
            group!(a, 0);
            g += 1;
        }
        for i in 0..4 {
            for j in 0..4 {
                vst1q_s32(sums.as_mut_ptr().add(i * 16 + j * 4), acc[i][j]);
            }
        }
    }
}

/// [`block`] for the kernel `w` was packed for, each an `#[inline(never)]`
/// function named after it.
fn block_dispatch(
    dst: Dest,
    a: &QuantizedRows,
    rows: (usize, usize),
    w: &QuantizedWeight,
    panels: (usize, usize),
    write: Write<'_>,
) {
    #[inline(never)]
    fn int8_portable(
        dst: Dest,
        a: &QuantizedRows,
        rows: (usize, usize),
        w: &QuantizedWeight,
        panels: (usize, usize),
        write: Write<'_>,
    ) {
        block::<PortableTile>(dst, a, rows, w, panels, write)
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2")]
        #[inline(never)]
        fn int8_vnni(
            dst: Dest,
            a: &QuantizedRows,
            rows: (usize, usize),
            w: &QuantizedWeight,
            panels: (usize, usize),
            write: Write<'_>,
        ) {
            block::<VnniTile>(dst, a, rows, w, panels, write)
        }
        #[target_feature(enable = "avx2,avxvnni")]
        #[inline(never)]
        fn int8_avx_vnni(
            dst: Dest,
            a: &QuantizedRows,
            rows: (usize, usize),
            w: &QuantizedWeight,
            panels: (usize, usize),
            write: Write<'_>,
        ) {
            block::<YmmTile<true>>(dst, a, rows, w, panels, write)
        }
        #[target_feature(enable = "avx2")]
        #[inline(never)]
        fn int8_avx2(
            dst: Dest,
            a: &QuantizedRows,
            rows: (usize, usize),
            w: &QuantizedWeight,
            panels: (usize, usize),
            write: Write<'_>,
        ) {
            block::<YmmTile<false>>(dst, a, rows, w, panels, write)
        }
        #[inline(never)]
        fn int8_sse2(
            dst: Dest,
            a: &QuantizedRows,
            rows: (usize, usize),
            w: &QuantizedWeight,
            panels: (usize, usize),
            write: Write<'_>,
        ) {
            block::<Sse2Tile>(dst, a, rows, w, panels, write)
        }
        match w.kernel {
            // SAFETY: the kernel was chosen by `Int8Kernel::for_level`, which
            // checked that the CPU has its instructions.
            Int8Kernel::Vnni => return unsafe { int8_vnni(dst, a, rows, w, panels, write) },
            // SAFETY: as above.
            Int8Kernel::AvxVnni => return unsafe { int8_avx_vnni(dst, a, rows, w, panels, write) },
            // SAFETY: as above.
            Int8Kernel::Avx2 => return unsafe { int8_avx2(dst, a, rows, w, panels, write) },
            Int8Kernel::Sse2 => return int8_sse2(dst, a, rows, w, panels, write),
            Int8Kernel::NeonDot | Int8Kernel::Portable => {}
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        #[target_feature(enable = "neon,dotprod")]
        #[inline(never)]
        fn int8_neon_dot(
            dst: Dest,
            a: &QuantizedRows,
            rows: (usize, usize),
            w: &QuantizedWeight,
            panels: (usize, usize),
            write: Write<'_>,
        ) {
            block::<NeonDotTile>(dst, a, rows, w, panels, write)
        }
        if w.kernel == Int8Kernel::NeonDot {
            // SAFETY: the kernel was chosen by `Int8Kernel::for_level`, which
            // checked that the CPU has the dot-product instructions.
            return unsafe { int8_neon_dot(dst, a, rows, w, panels, write) };
        }
    }
    int8_portable(dst, a, rows, w, panels, write)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.0) - 1.0)
            .collect()
    }

    /// `a (m × k) · wfᵀ (wf: n × k)`, summed in f64.
    fn exact_product(a: &[f32], wf: &[f32], (m, n, k): (usize, usize, usize)) -> Vec<f32> {
        (0..m * n)
            .map(|idx| {
                let (i, j) = (idx / n, idx % n);
                (0..k)
                    .map(|kk| a[i * k + kk] as f64 * wf[j * k + kk] as f64)
                    .sum::<f64>() as f32
            })
            .collect()
    }

    fn run(
        a: &[f32],
        m: usize,
        k: usize,
        w: &QuantizedWeight,
        start: f32,
        accumulate: bool,
    ) -> Vec<f32> {
        let mut rows = QuantizedRows::default();
        rows.quantize(a, (m, k), w.kernel(), true);
        let mut c = vec![start; m * w.cols()];
        let n = w.cols();
        let write = Write {
            accumulate,
            bias: None,
        };
        product(Dest::new(&mut c, n), (&rows, a), w, write, true);
        // One thread gives the same values.
        let mut serial = QuantizedRows::default();
        serial.quantize(a, (m, k), w.kernel(), false);
        let mut alone = vec![start; m * n];
        product(Dest::new(&mut alone, n), (&serial, a), w, write, false);
        assert_eq!(alone, c, "one thread and several differ");
        c
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn avx2_quantising_gives_the_same_bytes_as_sse2() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("skipped: this CPU has no AVX2");
            return;
        }
        for &(m, k) in &[(1, 1), (3, 31), (2, 32), (4, 33), (5, 384), (2, 1537)] {
            let mut a: Vec<f32> = values(m * k, 3).iter().map(|v| v * 7.0 - 1.5).collect();
            // Odd values: NaN and infinities are passed over or bounded,
            // zero and ties land on the same step.
            for (i, odd) in [f32::NAN, f32::INFINITY, -0.0, 0.5, f32::NEG_INFINITY]
                .into_iter()
                .enumerate()
            {
                if (i + 1) * 7 < a.len() && m > 2 {
                    a[(i + 1) * 7] = odd;
                }
            }
            let stride = k.div_ceil(GROUP) * GROUP;
            // And an outlier in the last row, so that a row is clipped.
            let last = a.len() - 1;
            a[last - k / 2] = 1e4;
            let run = |wide: bool| {
                let (mut out, mut scales, mut zeros, mut limits) = (
                    vec![7u8; m * stride],
                    vec![0.0; m],
                    vec![0; m],
                    vec![0.0; m],
                );
                let params = (&mut scales[..], &mut zeros[..], &mut limits[..]);
                if wide {
                    quantize_rows_slice::<true>(&a, k, &mut out, stride, params);
                } else {
                    quantize_rows_slice::<false>(&a, k, &mut out, stride, params);
                }
                (out, scales, zeros, limits)
            };
            let (narrow, wide) = (run(false), run(true));
            assert_eq!(narrow.0, wide.0, "{m} × {k}: bytes differ");
            assert_eq!(narrow.1, wide.1, "{m} × {k}: scales differ");
            assert_eq!(narrow.2, wide.2, "{m} × {k}: zero points differ");
            assert_eq!(narrow.3, wide.3, "{m} × {k}: outlier limits differ");
            if k >= 384 {
                // Only the last row is clipped.
                let finite: Vec<bool> = narrow.3.iter().map(|l| l.is_finite()).collect();
                let mut want = vec![false; m];
                want[m - 1] = true;
                assert_eq!(finite, want, "{m} × {k}: limits {:?}", narrow.3);
            }
            assert!(
                narrow.0.iter().any(|&b| b > 200) && narrow.0.iter().any(|&b| b < 50) || m * k < 40
            );
        }
    }

    #[test]
    fn a_bias_in_the_same_pass_gives_the_bits_of_adding_it_first() {
        let (m, n, k) = (9, 37, 70);
        let a = values(m * k, 4);
        let wf = values(n * k, 5);
        let bias: Vec<f32> = values(n, 6).iter().map(|v| v * 3.0).collect();
        let start = values(m * n, 7);
        for kernel in Int8Kernel::available() {
            let w = QuantizedWeight::for_kernel(&wf, n, k, kernel);
            let mut rows = QuantizedRows::default();
            rows.quantize(&a, (m, k), kernel, false);
            for accumulate in [false, true] {
                // The bias added first, then the product.
                let mut first: Vec<f32> = if accumulate {
                    start.clone()
                } else {
                    vec![0.0; m * n]
                };
                for row in first.chunks_mut(n) {
                    for (v, b) in row.iter_mut().zip(&bias) {
                        *v = if accumulate { *v + b } else { *b };
                    }
                }
                let plain = Write {
                    accumulate: true,
                    bias: None,
                };
                product(Dest::new(&mut first, n), (&rows, &a), &w, plain, false);
                let mut fused = if accumulate {
                    start.clone()
                } else {
                    vec![f32::NAN; m * n]
                };
                let write = Write {
                    accumulate,
                    bias: Some(&bias),
                };
                product(Dest::new(&mut fused, n), (&rows, &a), &w, write, true);
                assert_eq!(first, fused, "{}: accumulate {accumulate}", kernel.name());
            }
        }
    }

    #[test]
    fn products_are_close_to_f32_and_identical_on_every_kernel() {
        for &(m, n, k) in &[
            (1, 1, 1),
            (5, 7, 3),
            (9, 33, 257),
            (70, 70, 384),
            (130, 96, 1536),
        ] {
            // Shifted activations, as after GELU: mostly positive.
            let a: Vec<f32> = values(m * k, 1).iter().map(|v| v + 0.4).collect();
            let wf = values(n * k, 2);
            let exact = exact_product(&a, &wf, (m, n, k));
            let scale = exact.iter().fold(0f32, |s, v| s.max(v.abs())).max(1e-6);
            let mut first: Option<Vec<f32>> = None;
            for kernel in Int8Kernel::available() {
                let w = QuantizedWeight::for_kernel(&wf, n, k, kernel);
                assert_eq!(w.kernel(), kernel);
                let c = run(&a, m, k, &w, f32::NAN, false);
                let worst = c
                    .iter()
                    .zip(&exact)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0f32, f32::max);
                assert!(
                    worst <= 0.02 * scale,
                    "{}: {m}×{n}×{k}: off by {worst} (largest {scale})",
                    kernel.name()
                );
                // Accumulating adds to what is there.
                let twice = run(&a, m, k, &w, 1.0, true);
                for (t, v) in twice.iter().zip(&c) {
                    assert_eq!(*t, 1.0 + v, "{}: accumulate", kernel.name());
                }
                match &first {
                    None => first = Some(c),
                    Some(f) => assert_eq!(f, &c, "{} differs from portable", kernel.name()),
                }
            }
        }
    }

    #[test]
    fn an_outlier_keeps_the_rest_of_its_row_fine() {
        // Rows as BERT's: values of about 1, and in some rows one value
        // hundreds of times larger (a row of 1,536 spread over 256 steps of
        // ±400 would have steps of 3).
        let (m, n, k) = (70, 40, 1536);
        let mut a: Vec<f32> = values(m * k, 8).iter().map(|v| 2.0 * v).collect();
        let outliers = [
            (0, 5, 400.0),
            (3, 1535, -250.0),
            (3, 17, 90.0),
            (69, 0, 300.0),
        ];
        for &(row, input, value) in &outliers {
            a[row * k + input] = value;
        }
        // And two weights of 30 and −20 among weights of about 0.5.
        let mut wf = values(n * k, 9);
        wf[3 * k + 17] = 30.0;
        wf[39 * k + 1000] = -20.0;
        let exact = exact_product(&a, &wf, (m, n, k));
        let mut first: Option<Vec<f32>> = None;
        for kernel in Int8Kernel::available() {
            let w = QuantizedWeight::for_kernel(&wf, n, k, kernel);
            let held: Vec<(u32, u32)> = w.outliers.iter().map(|o| (o.column, o.input)).collect();
            assert_eq!(held, vec![(3, 17), (39, 1000)], "{}", kernel.name());
            let mut rows = QuantizedRows::default();
            rows.quantize(&a, (m, k), kernel, true);
            let found: Vec<(u32, u32)> = rows.outliers.iter().map(|o| (o.row, o.input)).collect();
            let mut want: Vec<(u32, u32)> = outliers
                .iter()
                .map(|&(r, i, _)| (r as u32, i as u32))
                .collect();
            want.sort();
            assert_eq!(found, want, "{}", kernel.name());
            let c = run(&a, m, k, &w, f32::NAN, false);
            // A row with outliers has steps of 20 mean magnitudes over 255
            // at most (about 0.1 here) and the outliers' excess added in
            // f32: off by about 3 at worst over 1,536 products (the
            // weights' rounding times 400 included), where steps spanning
            // the outliers (400 / 255) put it off by 160.
            for (i, (got, want)) in c.chunks(n).zip(exact.chunks(n)).enumerate() {
                let worst = got
                    .iter()
                    .zip(want)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0f32, f32::max);
                assert!(worst < 5.0, "{}: row {i} off by {worst}", kernel.name());
            }
            match &first {
                None => first = Some(c),
                Some(f) => assert_eq!(f, &c, "{} differs from the first kernel", kernel.name()),
            }
        }
    }

    #[test]
    fn neighbouring_weights_of_one_sign_never_saturate() {
        // Every activation at the top step and neighbouring weights equal:
        // with 127 steps each, a pair would sum 2 × 255 × 127 in 16 bits.
        let (m, n, k) = (6, 40, 64);
        let a = vec![3.0f32; m * k];
        let mut wf = values(n * k, 5);
        for j in 0..n / 2 {
            let sign = if j % 2 == 0 { 1.0 } else { -1.0 };
            wf[j * k..(j + 1) * k].fill(sign * 0.5);
        }
        for j in 0..n {
            let (_, q, _) = quantize_channel(&wf[j * k..(j + 1) * k]).unwrap();
            assert!(q.iter().all(|v| v.unsigned_abs() <= 127));
            for pair in q.chunks(2) {
                if pair[0].signum() == pair[1].signum() {
                    let sum = pair[0].unsigned_abs() as i32 + pair[1].unsigned_abs() as i32;
                    assert!(sum <= PAIR_STEPS, "channel {j}: pair {pair:?}");
                }
            }
        }
        // (the product, the sum of its terms' magnitudes)
        let exact: Vec<(f32, f32)> = (0..m * n)
            .map(|idx| {
                let w = &wf[(idx % n) * k..(idx % n + 1) * k];
                (
                    w.iter().map(|v| 3.0 * v).sum(),
                    w.iter().map(|v| 3.0 * v.abs()).sum(),
                )
            })
            .collect();
        for kernel in Int8Kernel::available() {
            let w = QuantizedWeight::for_kernel(&wf, n, k, kernel);
            let c = run(&a, m, k, &w, f32::NAN, false);
            for (idx, (got, (want, size))) in c.iter().zip(&exact).enumerate() {
                assert!(
                    (got - want).abs() <= 0.01 * size,
                    "{}: ({}, {}): {got} vs {want}",
                    kernel.name(),
                    idx / n,
                    idx % n
                );
            }
        }
    }

    #[test]
    fn a_channel_scale_comes_from_its_largest_value_and_widest_pair_of_one_sign() {
        for seed in 0..20 {
            let row = values(97, seed);
            let largest = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let widest = row
                .chunks_exact(2)
                .filter(|p| (p[0] >= 0.0) == (p[1] >= 0.0))
                .map(|p| p[0].abs() + p[1].abs())
                .fold(0f32, f32::max);
            let (scale, q, held) = quantize_channel(&row).unwrap();
            assert!(held.is_empty());
            assert_eq!(
                scale,
                (largest / WEIGHT_STEPS).max(widest / PAIR_STEPS as f32)
            );
            for (v, q) in row.iter().zip(&q) {
                assert!((v / scale - *q as f32).abs() <= 1.0, "{v} -> {q}");
            }
        }
        // A value that is not a number becomes 0; the others keep their steps.
        let (scale, q, held) = quantize_channel(&[0.5, f32::NAN, -1.0, 0.25]).unwrap();
        assert!(held.is_empty());
        assert_eq!(scale, 1.0 / WEIGHT_STEPS);
        assert_eq!(q, vec![64, 0, -127, 32]);
    }

    #[test]
    fn zero_rows_and_weights_give_zero() {
        let (m, n, k) = (3, 5, 8);
        let mut wf = values(n * k, 3);
        wf[..k].fill(0.0);
        let mut a = values(m * k, 4);
        a[k..2 * k].fill(0.0);
        for kernel in Int8Kernel::available() {
            let w = QuantizedWeight::for_kernel(&wf, n, k, kernel);
            let c = run(&a, m, k, &w, f32::NAN, false);
            for i in 0..m {
                assert_eq!(c[i * n], 0.0, "zero weight column");
                assert!(c[i * n..(i + 1) * n].iter().all(|v| v.is_finite()));
            }
            assert!(c[n..2 * n].iter().all(|v| *v == 0.0), "zero row");
        }
    }
}
