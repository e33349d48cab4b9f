//! `relate ingest`: the flags, the progress shown on standard error and the
//! summary printed at the end. The pipeline itself (read, classify, embed,
//! store in batches) is [`relate::ingest`].

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::ProgressBar;
use relate::corpus::{Format, Problem};
use relate::embed::{Embedder, ModelFolder};
use relate::ingest::{
    ingest_file, model_of_vectors, FileProgress, FileSummary, IngestOptions, Progress,
};
use relate::library_index;
use relate::store::{Library, ModelInfo};
use relate::wording::count;
use serde::Serialize;

use super::filter_args::FilterArgs;
use super::model_args::ModelArgs;
use super::progress;
use super::store_args::{StoreArgs, WaitArgs};
use super::Outcome;

/// Warnings printed per file; the rest are counted in the summary.
const MAX_WARNINGS_SHOWN: usize = 10;

#[derive(Debug, Args)]
#[command(
    after_help = "Formats: digest (a daily-papers page: title paragraph, abstract paragraph), \
jsonl (id, title, abstract, authors, date/year, categories, url; only title is required), csv (same \
columns), arxiv (the arXiv metadata snapshot, JSON lines), bibtex, ris (RIS from Zotero, EndNote, \
Mendeley, Web of Science or Scopus; PubMed's MEDLINE .nbib; Web of Science's plain text), feed (RSS or Atom: arXiv's daily \
listings, the arXiv API, journals' feeds), endnote (EndNote's XML export), parquet. The format is detected from the \
extension and content unless --format is given. PATH may be - for standard input, or a pipe or \
FIFO (/dev/stdin, <(zcat papers.jsonl.gz)); input compressed with gzip, zstd or xz (.gz, .zst, .xz) \
is decompressed as it is read. A line longer than 16 MiB is a bad record, skipped unread.\n\n\
Re-ingesting a file adds nothing; a paper whose title or abstract changed is re-embedded; other \
changes update the record only.\n\n\
--category, --since and --until take a field out of a larger source (the whole arXiv snapshot, \
say): only papers with a category starting with one of the values (ignoring case, so `cs.` keeps \
all of computer science) and a date overlapping the range (YYYY, YYYY-MM or YYYY-MM-DD; for arXiv \
the date is the last update) are stored; papers without a date or categories are left out once \
the matching flag is given. The papers left out are counted in the summary.\n\n\
Exit status: 0 when every record was stored, 3 when some records were rejected (reported with file \
and line; with --strict, nothing of such a file is stored), 1 on error (a file that cannot be opened \
or read, or whose format cannot be told; the other files are still ingested), 2 on bad usage."
)]
pub struct IngestArgs {
    /// Paper files to ingest ('-' for standard input); a folder gives the paper files below it
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Source format, instead of detecting it: digest, jsonl, csv, arxiv, bibtex, ris, feed, endnote, parquet
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<Format>,

    /// Reject a whole file (store nothing from it) when any record in it is bad
    #[arg(long)]
    pub strict: bool,

    /// The model that made the vectors of records that carry an "embedding"
    /// but not the "embedding_fingerprint" of their model (files from other
    /// tools): the library's model name, or its fingerprint (12 or more hex
    /// digits, as `relate info` shows it)
    #[arg(long, value_name = "FINGERPRINT|NAME")]
    pub model_id: Option<String>,

    /// The papers' vectors as a NumPy .npy matrix (papers × dimensions, 32-
    /// or 64-bit floats), row i for the i-th record of the one PATH, bad
    /// records included; needs --model-id. Nothing is stored when the rows
    /// and records differ in number
    #[arg(long, value_name = "FILE.npy", requires = "model_id")]
    pub vectors: Option<PathBuf>,

    #[command(flatten)]
    pub filter: FilterArgs,

    /// Print the summary as JSON on standard output
    #[arg(long)]
    pub json: bool,

