//! The crate's error type: one enum whose variants carry the facts a user
//! needs (which file, which line, what to do next). Only the binary turns
//! these into exit codes and messages.

use std::path::PathBuf;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `relate`, with enough context to act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The model folder is missing a file, or a file in it is unusable.
    #[error("model file {path}: {problem}. {fix}")]
    ModelFile {
        path: PathBuf,
        problem: String,
        fix: String,
    },

    /// The model folder itself does not exist.
    #[error("model folder {path} does not exist. {fix}")]
    ModelMissing { path: PathBuf, fix: String },

    /// The requested compute device cannot be used.
    #[error("device {requested}: {problem}")]
    Device { requested: String, problem: String },

    /// A failure inside the tensor library while running the model.
    #[error("model computation failed: {0}")]
    Compute(String),

    /// A failure inside the tokenizer.
    #[error("tokenizer failed: {0}")]
    Tokenize(String),

    /// A command-line or API argument is out of range or malformed.
    #[error("invalid {name}: {problem}")]
    InvalidArgument { name: String, problem: String },

    /// A record in an input file is malformed.
    #[error("{path}:{line}: {problem}")]
    BadRecord {
        path: String,
        line: usize,
        problem: String,
    },

    /// Topic finding or a topic map was given no papers.
    #[error("no papers to {action}: add papers to the library first")]
    NoPapers { action: &'static str },

    /// More topics were requested than there are papers.
    #[error(
        "cannot make {requested} topics from {papers} papers: ask for between 1 and {papers} \
         topics, or leave the number out to choose it automatically"
    )]
    TooManyTopics { requested: usize, papers: usize },

    /// Two inputs that must have one entry per paper have different lengths.
    #[error(
        "{field} has {received} entries but there are {expected} papers: pass exactly one per paper"
    )]
    LengthMismatch {
        field: &'static str,
        expected: usize,
        received: usize,
    },

    /// Vector data is unusable (wrong shape, not finite, or all zero).
    #[error("invalid vectors: {problem}. {fix}")]
    InvalidVectors { problem: String, fix: String },
}

impl Error {
    /// Builds an [`Error::Io`] for `path`, describing what was attempted.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Compute(e.to_string())
    }
}
