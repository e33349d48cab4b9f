//! The BERT encoder on the CPU in f32, on packed token rows: the tokens of
//! every text in a batch are laid one after another with no padding, so the
//! dense layers multiply exactly the real tokens, and attention runs per
//! text and head on views into the fused query/key/value rows without any
//! transposing copy. Matrix products go straight to the `gemm` crate (the
//! one candle's CPU backend uses) with biases and residuals pre-loaded into
//! the output, and the working buffers are reused from batch to batch, so a
//! batch allocates nothing. The result equals candle's tensor forward pass
//! (`bert`) to float rounding; the parity tests check both.

use std::sync::Mutex;

use gemm::{gemm, Parallelism};
use rayon::prelude::*;

use super::kernels;

/// Below this many multiply-adds a product runs on one thread.
const PARALLEL_WORK: usize = 1 << 20;

/// How a layer's intermediate activations are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostActivation {
    GeluErf,
    GeluTanh,
    Relu,
}

/// One encoder layer's weights, row-major as in the checkpoint (out × in).
pub(crate) struct HostLayer {
    /// Query (pre-scaled by 1/√head_dim), key and value stacked: 3h × h.
    pub qkv_w: Vec<f32>,
    pub qkv_b: Vec<f32>,
    pub attn_out_w: Vec<f32>,
    pub attn_out_b: Vec<f32>,
    pub attn_norm_w: Vec<f32>,
    pub attn_norm_b: Vec<f32>,
    pub inter_w: Vec<f32>,
    pub inter_b: Vec<f32>,
    pub out_w: Vec<f32>,
    pub out_b: Vec<f32>,
    pub out_norm_w: Vec<f32>,
    pub out_norm_b: Vec<f32>,
    /// Width of the intermediate layer.
    pub intermediate: usize,
}

/// Every weight of the encoder on the host.
pub(crate) struct HostWeights {
    pub hidden: usize,
    pub intermediate: usize,
    pub heads: usize,
    pub eps: f32,
    pub activation: HostActivation,
    pub vocab: usize,
    /// vocab × hidden.
    pub word: Vec<f32>,
    /// max_positions × hidden.
    pub position: Vec<f32>,
    /// The embedding of token type 0.
    pub token_type: Vec<f32>,
    pub embed_norm_w: Vec<f32>,
    pub embed_norm_b: Vec<f32>,
    pub layers: Vec<HostLayer>,
}

/// Buffers reused across batches.
#[derive(Default)]
struct Workspace {
    x: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    inter: Vec<f32>,
}

/// The packed CPU encoder.
pub(crate) struct PackedEncoder {
    w: HostWeights,
    workspace: Mutex<Workspace>,
}

/// A raw pointer that may cross threads; each task writes a disjoint part.
#[derive(Clone, Copy)]
struct SharedMut(*mut f32);
// SAFETY: used only for writes to disjoint regions, see `attention`.
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// The pointer (a method, so that closures capture the whole wrapper).
    fn get(self) -> *mut f32 {
        self.0
    }
}

impl PackedEncoder {
    pub(crate) fn new(w: HostWeights) -> Self {
        PackedEncoder {
            w,
            workspace: Mutex::new(Workspace::default()),
        }
    }

    /// Runs the encoder over `texts` (token ids, special tokens included,
    /// each no longer than the position table) and hands each text's final
    /// hidden rows (len × hidden, row-major) to `each`, in order.
    pub(crate) fn forward<F: FnMut(&[f32])>(&self, texts: &[&[u32]], mut each: F) {
        let h = self.w.hidden;
        let total: usize = texts.iter().map(|t| t.len()).sum();
        if total == 0 {
            return;
        }
        let mut guard = self
            .workspace
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let ws = &mut *guard;
        ws.x.resize(total * h, 0.0);
        ws.qkv.resize(total * 3 * h, 0.0);
        ws.context.resize(total * h, 0.0);
        ws.inter.resize(total * self.w.intermediate, 0.0);

        self.embed_tokens(texts, &mut ws.x);
        let spans: Vec<(usize, usize)> = texts
            .iter()
            .scan(0, |start, t| {
                let span = (*start, t.len());
                *start += t.len();
                Some(span)
            })
            .collect();
        for layer in &self.w.layers {
            self.layer(layer, &spans, ws, total);
        }
        for &(start, len) in &spans {
            each(&ws.x[start * h..(start + len) * h]);
        }
    }

