//! Ingesting a paper source into a library: reads it with the corpus
//! readers, tells new, changed and unchanged papers apart, embeds the papers
//! that need a vector, and stores them in batches of [`BATCH`], each batch
//! one transaction (so a crash keeps the batches already committed and
//! running the same ingest again adds exactly what is missing). Bad records
//! are counted and handed to a [`Progress`] observer; with `strict`, a file
//! with any bad record stores nothing. A [`RecordFilter`] (a date range,
//! category prefixes) skips the papers outside it before anything else is
//! done with them, so a field can be taken from the whole arXiv snapshot.
//! This module prints nothing: the command line (and any other caller)
//! shows progress through [`Progress`], with how far the file has been read
//! when its size is known.
//!
//! A record may carry its vector (`"embedding"`, as `relate embed` writes
//! it, with the model's name and fingerprint in `"embedding_model"` and
//! `"embedding_fingerprint"`). Such a paper is stored with that vector and
//! never embedded, after checks: the model that made it must be the
//! library's (the fingerprint recorded in the record, or the
//! [`IngestOptions::model_id`] the caller vouches for when the record does
//! not say), the vector must have the library's dimension, and every value
//! must be a finite 32-bit float. A vector whose length is not 1 (within
//! [`NORM_TOLERANCE`]) is scaled to unit length, as the model's own vectors
//! are, and counted. These three fields are never kept in the stored
//! record, nor an export's `relate_topic` (the topic of the library it came
//! from). The vectors may instead come as the rows of a NumPy matrix beside the
//! file ([`IngestOptions::vectors`]), row `i` for the file's `i`-th record;
//! the records are counted first, and nothing is stored when they and the
//! rows differ in number.
//!
//! Three threads share the work of a file: one reads and parses it, one
//! runs the model, and the calling thread classifies and stores, so a
//! batch is embedded while the one before it is written (on a GPU the
//! database writes would otherwise leave the model idle for a third of the
//! time). A batch is classified before the one ahead of it is stored. The
//! readers already refuse a second record with the same id in one file;
//! should a paper still be in both batches, it is embedded again rather
//! than trusted to be unchanged.

use std::collections::HashSet;
use std::path::Path;

use serde::Serialize;

use crate::corpus::{
    is_stdin, read_input, read_papers, Format, Paper, PaperReader, Problem, ReadEvent,
    ReplayableInput, STDIN_NAME,
};
use serde_json::Value;

use crate::paper_filter::RecordFilter;
use crate::store::{short_fingerprint, Library, ModelInfo};
use crate::vector_rows::VectorRows;
use crate::{Error, Result};

/// Papers classified, embedded and stored together (one transaction).
pub const BATCH: usize = 256;
/// Most papers stored in one transaction when they bring their vectors
/// (a batch ends at [`BATCH`] papers without one, or at this many in all).
pub const VECTOR_BATCH: usize = 4096;
/// Records read ahead of the batch being stored: two batches of papers
/// that bring their vectors, so that reading (and checking the vectors)
/// goes on while a batch is committed rather than waiting for it.
const READ_AHEAD: usize = 2 * VECTOR_BATCH;
/// Progress is reported at least every this many records read, so a
/// filter that keeps few papers still shows reading going on.
const PROGRESS_EVERY: usize = 4096;

/// The field of a record that carries its vector.
pub const EMBEDDING_FIELD: &str = "embedding";
/// The field naming the model that made the vector.
pub const MODEL_FIELD: &str = "embedding_model";
/// The field holding that model's fingerprint (64 hex digits).
pub const FINGERPRINT_FIELD: &str = "embedding_fingerprint";
/// How far from 1 a given vector's length may be before it is normalised.
pub const NORM_TOLERANCE: f64 = 1e-3;
/// Fewest hex digits of a fingerprint that `model_id` may give.
const MIN_FINGERPRINT_PREFIX: usize = 12;

/// How a file is read.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// The source format; detected from the name and content when `None`.
    pub format: Option<Format>,
    /// Store nothing from a file that has any bad record.
    pub strict: bool,
    /// The model that made vectors whose record does not name one: the
    /// library's model name or its fingerprint (at least 12 hex digits).
    /// Without it such vectors are refused.
    pub model_id: Option<String>,
    /// Only papers this filter keeps are stored; the others are counted in
    /// [`FileSummary::filtered_out`].
    pub filter: RecordFilter,
    /// A NumPy `.npy` matrix holding the vector of each record, row `i`
    /// for the file's `i`-th record (bad records included, so that one
    /// does not shift the rest). The file's records must number its rows,
    /// or nothing is stored; [`IngestOptions::model_id`] must say whose
    /// vectors they are.
    pub vectors: Option<std::path::PathBuf>,
}

