//! `relate ingest`: reads paper sources, embeds new and changed papers, and
//! stores them in the library, one transaction per batch. Reports every bad
//! record with file and line, and a summary of what was added, updated,
//! unchanged and rejected.

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use relate::corpus::{
    is_stdin, read_input, read_papers, Format, Paper, ReadEvent, ReplayableInput, STDIN_NAME,
};
use relate::embed::{Embedder, ModelFolder};
use relate::store::{Library, ModelInfo, UpsertSummary};
use serde::Serialize;

use super::model_args::ModelArgs;
use super::store_args::{StoreArgs, WaitArgs};
use super::Outcome;

/// Papers classified, embedded and stored together (one transaction).
const BATCH: usize = 256;

/// Warnings printed per file; the rest are counted in the summary.
const MAX_WARNINGS_SHOWN: usize = 10;

#[derive(Debug, Args)]
#[command(
    after_help = "Formats: digest (a daily-papers page: title paragraph, abstract paragraph), \
jsonl (id, title, abstract, authors, date/year, categories, url; only title is required), csv (same \
columns), arxiv (the arXiv metadata snapshot, JSON lines), bibtex. The format is detected from the \
extension and content unless --format is given. PATH may be - for standard input, or a pipe or \
FIFO (/dev/stdin, <(zcat papers.jsonl.gz)); input compressed with gzip, zstd or xz (.gz, .zst, .xz) \
is decompressed as it is read. A line longer than 16 MiB is a bad record, skipped unread.\n\n\
Re-ingesting a file adds nothing; a paper whose title or abstract changed is re-embedded; other \
changes update the record only.\n\n\
Exit status: 0 when every record was stored, 3 when some records were rejected (reported with file \
and line; with --strict, nothing of such a file is stored), 1 on error (a file that cannot be opened \
or read, or whose format cannot be told; the other files are still ingested), 2 on bad usage."
)]
pub struct IngestArgs {
    /// Paper files to ingest ('-' for standard input)
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Source format, instead of detecting it: digest, jsonl, csv, arxiv, bibtex
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<Format>,

    /// Reject a whole file (store nothing from it) when any record in it is bad
    #[arg(long)]
    pub strict: bool,

    /// Print the summary as JSON on standard output
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub wait: WaitArgs,

    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Debug, Default, Clone, Serialize)]
struct FileSummary {
    path: String,
    format: String,
    read: usize,
    added: usize,
    updated: usize,
    unchanged: usize,
    warnings: usize,
    rejected: usize,
    /// Set when the file could not be read at all, or --strict refused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// True when the file could not be opened or read, or its format told
    /// (an error, exit status 1), rather than holding bad records.
    #[serde(skip)]
    unreadable: bool,
}

#[derive(Debug, Serialize)]
struct IngestSummary {
    store: String,
    papers_in_library: usize,
    embedded: usize,
    seconds: f64,
    files: Vec<FileSummary>,
}

/// The model is loaded only when some paper needs a vector.
struct LazyEmbedder {
    args: ModelArgs,
    embedder: Option<Embedder>,
}

impl LazyEmbedder {
    fn get(&mut self) -> anyhow::Result<&Embedder> {
        if self.embedder.is_none() {
            self.embedder = Some(Embedder::load(self.args.options())?);
        }
        Ok(self.embedder.as_ref().expect("loaded above"))
    }
}

pub fn run(args: IngestArgs) -> anyhow::Result<Outcome> {
    let start = Instant::now();
    let options = args.model.options();
    let folder = ModelFolder::open(&options.model_dir)?;
    let model = ModelInfo {
        id: folder.model_id(),
        dim: folder.config.hidden_size,
        fingerprint: Some(folder.fingerprint()?),
    };
    let store_dir = args.store.dir()?;
    let mut library = Library::open_or_create_waiting(&store_dir, &model, args.wait.duration())
        .with_context(|| format!("cannot open the library at {}", store_dir.display()))?;
    let mut embedder = LazyEmbedder {
        args: args.model.clone(),
        embedder: None,
    };

    let mut files = Vec::new();
    let mut embedded = 0;
    for path in &args.paths {
        let summary = ingest_file(&mut library, &mut embedder, path, &args, &mut embedded)?;
        if !args.json {
            print_file_summary(&summary);
        }
        files.push(summary);
    }

    // Bring the query-side vector file up to date now, so the first query
    // after a large ingest does not pay for it.
    library.vectors()?;

    let summary = IngestSummary {
        store: store_dir.display().to_string(),
        papers_in_library: library.len(),
        embedded,
        seconds: start.elapsed().as_secs_f64(),
        files,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        eprintln!(
            "relate: library {} now holds {} papers ({} embedded in {:.1}s)",
            summary.store, summary.papers_in_library, summary.embedded, summary.seconds
        );
    }
    let unreadable = summary.files.iter().filter(|f| f.unreadable).count();
    if unreadable == summary.files.len() {
        anyhow::bail!("no input could be read (see above)");
    }
    if unreadable > 0 {
        anyhow::bail!(
            "{unreadable} of {} inputs could not be read (see above); the others were ingested",
            summary.files.len()
        );
    }
    let failed = summary
        .files
        .iter()
        .any(|f| f.rejected > 0 || f.error.is_some());
    Ok(if failed {
        Outcome::SomeSkipped
    } else {
        Outcome::Complete
    })
}