    /// Word + position + token-type embeddings, then layer norm.
    fn embed_tokens(&self, texts: &[&[u32]], x: &mut [f32]) {
        let h = self.w.hidden;
        let mut row = 0;
        for ids in texts {
            for (pos, &id) in ids.iter().enumerate() {
                let id = (id as usize).min(self.w.vocab - 1);
                let out = &mut x[row * h..(row + 1) * h];
                let word = &self.w.word[id * h..(id + 1) * h];
                let position = &self.w.position[pos * h..(pos + 1) * h];
                for (((o, a), b), c) in out
                    .iter_mut()
                    .zip(word)
                    .zip(position)
                    .zip(&self.w.token_type)
                {
                    *o = a + b + c;
                }
                row += 1;
            }
        }
        kernels::layer_norm_rows(x, &self.w.embed_norm_w, &self.w.embed_norm_b, self.w.eps);
    }

    fn layer(&self, l: &HostLayer, spans: &[(usize, usize)], ws: &mut Workspace, t: usize) {
        let h = self.w.hidden;
        let i = self.w.intermediate;
        // Fused query/key/value: qkv = bias + x · Wᵀ.
        fill_rows(&mut ws.qkv, &l.qkv_b);
        matmul_wt(&mut ws.qkv, &ws.x, &l.qkv_w, (t, 3 * h, h), true);
        self.attention(spans, &ws.qkv, &mut ws.context);
        // Attention output with its residual: x = x + bias + context · Wᵀ.
        add_rows(&mut ws.x, &l.attn_out_b);
        matmul_wt(&mut ws.x, &ws.context, &l.attn_out_w, (t, h, h), true);
        kernels::layer_norm_rows(&mut ws.x, &l.attn_norm_w, &l.attn_norm_b, self.w.eps);
        // Feed-forward: inter = act(bias + x · Wᵀ); x = x + bias + inter · Wᵀ.
        match self.w.activation {
            HostActivation::GeluErf => {
                matmul_wt(&mut ws.inter, &ws.x, &l.inter_w, (t, i, h), false);
                kernels::bias_gelu_rows(&mut ws.inter, &l.inter_b);
            }
            other => {
                fill_rows(&mut ws.inter, &l.inter_b);
                matmul_wt(&mut ws.inter, &ws.x, &l.inter_w, (t, i, h), true);
                apply_activation(&mut ws.inter, other);
            }
        }
        add_rows(&mut ws.x, &l.out_b);
        matmul_wt(&mut ws.x, &ws.inter, &l.out_w, (t, h, i), true);
        kernels::layer_norm_rows(&mut ws.x, &l.out_norm_w, &l.out_norm_b, self.w.eps);
    }

    /// Self-attention of each text on its own tokens, per head:
    /// context = softmax(Q·Kᵀ)·V, written into the head's columns.
    fn attention(&self, spans: &[(usize, usize)], qkv: &[f32], context: &mut [f32]) {
        let h = self.w.hidden;
        let heads = self.w.heads;
        let d = h / heads;
        let out = SharedMut(context.as_mut_ptr());
        let tasks: Vec<(usize, usize, usize)> = spans
            .iter()
            .filter(|&&(_, len)| len > 0)
            .flat_map(|&(start, len)| (0..heads).map(move |head| (start, len, head)))
            .collect();
        tasks
            .par_iter()
            .for_each_init(Vec::new, |scores, &(start, len, head)| {
                scores.resize(len * len, 0.0);
                let row_stride = (3 * h) as isize;
                let q = qkv[start * 3 * h + head * d..].as_ptr();
                let k = qkv[start * 3 * h + h + head * d..].as_ptr();
                let v = qkv[start * 3 * h + 2 * h + head * d..].as_ptr();
                // SAFETY: every view stays inside `qkv` (rows start..start+len,
                // columns of one head), `scores` holds len × len values, and the
                // output view (rows start..start+len, this head's columns) is
                // written by this task alone.
                unsafe {
                    let (q, kt) = (View::rows(q, row_stride), View::transposed(k, row_stride));
                    product(
                        (len, len, d),
                        scores.as_mut_ptr(),
                        len,
                        false,
                        q,
                        kt,
                        Parallelism::None,
                    );
                    kernels::softmax_rows(scores, len);
                    let dst = out.get().add(start * h + head * d);
                    let (p, v) = (
                        View::rows(scores.as_ptr(), len as isize),
                        View::rows(v, row_stride),
                    );
                    product((len, d, len), dst, h, false, p, v, Parallelism::None);
                }
            });
    }
}

