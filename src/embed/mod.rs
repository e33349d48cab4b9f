//! Sentence embeddings: a BERT-family model from a sentence-transformers
//! folder, run by candle on the CPU or a CUDA GPU, giving one unit vector per
//! text that matches the Python reference implementation.
//!
//! Texts are tokenised with the model's own tokenizer and truncated at the
//! model's maximum sequence length (special tokens included), packed into
//! batches of similar length under a token budget, encoded, pooled as the
//! model's pooling configuration says, and normalised when the model has a
//! `Normalize` module. Results come back in input order.

mod batching;
mod bert;
mod checkpoint;
mod device;
mod fingerprint;
mod int8;
pub(crate) mod kernels;
pub(crate) mod matmul;
mod model_folder;
mod packed;
mod pooling;
#[doc(hidden)]
pub mod product_bench;
mod tokenize;

use std::path::{Path, PathBuf};

use candle_core::Device;

pub use batching::plan_batches;
pub use device::{cuda_compiled, select_device, DeviceChoice, Precision};
pub use model_folder::{BertConfig, ModelFolder};
pub use pooling::Pooling;

use crate::Result;
use bert::BertEncoder;
use packed::PackedEncoder;
use tokenize::TextTokenizer;

/// Name of the model folder that `models/fetch.sh` creates.
pub const DEFAULT_MODEL_NAME: &str = "all-MiniLM-L6-v2";

/// The model folder used when none is given: `models/all-MiniLM-L6-v2` under
/// the current directory if it exists, else the one in the source checkout
/// this binary was built from.
pub fn default_model_dir() -> PathBuf {
    let local = Path::new("models").join(DEFAULT_MODEL_NAME);
    if local.is_dir() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(DEFAULT_MODEL_NAME)
}

/// How to load and run the model.
#[derive(Debug, Clone)]
pub struct EmbedderOptions {
    pub model_dir: PathBuf,
    pub device: DeviceChoice,
    pub precision: Precision,
    /// Upper bound on padded tokens (texts × longest text) in one batch;
    /// `None` picks the device's default ([`BatchLimits::for_device`]).
    pub max_batch_tokens: Option<usize>,
    /// Upper bound on texts in one batch; `None` picks the device's default.
    pub max_batch_size: Option<usize>,
    /// How the forward pass runs on the CPU.
    pub cpu_engine: CpuEngine,
}

/// How the encoder runs on the CPU in f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CpuEngine {
    /// Packed token rows with fused steps and reused buffers (the fast path).
    #[default]
    Packed,
    /// candle's tensor operations, the code a GPU runs; for cross-checks
    /// (the only way half precision runs on the CPU: slowly, to catch
    /// masking and overflow bugs of the GPU path without a GPU).
    Tensors,
}

/// How large one batch may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Padded tokens (texts × longest text).
    pub tokens: usize,
    /// Texts.
    pub texts: usize,
}

impl BatchLimits {
    /// Defaults measured per device: on the CPU small batches keep the
    /// working set in cache (4,096 tokens was fastest); a GPU wants wide
    /// batches to fill its cores.
    pub fn for_device(device: &Device) -> Self {
        if device.is_cpu() {
            BatchLimits {
                tokens: 4096,
                texts: 64,
            }
        } else {
            BatchLimits {
                tokens: 65_536,
                texts: 256,
            }
        }
    }
}

impl Default for EmbedderOptions {
    fn default() -> Self {
        EmbedderOptions {
            model_dir: default_model_dir(),
            device: DeviceChoice::Auto,
            precision: Precision::F32,
            max_batch_tokens: None,
            max_batch_size: None,
            cpu_engine: CpuEngine::Packed,
        }
    }
}

/// Vectors for a list of texts, in input order, with the work it took.
#[derive(Debug, Clone, Default)]
pub struct Embedded {
    pub vectors: Vec<Vec<f32>>,
    /// Tokens encoded after truncation, special tokens included, padding excluded.
    pub tokens: usize,
}

/// A loaded sentence-embedding model.
pub struct Embedder {
    folder: ModelFolder,
    tokenizer: TextTokenizer,
    encoder: Encoder,
    device: Device,
    limits: BatchLimits,
}

/// The forward pass in use.
enum Encoder {
    Tensors(BertEncoder),
    Packed(Box<PackedEncoder>),
}

