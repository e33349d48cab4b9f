//! The model's tokenizer, set up the way sentence-transformers uses it:
//! truncation at the model's maximum sequence length (not the length baked
//! into `tokenizer.json`), no padding (batches are padded by the caller).

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use super::model_folder::ModelFolder;
use crate::{Error, Result};

/// Turns texts into token ids for the encoder.
pub struct TextTokenizer {
    inner: Tokenizer,
}

impl TextTokenizer {
    /// Loads `tokenizer.json` and checks it against the model's vocabulary.
    pub fn load(folder: &ModelFolder) -> Result<Self> {
        let path = &folder.tokenizer_path;
        let file_error = |problem: String| {
            Error::ModelFile {
            path: path.clone(),
            problem,
            fix: "Re-run models/fetch.sh (or re-download the model) so that tokenizer.json matches the weights".into(),
        }
        };
        let mut inner = Tokenizer::from_file(path)
            .map_err(|e| file_error(format!("cannot be loaded ({e})")))?;
        let vocab = inner.get_vocab_size(true);
        if vocab > folder.config.vocab_size {
            return Err(file_error(format!(
                "has {vocab} tokens but config.json's vocab_size is {}",
                folder.config.vocab_size
            )));
        }
        inner
            .with_truncation(Some(TruncationParams {
                max_length: folder.max_seq_len,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| {
                file_error(format!(
                    "rejects truncation at {} tokens ({e})",
                    folder.max_seq_len
                ))
            })?;
        inner.with_padding(None);
        Ok(TextTokenizer { inner })
    }

    /// Token ids of each text, special tokens added, truncated.
    pub fn encode<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<u32>>> {
        let inputs: Vec<&str> = texts.iter().map(|t| t.as_ref()).collect();
        let encodings = self
            .inner
            .encode_batch(inputs, true)
            .map_err(|e| Error::Tokenize(e.to_string()))?;
        Ok(encodings
            .into_iter()
            .map(|e| e.get_ids().to_vec())
            .collect())
    }
}