/// What ingesting one file did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct FileSummary {
    pub path: String,
    pub format: String,
    pub read: usize,
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub warnings: usize,
    pub rejected: usize,
    /// Papers read but outside [`IngestOptions::filter`], so not stored.
    #[serde(skip_serializing_if = "is_zero")]
    pub filtered_out: usize,
    /// Papers that came with their vector (stored without the model).
    #[serde(skip_serializing_if = "is_zero")]
    pub vectors_given: usize,
    /// Given vectors that were scaled to unit length.
    #[serde(skip_serializing_if = "is_zero")]
    pub normalised: usize,
    /// Papers of another input file that this file's papers replaced under
    /// the same id with a different title (see [`FileSummary::retitled`]).
    #[serde(skip_serializing_if = "is_zero")]
    pub replaced_from_other_files: usize,
    /// The first of those: (id, the title it had, the title it has now).
    #[serde(skip)]
    pub retitled: Option<(String, String, String)>,
    /// Set when the file could not be read at all, or `strict` refused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// True when the file could not be opened or read, or its format told
    /// (an error), rather than holding bad records.
    #[serde(skip)]
    pub unreadable: bool,
    /// Papers of this file that were run through the model.
    #[serde(skip)]
    pub embedded: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// How far through its file an ingest has got: the bytes of the file
/// (as stored, so before decompression) behind the papers already handed
/// to the model and the library. The reader runs ahead of them by up to
/// `READ_AHEAD` records, which with the model on a CPU is minutes of
/// work, so its own position would overstate the progress.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FileProgress {
    pub bytes_done: u64,
    /// The file's size; `None` for standard input and pipes.
    pub total_bytes: Option<u64>,
}

/// Observes an ingest as it goes; every method does nothing by default.
pub trait Progress {
    /// A file is about to be read (after a `strict` check passed).
    fn file_started(&mut self, _path: &str) {}
    /// How far the current file has got: `summary` counts the papers so
    /// far (stored, filtered out, rejected), `done` the bytes behind them.
    fn reading(&mut self, _summary: &FileSummary, _done: FileProgress) {}
    /// A paper was accepted with a warning.
    fn warning(&mut self, _problem: &Problem) {}
    /// A record was rejected and skipped.
    fn rejected(&mut self, _problem: &Problem) {}
    /// A `strict` check found these bad records; nothing of the file is
    /// stored.
    fn strict_refused(&mut self, _problems: &[Problem]) {}
    /// The current file is done.
    fn file_finished(&mut self, _summary: &FileSummary) {}
}

/// A [`Progress`] that ignores everything.
pub struct Quiet;

impl Progress for Quiet {}

/// Turns texts into vectors with the library's model; called only when
/// some paper needs a vector, so a caller can load the model lazily.
pub type EmbedTexts<'a> = dyn FnMut(&[String]) -> Result<Vec<Vec<f32>>> + Send + 'a;

