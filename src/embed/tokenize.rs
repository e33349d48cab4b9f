//! The model's tokenizer, set up the way sentence-transformers uses it:
//! truncation at the model's maximum sequence length (not the length baked
//! into `tokenizer.json`), no padding (batches are padded by the caller).
//! A text far longer than the tokens kept is cut at a word boundary first,
//! [`BYTES_PER_TOKEN`] bytes per token kept, so that a megabyte abstract
//! is not tokenised whole (the tokenizer holds a few dozen bytes per byte
//! of text) only to be truncated.

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use super::model_folder::ModelFolder;
use crate::{Error, Result};

/// Bytes of text tokenised per token kept, at least: ordinary text takes
/// 4 to 6 bytes a token, so only text beyond what could ever be kept is
/// cut.
const BYTES_PER_TOKEN: usize = 64;

/// Turns texts into token ids for the encoder.
pub struct TextTokenizer {
    inner: Tokenizer,
    /// Tokens kept per text, special tokens included.
    max_len: usize,
}

/// `text` up to the first whitespace after `max_tokens` ×
/// [`BYTES_PER_TOKEN`] bytes (whole when shorter, or when no whitespace
/// follows).
fn clip(text: &str, max_tokens: usize) -> &str {
    let mut at = max_tokens.saturating_mul(BYTES_PER_TOKEN);
    if text.len() <= at {
        return text;
    }
    while !text.is_char_boundary(at) {
        at += 1;
    }
    match text[at..].find(|c: char| c.is_ascii_whitespace()) {
        Some(offset) => &text[..at + offset],
        None => text,
    }
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
        Ok(TextTokenizer {
            inner,
            max_len: folder.max_seq_len,
        })
    }

    /// Token ids of each text, special tokens added, truncated.
    pub fn encode<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<u32>>> {
        let inputs: Vec<&str> = texts
            .iter()
            .map(|t| clip(t.as_ref(), self.max_len))
            .collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_text_far_beyond_the_limit_is_cut_between_words() {
        assert_eq!(clip("short text", 4), "short text");
        let long = "word ".repeat(100);
        // 2 tokens: 128 bytes, then up to the next space.
        assert_eq!(clip(&long, 2), &long[..129]);
        // No whitespace after the budget: kept whole.
        let one_word = "x".repeat(1000);
        assert_eq!(clip(&one_word, 2), one_word);
        // The budget falling inside a character moves past it.
        let accents = "x".to_string() + &"é".repeat(100) + " end";
        assert!(!accents.is_char_boundary(128));
        assert_eq!(clip(&accents, 2), "x".to_string() + &"é".repeat(100));
    }
}
