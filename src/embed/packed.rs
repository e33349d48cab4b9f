//! The BERT encoder on the CPU in f32, on packed token rows: the tokens of
//! every text in a batch are laid one after another with no padding, so the
//! dense layers multiply exactly the real tokens, and attention runs per
//! text and head on views into the fused query/key/value rows. Matrix
//! products run on the crate's own blocked kernels (`matmul`, every SIMD
//! level, weights packed once at load) with biases and residuals pre-loaded
//! into the output, and the working buffers are reused from batch to batch.
//! Every step but attention runs block of rows by block of rows, one
//! block per thread, so that a block's activations stay in the core's
//! cache from one step to the next. The result equals candle's tensor
//! forward pass (`bert`) to float rounding; the parity tests check both. In the quantised mode the four
//! linear layers of each encoder layer run as int8 products (`int8`), and
//! everything else (attention included) stays in f32.

use std::cell::RefCell;
use std::sync::Mutex;

use rayon::prelude::*;

use super::checkpoint::WordTable;
use super::int8::{self, Int8Kernel, QuantizedRows, QuantizedWeight, Write};
use super::kernels;
use super::matmul::{product, Dest, PackedB, RowsView};

/// How a layer's intermediate activations are computed.
pub(crate) use kernels::Activation as HostActivation;

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
    pub word: WordTable,
    /// max_positions × hidden.
    pub position: Vec<f32>,
    /// The embedding of token type 0.
    pub token_type: Vec<f32>,
    pub embed_norm_w: Vec<f32>,
    pub embed_norm_b: Vec<f32>,
    pub layers: Vec<HostLayer>,
}

/// A linear layer's weight, packed for the level in force: in f32, or
/// quantised to int8.
enum LinearWeight {
    F32(PackedB),
    Int8(QuantizedWeight),
}

impl LinearWeight {
    /// Packs `w` (`n × k`, out × in).
    fn new(w: &[f32], n: usize, k: usize, quantized: bool) -> Self {
        if quantized {
            LinearWeight::Int8(QuantizedWeight::from_weight(w, n, k))
        } else {
            LinearWeight::F32(PackedB::from_weight(w, n, k))
        }
    }
}

/// One layer ready for the packed pass: weights packed for the level in
/// force, biases and norms as they are.
struct PackedLayer {
    qkv: LinearWeight,
    qkv_b: Vec<f32>,
    attn_out: LinearWeight,
    attn_out_b: Vec<f32>,
    attn_norm_w: Vec<f32>,
    attn_norm_b: Vec<f32>,
    inter: LinearWeight,
    inter_b: Vec<f32>,
    out: LinearWeight,
    out_b: Vec<f32>,
    out_norm_w: Vec<f32>,
    out_norm_b: Vec<f32>,
}

impl PackedLayer {
    fn new(l: HostLayer, hidden: usize, quantized: bool) -> Self {
        let i = l.intermediate;
        PackedLayer {
            qkv: LinearWeight::new(&l.qkv_w, 3 * hidden, hidden, quantized),
            qkv_b: l.qkv_b,
            attn_out: LinearWeight::new(&l.attn_out_w, hidden, hidden, quantized),
            attn_out_b: l.attn_out_b,
            attn_norm_w: l.attn_norm_w,
            attn_norm_b: l.attn_norm_b,
            inter: LinearWeight::new(&l.inter_w, i, hidden, quantized),
            inter_b: l.inter_b,
            out: LinearWeight::new(&l.out_w, hidden, i, quantized),
            out_b: l.out_b,
            out_norm_w: l.out_norm_w,
            out_norm_b: l.out_norm_b,
        }
    }
}

/// Buffers reused across batches.
#[derive(Default)]
struct Workspace {
    x: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    /// The buffers of a batch too small to be split into row blocks.
    rows: RowScratch,
}

/// The buffers of the steps other than attention on one block of rows.
#[derive(Default)]
struct RowScratch {
    /// The feed-forward layer's intermediate activations.
    inter: Vec<f32>,
    /// The input of an int8 linear layer, quantised.
    quantized: QuantizedRows,
}