/// Reads `path` (`-` for standard input) into `library`. A file that
/// cannot be opened, read or recognised, and a `strict` refusal, come back
/// in the summary (`error`, `unreadable`), not as an error: the caller goes
/// on with its other files. An error is returned only when storing fails
/// (the model, the database); the batches committed before it stay.
pub fn ingest_file(
    library: &mut Library,
    embed: &mut EmbedTexts<'_>,
    path: &Path,
    options: &IngestOptions,
    progress: &mut dyn Progress,
) -> Result<FileSummary> {
    let mut summary = FileSummary {
        path: if is_stdin(path) {
            STDIN_NAME.to_string()
        } else {
            path.display().to_string()
        },
        ..FileSummary::default()
    };
    let open_failed = |summary: &mut FileSummary, e: Error| {
        // Nothing of the file can be read (it cannot be opened, its format
        // told, or its header or first bytes are wrong): an error.
        summary.unreadable = true;
        summary.error = Some(e.to_string());
    };
    let check = VectorCheck {
        model: library.manifest().model.clone(),
        model_id: options.model_id.clone(),
        dir: library.dir().display().to_string(),
    };
    let mut rows = match &options.vectors {
        Some(vectors) => match check.open_rows(vectors) {
            Ok(rows) => Some(rows),
            Err(e) => {
                open_failed(&mut summary, e);
                summary.unreadable = true;
                return Ok(summary);
            }
        },
        None => None,
    };
    // `strict` and `vectors` read the file twice: first to check every
    // record (or count them against the rows), then to store them. A
    // stream is kept in a temporary file for the second read.
    let replay = if options.strict || rows.is_some() {
        match ReplayableInput::new(path) {
            Ok(replay) => Some(replay),
            Err(e) => {
                open_failed(&mut summary, e);
                return Ok(summary);
            }
        }
    } else {
        None
    };
    let open = || -> Result<PaperReader> {
        match &replay {
            Some(replay) => replay
                .open()
                .and_then(|input| read_input(input, options.format)),
            None => read_papers(path, options.format),
        }
    };
    let reader = match open() {
        Ok(reader) => reader,
        Err(e) => {
            open_failed(&mut summary, e);
            return Ok(summary);
        }
    };
    summary.format = reader.format().name().to_string();

    let reader = if replay.is_some() {
        let mut problems = Vec::new();
        let mut records = 0;
        for event in reader {
            match event {
                ReadEvent::Paper { .. } => records += 1,
                ReadEvent::Rejected(p) => {
                    records += 1;
                    problems.push(p);
                }
                ReadEvent::Warning(_) => {}
            }
        }
        if options.strict && !problems.is_empty() {
            progress.strict_refused(&problems);
            summary.rejected = problems.len();
            summary.error = Some(format!(
                "{} bad records; nothing stored from this file (--strict)",
                problems.len()
            ));
            return Ok(summary);
        }
        if let Some(rows) = rows.as_ref().filter(|rows| rows.rows() != records) {
            summary.unreadable = true;
            summary.error = Some(format!(
                "{} has {} rows, but the file has {records} records (counting {} bad ones): \
                 row i must be the vector of record i, so nothing was stored",
                rows.path(),
                rows.rows(),
                problems.len()
            ));
            return Ok(summary);
        }
        match open() {
            Ok(reader) => reader,
            Err(e) => {
                open_failed(&mut summary, e);
                return Ok(summary);
            }
        }
    } else {
        reader
    };

    progress.file_started(&summary.path);
    let position = reader.position();
    let source = source_name(path);
    // The file is read and parsed on its own thread, the model runs on
    // another, and batches are classified and stored on this one.
    std::thread::scope(|scope| {
        // Each record travels filtered, its vector taken out and checked
        // (work done beside the storing), with the reader's position just
        // after it.
        let (send, events) = std::sync::mpsc::sync_channel::<(Incoming, u64)>(READ_AHEAD);
        let reader_position = position.clone();
        let (filter, check) = (&options.filter, &check);
        scope.spawn(move || {
            for event in reader {
                // Every record takes its row, kept or not.
                let row = match (&mut rows, &event) {
                    (Some(rows), ReadEvent::Paper { .. } | ReadEvent::Rejected(_)) => {
                        Some(rows.next_row().map(|row| (row, rows.taken(), rows.path())))
                    }
                    _ => None,
                };
                let incoming = match event {
                    ReadEvent::Paper { paper, .. } if !filter.keeps(&paper) => {
                        Incoming::FilteredOut
                    }
                    ReadEvent::Paper { mut paper, line } => {
                        // An export's topic belongs to the library it came
                        // from: not a field of the paper.
                        paper.extra.remove(crate::export::TOPIC_FIELD);
                        let vector = match row {
                            Some(row) => check.row_vector(&mut paper, row),
                            None => check.take_vector(&mut paper),
                        };
                        Incoming::Kept {
                            paper: Box::new(paper),
                            line,
                            vector,
                        }
                    }
                    ReadEvent::Warning(problem) => Incoming::Warning(problem),
                    ReadEvent::Rejected(problem) => Incoming::Rejected(problem),
                };
                if send.send((incoming, reader_position.bytes_read())).is_err() {
                    break;
                }
            }
        });
        let (texts_in, texts) = std::sync::mpsc::sync_channel::<Vec<String>>(1);
        let (vectors_out, vectors) = std::sync::mpsc::sync_channel::<Result<Vec<Vec<f32>>>>(1);
        scope.spawn(move || {
            while let Ok(texts) = texts.recv() {
                if vectors_out.send(embed(&texts)).is_err() {
                    break;
                }
            }
        });
        let mut store = Store {
            library,
            texts: texts_in,
            vectors,
            source: &source,
            embedded: None,
        };
        let mut watch = Watch {
            done: FileProgress {
                bytes_done: 0,
                total_bytes: position.total_bytes(),
            },
            progress,
        };
        store_events(&mut store, events, &mut summary, &mut watch)
    })?;
    let nothing_found = summary.read + summary.rejected + summary.filtered_out == 0;
    if nothing_found && summary.error.is_none() && position.bytes_read() > 0 {
        // A file with content but no record: most likely read as the wrong
        // format.
        let problem = Problem::new(
            &summary.path,
            1,
            format!(
                "no paper was found in it, read as {}; if it holds papers, name its format with \
                 --format",
                summary.format
            ),
        );
        summary.warnings += 1;
        progress.warning(&problem);
    }
    progress.file_finished(&summary);
    Ok(summary)
}

