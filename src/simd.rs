//! Which vector instructions the crate's numeric kernels use, and the means
//! to run each kernel with them: the level in force ([`level`], the best the
//! CPU has, capped by the `RELATE_SIMD` environment variable so that every
//! level can be tested and measured on any machine), the `simd_dispatch`
//! macro that every kernel uses, and the one dot product that search, topics
//! and their tests share (so that scores agree wherever they are computed).
//!
//! A kernel is written once as a portable `#[inline(always)]` function that
//! is generic over `MulAdd`; the macro compiles it once per level (AVX-512,
//! AVX2 + FMA, baseline on x86-64; NEON on aarch64) and picks one at run
//! time. Kernels use plain indexed loops over fixed-size lane arrays, never
//! closures handed to iterator adaptors: a closure is compiled without the
//! level's target features, and a fused multiply-add there becomes a library
//! call per element.

// Kernels index fixed-size lane arrays on purpose (see above): iterator
// adaptors with closures can lose the level's target features.
#![allow(clippy::needless_range_loop)]

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

/// A set of vector instructions a kernel can be compiled for.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SimdLevel {
    /// What every CPU of the architecture has (SSE2 on x86-64).
    Baseline,
    /// NEON with fused multiply-add (every aarch64 CPU).
    Neon,
    /// AVX2 with FMA (x86-64-v3).
    Avx2,
    /// AVX-512F with FMA (x86-64-v4).
    Avx512,
}

impl SimdLevel {
    /// The name used by `RELATE_SIMD` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Baseline => "baseline",
            SimdLevel::Neon => "neon",
            SimdLevel::Avx2 => "avx2",
            SimdLevel::Avx512 => "avx512",
        }
    }

    /// Every level this architecture's builds know, lowest first.
    pub fn all_for_arch() -> &'static [SimdLevel] {
        if cfg!(target_arch = "x86_64") {
            &[SimdLevel::Baseline, SimdLevel::Avx2, SimdLevel::Avx512]
        } else if cfg!(target_arch = "aarch64") {
            &[SimdLevel::Baseline, SimdLevel::Neon]
        } else {
            &[SimdLevel::Baseline]
        }
    }

    /// The levels this CPU can run, lowest first.
    pub fn available() -> Vec<SimdLevel> {
        let best = detected();
        SimdLevel::all_for_arch()
            .iter()
            .copied()
            .filter(|l| *l <= best)
            .collect()
    }

    /// [`SimdLevel::available`], none above the cap `RELATE_SIMD` sets: the
    /// levels a bench reports, so that any machine shows the figures of a
    /// CPU without its best instructions.
    pub fn available_within_cap() -> Vec<SimdLevel> {
        let highest = level_from_env();
        SimdLevel::available()
            .into_iter()
            .filter(|l| *l <= highest)
            .collect()
    }
}

impl fmt::Display for SimdLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for SimdLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "baseline" | "scalar" | "none" => Ok(SimdLevel::Baseline),
            "neon" => Ok(SimdLevel::Neon),
            "avx2" => Ok(SimdLevel::Avx2),
            "avx512" | "avx-512" => Ok(SimdLevel::Avx512),
            other => Err(format!(
                "unknown SIMD level {other:?}: expected baseline, avx2, avx512 or neon"
            )),
        }
    }
}

/// The best level this CPU supports.
pub fn detected() -> SimdLevel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("fma")
        {
            return SimdLevel::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return SimdLevel::Avx2;
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            return SimdLevel::Neon;
        }
    }
    SimdLevel::Baseline
}

/// The highest level at most `cap` that the CPU supports. A cap from the
/// other architecture (e.g. `avx2` on aarch64) allows that architecture's
/// vector level.
pub fn capped(cap: SimdLevel) -> SimdLevel {
    let best = detected();
    if cap == SimdLevel::Baseline {
        return SimdLevel::Baseline;
    }
    let cap_here = match (cap, best) {
        (SimdLevel::Avx2 | SimdLevel::Avx512, SimdLevel::Neon) => SimdLevel::Neon,
        (SimdLevel::Neon, SimdLevel::Avx2 | SimdLevel::Avx512) => SimdLevel::Avx512,
        (cap, _) => cap,
    };
    cap_here.min(best)
}

