//! Matrix products of the packed CPU encoder, `C (+)= A · B`, compiled for
//! every SIMD level and chosen like every other kernel (so `RELATE_SIMD`
//! caps them too, and each level's figure can be measured on any machine).
//!
//! `B` is packed into column panels as wide as the level's register tile
//! (a linear layer's weight once, at load; attention's keys and values per
//! text and head), and `A` is read in place (rows with any stride, columns
//! contiguous). The work is blocked the usual way: a slice of the depth
//! (`KC`) of a block of `A` rows (`MC`) stays in the L2 cache while every
//! panel of `B` sweeps past it, and a register tile of `MR × NR` sums
//! accumulates each piece of `C`. On x86-64 each level's tile is written
//! with intrinsics (AVX-512 8×32, AVX2 6×16, SSE 6×8), so that its sums
//! stay in registers for the whole depth loop: the compiler, given plain
//! Rust arrays, kept them in registers but also stored every one to the
//! stack after each step, which halved the AVX-512 speed (a test inspects
//! the machine code for such stores). Elsewhere (NEON 6×16, 4×8) the tile is
//! plain Rust over fixed-size arrays.

// Kernels index fixed-size lane arrays on purpose (see above): iterator
// adaptors with closures can lose the level's target features.
#![allow(clippy::needless_range_loop)]

use rayon::prelude::*;

#[cfg(target_arch = "aarch64")]
use crate::simd::Fused;
#[cfg(not(target_arch = "x86_64"))]
use crate::simd::MulAdd;
use crate::simd::{level, prefetch, SimdLevel};

/// Depth handled per pass over a block (a panel slice of `KC × NR` stays in
/// the L1 cache).
const KC: usize = 384;
/// Rows of `A` per block (with `KC` of depth, 96 KiB in the L2 cache).
const MC: usize = 96;
/// How many columns ahead [`PackedB::pack_columns`] asks for.
const COLUMNS_AHEAD: usize = 4;
/// Below this many multiply-adds a product runs on one thread.
const PARALLEL_WORK: usize = 1 << 20;

/// The register tile of a level: rows × columns of `C` computed at once.
fn tile_shape(level: SimdLevel) -> (usize, usize) {
    match level {
        SimdLevel::Avx512 => (8, 32),
        SimdLevel::Avx2 | SimdLevel::Neon => (6, 16),
        SimdLevel::Baseline if cfg!(target_arch = "x86_64") => (6, 8),
        SimdLevel::Baseline => (4, 8),
    }
}

/// `B` (`k × n`) in column panels of `nr`: panel `p` holds, for each depth
/// `kk`, the `nr` values `B[kk][p·nr ..]` side by side (zero past `n`).
#[derive(Debug, Clone, Default)]
pub(crate) struct PackedB {
    k: usize,
    n: usize,
    nr: usize,
    level: Option<SimdLevel>,
    data: Vec<f32>,
}

impl PackedB {
    /// Packs `Wᵀ` for a linear layer's weight `w` (`n × k`, row-major:
    /// out × in), so that `A · B = A · Wᵀ`.
    pub(crate) fn from_weight(w: &[f32], n: usize, k: usize) -> Self {
        let mut packed = PackedB::default();
        packed.pack_columns(k, n, w, k);
        packed
    }

    /// Repacks this buffer (reusing its memory) for the level in force
    /// with `B[kk][j] = src[kk · row_step + j]`: `B`'s rows lie in `src`,
    /// `row_step` apart (attention's values).
    pub(crate) fn pack_rows(&mut self, k: usize, n: usize, src: &[f32], row_step: usize) {
        let Some(nr) = self.reshape(k, n, src.len(), (k, row_step, n)) else {
            return;
        };
        for (p, panel) in self.data.chunks_exact_mut(k * nr).enumerate() {
            let first = p * nr;
            let cols = nr.min(n - first);
            for (kk, dst) in panel.chunks_exact_mut(nr).enumerate() {
                let from = kk * row_step + first;
                dst[..cols].copy_from_slice(&src[from..from + cols]);
            }
        }
    }