    /// Leave the saved HNSW index as it is, rather than inserting the papers
    /// added or changed into it (it is then behind the library, and queries
    /// search exactly until `relate index` is run)
    #[arg(long)]
    pub no_index_update: bool,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub wait: WaitArgs,

    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Debug, Serialize)]
struct IngestSummary {
    store: String,
    papers_in_library: usize,
    embedded: usize,
    seconds: f64,
    /// What became of the saved HNSW index, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<IndexSummary>,
    files: Vec<FileSummary>,
    /// Added papers that are copies of papers stored before them under
    /// other ids (answers show each paper once).
    copies_added: usize,
    /// The first of them, as {"id", "copy_of"}.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    copies: Vec<CopyNamed>,
}

#[derive(Debug, Serialize)]
struct CopyNamed {
    id: String,
    copy_of: String,
}

/// Copies named in the summary; the rest are counted.
const COPIES_NAMED: usize = 10;

#[derive(Debug, Serialize)]
struct IndexSummary {
    state: IndexState,
    /// Papers inserted into the graph.
    inserted: usize,
    seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// What became of the saved HNSW index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum IndexState {
    /// The papers were inserted into it.
    Updated,
    /// Nothing to insert.
    Current,
    /// Left behind the library, for `relate index`.
    Behind,
    /// The update failed; the index is as it was.
    Failed,
}

/// The model is loaded only when some paper needs a vector.
struct LazyEmbedder {
    args: ModelArgs,
    embedder: Option<Embedder>,
}

impl LazyEmbedder {
    fn embed(&mut self, texts: &[String]) -> relate::Result<Vec<Vec<f32>>> {
        if self.embedder.is_none() {
            self.embedder = Some(Embedder::load(self.args.options())?);
        }
        match &self.embedder {
            Some(embedder) => Ok(embedder.embed(texts)?.vectors),
            None => unreachable!("loaded above"),
        }
    }
}

/// Seconds between progress lines when standard error is not a terminal
/// (a log file): `RELATE_PROGRESS_EVERY` sets it; the default is 30.
const PROGRESS_EVERY_SECONDS: u64 = 30;

/// Shows an ingest on standard error: a bar (or spinner) on a terminal, a
/// progress line every [`PROGRESS_EVERY_SECONDS`] otherwise, each bad
/// record, and the first warnings of each file.
#[derive(Default)]
struct CliProgress {
    bar: Option<ProgressBar>,
    warnings: usize,
    /// Whether the bar shows the file's size.
    sized: bool,
    /// Progress lines for a log: the file, when it started, when the last
    /// line was written, and how often to write one.
    log: Option<ProgressLog>,
}

struct ProgressLog {
    path: String,
    started: Instant,
    last: Instant,
    every: std::time::Duration,
}

impl CliProgress {
    fn bar(&self) -> ProgressBar {
        self.bar.clone().unwrap_or_else(ProgressBar::hidden)
    }
}

impl ProgressLog {
    fn new(path: &str) -> ProgressLog {
        let seconds = std::env::var("RELATE_PROGRESS_EVERY")
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .unwrap_or(PROGRESS_EVERY_SECONDS as f64);
        let now = Instant::now();
        ProgressLog {
            path: path.to_string(),
            started: now,
            last: now,
            every: std::time::Duration::from_secs_f64(seconds),
        }
    }

    /// Writes a progress line when one is due.
    fn report(&mut self, summary: &FileSummary, done: FileProgress) {
        if self.last.elapsed() < self.every {
            return;
        }
        self.last = Instant::now();
        let read = done.bytes_done;
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        let line = match done.total_bytes {
            Some(total) if total > 0 => {
                let done = (read as f64 / total as f64).min(1.0);
                let elapsed = self.started.elapsed().as_secs_f64();
                let left = if done > 0.0 {
                    format!(
                        ", about {} left",
                        duration_words(elapsed * (1.0 - done) / done)
                    )
                } else {
                    String::new()
                };
                format!(
                    "{:.0}% done ({:.1} of {:.1} MiB){left}",
                    done * 100.0,
                    mib(read),
                    mib(total)
                )
            }
            _ => format!("{:.1} MiB done", mib(read)),
        };
        eprintln!("relate: {}: {line}; {}", self.path, counts(summary));
    }
}

