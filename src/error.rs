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

    /// A vector (query or stored) has a different length than the index expects.
    #[error(
        "vector has {received} dimensions but the index holds {expected}-dimensional vectors; \
         embed the text with the same model that built the library"
    )]
    WrongDimension { expected: usize, received: usize },

    /// A flat vector buffer does not divide into whole vectors of the given dimension.
    #[error(
        "vector data holds {values} values, which is not a whole number of {dim}-dimensional \
         vectors; the vector file is truncated or the dimension is wrong"
    )]
    VectorShape { values: usize, dim: usize },

    /// A vector contains NaN or an infinity, which no distance can rank.
    #[error(
        "vector at slot {slot} has a non-finite value ({value}) at position {position}; \
         re-embed that paper or remove it before indexing"
    )]
    NonFiniteSlot {
        slot: usize,
        position: usize,
        value: f32,
    },

    /// A vector that should have length 1 does not.
    #[error(
        "vector at slot {slot} has length {norm}, but the index needs unit vectors; \
         normalise embeddings to length 1 before indexing"
    )]
    NotUnitVector { slot: usize, norm: f32 },

    /// A saved index is missing, damaged, or from an incompatible version.
    #[error("index {path}: {problem}. {fix}")]
    IndexFile {
        path: PathBuf,
        problem: String,
        fix: String,
    },
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