    /// Repacks this buffer (reusing its memory) for the level in force
    /// with `B[kk][j] = src[j · row_step + kk]`: `B`'s columns lie in
    /// `src`, `row_step` apart (a linear layer's weight, attention's keys).
    pub(crate) fn pack_columns(&mut self, k: usize, n: usize, src: &[f32], row_step: usize) {
        let Some(nr) = self.reshape(k, n, src.len(), (n, row_step, k)) else {
            return;
        };
        for (p, panel) in self.data.chunks_exact_mut(k * nr).enumerate() {
            let first = p * nr;
            for jj in 0..nr.min(n - first) {
                let from = (first + jj) * row_step;
                // Columns far apart in `src` (attention's keys: a token's
                // row each) are fetched a few ahead.
                if let Some(ahead) = src.get(from + COLUMNS_AHEAD * row_step..) {
                    prefetch(&ahead[..k.min(ahead.len())]);
                }
                let column = &src[from..from + k];
                for (kk, &v) in column.iter().enumerate() {
                    panel[kk * nr + jj] = v;
                }
            }
        }
    }

    /// Sizes the buffer for `k × n` in panels of the level in force, with
    /// zeros in the columns past `n` (every other value is overwritten by
    /// the packer), and returns the panel width, or `None` when there is
    /// nothing to pack. `src_len` must hold `(lines, step, width)`: that
    /// many lines of `width` values, `step` apart.
    fn reshape(
        &mut self,
        k: usize,
        n: usize,
        src_len: usize,
        (lines, step, width): (usize, usize, usize),
    ) -> Option<usize> {
        assert!(
            lines == 0 || width == 0 || src_len >= (lines - 1) * step + width,
            "B is smaller than {k} × {n}"
        );
        let level = level();
        let (_, nr) = tile_shape(level);
        let panels = n.div_ceil(nr);
        self.k = k;
        self.n = n;
        self.nr = nr;
        self.level = Some(level);
        self.data.resize(panels * k * nr, 0.0);
        let cols = n - (panels.max(1) - 1) * nr;
        if panels > 0 && cols < nr {
            let last = &mut self.data[(panels - 1) * k * nr..];
            for row in last.chunks_exact_mut(nr) {
                row[cols..].fill(0.0);
            }
        }
        (k > 0).then_some(nr)
    }

    pub(crate) fn rows(&self) -> usize {
        self.k
    }

    pub(crate) fn cols(&self) -> usize {
        self.n
    }
}

/// `A`: `m × k` with rows `row_step` apart and contiguous columns.
#[derive(Clone, Copy)]
pub(crate) struct RowsView<'a> {
    pub data: &'a [f32],
    pub row_step: usize,
}

/// Where a product goes: `m × n` values with rows `row_step` apart, written
/// through a raw pointer so that threads (and attention's heads) can fill
/// disjoint parts of one buffer.
#[derive(Clone, Copy)]
pub(crate) struct Dest {
    ptr: *mut f32,
    len: usize,
    row_step: usize,
}

// SAFETY: a `Dest` is only written at disjoint tiles by its users (see
// `product` and the attention in `packed`).
unsafe impl Send for Dest {}
unsafe impl Sync for Dest {}

impl Dest {
    /// All of `buf`, rows `row_step` apart.
    pub(crate) fn new(buf: &mut [f32], row_step: usize) -> Self {
        Dest {
            ptr: buf.as_mut_ptr(),
            len: buf.len(),
            row_step,
        }
    }

    /// Whether rows `0..m` of `n` values each lie inside this destination.
    #[inline(always)]
    pub(crate) fn holds(&self, m: usize, n: usize) -> bool {
        m == 0 || self.len >= (m - 1) * self.row_step + n
    }

    /// The address of row `i`, column `j`.
    ///
    /// # Safety
    /// `(i, j)` must lie inside the destination (see [`Dest::holds`]).
    #[inline(always)]
    pub(crate) unsafe fn at(&self, i: usize, j: usize) -> *mut f32 {
        self.ptr.add(i * self.row_step + j)
    }

