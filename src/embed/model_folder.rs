//! Reading a sentence-transformers model folder: the BERT `config.json`, the
//! maximum sequence length from `sentence_bert_config.json`, the pooling from
//! `1_Pooling/config.json`, normalisation from `modules.json`, and the paths
//! of `tokenizer.json` and `model.safetensors`. Every problem is reported with
//! the file it concerns and what to do about it.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::pooling::Pooling;
use crate::{Error, Result};

/// What to tell a user whose model folder is broken.
const REFETCH: &str = "Re-run models/fetch.sh (or re-download the model), or point --model / RELATE_MODEL at a complete sentence-transformers model folder";

/// The parts of a BERT `config.json` the encoder needs.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub model_type: Option<String>,
}

fn default_hidden_act() -> String {
    "gelu".into()
}
fn default_type_vocab_size() -> usize {
    2
}
fn default_layer_norm_eps() -> f64 {
    1e-12
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(default)]
    path: String,
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

/// A validated model folder: everything needed to build the encoder.
#[derive(Debug, Clone)]
pub struct ModelFolder {
    pub dir: PathBuf,
    pub config: BertConfig,
    /// Tokens per text after truncation, special tokens included.
    pub max_seq_len: usize,
    pub pooling: Pooling,
    /// Whether vectors are scaled to unit length (a `Normalize` module).
    pub normalize: bool,
    pub tokenizer_path: PathBuf,
    pub weights_path: PathBuf,
}

impl ModelFolder {
    /// Reads and checks the folder's configuration files (not the weights).
    pub fn open(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(Error::ModelMissing {
                path: dir.to_path_buf(),
                fix: "Run models/fetch.sh to download all-MiniLM-L6-v2, or point --model / \
                      RELATE_MODEL at a sentence-transformers model folder"
                    .into(),
            });
        }
        let config_path = dir.join("config.json");
        let config: BertConfig = read_json(&config_path)?;
        check_config(&config, &config_path)?;

        let tokenizer_path = require_file(dir, "tokenizer.json")?;
        let weights_path = require_file(dir, "model.safetensors")?;

        let max_seq_len = read_max_seq_len(dir, &config)?;
        let modules = read_modules(dir)?;
        let normalize = modules
            .as_ref()
            .is_some_and(|m| m.iter().any(|e| e.kind.ends_with("Normalize")));
        let pooling_dir = modules
            .as_ref()
            .and_then(|m| m.iter().find(|e| e.kind.ends_with("Pooling")))
            .map(|e| dir.join(&e.path))
            .unwrap_or_else(|| dir.join("1_Pooling"));
        let pooling = read_pooling(&pooling_dir.join("config.json"))?;

        Ok(ModelFolder {
            dir: dir.to_path_buf(),
            config,
            max_seq_len,
            pooling,
            normalize,
            tokenizer_path,
            weights_path,
        })
    }

    /// A short identifier of the model: the folder's name.
    pub fn model_id(&self) -> String {
        self.dir
            .canonicalize()
            .unwrap_or_else(|_| self.dir.clone())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into())
    }

    /// What identifies the model whatever its folder is called: a sha256
    /// over the weights, tokenizer and config files, pooling, maximum
    /// sequence length and normalisation (64 hex digits). The files' digest
    /// is cached, so only the first call for a folder reads the weights.
    pub fn fingerprint(&self) -> Result<String> {
        super::fingerprint::fingerprint(self)
    }
}

fn model_file_error(path: &Path, problem: impl Into<String>) -> Error {
    Error::ModelFile {
        path: path.to_path_buf(),
        problem: problem.into(),
        fix: REFETCH.into(),
    }
}

fn require_file(dir: &Path, name: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(model_file_error(&path, "is missing"))
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            model_file_error(path, "is missing")
        } else {
            model_file_error(path, format!("cannot be read ({e})"))
        }
    })?;
    serde_json::from_str(&text).map_err(|e| model_file_error(path, format!("is not valid: {e}")))
}

fn read_optional_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    if path.exists() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}

fn check_config(config: &BertConfig, path: &Path) -> Result<()> {
    if config.num_attention_heads == 0
        || !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
    {
        return Err(model_file_error(
            path,
            format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size, config.num_attention_heads
            ),
        ));
    }
    if !matches!(
        config.hidden_act.as_str(),
        "gelu" | "gelu_new" | "gelu_pytorch_tanh" | "relu"
    ) {
        return Err(model_file_error(
            path,
            format!(
                "hidden_act '{}' is not supported (gelu, gelu_new, relu are)",
                config.hidden_act
            ),
        ));
    }
    if let Some(kind) = config.model_type.as_deref().filter(|k| *k != "bert") {
        // RoBERTa-style encoders offset their positions and name their
        // weights differently; loading them as BERT would give wrong vectors.
        return Err(model_file_error(
            path,
            format!("model_type '{kind}' is not supported; relate runs BERT encoders (model_type \"bert\")"),
        ));
    }
    Ok(())
}

fn read_max_seq_len(dir: &Path, config: &BertConfig) -> Result<usize> {
    let path = dir.join("sentence_bert_config.json");
    let configured =
        read_optional_json::<SentenceBertConfig>(&path)?.and_then(|c| c.max_seq_length);
    let limit = config.max_position_embeddings;
    match configured {
        Some(0) => Err(model_file_error(&path, "max_seq_length is 0")),
        Some(n) => Ok(n.min(limit)),
        None => Ok(limit.min(512)),
    }
}

fn read_modules(dir: &Path) -> Result<Option<Vec<ModuleEntry>>> {
    read_optional_json(&dir.join("modules.json"))
}

fn read_pooling(path: &Path) -> Result<Pooling> {
    let Some(cfg) = read_optional_json::<PoolingConfig>(path)? else {
        return Ok(Pooling::Mean);
    };
    let modes = [
        (cfg.pooling_mode_cls_token, Some(Pooling::Cls)),
        (cfg.pooling_mode_mean_tokens, Some(Pooling::Mean)),
        (cfg.pooling_mode_max_tokens, Some(Pooling::Max)),
        (
            cfg.pooling_mode_mean_sqrt_len_tokens,
            Some(Pooling::MeanSqrtLen),
        ),
        (cfg.pooling_mode_weightedmean_tokens, None),
        (cfg.pooling_mode_lasttoken, Some(Pooling::LastToken)),
    ];
    let chosen: Vec<Option<Pooling>> = modes
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, p)| *p)
        .collect();
    match chosen.as_slice() {
        [Some(p)] => Ok(*p),
        [None] => Err(model_file_error(
            path,
            "weighted-mean pooling is not supported",
        )),
        [] => Err(model_file_error(path, "no pooling mode is enabled")),
        _ => Err(model_file_error(
            path,
            "several pooling modes are enabled at once; only one is supported",
        )),
    }
}