/// A record as the reader's thread hands it on.
enum Incoming {
    /// A paper the filter keeps, with the vector it brought, if any.
    Kept {
        paper: Box<Paper>,
        line: usize,
        vector: std::result::Result<Option<(Vec<f32>, bool)>, VectorProblem>,
    },
    FilteredOut,
    Warning(Problem),
    Rejected(Problem),
}

/// What [`store_events`] reports to.
struct Watch<'a> {
    /// The bytes behind the last event taken from the reader.
    done: FileProgress,
    progress: &'a mut dyn Progress,
}

/// Stores the papers of `events` in batches; see [`ingest_file`].
fn store_events(
    store: &mut Store<'_>,
    events: impl IntoIterator<Item = (Incoming, u64)>,
    summary: &mut FileSummary,
    watch: &mut Watch<'_>,
) -> Result<()> {
    let mut batch: Vec<(Paper, Option<Vec<f32>>)> = Vec::with_capacity(BATCH);
    // Papers in the batch that did not bring their vector.
    let mut without_vector = 0;
    let progress = &mut *watch.progress;
    for (n, (event, bytes)) in events.into_iter().enumerate() {
        if n % PROGRESS_EVERY == 0 {
            progress.reading(summary, watch.done);
        }
        watch.done.bytes_done = bytes;
        match event {
            Incoming::FilteredOut => {
                summary.filtered_out += 1;
            }
            Incoming::Kept {
                paper,
                line,
                vector,
            } => {
                let vector = match vector {
                    Ok(vector) => vector,
                    Err(VectorProblem::Record(message)) => {
                        summary.rejected += 1;
                        progress.rejected(&Problem::new(&summary.path, line, message));
                        continue;
                    }
                    Err(VectorProblem::Stop(message)) => {
                        // Nothing more of this file is stored: its vectors
                        // would not be comparable with the library's. The
                        // papers before this line passed every check.
                        store.batch(&mut batch, summary)?;
                        store.finish(summary)?;
                        summary.unreadable = true;
                        summary.error = Some(format!(
                            "line {line}: {message}; nothing from line {line} on was stored"
                        ));
                        return Ok(());
                    }
                };
                if let Some((_, normalised)) = &vector {
                    summary.vectors_given += 1;
                    summary.normalised += usize::from(*normalised);
                }
                summary.read += 1;
                without_vector += usize::from(vector.is_none());
                batch.push((*paper, vector.map(|(v, _)| v)));
                if without_vector == BATCH || batch.len() == VECTOR_BATCH {
                    store.batch(&mut batch, summary)?;
                    without_vector = 0;
                    progress.reading(summary, watch.done);
                }
            }
            Incoming::Warning(problem) => {
                summary.warnings += 1;
                progress.warning(&problem);
            }
            Incoming::Rejected(problem) => {
                summary.rejected += 1;
                progress.rejected(&problem);
            }
        }
    }
    store.batch(&mut batch, summary)?;
    store.finish(summary)
}

