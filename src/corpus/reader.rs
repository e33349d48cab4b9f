//! Opening a paper source: picks the format (given, or detected), hands the
//! stream to that format's reader, and checks what every format shares: ids
//! are unique within the file (a later duplicate is rejected, naming the
//! line of the first) and a paper without an abstract gets a warning.
//!
//! Sources are streams (see [`super::input`]): files, standard input, pipes
//! and compressed files alike. JSON lines, the arXiv snapshot and CSV are
//! read record by record, so a file of any size is never held whole in
//! memory (only the ids read so far are kept, to find duplicates); digest
//! pages and BibTeX files are read whole. In every format a line longer than
//! [`MAX_LINE_BYTES`] is rejected with its number and skipped unread.

use std::collections::HashMap;
use std::io::{BufRead, Read};
use std::path::Path;

use super::event::{Problem, ReadEvent};
use super::format::{detect_from, Format, SNIFF_BYTES};
use super::input::{open_input, Input, ReadPosition};
use super::lines::{too_long_message, LineLimited, SkippedLines, MAX_LINE_BYTES};
use super::normalize::{describe_utf8_error, strip_bom};
use super::{
    arxiv, bibtex, csv_table, digest, endnote, feed, json_document, jsonl, parquet_table, record,
    ris,
};
use crate::{Error, Result};

/// The papers of one source, as an iterator of [`ReadEvent`]s.
pub struct PaperReader {
    format: Format,
    path: String,
    events: Box<dyn Iterator<Item = ReadEvent> + Send>,
    first_line_of: HashMap<String, usize>,
    held_back: Option<ReadEvent>,
    position: ReadPosition,
}

/// Opens `path` (`-` for standard input) and reads it as `format`, or as
/// the format [`detect_format`](super::detect_format) finds when `format`
/// is `None`. See [`read_input`].
pub fn read_papers(path: &Path, format: Option<Format>) -> Result<PaperReader> {
    read_input(open_input(path)?, format)
}

/// Reads an opened input as `format`, or as the format its name and first
/// bytes show when `format` is `None`.
///
/// Fails with [`Error::Io`] when the input cannot be read, with
/// [`Error::UnknownFormat`] when the format cannot be told, and with
/// [`Error::BadRecord`] when a CSV header has no `title` column. Text in
/// UTF-16, or in a single-byte encoding (read as Windows-1252, with a
/// warning), is decoded; lines of a digest page or BibTeX file that are
/// still not UTF-8 are warned about and read with U+FFFD in place of their
/// bad bytes. An empty
/// input gives a reader with no papers. Problems with single records do not
/// fail: they come out of the reader as [`ReadEvent::Rejected`].
pub fn read_input(mut input: Input, format: Option<Format>) -> Result<PaperReader> {
    input.decode_utf16()?;
    let head = input.peek(SNIFF_BYTES)?;
    let shown = input.shown().to_string();
    let format = match format {
        Some(format) => format,
        // An empty input has no papers whatever its format; report the one
        // its name suggests, if any.
        None if head.is_empty() => detect_from(input.name(), &head).unwrap_or(Format::Jsonl),
        None => detect_from(input.name(), &head).map_err(|problem| Error::UnknownFormat {
            path: shown.clone().into(),
            problem,
        })?,
    };
    let single_byte = match format {
        Format::Parquet => None,
        _ => input.decode_single_byte(&head),
    };
    let head = match single_byte {
        Some(_) => input.peek(SNIFF_BYTES)?,
        None => head,
    };
    let extension = input
        .name()
        .and_then(|n| n.extension())
        .and_then(|e| e.to_str())
        .map(str::to_string);
    let position = input.position();
    let regular_file = input.regular_file().map(Path::to_path_buf);
    let stream = input.into_reader();
    let events: Box<dyn Iterator<Item = ReadEvent> + Send> = if head.is_empty() {
        Box::new(std::iter::empty())
    } else {
        match format {
            Format::Jsonl | Format::Arxiv => {
                let to_paper: jsonl::ObjectToPaper = if format == Format::Arxiv {
                    arxiv::paper_from_arxiv
                } else {
                    record::paper_from_fields
                };
                if json_document::is_json_document(&String::from_utf8_lossy(&head)) {
                    let text = read_document(stream, &shown)?;
                    Box::new(json_document::read_json_document(&text, &shown, to_paper).into_iter())
                } else {
                    Box::new(jsonl::JsonLines::new(stream, &shown, to_paper))
                }
            }
            Format::Csv => {
                let first_line = first_line(&head);
                let excel = csv_table::excel_separator(&first_line);
                let delimiter = excel
                    .unwrap_or_else(|| csv_table::delimiter_for(extension.as_deref(), &first_line));
                let limited = LineLimited::new(stream, MAX_LINE_BYTES);
                let skipped = limited.skipped();
                let rows = csv_table::CsvRows::new(limited, &shown, delimiter, excel.is_some())?;
                Box::new(WithSkippedLines::new(rows, skipped, &shown))
            }
            Format::Digest => {
                let (text, skipped) = read_text(stream, &shown)?;
                if looks_like_html(&text) {
                    return Err(Error::BadRecord {
                        path: shown,
                        line: 1,
                        problem: "this is an HTML page, and digest pages are read as plain \
                                  text: save the page as text (the browser's Save as, Text), \
                                  or copy its text into a .txt file"
                            .into(),
                    });
                }
                Box::new(
                    skipped
                        .into_iter()
                        .chain(digest::read_digest(&text, &shown)),
                )
            }
            Format::Bibtex => read_whole(stream, &shown, bibtex::read_bibtex)?,
            Format::Endnote => read_whole(stream, &shown, endnote::read_endnote)?,
            Format::Feed => read_whole(stream, &shown, feed::read_feed)?,
            Format::Ris => read_whole(stream, &shown, ris::read_ris)?,
            Format::Parquet => {
                let source = match regular_file {
                    Some(path) => parquet_table::open_file(&path, &shown)?,
                    None => {
                        let mut bytes = Vec::new();
                        let mut stream = stream;
                        stream
                            .read_to_end(&mut bytes)
                            .map_err(|e| Error::io("cannot read", Path::new(&shown), e))?;
                        parquet_table::ParquetSource::Memory(bytes)
                    }
                };
                Box::new(parquet_table::ParquetRows::open(
                    source,
                    &shown,
                    position.clone(),
                )?)
            }
        }
    };
    let events = match single_byte {
        Some(warning) => Box::new(
            std::iter::once(ReadEvent::Warning(Problem::new(&shown, 1, warning))).chain(events),
        ),
        None => events,
    };
    Ok(PaperReader {
        format,
        path: shown,
        events,
        first_line_of: HashMap::new(),
        held_back: None,
        position,
    })
}

