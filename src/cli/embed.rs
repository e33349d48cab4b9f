//! `relate embed`: JSONL in, the same objects with an `"embedding"` field out
//! (and the model's name and fingerprint, `"embedding_model"` and
//! `"embedding_fingerprint"`, so `relate ingest` can import them), in input
//! order. Input is a file, standard input or a pipe, compressed or
//! not. Bad lines (a line over 16 MiB among them, skipped unread) are
//! reported with their line number and skipped (or stop the run with
//! `--strict`); the output file appears only when the run completes.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use indicatif::ProgressBar;
use relate::atomic_file::AtomicFile;
use relate::corpus::{compose_text, open_input, read_line_limited, LineRead, MAX_LINE_BYTES};
use relate::embed::Embedder;
use relate::ingest::{EMBEDDING_FIELD, FINGERPRINT_FIELD, MODEL_FIELD};
use relate::wording::count;
use serde_json::{Map, Value};

use super::model_args::ModelArgs;
use super::progress;
use super::Outcome;

/// Fewest texts embedded between two writes of output. The chunk grows to
/// a few batches' worth when batches are wide (on a GPU), so that texts can
/// still be sorted by length across batches.
const MIN_CHUNK: usize = 256;
/// Most texts held in memory between two writes, whatever the batch size.
const MAX_CHUNK: usize = 8192;

#[derive(Debug, Args)]
#[command(
    after_help = "Each input line is a JSON object with a \"text\" field, or with \"title\" and/or \
\"abstract\" fields. A paper's text is composed as \"{title}. {abstract}\" (no period is added when the \
title already ends in '.', '?' or '!'), exactly as the paper library composes it. Blank lines are ignored; \
a line longer than 16 MiB is reported and skipped without being read. Input compressed with gzip, zstd \
or xz is decompressed as it is read.\n\n\
Exit status: 0 when every line was embedded, 3 when some lines were reported and skipped, 1 on error, \
2 on bad usage."
)]
pub struct EmbedArgs {
    /// JSONL file to read ('-' or absent: standard input)
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// File to write ('-' or absent: standard output); written atomically
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Stop at the first bad line instead of skipping it
    #[arg(long)]
    pub strict: bool,

    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Debug)]
struct Pending {
    object: Map<String, Value>,
    text: String,
}

pub fn run(args: EmbedArgs) -> anyhow::Result<Outcome> {
    let input_path = args.input.clone().unwrap_or_else(|| PathBuf::from("-"));
    let input = open_input(&input_path)?;
    let input_name = input.shown().to_string();
    // Lines are counted ahead (for the progress bar) only in a plain regular
    // file: a pipe read twice would lose its data.
    let countable = input.compression().is_none()
        && input.name().is_some()
        && input_path.metadata().is_ok_and(|m| m.is_file());
    let total_lines = if countable && progress::shown() {
        count_lines(&input_path).ok()
    } else {
        None
    };
    let mut reader = input.into_reader();

    let load_start = Instant::now();
    let embedder = Embedder::load(args.model.options())?;
    let load_time = load_start.elapsed();
    let identity = ModelIdentity {
        name: embedder.model_id(),
        fingerprint: embedder.fingerprint()?,
    };

    let mut sink = OutputSink::open(args.output.as_deref())?;
    let progress = progress_bar(total_lines);
    let mut stats = Stats::default();
    let chunk = (4 * embedder.batch_limits().texts).clamp(MIN_CHUNK, MAX_CHUNK);
    let mut pending: Vec<Pending> = Vec::with_capacity(chunk);

    let mut bytes = Vec::new();
    let mut line_no = 0;
    loop {
        let read = read_line_limited(&mut reader, &mut bytes, MAX_LINE_BYTES)
            .with_context(|| format!("cannot read {input_name}"))?;
        let parsed = match read {
            LineRead::End => break,
            LineRead::Line => parse_line(&bytes),
            LineRead::TooLong { bytes } => Err(format!(
                "line is {bytes} bytes long, more than the limit of {MAX_LINE_BYTES} bytes \
                 (16 MiB); it was not read"
            )),
        };
        line_no += 1;
        progress.inc(1);
        match parsed {
            Ok(None) => continue,
            Ok(Some(item)) => pending.push(item),
            Err(problem) => {
                if args.strict {
                    bail!("{input_name}:{line_no}: {problem} (stopped by --strict)");
                }
                stats.skipped += 1;
                progress.suspend(|| {
                    eprintln!("relate: {input_name}:{line_no}: {problem}; line skipped")
                });
            }
        }
        if pending.len() == chunk {
            embed_chunk(&embedder, &identity, &mut pending, &mut sink, &mut stats)?;
        }
    }
    embed_chunk(&embedder, &identity, &mut pending, &mut sink, &mut stats)?;
    sink.finish()?;
    progress.finish_and_clear();

    let secs = stats.embed_time.as_secs_f64().max(1e-9);
    eprintln!(
        "relate: embedded {} ({}) on {} in {:.2}s (model load {:.2}s): {:.1} texts/s, {:.0} tokens/s{}",
        count(stats.texts, "text"),
        count(stats.tokens, "token"),
        embedder.engine_name(),
        stats.embed_time.as_secs_f64(),
        load_time.as_secs_f64(),
        stats.texts as f64 / secs,
        stats.tokens as f64 / secs,
        if stats.skipped > 0 {
            format!("; {} skipped", count(stats.skipped, "line"))
        } else {
            String::new()
        }
    );
    Ok(if stats.skipped > 0 {
        Outcome::SomeSkipped
    } else {
        Outcome::Complete
    })
}