/// The name a file's papers are recorded under as their source: its
/// canonical path, `-` for standard input, or the path as given when it
/// cannot be resolved (a pipe).
pub fn source_name(path: &Path) -> String {
    if is_stdin(path) {
        return "-".to_string();
    }
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// Where batches go: the library, the model's thread, the source
/// recorded, and the batch embedded but not yet stored.
struct Store<'l> {
    library: &'l mut Library,
    /// Texts to the model's thread.
    texts: std::sync::mpsc::SyncSender<Vec<String>>,
    /// Their vectors back, in the order sent.
    vectors: std::sync::mpsc::Receiver<Result<Vec<Vec<f32>>>>,
    source: &'l str,
    embedded: Option<Embedded>,
}

/// A batch with every vector it needs, waiting for its transaction.
struct Embedded {
    items: Vec<(Paper, Option<Vec<f32>>)>,
}

impl Store<'_> {
    /// Classifies `batch` and has its papers that need a vector embedded
    /// while the batch before it is stored (one transaction each).
    fn batch(
        &mut self,
        batch: &mut Vec<(Paper, Option<Vec<f32>>)>,
        summary: &mut FileSummary,
    ) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let papers: Vec<&Paper> = batch.iter().map(|(p, _)| p).collect();
        let changes = self.library.classify(&papers)?;
        // The batch ahead is not stored yet: a paper in it too may change
        // there, so its classification here is not trusted.
        let ahead: Option<HashSet<&str>> = self
            .embedded
            .as_ref()
            .map(|e| e.items.iter().map(|(p, _)| p.id.as_str()).collect());
        let needs_model: Vec<bool> = batch
            .iter()
            .zip(&changes)
            .map(|((paper, given), change)| {
                given.is_none()
                    && (change.needs_vector()
                        || ahead
                            .as_ref()
                            .is_some_and(|ids| ids.contains(paper.id.as_str())))
            })
            .collect();
        let texts: Vec<String> = batch
            .iter()
            .zip(&needs_model)
            .filter(|(_, &needed)| needed)
            .map(|((paper, _), _)| paper.embedding_text())
            .collect();
        let sent = !texts.is_empty();
        summary.embedded += texts.len();
        if sent {
            self.texts.send(texts).map_err(|_| model_thread_gone())?;
        }
        // Stored while the model works on this batch.
        self.finish(summary)?;
        let mut vectors = if sent {
            self.vectors.recv().map_err(|_| model_thread_gone())??
        } else {
            Vec::new()
        }
        .into_iter();
        let items: Vec<(Paper, Option<Vec<f32>>)> = batch
            .drain(..)
            .zip(needs_model)
            .map(|((paper, given), needed)| {
                let vector = if needed { vectors.next() } else { given };
                (paper, vector)
            })
            .collect();
        self.embedded = Some(Embedded { items });
        Ok(())
    }

    /// Stores the batch waiting, if any, in one transaction.
    fn finish(&mut self, summary: &mut FileSummary) -> Result<()> {
        let Some(embedded) = self.embedded.take() else {
            return Ok(());
        };
        let result = self
            .library
            .upsert_from(embedded.items, Some(self.source))?;
        summary.added += result.added;
        summary.updated += result.text_changed + result.metadata_changed;
        summary.unchanged += result.unchanged;
        summary.replaced_from_other_files += result.retitled_from_elsewhere_count;
        if summary.retitled.is_none() {
            summary.retitled = result.retitled_from_elsewhere;
        }
        Ok(())
    }
}

/// The model's thread ended without an answer (it panicked).
fn model_thread_gone() -> Error {
    Error::Compute("the embedding thread stopped unexpectedly".into())
}

/// Why a record's own vector cannot be used.
enum VectorProblem {
    /// This record is bad (skipped, like any bad record).
    Record(String),
    /// The vectors come from another model than the library's, or cannot
    /// be read (the file is refused from here on).
    Stop(String),
}

/// Checks the vectors that records carry against the library.
struct VectorCheck {
    model: ModelInfo,
    model_id: Option<String>,
    dir: String,
}