impl PaperReader {
    /// The format the source is read as.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The source's path, as shown in problems.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// How far reading the source has got; a clone can be watched from
    /// another thread while this reader is iterated.
    pub fn position(&self) -> ReadPosition {
        self.position.clone()
    }
}

impl Iterator for PaperReader {
    type Item = ReadEvent;

    fn next(&mut self) -> Option<ReadEvent> {
        if let Some(event) = self.held_back.take() {
            return Some(event);
        }
        let (paper, line) = match self.events.next()? {
            ReadEvent::Paper { paper, line } => (paper, line),
            other => return Some(other),
        };
        if let Some(&first) = self.first_line_of.get(&paper.id) {
            return Some(ReadEvent::Rejected(Problem::new(
                &self.path,
                line,
                format!(
                    "duplicate id `{}`: line {first} already has a paper with this id; \
                     this one (\"{}\") is skipped",
                    paper.id, paper.title
                ),
            )));
        }
        self.first_line_of.insert(paper.id.clone(), line);
        if paper.abstract_text.is_empty() {
            let warning = Problem::new(
                &self.path,
                line,
                format!(
                    "\"{}\" has no abstract; it is kept with its title only",
                    paper.title
                ),
            );
            self.held_back = Some(ReadEvent::Paper { paper, line });
            return Some(ReadEvent::Warning(warning));
        }
        Some(ReadEvent::Paper { paper, line })
    }
}

/// Whether a text starts as an HTML document does.
fn looks_like_html(text: &str) -> bool {
    let start: String = text
        .trim_start()
        .chars()
        .take(14)
        .collect::<String>()
        .to_ascii_lowercase();
    start.starts_with("<!doctype html") || start.starts_with("<html")
}

/// Lines of a whole-file input that are not UTF-8 warned about one by
/// one; the rest are counted in one more warning.
const NOT_UTF8_WARNINGS: usize = 10;

/// Reads a whole input as UTF-8 text without a BOM, leaving out (as
/// empty lines) lines over the limit, which come back as rejections. A
/// line that is not UTF-8 is read with U+FFFD in place of its bad bytes
/// and warned about by number, so that one stray byte (a Latin-1 accent in
/// a BibTeX file, say) does not cost the file's other records.
/// The whole of a JSON document (an array, or objects over several lines),
/// which has no line length limit: a minified array is one long line.
fn read_document(mut stream: Box<dyn BufRead + Send>, shown: &str) -> Result<String> {
    let mut bytes = Vec::new();
    stream
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("cannot read", shown, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let (line, problem) = describe_utf8_error(e.as_bytes(), &e.utf8_error());
        Error::BadRecord {
            path: shown.to_string(),
            line: line + 1,
            problem,
        }
    })
}