/// Per-thread buffers of attention: one head's scores, the inverse sums
/// of their softmax rows, and its packed keys and values.
#[derive(Default)]
struct HeadScratch {
    scores: Vec<f32>,
    inverse_sums: Vec<f32>,
    keys: PackedB,
    values: PackedB,
}

thread_local! {
    /// Each thread's attention buffers, kept between heads and batches (a
    /// fresh set per task cost 5% of the time in page faults).
    static HEAD_SCRATCH: RefCell<HeadScratch> = RefCell::new(HeadScratch::default());
    /// Each thread's buffers for the steps other than attention: a
    /// block's intermediate activations live here rather than in a
    /// batch-wide buffer (a quarter of the memory a batch touches).
    static ROW_SCRATCH: RefCell<RowScratch> = RefCell::new(RowScratch::default());
}

/// Rows in a block of the steps of a layer other than attention. A
/// block's intermediate activations (48 × 1,536 floats for MiniLM, 288 KiB)
/// stay in the core's own cache between the product that makes them, the
/// activation, the quantisation and the product that reads them; over a
/// whole batch they spilled to memory and each of those steps waited on it
/// (int8 mode 15% slower, f32 8%). 48 to 192 rows measured the same on a
/// core with 2 MiB of L2; 48 also fits the 512 KiB L2 of many CPUs, and is
/// a multiple of every kernel's tile height (4, 6 and 8 rows).
const ROW_BLOCK: usize = 48;

/// The block height for `t` rows: [`ROW_BLOCK`] when there are enough
/// rows to give every thread a block; `None` for a smaller batch, which
/// runs as a whole with each product spread over the threads.
fn row_block(t: usize) -> Option<usize> {
    let threads = rayon::current_num_threads().max(1);
    (t >= threads * ROW_BLOCK).then_some(ROW_BLOCK)
}

/// Makes a workspace buffer hold at least `len` values. Its old contents
/// are never needed, so a buffer that must grow is dropped and allocated
/// afresh rather than copied over (tens of MiB for a large batch), and to
/// the next power of two: batches differ in size, and each one a little
/// larger than the last cost fresh memory to be mapped and cleared (5% of
/// the int8 mode's time). Callers use the first `len` values.
fn ensure_len(buf: &mut Vec<f32>, len: usize) {
    if buf.len() < len {
        *buf = Vec::new();
        *buf = vec![0.0; len.next_power_of_two()];
    }
}

/// The packed CPU encoder.
pub(crate) struct PackedEncoder {
    w: HostWeights,
    layers: Vec<PackedLayer>,
    workspace: Mutex<Workspace>,
    /// The int8 kernel of the linear layers, when quantised.
    int8: Option<Int8Kernel>,
}

impl PackedEncoder {
    /// Packs the weights for the level in force; `quantized` runs the
    /// linear layers in int8.
    pub(crate) fn new(mut w: HostWeights, quantized: bool) -> Self {
        let hidden = w.hidden;
        let layers = std::mem::take(&mut w.layers)
            .into_iter()
            .map(|l| PackedLayer::new(l, hidden, quantized))
            .collect();
        PackedEncoder {
            w,
            layers,
            workspace: Mutex::new(Workspace::default()),
            int8: quantized.then(Int8Kernel::current),
        }
    }

    /// The int8 kernel's name, when the linear layers are quantised.
    pub(crate) fn int8_kernel(&self) -> Option<&'static str> {
        self.int8.map(Int8Kernel::name)
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
        ensure_len(&mut ws.x, total * h);
        ensure_len(&mut ws.qkv, total * 3 * h);
        ensure_len(&mut ws.context, total * h);