impl VectorCheck {
    /// Takes the vector fields out of `paper`; the vector (with whether it
    /// was normalised) when it had one that passes the checks.
    fn take_vector(
        &self,
        paper: &mut Paper,
    ) -> std::result::Result<Option<(Vec<f32>, bool)>, VectorProblem> {
        let name = paper.extra.remove(MODEL_FIELD);
        let fingerprint = paper.extra.remove(FINGERPRINT_FIELD);
        let Some(embedding) = paper.extra.remove(EMBEDDING_FIELD) else {
            return Ok(None);
        };
        let text = |field: &str, value: Option<Value>| match value {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(VectorProblem::Record(format!(
                "field `{field}` is not text"
            ))),
        };
        let name = text(MODEL_FIELD, name)?;
        let fingerprint = text(FINGERPRINT_FIELD, fingerprint)?;
        self.check_model(name.as_deref(), fingerprint.as_deref())
            .map_err(VectorProblem::Stop)?;
        let Value::Array(items) = embedding else {
            return Err(VectorProblem::Record(format!(
                "field `{EMBEDDING_FIELD}` is not a list of numbers"
            )));
        };
        if items.len() != self.model.dim {
            return Err(VectorProblem::Record(format!(
                "field `{EMBEDDING_FIELD}` has {} values, but the library holds {}-dimensional \
                 vectors of model {}",
                items.len(),
                self.model.dim,
                self.model.id
            )));
        }
        let mut vector = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item.as_f64() {
                Some(v) => vector.push(v as f32),
                None => {
                    return Err(VectorProblem::Record(format!(
                        "field `{EMBEDDING_FIELD}`: value {} ({item}) is not a number",
                        i + 1
                    )))
                }
            }
        }
        unit_vector(vector, &format!("field `{EMBEDDING_FIELD}`")).map(Some)
    }

    /// Opens the `.npy` matrix of vectors given beside a file, after
    /// checking that its rows have the library's dimension and that the
    /// caller said which model made them (the file cannot say).
    fn open_rows(&self, path: &Path) -> Result<VectorRows> {
        let rows = VectorRows::open(path)?;
        let bad = |problem: String| Error::BadInput {
            path: rows.path().to_string(),
            problem,
        };
        if rows.dim() != self.model.dim {
            return Err(bad(format!(
                "its rows have {} values, but the library at {} holds {}-dimensional vectors of \
                 model {}",
                rows.dim(),
                self.dir,
                self.model.dim,
                self.model.id
            )));
        }
        if self.model_id.is_none() {
            return Err(bad(format!(
                "a .npy file does not say which model made its vectors: if they come from the \
                 library's model, say so with --model-id {}",
                self.model
                    .fingerprint
                    .as_deref()
                    .map_or(self.model.id.as_str(), short_fingerprint)
            )));
        }
        self.check_model(None, None).map_err(bad)?;
        Ok(rows)
    }

    /// The vector for `paper` from its row of the `.npy` matrix (`row`:
    /// the row as read, its 1-based number and the file's name). A record
    /// that brings its own vector as well is refused.
    fn row_vector(
        &self,
        paper: &mut Paper,
        row: Result<(Option<Vec<f32>>, usize, &str)>,
    ) -> std::result::Result<Option<(Vec<f32>, bool)>, VectorProblem> {
        paper.extra.remove(MODEL_FIELD);
        paper.extra.remove(FINGERPRINT_FIELD);
        let own = paper.extra.remove(EMBEDDING_FIELD).is_some();
        let (row, number, path) = row.map_err(|e| VectorProblem::Stop(e.to_string()))?;
        let Some(row) = row else {
            return Err(VectorProblem::Stop(format!(
                "{path} has no row for this record (it changed while being read)"
            )));
        };
        if own {
            return Err(VectorProblem::Record(format!(
                "the record carries its own `{EMBEDDING_FIELD}` and row {number} of {path} gives \
                 another: keep one of them"
            )));
        }
        unit_vector(row, &format!("row {number} of {path}")).map(Some)
    }

    /// Whether vectors made by the model `name` / `fingerprint` (as the
    /// record says; both absent in a file from elsewhere) belong in the
    /// library; the error names both models.
    fn check_model(
        &self,
        name: Option<&str>,
        fingerprint: Option<&str>,
    ) -> std::result::Result<(), String> {
        let library = match &self.model.fingerprint {
            Some(f) => format!(
                "model {} (fingerprint {})",
                self.model.id,
                short_fingerprint(f)
            ),
            None => format!("model {}", self.model.id),
        };
        let fix = "embed the papers with the library's model, or import them into a new \
                   library with --store NEW_DIR";
        if let Some(given) = fingerprint {
            let same = match &self.model.fingerprint {
                Some(recorded) => recorded.eq_ignore_ascii_case(given),
                None => name == Some(self.model.id.as_str()),
            };
            return if same {
                Ok(())
            } else {
                Err(format!(
                    "the vectors were made by model {} (fingerprint {}), but the library at {} \
                     holds vectors of {library}: {fix}",
                    name.unwrap_or("(unnamed)"),
                    short_fingerprint(given),
                    self.dir
                ))
            };
        }
        let Some(claimed) = self.model_id.as_deref() else {
            return Err(format!(
                "the record carries an `{EMBEDDING_FIELD}` but not the `{FINGERPRINT_FIELD}` of \
                 the model that made it; if the vectors come from the library's {library}, say \
                 so with --model-id {}",
                self.model
                    .fingerprint
                    .as_deref()
                    .map_or(self.model.id.as_str(), short_fingerprint)
            ));
        };
        let claimed_lower = claimed.to_ascii_lowercase();
        let by_fingerprint = claimed.len() >= MIN_FINGERPRINT_PREFIX
            && self
                .model
                .fingerprint
                .as_deref()
                .is_some_and(|f| f.starts_with(&claimed_lower));
        if by_fingerprint || claimed == self.model.id {
            Ok(())
        } else {
            Err(format!(
                "--model-id {claimed} names another model than the library's {library} at {}: \
                 {fix}",
                self.dir
            ))
        }
    }
}