impl Embedder {
    /// Loads the model folder named in `options` onto the chosen device.
    pub fn load(options: EmbedderOptions) -> Result<Self> {
        let folder = ModelFolder::open(&options.model_dir)?;
        let device = select_device(options.device)?;
        // Half precision on the CPU is refused, except through the tensor
        // engine, which exists to cross-check the GPU's code path; int8 runs
        // only on the packed engine.
        if options.cpu_engine != CpuEngine::Tensors {
            options.precision.check_device(&device)?;
        } else if options.precision == Precision::Int8 {
            return Err(crate::Error::Device {
                requested: "cpu with dtype int8 on the tensor engine".into(),
                problem: "int8 runs on the packed CPU engine only".into(),
            });
        }
        let tokenizer = TextTokenizer::load(&folder)?;
        let defaults = BatchLimits::for_device(&device);
        let limits = BatchLimits {
            tokens: options.max_batch_tokens.unwrap_or(defaults.tokens).max(1),
            texts: options.max_batch_size.unwrap_or(defaults.texts).max(1),
        };
        let quantized = options.precision == Precision::Int8;
        let packed = device.is_cpu()
            && (options.precision == Precision::F32 || quantized)
            && options.cpu_engine == CpuEngine::Packed;
        let encoder = if packed {
            let weights = checkpoint::load_host_weights(&folder.weights_path, &folder.config)?;
            Encoder::Packed(Box::new(PackedEncoder::new(weights, quantized)))
        } else {
            Encoder::Tensors(BertEncoder::load(
                &folder.weights_path,
                &folder.config,
                options.precision.dtype(),
                &device,
            )?)
        };
        Ok(Embedder {
            folder,
            tokenizer,
            encoder,
            device,
            limits,
        })
    }

    /// Length of the vectors this model produces.
    pub fn dim(&self) -> usize {
        self.folder.config.hidden_size
    }

    /// A short identifier of the model (its folder's name).
    pub fn model_id(&self) -> String {
        self.folder.model_id()
    }

    /// The model's fingerprint (see [`ModelFolder::fingerprint`]).
    pub fn fingerprint(&self) -> Result<String> {
        self.folder.fingerprint()
    }

    /// The model folder's settings.
    pub fn folder(&self) -> &ModelFolder {
        &self.folder
    }

    /// The batch limits in force.
    pub fn batch_limits(&self) -> BatchLimits {
        self.limits
    }

    /// The device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// A short name of the device: `cpu` or `cuda`.
    pub fn device_name(&self) -> String {
        device::describe(&self.device)
    }

    /// The device with, on the CPU, the SIMD level of the packed kernels
    /// and the int8 kernel when quantised: `cpu (avx2)`, `cpu (avx512, int8
    /// vnni)`, `cuda`.
    pub fn engine_name(&self) -> String {
        match &self.encoder {
            Encoder::Packed(packed) => match packed.int8_kernel() {
                Some(kernel) => format!("cpu ({}, int8 {kernel})", crate::simd::level()),
                None => format!("cpu ({})", crate::simd::level()),
            },
            Encoder::Tensors(_) => self.device_name(),
        }
    }

    /// Token count of each text after truncation, special tokens included.
    pub fn token_counts<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<usize>> {
        Ok(self
            .tokenizer
            .encode(texts)?
            .iter()
            .map(|t| t.len())
            .collect())
    }

    /// Embeds one text.
    pub fn embed_one(&self, text: &str) -> Result<Vec<f32>> {
        let mut out = self.embed(&[text])?;
        Ok(out.vectors.pop().unwrap_or_default())
    }

    /// Pooled (not yet normalised) vectors of one batch of token id lists.
    fn encode_batch(&self, texts: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        let pooling = self.folder.pooling;
        let encoder = match &self.encoder {
            Encoder::Packed(packed) => {
                let dim = self.dim();
                let mut pooled = Vec::with_capacity(texts.len());
                packed.forward(texts, |hidden| {
                    pooled.push(pooling::pool_rows(hidden, dim, pooling))
                });
                return Ok(pooled);
            }
            Encoder::Tensors(encoder) => encoder,
        };
        // Padded to the longest text, with a mask over the padding.
        let seq = texts.iter().map(|t| t.len()).max().unwrap_or(1).max(1);
        let mut ids = vec![0u32; texts.len() * seq];
        let mut mask = vec![0u32; texts.len() * seq];
        for (row, t) in texts.iter().enumerate() {
            let start = row * seq;
            ids[start..start + t.len()].copy_from_slice(t);
            mask[start..start + t.len()].fill(1);
        }
        let hidden = encoder.forward(&ids, &mask, texts.len(), seq)?;
        let mask = candle_core::Tensor::from_vec(mask, (texts.len(), seq), &self.device)?;
        Ok(pooling::pool(&hidden, &mask, pooling)?.to_vec2::<f32>()?)
    }

    /// Embeds texts; the i-th vector belongs to the i-th text.
    pub fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Result<Embedded> {
        let token_ids = self.tokenizer.encode(texts)?;
        let lengths: Vec<usize> = token_ids.iter().map(|t| t.len()).collect();
        let mut vectors = vec![Vec::new(); texts.len()];
        for batch in plan_batches(&lengths, self.limits.tokens, self.limits.texts) {
            let batch_ids: Vec<&[u32]> = batch.iter().map(|&i| token_ids[i].as_slice()).collect();
            for (&i, vector) in batch.iter().zip(self.encode_batch(&batch_ids)?) {
                vectors[i] = vector;
            }
        }
        if self.folder.normalize {
            pooling::normalize_rows(&mut vectors);
        }
        Ok(Embedded {
            vectors,
            tokens: lengths.iter().sum(),
        })
    }
}
