//! Ingesting a paper source into a library: reads it with the corpus
//! readers, tells new, changed and unchanged papers apart, embeds the papers
//! that need a vector, and stores them in batches of [`BATCH`], each batch
//! one transaction (so a crash keeps the batches already committed and
//! running the same ingest again adds exactly what is missing). Bad records
//! are counted and handed to a [`Progress`] observer; with `strict`, a file
//! with any bad record stores nothing. This module prints nothing: the
//! command line (and any other caller) shows progress through [`Progress`].

use std::path::Path;

use serde::Serialize;

use crate::corpus::{
    is_stdin, read_input, read_papers, Format, Paper, PaperReader, Problem, ReadEvent,
    ReplayableInput, STDIN_NAME,
};
use crate::store::Library;
use crate::{Error, Result};

/// Papers classified, embedded and stored together (one transaction).
pub const BATCH: usize = 256;

/// How a file is read.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// The source format; detected from the name and content when `None`.
    pub format: Option<Format>,
    /// Store nothing from a file that has any bad record.
    pub strict: bool,
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

/// Observes an ingest as it goes; every method does nothing by default.
pub trait Progress {
    /// A file is about to be read (after a `strict` check passed).
    fn file_started(&mut self, _path: &str) {}
    /// `read` papers of the current file have been stored so far.
    fn papers_stored(&mut self, _read: usize) {}
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
pub type EmbedTexts<'a> = dyn FnMut(&[String]) -> Result<Vec<Vec<f32>>> + 'a;

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
        // A file with a bad header or bad bytes is a bad record; one that
        // cannot be read or recognised at all is an error.
        summary.unreadable = !matches!(e, Error::BadRecord { .. });
        summary.error = Some(e.to_string());
    };
    // `strict` reads the file twice: first to check every record, then to
    // store them. A stream is kept in a temporary file for the second read.
    let replay = if options.strict {
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

    let reader = if options.strict {
        let problems: Vec<Problem> = reader
            .filter_map(|event| match event {
                ReadEvent::Rejected(p) => Some(p),
                _ => None,
            })
            .collect();
        if !problems.is_empty() {
            progress.strict_refused(&problems);
            summary.rejected = problems.len();
            summary.error = Some(format!(
                "{} bad records; nothing stored from this file (--strict)",
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
    let mut batch: Vec<Paper> = Vec::with_capacity(BATCH);
    for event in reader {
        match event {
            ReadEvent::Paper { paper, .. } => {
                summary.read += 1;
                batch.push(paper);
                if batch.len() == BATCH {
                    store_batch(library, embed, &mut batch, &mut summary)?;
                    progress.papers_stored(summary.read);
                }
            }
            ReadEvent::Warning(problem) => {
                summary.warnings += 1;
                progress.warning(&problem);
            }
            ReadEvent::Rejected(problem) => {
                summary.rejected += 1;
                progress.rejected(&problem);
            }
        }
    }
    store_batch(library, embed, &mut batch, &mut summary)?;
    progress.file_finished(&summary);
    Ok(summary)
}

/// Classifies, embeds and stores one batch in one transaction.
fn store_batch(
    library: &mut Library,
    embed: &mut EmbedTexts<'_>,
    batch: &mut Vec<Paper>,
    summary: &mut FileSummary,
) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let changes = library.classify(batch)?;
    let texts: Vec<String> = batch
        .iter()
        .zip(&changes)
        .filter(|(_, c)| c.needs_vector())
        .map(|(p, _)| p.embedding_text())
        .collect();
    let mut vectors = if texts.is_empty() {
        Vec::new()
    } else {
        embed(&texts)?
    }
    .into_iter();
    summary.embedded += texts.len();
    let items: Vec<(Paper, Option<Vec<f32>>)> = batch
        .drain(..)
        .zip(&changes)
        .map(|(paper, change)| {
            let vector = if change.needs_vector() {
                vectors.next()
            } else {
                None
            };
            (paper, vector)
        })
        .collect();
    let result = library.upsert(items)?;
    summary.added += result.added;
    summary.updated += result.text_changed + result.metadata_changed;
    summary.unchanged += result.unchanged;
    Ok(())
}
