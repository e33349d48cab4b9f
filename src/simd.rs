//! Running a loop with the best vector instructions the CPU offers, chosen
//! at run time: the [`simd_dispatch`] macro that every numeric kernel of the
//! crate uses, and the one dot product that search, topics and their tests
//! share (so that scores agree wherever they are computed).

/// Defines `$name`, which runs `$portable` compiled for the best vector
/// instructions the CPU offers: AVX-512, else AVX2 with FMA, else the
/// baseline. `$portable` must be `#[inline(always)]` so that each copy is
/// vectorised for its target.
macro_rules! simd_dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? => $portable:ident) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,fma")]
                fn avx512($($arg: $ty),*) $(-> $ret)? {
                    $portable($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $portable($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has the features `avx512` is compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has the features `avx2` is compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $portable($($arg),*)
        }
    };
}
pub(crate) use simd_dispatch;

/// Lanes summed independently so the compiler can vectorise the loop.
const LANES: usize = 32;

#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    acc.iter().sum::<f32>() + tail
}

simd_dispatch!(
    /// Dot product of two slices (over the shorter length). The same inputs
    /// give the same bits on every CPU: the vector builds only widen the loop.
    pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 => dot_lanes
);

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
                dot(&a, &b),
                dot_lanes(&a, &b),
                "dispatch and portable agree"
            );
        }
    }
}
