//! Flags shared by every subcommand that runs the model: which model folder,
//! which device, which precision, how large a batch.

use std::path::PathBuf;

use clap::Args;
use relate::embed::{default_model_dir, DeviceChoice, EmbedderOptions, Precision};

/// Most padded tokens one batch may be given.
const MAX_BATCH_TOKENS: i64 = 1 << 20;
/// Most texts one batch may be given.
const MAX_BATCH_SIZE: i64 = 8192;

#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Sentence-transformers model folder [default: models/all-MiniLM-L6-v2,
    /// as created by models/fetch.sh]
    #[arg(long, env = "RELATE_MODEL", value_name = "DIR")]
    pub model: Option<PathBuf>,

    /// Where to run the model: auto, cpu, cuda or cuda:N (auto picks CUDA when
    /// this build has it and a GPU is present)
    #[arg(long, default_value = "auto", value_name = "DEVICE")]
    pub device: DeviceChoice,

    /// Precision: f32; int8 on the CPU (linear layers quantised: faster,
    /// vectors within cosine 0.99 of f32's); f16 or bf16 on CUDA
    #[arg(long, default_value = "f32", value_name = "DTYPE")]
    pub dtype: Precision,

    /// Most padded tokens (texts x longest text) in one batch, 1 to 1,048,576
    /// [default: 4096 on the CPU, 65536 on a GPU]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=MAX_BATCH_TOKENS))]
    pub batch_tokens: Option<u32>,

    /// Most texts in one batch, 1 to 8,192 [default: 64 on the CPU, 256 on a GPU]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=MAX_BATCH_SIZE))]
    pub batch_size: Option<u32>,
}

impl ModelArgs {
    pub fn options(&self) -> EmbedderOptions {
        EmbedderOptions {
            model_dir: self.model.clone().unwrap_or_else(default_model_dir),
            device: self.device,
            precision: self.dtype,
            max_batch_tokens: self.batch_tokens.map(|n| n as usize),
            max_batch_size: self.batch_size.map(|n| n as usize),
            ..EmbedderOptions::default()
        }
    }
}