/// The level in force, once chosen (`UNSET` before).
static LEVEL: AtomicU8 = AtomicU8::new(UNSET);
const UNSET: u8 = u8::MAX;

fn encode(level: SimdLevel) -> u8 {
    level as u8
}

fn decode(code: u8) -> SimdLevel {
    match code {
        0 => SimdLevel::Baseline,
        1 => SimdLevel::Neon,
        2 => SimdLevel::Avx2,
        _ => SimdLevel::Avx512,
    }
}

/// The level the kernels use in this process: the best the CPU has, or
/// lower when `RELATE_SIMD` (baseline, avx2, avx512, neon) asks for less.
/// A level above what the CPU has is never used; an unknown value is
/// reported once on standard error and ignored.
pub fn level() -> SimdLevel {
    let code = LEVEL.load(Ordering::Relaxed);
    if code != UNSET {
        return decode(code);
    }
    let chosen = level_from_env();
    match LEVEL.compare_exchange(UNSET, encode(chosen), Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => chosen,
        Err(other) => decode(other),
    }
}

/// The best level the CPU has, capped by `RELATE_SIMD`; an unknown value
/// is reported on standard error and ignored.
fn level_from_env() -> SimdLevel {
    match std::env::var("RELATE_SIMD") {
        Ok(value) if !value.trim().is_empty() => match value.parse::<SimdLevel>() {
            Ok(cap) => capped(cap),
            Err(problem) => {
                eprintln!("warning: RELATE_SIMD: {problem}; using {}", detected());
                detected()
            }
        },
        _ => detected(),
    }
}

/// Sets the level in force to the highest at most `cap` that the CPU
/// supports, and returns it. For benchmarks and tools that compare levels
/// in one process: a model loaded before the change keeps the level it was
/// prepared for.
pub fn set_level(cap: SimdLevel) -> SimdLevel {
    let chosen = capped(cap);
    LEVEL.store(encode(chosen), Ordering::Relaxed);
    chosen
}

/// How a kernel computes `a * b + c`: fused on levels that have a fused
/// multiply-add instruction, as a separate multiply and add elsewhere (where
/// `f32::mul_add` would be a software library call per element).
pub(crate) trait MulAdd {
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

/// `a * b + c` in one rounding (an FMA instruction).
pub(crate) struct Fused;

/// `a * b + c` as a multiply then an add.
pub(crate) struct Separate;

impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

impl MulAdd for Separate {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// The [`MulAdd`] of the portable build: fused where the architecture's
/// baseline has an FMA instruction (aarch64), separate elsewhere.
#[cfg(target_arch = "aarch64")]
pub(crate) type BaselineMulAdd = Fused;
#[cfg(not(target_arch = "aarch64"))]
pub(crate) type BaselineMulAdd = Separate;

/// Defines `$name`, which runs `$portable::<M>` compiled for the level in
/// force ([`level`]): AVX-512 or AVX2 with FMA, else the portable build (on
/// aarch64 NEON, which every aarch64 CPU has), each an `#[inline(never)]`
/// function named after the level (`neon` on aarch64), so that tests can
/// inspect its machine code. `$portable` must be `#[inline(always)]`
/// and generic over one [`MulAdd`] parameter.
macro_rules! simd_dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? => $portable:ident) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                #[inline(never)]
                fn avx512($($arg: $ty),*) $(-> $ret)? {
                    $portable::<$crate::simd::Fused>($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                #[inline(never)]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $portable::<$crate::simd::Fused>($($arg),*)
                }
                #[inline(never)]
                fn baseline($($arg: $ty),*) $(-> $ret)? {
                    $portable::<$crate::simd::Separate>($($arg),*)
                }
                match $crate::simd::level() {
                    // SAFETY: `level` never exceeds what the CPU supports.
                    $crate::simd::SimdLevel::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    $crate::simd::SimdLevel::Avx2 => return unsafe { avx2($($arg),*) },
                    _ => return baseline($($arg),*),
                }
            }
            #[cfg(target_arch = "aarch64")]
            {
                #[inline(never)]
                fn neon($($arg: $ty),*) $(-> $ret)? {
                    $portable::<$crate::simd::BaselineMulAdd>($($arg),*)
                }
                return neon($($arg),*);
            }
            #[allow(unreachable_code)]
            {
                $portable::<$crate::simd::BaselineMulAdd>($($arg),*)
            }
        }
    };
}
pub(crate) use simd_dispatch;