    /// Asks for the tile of rows `rows`, columns `j..j + cols` ahead of
    /// use: a tile kernel reads or writes its part of the destination only
    /// after its depth loop, and waiting for it then showed in profiles.
    /// Rows outside the destination are skipped. Inlined, as the kernels
    /// that call it make no calls.
    #[inline(always)]
    pub(crate) fn prefetch_tile(&self, rows: std::ops::Range<usize>, j: usize, cols: usize) {
        for i in rows {
            if cols == 0 || !self.holds(i + 1, j + cols) {
                return;
            }
            // SAFETY: `holds` checked that row i, columns j..j + cols lie
            // inside the destination; the slice is only read as a hint.
            prefetch(unsafe { std::slice::from_raw_parts(self.at(i, j), cols) });
        }
    }

    /// Multiplies row `i`'s first `n` values by `factors[i]`, for every
    /// row that `factors` names. The caller must own those rows meanwhile,
    /// as for [`product`].
    pub(crate) fn scale_rows(&self, factors: &[f32], n: usize) {
        assert!(self.holds(factors.len(), n), "rows outside the destination");
        for (i, &factor) in factors.iter().enumerate() {
            // SAFETY: row i, columns 0..n lie inside the destination (the
            // assert), and the caller owns them.
            let row = unsafe { std::slice::from_raw_parts_mut(self.at(i, 0), n) };
            for v in row {
                *v *= factor;
            }
        }
    }

    /// The part starting `offset` values in (its rows keep their step).
    pub(crate) fn offset(self, offset: usize) -> Self {
        assert!(offset <= self.len);
        Dest {
            // SAFETY: in bounds by the assert.
            ptr: unsafe { self.ptr.add(offset) },
            len: self.len - offset,
            row_step: self.row_step,
        }
    }
}

/// `dst (m × n) = a (m × k) · b`, or `+=` when `accumulate`, split over
/// threads when large and `parallel`. Each thread writes its own rows (or columns) of
/// `dst`; the caller must not touch that region of `dst` meanwhile.
pub(crate) fn product(
    dst: Dest,
    a: RowsView<'_>,
    m: usize,
    b: &PackedB,
    accumulate: bool,
    parallel: bool,
) {
    let (k, n) = (b.k, b.n);
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        m == 0 || a.data.len() >= (m - 1) * a.row_step + k,
        "A is too small"
    );
    assert!(dst.len >= (m - 1) * dst.row_step + n, "C is too small");
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                // SAFETY: in bounds by the assert above.
                unsafe { std::ptr::write_bytes(dst.ptr.add(i * dst.row_step), 0, n) };
            }
        }
        return;
    }
    let panels = b.data.len() / (k * b.nr);
    if !parallel || !worth_threads(m * n * k) {
        block_product_dispatch(dst, a, (0, m), b, (0, panels), accumulate);
        return;
    }
    block_tasks(m, MC, panels)
        .par_iter()
        .for_each(|&(rows, cols)| block_product_dispatch(dst, a, rows, b, cols, accumulate));
}

/// Whether a product of `work` multiply-adds is worth spreading over
/// threads.
pub(crate) fn worth_threads(work: usize) -> bool {
    work >= PARALLEL_WORK && rayon::current_num_threads() > 1
}

/// The pieces of a product of `m` rows and `panels` column panels that
/// threads take: blocks of `mc` rows, and when there are too few of them for
/// the threads, ranges of panels as well. Each piece is `(rows, panels)` as
/// half-open ranges.
pub(crate) fn block_tasks(
    m: usize,
    mc: usize,
    panels: usize,
) -> Vec<((usize, usize), (usize, usize))> {
    let threads = rayon::current_num_threads();
    let row_blocks = m.div_ceil(mc);
    let col_splits = (2 * threads).div_ceil(row_blocks).clamp(1, panels.max(1));
    let panels_per_split = panels.div_ceil(col_splits);
    (0..row_blocks)
        .flat_map(|rb| {
            (0..col_splits).filter_map(move |cs| {
                let rows = (rb * mc, ((rb + 1) * mc).min(m));
                let cols = (
                    cs * panels_per_split,
                    ((cs + 1) * panels_per_split).min(panels),
                );
                (cols.0 < cols.1).then_some((rows, cols))
            })
        })
        .collect()
}