/// The events of a format read whole: the lines too long to read, then
/// what `read` finds in the rest of the text.
fn read_whole(
    stream: Box<dyn BufRead + Send>,
    shown: &str,
    read: fn(&str, &str) -> Vec<ReadEvent>,
) -> Result<Box<dyn Iterator<Item = ReadEvent> + Send>> {
    let (text, skipped) = read_text(stream, shown)?;
    Ok(Box::new(skipped.into_iter().chain(read(&text, shown))))
}

fn read_text(stream: Box<dyn BufRead + Send>, shown: &str) -> Result<(String, Vec<ReadEvent>)> {
    let mut limited = LineLimited::new(stream, MAX_LINE_BYTES);
    let skipped = limited.skipped();
    let mut bytes = Vec::new();
    limited
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("cannot read", shown, e))?;
    let mut events = drain_skipped(&skipped, shown);
    // Old Mac line endings (a lone carriage return) end lines too.
    if bytes.contains(&b'\r') {
        let mut unified = Vec::with_capacity(bytes.len());
        let mut rest = bytes.iter().peekable();
        while let Some(&byte) = rest.next() {
            match byte {
                b'\r' if rest.peek() == Some(&&b'\n') => {}
                b'\r' => unified.push(b'\n'),
                _ => unified.push(byte),
            }
        }
        bytes = unified;
    }
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let bytes = e.into_bytes();
            let mut text = String::with_capacity(bytes.len());
            let mut bad_lines = 0;
            for (i, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
                match std::str::from_utf8(line) {
                    Ok(line) => text.push_str(line),
                    Err(error) => {
                        bad_lines += 1;
                        if bad_lines <= NOT_UTF8_WARNINGS {
                            let (_, problem) = describe_utf8_error(line, &error);
                            events.push(ReadEvent::Warning(Problem::new(
                                shown,
                                i + 1,
                                format!("{problem}; its bad bytes were read as \u{fffd}"),
                            )));
                        }
                        text.push_str(&String::from_utf8_lossy(line));
                    }
                }
            }
            if bad_lines > NOT_UTF8_WARNINGS {
                events.push(ReadEvent::Warning(Problem::new(
                    shown,
                    1,
                    format!(
                        "{} more lines are not valid UTF-8 and were read with \u{fffd} in place \
                         of their bad bytes",
                        bad_lines - NOT_UTF8_WARNINGS
                    ),
                )));
            }
            text
        }
    };
    Ok((strip_bom(&text).to_string(), events))
}

/// Rejections for the lines a [`LineLimited`] has left out so far.
fn drain_skipped(skipped: &SkippedLines, shown: &str) -> Vec<ReadEvent> {
    let Ok(mut skipped) = skipped.lock() else {
        return Vec::new();
    };
    skipped
        .drain(..)
        .map(|(line, bytes)| {
            ReadEvent::Rejected(Problem::new(
                shown,
                line,
                too_long_message(bytes, MAX_LINE_BYTES),
            ))
        })
        .collect()
}

/// A stream reader's events with a rejection for each over-long line its
/// [`LineLimited`] input left out, reported as soon as it is seen.
struct WithSkippedLines<I> {
    events: I,
    skipped: SkippedLines,
    shown: String,
    pending: std::collections::VecDeque<ReadEvent>,
}

impl<I> WithSkippedLines<I> {
    fn new(events: I, skipped: SkippedLines, shown: &str) -> Self {
        WithSkippedLines {
            events,
            skipped,
            shown: shown.to_string(),
            pending: Default::default(),
        }
    }
}

impl<I: Iterator<Item = ReadEvent>> Iterator for WithSkippedLines<I> {
    type Item = ReadEvent;

    fn next(&mut self) -> Option<ReadEvent> {
        if self.pending.is_empty() {
            let next = self.events.next();
            self.pending
                .extend(drain_skipped(&self.skipped, &self.shown));
            self.pending.extend(next);
        }
        self.pending.pop_front()
    }
}

/// The first line of the start of a file (enough to choose a CSV
/// separator).
fn first_line(head: &[u8]) -> String {
    let end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    String::from_utf8_lossy(&head[..end]).into_owned()
}