/// A matrix in memory: its first element and the steps between rows and
/// between columns.
#[derive(Clone, Copy)]
struct View {
    ptr: *const f32,
    row_step: isize,
    col_step: isize,
}

impl View {
    /// Row-major with rows `row_step` apart.
    fn rows(ptr: *const f32, row_step: isize) -> Self {
        View {
            ptr,
            row_step,
            col_step: 1,
        }
    }

    /// The transpose of a row-major matrix whose rows are `row_step` apart.
    fn transposed(ptr: *const f32, row_step: isize) -> Self {
        View {
            ptr,
            row_step: 1,
            col_step: row_step,
        }
    }
}

/// `dst (m × n, rows dst_row_step apart) = lhs (m × k) · rhs (k × n)`, or
/// `+=` when `accumulate`.
///
/// # Safety
/// Every element the shapes and steps address must lie in live memory, and
/// `dst` must not overlap the inputs or be written by anyone else meanwhile.
unsafe fn product(
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    dst_row_step: usize,
    accumulate: bool,
    lhs: View,
    rhs: View,
    parallelism: Parallelism,
) {
    gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_row_step as isize,
        accumulate,
        lhs.ptr,
        lhs.col_step,
        lhs.row_step,
        rhs.ptr,
        rhs.col_step,
        rhs.row_step,
        1.0,
        1.0,
        false,
        false,
        false,
        parallelism,
    );
}

/// `dst (m × n) = a (m × k) · wᵀ`, or `+=` when `accumulate`, with `w`
/// row-major n × k.
fn matmul_wt(
    dst: &mut [f32],
    a: &[f32],
    w: &[f32],
    (m, n, k): (usize, usize, usize),
    accumulate: bool,
) {
    assert!(dst.len() >= m * n && a.len() >= m * k && w.len() >= n * k);
    let parallelism = if m * n * k >= PARALLEL_WORK {
        Parallelism::Rayon(rayon::current_num_threads())
    } else {
        Parallelism::None
    };
    // SAFETY: the asserts above bound every access: dst rows have stride n,
    // a rows stride k, and w read as its transpose (element (kk, j) at
    // j·k + kk).
    unsafe {
        let (a, wt) = (
            View::rows(a.as_ptr(), k as isize),
            View::transposed(w.as_ptr(), k as isize),
        );
        product(
            (m, n, k),
            dst.as_mut_ptr(),
            n,
            accumulate,
            a,
            wt,
            parallelism,
        );
    }
}

/// Every row of `dst` becomes `row`.
fn fill_rows(dst: &mut [f32], row: &[f32]) {
    for chunk in dst.chunks_exact_mut(row.len()) {
        chunk.copy_from_slice(row);
    }
}

/// `row` is added to every row of `dst`.
fn add_rows(dst: &mut [f32], row: &[f32]) {
    for chunk in dst.chunks_exact_mut(row.len()) {
        for (d, r) in chunk.iter_mut().zip(row) {
            *d += r;
        }
    }
}

fn apply_activation(values: &mut [f32], activation: HostActivation) {
    match activation {
        HostActivation::GeluErf => unreachable!("handled by the fused kernel"),
        HostActivation::GeluTanh => values.iter_mut().for_each(|v| {
            let x = *v;
            let inner = (2.0f32 / std::f32::consts::PI).sqrt() * (x + 0.044_715 * x * x * x);
            *v = 0.5 * x * (1.0 + inner.tanh());
        }),
        HostActivation::Relu => values.iter_mut().for_each(|v| *v = v.max(0.0)),
    }
}