#[derive(Default)]
struct Stats {
    texts: usize,
    tokens: usize,
    skipped: usize,
    embed_time: Duration,
}

/// Parses one input line. `Ok(None)` for a blank line.
fn parse_line(bytes: &[u8]) -> Result<Option<Pending>, String> {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format!("not valid UTF-8 (byte {})", e.valid_up_to() + 1))?;
    let text = text.trim_end_matches('\r');
    if text.trim().is_empty() {
        return Ok(None);
    }
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON ({e})"))?;
    let Value::Object(object) = value else {
        return Err("not a JSON object".into());
    };
    let field = |name: &str| -> Result<Option<&str>, String> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(format!("field \"{name}\" is not a string")),
        }
    };
    let text = match field("text")? {
        Some(t) => t.to_string(),
        None => {
            let (title, abstract_text) = (field("title")?, field("abstract")?);
            if title.is_none() && abstract_text.is_none() {
                return Err("has no \"text\", \"title\" or \"abstract\" field".into());
            }
            compose_text(title.unwrap_or(""), abstract_text.unwrap_or(""))
        }
    };
    Ok(Some(Pending { object, text }))
}

/// Which model made the vectors: written into every output object, so that
/// `relate ingest` can check the vectors against a library's model.
struct ModelIdentity {
    name: String,
    fingerprint: String,
}

fn embed_chunk(
    embedder: &Embedder,
    identity: &ModelIdentity,
    pending: &mut Vec<Pending>,
    sink: &mut OutputSink,
    stats: &mut Stats,
) -> anyhow::Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let texts: Vec<&str> = pending.iter().map(|p| p.text.as_str()).collect();
    let start = Instant::now();
    let embedded = embedder.embed(&texts)?;
    stats.embed_time += start.elapsed();
    stats.texts += texts.len();
    stats.tokens += embedded.tokens;
    for (item, vector) in pending.drain(..).zip(embedded.vectors) {
        let mut object = item.object;
        object.insert(MODEL_FIELD.into(), Value::from(identity.name.as_str()));
        object.insert(
            FINGERPRINT_FIELD.into(),
            Value::from(identity.fingerprint.as_str()),
        );
        object.insert(EMBEDDING_FIELD.into(), Value::from(vector));
        serde_json::to_writer(sink.writer(), &object)?;
        sink.writer().write_all(b"\n")?;
    }
    Ok(())
}

fn progress_bar(total: Option<u64>) -> ProgressBar {
    match total {
        Some(n) => progress::bar(n, "{bar:40} {pos}/{len} lines  {per_sec}  eta {eta}"),
        None => progress::spinner("{spinner} {pos} lines  {per_sec}"),
    }
}