/// The papers of a file so far: stored, and filtered out or rejected when
/// there are any.
fn counts(summary: &FileSummary) -> String {
    let mut counts = count(summary.read, "paper");
    if summary.filtered_out > 0 {
        counts.push_str(&format!(", {} filtered out", summary.filtered_out));
    }
    if summary.rejected > 0 {
        counts.push_str(&format!(", {} rejected", summary.rejected));
    }
    counts
}

/// `95 s`, `12 min`, `3.5 h`.
fn duration_words(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else if seconds < 7200.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{:.1} h", seconds / 3600.0)
    }
}

impl Progress for CliProgress {
    fn file_started(&mut self, path: &str) {
        let terminal = progress::shown();
        let bar = progress::spinner("{spinner} {prefix} {msg}");
        bar.set_prefix(path.to_string());
        self.bar = Some(bar);
        self.warnings = 0;
        self.sized = false;
        self.log = (!terminal).then(|| ProgressLog::new(path));
    }

    fn reading(&mut self, summary: &FileSummary, done: FileProgress) {
        if let Some(log) = &mut self.log {
            log.report(summary, done);
            return;
        }
        let bar = self.bar();
        if let (Some(total), false) = (done.total_bytes, self.sized) {
            // A file of known size gets a bar with the time left.
            bar.set_style(
                progress::bar_style(
                    "{prefix} [{wide_bar}] {bytes}/{total_bytes}, {eta} left: {msg}",
                )
                .progress_chars("=> "),
            );
            bar.set_length(total);
            self.sized = true;
        }
        if self.sized {
            bar.set_position(done.bytes_done);
        } else {
            bar.tick();
        }
        bar.set_message(counts(summary));
    }

    fn warning(&mut self, problem: &Problem) {
        self.warnings += 1;
        if self.warnings <= MAX_WARNINGS_SHOWN {
            self.bar()
                .suspend(|| eprintln!("relate: warning: {problem}"));
        }
    }

    fn rejected(&mut self, problem: &Problem) {
        self.bar()
            .suspend(|| eprintln!("relate: {problem}; record skipped"));
    }

    fn strict_refused(&mut self, problems: &[Problem]) {
        for p in problems {
            eprintln!("relate: {p}");
        }
    }

    fn file_finished(&mut self, summary: &FileSummary) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if let Some((id, old, new)) = &summary.retitled {
            eprintln!(
                "relate: warning: {}: {} replaced what another input file stored under the \
                 same id with another title (id {id}: {old:?} is now {new:?}); if the ids only \
                 number the rows, give each file ids of its own",
                summary.path,
                count(summary.replaced_from_other_files, "paper")
            );
        }
        if summary.warnings > MAX_WARNINGS_SHOWN {
            eprintln!(
                "relate: warning: {} more warnings for {} not shown",
                summary.warnings - MAX_WARNINGS_SHOWN,
                summary.path
            );
        }
    }
}

