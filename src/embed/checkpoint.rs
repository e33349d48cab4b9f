//! Reads a BERT checkpoint's weights for the packed CPU encoder straight
//! from its memory-mapped safetensors file ([`load_host_weights`]), without
//! building candle tensors first. Each weight of the encoder layers is
//! decoded to f32 once (then packed), instead of being copied into a
//! tensor, a host vector and the packing in turn; the word-embedding
//! table, of which a batch reads a few hundred rows, stays in the file's
//! pages and its rows are decoded as they are looked up ([`WordTable`]).
//! A query's process loads the model in about half the time and a third
//! of the memory this way.
//!
//! Tensors may be stored in f32, f16 or bf16; names may carry the `bert.`
//! prefix of checkpoints saved from a task model. A missing tensor, or one
//! whose shape does not match `config.json`, is an error naming both.

use std::fs::File;
use std::path::Path;

use memmap2::Mmap;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use super::kernels::Activation;
use super::model_folder::BertConfig;
use super::packed::{HostLayer, HostWeights};
use crate::{Error, Result};

/// How the values of a stored tensor are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    F32,
    F16,
    Bf16,
}

impl Encoding {
    fn of(dtype: Dtype) -> Option<Encoding> {
        match dtype {
            Dtype::F32 => Some(Encoding::F32),
            Dtype::F16 => Some(Encoding::F16),
            Dtype::BF16 => Some(Encoding::Bf16),
            _ => None,
        }
    }

    fn width(self) -> usize {
        match self {
            Encoding::F32 => 4,
            Encoding::F16 | Encoding::Bf16 => 2,
        }
    }

    /// Decodes little-endian values from `bytes` into `out` (one per value).
    fn decode(self, bytes: &[u8], out: &mut [f32]) {
        match self {
            Encoding::F32 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                    *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
            Encoding::F16 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
                }
            }
            Encoding::Bf16 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = half::bf16::from_le_bytes([b[0], b[1]]).to_f32();
                }
            }
        }
    }
}

/// The word-embedding table (vocab × hidden), left in the mapped
/// checkpoint and decoded a row at a time.
pub(crate) struct WordTable {
    map: Mmap,
    /// Where the table starts in the file.
    offset: usize,
    encoding: Encoding,
}

impl WordTable {
    /// Writes row `id` (`out.len()` values wide) into `out`. `id` must be
    /// below the table's row count (checked at load).
    pub(crate) fn row(&self, id: usize, out: &mut [f32]) {
        let width = self.encoding.width();
        let start = self.offset + id * out.len() * width;
        self.encoding
            .decode(&self.map[start..start + out.len() * width], out);
    }
}

