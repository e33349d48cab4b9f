//! `relate export`: writes the library's papers with their vectors (and
//! topics when current) as JSON Lines or Parquet; flags and printing only,
//! the writing is `relate::export`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use relate::atomic_file::AtomicFile;
use relate::corpus::Compression;
use relate::export::{export, export_with_matrix, ExportFormat, ExportSummary};
use relate::store::Library;
use relate::wording::count;

use super::progress;
use super::store_args::StoreArgs;
use super::Outcome;

#[derive(Debug, Args)]
#[command(
    after_help = "JSON Lines: one paper per line with its fields at the top level, its vector in \
\"embedding\" and the model in \"embedding_model\" and \"embedding_fingerprint\", so `relate ingest` \
imports the file into another library without running the model; the topic, when the saved topics \
are current, in \"relate_topic\".\n\n\
Parquet: one row per paper with the columns id, title, abstract, date, url, authors (list), \
categories (list), embedding (list of float), topic, topic_label, subtopic, subtopic_label (null \
without current topics) and record (the stored record as JSON); DuckDB, Polars, Spark and LanceDB \
read it directly, e.g. `duckdb -c \"SELECT id, title FROM 'papers.parquet'\"`.\n\n\
With --vectors FILE.npy: JSON Lines without the vector fields, and the vectors as a NumPy matrix \
(numpy.load reads it), row i for line i; `relate ingest PAPERS --vectors FILE.npy --model-id ID` \
reads the pair back.\n\n\
A file given with --output is replaced atomically, only once it is complete; one named .gz, \
.zst or .xz (JSON Lines only) is compressed that way.\n\n\
Exit status: 0 when every paper was written, 1 on error, 2 on bad usage."
)]
pub struct ExportArgs {
    /// File to write ('-' or absent: standard output, JSON Lines only)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// jsonl or parquet [default: parquet for a FILE ending in .parquet, else jsonl]
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<ExportFormat>,

    /// Write the vectors to this NumPy .npy matrix (papers × dimensions,
    /// 32-bit floats), row i for line i of the JSON Lines, which then carry
    /// no vectors: `relate ingest FILE --vectors MATRIX` reads the pair back
    #[arg(long, value_name = "FILE.npy")]
    pub vectors: Option<PathBuf>,

    #[command(flatten)]
    pub store: StoreArgs,
}

/// Extensions of files `relate` reads as another format: an export is not
/// written under them unless `--format` says so.
const OTHER_FORMATS: [&str; 8] = ["csv", "tsv", "txt", "bib", "npy", "npz", "html", "xlsx"];

/// Writes `write`'s output into `out` compressed as `compression` (none
/// when `None`), finishing the compressed stream.
fn write_compressed(
    compression: Option<Compression>,
    out: &mut (dyn Write + Send),
    write: impl FnOnce(&mut (dyn Write + Send)) -> anyhow::Result<ExportSummary>,
) -> anyhow::Result<ExportSummary> {
    Ok(match compression {
        None => write(out)?,
        Some(Compression::Gzip) => {
            let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::new(6));
            let summary = write(&mut encoder)?;
            encoder.finish()?;
            summary
        }
        Some(Compression::Zstd) => {
            let mut encoder = zstd::stream::write::Encoder::new(out, 3)?;
            let summary = write(&mut encoder)?;
            encoder.finish()?;
            summary
        }
        Some(Compression::Xz) => {
            let mut encoder = liblzma::write::XzEncoder::new(out, 6);
            let summary = write(&mut encoder)?;
            encoder.finish()?;
            summary
        }
    })
}

/// A file name's last extension, lowercased.
fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// Whether two paths name the same file (whether or not it exists yet).
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => std::path::absolute(a).ok() == std::path::absolute(b).ok(),
    }
}