/// `vector` (described by `what` in a problem) scaled to unit length,
/// with whether it had to be, once every value is known to be a finite
/// 32-bit float and the length is not zero.
fn unit_vector(
    mut vector: Vec<f32>,
    what: &str,
) -> std::result::Result<(Vec<f32>, bool), VectorProblem> {
    if let Some((i, v)) = vector.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(VectorProblem::Record(format!(
            "{what}: value {} ({v}) is not a finite 32-bit number",
            i + 1
        )));
    }
    let norm = vector
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return Err(VectorProblem::Record(format!(
            "{what} has length {norm}; it cannot be scaled to unit length"
        )));
    }
    let normalise = (norm - 1.0).abs() > NORM_TOLERANCE;
    if normalise {
        for v in &mut vector {
            *v = (f64::from(*v) / norm) as f32;
        }
    }
    Ok((vector, normalise))
}

/// Records read when looking for the model of a file's vectors.
const MODEL_PEEK_RECORDS: usize = 1000;

/// The model that made the vectors of the file at `path`, to create a
/// library without the model folder: the name and fingerprint its first
/// record with a vector and an `"embedding_fingerprint"` gives, and the
/// vector length most of that model's records have among the file's first
/// records (so that one bad first record does not set the dimension).
/// `None` when those records carry no such vector. Only a regular file is
/// read for this (a stream could not be read again).
pub fn model_of_vectors(path: &Path, format: Option<Format>) -> Result<Option<ModelInfo>> {
    if is_stdin(path) || !path.metadata().is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    let reader = read_papers(path, format)?;
    let mut found: Option<ModelInfo> = None;
    let mut lengths: std::collections::HashMap<usize, usize> = Default::default();
    for event in reader.take(MODEL_PEEK_RECORDS) {
        let ReadEvent::Paper { paper, .. } = event else {
            continue;
        };
        let (Some(Value::Array(vector)), Some(Value::String(fingerprint))) = (
            paper.extra.get(EMBEDDING_FIELD),
            paper.extra.get(FINGERPRINT_FIELD),
        ) else {
            continue;
        };
        let fingerprint = fingerprint.to_ascii_lowercase();
        let valid = fingerprint.len() == 64 && fingerprint.bytes().all(|b| b.is_ascii_hexdigit());
        if !valid || vector.is_empty() {
            continue;
        }
        let model = found.get_or_insert_with(|| ModelInfo {
            id: match paper.extra.get(MODEL_FIELD) {
                Some(Value::String(name)) if !name.is_empty() => name.clone(),
                _ => "model".to_string(),
            },
            dim: vector.len(),
            fingerprint: Some(fingerprint.clone()),
        });
        if model.fingerprint.as_deref() == Some(fingerprint.as_str()) {
            *lengths.entry(vector.len()).or_default() += 1;
        }
    }
    Ok(found.map(|mut model| {
        if let Some((&dim, _)) = lengths.iter().max_by_key(|(&dim, &n)| (n, dim)) {
            model.dim = dim;
        }
        model
    }))
}