/// Lanes summed independently so the compiler can vectorise the loop.
const LANES: usize = 32;

/// Multiplies and adds separately whatever the level (`_M` is ignored), so
/// that the same inputs give the same bits on every CPU: the vector builds
/// only widen the loop, and scores, rankings and topics do not depend on the
/// machine.
#[inline(always)]
fn dot_lanes<_M: MulAdd>(a: &[f32], b: &[f32]) -> f32 {
    type M = Separate;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let full = n / LANES * LANES;
    let mut i = 0;
    while i < full {
        let (x, y) = (&a[i..i + LANES], &b[i..i + LANES]);
        for l in 0..LANES {
            acc[l] = M::mul_add(x[l], y[l], acc[l]);
        }
        i += LANES;
    }
    let mut tail = 0.0f32;
    for j in full..n {
        tail = M::mul_add(a[j], b[j], tail);
    }
    sum_lanes(&acc) + tail
}

/// Sum of 32 lanes by halving (a fixed order, so every build adds alike).
#[inline(always)]
fn sum_lanes(acc: &[f32; LANES]) -> f32 {
    let mut s = [0f32; 16];
    for l in 0..16 {
        s[l] = acc[l] + acc[l + 16];
    }
    let mut t = [0f32; 8];
    for l in 0..8 {
        t[l] = s[l] + s[l + 8];
    }
    let u = [t[0] + t[4], t[1] + t[5], t[2] + t[6], t[3] + t[7]];
    (u[0] + u[2]) + (u[1] + u[3])
}

