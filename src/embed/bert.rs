//! A BERT encoder forward pass on candle tensors, the one that runs on a GPU
//! and in half precision (the CPU in f32 runs `packed`, which takes its
//! weights from here): query/key/value projections fused into one matrix
//! product with the attention scale folded into the query weights, candle's
//! fused layer norm and softmax, and an additive attention mask that stays
//! finite in half precision. Weight names mirror the Hugging Face checkpoint
//! layout.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, Linear, VarBuilder};

use super::kernels::Activation;
use super::model_folder::BertConfig;
use crate::{Error, Result};

/// Added to attention scores at padding positions. Large enough that
/// softmax gives those positions zero weight, small enough to stay finite in
/// f16 (where `f32::MIN` would become -inf and turn `0 * -inf` into NaN).
const MASKED_SCORE: f32 = -10_000.0;

/// Applies a layer's activation to a tensor.
fn apply_activation(activation: Activation, xs: &Tensor) -> candle_core::Result<Tensor> {
    match activation {
        Activation::GeluErf => xs.gelu_erf(),
        Activation::GeluTanh => xs.gelu(),
        Activation::Relu => xs.relu(),
    }
}

struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    fn load(vb: VarBuilder, size: usize, eps: f64) -> candle_core::Result<Self> {
        Ok(LayerNorm {
            weight: vb.get(size, "weight")?,
            bias: vb.get(size, "bias")?,
            eps: eps as f32,
        })
    }

    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm(xs, &self.weight, &self.bias, self.eps)
    }
}

struct EncoderLayer {
    qkv: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    activation: Activation,
    heads: usize,
    head_dim: usize,
}

impl EncoderLayer {
    fn load(vb: VarBuilder, cfg: &BertConfig) -> candle_core::Result<Self> {
        let h = cfg.hidden_size;
        let heads = cfg.num_attention_heads;
        let head_dim = h / heads;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let attn = vb.pp("attention");
        let sa = attn.pp("self");
        // Scaling the query projection scales the scores: softmax(QKᵀ/√d).
        let q_w = (sa.get((h, h), "query.weight")? * scale)?;
        let q_b = (sa.get(h, "query.bias")? * scale)?;
        let k_w = sa.get((h, h), "key.weight")?;
        let k_b = sa.get(h, "key.bias")?;
        let v_w = sa.get((h, h), "value.weight")?;
        let v_b = sa.get(h, "value.bias")?;
        let qkv = Linear::new(
            Tensor::cat(&[&q_w, &k_w, &v_w], 0)?,
            Some(Tensor::cat(&[&q_b, &k_b, &v_b], 0)?),
        );
        let linear = |vb: VarBuilder, out: usize, inp: usize| -> candle_core::Result<Linear> {
            Ok(Linear::new(
                vb.get((out, inp), "weight")?,
                Some(vb.get(out, "bias")?),
            ))
        };
        let intermediate = linear(vb.pp("intermediate").pp("dense"), cfg.intermediate_size, h)?;
        Ok(EncoderLayer {
            qkv,
            attention_out: linear(attn.pp("output").pp("dense"), h, h)?,
            attention_norm: LayerNorm::load(
                attn.pp("output").pp("LayerNorm"),
                h,
                cfg.layer_norm_eps,
            )?,
            intermediate,
            output: linear(vb.pp("output").pp("dense"), h, cfg.intermediate_size)?,
            output_norm: LayerNorm::load(vb.pp("output").pp("LayerNorm"), h, cfg.layer_norm_eps)?,
            activation: Activation::from_config(&cfg.hidden_act),
            heads,
            head_dim,
        })
    }

    /// `xs`: (batch·seq, hidden). `mask_bias` (batch, 1, 1, seq) is added
    /// to the attention scores: 0 on real tokens, [`MASKED_SCORE`] on padding.
    fn forward(
        &self,
        xs: &Tensor,
        batch: usize,
        seq: usize,
        mask_bias: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let hidden = self.heads * self.head_dim;
        let qkv = self
            .qkv
            .forward(xs)?
            .reshape((batch, seq, 3, self.heads, self.head_dim))?;
        let part = |i: usize| {
            qkv.narrow(2, i, 1)?
                .squeeze(2)?
                .transpose(1, 2)?
                .contiguous()
        };
        let (q, k, v) = (part(0)?, part(1)?, part(2)?); // (batch, heads, seq, head_dim)
        let scores = q.matmul(&k.t()?)?;
        let probs = softmax(&scores.broadcast_add(mask_bias)?)?;
        let context = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((batch * seq, hidden))?;
        let attended = self.attention_out.forward(&context)?;
        let xs = self.attention_norm.forward(&(attended + xs)?)?;
        let inner = apply_activation(self.activation, &self.intermediate.forward(&xs)?)?;
        let out = self.output.forward(&inner)?;
        self.output_norm.forward(&(out + xs)?)
    }
}