        self.embed_tokens(texts, &mut ws.x[..total * h]);
        let spans: Vec<(usize, usize)> = texts
            .iter()
            .scan(0, |start, t| {
                let span = (*start, t.len());
                *start += t.len();
                Some(span)
            })
            .collect();
        for layer in &self.layers {
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
                self.w.word.row(id, out);
                let position = &self.w.position[pos * h..(pos + 1) * h];
                for ((o, b), c) in out.iter_mut().zip(position).zip(&self.w.token_type) {
                    *o = *o + b + c;
                }
                row += 1;
            }
        }
        kernels::layer_norm_rows(x, &self.w.embed_norm_w, &self.w.embed_norm_b, self.w.eps);
    }

    /// One encoder layer. Everything but attention runs block of rows by
    /// block of rows, each block on one thread, so that a block's values
    /// stay in the core's cache from step to step; a small batch runs as a
    /// whole, each product spread over the threads.
    fn layer(&self, l: &PackedLayer, spans: &[(usize, usize)], ws: &mut Workspace, t: usize) {
        let h = self.w.hidden;
        let (x, qkv) = (&mut ws.x[..t * h], &mut ws.qkv[..t * 3 * h]);
        let context = &mut ws.context[..t * h];
        let Some(block) = row_block(t) else {
            let scratch = &mut ws.rows;
            project_qkv(l, x, qkv, &mut scratch.quantized, true);
            self.attention(spans, qkv, context);
            self.after_attention(l, x, context, scratch, true);
            return;
        };
        x.par_chunks(block * h)
            .zip(qkv.par_chunks_mut(block * 3 * h))
            .for_each(|(x, qkv)| {
                ROW_SCRATCH.with_borrow_mut(|s| project_qkv(l, x, qkv, &mut s.quantized, false))
            });
        self.attention(spans, qkv, context);
        x.par_chunks_mut(block * h)
            .zip(context.par_chunks(block * h))
            .for_each(|(x, context)| {
                ROW_SCRATCH.with_borrow_mut(|s| self.after_attention(l, x, context, s, false))
            });
    }

    /// A layer after attention on a block of rows: `x = norm(x + bias +
    /// context · Wᵀ)`, then the feed-forward `inter = act(bias + x · Wᵀ)`,
    /// `x = norm(x + bias + inter · Wᵀ)`, `inter` in `scratch`. The
    /// products run on several threads when `parallel`, the rest on this
    /// thread.
    fn after_attention(
        &self,
        l: &PackedLayer,
        x: &mut [f32],
        context: &[f32],
        scratch: &mut RowScratch,
        parallel: bool,
    ) {
        let rows = x.len() / self.w.hidden;
        let eps = self.w.eps;
        let len = rows * self.w.intermediate;
        ensure_len(&mut scratch.inter, len);
        let (inter, q) = (&mut scratch.inter[..len], &mut scratch.quantized);
        linear(
            x,
            context,
            &l.attn_out,
            rows,
            bias(&l.attn_out_b, true),
            q,
            parallel,
        );
        kernels::layer_norm_dispatch(x, &l.attn_norm_w, &l.attn_norm_b, eps);
        linear(inter, x, &l.inter, rows, Write::default(), q, parallel);
        kernels::bias_activation_dispatch(inter, &l.inter_b, self.w.activation);
        linear(x, inter, &l.out, rows, bias(&l.out_b, true), q, parallel);
        kernels::layer_norm_dispatch(x, &l.out_norm_w, &l.out_norm_b, eps);
    }

    /// Self-attention of each text on its own tokens, per head:
    /// context = softmax(Q·Kᵀ)·V, written into the head's columns.
    fn attention(&self, spans: &[(usize, usize)], qkv: &[f32], context: &mut [f32]) {
        let h = self.w.hidden;
        let heads = self.w.heads;
        let d = h / heads;
        let out = Dest::new(context, h);
        let tasks: Vec<(usize, usize, usize)> = spans
            .iter()
            .filter(|&&(_, len)| len > 0)
            .flat_map(|&(start, len)| (0..heads).map(move |head| (start, len, head)))
            .collect();
        tasks.par_iter().for_each(|&(start, len, head)| {
            HEAD_SCRATCH.with_borrow_mut(|scratch| {
                let row = |token: usize| (start + token) * 3 * h;
                let (key, value) = (h + head * d, 2 * h + head * d);
                // Kᵀ: d × len, and V: len × d, packed for the tile kernels.
                scratch
                    .keys
                    .pack_columns(d, len, &qkv[row(0) + key..], 3 * h);
                scratch
                    .values
                    .pack_rows(len, d, &qkv[row(0) + value..], 3 * h);
                scratch.scores.resize(len * len, 0.0);
                let queries = RowsView {
                    data: &qkv[row(0) + head * d..row(len - 1) + head * d + d],
                    row_step: 3 * h,
                };
                product(
                    Dest::new(&mut scratch.scores, len),
                    queries,
                    len,
                    &scratch.keys,
                    false,
                    false,
                );
                // softmax(S)·V = diag(1/Σ)·(e^S·V): the sums divide the
                // d-wide output rows, not the len-wide score rows.
                scratch.inverse_sums.resize(len, 0.0);
                kernels::softmax_numerators(&mut scratch.scores, len, &mut scratch.inverse_sums);
                let weights = RowsView {
                    data: &scratch.scores,
                    row_step: len,
                };
                // Rows start..start+len, this head's columns: written by this
                // task alone.
                let head_out = out.offset(start * h + head * d);
                product(head_out, weights, len, &scratch.values, false, false);
                head_out.scale_rows(&scratch.inverse_sums, d);
            })
        });
    }
}