pub fn run(mut args: IngestArgs) -> anyhow::Result<Outcome> {
    let start = Instant::now();
    let store_dir = args.store.dir()?;
    args.paths = files_to_read(&args.paths, &store_dir, args.json)?;
    if args.vectors.is_some() && args.paths.len() != 1 {
        use clap::CommandFactory;
        super::Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--vectors pairs its rows with the records of one file: give one PATH",
            )
            .exit();
    }
    let options = args.model.options();
    if !Library::exists(&store_dir) {
        refuse_when_nothing_reads(&args.paths, args.format, &store_dir)?;
    }
    let mut library = match ModelFolder::open(&options.model_dir) {
        Ok(folder) => {
            let model = ModelInfo {
                id: folder.model_id(),
                dim: folder.config.hidden_size,
                fingerprint: Some(folder.fingerprint()?),
            };
            Library::open_or_create_waiting(&store_dir, &model, args.wait.duration())
                .with_context(|| format!("cannot open the library at {}", store_dir.display()))?
        }
        // Without the model, papers can still come with their vectors: the
        // library (or the first file's vectors) says which model they need.
        Err(model_error) => open_without_model(&args, &store_dir, model_error)?,
    };
    let mut embedder = LazyEmbedder {
        args: args.model.clone(),
        embedder: None,
    };

    let filter = args.filter.filter();
    let options = IngestOptions {
        format: args.format,
        strict: args.strict,
        model_id: args.model_id.clone(),
        filter,
        vectors: args.vectors.clone(),
    };
    let mut progress = CliProgress::default();
    let first_new_slot = library.len() as u32;
    let mut files = Vec::new();
    let mut embedded = 0;
    for path in &args.paths {
        let summary = ingest_file(
            &mut library,
            &mut |texts: &[String]| embedder.embed(texts),
            path,
            &options,
            &mut progress,
        )?;
        embedded += summary.embedded;
        if !args.json {
            print_file_summary(&summary);
        }
        files.push(summary);
    }

    // Bring the query-side vector file up to date now, so the first query
    // after a large ingest does not pay for it.
    library.vectors()?;
    let index = update_index(&library, args.no_index_update);
    // A report: failing to make it does not undo or fail the ingest.
    let copies = relate::same_paper::copies_added(&library, first_new_slot, COPIES_NAMED)
        .unwrap_or_else(|e| {
            eprintln!("relate: warning: could not check the added papers for copies: {e}");
            Default::default()
        });

    let summary = IngestSummary {
        store: store_dir.display().to_string(),
        papers_in_library: library.len(),
        embedded,
        seconds: start.elapsed().as_secs_f64(),
        index,
        files,
        copies_added: copies.count,
        copies: copies
            .examples
            .iter()
            .map(|(id, copy_of)| CopyNamed {
                id: id.clone(),
                copy_of: copy_of.clone(),
            })
            .collect(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        eprintln!(
            "relate: library {} now holds {} ({} embedded in {:.1}s)",
            summary.store,
            count(summary.papers_in_library as usize, "paper"),
            summary.embedded,
            summary.seconds
        );
        if let Some(index) = &summary.index {
            print_index_summary(index);
        }
        if summary.copies_added > 0 {
            print_copies(&summary);
        }
    }
    // Inputs that failed before any paper was read, and inputs that
    // stopped part-way, after some were stored.
    let (stopped, unreadable): (Vec<&FileSummary>, Vec<&FileSummary>) = summary
        .files
        .iter()
        .filter(|f| f.unreadable)
        .partition(|f| f.read > 0);
    let inputs = summary.files.len();
    if unreadable.len() == inputs {
        anyhow::bail!("no input could be read (see above)");
    }
    if !unreadable.is_empty() || !stopped.is_empty() {
        let mut problems = Vec::new();
        if !unreadable.is_empty() {
            problems.push(format!(
                "{} of {inputs} inputs could not be read",
                unreadable.len()
            ));
        }
        if !stopped.is_empty() {
            problems.push(format!(
                "{} of {inputs} stopped part-way, after storing the papers before the problem",
                stopped.len()
            ));
        }
        let whole = inputs - unreadable.len() - stopped.len();
        anyhow::bail!(
            "{} (see above){}",
            problems.join("; "),
            if whole > 0 {
                "; the others were ingested"
            } else {
                ""
            }
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

/// Says which added papers the library already held under other ids.
fn print_copies(summary: &IngestSummary) {
    let named: Vec<String> = summary
        .copies
        .iter()
        .take(3)
        .map(|c| format!("{} is {}", c.id, c.copy_of))
        .collect();
    eprintln!(
        "relate: {} of the papers added {} already in the library under another id (same \
         title and abstract): {}{}; answers show each paper once",
        summary.copies_added,
        if summary.copies_added == 1 {
            "was"
        } else {
            "were"
        },
        named.join(", "),
        if summary.copies_added > named.len() {
            ", …"
        } else {
            ""
        }
    );
}

/// The inputs to read: each path as given, a folder replaced by the paper
/// files below it (see [`relate::corpus::paper_files_in`]), saying how many
/// it gave and which files it left out. Fails when folders were given and
/// none holds a paper file, or a folder cannot be read.
fn files_to_read(paths: &[PathBuf], store_dir: &Path, quiet: bool) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut empty = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let found = relate::corpus::paper_files_in(path, Some(store_dir))?;
        if found.papers.is_empty() {
            empty.push(path.display().to_string());
        } else if !quiet {
            let mut note = format!(
                "relate: {}: {} paper file{}",
                path.display(),
                found.papers.len(),
                if found.papers.len() == 1 { "" } else { "s" }
            );
            if !found.skipped.is_empty() {
                let shown: Vec<String> = found
                    .skipped
                    .iter()
                    .take(3)
                    .map(|p| p.display().to_string())
                    .collect();
                note.push_str(&format!(
                    "; {} other file{} left out, not named as paper files ({}{})",
                    found.skipped.len(),
                    if found.skipped.len() == 1 { "" } else { "s" },
                    shown.join(", "),
                    if found.skipped.len() > 3 { ", …" } else { "" }
                ));
            }
            eprintln!("{note}");
        }
        files.extend(found.papers);
    }
    let wanted = relate::corpus::PAPER_EXTENSIONS.join(", .");
    if files.is_empty() {
        anyhow::bail!(
            "no paper files in {}: a folder's files are read when their names end in .{wanted} \
             (or those and .gz, .zst, .xz); name the files to read them whatever their names",
            empty.join(", ")
        );
    }
    for folder in empty {
        eprintln!(
            "relate: warning: {folder}: no paper files in it (names ending in .{wanted}); \
             nothing read from it"
        );
    }
    Ok(files)
}

/// Fails, saying why, when not one of `paths` can be read as papers
/// (missing, unreadable, of a format that cannot be told, a CSV without a
/// `title` column), before a new library is made for them (a mistyped path
/// left an empty library behind). Standard input, and anything that is not
/// a plain file (a named pipe, which reading would consume), count as
/// inputs that can be read.
fn refuse_when_nothing_reads(
    paths: &[PathBuf],
    format: Option<relate::corpus::Format>,
    store_dir: &Path,
) -> anyhow::Result<()> {
    let mut problems = Vec::new();
    for path in paths {
        if relate::corpus::is_stdin(path) {
            return Ok(());
        }
        let plain = match std::fs::metadata(path) {
            Ok(meta) => meta.is_file(),
            Err(e) => {
                problems.push((path, relate::Error::io("cannot open", path, e)));
                continue;
            }
        };
        if !plain {
            return Ok(());
        }
        match relate::corpus::read_papers(path, format) {
            Ok(_) => return Ok(()),
            Err(e) => problems.push((path, e)),
        }
    }
    for (path, problem) in problems {
        let (shown, problem) = (path.display().to_string(), problem.to_string());
        if problem.contains(&shown) {
            eprintln!("relate: {problem}");
        } else {
            eprintln!("relate: {shown}: {problem}");
        }
    }
    anyhow::bail!(
        "no input could be read (see above); no library was made at {}",
        store_dir.display()
    )
}

/// Opens the library for papers that bring their vectors, when the model
/// folder is not there: the existing library as it is, or a new one for the
/// model named in the first file's first vector (written by `relate
/// embed`). Papers without a vector then fail to load the model.
fn open_without_model(
    args: &IngestArgs,
    store_dir: &std::path::Path,
    model_error: relate::Error,
) -> anyhow::Result<Library> {
    match Library::open_for_update(store_dir, args.wait.duration()) {
        Ok(library) => return Ok(library),
        Err(relate::Error::StoreMissing { .. }) => {}
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot open the library at {}", store_dir.display()))
        }
    }
    let first = &args.paths[0];
    let model = model_of_vectors(first, args.format).with_context(|| {
        format!(
            "{model_error}\n(there is no library at {} yet, and {} could not tell which model \
             made its vectors)",
            store_dir.display(),
            first.display()
        )
    })?;
    let Some(model) = model else {
        anyhow::bail!(
            "{model_error}\n(there is no library at {} yet, and {} does not start with papers \
             carrying their vectors and the `embedding_fingerprint` of their model, as `relate \
             embed` writes them: give --model DIR to create the library)",
            store_dir.display(),
            first.display()
        );
    };
    Library::open_or_create_waiting(store_dir, &model, args.wait.duration())
        .with_context(|| format!("cannot create the library at {}", store_dir.display()))
}