pub fn run(args: ExportArgs) -> anyhow::Result<Outcome> {
    let dir = args.store.dir()?;
    let output = args.output.filter(|p| p.as_os_str() != "-");
    let compression = output
        .as_deref()
        .and_then(extension)
        .and_then(|e| Compression::from_extension(&e));
    // The format's extension comes before a compression's (`.jsonl.gz`).
    let inner_name = output.as_deref().map(|path| match compression {
        None => path.to_path_buf(),
        Some(_) => path.with_extension(""),
    });
    let inner_extension = inner_name.as_deref().and_then(extension);
    let format = args.format.unwrap_or(match inner_extension.as_deref() {
        Some("parquet") => ExportFormat::Parquet,
        _ => ExportFormat::Jsonl,
    });
    if let (None, Some(ext), Some(path)) = (args.format, inner_extension.as_deref(), &output) {
        if OTHER_FORMATS.contains(&ext) {
            bail!(
                "{} would be read back as .{ext}, but an export is JSON Lines or Parquet: name \
                 it .jsonl or .parquet (or pass --format jsonl to write JSON Lines there anyway)",
                path.display()
            );
        }
    }
    if format == ExportFormat::Parquet && output.is_none() {
        bail!("Parquet is written to a file: give --output FILE.parquet");
    }
    if format == ExportFormat::Parquet && compression.is_some() {
        bail!(
            "a Parquet file compresses its own columns: name it .parquet, without .gz, .zst \
             or .xz"
        );
    }
    if format == ExportFormat::Parquet && args.vectors.is_some() {
        bail!("--vectors goes with JSON Lines; a Parquet export holds the vectors itself");
    }
    if let Some(vectors) = &args.vectors {
        if extension(vectors).as_deref() != Some("npy") {
            bail!(
                "--vectors {}: the vectors are written as a NumPy matrix; name the file .npy",
                vectors.display()
            );
        }
        if output.as_deref().is_some_and(|out| same_file(out, vectors)) {
            bail!(
                "--output and --vectors both name {}: give them different files",
                vectors.display()
            );
        }
    }
    let library = Library::open(&dir)?;
    let total = library.len();
    let show = progress::shown();
    let mut progress = |done: usize| {
        if show {
            eprint!("\rrelate: exported {done} of {}", count(total, "paper"));
        }
    };
    // The matrix, when asked for, is written beside the papers and takes
    // its name just before them, so the pair is complete together.
    let mut matrix = match &args.vectors {
        Some(path) => Some((
            AtomicFile::create(path).with_context(|| format!("cannot write {}", path.display()))?,
            path,
        )),
        None => None,
    };
    let mut write = |out: &mut (dyn Write + Send)| -> anyhow::Result<ExportSummary> {
        Ok(match matrix.as_mut() {
            Some((file, _)) => export_with_matrix(&library, out, file, &mut progress)?,
            None => export(&library, format, out, &mut progress)?,
        })
    };
    let (summary, shown) = match &output {
        Some(path) => {
            let mut file = AtomicFile::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            let summary = write_compressed(compression, &mut file, &mut write)
                .with_context(|| format!("cannot write {}", path.display()))?;
            commit_matrix(matrix)?;
            file.commit()
                .with_context(|| format!("cannot write {}", path.display()))?;
            (summary, path.display().to_string())
        }
        None => {
            let mut stdout = std::io::stdout();
            let summary = write(&mut stdout).context("cannot write to standard output")?;
            commit_matrix(matrix)?;
            (summary, "standard output".to_string())
        }
    };
    if show {
        eprintln!();
    }
    eprintln!(
        "relate: exported {} with vectors{} to {shown} ({})",
        count(summary.papers, "paper"),
        if summary.topics {
            " and topics"
        } else {
            " (no current topics: run `relate topics` to include them)"
        },
        format.name()
    );
    Ok(Outcome::Complete)
}

/// Gives the finished `.npy` matrix its name, if one was written.
fn commit_matrix(matrix: Option<(AtomicFile, &PathBuf)>) -> anyhow::Result<()> {
    if let Some((file, path)) = matrix {
        file.commit()
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