fn count_lines(path: &Path) -> io::Result<u64> {
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut lines = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(lines);
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}

/// Where the output goes: standard output, a device or pipe written in
/// place, or a regular file replaced through an [`AtomicFile`] when the run
/// completes (fsynced, then renamed over the target), so a failed run
/// leaves no partial file.
enum OutputSink {
    Stream(BufWriter<Box<dyn Write>>),
    File(BufWriter<AtomicFile>),
}

impl OutputSink {
    fn open(path: Option<&Path>) -> anyhow::Result<Self> {
        match path {
            // A device or pipe (`-o /dev/null`) is written in place: only a
            // regular file can be replaced by renaming.
            Some(p) if p.as_os_str() != "-" && p.metadata().is_ok_and(|m| !m.is_file()) => {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(p)
                    .with_context(|| format!("cannot open output {}", p.display()))?;
                Ok(OutputSink::Stream(BufWriter::new(Box::new(file))))
            }
            Some(p) if p.as_os_str() != "-" => {
                let file = AtomicFile::create(p)
                    .with_context(|| format!("cannot create output {}", p.display()))?;
                Ok(OutputSink::File(BufWriter::new(file)))
            }
            _ => Ok(OutputSink::Stream(BufWriter::new(Box::new(
                io::stdout().lock(),
            )))),
        }
    }

    fn writer(&mut self) -> &mut dyn Write {
        match self {
            OutputSink::Stream(w) => w,
            OutputSink::File(w) => w,
        }
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            OutputSink::Stream(mut w) => w.flush()?,
            OutputSink::File(w) => w
                .into_inner()
                .map_err(|e| e.into_error())
                .context("cannot write output")?
                .commit()?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;

    #[test]
    fn composes_text_from_fields() {
        let p = parse_line(br#"{"title":"T","abstract":"A body.","id":7}"#)
            .unwrap()
            .unwrap();
        assert_eq!(p.text, "T. A body.");
        assert_eq!(p.object["id"], 7);
        let p = parse_line(br#"{"text":"plain"}"#).unwrap().unwrap();
        assert_eq!(p.text, "plain");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 512, failure_persistence: None, ..Default::default()
        })]

        /// Any bytes at all give a request, a blank line or a reason, and
        /// never a panic.
        #[test]
        fn any_line_parses_or_is_refused(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            match parse_line(&bytes) {
                Ok(_) => {}
                Err(reason) => proptest::prop_assert!(!reason.is_empty()),
            }
        }

        /// JSON-like lines built from the fields the parser looks at.
        #[test]
        fn json_like_lines_parse_or_are_refused(
            parts in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just("{".to_string()),
                proptest::strategy::Just("}".to_string()),
                proptest::strategy::Just("\"text\":".to_string()),
                proptest::strategy::Just("\"title\":".to_string()),
                proptest::strategy::Just("\"abstract\":".to_string()),
                proptest::strategy::Just(",".to_string()),
                proptest::strategy::Just("null".to_string()),
                proptest::strategy::Just("\"\\u0000\\ud800\"".to_string()),
                "\\PC{0,40}".prop_map(|s: String| format!("{s:?}")),
            ], 0..12)
        ) {
            let line = parts.concat();
            let _ = parse_line(line.as_bytes());
        }
    }

    #[test]
    fn reports_bad_lines() {
        assert!(parse_line(b"   ").unwrap().is_none());
        assert!(parse_line(b"{nope").unwrap_err().contains("not valid JSON"));
        assert!(parse_line(b"[1,2]")
            .unwrap_err()
            .contains("not a JSON object"));
        assert!(parse_line(br#"{"id":1}"#)
            .unwrap_err()
            .contains("no \"text\""));
        assert!(parse_line(br#"{"text":5}"#)
            .unwrap_err()
            .contains("not a string"));
        assert!(parse_line(b"{\"text\":\"\xff\"}")
            .unwrap_err()
            .contains("UTF-8"));
    }
}