/// Softmax over the last dimension. candle's CPU softmax sums in the
/// tensor's own type, which in bf16 (8 bits of mantissa) loses the small
/// weights of long texts (cosine 0.9976 to the reference on a 256-token
/// abstract), so half precision on the CPU is computed in f32; CUDA's
/// kernel already sums in f32.
fn softmax(scores: &Tensor) -> candle_core::Result<Tensor> {
    if scores.device().is_cpu() && scores.dtype() != DType::F32 {
        candle_nn::ops::softmax_last_dim(&scores.to_dtype(DType::F32)?)?.to_dtype(scores.dtype())
    } else {
        candle_nn::ops::softmax_last_dim(scores)
    }
}

/// A BERT encoder ready to run on one device in one precision.
pub struct BertEncoder {
    word_embeddings: Embedding,
    position_embeddings: Tensor,
    token_type_row: Tensor,
    embedding_norm: LayerNorm,
    layers: Vec<EncoderLayer>,
    hidden: usize,
    dtype: DType,
    device: Device,
}

impl BertEncoder {
    /// Loads the weights from a safetensors file, memory-mapped. Checkpoints
    /// whose tensor names start with `bert.` are accepted too.
    pub fn load(
        weights: &std::path::Path,
        cfg: &BertConfig,
        dtype: DType,
        device: &Device,
    ) -> Result<Self> {
        let weight_error = |problem: String| {
            Error::ModelFile {
            path: weights.to_path_buf(),
            problem,
            fix: "Re-run models/fetch.sh (or re-download the model); relate needs a BERT checkpoint in safetensors format".into(),
        }
        };
        // SAFETY: the file is mapped read-only; relate never writes to model files.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights], dtype, device) }
            .map_err(|e| weight_error(format!("cannot be read as safetensors ({e})")))?;
        let vb = if vb.contains_tensor("embeddings.word_embeddings.weight") {
            vb
        } else if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            return Err(weight_error(
                "holds no tensor embeddings.word_embeddings.weight; it is not a BERT checkpoint"
                    .into(),
            ));
        };
        Self::from_var_builder(vb, cfg, dtype, device)
            .map_err(|e| weight_error(format!("does not match config.json: {e}")))
    }

    fn from_var_builder(
        vb: VarBuilder,
        cfg: &BertConfig,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let h = cfg.hidden_size;
        let emb = vb.pp("embeddings");
        let word_embeddings =
            Embedding::new(emb.get((cfg.vocab_size, h), "word_embeddings.weight")?, h);
        let position_embeddings = emb.get(
            (cfg.max_position_embeddings, h),
            "position_embeddings.weight",
        )?;
        let token_types = emb.get((cfg.type_vocab_size, h), "token_type_embeddings.weight")?;
        let embedding_norm = LayerNorm::load(emb.pp("LayerNorm"), h, cfg.layer_norm_eps)?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| EncoderLayer::load(vb.pp(format!("encoder.layer.{i}")), cfg))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(BertEncoder {
            word_embeddings,
            position_embeddings,
            token_type_row: token_types.get(0)?,
            embedding_norm,
            layers,
            hidden: h,
            dtype,
            device: device.clone(),
        })
    }

    /// Runs the encoder. `ids` and `mask` are (batch, seq) row-major with
    /// `mask` 1 on real tokens and 0 on padding, padding always after the
    /// real tokens; all texts use token type 0.
    /// Returns the last hidden states, (batch, seq, hidden).
    pub fn forward(&self, ids: &[u32], mask: &[u32], batch: usize, seq: usize) -> Result<Tensor> {
        let ids_t = Tensor::from_slice(ids, (batch * seq,), &self.device)?;
        let positions = self.position_embeddings.narrow(0, 0, seq)?;
        let embedded = self
            .word_embeddings
            .forward(&ids_t)?
            .reshape((batch, seq, self.hidden))?
            .broadcast_add(&positions)?
            .broadcast_add(&self.token_type_row)?;
        let mut xs = self
            .embedding_norm
            .forward(&embedded)?
            .reshape((batch * seq, self.hidden))?;

        let bias: Vec<f32> = mask
            .iter()
            .map(|&m| if m == 0 { MASKED_SCORE } else { 0.0 })
            .collect();
        let mask_bias =
            Tensor::from_vec(bias, (batch, 1, 1, seq), &self.device)?.to_dtype(self.dtype)?;
        for layer in &self.layers {
            xs = layer.forward(&xs, batch, seq, &mask_bias)?;
        }
        Ok(xs.reshape((batch, seq, self.hidden))?)
    }
}