/// Rows `rows.0..rows.1` of `A` times panels `panels.0..panels.1` of `B`.
#[inline(always)]
fn block_product<T: Tile>(
    dst: Dest,
    a: RowsView<'_>,
    rows: (usize, usize),
    b: &PackedB,
    panels: (usize, usize),
    accumulate: bool,
) {
    let (k, n) = (b.k, b.n);
    let (mr, nr) = (T::MR, T::NR);
    assert_eq!(b.nr, nr, "packed for another tile width");
    let mut depth = 0;
    while depth < k {
        let kc = KC.min(k - depth);
        let add = accumulate || depth > 0;
        let mut row_block = rows.0;
        while row_block < rows.1 {
            let row_end = (row_block + MC).min(rows.1);
            for p in panels.0..panels.1 {
                let cols = nr.min(n - p * nr);
                let panel = &b.data[(p * k + depth) * nr..(p * k + depth + kc) * nr];
                let mut i = row_block;
                while i < row_end {
                    let tile_rows = mr.min(row_end - i);
                    dst.prefetch_tile(i..i + tile_rows, p * nr, cols);
                    // SAFETY: rows i..i+tile_rows and columns p·nr..+cols lie
                    // inside `dst` (checked in `product`), and this task alone
                    // writes them.
                    unsafe {
                        T::tile(
                            &a.data[i * a.row_step + depth..],
                            a.row_step,
                            tile_rows,
                            panel,
                            kc,
                            dst.ptr.add(i * dst.row_step + p * nr),
                            dst.row_step,
                            cols,
                            add,
                        );
                    }
                    i += mr;
                }
            }
            row_block = row_end;
        }
        depth += kc;
    }
}

/// A register tile kernel: `C[rows × cols] (+)= A[rows × kc] · panel`.
trait Tile {
    /// Rows of `C` per tile.
    const MR: usize;
    /// Columns of `C` per tile (the panel width `B` is packed in).
    const NR: usize;

    /// One tile over `kc` of depth: `a` starts at the tile's first row and
    /// depth (rows `a_step` apart), `panel` holds `kc` rows of `NR`.
    ///
    /// # Safety
    /// `c` must address `rows` (1..=MR) rows of `cols` (..=NR) values,
    /// `c_step` apart, that nobody else reads or writes meanwhile.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile(
        a: &[f32],
        a_step: usize,
        rows: usize,
        panel: &[f32],
        kc: usize,
        c: *mut f32,
        c_step: usize,
        cols: usize,
        accumulate: bool,
    );
}

/// The portable tile: plain Rust over fixed-size arrays, which the compiler
/// keeps in vector registers where the level has fused multiply-adds (x86-64
/// has a tile with intrinsics for each of its levels instead).
#[cfg(not(target_arch = "x86_64"))]
struct Portable<M, const MR: usize, const NR: usize>(std::marker::PhantomData<M>);

#[cfg(not(target_arch = "x86_64"))]
impl<M: MulAdd, const MR: usize, const NR: usize> Tile for Portable<M, MR, NR> {
    const MR: usize = MR;
    const NR: usize = NR;

    #[inline(always)]
    unsafe fn tile(
        a: &[f32],
        a_step: usize,
        rows: usize,
        panel: &[f32],
        kc: usize,
        c: *mut f32,
        c_step: usize,
        cols: usize,
        accumulate: bool,
    ) {
        let starts = row_starts::<MR>(a, a_step, rows, panel, kc, NR);
        let mut acc = [[0f32; NR]; MR];
        let mut bp = panel.as_ptr();
        for p in 0..kc {
            // SAFETY: p < kc, and `row_starts` checked every row's kc values
            // and the panel's kc rows of NR.
            let b: [f32; NR] = *(bp as *const [f32; NR]);
            for i in 0..MR {
                let av = *starts[i].add(p);
                for j in 0..NR {
                    acc[i][j] = M::mul_add(av, b[j], acc[i][j]);
                }
            }
            bp = bp.add(NR);
        }
        store_tile(&acc, rows, c, c_step, cols, accumulate);
    }
}