/// Inserts what the ingest added or changed into the saved HNSW index, when
/// there is one. A failure leaves the index as it was (behind the library,
/// so unused) and is reported, never undoing the ingest.
fn update_index(library: &Library, skip: bool) -> Option<IndexSummary> {
    let saved = library_index::saved_generation(library)?;
    let summary = |state, inserted, seconds, error| IndexSummary {
        state,
        inserted,
        seconds,
        error,
    };
    let current = library.generation().ok()?;
    if saved == current {
        return Some(summary(IndexState::Current, 0, 0.0, None));
    }
    if skip {
        return Some(summary(IndexState::Behind, 0, 0.0, None));
    }
    match library_index::update(library, &|_, _| {}) {
        Ok(Some(report)) => Some(summary(
            IndexState::Updated,
            report.inserted,
            report.time.as_secs_f64(),
            None,
        )),
        Ok(None) => Some(summary(IndexState::Behind, 0, 0.0, None)),
        Err(e) => Some(summary(IndexState::Failed, 0, 0.0, Some(e.to_string()))),
    }
}

fn print_index_summary(index: &IndexSummary) {
    match index.state {
        IndexState::Updated => eprintln!(
            "relate: {} paper{} inserted into the HNSW index in {:.1}s",
            index.inserted,
            if index.inserted == 1 { "" } else { "s" },
            index.seconds
        ),
        IndexState::Behind => eprintln!(
            "relate: the HNSW index is now behind the library (queries search every vector); \
             run `relate index` to bring it up to date"
        ),
        IndexState::Failed => eprintln!(
            "relate: warning: the HNSW index could not be updated ({}); queries search every \
             vector until `relate index` is run",
            index.error.as_deref().unwrap_or("unknown error")
        ),
        IndexState::Current => {}
    }
}

fn print_file_summary(s: &FileSummary) {
    // A file that stopped part-way shows what was stored before the error.
    if s.error.is_none() || s.read > 0 {
        eprintln!(
            "relate: {} ({}): {} read, {} added, {} updated, {} unchanged, {} rejected{}{}{}",
            s.path,
            s.format,
            s.read,
            s.added,
            s.updated,
            s.unchanged,
            s.rejected,
            if s.filtered_out > 0 {
                format!(", {} filtered out", s.filtered_out)
            } else {
                String::new()
            },
            if s.warnings > 0 {
                format!(", {}", count(s.warnings, "warning"))
            } else {
                String::new()
            },
            match (s.vectors_given, s.normalised) {
                (0, _) => String::new(),
                (given, 0) => format!("; {given} came with their vectors"),
                (given, scaled) =>
                    format!("; {given} came with their vectors ({scaled} scaled to unit length)"),
            }
        );
    }
    if let Some(error) = &s.error {
        // Errors about a line name the file already.
        if error.starts_with(&format!("{}:", s.path)) {
            eprintln!("relate: {error}");
        } else {
            eprintln!("relate: {}: {error}", s.path);
        }
    }
}