fn print_file_summary(s: &FileSummary) {
    match &s.error {
        Some(error) => eprintln!("relate: {}: {error}", s.path),
        None => eprintln!(
            "relate: {} ({}): {} read, {} added, {} updated, {} unchanged, {} rejected{}",
            s.path,
            s.format,
            s.read,
            s.added,
            s.updated,
            s.unchanged,
            s.rejected,
            if s.warnings > 0 {
                format!(", {} warnings", s.warnings)
            } else {
                String::new()
            }
        ),
    }
}

fn ingest_file(
    library: &mut Library,
    embedder: &mut LazyEmbedder,
    path: &Path,
    args: &IngestArgs,
    embedded: &mut usize,
) -> anyhow::Result<FileSummary> {
    let mut summary = FileSummary {
        path: if is_stdin(path) {
            STDIN_NAME.to_string()
        } else {
            path.display().to_string()
        },
        ..FileSummary::default()
    };
    let open_failed = |summary: &mut FileSummary, e: relate::Error| {
        // A file with a bad header or bad bytes is a bad record (exit 3);
        // one that cannot be read or recognised at all is an error (exit 1).
        summary.unreadable = !matches!(e, relate::Error::BadRecord { .. });
        summary.error = Some(e.to_string());
    };
    // --strict reads the file twice: first to check every record, then to
    // store them. A stream is kept in a temporary file for the second read.
    let replay = if args.strict {
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
    let open = || match &replay {
        Some(replay) => replay
            .open()
            .and_then(|input| read_input(input, args.format)),
        None => read_papers(path, args.format),
    };
    let reader = match open() {
        Ok(reader) => reader,
        Err(e) => {
            open_failed(&mut summary, e);
            return Ok(summary);
        }
    };
    summary.format = reader.format().name().to_string();

    let reader = if args.strict {
        let problems: Vec<String> = reader
            .filter_map(|event| match event {
                ReadEvent::Rejected(p) => Some(p.to_string()),
                _ => None,
            })
            .collect();
        if !problems.is_empty() {
            for p in &problems {
                eprintln!("relate: {p}");
            }
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

    let progress = if io::stderr().is_terminal() {
        ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {msg} {pos} papers  {per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        )
    } else {
        ProgressBar::hidden()
    };
    progress.set_message(summary.path.clone());

    let mut batch: Vec<Paper> = Vec::with_capacity(BATCH);
    for event in reader {
        match event {
            ReadEvent::Paper { paper, .. } => {
                summary.read += 1;
                batch.push(paper);
                if batch.len() == BATCH {
                    store_batch(library, embedder, &mut batch, &mut summary, embedded)?;
                    progress.set_position(summary.read as u64);
                }
            }
            ReadEvent::Warning(problem) => {
                summary.warnings += 1;
                if summary.warnings <= MAX_WARNINGS_SHOWN {
                    progress.suspend(|| eprintln!("relate: warning: {problem}"));
                }
            }
            ReadEvent::Rejected(problem) => {
                summary.rejected += 1;
                progress.suspend(|| eprintln!("relate: {problem}; record skipped"));
            }
        }
    }
    store_batch(library, embedder, &mut batch, &mut summary, embedded)?;
    progress.finish_and_clear();
    if summary.warnings > MAX_WARNINGS_SHOWN {
        eprintln!(
            "relate: warning: {} more warnings for {} not shown",
            summary.warnings - MAX_WARNINGS_SHOWN,
            summary.path
        );
    }
    Ok(summary)
}

fn store_batch(
    library: &mut Library,
    embedder: &mut LazyEmbedder,
    batch: &mut Vec<Paper>,
    summary: &mut FileSummary,
    embedded: &mut usize,
) -> anyhow::Result<()> {
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
        embedder.get()?.embed(&texts)?.vectors
    }
    .into_iter();
    *embedded += texts.len();
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
    let result: UpsertSummary = library.upsert(items)?;
    summary.added += result.added;
    summary.updated += result.text_changed + result.metadata_changed;
    summary.unchanged += result.unchanged;
    Ok(())
}