/// Defines a tile of `MR` rows × two registers of `$width` lanes on x86-64,
/// written with intrinsics so that its sums stay in registers for the whole
/// depth loop (given plain Rust arrays, the compiler kept them in registers
/// but also stored every one to the stack after each step, which made the
/// product store-bound). `$mul_add(a, b, c)` is `a · b + c` on registers.
#[cfg(target_arch = "x86_64")]
macro_rules! register_tile {
    ($(#[$doc:meta])* $name:ident, $vector:ty, $width:expr, $zero:ident, $load:ident,
     $splat:ident, $store:ident, $mul_add:expr) => {
        $(#[$doc])*
        struct $name<const MR: usize>;

        impl<const MR: usize> Tile for $name<MR> {
            const MR: usize = MR;
            const NR: usize = 2 * $width;

            #[inline(always)]
            unsafe fn tile(
                a: &[f32],
                a_step: usize,
                rows: usize,
                panel: &[f32],
                kc: usize,
                c: *mut f32,
                c_step: usize,
                cols: usize,
                accumulate: bool,
            ) {
                use std::arch::x86_64::*;
                const NR: usize = 2 * $width;
                let starts = row_starts::<MR>(a, a_step, rows, panel, kc, NR);
                let mut acc: [[$vector; 2]; MR] = [[$zero(); 2]; MR];
                let mut bp = panel.as_ptr();
                for p in 0..kc {
                    // SAFETY: p < kc, and `row_starts` checked every row's kc
                    // values and the panel's kc rows of NR; the caller
                    // enabled the level's instructions.
                    let b0 = $load(bp);
                    let b1 = $load(bp.add($width));
                    for i in 0..MR {
                        let av = $splat(*starts[i].add(p));
                        acc[i][0] = $mul_add(av, b0, acc[i][0]);
                        acc[i][1] = $mul_add(av, b1, acc[i][1]);
                    }
                    bp = bp.add(NR);
                }
                let mut sums = [[0f32; NR]; MR];
                for i in 0..MR {
                    $store(sums[i].as_mut_ptr(), acc[i][0]);
                    $store(sums[i].as_mut_ptr().add($width), acc[i][1]);
                }
                store_tile(&sums, rows, c, c_step, cols, accumulate);
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
register_tile!(
    /// The x86-64 baseline tile on SSE registers (`MR` × 8), a multiply
    /// then an add (no fused multiply-add below AVX2).
    Sse, __m128, 4, _mm_setzero_ps, _mm_loadu_ps, _mm_set1_ps, _mm_storeu_ps,
    |a, b, c| _mm_add_ps(c, _mm_mul_ps(a, b))
);

#[cfg(target_arch = "x86_64")]
register_tile!(
    /// The AVX2 tile (`MR` × 16), fused multiply-adds.
    Avx2, __m256, 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_set1_ps, _mm256_storeu_ps,
    _mm256_fmadd_ps
);

#[cfg(target_arch = "x86_64")]
register_tile!(
    /// The AVX-512 tile (`MR` × 32), fused multiply-adds.
    Avx512, __m512, 16, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_set1_ps,
    _mm512_storeu_ps, _mm512_fmadd_ps
);

/// Pointers to the first value of each of a tile's `MR` rows of `A`; rows
/// past `rows` repeat the last one (computed, never stored). Checks that
/// every row holds `kc` values and the panel `kc` rows of `nr`.
#[inline(always)]
fn row_starts<const MR: usize>(
    a: &[f32],
    a_step: usize,
    rows: usize,
    panel: &[f32],
    kc: usize,
    nr: usize,
) -> [*const f32; MR] {
    assert!(rows >= 1 && rows <= MR);
    assert!((rows - 1) * a_step + kc <= a.len() && kc * nr <= panel.len());
    let mut starts = [a.as_ptr(); MR];
    for (i, s) in starts.iter_mut().enumerate() {
        // SAFETY: within `a` by the assert above.
        *s = unsafe { s.add(i.min(rows - 1) * a_step) };
    }
    starts
}

/// Writes (or adds) the first `rows × cols` of a tile's sums to `c`.
///
/// # Safety
/// As [`Tile::tile`].
#[inline(always)]
unsafe fn store_tile<const MR: usize, const NR: usize>(
    acc: &[[f32; NR]; MR],
    rows: usize,
    c: *mut f32,
    c_step: usize,
    cols: usize,
    accumulate: bool,
) {
    assert!(cols <= NR);
    // Constant row indices only, so that the sums stay in registers.
    for (i, sums) in acc.iter().enumerate() {
        if i >= rows {
            break;
        }
        let out = c.add(i * c_step);
        if cols == NR {
            if accumulate {
                for j in 0..NR {
                    *out.add(j) += sums[j];
                }
            } else {
                for j in 0..NR {
                    *out.add(j) = sums[j];
                }
            }
        } else {
            let row: [f32; NR] = *sums;
            for (j, v) in row.iter().enumerate().take(cols) {
                if accumulate {
                    *out.add(j) += v;
                } else {
                    *out.add(j) = *v;
                }
            }
        }
    }
}

/// One level's build of [`block_product`] with tile `$tile`: an
/// `#[inline(never)]` function named `$name` after the level (inspected by
/// a test), compiled with `$features` when given.
macro_rules! block_product_build {
    ($name:ident, $tile:ty $(, $features:literal)?) => {
        $(#[target_feature(enable = $features)])?
        #[inline(never)]
        fn $name(
            dst: Dest,
            a: RowsView<'_>,
            rows: (usize, usize),
            b: &PackedB,
            panels: (usize, usize),
            accumulate: bool,
        ) {
            block_product::<$tile>(dst, a, rows, b, panels, accumulate)
        }
    };
}

/// [`block_product`] for the level `b` was packed for, each level its own
/// build ([`block_product_build`]).
fn block_product_dispatch(
    dst: Dest,
    a: RowsView<'_>,
    rows: (usize, usize),
    b: &PackedB,
    panels: (usize, usize),
    accumulate: bool,
) {
    #[cfg(target_arch = "x86_64")]
    {
        block_product_build!(avx512, Avx512<8>, "avx512f,avx2,fma");
        block_product_build!(avx2, Avx2<6>, "avx2,fma");
        block_product_build!(baseline, Sse<6>);
        match b.level {
            // SAFETY: `b` was packed for a level in force at the time, which
            // never exceeds what the CPU supports.
            Some(SimdLevel::Avx512) => unsafe { avx512(dst, a, rows, b, panels, accumulate) },
            // SAFETY: as above.
            Some(SimdLevel::Avx2) => unsafe { avx2(dst, a, rows, b, panels, accumulate) },
            _ => baseline(dst, a, rows, b, panels, accumulate),
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        block_product_build!(neon, Portable<Fused, 6, 16>);
        match b.level {
            Some(SimdLevel::Neon) => neon(dst, a, rows, b, panels, accumulate),
            _ => block_product::<Portable<Fused, 4, 8>>(dst, a, rows, b, panels, accumulate),
        }
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        block_product::<Portable<crate::simd::Separate, 4, 8>>(dst, a, rows, b, panels, accumulate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], m: usize, k: usize, w: &[f32], n: usize) -> Vec<f32> {
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0f64;
                for kk in 0..k {
                    s += a[i * k + kk] as f64 * w[j * k + kk] as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.0) - 1.0)
            .collect()
    }

    #[test]
    fn products_match_naive_for_awkward_shapes() {
        for &(m, n, k) in &[
            (1, 1, 1),
            (5, 7, 3),
            (6, 16, 256),
            (13, 33, 257),
            (97, 70, 300),
            (200, 384, 384),
            (300, 96, 1536),
        ] {
            let a = values(m * k, 1);
            let w = values(n * k, 2);
            let b = PackedB::from_weight(&w, n, k);
            let expected = naive(&a, m, k, &w, n);
            let mut c = vec![f32::NAN; m * n];
            product(
                Dest::new(&mut c, n),
                RowsView {
                    data: &a,
                    row_step: k,
                },
                m,
                &b,
                false,
                true,
            );
            let worst = c
                .iter()
                .zip(&expected)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-3, "{m}×{n}×{k}: off by {worst}");
            // Accumulating adds the product once more.
            product(
                Dest::new(&mut c, n),
                RowsView {
                    data: &a,
                    row_step: k,
                },
                m,
                &b,
                true,
                true,
            );
            let worst = c
                .iter()
                .zip(&expected)
                .map(|(x, y)| (x - 2.0 * y).abs())
                .fold(0f32, f32::max);
            assert!(worst < 2e-3, "{m}×{n}×{k} accumulated: off by {worst}");
        }
    }

    #[test]
    fn strided_rows_and_destination_columns() {
        // A's rows 10 apart (8 used); C written into columns 3..8 of rows
        // 12 apart, leaving the other columns alone.
        let (m, n, k) = (9, 5, 8);
        let a_store = values(m * 10, 3);
        let w = values(n * k, 4);
        let b = PackedB::from_weight(&w, n, k);
        let mut c = vec![-7.0f32; m * 12];
        product(
            Dest::new(&mut c, 12).offset(3),
            RowsView {
                data: &a_store,
                row_step: 10,
            },
            m,
            &b,
            false,
            false,
        );
        for i in 0..m {
            for j in 0..12 {
                let got = c[i * 12 + j];
                if (3..8).contains(&j) {
                    let want: f32 = (0..k)
                        .map(|kk| a_store[i * 10 + kk] * w[(j - 3) * k + kk])
                        .sum();
                    assert!((got - want).abs() < 1e-4, "({i}, {j}): {got} vs {want}");
                } else {
                    assert_eq!(got, -7.0, "({i}, {j}) was overwritten");
                }
            }
        }
    }

    #[test]
    fn a_reused_buffer_packs_strided_rows_and_columns() {
        // One buffer packed large, then smaller with a part-filled last
        // panel, as attention's per-head buffers are. B (k × n) is given as rows
        // n + 3 apart and as columns k + 4 apart; each packing multiplies
        // like the B it describes.
        let mut packed = PackedB::default();
        let big = values(64 * 40, 5);
        packed.pack_rows(40, 64, &big, 64);
        for &(k, n) in &[(7, 5), (3, 17), (9, 33)] {
            let b: Vec<f32> = values(k * n, k + n);
            let (row_step, column_step) = (n + 3, k + 4);
            let mut rows = vec![f32::NAN; k * row_step];
            let mut columns = vec![f32::NAN; n * column_step];
            for kk in 0..k {
                for j in 0..n {
                    rows[kk * row_step + j] = b[kk * n + j];
                    columns[j * column_step + kk] = b[kk * n + j];
                }
            }
            let m = 4;
            let a = values(m * k, 9);
            let mut wanted = vec![0f32; m * n];
            for i in 0..m {
                for j in 0..n {
                    wanted[i * n + j] = (0..k).map(|kk| a[i * k + kk] * b[kk * n + j]).sum();
                }
            }
            for by_columns in [false, true] {
                if by_columns {
                    packed.pack_columns(k, n, &columns, column_step);
                } else {
                    packed.pack_rows(k, n, &rows, row_step);
                }
                let mut c = vec![0f32; m * n];
                let a_rows = RowsView {
                    data: &a,
                    row_step: k,
                };
                product(Dest::new(&mut c, n), a_rows, m, &packed, false, false);
                for (got, want) in c.iter().zip(&wanted) {
                    assert!((got - want).abs() < 1e-4, "{k}×{n}: {got} vs {want}");
                }
            }
        }
    }
}