/// `dst (rows × n) = a (rows × k) · Wᵀ`, or `+=` when `write` accumulates,
/// with `write`'s bias added first (`(dst + bias) + a · Wᵀ`), for a packed
/// weight `W` (n × k), on several threads when `parallel`. An int8 weight
/// quantises `a` into `quantized` first and adds the bias as it writes
/// each result; in f32 the bias is added to `dst` beforehand.
fn linear(
    dst: &mut [f32],
    a: &[f32],
    w: &LinearWeight,
    rows: usize,
    write: Write<'_>,
    quantized: &mut QuantizedRows,
    parallel: bool,
) {
    let w = match w {
        LinearWeight::F32(w) => w,
        LinearWeight::Int8(w) => {
            let (k, n) = (w.rows(), w.cols());
            quantized.quantize(&a[..rows * k], (rows, k), w.kernel(), parallel);
            int8::product(Dest::new(dst, n), (quantized, a), w, write, parallel);
            return;
        }
    };
    let (k, n) = (w.rows(), w.cols());
    let mut accumulate = write.accumulate;
    if let Some(bias) = write.bias {
        let dst = &mut dst[..rows * n];
        if accumulate {
            kernels::add_rows(dst, bias);
        } else {
            fill_rows(dst, bias);
        }
        accumulate = true;
    }
    product(
        Dest::new(dst, n),
        RowsView {
            data: &a[..rows * k],
            row_step: k,
        },
        rows,
        w,
        accumulate,
        parallel,
    );
}

/// The fused query/key/value projection of rows `x`: `qkv = bias + x ·
/// Wᵀ`, the product on several threads when `parallel`.
fn project_qkv(l: &PackedLayer, x: &[f32], qkv: &mut [f32], q: &mut QuantizedRows, parallel: bool) {
    let rows = qkv.len() / l.qkv_b.len().max(1);
    linear(qkv, x, &l.qkv, rows, bias(&l.qkv_b, false), q, parallel);
}

/// Writing a product's results after `bias`, replacing or adding to what
/// is there.
fn bias(bias: &[f32], accumulate: bool) -> Write<'_> {
    Write {
        accumulate,
        bias: Some(bias),
    }
}

/// Every row of `dst` becomes `row`.
fn fill_rows(dst: &mut [f32], row: &[f32]) {
    for chunk in dst.chunks_exact_mut(row.len()) {
        chunk.copy_from_slice(row);
    }
}