/// Asks the CPU to bring `data` into its caches ahead of use, one hint per
/// 64-byte line; a hint, so it never faults and changes no result. A
/// no-op where the architecture has no such hint in its baseline.
#[inline]
pub(crate) fn prefetch<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        const LINE: usize = 64;
        let bytes = std::mem::size_of_val(data);
        let start = data.as_ptr().cast::<i8>();
        let mut at = 0;
        while at < bytes {
            // SAFETY: SSE is part of the x86-64 baseline; `start + at` lies
            // inside `data`, and a prefetch neither reads nor faults.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.add(at)) };
            at += LINE;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// Dot product of two slices (over the shorter length), the same bits on
/// every level. On x86-64 each level's build is written with intrinsics:
/// the compiler vectorised the portable loop at AVX2 with 4-wide registers
/// only.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;

        /// The 32 lanes of `dot_lanes`, `V` values to a register: each lane
        /// gets the same multiply then add as in the portable loop.
        macro_rules! lanes {
            ($vector:ty, $width:expr, $zero:ident, $load:ident, $mul:ident, $add:ident, $store:ident, $a:ident, $b:ident) => {{
                const REGS: usize = LANES / $width;
                let n = $a.len().min($b.len());
                let full = n / LANES * LANES;
                let mut acc: [$vector; REGS] = [$zero(); REGS];
                let (pa, pb) = ($a.as_ptr(), $b.as_ptr());
                let mut i = 0;
                while i < full {
                    for r in 0..REGS {
                        // SAFETY: i + LANES <= full <= both lengths.
                        let (x, y) = unsafe {
                            ($load(pa.add(i + r * $width)), $load(pb.add(i + r * $width)))
                        };
                        acc[r] = $add($mul(x, y), acc[r]);
                    }
                    i += LANES;
                }
                let mut lanes = [0f32; LANES];
                for r in 0..REGS {
                    // SAFETY: lanes holds REGS × width values.
                    unsafe { $store(lanes.as_mut_ptr().add(r * $width), acc[r]) };
                }
                let mut tail = 0.0f32;
                for j in full..n {
                    tail += $a[j] * $b[j];
                }
                sum_lanes(&lanes) + tail
            }};
        }

        #[target_feature(enable = "avx512f,avx2,fma")]
        #[inline(never)]
        fn avx512(a: &[f32], b: &[f32]) -> f32 {
            lanes!(
                __m512,
                16,
                _mm512_setzero_ps,
                _mm512_loadu_ps,
                _mm512_mul_ps,
                _mm512_add_ps,
                _mm512_storeu_ps,
                a,
                b
            )
        }
        #[target_feature(enable = "avx2,fma")]
        #[inline(never)]
        fn avx2(a: &[f32], b: &[f32]) -> f32 {
            lanes!(
                __m256,
                8,
                _mm256_setzero_ps,
                _mm256_loadu_ps,
                _mm256_mul_ps,
                _mm256_add_ps,
                _mm256_storeu_ps,
                a,
                b
            )
        }
        #[target_feature(enable = "sse2")]
        #[inline(never)]
        fn baseline(a: &[f32], b: &[f32]) -> f32 {
            lanes!(
                __m128,
                4,
                _mm_setzero_ps,
                _mm_loadu_ps,
                _mm_mul_ps,
                _mm_add_ps,
                _mm_storeu_ps,
                a,
                b
            )
        }
        match level() {
            // SAFETY: `level` never exceeds what the CPU supports.
            SimdLevel::Avx512 => return unsafe { avx512(a, b) },
            // SAFETY: as above.
            SimdLevel::Avx2 => return unsafe { avx2(a, b) },
            // SAFETY: SSE2 is part of every x86-64 CPU.
            _ => return unsafe { baseline(a, b) },
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        // Named, like the x86-64 levels, so that tests can inspect it.
        #[inline(never)]
        fn neon(a: &[f32], b: &[f32]) -> f32 {
            dot_lanes::<BaselineMulAdd>(a, b)
        }
        return neon(a, b);
    }
    #[allow(unreachable_code)]
    dot_lanes::<BaselineMulAdd>(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_sum_for_awkward_lengths() {
        for n in [0usize, 1, 7, 31, 32, 33, 384, 1000] {
            let a: Vec<f32> = (0..n).map(|i| ((i * 37) % 11) as f32 / 7.0 - 0.6).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 53) % 13) as f32 / 5.0 - 1.1).collect();
            let naive: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            assert!((dot(&a, &b) as f64 - naive).abs() < 1e-3, "n = {n}");
            assert_eq!(
                dot(&a, &b).to_bits(),
                dot_lanes::<Fused>(&a, &b).to_bits(),
                "every build gives the same bits"
            );
        }
    }

    #[test]
    fn caps_never_exceed_the_cpu_and_parse() {
        let best = detected();
        for cap in SimdLevel::all_for_arch() {
            let got = capped(*cap);
            assert!(got <= best, "{cap} gave {got} above {best}");
            assert!(SimdLevel::available().contains(&got));
        }
        assert_eq!(capped(SimdLevel::Baseline), SimdLevel::Baseline);
        assert_eq!("AVX2".parse::<SimdLevel>(), Ok(SimdLevel::Avx2));
        assert_eq!("avx512".parse::<SimdLevel>(), Ok(SimdLevel::Avx512));
        assert!("sse9".parse::<SimdLevel>().is_err());
        assert!(SimdLevel::available().contains(&level()));
    }
}
