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
    /// (The cause is part of the message and not a separate `source`, so
    /// that an error chain printed in full names it once.)
    #[error("{action} {path}: {cause}")]
    Io {
        action: &'static str,
        path: PathBuf,
        cause: std::io::Error,
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

    /// There is no library in the folder a query was pointed at.
    #[error("no library at {dir}: create one by ingesting papers into it (relate ingest FILE --store {dir}), or point --store / RELATE_STORE at an existing library")]
    StoreMissing { dir: PathBuf },

    /// The path given as a library folder is something else (a file).
    #[error("{dir} is not a folder, so it cannot hold a library: point --store / RELATE_STORE at the library's folder (a papers file goes after `relate ingest`)")]
    StoreNotFolder { dir: PathBuf },

    /// A new library would be made in a folder that holds other files.
    #[error("{dir} holds other files ({example}, …) and no library, so no library is made there: give --store / RELATE_STORE an empty or new folder (a library keeps its files in a folder of its own)")]
    StoreFolderInUse { dir: PathBuf, example: String },

    /// The library was embedded with another model or vector dimension.
    #[error("the library at {dir} holds vectors from model {stored_model} ({stored_dim} dimensions), not {requested_model} ({requested_dim} dimensions): use the {stored_model} model folder with this library (--model DIR), or ingest into a new library with --store NEW_DIR")]
    StoreModelMismatch {
        dir: PathBuf,
        stored_model: String,
        stored_dim: usize,
        requested_model: String,
        requested_dim: usize,
    },

    /// The library was embedded with a model whose files differ from the
    /// given one (fingerprints are shown in their short form).
    #[error("the library at {dir} holds vectors from model {stored_model} (fingerprint {stored_fingerprint}), but the model given is {requested_model} (fingerprint {requested_fingerprint}): its weights, tokenizer or settings differ, so its vectors would not match. Use the model the library was built with (--model DIR, a folder with fingerprint {stored_fingerprint}), or ingest into a new library with --store NEW_DIR")]
    StoreModelFingerprintMismatch {
        dir: PathBuf,
        stored_model: String,
        stored_fingerprint: String,
        requested_model: String,
        requested_fingerprint: String,
    },

    /// The library was written in an on-disk format this build does not read.
    #[error("{path} has library format version {found}, but this relate reads version {supported}: use the relate release that wrote it, or ingest the papers into a new library with --store NEW_DIR")]
    StoreFormatVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    /// A file of the library is unreadable or damaged.
    #[error("library file {path} is unusable: {problem}. {fix}")]
    StoreCorrupt {
        path: PathBuf,
        problem: String,
        fix: String,
    },

    /// The library database refused an operation.
    #[error("library database {path}: {action} failed: {cause}")]
    Database {
        path: PathBuf,
        action: &'static str,
        cause: rusqlite::Error,
    },

    /// Another process is writing to the same library.
    #[error("the library at {dir} is being written by another relate process ({holder}); waited {waited_secs} s: wait for it to finish (or pass a longer --wait), or use another library with --store")]
    StoreBusy {
        dir: PathBuf,
        /// Who holds the library, as its lock file says (process id and
        /// command), or `unknown`.
        holder: String,
        waited_secs: u64,
    },

    /// No default library folder can be derived from the environment.
    #[error(
        "cannot choose a default library folder: {problem}. Pass --store DIR or set RELATE_STORE"
    )]
    StoreLocation { problem: String },

    /// A vector handed to the library has the wrong number of dimensions.
    #[error("vector for paper {id} has {received} dimensions, but the library holds {expected}-dimensional vectors from its model; embed it with the library's model")]
    WrongVectorDimension {
        id: String,
        expected: usize,
        received: usize,
    },

    /// A vector handed to the library contains NaN or infinity.
    #[error("vector for paper {id} has a non-finite value ({value}) at position {index}; the embedding failed for this paper, so check its text and the model")]
    NonFiniteVector {
        id: String,
        index: usize,
        value: f32,
    },

    /// A new or re-worded paper was handed to the library without its vector.
    #[error("paper {id} is {change} but came without a vector; embed its title and abstract before storing it")]
    MissingVector { id: String, change: &'static str },

    /// An input's content is not what its name says, or cannot be decoded.
    #[error("{path}: {problem}")]
    BadInput { path: String, problem: String },

    /// The format of an input file could not be told from its name or
    /// content.
    #[error(
        "cannot tell the format of {path}: {problem}. Pass --format (one of digest, jsonl, csv, \
         arxiv, bibtex, ris, feed, endnote, parquet), or name the file with a known extension"
    )]
    UnknownFormat { path: PathBuf, problem: String },

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

    /// No paper has the id or a title like the one the user gave.
    #[error("no paper in the library has the id or a title like '{query}': check the spelling, or list papers with `relate search \"{query}\"`")]
    PaperNotFound { query: String },

    /// A title matches several papers about equally well.
    #[error(
        "'{query}' matches several papers; give one of these ids instead:{}",
        format_candidates(candidates)
    )]
    AmbiguousPaper {
        query: String,
        /// (id, title) of each candidate, best first.
        candidates: Vec<(String, String)>,
    },

    /// The saved HNSW index is missing or older than the library.
    #[error("the HNSW index at {path} is missing or older than the library: run `relate index` to build it, or search without --hnsw")]
    IndexStale { path: PathBuf },

    /// The full-text index that `--rank hybrid` needs is missing or behind.
    #[error("the library at {dir} {problem}, which --rank hybrid needs: build it once with `relate index` (or any `relate ingest` into the library), or rank with --rank dense")]
    TextIndexMissing { dir: PathBuf, problem: &'static str },
}

fn format_candidates(candidates: &[(String, String)]) -> String {
    candidates
        .iter()
        .map(|(id, title)| format!("\n  {id}  {title}"))
        .collect()
}

impl Error {
    /// Builds an [`Error::Io`] for `path`, describing what was attempted.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            cause,
        }
    }
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Compute(e.to_string())
    }
}