/// Loads every weight the packed encoder needs from the safetensors file
/// at `path`, shaped as `cfg` says.
pub(crate) fn load_host_weights(path: &Path, cfg: &BertConfig) -> Result<HostWeights> {
    let fail = |problem: String| Error::ModelFile {
        path: path.to_path_buf(),
        problem,
        fix: "Re-run models/fetch.sh (or re-download the model); relate needs a BERT \
              checkpoint in safetensors format that matches config.json"
            .into(),
    };
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    // SAFETY: the file is mapped read-only; relate never writes to model
    // files, and a model folder is not meant to change while it is in use.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io("map", path, e))?;
    let tensors = SafeTensors::deserialize(&map)
        .map_err(|e| fail(format!("cannot be read as safetensors ({e})")))?;
    let prefix = if tensors.tensor("embeddings.word_embeddings.weight").is_ok() {
        ""
    } else if tensors
        .tensor("bert.embeddings.word_embeddings.weight")
        .is_ok()
    {
        "bert."
    } else {
        return Err(fail(
            "holds no tensor embeddings.word_embeddings.weight; it is not a BERT checkpoint".into(),
        ));
    };
    let view = |name: &str, shape: &[usize]| -> Result<(TensorView<'_>, Encoding)> {
        let full = format!("{prefix}{name}");
        let t = tensors
            .tensor(&full)
            .map_err(|_| fail(format!("holds no tensor {full}")))?;
        if t.shape() != shape {
            return Err(fail(format!(
                "tensor {full} has shape {:?}, which does not match config.json \
                 (that makes it {shape:?})",
                t.shape()
            )));
        }
        let encoding = Encoding::of(t.dtype()).ok_or_else(|| {
            fail(format!(
                "tensor {full} is stored as {:?}; relate reads f32, f16 and bf16",
                t.dtype()
            ))
        })?;
        Ok((t, encoding))
    };
    let read = |name: &str, shape: &[usize]| -> Result<Vec<f32>> {
        let (t, encoding) = view(name, shape)?;
        let mut out = vec![0f32; shape.iter().product()];
        encoding.decode(t.data(), &mut out);
        Ok(out)
    };

    let h = cfg.hidden_size;
    let heads = cfg.num_attention_heads;
    if heads == 0 || !h.is_multiple_of(heads) {
        return Err(fail(format!(
            "config.json gives hidden_size {h}, which {heads} attention heads do not divide"
        )));
    }
    if cfg.type_vocab_size == 0 || cfg.vocab_size == 0 {
        return Err(fail(
            "config.json gives an empty vocabulary or no token types".into(),
        ));
    }
    let inter = cfg.intermediate_size;
    // Scaling the query projection scales the scores: softmax(QKᵀ/√d), as
    // the tensor engine does.
    let scale = (1.0 / ((h / heads) as f64).sqrt()) as f32;
    let layers = (0..cfg.num_hidden_layers)
        .map(|i| {
            let name = |rest: &str| format!("encoder.layer.{i}.{rest}");
            let mut qkv_w = read(&name("attention.self.query.weight"), &[h, h])?;
            let mut qkv_b = read(&name("attention.self.query.bias"), &[h])?;
            qkv_w.iter_mut().for_each(|w| *w *= scale);
            qkv_b.iter_mut().for_each(|b| *b *= scale);
            for part in ["key", "value"] {
                qkv_w.extend(read(
                    &name(&format!("attention.self.{part}.weight")),
                    &[h, h],
                )?);
                qkv_b.extend(read(&name(&format!("attention.self.{part}.bias")), &[h])?);
            }
            Ok(HostLayer {
                qkv_w,
                qkv_b,
                attn_out_w: read(&name("attention.output.dense.weight"), &[h, h])?,
                attn_out_b: read(&name("attention.output.dense.bias"), &[h])?,
                attn_norm_w: read(&name("attention.output.LayerNorm.weight"), &[h])?,
                attn_norm_b: read(&name("attention.output.LayerNorm.bias"), &[h])?,
                inter_w: read(&name("intermediate.dense.weight"), &[inter, h])?,
                inter_b: read(&name("intermediate.dense.bias"), &[inter])?,
                out_w: read(&name("output.dense.weight"), &[h, inter])?,
                out_b: read(&name("output.dense.bias"), &[h])?,
                out_norm_w: read(&name("output.LayerNorm.weight"), &[h])?,
                out_norm_b: read(&name("output.LayerNorm.bias"), &[h])?,
                intermediate: inter,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let position = read(
        "embeddings.position_embeddings.weight",
        &[cfg.max_position_embeddings, h],
    )?;
    let token_types = read(
        "embeddings.token_type_embeddings.weight",
        &[cfg.type_vocab_size, h],
    )?;
    let embed_norm_w = read("embeddings.LayerNorm.weight", &[h])?;
    let embed_norm_b = read("embeddings.LayerNorm.bias", &[h])?;
    let (word, encoding) = view("embeddings.word_embeddings.weight", &[cfg.vocab_size, h])?;
    let offset = word.data().as_ptr() as usize - map.as_ptr() as usize;
    Ok(HostWeights {
        hidden: h,
        intermediate: inter,
        heads,
        eps: cfg.layer_norm_eps as f32,
        activation: Activation::from_config(&cfg.hidden_act),
        vocab: cfg.vocab_size,
        word: WordTable {
            map,
            offset,
            encoding,
        },
        position,
        token_type: token_types[..h].to_vec(),
        embed_norm_w,
        embed_norm_b,
        layers,
    })
}
